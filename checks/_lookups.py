"""Look-ups several checks need, shared through `ctx.shared` so concurrent checks send
each request once: the CIPP-SAM user, the CIPP-SAM app and its service principal, the
Azure Service Management service principal, the subscription, and the API token."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cipp_setup import wellknown
from cipp_setup.engine.model import Cause, Check, CheckResult, Evidence, Remediation
from cipp_setup.engine.runner import ServiceFailure
from cipp_setup.gateways.errors import NotFound

if TYPE_CHECKING:
    from cipp_setup.engine.context import CheckContext
    from cipp_setup.gateways import Gateways
    from cipp_setup.gateways.api import ApiToken
    from cipp_setup.gateways.arm import ArmGateway, SubscriptionInfo
    from cipp_setup.gateways.graph import (
        ApplicationInfo,
        DirectoryUser,
        GraphGateway,
        ServicePrincipalInfo,
    )

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_guid(value: str | None) -> bool:
    return bool(value and GUID.match(value.strip()))


def gateways(ctx: CheckContext) -> Gateways:
    return ctx.gateways  # type: ignore[no-any-return]


def graph(ctx: CheckContext) -> GraphGateway:
    g = gateways(ctx).graph
    if g is None:
        raise ServiceFailure("internal-error", "This check needs Microsoft Graph, but nobody signed in.")
    return g


def arm(ctx: CheckContext) -> ArmGateway:
    a = gateways(ctx).arm
    if a is None:
        raise ServiceFailure("internal-error", "This check needs Azure Resource Manager, but nobody signed in.")
    return a


async def settle(*awaitables: Any) -> list[Any]:
    """Run concurrently; each slot holds the value or the exception it raised."""
    return list(await asyncio.gather(*awaitables, return_exceptions=True))


def reraise_unexpected(value: Any, *expected: type[BaseException]) -> None:
    """Raise `value` if it is an exception the caller does not explain itself."""
    if isinstance(value, BaseException) and not isinstance(value, expected):
        raise value


# --- the CIPP-SAM user -----------------------------------------------------------------


class SamUserUnknown(Exception):
    """No --sam-user, and the tenant shows no account that could be the CIPP-SAM user."""


class SamUserAmbiguous(Exception):
    """No --sam-user, and several accounts could be the CIPP-SAM user."""

    def __init__(self, candidates: list[SamUserCandidate]) -> None:
        super().__init__(f"{len(candidates)} candidates for the CIPP-SAM user")
        self.candidates = candidates

    def listing(self) -> str:
        return "; ".join(f"{c.user.user_principal_name} ({', '.join(c.reasons)})" for c in self.candidates)


@dataclass(frozen=True)
class SamUserCandidate:
    user: DirectoryUser
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class SamUser:
    user: DirectoryUser
    found_by: str  # why this user: "--sam-user", or the evidence that picked it
    from_signed_in_admin: bool = False  # the evidence picked the signed-in admin (say so)


# CIPP's SAM setup signs in with a dedicated service account; CIPP's docs and its own
# permissions check name it "CIPP…" (for example "CIPP-SAM service account", cipp@…).
SAM_USER_NAME_PREFIX = "CIPP"


def sam_user_reference(ctx: CheckContext) -> str | None:
    """--sam-user (a UPN or object id), or None: the user is then found in the tenant."""
    given = (ctx.inputs.sam_user or "").strip()
    return given or None


def sam_user_id_hint(ctx: CheckContext) -> str | None:
    """The CIPP-SAM user's object id when it is known without a request."""
    ref = sam_user_reference(ctx)
    return ref.lower() if ref and is_guid(ref) else None


async def sam_user(ctx: CheckContext) -> SamUser:
    """--sam-user, else the one account the tenant's evidence points at.

    Raises NotFound (no such --sam-user), SamUserUnknown (no candidate), SamUserAmbiguous.
    """
    ref = sam_user_reference(ctx)
    if ref is not None:
        async def look_up() -> SamUser:
            user = await graph(ctx).get_user(ref)
            admin_id = (ctx.admin.object_id or "").lower() if ctx.admin is not None else ""
            is_admin = bool(admin_id) and user.id.lower() == admin_id
            return SamUser(user, ctx.inputs.sam_user_source + (" (the signed-in admin)" if is_admin else ""),
                           from_signed_in_admin=is_admin)

        return await ctx.shared(f"sam-user:{ref.lower()}", look_up)
    return await ctx.shared("sam-user:discovered", lambda: discover_sam_user(ctx))


async def sam_user_candidates(ctx: CheckContext) -> list[SamUserCandidate]:
    """Accounts that could be the CIPP-SAM user, each with the evidence for it: named like
    CIPP's service account, an owner of the CIPP-SAM app (the SAM setup creates the app as
    that user), a user holding a per-user consent to the CIPP-SAM app (the SAM setup's own
    sign-in consents for itself)."""
    g = graph(ctx)
    named_r, app_r = await settle(g.users_starting_with(SAM_USER_NAME_PREFIX), sam_app(ctx))
    reasons: dict[str, list[str]] = {}
    users: dict[str, DirectoryUser] = {}

    def add(user: DirectoryUser, reason: str) -> None:
        users.setdefault(user.id, user)
        if reason not in reasons.setdefault(user.id, []):
            reasons[user.id].append(reason)

    reraise_unexpected(named_r)
    for user in named_r:
        add(user, f"named like CIPP's service account ({user.display_name or user.user_principal_name})")
    if not isinstance(app_r, BaseException):
        sp = app_r.service_principal
        owners_r, grants_r = await settle(
            g.application_owners(app_r.app.id),
            g.grants_for_client(sp.id) if sp is not None else _nothing(),
        )
        for user in owners_r if not isinstance(owners_r, BaseException) else []:
            add(user, "an owner of the CIPP-SAM app")
        consenting = sorted({gr.principal_id for gr in (grants_r if not isinstance(grants_r, BaseException) else [])
                             if gr.consent_type == "Principal" and gr.principal_id})
        found = await settle(*(g.get_user(pid) for pid in consenting))
        for user in found:
            if not isinstance(user, BaseException):
                add(user, "holds a per-user consent to the CIPP-SAM app")
    return [SamUserCandidate(users[uid], tuple(reasons[uid])) for uid in sorted(users, key=lambda u: users[u].user_principal_name.lower())]


async def discover_sam_user(ctx: CheckContext) -> SamUser:
    candidates = await sam_user_candidates(ctx)
    if not candidates:
        raise SamUserUnknown(
            "No --sam-user given, and no account in this tenant looks like the CIPP-SAM user (none named "
            f"'{SAM_USER_NAME_PREFIX}…', none owns the CIPP-SAM app or holds a per-user consent to it): "
            "pass --sam-user UPN."
        )
    if len(candidates) > 1:
        raise SamUserAmbiguous(candidates)
    [only] = candidates
    admin_id = (ctx.admin.object_id or "").lower() if ctx.admin is not None else ""
    is_admin = bool(admin_id) and only.user.id.lower() == admin_id
    why = "the only candidate: " + "; ".join(only.reasons) + (" (the signed-in admin)" if is_admin else "")
    return SamUser(only.user, why, from_signed_in_admin=is_admin)


async def _nothing() -> list[Any]:
    return []


_FIND_SAM_USER = Remediation(
    steps=(
        "Name the CIPP-SAM user: the account CIPP's SAM setup signed in with (CIPP → Settings → "
        "Super Admin → SAM setup shows it). Run the same command again with --sam-user <upn>."
    ),
    portal="Microsoft Entra admin center → Identity → Applications → App registrations → CIPP-SAM → Owners",
    cli="az ad app owner list --id <cipp-sam-app-id> --query \"[].userPrincipalName\" -o tsv",
    powershell="Get-MgApplicationOwner -ApplicationId <cipp-sam-object-id> | Select-Object Id",
)

# The causes of every check that tests the CIPP-SAM user (errors: the run cannot say who it
# is; `check` exits 2 naming --sam-user).
SAM_USER_CAUSES = (
    Cause("sam-user-ambiguous", "No --sam-user, and several accounts could be the CIPP-SAM user.", Remediation(
        steps=("Pick the CIPP-SAM user among the candidates listed (the account CIPP's SAM setup signed in "
               "with) and run the same command again with --sam-user <upn>."),
        portal=_FIND_SAM_USER.portal, cli=_FIND_SAM_USER.cli, powershell=_FIND_SAM_USER.powershell,
    )),
    Cause("sam-user-unknown", "No --sam-user, and no account in the tenant looks like the CIPP-SAM user.",
          _FIND_SAM_USER),
)


def sam_user_undecided(check: Check, exc: SamUserUnknown | SamUserAmbiguous) -> CheckResult:
    """The result of a check that cannot tell who the CIPP-SAM user is."""
    if isinstance(exc, SamUserAmbiguous):
        return check.errored(
            "sam-user-ambiguous",
            f"{len(exc.candidates)} accounts could be the CIPP-SAM user: pass --sam-user with the right one.",
            evidence=(Evidence("CIPP-SAM user candidates", exc.listing(), "exactly one, or --sam-user"),),
        )
    return check.errored("sam-user-unknown", str(exc),
                         evidence=(Evidence("CIPP-SAM user candidates", "none", "exactly one, or --sam-user"),))


# --- the CIPP-SAM application ------------------------------------------------------------


class SamAppNotFound(Exception):
    pass


class SamAppAmbiguous(Exception):
    def __init__(self, candidates: list[ApplicationInfo]) -> None:
        super().__init__(f"{len(candidates)} applications named {wellknown.CIPP_SAM_APP_NAME}")
        self.candidates = candidates


@dataclass(frozen=True)
class SamApp:
    app: ApplicationInfo
    service_principal: ServicePrincipalInfo | None  # None: never consented in this tenant
    found_by: str  # "app id" or "name"


async def sam_app(ctx: CheckContext) -> SamApp:
    """--sam-app, else the application named CIPP-SAM. The app and its service principal
    are read concurrently (by app id, or both by name), so this costs one round trip
    unless the service principal's name differs from the app's."""
    app_id = (ctx.inputs.sam_app_id or "").strip().lower()

    async def look_up() -> SamApp:
        g = graph(ctx)
        if app_id:
            apps, sps = await asyncio.gather(
                g.applications_by_app_id(app_id), g.service_principals_by_app_id(app_id)
            )
            if not apps:
                raise SamAppNotFound(f"No application with app id {app_id} in this tenant.")
            return SamApp(apps[0], sps[0] if sps else None, "app id")
        name = wellknown.CIPP_SAM_APP_NAME
        apps, sps = await asyncio.gather(
            g.applications_by_display_name(name), g.service_principals_by_display_name(name)
        )
        if not apps:
            raise SamAppNotFound(f"No application named {name} in this tenant.")
        if len(apps) > 1:
            raise SamAppAmbiguous(apps)
        app = apps[0]
        sp = next((s for s in sps if s.app_id == app.app_id), None)
        if sp is None:
            found = await g.service_principals_by_app_id(app.app_id)
            sp = found[0] if found else None
        return SamApp(app, sp, "name")

    return await ctx.shared(f"sam-app:{app_id or 'by-name'}", look_up)


async def azure_management_sp(ctx: CheckContext) -> ServicePrincipalInfo | None:
    """The Azure Service Management service principal, or None when the tenant lacks it."""

    async def look_up() -> ServicePrincipalInfo | None:
        sps = await graph(ctx).service_principals_by_app_id(wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID)
        return sps[0] if sps else None

    return await ctx.shared("asm-sp", look_up)


# --- the subscription ----------------------------------------------------------------------


class SubscriptionNotFound(Exception):
    pass


class SubscriptionAmbiguous(Exception):
    def __init__(self, candidates: list[SubscriptionInfo]) -> None:
        super().__init__(f"{len(candidates)} subscriptions")
        self.candidates = candidates


def hosting_subscription(function_app: str | None) -> str | None:
    """The subscription id inside a Function App resource id (/subscriptions/{id}/...)."""
    parts = (function_app or "").strip("/").split("/")
    if len(parts) >= 2 and parts[0].lower() == "subscriptions":
        return parts[1]
    return None


async def subscription(ctx: CheckContext) -> SubscriptionInfo:
    """--subscription, else the one hosting the CIPP Function App when --function-app is
    its resource id, else the only subscription the admin can see.

    Several visible and none named → SubscriptionAmbiguous (the wizard asks; `check`
    lists them). A Function App given only by name is not searched for across
    subscriptions (that would mean listing the sites of every subscription).
    """
    given = (ctx.inputs.subscription_id or hosting_subscription(ctx.inputs.function_app) or "").strip().lower()

    async def look_up() -> SubscriptionInfo:
        a = arm(ctx)
        if given:
            try:
                return await a.get_subscription(given)
            except NotFound:
                raise SubscriptionNotFound(
                    f"Subscription {given} does not exist or the signed-in admin cannot see it."
                ) from None
        subs = await a.visible_subscriptions()
        if not subs:
            raise SubscriptionNotFound("The signed-in admin cannot see any Azure subscription.")
        if len(subs) > 1:
            raise SubscriptionAmbiguous(subs)
        return subs[0]

    return await ctx.shared(f"subscription:{given or 'only'}", look_up)


# --- the API client's token ----------------------------------------------------------------


async def api_token(ctx: CheckContext) -> ApiToken:
    """The client-credentials token for the API client (shared: api-list-logs reuses the
    one api-token obtained, instead of asking again). Raises TokenRefused/ServiceFailure."""
    inputs = ctx.inputs
    client_id = (inputs.api_client_id or "").strip()
    secret = inputs.api_client_secret
    if not client_id or secret is None:
        raise ServiceFailure("internal-error", "No API client id or secret to get a token with.")

    async def look_up() -> ApiToken:
        return await gateways(ctx).api.token(inputs.tenant, client_id, secret)

    return await ctx.shared(f"api-token:{client_id.lower()}", look_up)

"""Look-ups several checks need, shared through `ctx.shared` so concurrent checks send
each request once: the CIPP-SAM user, the CIPP-SAM app and its service principal, the
Azure Service Management service principal, the subscription, and the API token."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cipp_setup import wellknown
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
    """No --sam-user and the signed-in identity is not a user."""


@dataclass(frozen=True)
class SamUser:
    user: DirectoryUser
    from_signed_in_admin: bool  # no --sam-user: the signed-in admin stands in (say so)


def sam_user_reference(ctx: CheckContext) -> tuple[str, bool]:
    """What to look the CIPP-SAM user up by (UPN or object id), without a request."""
    if ctx.inputs.sam_user:
        return ctx.inputs.sam_user.strip(), False
    if ctx.admin is None or ctx.admin.kind != "user" or not ctx.admin.object_id:
        raise SamUserUnknown(
            "No --sam-user given, and the signed-in identity is not a user: pass --sam-user UPN."
        )
    return ctx.admin.object_id, True


def sam_user_id_hint(ctx: CheckContext) -> str | None:
    """The CIPP-SAM user's object id when it is known without a request."""
    try:
        ref, _ = sam_user_reference(ctx)
    except SamUserUnknown:
        return None
    return ref.lower() if is_guid(ref) else None


async def sam_user(ctx: CheckContext) -> SamUser:
    """Raises SamUserUnknown, or NotFound when no such user exists."""
    ref, from_admin = sam_user_reference(ctx)

    async def look_up() -> SamUser:
        return SamUser(await graph(ctx).get_user(ref), from_admin)

    return await ctx.shared(f"sam-user:{ref.lower()}", look_up)


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

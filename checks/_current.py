"""Look-ups the current-generation checks (and generation detection) share through
`ctx.shared`, so each request is sent once per run however many checks need it: the
CIPP Function App, its Easy Auth settings and allowed tenants, the API client's
application and service principal, the Microsoft Graph service principal, the tenant's
app management policy.

Also the one judgement several checks make the same way: would Easy Auth accept a
token with this `aud`, `tid` and `appid` (`easy_auth_verdict`)?
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from cipp_setup import wellknown
from cipp_setup.engine.runner import ServiceFailure
from cipp_setup.gateways.errors import NotFound, PermissionDenied
from cipp_setup.gateways.web import (
    ALLOWED_TENANTS_SETTING,
    SiteRef,
    is_site_name,
    parse_site_id,
    site_name_from_host,
)

from . import _lookups as lk

if TYPE_CHECKING:
    from cipp_setup.engine.context import CheckContext
    from cipp_setup.gateways.graph import (
        ApplicationInfo,
        AppManagementPolicyInfo,
        ServicePrincipalInfo,
    )
    from cipp_setup.gateways.web import EasyAuthSettings, FunctionAppInfo, WebGateway


def web(ctx: CheckContext) -> WebGateway:
    w = getattr(lk.gateways(ctx), "web", None)
    if w is None:
        raise ServiceFailure("internal-error", "This check needs Azure Resource Manager, but nobody signed in.")
    return w  # type: ignore[no-any-return]


# --- the Function App ------------------------------------------------------------------------


class FunctionAppUnknown(Exception):
    """Nothing says which Function App runs CIPP (no --function-app, no usable --api-url)."""


class FunctionAppNotFound(Exception):
    pass


def function_app_reference(ctx: CheckContext) -> tuple[SiteRef | None, str | None, str]:
    """(resource id if given, else None; a site name if known; where it came from), no request.

    Raises FunctionAppUnknown when neither --function-app nor an azurewebsites.net
    --api-url names it."""
    given = (ctx.inputs.function_app or "").strip()
    if given:
        ref = parse_site_id(given)
        if ref is not None:
            return ref, ref.name, "--function-app"
        if is_site_name(given):
            return None, given, "--function-app"
        raise FunctionAppUnknown(f"--function-app {given!r} is neither a Function App name nor its resource id.")
    if ctx.inputs.api_url:
        host = urlsplit(ctx.inputs.api_url).hostname or ""
        name = site_name_from_host(host)
        if name:
            return None, name, f"the --api-url host {host}"
    raise FunctionAppUnknown(
        "Which Function App runs CIPP is unknown: pass --function-app NAME (or its resource id), "
        "or --api-url https://NAME.azurewebsites.net."
    )


def function_app_ref_hint(ctx: CheckContext) -> SiteRef | None:
    """The site's address when a resource id was given: Easy Auth can be read at once."""
    try:
        ref, _, _ = function_app_reference(ctx)
    except FunctionAppUnknown:
        return None
    return ref


@dataclass(frozen=True)
class FunctionApp:
    info: FunctionAppInfo
    found_by: str


async def function_app(ctx: CheckContext) -> FunctionApp:
    """The Function App. Raises FunctionAppUnknown, FunctionAppNotFound, PermissionDenied."""
    ref, name, source = function_app_reference(ctx)

    async def look_up() -> FunctionApp:
        w = web(ctx)
        if ref is not None:
            try:
                return FunctionApp(await w.get_site(ref), source)
            except NotFound:
                raise FunctionAppNotFound(f"No Function App {ref.resource_id}.") from None
        assert name is not None
        given_sub = (ctx.inputs.subscription_id or "").strip().lower()
        if given_sub:
            subscriptions = [given_sub]
        else:
            subscriptions = [s.id for s in await lk.arm(ctx).visible_subscriptions()]
        for sub in subscriptions:
            try:
                found = await w.find_site(name, sub)
            except (NotFound, PermissionDenied):
                continue
            if found is not None:
                return FunctionApp(found, f"{source}, found in subscription {sub}")
        where = f"subscription {given_sub}" if given_sub else f"the {len(subscriptions)} subscription(s) you can see"
        raise FunctionAppNotFound(f"No Function App named {name} in {where}.")

    key = ref.resource_id.lower() if ref is not None else f"name:{(name or '').lower()}"
    return await ctx.shared(f"function-app:{key}", look_up)


async def site_ref(ctx: CheckContext) -> SiteRef:
    """The Function App's address: without a request when a resource id was given."""
    hint = function_app_ref_hint(ctx)
    if hint is not None:
        return hint
    return (await function_app(ctx)).info.ref


# --- Easy Auth ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EasyAuth:
    ref: SiteRef
    settings: EasyAuthSettings
    # WEBSITE_AUTH_AAD_ALLOWED_TENANTS split into tenant ids; None when it could not be
    # read (the admin lacks config/list/action), () when it is not set.
    allowed_tenants: tuple[str, ...] | None
    allowed_tenants_note: str = ""


async def easy_auth(ctx: CheckContext) -> EasyAuth:
    """authsettingsV2 and the allowed tenants, read concurrently.

    Raises FunctionAppUnknown / FunctionAppNotFound, PermissionDenied (authsettingsV2)."""
    ref = await site_ref(ctx)

    async def look_up() -> EasyAuth:
        w = web(ctx)
        settings_r, app_settings_r = await lk.settle(w.easy_auth(ref), w.app_settings(ref))
        if isinstance(settings_r, NotFound):
            raise FunctionAppNotFound(f"No Function App {ref.resource_id}.")
        lk.reraise_unexpected(settings_r)
        note = ""
        tenants: tuple[str, ...] | None
        if isinstance(app_settings_r, (PermissionDenied, NotFound)):
            tenants, note = None, f"{ALLOWED_TENANTS_SETTING} could not be read: {app_settings_r}"
        else:
            lk.reraise_unexpected(app_settings_r)
            raw = app_settings_r.get(ALLOWED_TENANTS_SETTING, "")
            tenants = tuple(t.strip().lower() for t in raw.split(",") if t.strip())
        return EasyAuth(ref, settings_r, tenants, note)

    return await ctx.shared(f"easy-auth:{ref.resource_id.lower()}", look_up)


_TENANT_IN_ISSUER = re.compile(r"/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:/|$)")


def issuer_tenant(issuer: str) -> str | None:
    match = _TENANT_IN_ISSUER.search(issuer)
    return match.group(1).lower() if match else None


def accepted_audiences(settings: EasyAuthSettings) -> set[str]:
    """allowedAudiences, plus the registration's client id: App Service always accepts
    the client id it is registered with as an audience."""
    audiences = {a.lower().rstrip("/") for a in settings.allowed_audiences}
    if settings.client_id:
        audiences.add(settings.client_id.lower())
    return audiences


@dataclass(frozen=True)
class EasyAuthVerdict:
    """Would Easy Auth let a token with these claims through? `cause` None: yes."""

    cause: str | None  # client-not-saved-to-azure, audience-not-allowed, app-not-allowed, tenant-not-allowed, easy-auth-disabled
    reason: str


def easy_auth_verdict(ea: EasyAuth, *, client_id: str, aud: str, tid: str) -> EasyAuthVerdict:
    """The order App Service applies: issuer / tenant, audience, then allowed applications."""
    s = ea.settings
    client = client_id.lower()
    if not s.platform_enabled or not s.aad_enabled or not s.aad_configured:
        return EasyAuthVerdict(
            "easy-auth-disabled",
            "App Service authentication with the Microsoft Entra provider is not on, so CIPP sees no caller.",
        )
    audiences = accepted_audiences(s)
    apps = set(s.allowed_applications)
    known = client in apps or f"api://{client}" in audiences or client == s.client_id
    if not known:
        return EasyAuthVerdict(
            "client-not-saved-to-azure",
            f"Easy Auth knows nothing of client {client}: it is neither an allowed application nor an "
            "allowed audience — enabled in CIPP, perhaps, but never saved to Azure.",
        )
    wanted_tenant = issuer_tenant(s.open_id_issuer)
    if tid and wanted_tenant and tid.lower() != wanted_tenant:
        return EasyAuthVerdict(
            "tenant-not-allowed", f"The token's tenant {tid} is not the issuer's tenant {wanted_tenant}."
        )
    if tid and ea.allowed_tenants and tid.lower() not in ea.allowed_tenants:
        return EasyAuthVerdict(
            "tenant-not-allowed",
            f"The token's tenant {tid} is not in {ALLOWED_TENANTS_SETTING} ({', '.join(ea.allowed_tenants)}).",
        )
    if aud.lower().rstrip("/") not in audiences:
        return EasyAuthVerdict(
            "audience-not-allowed",
            f"The token's aud {aud} is not among the allowed audiences ({', '.join(sorted(audiences)) or 'none'}).",
        )
    if apps and client not in apps:
        return EasyAuthVerdict(
            "app-not-allowed", f"Client {client} is not among Easy Auth's allowed applications."
        )
    return EasyAuthVerdict(None, "Easy Auth accepts it.")


@dataclass(frozen=True)
class EasyAuthLayout:
    """What Easy Auth's client lists hold, told apart as CIPP writes them at HEAD."""

    sso_app_id: str | None  # registration.clientId when it is CIPP-NG's CIPP-SSO app
    mcp: bool  # MCP audiences (https://{host}...) or VS Code's client id are present
    client_ids: tuple[str, ...]  # allowed applications that can be API clients


async def easy_auth_layout(ctx: CheckContext, ea: EasyAuth) -> EasyAuthLayout:
    s = ea.settings
    sso: str | None = None
    if s.client_id:
        apps = await applications_by_app_id(ctx, s.client_id)
        if apps and apps[0].display_name == wellknown.CIPP_SSO_APP_NAME:
            sso = s.client_id.lower()
    not_clients = {wellknown.VS_CODE_CLIENT_ID} | ({sso} if sso else set())
    mcp = wellknown.VS_CODE_CLIENT_ID in {a.lower() for a in s.allowed_applications} or any(
        a.lower().startswith("https://") for a in s.allowed_audiences
    )
    clients = tuple(a.lower() for a in s.allowed_applications if a.lower() not in not_clients)
    return EasyAuthLayout(sso, mcp, clients)


def expected_audience(client_id: str, token_version: int) -> str:
    """The aud of a client-credentials token for api://{id}/.default: v1 tokens carry the
    resource as requested, v2 tokens (requestedAccessTokenVersion 2) the bare app id."""
    return client_id.lower() if token_version == 2 else f"api://{client_id.lower()}"


# --- the API client's application ---------------------------------------------------------


@dataclass(frozen=True)
class ApiClientApp:
    app: ApplicationInfo | None
    service_principal: ServicePrincipalInfo | None

    @property
    def token_version(self) -> int:
        return 2 if self.app is not None and self.app.requested_access_token_version == 2 else 1


async def api_client_app(ctx: CheckContext) -> ApiClientApp:
    """The --api-client-id application and its service principal, read concurrently."""
    client_id = (ctx.inputs.api_client_id or "").strip().lower()
    if not client_id:
        raise ServiceFailure("internal-error", "No API client id to look up.")

    async def look_up() -> ApiClientApp:
        g = lk.graph(ctx)
        apps, sps = await asyncio.gather(g.applications_by_app_id(client_id), g.service_principals_by_app_id(client_id))
        return ApiClientApp(apps[0] if apps else None, sps[0] if sps else None)

    return await ctx.shared(f"api-client-app:{client_id}", look_up)


async def applications_by_app_id(ctx: CheckContext, app_id: str) -> list[ApplicationInfo]:
    async def look_up() -> list[ApplicationInfo]:
        return await lk.graph(ctx).applications_by_app_id(app_id)

    return await ctx.shared(f"apps-by-app-id:{app_id.lower()}", look_up)


async def graph_sp(ctx: CheckContext) -> ServicePrincipalInfo | None:
    """Microsoft Graph's service principal in the tenant (None only in a broken tenant)."""

    async def look_up() -> ServicePrincipalInfo | None:
        sps = await lk.graph(ctx).service_principals_by_app_id(wellknown.MICROSOFT_GRAPH_APP_ID)
        return sps[0] if sps else None

    return await ctx.shared("graph-sp", look_up)


async def sam_graph_app_roles(ctx: CheckContext) -> tuple[lk.SamApp, ServicePrincipalInfo | None, set[str]]:
    """The CIPP-SAM app, Graph's service principal, and the Graph app role ids consented to
    CIPP-SAM (app role assignments on Graph's SP). Raises SamAppNotFound/SamAppAmbiguous."""
    sam_r, graph_r = await lk.settle(lk.sam_app(ctx), graph_sp(ctx))
    lk.reraise_unexpected(sam_r)
    lk.reraise_unexpected(graph_r)
    sam: lk.SamApp = sam_r
    graph: ServicePrincipalInfo | None = graph_r
    if sam.service_principal is None or graph is None:
        return sam, graph, set()
    sp_id = sam.service_principal.id

    async def look_up() -> set[str]:
        grants = await lk.graph(ctx).app_role_grants_of(sp_id)
        return {g.app_role_id for g in grants if g.resource_id == graph.id}

    return sam, graph, await ctx.shared(f"graph-app-roles:{sp_id}", look_up)


async def app_management_policy(ctx: CheckContext) -> AppManagementPolicyInfo:
    async def look_up() -> AppManagementPolicyInfo:
        return await lk.graph(ctx).default_app_management_policy()

    return await ctx.shared("app-management-policy", look_up)


REQUIRED_GRAPH_APP_ROLES: dict[str, str] = {
    wellknown.GRAPH_APPLICATION_READWRITE_ALL: "Application.ReadWrite.All",
    wellknown.GRAPH_DIRECTORY_READWRITE_ALL: "Directory.ReadWrite.All",
}

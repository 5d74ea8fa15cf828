"""The CIPP Function App through Azure Resource Manager, with azure-mgmt-web.

Reads only: the site (its system-assigned managed identity), its Easy Auth settings
(`config/authsettingsV2`, read without secrets: `Microsoft.Web/sites/config/read`, which
Reader has) and the one app setting Easy Auth consults, `WEBSITE_AUTH_AAD_ALLOWED_TENANTS`
(`config/appsettings/list` needs `Microsoft.Web/sites/config/list/action`; every other
setting, connection strings and keys among them, is dropped the moment it arrives and
never leaves this module).

Like arm.py (and with its client settings, `arm_client_kwargs`: base_url = the cloud's
ARM URL, credential_scopes = its ARM scope, the run's CA and proxies): the SDK is synchronous, each call runs in a worker thread; azure-core's own
retries are off (`retry_total=0`) so `RetryPolicy` decides, with an injectable sleep;
errors are classified by status and ARM error code with arm.py's classifier.
A site is found by name only when no resource id is known: the subscription's sites are
read page by page until the name turns up (App Service has no server-side name filter;
a subscription holds a handful of sites, not a directory's worth).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from cipp_setup.cloud import Cloud
from cipp_setup.gateways.arm import ArmGateway, arm_client_kwargs, close_clients, retire_clients
from cipp_setup.gateways.arm_json import raw_json
from cipp_setup.gateways.retry import RetryPolicy
from cipp_setup.gateways.threads import in_thread

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

T = TypeVar("T")

ALLOWED_TENANTS_SETTING = "WEBSITE_AUTH_AAD_ALLOWED_TENANTS"
# The only app settings this module hands out: none of them holds a secret.
READABLE_APP_SETTINGS = frozenset({ALLOWED_TENANTS_SETTING})

_SITE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Web/sites/(?P<name>[^/]+)/?$",
    re.IGNORECASE,
)
# App Service site names: 2-60 letters, digits and hyphens.
_SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,58}[A-Za-z0-9]$")


@dataclass(frozen=True)
class SiteRef:
    """Where a Function App lives: enough to address it in ARM."""

    subscription_id: str
    resource_group: str
    name: str

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Web/sites/{self.name}"
        )

    @property
    def resource_group_id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"


def parse_site_id(value: str) -> SiteRef | None:
    """A Microsoft.Web/sites resource id, or None when `value` is not one."""
    match = _SITE_ID.match(value.strip())
    if match is None:
        return None
    return SiteRef(match.group("sub").lower(), match.group("rg"), match.group("name"))


def is_site_name(value: str) -> bool:
    return bool(_SITE_NAME.match(value.strip()))


def site_name_from_host(host: str) -> str | None:
    """`cippxxxx.azurewebsites.net` → `cippxxxx`; any other host (a custom domain, the
    Static Web App) says nothing about the Function App's name."""
    host = host.strip().lower().rstrip(".")
    suffix = ".azurewebsites.net"
    if host.endswith(suffix) and "." not in host[: -len(suffix)]:
        name = host[: -len(suffix)]
        return name if is_site_name(name) else None
    return None


@dataclass(frozen=True)
class FunctionAppInfo:
    ref: SiteRef
    kind: str
    default_host_name: str
    identity_type: str  # "SystemAssigned", "UserAssigned", "SystemAssigned, UserAssigned" or ""
    identity_principal_id: str | None  # the system-assigned identity's service principal

    @property
    def resource_id(self) -> str:
        return self.ref.resource_id


@dataclass(frozen=True)
class EasyAuthSettings:
    """The parts of authsettingsV2 that decide whether a bearer token gets through."""

    platform_enabled: bool
    aad_configured: bool  # an azureActiveDirectory provider with a registration exists
    aad_enabled: bool
    client_id: str  # registration.clientId ("" when none)
    open_id_issuer: str
    allowed_audiences: tuple[str, ...]
    allowed_applications: tuple[str, ...]
    unauthenticated_action: str  # globalValidation.unauthenticatedClientAction ("" when unset)
    require_authentication: bool | None


def _enum_text(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def easy_auth_from_json(properties: dict[str, Any]) -> EasyAuthSettings:
    """authsettingsV2 `properties` as ARM sends them (the same shape for every SDK version)."""
    platform = _obj(properties.get("platform"))
    providers = _obj(properties.get("identityProviders"))
    aad_value = providers.get("azureActiveDirectory")
    aad = _obj(aad_value)
    registration = _obj(aad.get("registration"))
    validation = _obj(aad.get("validation"))
    policy = _obj(validation.get("defaultAuthorizationPolicy"))
    global_validation = _obj(properties.get("globalValidation"))
    client_id = str(registration.get("clientId") or "")
    require = global_validation.get("requireAuthentication")
    return EasyAuthSettings(
        platform_enabled=platform.get("enabled") is True or str(platform.get("enabled")).lower() == "true",
        aad_configured=isinstance(aad_value, dict) and bool(client_id),
        # App Service treats a provider without `enabled` as enabled.
        aad_enabled=isinstance(aad_value, dict) and aad.get("enabled") is not False,
        client_id=client_id.lower(),
        open_id_issuer=str(registration.get("openIdIssuer") or ""),
        allowed_audiences=tuple(str(a) for a in (validation.get("allowedAudiences") or ())),
        allowed_applications=tuple(str(a).lower() for a in (policy.get("allowedApplications") or ())),
        unauthenticated_action=str(global_validation.get("unauthenticatedClientAction") or ""),
        require_authentication=require if isinstance(require, bool) else None,
    )


class WebGateway:
    def __init__(self, cloud: Cloud, credential: TokenCredential, retry: RetryPolicy | None = None,
                 scope: str | None = None) -> None:
        self._cloud = cloud
        self._scope = scope or cloud.arm_scope
        self._credential = credential
        self._retry = retry or RetryPolicy()
        self._clients: dict[str, Any] = {}
        self._retired: dict[str, Any] = {}  # clients holding a refused token (see ArmGateway)
        self.request_count = 0

    def _web(self, subscription_id: str) -> Any:
        key = subscription_id.lower()
        if key not in self._clients:
            from azure.mgmt.web import WebSiteManagementClient

            # The same endpoint, scope, trust, proxies and timeouts as every ARM client.
            self._clients[key] = WebSiteManagementClient(
                self._credential, subscription_id, **arm_client_kwargs(self._cloud, self._scope)
            )
        return self._clients[key]

    async def _call(self, what: str, blocking: Callable[[], T]) -> T:
        async def attempt() -> T:
            self.request_count += 1
            try:
                return await in_thread(blocking)
            except Exception as exc:  # noqa: BLE001 - classified below
                # Same service, same error shapes: one classifier for every ARM client.
                raise ArmGateway._classify(what, exc) from None

        from cipp_setup.gateways.stale_token import once_more_on_rejection

        return await once_more_on_rejection(
            lambda: self._retry.run(attempt), credential=self._credential, scopes=(self._scope,),
            drop_cached=lambda: retire_clients(self._clients, self._retired),
        )

    async def get_site(self, ref: SiteRef) -> FunctionAppInfo:
        """The site. Raises NotFound (no such site or resource group), PermissionDenied."""
        site = await self._call(
            f"Function App {ref.name}",
            lambda: self._web(ref.subscription_id).web_apps.get(ref.resource_group, ref.name),
        )
        return self._site_info(site, ref)

    async def find_site(self, name: str, subscription_id: str) -> FunctionAppInfo | None:
        """The site named `name` in the subscription, or None."""
        wanted = name.lower()

        def search() -> Any:
            for site in self._web(subscription_id).web_apps.list():
                if str(site.name or "").lower() == wanted:
                    return site
            return None

        site = await self._call(f"Function Apps in subscription {subscription_id}", search)
        if site is None:
            return None
        ref = parse_site_id(str(site.id or "")) or SiteRef(subscription_id, "", str(site.name))
        return self._site_info(site, ref)

    @staticmethod
    def _site_info(site: Any, ref: SiteRef) -> FunctionAppInfo:
        identity = getattr(site, "identity", None)
        kind = _enum_text(getattr(identity, "type", None)) if identity is not None else ""
        principal = getattr(identity, "principal_id", None) if identity is not None else None
        return FunctionAppInfo(
            ref=ref,
            kind=str(getattr(site, "kind", None) or ""),
            default_host_name=str(getattr(site, "default_host_name", None) or ""),
            identity_type=kind if kind.lower() != "none" else "",
            identity_principal_id=str(principal).lower() if principal and "systemassigned" in kind.lower().replace(" ", "") else None,
        )

    async def easy_auth(self, ref: SiteRef) -> EasyAuthSettings:
        """authsettingsV2, read without secrets. Raises NotFound, PermissionDenied."""
        # The service's JSON, not an SDK model: a model's shape and known fields change
        # with the azure-mgmt-web version (see arm_json.py).
        document = await self._call(
            f"authentication settings of {ref.name}",
            lambda: self._web(ref.subscription_id).web_apps.get_auth_settings_v2_without_secrets(
                ref.resource_group, ref.name, cls=raw_json
            ),
        )
        return easy_auth_from_json(_obj(_obj(document).get("properties")))

    async def app_settings(self, ref: SiteRef) -> dict[str, str]:
        """The app settings in READABLE_APP_SETTINGS that are set. Raises PermissionDenied
        (reading app settings is a list action Reader lacks), NotFound."""

        def read() -> dict[str, str]:
            result = self._web(ref.subscription_id).web_apps.list_application_settings(ref.resource_group, ref.name)
            properties = getattr(result, "properties", None) or {}
            # Everything else may be a secret: keep only the allowed keys, right here.
            return {k: str(v) for k, v in properties.items() if k in READABLE_APP_SETTINGS and v is not None}

        return await self._call(f"app settings of {ref.name}", read)

    async def close(self) -> None:
        await close_clients(self._clients)
        await close_clients(self._retired)

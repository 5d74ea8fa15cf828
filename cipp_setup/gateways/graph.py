"""Microsoft Graph, through msgraph-sdk, in the project's own terms.

Construction follows microsoft-sdks.md: an `httpx.AsyncClient` trusting the cloud's CA,
wrapped by `GraphClientFactory.create_with_default_middleware` (kiota's retry switched
off: `RetryPolicy` retries instead, with an injectable sleep), a `GraphRequestAdapter`
over kiota's `AzureIdentityAuthenticationProvider` with explicit scopes and CAE off, and
`base_url` set without a trailing slash.

Every read uses a server-side filter or a direct address: nothing here lists a whole
directory. Errors are classified by status and Graph error code into `NotFound`,
`PermissionDenied`, `BadRequest` or `ServiceFailure` (throttled, service-unavailable,
network) — never by message text.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Sequence, TypeVar

from cipp_setup.cloud import Cloud
from cipp_setup.engine.runner import ServiceFailure
from cipp_setup.gateways.errors import BadRequest, NotFound, PermissionDenied, TokenRefused, failure_for_status
from cipp_setup.gateways.retry import RETRYABLE_STATUSES, Retryable, RetryPolicy, parse_retry_after
from cipp_setup.gateways.stale_token import TokenRejected, once_more_on_rejection

if TYPE_CHECKING:
    from msgraph.graph_service_client import GraphServiceClient

T = TypeVar("T")

# Graph's default client timeout is 100 s; a check has its own time limit on top.
GRAPH_TIMEOUT_S = 60.0


def quote(value: str) -> str:
    """An OData string literal: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


# --- what the gateway returns ------------------------------------------------------------


@dataclass(frozen=True)
class DirectoryUser:
    id: str
    user_principal_name: str
    display_name: str
    account_enabled: bool | None


def _user(u: dict[str, Any]) -> DirectoryUser:
    return DirectoryUser(id=_s(u.get("id")), user_principal_name=u.get("userPrincipalName") or "",
                         display_name=u.get("displayName") or "", account_enabled=u.get("accountEnabled"))


@dataclass(frozen=True)
class DirectoryGroup:
    id: str
    display_name: str
    is_assignable_to_role: bool


@dataclass(frozen=True)
class RoleAssignment:
    """An active directory role assignment (or a PIM eligibility instance)."""

    id: str
    principal_id: str
    role_definition_id: str
    directory_scope_id: str
    end: datetime | None = None


@dataclass(frozen=True)
class PermissionEntry:
    id: str  # scope or app role id (lower case)
    type: str  # "Scope" (delegated) or "Role" (application)


@dataclass(frozen=True)
class RequiredAccess:
    resource_app_id: str
    entries: tuple[PermissionEntry, ...]


@dataclass(frozen=True)
class PasswordCredentialInfo:
    key_id: str
    display_name: str | None
    hint: str | None
    end: datetime | None


@dataclass(frozen=True)
class ApplicationInfo:
    id: str  # object id
    app_id: str
    display_name: str
    sign_in_audience: str | None
    identifier_uris: tuple[str, ...]
    required_resource_access: tuple[RequiredAccess, ...]
    password_credentials: tuple[PasswordCredentialInfo, ...]
    requested_access_token_version: int | None


@dataclass(frozen=True)
class ScopeInfo:
    id: str
    value: str


@dataclass(frozen=True)
class ServicePrincipalInfo:
    id: str
    app_id: str
    display_name: str
    scopes: tuple[ScopeInfo, ...]


@dataclass(frozen=True)
class PermissionGrant:
    id: str
    client_id: str
    resource_id: str
    consent_type: str  # "AllPrincipals" or "Principal"
    principal_id: str | None
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class AppRoleGrant:
    """An app role assignment (application permission) held by a service principal."""

    id: str
    principal_id: str
    resource_id: str
    app_role_id: str


@dataclass(frozen=True)
class PasswordRestriction:
    """One passwordCredentials restriction of the tenant's default app management policy."""

    restriction_type: str  # "passwordAddition", "passwordLifetime", "customPasswordAddition", ...
    state: str  # "enabled" or "disabled"
    max_lifetime: str | None  # ISO 8601 duration, e.g. "P90D"
    applies_to_apps_created_after: datetime | None


@dataclass(frozen=True)
class AppManagementPolicyInfo:
    """policies/defaultAppManagementPolicy: what the tenant allows app secrets to be."""

    is_enabled: bool
    password_restrictions: tuple[PasswordRestriction, ...]


# --- construction ----------------------------------------------------------------------


def build_graph_client(cloud: Cloud, async_credential: Any, scopes: list[str]) -> GraphServiceClient:
    import httpx
    from kiota_authentication_azure.azure_identity_authentication_provider import (
        AzureIdentityAuthenticationProvider,
    )
    from kiota_http.middleware.options import RetryHandlerOption
    from msgraph.graph_request_adapter import GraphRequestAdapter
    from msgraph.graph_service_client import GraphServiceClient
    from msgraph_core import GraphClientFactory

    from cipp_setup.gateways.auth import USE_CAE

    from cipp_setup.gateways.transport import httpx_client_kwargs

    http = httpx.AsyncClient(  # trust and proxies: gateways/transport.py
        timeout=httpx.Timeout(GRAPH_TIMEOUT_S, connect=15.0), **httpx_client_kwargs(cloud)
    )
    no_retry = RetryHandlerOption(max_retries=0, should_retry=False)
    http = GraphClientFactory.create_with_default_middleware(
        client=http, options={no_retry.get_key(): no_retry}
    )
    auth = AzureIdentityAuthenticationProvider(
        async_credential, scopes=scopes, is_cae_enabled=USE_CAE
    )
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{cloud.graph_url.rstrip('/')}/v1.0"
    return GraphServiceClient(request_adapter=adapter)


def _query(builder: Any, **params: Any) -> Any:
    """RequestConfiguration for `builder.get` with its generated query-parameter class."""
    from kiota_abstractions.base_request_configuration import RequestConfiguration

    cls = next(
        getattr(type(builder), name) for name in dir(type(builder))
        if name.endswith("GetQueryParameters")
    )
    return RequestConfiguration(query_parameters=cls(**params))


def _s(value: Any) -> str:
    return "" if value is None else str(value).lower() if _looks_like_id(value) else str(value)


def token_failure(exc: Exception, service: str) -> Exception:
    """No token for `service`: the identity platform throttled or could not be reached (a
    transient cause, as the service's own would be), or it refused (a sign-in problem)."""
    from cipp_setup.gateways.auth import translate_auth_error
    from cipp_setup.gateways.transport import identity_failure, identity_platform_unreachable

    throttled = identity_failure(exc)
    if throttled is not None:
        return throttled
    unreachable = identity_platform_unreachable(exc)
    if unreachable:
        return ServiceFailure("network", unreachable)
    return TokenRefused(f"No {service} token: {translate_auth_error(exc)}")


def _looks_like_id(value: Any) -> bool:
    text = str(value)
    return len(text) == 36 and text.count("-") == 4


class GraphGateway:
    def __init__(self, client: GraphServiceClient, retry: RetryPolicy | None = None,
                 tokens: Any = None, scopes: Sequence[str] = ()) -> None:
        self._client = client
        self._retry = retry or RetryPolicy()
        # The async token adapter the client asks (auth.AsyncCredentialAdapter) and the
        # scopes it asks for: a 401 drops that token and gets a fresh one (stale_token.py).
        self._tokens = tokens
        self._scopes = tuple(scopes)
        self.request_count = 0  # Graph requests sent (retries included), for benchmarks

    # ----- error handling -----

    async def _call(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        async def attempt() -> T:
            self.request_count += 1
            try:
                return await operation()
            except Exception as exc:  # noqa: BLE001 - classified below
                raise self._classify(what, exc) from None

        if self._tokens is None:
            return await self._retry.run(attempt)
        return await once_more_on_rejection(
            lambda: self._retry.run(attempt), credential=self._tokens.credential,
            scopes=self._scopes, drop_cached=self._tokens.forget,
        )

    @staticmethod
    def _classify(what: str, exc: Exception) -> Exception:
        import httpx
        from azure.core.exceptions import ClientAuthenticationError
        from kiota_abstractions.api_error import APIError

        if isinstance(exc, APIError):
            status = exc.response_status_code or 0
            error = getattr(exc, "error", None)
            code = getattr(error, "code", None)
            detail = f"{code}" if code else ""
            if status in RETRYABLE_STATUSES:
                headers = exc.response_headers or {}
                retry_after = parse_retry_after(headers.get("retry-after") or headers.get("Retry-After"))
                return Retryable(status, retry_after, failure_for_status(status, "Microsoft Graph", what))
            if status == 404:
                return NotFound(what, code)
            if status == 401:
                return TokenRejected("Microsoft Graph", what, f"401 {code or ''}".strip())
            if status == 403:
                return PermissionDenied(
                    f"Microsoft Graph refused to read {what} ({status} {code or ''}).".replace(" )", ")"),
                    code,
                )
            if status == 400:
                return BadRequest(f"Microsoft Graph rejected the request for {what} ({detail}).", code)
            if status >= 500:
                return ServiceFailure(
                    "service-unavailable", f"Microsoft Graph failed reading {what} (HTTP {status})."
                )
            return ServiceFailure("internal-error", f"Microsoft Graph answered {status} reading {what}.")
        if isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout)):
            # Every call here is a read: safe to send again.
            return Retryable(0, None, ServiceFailure("timeout", f"Microsoft Graph did not answer in time reading {what}."))
        if isinstance(exc, httpx.TransportError):
            from cipp_setup.gateways.transport import connection_failure, is_retryable_read_failure

            failure = connection_failure(exc, "Microsoft Graph")
            return Retryable(0, None, failure) if is_retryable_read_failure(exc) else failure
        if isinstance(exc, ClientAuthenticationError):
            return token_failure(exc, "Microsoft Graph")
        from cipp_setup.gateways.transport import identity_failure

        return identity_failure(exc) or exc

    async def _get(self, what: str, builder: Any, config: Any = None, url: str | None = None) -> Any:
        """GET through the SDK's request builder and adapter (auth, middleware, ODataError
        mapping), but read the body as JSON: deserialising into msgraph's models imports
        over a thousand model modules on the first answer (1-3 s of CPU on the event loop)
        for a handful of fields."""
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        if url is not None:
            builder = builder.with_url(url)
        adapter = self._client.request_adapter
        # Raw bytes through the SDK's own adapter (auth, middleware, ODataError mapping),
        # so no model module is imported; the error map's value type is declared narrower
        # than the factories kiota itself passes. The request is built per attempt: kiota
        # writes the bearer token into it, and a retry after a 401 needs the fresh one.
        raw: Any = await self._call(
            what,
            lambda: adapter.send_primitive_async(
                builder.to_get_request_information(config), "bytes",
                {"XXX": ODataError.create_from_discriminator_value},  # type: ignore[dict-item]
            ),
        )
        return json.loads(raw) if raw else None

    async def _all_pages(self, what: str, builder: Any, config: Any) -> list[dict[str, Any]]:
        page = await self._get(what, builder, config)
        items = list((page or {}).get("value") or [])
        while page and page.get("@odata.nextLink"):
            page = await self._get(what, builder, url=page["@odata.nextLink"])
            items.extend((page or {}).get("value") or [])
        return items

    # ----- users and groups -----

    async def get_user(self, upn_or_id: str) -> DirectoryUser:
        """The user by object id or UPN. Raises NotFound."""
        builder = self._client.users.by_user_id(upn_or_id)
        config = _query(builder, select=["id", "userPrincipalName", "displayName", "accountEnabled"])
        user = await self._get(f"user {upn_or_id}", builder, config)
        if not user:
            raise NotFound(f"user {upn_or_id}")
        return DirectoryUser(
            id=_s(user.get("id")), user_principal_name=user.get("userPrincipalName") or "",
            display_name=user.get("displayName") or "", account_enabled=user.get("accountEnabled"),
        )

    async def users_starting_with(self, prefix: str, limit: int = 15) -> list[DirectoryUser]:
        """Users whose UPN or display name starts with `prefix` (case-insensitive; first page only)."""
        prefix = prefix.strip()
        if not prefix:
            raise ValueError("a user search needs a prefix: never list the directory")
        literal = quote(prefix)
        builder = self._client.users
        config = _query(builder, filter=f"startswith(userPrincipalName,{literal}) or startswith(displayName,{literal})",
                        select=["id", "userPrincipalName", "displayName", "accountEnabled"], top=limit)
        page = await self._get(f"users starting with {prefix!r}", builder, config)
        return [_user(u) for u in ((page or {}).get("value") or [])[:limit]]

    async def application_owners(self, application_object_id: str) -> list[DirectoryUser]:
        """The users among an app registration's owners (service principal owners are left out)."""
        builder = self._client.applications.by_application_id(application_object_id).owners
        items = await self._all_pages(f"owners of application {application_object_id}", builder, None)
        return [_user(o) for o in items
                if str(o.get("@odata.type") or "#microsoft.graph.user").lower() == "#microsoft.graph.user"]

    async def transitive_groups(self, user_id: str) -> list[DirectoryGroup]:
        """The groups a user belongs to, directly or through nested groups."""
        builder = self._client.users.by_user_id(user_id).transitive_member_of.graph_group
        config = _query(builder, select=["id", "displayName", "isAssignableToRole"])
        groups = await self._all_pages(f"group memberships of {user_id}", builder, config)
        return [
            DirectoryGroup(_s(g.get("id")), g.get("displayName") or "", bool(g.get("isAssignableToRole")))
            for g in groups
        ]

    # ----- directory roles -----

    async def _role_items(
        self, what: str, builder: Any, role_definition_id: str | None, principal_id: str | None,
        principal_ids: Sequence[str],
    ) -> list[Any]:
        """Items filtered server-side; `principal_ids` are sent `in` chunks Graph accepts,
        concurrently, so the answer is bounded by those principals, never by the tenant."""
        chunks = [list(principal_ids[i:i + MAX_IN_VALUES]) for i in range(0, len(principal_ids), MAX_IN_VALUES)]
        filters = [_role_filter(role_definition_id, principal_id, chunk) for chunk in chunks or [[]]]
        pages = await asyncio.gather(
            *(self._all_pages(what, builder, _query(builder, filter=f)) for f in filters)
        )
        return [item for page in pages for item in page]

    async def role_assignments(
        self, *, role_definition_id: str | None = None, principal_id: str | None = None,
        principal_ids: Sequence[str] = (),
    ) -> list[RoleAssignment]:
        """Active directory role assignments, filtered by role and/or principal(s)."""
        builder = self._client.role_management.directory.role_assignments
        items = await self._role_items(
            "directory role assignments", builder, role_definition_id, principal_id, principal_ids
        )
        return [
            RoleAssignment(_s(a.get("id")), _s(a.get("principalId")), _s(a.get("roleDefinitionId")),
                           a.get("directoryScopeId") or "/")
            for a in items
        ]

    async def role_eligibilities(
        self, *, role_definition_id: str | None = None, principal_id: str | None = None,
        principal_ids: Sequence[str] = (),
    ) -> list[RoleAssignment]:
        """PIM eligibilities (roleEligibilityScheduleInstances): must be activated to count.

        The PIM service documents `eq` and `ne` only for principalId and roleDefinitionId (no
        `in`): one `principalId eq` query per holder, concurrently, and the role filtered
        here when both are given; a role alone is `roleDefinitionId eq`."""
        builder = self._client.role_management.directory.role_eligibility_schedule_instances
        what = "PIM role eligibilities"
        holders = list(dict.fromkeys(([principal_id] if principal_id else []) + list(principal_ids)))
        if holders:
            pages = await asyncio.gather(*(
                self._all_pages(what, builder, _query(builder, filter=f"principalId eq {quote(p)}"))
                for p in holders
            ))
            items = [item for page in pages for item in page]
            if role_definition_id:
                items = [i for i in items if _s(i.get("roleDefinitionId")) == role_definition_id.lower()]
        else:
            items = await self._role_items(what, builder, role_definition_id, None, ())
        return [
            RoleAssignment(_s(a.get("id")), _s(a.get("principalId")), _s(a.get("roleDefinitionId")),
                           a.get("directoryScopeId") or "/", _time(a.get("endDateTime")))
            for a in items
        ]

    # ----- applications and service principals -----

    async def applications_by_app_id(self, app_id: str) -> list[ApplicationInfo]:
        builder = self._client.applications
        config = _query(builder, filter=f"appId eq {quote(app_id)}", select=_APP_SELECT)
        return [_app(a) for a in await self._all_pages(f"application {app_id}", builder, config)]

    async def applications_by_display_name(self, name: str) -> list[ApplicationInfo]:
        builder = self._client.applications
        config = _query(builder, filter=f"displayName eq {quote(name)}", select=_APP_SELECT)
        return [_app(a) for a in await self._all_pages(f"applications named {name}", builder, config)]

    async def service_principals_by_app_id(self, app_id: str) -> list[ServicePrincipalInfo]:
        builder = self._client.service_principals
        config = _query(builder, filter=f"appId eq {quote(app_id)}", select=_SP_SELECT)
        items = await self._all_pages(f"service principal of {app_id}", builder, config)
        return [_sp(s) for s in items]

    async def service_principals_by_display_name(self, name: str) -> list[ServicePrincipalInfo]:
        builder = self._client.service_principals
        config = _query(builder, filter=f"displayName eq {quote(name)}", select=_SP_SELECT)
        items = await self._all_pages(f"service principals named {name}", builder, config)
        return [_sp(s) for s in items]

    async def grants_for_client(self, client_sp_id: str) -> list[PermissionGrant]:
        """Delegated permission grants (oauth2PermissionGrants) a client SP holds."""
        builder = self._client.oauth2_permission_grants
        config = _query(builder, filter=f"clientId eq {quote(client_sp_id)}")
        items = await self._all_pages(f"permission grants of {client_sp_id}", builder, config)
        return [
            PermissionGrant(
                id=str(g.get("id")), client_id=_s(g.get("clientId")), resource_id=_s(g.get("resourceId")),
                consent_type=g.get("consentType") or "", principal_id=_s(g.get("principalId")) or None,
                scopes=tuple(x for x in (g.get("scope") or "").split(" ") if x),
            )
            for g in items
        ]

    async def app_role_grants_of(self, sp_id: str) -> list[AppRoleGrant]:
        """Application permissions (app role assignments) a service principal holds."""
        builder = self._client.service_principals.by_service_principal_id(sp_id).app_role_assignments
        items = await self._all_pages(f"application permissions of {sp_id}", builder, None)
        return [
            AppRoleGrant(str(a.get("id")), _s(a.get("principalId")), _s(a.get("resourceId")), _s(a.get("appRoleId")))
            for a in items
        ]

    async def default_app_management_policy(self) -> AppManagementPolicyInfo:
        """The tenant's default app management policy (needs Policy.Read.All)."""
        builder = self._client.policies.default_app_management_policy
        policy = await self._get("the tenant's default app management policy", builder) or {}
        restrictions = ((policy.get("applicationRestrictions") or {}).get("passwordCredentials")) or ()
        return AppManagementPolicyInfo(
            is_enabled=bool(policy.get("isEnabled")),
            password_restrictions=tuple(
                PasswordRestriction(
                    str(r.get("restrictionType") or ""), str(r.get("state") or "enabled"),
                    r.get("maxLifetime"), _time(r.get("restrictForAppsCreatedAfterDateTime")),
                )
                for r in restrictions
            ),
        )

    async def close(self) -> None:
        adapter = self._client.request_adapter
        http = getattr(adapter, "_http_client", None)
        if http is not None:
            await http.aclose()


_APP_SELECT = [
    "id", "appId", "displayName", "signInAudience", "identifierUris",
    "requiredResourceAccess", "passwordCredentials", "api",
]
_SP_SELECT = ["id", "appId", "displayName", "oauth2PermissionScopes"]


# Graph accepts at most 15 values in one `in` clause on directory objects.
MAX_IN_VALUES = 15


def _role_filter(
    role_definition_id: str | None, principal_id: str | None, principal_ids: Sequence[str] = ()
) -> str:
    parts = []
    if role_definition_id:
        parts.append(f"roleDefinitionId eq {quote(role_definition_id)}")
    if principal_id:
        parts.append(f"principalId eq {quote(principal_id)}")
    if principal_ids:
        parts.append(f"principalId in ({', '.join(quote(p) for p in principal_ids)})")
    if not parts:
        raise ValueError("a role assignment look-up needs a role or a principal: never list them all")
    return " and ".join(parts)


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _app(a: dict[str, Any]) -> ApplicationInfo:
    api = a.get("api") or {}
    return ApplicationInfo(
        id=_s(a.get("id")), app_id=_s(a.get("appId")), display_name=a.get("displayName") or "",
        sign_in_audience=a.get("signInAudience"),
        identifier_uris=tuple(a.get("identifierUris") or ()),
        required_resource_access=tuple(
            RequiredAccess(
                _s(r.get("resourceAppId")),
                tuple(PermissionEntry(_s(e.get("id")), e.get("type") or "") for e in (r.get("resourceAccess") or ())),
            )
            for r in (a.get("requiredResourceAccess") or ())
        ),
        password_credentials=tuple(
            PasswordCredentialInfo(_s(p.get("keyId")), p.get("displayName"), p.get("hint"), _time(p.get("endDateTime")))
            for p in (a.get("passwordCredentials") or ())
        ),
        requested_access_token_version=api.get("requestedAccessTokenVersion"),
    )


def _sp(s: dict[str, Any]) -> ServicePrincipalInfo:
    return ServicePrincipalInfo(
        id=_s(s.get("id")), app_id=_s(s.get("appId")), display_name=s.get("displayName") or "",
        scopes=tuple(
            ScopeInfo(_s(p.get("id")), p.get("value") or "") for p in (s.get("oauth2PermissionScopes") or ())
        ),
    )

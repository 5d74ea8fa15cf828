"""Microsoft Graph writes for the fixes, through msgraph-sdk.

The client is built with `build_graph_client` (the read gateway's construction) over the
same azure-identity credential the admin signed in with, but asking for the write
permissions (`WRITE_GRAPH_PERMISSIONS`): azure-identity gets that token silently from the
sign-in's refresh token, so there is no second device code, and `check` never holds
these permissions. Nothing is requested until the first write.

Errors become `WriteRefused`, classified by HTTP status and Graph error code — never by
message text: 403 → permission-denied; 409 `Request_MultipleObjectsWithSameKeyValue`
and PIM's `RoleAssignmentExists` → already-exists; a 404 on a POST that references
another object → principal-not-found (that object has not replicated yet); 429/503/504
are retried by `RetryPolicy` first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

from cipp_setup.cloud import Cloud
from cipp_setup.engine.writes import WRITE_GRAPH_PERMISSIONS, Grant, WriteRefused
from cipp_setup.gateways.graph import _query, build_graph_client, quote
from cipp_setup.gateways.retry import RETRYABLE_STATUSES, Retryable, RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    from msgraph.graph_service_client import GraphServiceClient

    from cipp_setup.gateways.auth import AdminSession

T = TypeVar("T")

_EXISTS_CODES = frozenset({"Request_MultipleObjectsWithSameKeyValue", "RoleAssignmentExists"})


def _lower(value: Any) -> str:
    return "" if value is None else str(value).lower()


def _unknown_fields(model: Any) -> dict[str, Any]:
    """Properties Graph sent that this SDK version has no attribute for (kiota's `additional_data`)."""
    extra = getattr(model, "additional_data", None)
    return {str(k): v for k, v in extra.items() if not str(k).startswith("@odata.")} if isinstance(extra, dict) else {}


def classify_graph_write(what: str, exc: Exception, *, references_other_object: bool = False) -> Exception:
    """An SDK exception from a Graph write as WriteRefused (or Retryable for 429/503/504)."""
    import httpx
    from azure.core.exceptions import ClientAuthenticationError
    from kiota_abstractions.api_error import APIError

    if isinstance(exc, APIError):
        status = exc.response_status_code or 0
        code = getattr(getattr(exc, "error", None), "code", None)
        label = f"{status} {code}" if code else str(status)
        if status in RETRYABLE_STATUSES:
            headers = exc.response_headers or {}
            retry_after = parse_retry_after(headers.get("retry-after") or headers.get("Retry-After"))
            cause = "throttled" if status == 429 else "service-unavailable"
            final = WriteRefused(cause, f"Microsoft Graph kept answering {status} while {what}.",
                                 status=status, code=code, retry_after_s=retry_after)
            return Retryable(status, retry_after, final)
        if status == 401:  # the token was not accepted: a stale sign-in, not a missing role
            return WriteRefused("sign-in-required", f"Microsoft Graph did not accept the sign-in's token while "
                                f"{what} ({label}): sign in again ('cipp-setup login --for fix').",
                                status=status, code=code)
        if status == 403:
            return WriteRefused("permission-denied", f"Microsoft Graph refused {what} ({label}).",
                                status=status, code=code)
        if code in _EXISTS_CODES or status == 409:
            return WriteRefused("already-exists", f"Microsoft Graph: already exists ({label}).",
                                status=status, code=code)
        if status == 404:
            cause = "principal-not-found" if references_other_object else "not-found"
            return WriteRefused(cause, f"Microsoft Graph could not find an object while {what} ({label}).",
                                status=status, code=code)
        if status == 400:
            return WriteRefused("bad-request", f"Microsoft Graph rejected {what} ({label}).",
                                status=status, code=code)
        return WriteRefused("service-unavailable" if status >= 500 else "bad-request",
                            f"Microsoft Graph answered {label} while {what}.", status=status, code=code)
    if isinstance(exc, httpx.TransportError):
        from cipp_setup.gateways.transport import describe_connection_failure

        # Refused, DNS, TLS, a full pool: the request never went out. Anything else (a
        # read timeout, a reset) came after it did: it may have landed ("no-answer":
        # the engine reads the tenant back before saying what happened).
        not_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError))
        return WriteRefused("network" if not_sent else "no-answer",
                            f"While {what}: " + describe_connection_failure(exc, "Microsoft Graph"))
    if isinstance(exc, ClientAuthenticationError):
        from cipp_setup.gateways.auth import translate_auth_error

        return WriteRefused("sign-in-required",
                            f"No Microsoft Graph token with write permissions: {translate_auth_error(exc)}")
    return exc


def build_graph_write_client(session: AdminSession) -> GraphServiceClient:
    """A Graph client over the signed-in admin's credential, asking for write permissions."""
    from cipp_setup.gateways.auth import AsyncCredentialAdapter, graph_scopes

    scopes = graph_scopes(session.cloud, session.auth, write_permissions=WRITE_GRAPH_PERMISSIONS)
    return build_graph_client(session.cloud, AsyncCredentialAdapter(session.credential), scopes)


class GraphWrites:
    """The Graph half of `TenantWrites`."""

    def __init__(self, client: GraphServiceClient, retry: RetryPolicy | None = None) -> None:
        self._client = client
        self._retry = retry or RetryPolicy()
        self.request_count = 0

    @classmethod
    def for_session(cls, session: AdminSession, retry: RetryPolicy | None = None) -> GraphWrites:
        return cls(build_graph_write_client(session), retry)

    @classmethod
    def for_cloud(cls, cloud: Cloud, async_credential: Any, scopes: list[str],
                  retry: RetryPolicy | None = None) -> GraphWrites:
        return cls(build_graph_client(cloud, async_credential, scopes), retry)

    async def _call(self, what: str, operation: Callable[[], Awaitable[T]], *,
                    references_other_object: bool = False) -> T:
        async def attempt() -> T:
            self.request_count += 1
            try:
                return await operation()
            except Exception as exc:  # noqa: BLE001 - classified below
                raise classify_graph_write(what, exc, references_other_object=references_other_object) from None

        return await self._retry.run(attempt)

    async def _delete(self, what: str, delete: Callable[[], Awaitable[Any]]) -> bool:
        """A DELETE; False when the object was already gone (404)."""
        try:
            await self._call(what, delete)
        except WriteRefused as exc:
            if exc.cause == "not-found":
                return False
            raise
        return True

    # ----- directory role assignments -----

    async def find_directory_role_assignment(
        self, principal_id: str, role_definition_id: str, directory_scope_id: str
    ) -> str | None:
        builder = self._client.role_management.directory.role_assignments
        flt = f"principalId eq {quote(principal_id)} and roleDefinitionId eq {quote(role_definition_id)}"
        config = _query(builder, filter=flt)
        page = await self._call("reading directory role assignments",
                                lambda: builder.get(request_configuration=config))
        for a in (page.value or []) if page else []:
            if (a.directory_scope_id or "/") == directory_scope_id:
                return str(a.id)
        return None

    async def create_directory_role_assignment(
        self, principal_id: str, role_definition_id: str, directory_scope_id: str
    ) -> str:
        from msgraph.generated.models.unified_role_assignment import UnifiedRoleAssignment

        body = UnifiedRoleAssignment(
            principal_id=principal_id, role_definition_id=role_definition_id,
            directory_scope_id=directory_scope_id,
        )
        created = await self._call(
            "creating the directory role assignment",
            lambda: self._client.role_management.directory.role_assignments.post(body),
            references_other_object=True,
        )
        return str(created.id) if created else ""

    async def delete_directory_role_assignment(self, assignment_id: str) -> bool:
        builder = self._client.role_management.directory.role_assignments.by_unified_role_assignment_id(
            assignment_id
        )
        return await self._delete("removing the directory role assignment", builder.delete)

    async def directory_role_assignment_exists(self, assignment_id: str) -> bool:
        builder = self._client.role_management.directory.role_assignments.by_unified_role_assignment_id(
            assignment_id
        )
        try:
            await self._call("reading the directory role assignment", builder.get)
        except WriteRefused as exc:
            if exc.cause == "not-found":
                return False
            raise
        return True

    async def request_role_self_activation(
        self, principal_id: str, role_definition_id: str, directory_scope_id: str,
        justification: str, duration: str,
    ) -> str:
        from datetime import datetime, timezone

        from msgraph.generated.models.expiration_pattern import ExpirationPattern
        from msgraph.generated.models.expiration_pattern_type import ExpirationPatternType
        from msgraph.generated.models.request_schedule import RequestSchedule
        from msgraph.generated.models.unified_role_assignment_schedule_request import (
            UnifiedRoleAssignmentScheduleRequest,
        )
        from msgraph.generated.models.unified_role_schedule_request_actions import (
            UnifiedRoleScheduleRequestActions,
        )

        body = UnifiedRoleAssignmentScheduleRequest(
            action=UnifiedRoleScheduleRequestActions.SelfActivate,
            principal_id=principal_id, role_definition_id=role_definition_id,
            directory_scope_id=directory_scope_id, justification=justification,
            schedule_info=RequestSchedule(
                start_date_time=datetime.now(timezone.utc),
                # kiota writes a timedelta as "1:00:00"; Graph wants ISO 8601 ("PT1H"),
                # which kiota passes through when given as a string.
                expiration=ExpirationPattern(type=ExpirationPatternType.AfterDuration,
                                             duration=duration),  # type: ignore[arg-type]
            ),
        )
        created = await self._call(
            "requesting the role activation",
            lambda: self._client.role_management.directory.role_assignment_schedule_requests.post(body),
        )
        if created is None:
            return ""
        return str(created.target_schedule_id or created.id or "")

    # ----- service principals and applications -----

    async def find_service_principal(self, app_id: str) -> str | None:
        builder = self._client.service_principals
        config = _query(builder, filter=f"appId eq {quote(app_id)}", select=["id", "appId"])
        page = await self._call("reading service principals", lambda: builder.get(request_configuration=config))
        items = (page.value or []) if page else []
        return _lower(items[0].id) if items else None

    async def create_service_principal(self, app_id: str) -> str:
        from msgraph.generated.models.service_principal import ServicePrincipal

        created = await self._call(
            "creating the service principal",
            lambda: self._client.service_principals.post(ServicePrincipal(app_id=app_id)),
        )
        return _lower(created.id) if created else ""

    async def get_required_resource_access(self, application_object_id: str) -> list[dict[str, Any]]:
        """The application's requiredResourceAccess as Graph sent it: every entry, in order,
        with any property the SDK's model does not know (kiota keeps those in
        `additional_data`, which `set_required_resource_access` writes back)."""
        builder = self._client.applications.by_application_id(application_object_id)
        config = _query(builder, select=["id", "requiredResourceAccess"])
        app = await self._call("reading the application", lambda: builder.get(request_configuration=config))
        out: list[dict[str, Any]] = []
        for r in (app.required_resource_access or []) if app else []:
            out.append({
                **_unknown_fields(r),
                "resourceAppId": _lower(r.resource_app_id),
                "resourceAccess": [{**_unknown_fields(a), "id": _lower(a.id), "type": a.type or ""}
                                   for a in (r.resource_access or [])],
            })
        return out

    async def set_required_resource_access(
        self, application_object_id: str, required_resource_access: list[dict[str, Any]]
    ) -> None:
        """PATCH requiredResourceAccess with exactly these entries (unknown properties included)."""
        from uuid import UUID

        from msgraph.generated.models.application import Application
        from msgraph.generated.models.required_resource_access import RequiredResourceAccess
        from msgraph.generated.models.resource_access import ResourceAccess

        def access(a: dict[str, Any]) -> ResourceAccess:
            model = ResourceAccess(id=UUID(str(a["id"])), type=str(a["type"]))
            model.additional_data = {k: v for k, v in a.items() if k not in ("id", "type")}
            return model

        def entry(e: dict[str, Any]) -> RequiredResourceAccess:
            model = RequiredResourceAccess(resource_app_id=str(e["resourceAppId"]),
                                           resource_access=[access(a) for a in e.get("resourceAccess", [])])
            model.additional_data = {k: v for k, v in e.items() if k not in ("resourceAppId", "resourceAccess")}
            return model

        body = Application(required_resource_access=[entry(e) for e in required_resource_access])
        builder = self._client.applications.by_application_id(application_object_id)
        await self._call("updating the application's requiredResourceAccess", lambda: builder.patch(body))

    # ----- delegated permission grants -----

    async def list_oauth2_permission_grants(self, client_id: str, resource_id: str) -> list[Grant]:
        builder = self._client.oauth2_permission_grants
        flt = f"clientId eq {quote(client_id)} and resourceId eq {quote(resource_id)}"
        config = _query(builder, filter=flt)
        page = await self._call("reading permission grants", lambda: builder.get(request_configuration=config))
        return [
            Grant(id=str(g.id), client_id=_lower(g.client_id), resource_id=_lower(g.resource_id),
                  consent_type=g.consent_type or "", principal_id=_lower(g.principal_id) or None,
                  scope=g.scope or "")
            for g in ((page.value or []) if page else [])
        ]

    async def create_oauth2_permission_grant(
        self, client_id: str, resource_id: str, consent_type: str, scope: str, principal_id: str | None,
    ) -> str:
        from msgraph.generated.models.o_auth2_permission_grant import OAuth2PermissionGrant

        body = OAuth2PermissionGrant(client_id=client_id, resource_id=resource_id, consent_type=consent_type,
                                     scope=scope, principal_id=principal_id)
        created = await self._call(
            "creating the permission grant", lambda: self._client.oauth2_permission_grants.post(body),
            references_other_object=True,
        )
        return str(created.id) if created else ""

    async def update_oauth2_permission_grant_scope(self, grant_id: str, scope: str) -> None:
        from msgraph.generated.models.o_auth2_permission_grant import OAuth2PermissionGrant

        builder = self._client.oauth2_permission_grants.by_o_auth2_permission_grant_id(grant_id)
        await self._call("extending the permission grant", lambda: builder.patch(OAuth2PermissionGrant(scope=scope)))

    async def delete_oauth2_permission_grant(self, grant_id: str) -> bool:
        """Delete a grant; False when it was already gone (404)."""
        builder = self._client.oauth2_permission_grants.by_o_auth2_permission_grant_id(grant_id)
        return await self._delete("removing the permission grant", builder.delete)

    async def close(self) -> None:
        http = getattr(self._client.request_adapter, "_http_client", None)
        if http is not None:
            await http.aclose()

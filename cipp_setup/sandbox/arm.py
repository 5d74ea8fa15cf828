"""Azure Resource Manager, as far as cipp-setup and CIPP use it.

Served: subscriptions and tenants (Microsoft.Resources 2022-12-01), resource groups,
management groups, role assignments and role definitions at any scope
(Microsoft.Authorization 2022-04-01), Azure PIM role eligibility instances
(roleEligibilityScheduleInstances 2020-10-01), and the Function App's site, Easy Auth
(`config/authsettingsV2`) and app settings (Microsoft.Web).

Behaviour follows ARM: every request needs `api-version` (400 MissingApiVersionParameter)
and a bearer token for the ARM resource (401 otherwise); then the caller's effective
role assignments at the request's scope must grant the operation's action (403
AuthorizationFailed with ARM's message). Errors are `{"error": {"code", "message"}}`.
Paths are case-insensitive, as ARM's are.

Role-assignment listing implements ARM's scope semantics: `atScope()` returns assignments
at or above the scope; without it, assignments at, above and below it. `assignedTo('{id}')`
means the principal and every group it belongs to (transitively); `principalId eq '{id}'`
the principal alone. A principal filter never scans all assignments.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import jwt

from cipp_setup.sandbox import authz_arm
from cipp_setup.sandbox.clouds import arm_audiences
from cipp_setup.sandbox.http import Request, Response, SandboxUrls, json_response
from cipp_setup.sandbox.state import (
    READ_ONLY_SUBSCRIPTION_STATES,
    ArmRoleAssignment,
    ArmRoleDefinition,
    ArmRoleEligibility,
    ServicePrincipal,
    Site,
    Subscription,
    TenantState,
    UserAssignedIdentity,
    Visibility,
)

ARM_AUDIENCES = frozenset(
    {
        "https://management.azure.com/",
        "https://management.azure.com",
        "https://management.core.windows.net/",
        "https://management.core.windows.net",
    }
)
SUBSCRIPTIONS_PAGE_SIZE = 100
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# Actions ARM checks for each operation (Microsoft's resource provider operations).
ACTION_ROLE_ASSIGNMENT_READ = "Microsoft.Authorization/roleAssignments/read"
ACTION_ROLE_ASSIGNMENT_WRITE = "Microsoft.Authorization/roleAssignments/write"
ACTION_ROLE_ASSIGNMENT_DELETE = "Microsoft.Authorization/roleAssignments/delete"
ACTION_ROLE_DEFINITION_READ = "Microsoft.Authorization/roleDefinitions/read"
ACTION_RESOURCE_GROUP_READ = "Microsoft.Resources/subscriptions/resourceGroups/read"
ACTION_SUBSCRIPTION_READ = "Microsoft.Resources/subscriptions/read"
ACTION_MANAGEMENT_GROUP_READ = "Microsoft.Management/managementGroups/read"
ACTION_SITE_READ = "Microsoft.Web/sites/read"
ACTION_SITE_WRITE = "Microsoft.Web/sites/write"
ACTION_SITE_CONFIG_READ = "Microsoft.Web/sites/config/read"
ACTION_SITE_CONFIG_WRITE = "Microsoft.Web/sites/config/write"
ACTION_SITE_CONFIG_LIST = "Microsoft.Web/sites/config/list/action"

# When the built-in definitions were created/updated, as ARM reports them. Only Reader's
# dates are from a recording; the others use the same creation date (not verified).
_BUILTIN_CREATED_ON = "2015-02-02T21:55:09.8806423Z"
_BUILTIN_UPDATED_ON = "2021-11-11T20:13:47.8628684Z"


class ArmError(Exception):
    """An ARM error answer: status plus `{"error": {"code", "message"}}`."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def arm_timestamp(seconds: float) -> str:
    """ARM's time format: ISO 8601 UTC with seven fractional digits and Z."""
    dt = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0Z"


def principal_visible_to_arm(state: TenantState, visibility: Visibility) -> bool:
    """ARM's view of a new principal lags the directory by the ARM replication settings.

    `Visibility` records when Graph makes the object visible (creation + graph lag); the
    creation point is recovered from it, and ARM sees the object `arm_principal_seconds`
    and `arm_principal_requests` after creation.
    """
    rep = state.replication
    if visibility.visible_at == 0 and visibility.visible_after_requests == 0:
        return True
    created_at = visibility.visible_at - rep.graph_seconds
    created_request = visibility.visible_after_requests - rep.graph_requests
    return (
        state.clock.now() >= created_at + rep.arm_principal_seconds
        and state.request_count >= created_request + rep.arm_principal_requests
    )


def directory_principal(state: TenantState, object_id: str) -> tuple[str, Visibility] | None:
    """(principalType, visibility) of a user, group or service principal, if it exists."""
    oid = object_id.lower()
    if oid in state.users:
        return "User", state.users[oid].visibility
    if oid in state.groups:
        return "Group", state.groups[oid].visibility
    if oid in state.service_principals:
        return "ServicePrincipal", state.service_principals[oid].visibility
    return None


class _Caller:
    """The authenticated ARM caller: object id for RBAC, a name for error messages."""

    def __init__(self, claims: dict[str, Any], state: TenantState) -> None:
        self.claims = claims
        is_app = claims.get("idtyp") == "app" or ("scp" not in claims and claims.get("idtyp") != "user")
        self.kind = "app" if is_app else "user"
        self.app_id = str(claims.get("appid") or claims.get("azp") or "")
        oid = str(claims.get("oid") or "")
        if not oid and is_app:
            sp = state.service_principal_by_app_id(self.app_id)
            oid = sp.id if sp else ""
        self.object_id = oid.lower()
        if is_app:
            self.name = self.app_id or self.object_id
            self.log_id = self.app_id or self.object_id
        else:
            user = state.users.get(self.object_id)
            upn = claims.get("upn") or claims.get("unique_name") or (user.user_principal_name if user else None)
            self.name = str(upn or self.object_id)
            self.log_id = self.object_id


Handler = Callable[[Request, _Caller, "re.Match[str]"], Response]


class ArmService:
    """The ARM endpoint at `urls.arm`."""

    name = "arm"

    def __init__(self, state: TenantState, tokens: Any, urls: SandboxUrls) -> None:
        self.state = state
        self.tokens = tokens
        self.urls = urls
        scope = r"(?P<scope>(?:/[^?]*?)?)"
        site = (
            r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
            r"/providers/Microsoft\.Web/sites/(?P<site>[^/]+)"
        )
        routes: list[tuple[str, str, Handler]] = [
            ("GET", r"/subscriptions", self._list_subscriptions),
            ("GET", r"/subscriptions/(?P<sub>[^/]+)", self._get_subscription),
            ("GET", r"/tenants", self._list_tenants),
            ("GET", r"/subscriptions/(?P<sub>[^/]+)/resourceGroups", self._list_resource_groups),
            ("GET", r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)", self._get_resource_group),
            ("GET", r"/providers/Microsoft\.Management/managementGroups", self._list_management_groups),
            ("GET", r"/providers/Microsoft\.Management/managementGroups/(?P<mg>[^/]+)", self._get_management_group),
            ("GET", scope + r"/providers/Microsoft\.Authorization/roleAssignments", self._list_role_assignments),
            ("GET", scope + r"/providers/Microsoft\.Authorization/roleAssignments/(?P<name>[^/]+)", self._get_role_assignment),
            ("PUT", scope + r"/providers/Microsoft\.Authorization/roleAssignments/(?P<name>[^/]+)", self._put_role_assignment),
            ("DELETE", scope + r"/providers/Microsoft\.Authorization/roleAssignments/(?P<name>[^/]+)", self._delete_role_assignment),
            ("GET", scope + r"/providers/Microsoft\.Authorization/roleEligibilityScheduleInstances",
             self._list_role_eligibilities),
            ("GET", scope + r"/providers/Microsoft\.Authorization/roleDefinitions", self._list_role_definitions),
            ("GET", scope + r"/providers/Microsoft\.Authorization/roleDefinitions/(?P<id>[^/]+)", self._get_role_definition),
            ("GET", r"/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.Web/sites", self._list_sites),
            ("GET", r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.Web/sites",
             self._list_sites),
            ("GET", site, self._get_site),
            ("PATCH", site, self._patch_site),
            ("POST", site + r"/config/authsettingsV2/list", self._list_auth_settings),
            ("GET", site + r"/config/authsettingsV2/list", self._list_auth_settings),
            ("GET", site + r"/config/authsettingsV2", self._get_auth_settings),
            ("PUT", site + r"/config/authsettingsV2", self._put_auth_settings),
            ("POST", site + r"/config/appsettings/list", self._list_app_settings),
            ("GET", site + r"/config/appsettings", self._list_app_settings),
            ("PUT", site + r"/config/appsettings", self._put_app_settings),
        ]
        self._routes = [(m, re.compile("^" + p + "/?$", re.IGNORECASE), h) for m, p, h in routes]

    # ----- entry point -----

    def handle(self, request: Request) -> Response:
        try:
            return self._dispatch(request)
        except ArmError as err:
            return self._error(err)

    def _dispatch(self, request: Request) -> Response:
        if request.method.upper() == "GET" and request.path.rstrip("/").lower() == "/metadata/endpoints":
            return self._metadata_endpoints()
        matched_path = False
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match is None:
                continue
            matched_path = True
            if method != request.method.upper():
                continue
            caller = self._authenticate(request)
            if not self._api_version(request):
                raise ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                )
            self._refuse_writes_on_read_only_subscription(request)
            return handler(request, caller, match)
        if matched_path:
            self._authenticate(request)
            raise ArmError(
                405,
                "MethodNotAllowed",
                f"The requested resource does not support http method '{request.method.upper()}'.",
            )
        self._authenticate(request)
        if not self._api_version(request):
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        raise ArmError(
            404,
            "InvalidResourceType",
            f"The resource type could not be found for the request path '{request.path}'.",
        )

    def _metadata_endpoints(self) -> Response:
        """GET /metadata/endpoints: the cloud's endpoints, unauthenticated, as ARM serves them
        (what `az cloud register --endpoint-resource-manager` reads first). Hosts are the
        sandbox's; the audiences are the ones its services accept."""
        from cipp_setup.sandbox.clouds import cloud_of

        cloud = cloud_of(self.state)
        graph = (self.state.served_graph_url or cloud.graph_resource).rstrip("/") + "/"
        document = {
            "portal": "https://portal.azure.com",
            "authentication": {
                "loginEndpoint": self.urls.idp.rstrip("/"),
                "audiences": [u for u in cloud.arm_resource_uris if ".core." in u] + [cloud.arm_resource],
                "tenant": "common",
                "identityProvider": "AAD",
            },
            "media": "https://rest.media.azure.net",
            "graphAudience": "https://graph.windows.net/",
            "graph": "https://graph.windows.net/",
            "name": "AzureCloud" if cloud.name == "public" else cloud.name,
            "suffixes": {
                "azureDataLakeStoreFileSystem": "azuredatalakestore.net",
                "acrLoginServer": "azurecr.io",
                "sqlServerHostname": "database.windows.net",
                "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
                "keyVaultDns": "vault.azure.net",
                "storage": "core.windows.net",
                "azureFrontDoorEndpointSuffix": "azurefd.net",
            },
            "batch": "https://batch.core.windows.net/",
            "resourceManager": self.urls.arm.rstrip("/") + "/",
            "vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/main/arm-compute/quickstart-templates/aliases.json",
            "activeDirectoryDataLake": "https://datalake.azure.net/",
            "sqlManagement": "https://management.core.windows.net:8443/",
            "microsoftGraphResourceId": graph,
            "gallery": "https://gallery.azure.com/",
        }
        return self._ok(document)

    def _refuse_writes_on_read_only_subscription(self, request: Request) -> None:
        """A Disabled (or Deleted) subscription is read-only: ARM refuses every write in it
        with 409 ReadOnlyDisabledSubscription, before any authorization. List actions
        (POST …/list) are reads and still answer."""
        method = request.method.upper()
        if method in ("GET", "HEAD") or (method == "POST" and request.path.rstrip("/").lower().endswith("/list")):
            return
        m = re.match(r"^/subscriptions/([^/]+)", request.path, re.IGNORECASE)
        sub = self.state.subscriptions.get(m.group(1).lower()) if m else None
        if sub is not None and sub.state in READ_ONLY_SUBSCRIPTION_STATES:
            raise ArmError(
                409, "ReadOnlyDisabledSubscription",
                f"The subscription '{sub.subscription_id}' is disabled and therefore marked as read only. "
                "You cannot perform any write actions on this subscription until it is re-enabled.",
            )

    @staticmethod
    def _api_version(request: Request) -> str | None:
        for key, value in request.query.items():
            if key.lower() == "api-version" and value:
                return value
        return None

    def _error(self, err: ArmError) -> Response:
        headers = {
            "x-ms-request-id": str(uuid.uuid4()),
            "x-ms-correlation-request-id": str(uuid.uuid4()),
            "x-ms-failure-cause": "gateway",
        }
        headers.update(err.headers)
        return json_response(err.status, {"error": {"code": err.code, "message": err.message}}, headers)

    def _ok(self, payload: Any, status: int = 200) -> Response:
        return json_response(
            status,
            payload,
            {"x-ms-request-id": str(uuid.uuid4()), "x-ms-correlation-request-id": str(uuid.uuid4()),
             "Cache-Control": "no-cache"},
        )

    # ----- authentication and authorization -----

    def _authenticate(self, request: Request) -> _Caller:
        challenge = {
            "WWW-Authenticate": (
                'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", '
                'error_description="The authentication failed because of missing \'Authorization\' header."'
            )
        }
        token = request.bearer_token()
        if not token:
            raise ArmError(401, "AuthenticationFailed",
                           "Authentication failed. The 'Authorization' header is missing.", challenge)
        claims = self.tokens.verify(token)
        if claims is None:
            raise self._invalid_token(token)
        audience = str(claims.get("aud") or "")
        allowed = arm_audiences(self.state)  # the posed cloud's (sandbox/clouds.py)
        if audience not in allowed:
            listed = ",".join(f"'{a}'" for a in sorted(allowed, reverse=True))
            raise ArmError(
                401,
                "InvalidAuthenticationToken",
                f"The access token has been obtained for wrong audience or resource '{audience}'. It should "
                f"exactly match with one of the allowed audiences {listed}.",
            )
        tid = str(claims.get("tid") or "").lower()
        if tid != self.state.tenant_id.lower():
            raise ArmError(
                401,
                "InvalidAuthenticationTokenTenant",
                f"The access token is from the wrong issuer '{claims.get('iss')}'. It must match the tenant "
                f"'https://sts.windows.net/{self.state.tenant_id}/' associated with this subscription.",
            )
        caller = _Caller(claims, self.state)
        request.caller = caller.log_id or None
        return caller

    def _invalid_token(self, token: str) -> ArmError:
        """Expired tokens get ARM's own code; anything else is simply invalid."""
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            unverified = {}
        exp = unverified.get("exp")
        now = self.state.clock.now()
        if isinstance(exp, (int, float)) and exp <= now:
            fmt = "%m/%d/%Y %H:%M:%S"
            expired = datetime.datetime.fromtimestamp(exp, tz=datetime.timezone.utc).strftime(fmt)
            current = datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc).strftime(fmt)
            return ArmError(401, "ExpiredAuthenticationToken",
                            f"The access token expiry UTC time '{expired}' is earlier than current UTC time '{current}'.")
        return ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.")

    def _require(self, caller: _Caller, action: str, scope: str, reported_scope: str | None = None) -> None:
        if not authz_arm.is_authorized(self.state, caller.object_id, action, scope):
            raise ArmError(
                403,
                "AuthorizationFailed",
                authz_arm.authorization_failed_message(caller.name, caller.object_id, action, reported_scope or scope),
            )

    # ----- scopes -----

    def _subscription(self, sub_id: str) -> Subscription:
        sub = self.state.subscriptions.get(sub_id.lower())
        if sub is None:
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{sub_id}' could not be found.")
        return sub

    def _check_scope_exists(self, scope: str) -> None:
        """ARM answers 404 for a scope whose subscription, group or management group is unknown."""
        m = re.match(r"^/subscriptions/([^/]+)(?:/resourceGroups/([^/]+))?", scope, re.IGNORECASE)
        if m:
            sub = self._subscription(m.group(1))
            if m.group(2) and (sub.subscription_id, m.group(2).lower()) not in self._resource_group_keys():
                raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{m.group(2)}' could not be found.")
            return
        m = re.match(r"^/providers/Microsoft\.Management/managementGroups/([^/]+)$", scope, re.IGNORECASE)
        if m and not self._management_group_name(m.group(1)):
            raise ArmError(404, "ManagementGroupNotFound", f"Management group '{m.group(1)}' not found.")

    def _resource_group_keys(self) -> set[tuple[str, str]]:
        return {(s.lower(), n.lower()) for (s, n) in self.state.resource_groups}

    def _management_group_name(self, name: str) -> str | None:
        for key in self.state.management_groups:
            if key.lower() == name.lower():
                return key
        return None

    @staticmethod
    def _scope_of(match: re.Match[str]) -> str:
        scope = match.group("scope") or ""
        return scope.rstrip("/") or "/"

    def _subscription_of_scope(self, scope: str) -> str | None:
        m = re.match(r"^/subscriptions/([^/]+)", scope, re.IGNORECASE)
        return m.group(1).lower() if m else None

    # ----- subscriptions, tenants, resource groups, management groups -----

    def _subscription_json(self, sub: Subscription) -> dict[str, Any]:
        return {
            "id": f"/subscriptions/{sub.subscription_id}",
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "subscriptionId": sub.subscription_id,
            "tenantId": self.state.tenant_id,
            "displayName": sub.display_name,
            "state": sub.state,
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "PayAsYouGo_2014-09-01",
                "spendingLimit": "Off",
            },
            "tags": {},
        }

    def _visible_subscription_ids(self, caller: _Caller) -> set[str]:
        """Subscriptions where the caller (or a group of it) holds any assignment at or above."""
        assignments = authz_arm.assignments_of(self.state, caller.object_id)
        out: set[str] = set()
        management_groups: set[str] = set()
        for a in assignments:
            key = authz_arm.normalize_scope(a.scope)
            if key == "/":
                return {s.lower() for s in self.state.subscriptions}
            sub = self._subscription_of_scope(key)
            if sub is not None:
                # An assignment inside a subscription (RG, resource) also lists it, as in Azure.
                if sub in self.state.subscriptions:
                    out.add(sub)
                continue
            m = re.match(r"^/providers/microsoft\.management/managementgroups/([^/]+)$", key)
            if m:
                management_groups.add(m.group(1))
        if management_groups:
            for sub_key, subscription in self.state.subscriptions.items():
                chain = {mg.lower() for mg in self._management_chain(subscription.management_group)}
                if chain & management_groups:
                    out.add(sub_key)
        return out

    def _management_chain(self, name: str | None) -> list[str]:
        chain: list[str] = []
        while name and name not in chain:
            chain.append(name)
            mg = self.state.management_groups.get(name)
            name = mg.parent_name if mg else None
        return chain

    def _list_subscriptions(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        visible = sorted(self._visible_subscription_ids(caller))
        skip = 0
        token = request.query.get("$skiptoken")
        if token and token.isdigit():
            skip = int(token)
        page = visible[skip : skip + SUBSCRIPTIONS_PAGE_SIZE]
        payload: dict[str, Any] = {
            "value": [self._subscription_json(self.state.subscriptions[s]) for s in page],
            "count": {"type": "Total", "value": len(page)},
        }
        if skip + SUBSCRIPTIONS_PAGE_SIZE < len(visible):
            api_version = quote(self._api_version(request) or "2022-12-01", safe="")
            payload["nextLink"] = (
                f"{self.urls.arm}/subscriptions?api-version={api_version}&%24skiptoken={skip + SUBSCRIPTIONS_PAGE_SIZE}"
            )
        return self._ok(payload)

    def _get_subscription(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        sub = self._subscription(match.group("sub"))
        if sub.subscription_id.lower() not in self._visible_subscription_ids(caller):
            self._require(caller, ACTION_SUBSCRIPTION_READ, f"/subscriptions/{sub.subscription_id}")
        return self._ok(self._subscription_json(sub))

    def _list_tenants(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        tenant = {
            "id": f"/tenants/{self.state.tenant_id}",
            "tenantId": self.state.tenant_id,
            "countryCode": "US",
            "displayName": self.state.display_name,
            "domains": [self.state.default_domain],
            "tenantCategory": "Home",
            "defaultDomain": self.state.default_domain,
            "tenantType": "AAD",
        }
        return self._ok({"value": [tenant]})

    def _resource_group_json(self, sub_id: str, name: str, location: str) -> dict[str, Any]:
        return {
            "id": f"/subscriptions/{sub_id}/resourceGroups/{name}",
            "name": name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": location,
            "properties": {"provisioningState": "Succeeded"},
        }

    def _list_resource_groups(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        sub = self._subscription(match.group("sub"))
        scope = f"/subscriptions/{sub.subscription_id}"
        self._require(caller, ACTION_RESOURCE_GROUP_READ, scope)
        groups = [
            self._resource_group_json(sub.subscription_id, rg.name, rg.location)
            for (sid, _), rg in sorted(self.state.resource_groups.items())
            if sid.lower() == sub.subscription_id.lower()
        ]
        return self._ok({"value": groups})

    def _get_resource_group(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        sub = self._subscription(match.group("sub"))
        name = match.group("rg")
        scope = f"/subscriptions/{sub.subscription_id}/resourceGroups/{name}"
        self._require(caller, ACTION_RESOURCE_GROUP_READ, scope)
        for (sid, rg_name), rg in self.state.resource_groups.items():
            if sid.lower() == sub.subscription_id.lower() and rg_name.lower() == name.lower():
                return self._ok(self._resource_group_json(sub.subscription_id, rg.name, rg.location))
        raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")

    def _management_group_json(self, name: str) -> dict[str, Any]:
        mg = self.state.management_groups[name]
        return {
            "id": f"/providers/Microsoft.Management/managementGroups/{mg.name}",
            "type": "Microsoft.Management/managementGroups",
            "name": mg.name,
            "properties": {"tenantId": self.state.tenant_id, "displayName": mg.display_name},
        }

    def _list_management_groups(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        visible = [
            name
            for name in sorted(self.state.management_groups)
            if authz_arm.is_authorized(self.state, caller.object_id, ACTION_MANAGEMENT_GROUP_READ,
                                       f"/providers/Microsoft.Management/managementGroups/{name}")
        ]
        return self._ok({"value": [self._management_group_json(n) for n in visible]})

    def _get_management_group(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        name = self._management_group_name(match.group("mg"))
        scope = f"/providers/Microsoft.Management/managementGroups/{match.group('mg')}"
        self._require(caller, ACTION_MANAGEMENT_GROUP_READ, scope)
        if name is None:
            raise ArmError(404, "NotFound", f"'{match.group('mg')}' not found")
        payload = self._management_group_json(name)
        mg = self.state.management_groups[name]
        payload["properties"]["details"] = {
            "parent": (
                {"id": f"/providers/Microsoft.Management/managementGroups/{mg.parent_name}", "name": mg.parent_name}
                if mg.parent_name
                else None
            )
        }
        return self._ok(payload)

    # ----- role definitions -----

    def _definition_id(self, request_scope: str, guid: str) -> str:
        sub = self._subscription_of_scope(request_scope)
        prefix = f"/subscriptions/{self._sub_display(sub)}" if sub else ""
        return f"{prefix}/providers/Microsoft.Authorization/roleDefinitions/{guid}"

    def _sub_display(self, sub_key: str | None) -> str:
        if sub_key is None:
            return ""
        sub = self.state.subscriptions.get(sub_key)
        return sub.subscription_id if sub else sub_key

    def _role_definition_json(self, rd: ArmRoleDefinition, request_scope: str) -> dict[str, Any]:
        return {
            "properties": {
                "roleName": rd.role_name,
                "type": rd.role_type,
                "description": rd.description,
                "assignableScopes": list(rd.assignable_scopes),
                "permissions": [
                    {
                        "actions": list(rd.actions),
                        "notActions": list(rd.not_actions),
                        "dataActions": list(rd.data_actions),
                        "notDataActions": list(rd.not_data_actions),
                    }
                ],
                "createdOn": _BUILTIN_CREATED_ON,
                "updatedOn": _BUILTIN_UPDATED_ON,
                "createdBy": None,
                "updatedBy": None,
            },
            "id": self._definition_id(request_scope, rd.id),
            "type": "Microsoft.Authorization/roleDefinitions",
            "name": rd.id,
        }

    def _list_role_definitions(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        scope = self._scope_of(match)
        self._check_scope_exists(scope)
        self._require(caller, ACTION_ROLE_DEFINITION_READ, scope)
        definitions = list(self.state.arm_role_definitions.values())
        flt = (request.query.get("$filter") or "").strip()
        if flt:
            m = re.match(r"^roleName\s+eq\s+'(?P<name>.*)'$", flt, re.IGNORECASE)
            m_type = re.match(r"^type\s+eq\s+'(?P<type>.*)'$", flt, re.IGNORECASE)
            if m:
                wanted = m.group("name").replace("''", "'").lower()
                definitions = [d for d in definitions if d.role_name.lower() == wanted]
            elif m_type:
                wanted = m_type.group("type").lower()
                definitions = [d for d in definitions if d.role_type.lower() == wanted]
            else:
                raise ArmError(400, "UnsupportedQuery", f"The filter '{flt}' is not supported.")
        definitions.sort(key=lambda d: d.role_name.lower())
        return self._ok({"value": [self._role_definition_json(d, scope) for d in definitions]})

    def _get_role_definition(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        scope = self._scope_of(match)
        self._check_scope_exists(scope)
        self._require(caller, ACTION_ROLE_DEFINITION_READ, scope)
        rd = self.state.arm_role_definitions.get(match.group("id").lower())
        if rd is None:
            raise ArmError(404, "RoleDefinitionDoesNotExist",
                           f"The specified role definition with ID '{match.group('id')}' does not exist.")
        return self._ok(self._role_definition_json(rd, scope))

    # ----- role assignments -----

    def _assignment_json(self, a: ArmRoleAssignment, request_scope: str, *, just_created: bool = False) -> dict[str, Any]:
        # Assignments a scenario made have no recorded creator: the tenant's admin made them.
        creator = a.created_by or self.state.identities.admin_user_id or a.principal_id
        return {
            "properties": {
                "roleDefinitionId": self._definition_id(request_scope, a.role_definition_id),
                "principalId": a.principal_id,
                "principalType": a.principal_type,
                "scope": a.scope,
                "condition": None,
                "conditionVersion": None,
                "createdOn": arm_timestamp(a.created_on),
                "updatedOn": arm_timestamp(a.created_on),
                # ARM's create answer leaves createdBy null (recorded); later reads fill it.
                "createdBy": None if just_created else creator,
                "updatedBy": creator,
                "delegatedManagedIdentityResourceId": None,
                "description": None,
            },
            "id": a.resource_id,
            "type": "Microsoft.Authorization/roleAssignments",
            "name": a.name,
        }

    def _parse_assignment_filter(self, flt: str) -> tuple[bool, str | None, bool]:
        """(atScope, principal id, include the principal's groups) from a $filter."""
        at_scope = False
        principal: str | None = None
        include_groups = False
        if not flt.strip():
            return at_scope, principal, include_groups
        for term in re.split(r"\s+and\s+", flt.strip(), flags=re.IGNORECASE):
            term = term.strip()
            if re.fullmatch(r"atScope\(\)", term, re.IGNORECASE):
                at_scope = True
                continue
            m = re.fullmatch(r"assignedTo\('(?P<id>[^']*)'\)", term, re.IGNORECASE)
            if m:
                principal, include_groups = m.group("id").lower(), True
                continue
            m = re.fullmatch(r"principalId\s+eq\s+'?(?P<id>[0-9a-fA-F-]+)'?", term, re.IGNORECASE)
            if m:
                principal, include_groups = m.group("id").lower(), False
                continue
            raise self._unsupported_assignment_filter(flt)
        if at_scope and principal is not None and not include_groups:
            # `atScope() and principalId eq` is refused; `atScope() and assignedTo()` is the
            # documented form (Azure/azure-powershell#20433, role-assignments-list-rest).
            raise self._unsupported_assignment_filter(flt)
        return at_scope, principal, include_groups

    @staticmethod
    def _unsupported_assignment_filter(flt: str) -> ArmError:
        return ArmError(
            400,
            "UnsupportedQuery",
            f"The filter '{flt}' is not supported. Supported filters are either 'atScope()' or "
            "'principalId eq '{value}' or assignedTo('{value}')'.",
        )

    def _list_role_assignments(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        scope = self._scope_of(match)
        self._check_scope_exists(scope)
        self._require(caller, ACTION_ROLE_ASSIGNMENT_READ, scope)
        at_scope, principal, include_groups = self._parse_assignment_filter(request.query.get("$filter") or "")
        if principal is not None:
            candidates = authz_arm.assignments_of(self.state, principal, include_groups=include_groups)
        else:
            candidates = list(self.state.arm_role_assignments.values())
        above = authz_arm.ancestor_keys(self.state, scope)
        selected: list[ArmRoleAssignment] = []
        for a in candidates:
            if authz_arm.normalize_scope(a.scope) in above or not at_scope and authz_arm.is_below(self.state, a.scope, scope):
                selected.append(a)
        selected.sort(key=lambda a: (a.created_on, a.name))
        return self._ok({"value": [self._assignment_json(a, scope) for a in selected]})

    def _find_assignment(self, scope: str, name: str) -> ArmRoleAssignment | None:
        a = self.state.arm_role_assignments.get(name.lower()) or self.state.arm_role_assignments.get(name)
        if a is None or authz_arm.normalize_scope(a.scope) != authz_arm.normalize_scope(scope):
            return None
        return a

    def _get_role_assignment(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        scope = self._scope_of(match)
        self._check_scope_exists(scope)
        self._require(caller, ACTION_ROLE_ASSIGNMENT_READ, scope, request.path)
        a = self._find_assignment(scope, match.group("name"))
        if a is None:
            raise ArmError(404, "RoleAssignmentNotFound", "The role assignment '{}' is not found.".format(match.group("name")))
        return self._ok(self._assignment_json(a, scope))

    def _put_role_assignment(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        scope = self._scope_of(match)
        name = match.group("name")
        self._check_scope_exists(scope)
        self._require(caller, ACTION_ROLE_ASSIGNMENT_WRITE, scope, request.path)
        if not _GUID.match(name):
            raise ArmError(400, "InvalidRoleAssignmentId",
                           f"The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID.")
        try:
            body = request.json() or {}
        except ValueError:
            body = None
        props = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(props, dict) or not props.get("roleDefinitionId") or not props.get("principalId"):
            raise ArmError(400, "InvalidRequestContent",
                           "The request content was invalid and could not be deserialized: "
                           "'Required properties roleDefinitionId and principalId are missing.'")
        role_guid = str(props["roleDefinitionId"]).rstrip("/").rsplit("/", 1)[-1].lower()
        if role_guid not in self.state.arm_role_definitions:
            raise ArmError(400, "RoleDefinitionDoesNotExist",
                           f"The specified role definition with ID '{role_guid}' does not exist.")
        principal_id = str(props["principalId"]).lower()
        found = directory_principal(self.state, principal_id)
        if found is None or not principal_visible_to_arm(self.state, found[1]):
            raise ArmError(
                400,
                "PrincipalNotFound",
                f"Principal {principal_id.replace('-', '')} does not exist in the directory {self.state.tenant_id}. "
                "Check that you have the correct principal ID. If you are creating this principal and then "
                "immediately assigning a role, this error might be related to a replication delay. In this "
                "case, set the role assignment principalType property to a value, such as ServicePrincipal, "
                "User, or Group.  See https://aka.ms/docs-principaltype",
            )
        principal_type = str(props.get("principalType") or found[0])
        existing = self.state.arm_role_assignments.get(name.lower())
        if existing is not None:
            same = (
                authz_arm.normalize_scope(existing.scope) == authz_arm.normalize_scope(scope)
                and existing.principal_id == principal_id
                and existing.role_definition_id == role_guid
            )
            if not same:
                raise ArmError(400, "RoleAssignmentUpdateNotPermitted",
                               "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")
            return self._ok(self._assignment_json(existing, scope), 200)
        target = authz_arm.normalize_scope(scope)
        for other in self.state.arm_assignments_for(principal_id):
            if other.role_definition_id == role_guid and authz_arm.normalize_scope(other.scope) == target:
                raise ArmError(409, "RoleAssignmentExists",
                               f"The role assignment already exists. The ID of the existing role assignment is "
                               f"{other.name.replace('-', '')}.")
        assignment = ArmRoleAssignment(
            name=name.lower(),
            scope=self._canonical_scope(scope),
            role_definition_id=role_guid,
            principal_id=principal_id,
            principal_type=principal_type,
            created_on=self.state.clock.now(),
            created_by=caller.object_id,
            created_by_api=True,
        )
        self.state.add_arm_role_assignment(assignment)
        return self._ok(self._assignment_json(assignment, scope, just_created=True), 201)

    def _canonical_scope(self, scope: str) -> str:
        """Scopes are stored with the subscription id ARM reports, whatever case the caller used."""
        m = re.match(r"^/subscriptions/([^/]+)(.*)$", scope, re.IGNORECASE)
        if m and m.group(1).lower() in self.state.subscriptions:
            rest = re.sub(r"^/resourcegroups/", "/resourceGroups/", m.group(2), flags=re.IGNORECASE)
            return f"/subscriptions/{self.state.subscriptions[m.group(1).lower()].subscription_id}{rest}"
        return scope

    def _delete_role_assignment(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        scope = self._scope_of(match)
        self._check_scope_exists(scope)
        self._require(caller, ACTION_ROLE_ASSIGNMENT_DELETE, scope, request.path)
        a = self._find_assignment(scope, match.group("name"))
        if a is None:
            return Response(status=204, headers={"x-ms-request-id": str(uuid.uuid4())})
        payload = self._assignment_json(a, scope)
        self.state.remove_arm_role_assignment(a.name)
        return self._ok(payload)

    # ----- PIM for Azure resources: role eligibilities -----

    def _eligibility_json(self, e: ArmRoleEligibility, request_scope: str) -> dict[str, Any]:
        prefix = "" if e.scope == "/" else e.scope
        role = self.state.arm_role_definitions.get(e.role_definition_id)
        found = directory_principal(self.state, e.principal_id)
        user = self.state.users.get(e.principal_id)
        group = self.state.groups.get(e.principal_id)
        sp = self.state.service_principals.get(e.principal_id)
        principal_name = (user.display_name if user else group.display_name if group
                          else sp.display_name if sp else "")
        return {
            "properties": {
                "scope": e.scope,
                "roleDefinitionId": self._definition_id(request_scope, e.role_definition_id),
                "principalId": e.principal_id,
                "principalType": e.principal_type or (found[0] if found else "User"),
                "roleEligibilityScheduleId": f"{prefix}/providers/Microsoft.Authorization/roleEligibilitySchedules/{e.name}",
                "status": "Provisioned",
                "startDateTime": arm_timestamp(e.start_time),
                "endDateTime": arm_timestamp(e.end_time) if e.end_time is not None else None,
                "memberType": "Direct",
                "condition": None,
                "conditionVersion": None,
                "createdOn": arm_timestamp(e.created_on),
                "expandedProperties": {
                    "principal": {
                        "id": e.principal_id,
                        "displayName": principal_name,
                        "email": user.mail if user else None,
                        "type": e.principal_type,
                    },
                    "roleDefinition": {
                        "id": self._definition_id(request_scope, e.role_definition_id),
                        "displayName": role.role_name if role else "",
                        "type": role.role_type if role else "BuiltInRole",
                    },
                    "scope": {"id": e.scope, "displayName": self._scope_display_name(e.scope),
                              "type": self._scope_type(e.scope)},
                },
            },
            "name": e.name,
            "id": f"{prefix}/providers/Microsoft.Authorization/roleEligibilityScheduleInstances/{e.name}",
            "type": "Microsoft.Authorization/roleEligibilityScheduleInstances",
        }

    def _scope_type(self, scope: str) -> str:
        lower = scope.lower()
        if lower in ("", "/"):
            return "root"
        if "/providers/microsoft.management/managementgroups/" in lower:
            return "managementgroup"
        if "/providers/" in lower:
            return "resource"
        if "/resourcegroups/" in lower:
            return "resourcegroup"
        return "subscription"

    def _scope_display_name(self, scope: str) -> str:
        kind = self._scope_type(scope)
        last = scope.rstrip("/").rsplit("/", 1)[-1]
        if kind == "subscription":
            sub = self.state.subscriptions.get(last.lower())
            return sub.display_name if sub else last
        if kind == "managementgroup":
            mg = self.state.management_groups.get(last)
            return mg.display_name if mg else last
        return "Root" if kind == "root" else last

    def _parse_eligibility_filter(self, flt: str, caller: _Caller) -> tuple[bool, str | None, bool, bool]:
        """(atScope, principal id, include its groups, asTarget) from a $filter."""
        at_scope = as_target = False
        principal: str | None = None
        include_groups = False
        for term in re.split(r"\s+and\s+", flt.strip(), flags=re.IGNORECASE) if flt.strip() else []:
            term = term.strip()
            if re.fullmatch(r"atScope\(\)", term, re.IGNORECASE):
                at_scope = True
                continue
            if re.fullmatch(r"asTarget\(\)", term, re.IGNORECASE):
                as_target, principal, include_groups = True, caller.object_id, True
                continue
            m = re.fullmatch(r"assignedTo\('(?P<id>[^']*)'\)", term, re.IGNORECASE)
            if m:
                principal, include_groups = m.group("id").lower(), True
                continue
            m = re.fullmatch(r"principalId\s+eq\s+'?(?P<id>[0-9a-fA-F-]+)'?", term, re.IGNORECASE)
            if m:
                principal, include_groups = m.group("id").lower(), False
                continue
            raise ArmError(400, "BadRequest", f"The filter '{flt}' is not supported.")
        if at_scope and principal is not None and not include_groups:
            raise ArmError(400, "BadRequest", f"The filter '{flt}' is not supported.")
        return at_scope, principal, include_groups, as_target

    def _list_role_eligibilities(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        """GET {scope}/providers/Microsoft.Authorization/roleEligibilityScheduleInstances (2020-10-01).

        asTarget() lists the caller's own eligibilities and needs no role; any other listing
        needs Microsoft.Authorization/roleAssignments/read at the scope. Scope semantics are
        those of role assignments; expired eligibilities have no current instance.
        """
        scope = self._scope_of(match)
        self._check_scope_exists(scope)
        at_scope, principal, include_groups, as_target = self._parse_eligibility_filter(
            request.query.get("$filter") or "", caller)
        if not as_target:
            self._require(caller, ACTION_ROLE_ASSIGNMENT_READ, scope)
        wanted = (set(authz_arm.principal_and_groups(self.state, principal)) if include_groups
                  else {principal}) if principal is not None else None
        above = authz_arm.ancestor_keys(self.state, scope)
        now = self.state.clock.now()
        selected = [
            e for e in self.state.arm_role_eligibilities.values()
            if (wanted is None or e.principal_id in wanted)
            and (e.end_time is None or e.end_time > now) and e.start_time <= now
            and (authz_arm.normalize_scope(e.scope) in above
                 or not at_scope and authz_arm.is_below(self.state, e.scope, scope))
        ]
        selected.sort(key=lambda e: (e.created_on, e.name))
        return self._ok({"value": [self._eligibility_json(e, scope) for e in selected]})

    # ----- Microsoft.Web -----

    def _site(self, match: re.Match[str]) -> Site:
        sub = self._subscription(match.group("sub"))
        rg, name = match.group("rg"), match.group("site")
        site = self.state.sites.get(name.lower())
        if (
            site is None
            or site.subscription_id.lower() != sub.subscription_id.lower()
            or site.resource_group.lower() != rg.lower()
        ):
            if (sub.subscription_id.lower(), rg.lower()) not in self._resource_group_keys():
                raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.Web/sites/{name}' under resource group '{rg}' was not found. "
                "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            )
        return site

    def _site_scope(self, match: re.Match[str]) -> str:
        return (
            f"/subscriptions/{match.group('sub')}/resourceGroups/{match.group('rg')}"
            f"/providers/Microsoft.Web/sites/{match.group('site')}"
        )

    def _patch_site(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        """PATCH Microsoft.Web/sites/{name} (WebApps_Update): only `identity` is modelled.

        `identity.type` SystemAssigned turns the system-assigned managed identity on (App
        Service creates its service principal, which replicates like any new principal);
        None turns it off. Other properties are accepted and ignored.
        """
        self._require(caller, ACTION_SITE_WRITE, self._site_scope(match), request.path)
        site = self._site(match)
        try:
            body = request.json() or {}
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("identity", {}), dict):
            raise ArmError(400, "InvalidRequestContent",
                           "The request content was invalid and could not be deserialized.")
        identity = body.get("identity")
        if identity is not None:
            self._apply_identity(site, identity)
        return self._get_site(request, caller, match)

    def _apply_identity(self, site: Site, identity: dict[str, Any]) -> None:
        """ManagedServiceIdentity semantics of a site PATCH.

        `type` lists the kinds the site keeps: a type without UserAssigned detaches every
        user-assigned identity, one without SystemAssigned removes the system-assigned one.
        `userAssignedIdentities` maps resource ids to `{}` (attach) or null (detach); omitted,
        the attached ones stay.
        """
        kinds = {k.strip().lower() for k in str(identity.get("type") or "None").split(",")}
        if not kinds <= {"none", "systemassigned", "userassigned"} or ("none" in kinds and len(kinds) > 1):
            raise ArmError(400, "BadRequest", f"Invalid identity type '{identity.get('type')}'.")
        listed = identity.get("userAssignedIdentities")
        if listed is not None and not isinstance(listed, dict):
            raise ArmError(400, "InvalidRequestContent",
                           "The request content was invalid and could not be deserialized.")
        if listed and "userassigned" not in kinds:
            raise ArmError(400, "BadRequest",
                           "The identity type must include 'UserAssigned' when userAssignedIdentities are given.")
        if "userassigned" in kinds:
            attached = dict(site.user_assigned_identities)
            for resource_id, value in (listed or {}).items():
                if not _USER_ASSIGNED_ID.match(str(resource_id)):
                    raise ArmError(400, "BadRequest", f"Invalid user assigned identity resource id '{resource_id}'.")
                key = next((k for k in attached if k.lower() == str(resource_id).lower()), str(resource_id))
                if value is None:
                    attached.pop(key, None)
                elif key not in attached:
                    attached[key] = self._new_user_assigned_identity(str(resource_id))
            if not attached:
                raise ArmError(400, "BadRequest",
                               "The identity type 'UserAssigned' needs at least one user assigned identity.")
            site.user_assigned_identities = attached
        else:
            site.user_assigned_identities = {}
        if "systemassigned" in kinds and not site.identity_principal_id:
            site.identity_principal_id = self._new_site_identity(site)
        elif "systemassigned" not in kinds:
            site.identity_principal_id = None

    def _new_user_assigned_identity(self, resource_id: str) -> UserAssignedIdentity:
        """An identity resource the PATCH names: its service principal is found or made."""
        name = resource_id.rstrip("/").rsplit("/", 1)[-1]
        sp = next((s for s in self.state.service_principals.values()
                   if s.service_principal_type == "ManagedIdentity" and s.display_name == name
                   and f"https://identity.azure.net/{resource_id}".lower()
                   in (n.lower() for n in s.service_principal_names)), None)
        if sp is None:
            sp = ServicePrincipal(id=str(uuid.uuid4()), app_id=str(uuid.uuid4()), display_name=name,
                                  service_principal_type="ManagedIdentity", visibility=self.state.new_visibility())
            sp.service_principal_names = [sp.app_id, f"https://identity.azure.net/{resource_id}"]
            self.state.add_service_principal(sp)
        return UserAssignedIdentity(principal_id=sp.id, client_id=sp.app_id)

    def _new_site_identity(self, site: Site) -> str:
        """The service principal App Service creates for a system-assigned identity."""
        sp = ServicePrincipal(
            id=str(uuid.uuid4()),
            app_id=str(uuid.uuid4()),
            display_name=site.name,
            service_principal_type="ManagedIdentity",
            visibility=self.state.new_visibility(),
        )
        sp.service_principal_names = [sp.app_id, f"https://identity.azure.net/{sp.id}"]
        self.state.add_service_principal(sp)
        return sp.id

    def _site_json(self, site: Site) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": site.resource_id,
            "name": site.name,
            "type": "Microsoft.Web/sites",
            "kind": site.kind,
            "location": site.location,
            "properties": _site_properties(site, running=self._subscription_state(site) not in READ_ONLY_SUBSCRIPTION_STATES),
        }
        identity = site_identity_json(site, self.state.tenant_id)
        if identity is not None:
            payload["identity"] = identity
        return payload

    def _subscription_state(self, site: Site) -> str:
        sub = self.state.subscriptions.get(site.subscription_id.lower())
        return sub.state if sub is not None else "Enabled"

    def _get_site(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        self._require(caller, ACTION_SITE_READ, self._site_scope(match))
        return self._ok(self._site_json(self._site(match)))

    def _list_sites(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        """WebApps_List / WebApps_ListByResourceGroup: the sites in a subscription or group.

        Needs Microsoft.Web/sites/read at the listed scope (a role on one site alone does not
        let the caller list the group, as in ARM).
        """
        sub = self._subscription(match.group("sub"))
        groupdict = match.groupdict()
        rg = groupdict.get("rg")
        scope = f"/subscriptions/{sub.subscription_id}" + (f"/resourceGroups/{rg}" if rg else "")
        self._check_scope_exists(scope)
        self._require(caller, ACTION_SITE_READ, scope)
        sites = [
            s for s in sorted(self.state.sites.values(), key=lambda s: s.name.lower())
            if s.subscription_id.lower() == sub.subscription_id.lower()
            and (rg is None or s.resource_group.lower() == rg.lower())
        ]
        return self._ok({"value": [self._site_json(s) for s in sites], "nextLink": None})

    def _config_envelope(self, site: Site, config_name: str, properties: Any) -> dict[str, Any]:
        return {
            "id": f"{site.resource_id}/config/{config_name}",
            "name": config_name,
            "type": "Microsoft.Web/sites/config",
            "location": site.location,
            "properties": properties,
        }

    def _list_auth_settings(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        scope = self._site_scope(match)
        self._require(caller, ACTION_SITE_CONFIG_LIST, scope, request.path.rsplit("/list", 1)[0])
        site = self._site(match)
        return self._ok(self._config_envelope(site, "authsettingsV2", _deep_copy(site.auth_settings_v2)))

    def _get_auth_settings(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        scope = self._site_scope(match)
        self._require(caller, ACTION_SITE_CONFIG_READ, scope, request.path)
        site = self._site(match)
        return self._ok(self._config_envelope(site, "authsettingsV2", _redact_secrets(site.auth_settings_v2)))

    def _put_auth_settings(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        scope = self._site_scope(match)
        self._require(caller, ACTION_SITE_CONFIG_WRITE, scope, request.path)
        site = self._site(match)
        props = _properties_of(request)
        site.auth_settings_v2 = _coerce_booleans(props)
        return self._ok(self._config_envelope(site, "authsettingsV2", _deep_copy(site.auth_settings_v2)))

    def _list_app_settings(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        scope = self._site_scope(match)
        self._require(caller, ACTION_SITE_CONFIG_LIST, scope, request.path.rsplit("/list", 1)[0])
        site = self._site(match)
        return self._ok(self._config_envelope(site, "appsettings", dict(site.app_settings)))

    def _put_app_settings(self, request: Request, caller: _Caller, match: re.Match[str]) -> Response:
        scope = self._site_scope(match)
        self._require(caller, ACTION_SITE_CONFIG_WRITE, scope, request.path)
        site = self._site(match)
        props = _properties_of(request)
        site.app_settings = {str(k): "" if v is None else str(v) for k, v in props.items()}
        return self._ok(self._config_envelope(site, "appsettings", dict(site.app_settings)))


# Fields of a site GET that a Function App reports as null (recorded azure-cli traffic).
_SITE_NULL_FIELDS = (
    "owner", "sslCertificates", "cers", "siteMode", "computeMode", "serverFarm", "slotName",
    "trafficManagerHostNames", "targetSwapSlot", "hostingEnvironment", "hostingEnvironmentProfile",
    "clientCertExclusionPaths", "domainVerificationIdentifiers", "suspendedTill", "functionExecutionUnitsCache",
    "maxNumberOfWorkers", "cloningInfo", "hostingEnvironmentId", "tags", "slotSwapStatus",
    "inProgressOperationId", "geoDistributions", "buildVersion", "targetBuildVersion", "migrationState",
    "virtualNetworkSubnetId",
)
_SITE_CONFIG_NULL_FIELDS = (
    "defaultDocuments", "netFrameworkVersion", "phpVersion", "pythonVersion", "nodeVersion", "windowsFxVersion",
    "requestTracingEnabled", "remoteDebuggingEnabled", "remoteDebuggingVersion", "httpLoggingEnabled",
    "azureMonitorLogCategories", "acrUserManagedIdentityID", "logsDirectorySizeLimit",
    "detailedErrorLoggingEnabled", "publishingUsername", "publishingPassword", "appSettings", "metadata",
    "connectionStrings", "machineKey", "handlerMappings", "documentRoot", "scmType", "use32BitWorkerProcess",
    "webSocketsEnabled", "javaVersion", "javaContainer", "javaContainerVersion", "appCommandLine",
    "managedPipelineMode", "virtualApplications", "winAuthAdminState", "winAuthTenantState",
    "customAppPoolIdentityAdminState", "customAppPoolIdentityTenantState", "runtimeADUser",
    "runtimeADUserPassword", "loadBalancing", "routingRules", "experiments", "limits", "autoHealEnabled",
    "autoHealRules", "tracingOptions", "vnetName", "vnetRouteAllEnabled", "vnetPrivatePortsCount",
    "publicNetworkAccess", "cors", "push", "apiDefinition", "apiManagementConfig", "autoSwapSlotName",
    "localMySqlEnabled", "managedServiceIdentityId", "xManagedServiceIdentityId", "keyVaultReferenceIdentity",
    "ipSecurityRestrictions", "scmIpSecurityRestrictions", "scmIpSecurityRestrictionsUseMain", "minTlsVersion",
    "scmMinTlsVersion", "ftpsState", "preWarmedInstanceCount", "healthCheckPath", "fileChangeAuditEnabled",
    "functionsRuntimeScaleMonitoringEnabled", "websiteTimeZone", "azureStorageAccounts", "http20ProxyFlag",
    "sitePort", "antivirusScanEnabled",
)


def _site_properties(site: Site, running: bool = True) -> dict[str, Any]:
    """A Function App's `properties` as a site GET returns them (shape of the recorded response)."""
    host = f"{site.name}.azurewebsites.net"
    scm = f"{site.name}.scm.azurewebsites.net"
    webspace = f"{site.resource_group}-{site.location.replace(' ', '')}webspace"
    stamp = "waws-prod-sandbox-001"
    site_config: dict[str, Any] = {name: None for name in _SITE_CONFIG_NULL_FIELDS}
    site_config.update({
        "numberOfWorkers": 1, "powerShellVersion": "7.4", "linuxFxVersion": "", "acrUseManagedIdentityCreds": False,
        "alwaysOn": False, "http20Enabled": True, "functionAppScaleLimit": 0, "minimumElasticInstanceCount": 0,
    })
    ssl_state = {"sslState": "Disabled", "ipBasedSslResult": None, "virtualIP": None, "thumbprint": None,
                 "toUpdate": None, "toUpdateIpBasedSsl": None, "ipBasedSslState": "NotConfigured"}
    props: dict[str, Any] = {name: None for name in _SITE_NULL_FIELDS}
    props.update({
        "name": site.name,
        "state": "Running" if running else "Stopped",
        "hostNames": [host],
        "webSpace": webspace,
        "selfLink": f"https://{stamp}.api.azurewebsites.windows.net:454/subscriptions/{site.subscription_id}"
                    f"/webspaces/{webspace}/sites/{site.name}",
        "repositorySiteName": site.name,
        "usageState": "Normal",
        "enabled": True,
        "adminEnabled": True,
        "enabledHostNames": [host, scm],
        "siteProperties": {"metadata": None, "properties": [{"name": "LinuxFxVersion", "value": ""},
                                                            {"name": "WindowsFxVersion", "value": None}],
                           "appSettings": None},
        "availabilityState": "Normal",
        "csrs": [],
        "hostNameSslStates": [dict(ssl_state, name=host, hostType="Standard"),
                              dict(ssl_state, name=scm, hostType="Repository")],
        "serverFarmId": f"/subscriptions/{site.subscription_id}/resourceGroups/{site.resource_group}"
                        f"/providers/Microsoft.Web/serverfarms/{site.name}-plan",
        "reserved": False,
        "isXenon": False,
        "hyperV": False,
        "lastModifiedTimeUtc": "2024-01-01T00:00:00.00",
        "storageRecoveryDefaultState": "Running",
        "contentAvailabilityState": "Normal",
        "runtimeAvailabilityState": "Normal",
        "siteConfig": site_config,
        "deploymentId": site.name,
        "sku": "Dynamic",
        "scmSiteAlsoStopped": False,
        "clientAffinityEnabled": False,
        "clientCertEnabled": False,
        "clientCertMode": "Required",
        "hostNamesDisabled": False,
        "customDomainVerificationId": "0" * 64,
        "kind": site.kind,
        "inboundIpAddress": "203.0.113.10",
        "possibleInboundIpAddresses": "203.0.113.10",
        "ftpUsername": f"{site.name}\\${site.name}",
        "ftpsHostName": f"ftps://{stamp}.ftp.azurewebsites.windows.net/site/wwwroot",
        "outboundIpAddresses": "203.0.113.20,203.0.113.21",
        "possibleOutboundIpAddresses": "203.0.113.20,203.0.113.21,203.0.113.22",
        "containerSize": 1536,
        "dailyMemoryTimeQuota": 0,
        "siteDisabledReason": 0,
        "homeStamp": stamp,
        "resourceGroup": site.resource_group,
        "defaultHostName": host,
        "httpsOnly": True,
        "redundancyMode": "None",
        "privateEndpointConnections": [],
        "eligibleLogCategories": "FunctionAppLogs",
        "storageAccountRequired": False,
        "keyVaultReferenceIdentity": "SystemAssigned",
    })
    return props


_USER_ASSIGNED_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ManagedIdentity/userAssignedIdentities/[^/]+$",
    re.IGNORECASE,
)


def site_identity_json(site: Site, tenant_id: str) -> dict[str, Any] | None:
    """A site's `identity` as ARM shows it (absent when it has none)."""
    kinds = (["SystemAssigned"] if site.identity_principal_id else []) + (
        ["UserAssigned"] if site.user_assigned_identities else [])
    if not kinds:
        return None
    identity: dict[str, Any] = {"type": ", ".join(kinds)}
    if site.identity_principal_id:
        identity.update(tenantId=tenant_id, principalId=site.identity_principal_id)
    if site.user_assigned_identities:
        identity["userAssignedIdentities"] = {
            rid: {"principalId": u.principal_id, "clientId": u.client_id}
            for rid, u in site.user_assigned_identities.items()
        }
    return identity


def _properties_of(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("properties", {}), dict):
        raise ArmError(400, "InvalidRequestContent",
                       "The request content was invalid and could not be deserialized.")
    properties: dict[str, Any] = dict(body.get("properties") or {})
    return properties


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _coerce_booleans(value: Any) -> Any:
    """App Service stores "true"/"false" strings sent for boolean fields as booleans."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if k in ("enabled", "requireAuthentication", "requireHttps", "validateNonce") and isinstance(v, str):
                out[k] = v.strip().lower() == "true"
            else:
                out[k] = _coerce_booleans(v)
        return out
    if isinstance(value, list):
        return [_coerce_booleans(v) for v in value]
    return value


def _redact_secrets(settings: dict[str, Any]) -> dict[str, Any]:
    """GET authsettingsV2 (without /list) hides secret values, as WebApps_GetAuthSettingsV2WithoutSecrets does."""
    copy: dict[str, Any] = _deep_copy(settings)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in list(node):
                if key.lower() in ("clientsecret", "clientsecretcertificatethumbprint") and node[key]:
                    node[key] = None
                else:
                    walk(node[key])
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(copy)
    return copy

"""The sandbox tenant's state: one in-memory model shared by every emulated service.

The identity platform, Graph, ARM and the CIPP instance all read and write this one
object, so a change made through Graph (say, a new oauth2PermissionGrant) is what the
identity platform consults when it next issues a token, exactly as in a real tenant.

Conventions:
- Field names are snake_case; each service maps them to its own wire names.
- Ids are strings (GUIDs in lower case), as the real services return them.
- Times are float seconds on the sandbox clock (`Clock.now()`), so tests can move time.
- Every collection is a dict keyed by id; indexes for the look-ups a filter needs
  (user by UPN, assignments by principal) are kept by `TenantState` itself, so a
  100,000-user tenant answers a filtered query without scanning.
- Objects created through an API carry `visible_at` / `visible_after_requests` so that
  replication lag can hide them from other reads for a while (see `Replication`).
- Access from request threads goes through `TenantState.lock` (an RLock): handlers take
  it for the whole request, which keeps the model simple and is fast enough on loopback.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal

Generation = Literal["legacy", "current"]


def new_id() -> str:
    return str(uuid.uuid4())


class Clock:
    """The sandbox's notion of now. Starts at real time; tests move it forward."""

    def __init__(self, start: float | None = None) -> None:
        self._offset = 0.0 if start is None else start - time.time()
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


@dataclass
class Visibility:
    """Replication lag for one object: invisible to reads until both limits pass."""

    visible_at: float = 0.0
    visible_after_requests: int = 0  # the tenant's request counter value it waits for


# --- Entra ID directory -------------------------------------------------------------


@dataclass
class User:
    id: str
    user_principal_name: str
    display_name: str
    account_enabled: bool = True
    user_type: str = "Member"  # or "Guest"
    mail: str | None = None
    given_name: str | None = None
    surname: str | None = None
    job_title: str | None = None
    # A sign-in the sandbox will accept for this user (device code / browser approval).
    can_sign_in: bool = True
    visibility: Visibility = field(default_factory=Visibility)


@dataclass
class Group:
    id: str
    display_name: str
    security_enabled: bool = True
    mail_enabled: bool = False
    is_assignable_to_role: bool = False
    member_ids: list[str] = field(default_factory=list)  # users, groups or service principals
    visibility: Visibility = field(default_factory=Visibility)


@dataclass
class DirectoryRoleDefinition:
    id: str  # built-in roles: the template id
    display_name: str
    description: str = ""
    is_built_in: bool = True
    template_id: str | None = None
    # Graph resource actions this role allows, e.g. "microsoft.directory/applications/allProperties/allTasks".
    allowed_resource_actions: list[str] = field(default_factory=list)


@dataclass
class DirectoryRoleAssignment:
    """An active assignment (roleManagement/directory/roleAssignments)."""

    id: str
    principal_id: str
    role_definition_id: str
    directory_scope_id: str = "/"
    # Set when the assignment came from activating a PIM eligibility.
    activated_from_eligibility_id: str | None = None
    end_time: float | None = None  # activated assignments expire
    start_time: float | None = None  # when an activated assignment began (Graph shows it)
    created_by_api: bool = False
    visibility: Visibility = field(default_factory=Visibility)


@dataclass
class DirectoryRoleEligibility:
    """A PIM eligibility (roleEligibilityScheduleInstances): must be activated to count."""

    id: str
    principal_id: str
    role_definition_id: str
    directory_scope_id: str = "/"
    start_time: float = 0.0
    end_time: float | None = None


@dataclass
class PasswordCredential:
    key_id: str
    display_name: str | None
    secret_text: str  # the secret value: never logged, only ever returned once by addPassword
    start_time: float
    end_time: float

    @property
    def hint(self) -> str:
        return self.secret_text[:3]


@dataclass
class ResourceAccess:
    id: str  # the scope or app role id
    type: Literal["Scope", "Role"]


@dataclass
class RequiredResourceAccess:
    resource_app_id: str
    resource_access: list[ResourceAccess] = field(default_factory=list)


@dataclass
class PermissionScope:
    """An oauth2PermissionScope a resource exposes (delegated permission)."""

    id: str
    value: str
    admin_consent_display_name: str = ""
    admin_consent_description: str = ""
    type: Literal["User", "Admin"] = "User"
    is_enabled: bool = True


@dataclass
class AppRole:
    id: str
    value: str
    display_name: str = ""
    description: str = ""
    allowed_member_types: list[str] = field(default_factory=lambda: ["Application"])
    is_enabled: bool = True


@dataclass
class Application:
    id: str  # object id
    app_id: str  # client id
    display_name: str
    sign_in_audience: str = "AzureADMyOrg"
    identifier_uris: list[str] = field(default_factory=list)
    required_resource_access: list[RequiredResourceAccess] = field(default_factory=list)
    password_credentials: list[PasswordCredential] = field(default_factory=list)
    oauth2_permission_scopes: list[PermissionScope] = field(default_factory=list)
    app_roles: list[AppRole] = field(default_factory=list)
    requested_access_token_version: int | None = None  # None or 1 → v1 tokens, 2 → v2
    web_redirect_uris: list[str] = field(default_factory=list)
    public_client: bool = False
    owner_ids: list[str] = field(default_factory=list)
    created_time: float = 0.0
    visibility: Visibility = field(default_factory=Visibility)


@dataclass
class ServicePrincipal:
    id: str  # object id
    app_id: str
    display_name: str
    service_principal_type: str = "Application"  # "ManagedIdentity" for a Function App's identity
    app_owner_organization_id: str | None = None  # Microsoft's tenant for first-party apps
    account_enabled: bool = True
    app_roles: list[AppRole] = field(default_factory=list)
    oauth2_permission_scopes: list[PermissionScope] = field(default_factory=list)
    service_principal_names: list[str] = field(default_factory=list)
    # The resource URIs a token request may name for this SP (e.g. https://graph.microsoft.com).
    resource_uris: list[str] = field(default_factory=list)
    visibility: Visibility = field(default_factory=Visibility)


@dataclass
class OAuth2PermissionGrant:
    """Delegated consent: `client_id` (SP) may act as users on `resource_id` (SP) with `scope`."""

    id: str
    client_id: str  # service principal object id of the client
    consent_type: Literal["AllPrincipals", "Principal"]
    resource_id: str  # service principal object id of the resource
    scope: str  # space-separated scope values
    principal_id: str | None = None  # the user, for consent_type "Principal"
    visibility: Visibility = field(default_factory=Visibility)

    def scopes(self) -> list[str]:
        return [s for s in self.scope.split(" ") if s]


@dataclass
class AppRoleAssignment:
    """Application permission (or app role) granted to a principal on a resource SP."""

    id: str
    principal_id: str
    principal_type: str  # "ServicePrincipal", "User" or "Group"
    principal_display_name: str
    resource_id: str
    resource_display_name: str
    app_role_id: str
    created_time: float = 0.0
    visibility: Visibility = field(default_factory=Visibility)


@dataclass
class AppManagementPolicy:
    """Tenant default app management policy: password credential restrictions."""

    password_addition_blocked: bool = False
    max_password_lifetime_days: int | None = None


# --- Azure Resource Manager ------------------------------------------------------------


@dataclass
class ManagementGroup:
    name: str  # the id segment; the tenant root group's name is the tenant id
    display_name: str
    parent_name: str | None = None  # None only for the tenant root group


# Subscription states in which ARM takes no writes and App Service stops the apps
# (a Deleted subscription is disabled first; its resources go later).
READ_ONLY_SUBSCRIPTION_STATES = frozenset({"Disabled", "Deleted"})


@dataclass
class Subscription:
    subscription_id: str
    display_name: str
    management_group: str  # name of the management group that contains it
    state: str = "Enabled"


@dataclass
class ResourceGroup:
    subscription_id: str
    name: str
    location: str = "westeurope"


@dataclass(frozen=True)
class UserAssignedIdentity:
    """A Microsoft.ManagedIdentity/userAssignedIdentities resource, as a site reports it."""

    principal_id: str
    client_id: str


@dataclass
class Site:
    """A Microsoft.Web/sites resource (CIPP's Function Apps)."""

    subscription_id: str
    resource_group: str
    name: str
    kind: str = "functionapp"
    location: str = "westeurope"
    # Object id of the system-assigned managed identity's service principal, if any.
    identity_principal_id: str | None = None
    # User-assigned identities attached to the site: the identity's resource id →
    # its service principal's object id (principalId) and app id (clientId).
    user_assigned_identities: dict[str, UserAssignedIdentity] = field(default_factory=dict)
    # The authsettingsV2 `properties` object exactly as ARM stores it.
    auth_settings_v2: dict[str, Any] = field(default_factory=dict)
    app_settings: dict[str, str] = field(default_factory=dict)

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Web/sites/{self.name}"
        )


@dataclass
class ArmRoleDefinition:
    id: str  # the GUID
    role_name: str
    description: str = ""
    role_type: str = "BuiltInRole"
    actions: list[str] = field(default_factory=list)
    not_actions: list[str] = field(default_factory=list)
    data_actions: list[str] = field(default_factory=list)
    not_data_actions: list[str] = field(default_factory=list)
    assignable_scopes: list[str] = field(default_factory=lambda: ["/"])


@dataclass
class ArmRoleAssignment:
    name: str  # the GUID in the assignment's id
    scope: str  # "/", "/providers/Microsoft.Management/managementGroups/x", "/subscriptions/..", ...
    role_definition_id: str  # the GUID
    principal_id: str
    principal_type: str = "User"  # "User", "Group", "ServicePrincipal"
    created_on: float = 0.0
    created_by: str | None = None
    created_by_api: bool = False

    @property
    def resource_id(self) -> str:
        prefix = "" if self.scope == "/" else self.scope
        return f"{prefix}/providers/Microsoft.Authorization/roleAssignments/{self.name}"


@dataclass
class ArmRoleEligibility:
    """An Azure PIM eligibility (roleEligibilityScheduleInstances): not a role until activated.

    Azure RBAC (`authz_arm`) never counts it; only the eligibility listing shows it.
    """

    name: str  # the GUID in the instance's id
    scope: str
    role_definition_id: str  # the GUID
    principal_id: str
    principal_type: str = "User"
    start_time: float = 0.0
    end_time: float | None = None  # None: permanently eligible
    created_on: float = 0.0


# --- CIPP ---------------------------------------------------------------------------------


@dataclass
class ApiClient:
    """A current-generation API client as CIPP keeps it in its own table."""

    app_id: str
    display_name: str
    enabled: bool = True
    role: str | None = "readonly"  # None → CIPP falls back to the custom role "cipp-api"
    ip_ranges: list[str] = field(default_factory=list)  # empty → any address


@dataclass
class LogEntry:
    date_time: float
    tenant: str
    api: str
    message: str
    user: str
    severity: str = "Info"
    log_data: str = ""
    tenant_id: str = ""
    app_id: str = ""
    ip: str = ""
    standard_info: str = ""
    row_key: str = field(default_factory=new_id)
    # Set on entries written by standards, scheduled tasks and baseline runs (ListLogs filters).
    standard_template_id: str = ""
    scheduled_task_id: str = ""
    baseline_run_id: str = ""


@dataclass
class CippInstance:
    generation: Generation
    version: str
    function_app: str  # name of the Site that runs the API
    processor_app: str | None = None  # name of an offloaded processor Function App, if any
    front_end_host: str = "cipp.contoso.example"  # the Static Web App's host name
    hosted: bool = False
    sam_app_id: str | None = None  # the CIPP-SAM application's appId
    sam_user_id: str | None = None  # the CIPP-SAM user's object id
    api_activated: bool = False  # legacy: the CIPP-API extension was activated
    api_clients: list[ApiClient] = field(default_factory=list)
    subscription_ended: bool = False  # hosted instance whose CIPP subscription lapsed
    logs: list[LogEntry] = field(default_factory=list)
    custom_roles: list[str] = field(default_factory=list)


# --- Faults, replication, requests ----------------------------------------------------

ServiceName = Literal["idp", "graph", "arm", "cipp", "frontend", "processor"]
FaultKind = Literal["latency", "throttle", "unavailable", "reset", "slow"]


@dataclass
class Fault:
    """A misbehaviour injected on matching requests.

    `service` and `method` match exactly ("*" for any); `path` is a regular expression
    searched in the request path. `times` limits how many requests it hits (None: all).
    """

    kind: FaultKind
    service: str = "*"
    method: str = "*"
    path: str = ""
    times: int | None = None
    delay_ms: int = 0  # latency / slow
    retry_after: int = 1  # throttle / unavailable
    hits: int = 0


@dataclass
class Replication:
    """How long objects written through an API stay invisible to other reads."""

    graph_seconds: float = 0.0
    graph_requests: int = 0
    arm_principal_seconds: float = 0.0  # ARM answers PrincipalNotFound for new principals
    arm_principal_requests: int = 0
    token_seconds: float = 0.0  # new grants / role assignments missing from tokens


@dataclass
class RequestRecord:
    service: str
    method: str
    path: str  # path with query string, secrets never included (query and body omitted)
    status: int
    latency_ms: float
    caller: str | None  # the token's oid or appid when one was presented
    at: float


@dataclass
class Identities:
    """The people and ids a scenario names, as the ready file reports them."""

    admin_user_id: str | None = None
    sam_user_id: str | None = None
    sam_app_id: str | None = None
    subscription_id: str | None = None
    api_client_id: str | None = None
    api_client_secret: str | None = None
    # Which host the scenario's default API URL points at: "function_app" (right),
    # "front_end" or "processor_app" (the wrong-URL scenarios of the current generation).
    api_url_target: str = "function_app"


# --- The whole tenant ----------------------------------------------------------------------


@dataclass
class TenantState:
    tenant_id: str
    default_domain: str
    display_name: str = "Contoso"
    generation_hint: Generation | None = None
    scenario_name: str = "custom"
    description: str = ""
    # The Microsoft cloud the sandbox poses as ("public", "usgov", "usgov-dod", "china"):
    # which resource URIs tokens name (sandbox/clouds.py; set by clouds.pose_as).
    cloud: str = "public"
    # The base URL the sandbox's Graph is served at: like Graph's resource id in every cloud
    # (its URL), it is also a token audience Graph accepts (clouds.serve_graph_at).
    served_graph_url: str | None = None

    users: dict[str, User] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    role_definitions: dict[str, DirectoryRoleDefinition] = field(default_factory=dict)
    role_assignments: dict[str, DirectoryRoleAssignment] = field(default_factory=dict)
    role_eligibilities: dict[str, DirectoryRoleEligibility] = field(default_factory=dict)
    applications: dict[str, Application] = field(default_factory=dict)
    service_principals: dict[str, ServicePrincipal] = field(default_factory=dict)
    oauth2_grants: dict[str, OAuth2PermissionGrant] = field(default_factory=dict)
    app_role_assignments: dict[str, AppRoleAssignment] = field(default_factory=dict)
    app_management_policy: AppManagementPolicy = field(default_factory=AppManagementPolicy)

    management_groups: dict[str, ManagementGroup] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    resource_groups: dict[tuple[str, str], ResourceGroup] = field(default_factory=dict)
    sites: dict[str, Site] = field(default_factory=dict)  # keyed by site name (lower case)
    arm_role_definitions: dict[str, ArmRoleDefinition] = field(default_factory=dict)
    arm_role_assignments: dict[str, ArmRoleAssignment] = field(default_factory=dict)
    arm_role_eligibilities: dict[str, ArmRoleEligibility] = field(default_factory=dict)

    cipp: CippInstance | None = None
    identities: Identities = field(default_factory=Identities)

    faults: list[Fault] = field(default_factory=list)
    replication: Replication = field(default_factory=Replication)
    device_code_auto_approve: bool = True
    # The tenant's user consent setting (Enterprise applications → Consent and permissions):
    # "allow", "verified-low-impact" (verified publishers, low-impact permissions) or
    # "none". Which is a new tenant's default is inferred, not observed.
    user_consent: str = "verified-low-impact"
    # What the person at a consent page does (sandbox/consent.py, control `set_consent_response`):
    # "auto" (with device_code_auto_approve: as the signed-in admin would, for the
    # organization when allowed, else for themselves when allowed), "organization",
    # "self", "decline", or "pending" (nobody answers until the control interface does).
    consent_response: str = "auto"
    clock: Clock = field(default_factory=Clock)
    request_log: list[RequestRecord] = field(default_factory=list)
    request_count: int = 0

    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # Indexes (rebuilt by `reindex`, maintained by the add_/remove_ helpers below).
    _user_by_upn: dict[str, str] = field(default_factory=dict, repr=False)
    _app_by_app_id: dict[str, str] = field(default_factory=dict, repr=False)
    _sp_by_app_id: dict[str, str] = field(default_factory=dict, repr=False)
    _role_assignments_by_principal: dict[str, set[str]] = field(default_factory=dict, repr=False)
    _groups_by_member: dict[str, set[str]] = field(default_factory=dict, repr=False)
    _arm_assignments_by_principal: dict[str, set[str]] = field(default_factory=dict, repr=False)

    # ----- indexes -----

    def reindex(self) -> None:
        self._user_by_upn = {u.user_principal_name.lower(): u.id for u in self.users.values()}
        self._app_by_app_id = {a.app_id: a.id for a in self.applications.values()}
        self._sp_by_app_id = {s.app_id: s.id for s in self.service_principals.values()}
        self._role_assignments_by_principal = {}
        for ra in self.role_assignments.values():
            self._role_assignments_by_principal.setdefault(ra.principal_id, set()).add(ra.id)
        self._groups_by_member = {}
        for g in self.groups.values():
            for m in g.member_ids:
                self._groups_by_member.setdefault(m, set()).add(g.id)
        self._arm_assignments_by_principal = {}
        for a in self.arm_role_assignments.values():
            self._arm_assignments_by_principal.setdefault(a.principal_id, set()).add(a.name)

    def user_by_upn(self, upn: str) -> User | None:
        uid = self._user_by_upn.get(upn.lower())
        return self.users.get(uid) if uid else None

    def application_by_app_id(self, app_id: str) -> Application | None:
        oid = self._app_by_app_id.get(app_id.lower())
        return self.applications.get(oid) if oid else None

    def service_principal_by_app_id(self, app_id: str) -> ServicePrincipal | None:
        oid = self._sp_by_app_id.get(app_id.lower())
        return self.service_principals.get(oid) if oid else None

    def role_assignments_for(self, principal_id: str) -> list[DirectoryRoleAssignment]:
        ids = self._role_assignments_by_principal.get(principal_id, set())
        return [self.role_assignments[i] for i in ids if i in self.role_assignments]

    def direct_groups_of(self, member_id: str) -> list[Group]:
        return [self.groups[g] for g in self._groups_by_member.get(member_id, set()) if g in self.groups]

    def transitive_groups_of(self, member_id: str) -> list[Group]:
        seen: dict[str, Group] = {}
        stack = [member_id]
        while stack:
            for g in self.direct_groups_of(stack.pop()):
                if g.id not in seen:
                    seen[g.id] = g
                    stack.append(g.id)
        return list(seen.values())

    def arm_assignments_for(self, principal_id: str) -> list[ArmRoleAssignment]:
        names = self._arm_assignments_by_principal.get(principal_id, set())
        return [self.arm_role_assignments[n] for n in names if n in self.arm_role_assignments]

    # ----- writes that keep the indexes right -----

    def add_user(self, user: User) -> None:
        self.users[user.id] = user
        self._user_by_upn[user.user_principal_name.lower()] = user.id

    def add_group(self, group: Group) -> None:
        self.groups[group.id] = group
        for m in group.member_ids:
            self._groups_by_member.setdefault(m, set()).add(group.id)

    def add_group_member(self, group_id: str, member_id: str) -> None:
        group = self.groups[group_id]
        if member_id not in group.member_ids:
            group.member_ids.append(member_id)
        self._groups_by_member.setdefault(member_id, set()).add(group_id)

    def add_application(self, app: Application) -> None:
        app.app_id = app.app_id.lower()
        self.applications[app.id] = app
        self._app_by_app_id[app.app_id] = app.id

    def remove_application(self, object_id: str) -> None:
        app = self.applications.pop(object_id, None)
        if app is not None:
            self._app_by_app_id.pop(app.app_id, None)

    def add_service_principal(self, sp: ServicePrincipal) -> None:
        sp.app_id = sp.app_id.lower()
        self.service_principals[sp.id] = sp
        self._sp_by_app_id[sp.app_id] = sp.id

    def remove_service_principal(self, object_id: str) -> None:
        sp = self.service_principals.pop(object_id, None)
        if sp is not None:
            self._sp_by_app_id.pop(sp.app_id, None)

    def add_role_assignment(self, ra: DirectoryRoleAssignment) -> None:
        self.role_assignments[ra.id] = ra
        self._role_assignments_by_principal.setdefault(ra.principal_id, set()).add(ra.id)

    def remove_role_assignment(self, assignment_id: str) -> None:
        ra = self.role_assignments.pop(assignment_id, None)
        if ra is not None:
            self._role_assignments_by_principal.get(ra.principal_id, set()).discard(ra.id)

    def add_arm_role_assignment(self, a: ArmRoleAssignment) -> None:
        self.arm_role_assignments[a.name] = a
        self._arm_assignments_by_principal.setdefault(a.principal_id, set()).add(a.name)

    def remove_arm_role_assignment(self, name: str) -> None:
        a = self.arm_role_assignments.pop(name, None)
        if a is not None:
            self._arm_assignments_by_principal.get(a.principal_id, set()).discard(a.name)

    # ----- replication -----

    def is_visible(self, visibility: Visibility) -> bool:
        return (
            self.clock.now() >= visibility.visible_at
            and self.request_count >= visibility.visible_after_requests
        )

    def new_visibility(self) -> Visibility:
        """Visibility for an object written now through Graph, per the replication settings."""
        return Visibility(
            visible_at=self.clock.now() + self.replication.graph_seconds,
            visible_after_requests=self.request_count + self.replication.graph_requests,
        )

    # ----- ARM hierarchy -----

    def scope_ancestors(self, scope: str) -> list[str]:
        """The scope itself and every scope above it, nearest first, ending with "/".

        Management groups are followed up to the tenant root group, so an assignment on
        any of them is inherited by the subscriptions below.
        """
        out: list[str] = []
        parts = scope.rstrip("/").split("/")
        lower = scope.lower()
        if lower.startswith("/subscriptions/"):
            sub_id = parts[2]
            # resource, resource group, subscription
            s = scope.rstrip("/")
            while True:
                out.append(s)
                if s.lower() == f"/subscriptions/{sub_id}".lower():
                    break
                # strip to resource group or subscription level
                if "/providers/" in s.lower():
                    s = s[: s.lower().index("/providers/")]
                elif "/resourcegroups/" in s.lower():
                    s = s[: s.lower().index("/resourcegroups/")]
                else:
                    break
            sub = self.subscriptions.get(sub_id.lower())
            mg = sub.management_group if sub else None
            out.extend(self._management_group_chain(mg))
        elif lower.startswith("/providers/microsoft.management/managementgroups/"):
            out.extend(self._management_group_chain(parts[-1]))
        out.append("/")
        return out

    def _management_group_chain(self, name: str | None) -> Iterator[str]:
        seen: set[str] = set()
        while name and name not in seen:
            seen.add(name)
            yield f"/providers/Microsoft.Management/managementGroups/{name}"
            mg = self.management_groups.get(name)
            name = mg.parent_name if mg else None

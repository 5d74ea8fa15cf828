"""Fixes for a current CIPP instance (7.2 and later, "API clients").

Same model as the legacy fixes in `cipp_setup.engine.fixes` (pure planners over a
check result's `facts`, idempotent journaled appliers, re-verification); this module
adds its planners and appliers to that module's registries when it is imported.

What each check's fix does:

- `sam-app-graph-application-permissions`: adds the Graph application permissions
  Application.ReadWrite.All and Directory.ReadWrite.All to the CIPP-SAM app's
  requiredResourceAccess (every existing entry kept), then consents them: one app role
  assignment per permission on the Graph service principal (POST
  /servicePrincipals/{graph}/appRoleAssignedTo; Privileged Role Administrator or Global
  Administrator). The CIPP-SAM service principal is created first if it is missing.
- `function-app-managed-identity`: turns the system-assigned identity on when the
  Function App has none (PATCH the site), then gives it Contributor on the Function App
  (ARM PUT at the site's scope, principalType ServicePrincipal; PrincipalNotFound while
  a new identity replicates is retried). This assignment is NOT temporary: CIPP's "Save
  to Azure" writes Easy Auth with it, every time an API client changes. `revert` never
  removes it (its action is not one of `revert.ELEVATION_ACTIONS`).
- `api-client-app`: creates the missing service principal, adds `api://{appId}` to the
  identifier URIs (keeping the others), adds a new client secret when none is valid.
  The secret's value goes to `FixRuntime.on_new_secret` and nowhere else: the journal
  keeps only the keyId, the plan and the outcome never hold it. Without a receiver (no
  terminal to show it on) no secret is created. Existing secrets are never removed.
- `api-easy-auth`: CIPP's own "Save to Azure" is the fix (Integrations → CIPP-API → API
  Clients → Save to Azure; it restarts the app, allow about a minute), so the plan is
  shown as not applicable with that explanation. `allow_easy_auth_write(plan)` (the
  front ends' `--write-easy-auth`) makes it applicable: the allowed applications and
  audiences are extended through ARM (authsettingsV2), keeping everything else, with a
  warning that CIPP's API Clients table should agree and that the app restarts.

The facts each planner reads are in `FACTS`; the checks document them in their module
docstrings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping, MutableMapping, MutableSet, Protocol

from cipp_setup import wellknown as wk
from cipp_setup.engine import plan as p
from cipp_setup.engine.context import CheckContext
from cipp_setup.engine.fixes import (
    APPLIERS,
    GRAPH_APP_ROLE_ASSIGNMENT_WRITE,
    GRAPH_APP_WRITE,
    PLANNERS,
    ROLES_FOR_APPLICATIONS,
    Applied,
    Applier,
    FixRuntime,
    Planner,
    PlanningError,
    WriteRefused,
    _ARM_ACTIONS,
    _journaled_write,
    _rra_summary,
)
from cipp_setup.engine.model import CheckResult, Secret
from cipp_setup.engine.plan import ChangeStatus, FixPlan, PlannedChange

SAM_APP_GRAPH_APPLICATION_PERMISSIONS = "sam-app-graph-application-permissions"
FUNCTION_APP_MANAGED_IDENTITY = "function-app-managed-identity"
API_CLIENT_APP = "api-client-app"
API_EASY_AUTH = "api-easy-auth"

GRAPH_APPLICATION_PERMISSIONS: Mapping[str, str] = {
    wk.GRAPH_APPLICATION_READWRITE_ALL: "Application.ReadWrite.All",
    wk.GRAPH_DIRECTORY_READWRITE_ALL: "Directory.ReadWrite.All",
}

# The facts a result must carry (plain values; see each check's module docstring).
FACTS: Mapping[str, tuple[str, ...]] = {
    SAM_APP_GRAPH_APPLICATION_PERMISSIONS: (
        "sam_app_object_id", "sam_app_id",
        "sam_sp_id",  # None: the CIPP-SAM service principal is missing
        "graph_sp_id",
        "missing_app_role_ids",  # the permissions without an app role assignment (consent)
        # optional: "manifest_missing" (the ones absent from requiredResourceAccess as Role)
    ),
    FUNCTION_APP_MANAGED_IDENTITY: (
        "function_app_id",  # the site's resource id
        "identity_principal_id",  # None: the Function App has no system-assigned identity
    ),
    API_CLIENT_APP: (
        "api_client_app_object_id",  # None: no such app (created in CIPP, not by a fix)
        "api_client_app_id",
        "api_client_sp_id",  # None: no service principal
        "identifier_uris",
        # optional: "secret_valid_until" (None: no valid secret), "max_password_lifetime_days",
        # "password_addition_blocked" (the tenant's app management policy)
    ),
    API_EASY_AUTH: (
        "function_app_id", "allowed_audiences", "allowed_applications",
        # optional: "token_version" (2: the bare client id must be allowed as well); the
        # client id is the run's --api-client-id
    ),
}

ROLES_FOR_APP_ROLE_CONSENT = "Privileged Role Administrator or Global Administrator"
ROLES_FOR_SITE_IDENTITY = "Contributor (or Website Contributor) on the Function App"
ROLES_FOR_SITE_ROLE_ASSIGNMENT = "Owner or User Access Administrator on the Function App (or above it)"
ROLES_FOR_EASY_AUTH = "Contributor (or Website Contributor) on the Function App"
ARM_USER_IMPERSONATION = "user_impersonation"

SECRET_DISPLAY_NAME = "Generated by cipp-setup"
# A policy's maximum lifetime, less this margin, so clock skew cannot push it over.
_POLICY_MARGIN = timedelta(days=1)
SECRET_CAUSES = frozenset({"secret-expired", "no-secret"})
# Easy Auth causes a write of the allowed lists (and CIPP's provider set-up) can fix.
EASY_AUTH_ARM_CAUSES = frozenset({"client-not-saved-to-azure", "audience-not-allowed", "app-not-allowed",
                                  "easy-auth-disabled", "unauthenticated-allowed"})

SAVE_TO_AZURE_STEPS = (
    "In CIPP: Integrations → CIPP-API → API Clients → make sure the client is enabled → "
    "Save to Azure. CIPP writes the Function App's authentication settings with its managed "
    "identity and restarts the app: allow about a minute, then run the check again."
)
WRITE_EASY_AUTH_HINT = (
    "Or let cipp-setup write them through Azure Resource Manager: cipp-setup fix --write-easy-auth."
)
EASY_AUTH_WARNINGS = (
    "CIPP's own API Clients table should agree: its next Save to Azure rewrites these settings "
    "from that table (a client not enabled there is dropped again).",
    "Writing the authentication settings restarts the Function App: allow about a minute.",
)


@dataclass(frozen=True)
class NewSecret:
    """A client secret a fix created: shown once by the front end, then forgotten."""

    app_id: str
    key_id: str
    value: Secret
    expires: str  # ISO 8601

    def __repr__(self) -> str:  # the value is a Secret already; say so plainly anyway
        return f"NewSecret(app_id={self.app_id!r}, key_id={self.key_id!r}, value=********)"


class CurrentWrites(Protocol):
    """What the current-generation appliers need beyond `fixes.TenantWrites`
    (implemented by `cipp_setup.gateways.current_writes`, combined in `gateways.writes`)."""

    async def list_app_role_assignments(self, principal_id: str) -> list[Any]: ...
    async def create_app_role_assignment(self, principal_id: str, resource_id: str, app_role_id: str) -> str: ...
    async def get_identifier_uris(self, application_object_id: str) -> list[str]: ...
    async def set_identifier_uris(self, application_object_id: str, identifier_uris: list[str]) -> None: ...
    async def get_password_expiries(self, application_object_id: str) -> list[datetime | None]: ...
    async def add_password(self, application_object_id: str, display_name: str,
                           end_date_time: datetime | None) -> Any: ...
    async def password_policy(self) -> Any: ...
    async def get_site_identity(self, site_id: str) -> str | None: ...
    async def enable_site_identity(self, site_id: str) -> str: ...
    async def get_easy_auth(self, site_id: str) -> dict[str, Any]: ...
    async def set_easy_auth(self, site_id: str, properties: dict[str, Any]) -> None: ...


# --- planning ------------------------------------------------------------------------------


def _fact(result: CheckResult, key: str) -> Any:
    if key not in result.facts:
        raise PlanningError(f"check {result.check_id} result has no fact {key!r}; cannot plan its fix")
    return result.facts[key]


def _ids(value: Any) -> list[str]:
    return [str(v).lower() for v in (value or [])]


def plan_graph_application_permissions(result: CheckResult, ctx: CheckContext) -> FixPlan | None:
    if result.cause not in ("permission-not-in-manifest", "consent-missing"):
        return None  # no CIPP-SAM app (or several), no Graph service principal: not for a fix
    app_object_id = str(_fact(result, "sam_app_object_id"))
    sam_app_id = str(_fact(result, "sam_app_id"))
    sam_sp_id = result.facts.get("sam_sp_id")
    graph_sp_id = _fact(result, "graph_sp_id")
    if not graph_sp_id:
        return None  # a tenant without Microsoft Graph's service principal is beyond this fix
    wanted = list(GRAPH_APPLICATION_PERMISSIONS)
    missing = [r for r in wanted if r in set(_ids(_fact(result, "missing_app_role_ids")))]
    manifest_missing = result.facts.get("manifest_missing")
    manifest_needed = [r for r in wanted if r in set(_ids(manifest_missing))] if manifest_missing is not None else wanted
    cid = result.check_id
    app_label = f"CIPP-SAM application (appId {sam_app_id})"
    changes: list[PlannedChange] = []
    if not sam_sp_id:
        changes.append(PlannedChange(
            check_id=cid, action=p.CREATE_SERVICE_PRINCIPAL,
            api="Microsoft Graph POST /servicePrincipals", target=f"service principal for the {app_label}",
            before="no service principal in this tenant", after="service principal created",
            admin_role_needed=ROLES_FOR_APPLICATIONS, grants_privilege=False, reversible=True,
            params={"app_id": sam_app_id}, permission=GRAPH_APP_WRITE, step="sam-sp",
        ))
        missing = wanted  # a new service principal holds no consent yet
    if manifest_needed and (manifest_missing is not None or missing):
        names = ", ".join(GRAPH_APPLICATION_PERMISSIONS[r] for r in manifest_needed)
        changes.append(PlannedChange(
            check_id=cid, action=p.ADD_REQUIRED_APP_ROLES,
            api="Microsoft Graph PATCH /applications/{id} (requiredResourceAccess)",
            target=app_label,
            before=("the manifest lacks " if manifest_missing is not None else "the manifest may lack ")
            + f"Microsoft Graph {names} (Role)",
            after=f"adds Microsoft Graph {names} (application permissions); every existing entry kept",
            admin_role_needed=ROLES_FOR_APPLICATIONS, grants_privilege=False, reversible=True,
            params={"application_object_id": app_object_id, "resource_app_id": wk.MICROSOFT_GRAPH_APP_ID,
                    "app_role_ids": list(manifest_needed)},
            permission=GRAPH_APP_WRITE,
            notes=("A manifest entry alone grants nothing; the consent below does.",),
        ))
    for role_id in missing:
        name = GRAPH_APPLICATION_PERMISSIONS[role_id]
        changes.append(PlannedChange(
            check_id=cid, action=p.CREATE_APP_ROLE_ASSIGNMENT,
            api="Microsoft Graph POST /servicePrincipals/{Microsoft Graph}/appRoleAssignedTo",
            target=f"admin consent of the {app_label} to Microsoft Graph {name}",
            before=f"{name} not consented", after=f"{name} ({role_id[:8]}…) granted to CIPP-SAM (application)",
            admin_role_needed=ROLES_FOR_APP_ROLE_CONSENT, grants_privilege=True, reversible=True,
            params={"principal_id": sam_sp_id, "resource_id": str(graph_sp_id).lower(), "app_role_id": role_id},
            permission=GRAPH_APP_ROLE_ASSIGNMENT_WRITE,
            inputs_from={"principal_id": "sam-sp"} if not sam_sp_id else {},
            notes=("CIPP-SAM creates the API client app registrations with this permission.",),
        ))
    if not changes:
        return None
    return FixPlan(cid, "Give the CIPP-SAM application the consented Graph application permissions",
                   result.cause, tuple(changes))


def plan_managed_identity(result: CheckResult, ctx: CheckContext) -> FixPlan | None:
    if result.cause not in ("managed-identity-missing", "identity-no-role"):
        return None  # which Function App is unknown, or it could not be read
    site_id = str(_fact(result, "function_app_id"))
    principal_id = result.facts.get("identity_principal_id")
    site_name = site_id.rstrip("/").rsplit("/", 1)[-1]
    cid = result.check_id
    changes: list[PlannedChange] = []
    if not principal_id:
        changes.append(PlannedChange(
            check_id=cid, action=p.ENABLE_MANAGED_IDENTITY,
            api="Azure Resource Manager PATCH /subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.Web/sites/{name}",
            target=f"Function App {site_name}",
            before="no system-assigned managed identity", after="system-assigned managed identity on",
            admin_role_needed=ROLES_FOR_SITE_IDENTITY, grants_privilege=False, reversible=True,
            params={"site_id": site_id}, permission=ARM_USER_IMPERSONATION, step="identity",
            notes=("App Service creates the identity's service principal; it replicates like any new one.",),
        ))
    changes.append(PlannedChange(
        check_id=cid, action=p.CREATE_MANAGED_IDENTITY_ROLE_ASSIGNMENT,
        api="Azure Resource Manager PUT {Function App}/providers/Microsoft.Authorization/roleAssignments/{new id}",
        target=f"the managed identity of Function App {site_name}",
        before="no Contributor on the Function App, its resource group or subscription",
        after="Contributor (b24988ac-…) assigned at the Function App, principalType ServicePrincipal",
        admin_role_needed=ROLES_FOR_SITE_ROLE_ASSIGNMENT, grants_privilege=True, reversible=True,
        params={"arm_scope": site_id, "site_id": site_id, "role_definition_id": wk.CONTRIBUTOR,
                "principal_id": principal_id, "principal_type": "ServicePrincipal"},
        permission=ARM_USER_IMPERSONATION, inputs_from={"principal_id": "identity"} if not principal_id else {},
        notes=("Not temporary: CIPP writes Easy Auth with this identity whenever API clients are saved, "
               "so cipp-setup revert leaves it in place.",),
    ))
    title = ("Turn on the Function App's managed identity and give it Contributor on the Function App"
             if not principal_id else "Give the Function App's managed identity Contributor on the Function App")
    return FixPlan(cid, title, result.cause, tuple(changes))


def _secret_needed(result: CheckResult) -> bool:
    if result.cause in SECRET_CAUSES:
        return True
    # Another cause was reported first; the facts still say whether a secret is valid.
    return "secret_valid_until" in result.facts and result.facts["secret_valid_until"] is None


def plan_api_client_app(result: CheckResult, ctx: CheckContext) -> FixPlan | None:
    if result.cause not in {"identifier-uri-missing", "service-principal-missing"} | SECRET_CAUSES:
        return None
    if not _fact(result, "api_client_app_object_id"):
        return None  # no such app: clients are created in CIPP, not by a fix
    app_object_id = str(_fact(result, "api_client_app_object_id"))
    app_id = str(_fact(result, "api_client_app_id")).lower()
    sp_id = result.facts.get("api_client_sp_id")
    uris = [str(u) for u in (_fact(result, "identifier_uris") or [])]
    wanted_uri = f"api://{app_id}"
    cid = result.check_id
    app_label = f"API client app (appId {app_id})"
    changes: list[PlannedChange] = []
    if not sp_id:
        changes.append(PlannedChange(
            check_id=cid, action=p.CREATE_SERVICE_PRINCIPAL,
            api="Microsoft Graph POST /servicePrincipals", target=f"service principal for the {app_label}",
            before="no service principal: no token can be issued for it", after="service principal created",
            admin_role_needed=ROLES_FOR_APPLICATIONS, grants_privilege=False, reversible=True,
            params={"app_id": app_id}, permission=GRAPH_APP_WRITE,
        ))
    if wanted_uri.lower() not in (u.lower() for u in uris):
        kept = ", ".join(uris) if uris else "none"
        changes.append(PlannedChange(
            check_id=cid, action=p.ADD_IDENTIFIER_URI,
            api="Microsoft Graph PATCH /applications/{id} (identifierUris)", target=app_label,
            before=f"identifier URIs: {kept}", after=f"adds {wanted_uri}; existing URIs kept",
            admin_role_needed=ROLES_FOR_APPLICATIONS, grants_privilege=False, reversible=True,
            params={"application_object_id": app_object_id, "app_id": app_id, "identifier_uri": wanted_uri},
            permission=GRAPH_APP_WRITE,
            notes=(f"Tokens are requested for {wanted_uri}/.default; without it AADSTS500011.",),
        ))
    blocked = bool(result.facts.get("password_addition_blocked"))
    if _secret_needed(result) and not blocked:
        max_days = result.facts.get("max_password_lifetime_days")
        lifetime = (f"valid for at most {max_days} days (the tenant's app management policy)"
                    if isinstance(max_days, int) else "valid for Graph's default two years")
        changes.append(PlannedChange(
            check_id=cid, action=p.ADD_CLIENT_SECRET,
            api="Microsoft Graph POST /applications/{id}/addPassword", target=app_label,
            before="no client secret that is still valid", after=f"a new client secret, {lifetime}",
            admin_role_needed=ROLES_FOR_APPLICATIONS, grants_privilege=True, reversible=True,
            params={"application_object_id": app_object_id, "app_id": app_id,
                    "display_name": SECRET_DISPLAY_NAME,
                    **({"max_lifetime_days": max_days} if isinstance(max_days, int) else {})},
            permission=GRAPH_APP_WRITE,
            notes=("The new secret is shown once, on this terminal: copy it then. It is kept out of "
                   "every log, report and the journal.",
                   "Existing secrets stay; remove expired ones in Entra admin center → App "
                   "registrations → Certificates & secrets."),
        ))
    if not changes:
        if _secret_needed(result) and blocked:
            change = PlannedChange(
                check_id=cid, action=p.ADD_CLIENT_SECRET,
                api="Microsoft Graph POST /applications/{id}/addPassword", target=app_label,
                before="no client secret that is still valid", after="a new client secret",
                admin_role_needed=ROLES_FOR_APPLICATIONS, grants_privilege=True, reversible=True,
                params={"application_object_id": app_object_id, "app_id": app_id},
                permission=GRAPH_APP_WRITE,
            )
            return FixPlan(cid, "Give the API client a valid secret", result.cause, (change,), applicable=False,
                           explanation=("The tenant's app management policy forbids adding client secrets. "
                                        "Exempt the API client app from the policy (Entra admin center → "
                                        "Enterprise applications → App management policies), then run the fix again."))
        return None
    return FixPlan(cid, "Complete the API client's app registration", result.cause, tuple(changes))


def plan_easy_auth(result: CheckResult, ctx: CheckContext) -> FixPlan | None:
    site_id = result.facts.get("function_app_id")
    app_id = str(result.facts.get("api_client_app_id") or ctx.inputs.api_client_id or "").lower()
    if not site_id or not app_id or result.cause not in EASY_AUTH_ARM_CAUSES | {"tenant-not-allowed"}:
        return None  # the settings could not be read, or no client was named
    site_id = str(site_id)
    audiences = [str(a) for a in (result.facts.get("allowed_audiences") or [])]
    applications = _ids(result.facts.get("allowed_applications"))
    v2 = str(result.facts.get("token_version") or "") == "2"
    add_audiences = [a for a in ([f"api://{app_id}"] + ([app_id] if v2 else []))
                     if a.lower() not in (x.lower() for x in audiences)]
    add_applications = [app_id] if app_id not in applications else []
    require_auth = result.cause in ("unauthenticated-allowed", "easy-auth-disabled")
    site_name = site_id.rstrip("/").rsplit("/", 1)[-1]
    after_parts = []
    if result.cause == "easy-auth-disabled":
        after_parts.append("the Microsoft provider enabled")
    if add_applications:
        after_parts.append(f"allowedApplications + {app_id}")
    if add_audiences:
        after_parts.append("allowedAudiences + " + ", ".join(add_audiences))
    if require_auth:
        after_parts.append("unauthenticated requests answered 401")
    change = PlannedChange(
        check_id=result.check_id, action=p.UPDATE_EASY_AUTH,
        api="Azure Resource Manager PUT {Function App}/config/authsettingsV2",
        target=f"Easy Auth (authentication settings) of Function App {site_name}",
        before=(f"allowedApplications: {', '.join(applications) or 'none'}; "
                f"allowedAudiences: {', '.join(audiences) or 'none'}"),
        after="; ".join(after_parts or ["the client allowed, as CIPP writes it"]) + "; everything else kept",
        admin_role_needed=ROLES_FOR_EASY_AUTH, grants_privilege=True, reversible=True,
        params={"site_id": site_id, "app_id": app_id, "add_audiences": add_audiences,
                "add_applications": add_applications, "require_authentication": require_auth},
        permission=ARM_USER_IMPERSONATION, notes=EASY_AUTH_WARNINGS,
    )
    title = "Allow the API client in the Function App's Easy Auth"
    if result.cause == "tenant-not-allowed":
        # WEBSITE_AUTH_AAD_ALLOWED_TENANTS is an app setting CIPP writes with the rest;
        # cipp-setup does not write app settings, so Save to Azure is the one fix here.
        return FixPlan(result.check_id, title, result.cause, (change,), applicable=False,
                       explanation=SAVE_TO_AZURE_STEPS)
    if result.cause == "audience-not-allowed":
        explanation = (
            f"The app asks for v2 access tokens (requestedAccessTokenVersion 2), whose aud is the bare "
            f"client id {app_id}, while CIPP allows only api://{app_id}: Save to Azure does not help. "
            f"Set it back in Entra admin center → App registrations → the client → Manifest: "
            f"requestedAccessTokenVersion null (v1 tokens), or let cipp-setup add the bare id to the "
            f"allowed audiences: cipp-setup fix --write-easy-auth."
        )
    else:
        explanation = SAVE_TO_AZURE_STEPS + " " + WRITE_EASY_AUTH_HINT
    return FixPlan(result.check_id, title, result.cause, (change,), applicable=False, explanation=explanation)


def allow_easy_auth_write(plan: FixPlan) -> FixPlan:
    """`--write-easy-auth`: the Easy Auth plan applied through ARM (with its warnings)."""
    if plan.check_id != API_EASY_AUTH or plan.applicable or plan.cause not in EASY_AUTH_ARM_CAUSES:
        return plan
    return replace(plan, applicable=True, explanation=None,
                   title="Allow the API client in the Function App's Easy Auth (written through ARM)")


# --- applying ----------------------------------------------------------------------------


def _writes(rt: FixRuntime) -> CurrentWrites:
    return rt.writes  # type: ignore[return-value]


async def _apply_required_app_roles(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> Applied:
    app_object_id = str(params["application_object_id"])
    resource_app_id = str(params["resource_app_id"]).lower()
    role_ids = _ids(params.get("app_role_ids"))
    current = _rra_summary(await rt.writes.get_required_resource_access(app_object_id))
    updated = [dict(e, resourceAccess=list(e["resourceAccess"])) for e in current]
    entry = next((e for e in updated if e["resourceAppId"].lower() == resource_app_id), None)
    if entry is None:
        entry = {"resourceAppId": resource_app_id, "resourceAccess": []}
        updated.append(entry)
    present = {a["id"].lower() for a in entry["resourceAccess"] if a["type"] == "Role"}
    adding = [r for r in role_ids if r not in present]
    if not adding:
        return Applied(ChangeStatus.ALREADY_PRESENT, app_object_id, "the permissions are already in the manifest")
    entry["resourceAccess"].extend({"id": r, "type": "Role"} for r in adding)

    async def write() -> str | None:
        await rt.writes.set_required_resource_access(app_object_id, updated)
        return app_object_id

    return await _journaled_write(rt, change, params, write, previous=current,
                                  applied_detail="application permissions added; existing entries kept")


async def _find_app_role_assignment(rt: FixRuntime, principal_id: str, resource_id: str,
                                    app_role_id: str) -> str | None:
    for grant in await _writes(rt).list_app_role_assignments(principal_id):
        if grant.resource_id == resource_id and grant.app_role_id == app_role_id:
            return str(grant.id)
    return None


async def _apply_app_role_assignment(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> Applied:
    principal_id = str(params["principal_id"]).lower()
    resource_id = str(params["resource_id"]).lower()
    app_role_id = str(params["app_role_id"]).lower()
    existing = await _find_app_role_assignment(rt, principal_id, resource_id, app_role_id)
    if existing:
        return Applied(ChangeStatus.ALREADY_PRESENT, existing, "the permission is already consented")
    return await _journaled_write(
        rt, change, params,
        lambda: _writes(rt).create_app_role_assignment(principal_id, resource_id, app_role_id),
        # Graph answers a duplicate with a plain 400: whether it was one is read back.
        on_exists=lambda: _find_app_role_assignment(rt, principal_id, resource_id, app_role_id),
        applied_detail="admin consent granted",
    )


async def _apply_enable_identity(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> Applied:
    site_id = str(params["site_id"])
    existing = await _writes(rt).get_site_identity(site_id)
    if existing:
        return Applied(ChangeStatus.ALREADY_PRESENT, existing, "the Function App already has a managed identity")
    return await _journaled_write(rt, change, params, lambda: _writes(rt).enable_site_identity(site_id),
                                  applied_detail="system-assigned managed identity turned on")


async def _apply_identity_role_assignment(change: PlannedChange, params: Mapping[str, Any],
                                          rt: FixRuntime) -> Applied:
    principal_id = params.get("principal_id")
    if not principal_id:
        raise WriteRefused("bad-request", "The Function App has no managed identity to give a role to.")
    return await _journaled_write(
        rt, change, params,
        lambda: rt.writes.create_arm_role_assignment(
            str(params["arm_scope"]), str(params["role_definition_id"]), str(principal_id),
            str(params.get("principal_type", "ServicePrincipal")),
        ),
        applied_detail="role assignment created",
        present_detail="the role assignment already exists (409 RoleAssignmentExists)",
    )


async def _apply_identifier_uri(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> Applied:
    app_object_id = str(params["application_object_id"])
    uri = str(params["identifier_uri"])
    current = await _writes(rt).get_identifier_uris(app_object_id)
    if uri.lower() in (u.lower() for u in current):
        return Applied(ChangeStatus.ALREADY_PRESENT, app_object_id, f"{uri} is already an identifier URI")

    async def write() -> str | None:
        await _writes(rt).set_identifier_uris(app_object_id, list(current) + [uri])
        return app_object_id

    return await _journaled_write(rt, change, params, write, previous=list(current),
                                  applied_detail=f"{uri} added; existing URIs kept")


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def _secret_end(params: Mapping[str, Any], rt: FixRuntime) -> datetime | None:
    """The new secret's end: within the tenant's policy when it limits lifetimes, else
    Graph's default (no endDateTime sent), as CIPP's own API setup does."""
    max_days = params.get("max_lifetime_days")
    if not isinstance(max_days, int):
        reader = getattr(rt.writes, "password_policy", None)
        policy = await reader() if reader is not None else None
        max_days = getattr(policy, "max_lifetime_days", None)
        if policy is not None and getattr(policy, "addition_blocked", False):
            raise WriteRefused("bad-request", "The tenant's app management policy forbids adding client secrets "
                               "(Entra admin center → Enterprise applications → App management policies).",
                               code="CredentialTypeNotAllowedAsPerAppPolicy")
    if isinstance(max_days, int):
        return _now() + timedelta(days=max_days) - _POLICY_MARGIN
    return None


async def _apply_client_secret(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> Applied:
    app_object_id = str(params["application_object_id"])
    app_id = str(params["app_id"])
    if rt.on_new_secret is None:
        # A secret nobody sees is a credential nobody can use: do not create it.
        raise WriteRefused("cannot-show-secret", "Not created: a new secret is shown only once, on a terminal, "
                           "and this run has none. Run the fix again on a terminal.")
    now = _now()
    expiries = await _writes(rt).get_password_expiries(app_object_id)
    valid = [e for e in expiries if e is None or e > now]
    if valid:
        return Applied(ChangeStatus.ALREADY_PRESENT, app_object_id, "the app already has a secret that is still valid")
    end = await _secret_end(params, rt)
    receiver = rt.on_new_secret
    created: dict[str, str] = {}

    async def write() -> str | None:
        password = await _writes(rt).add_password(app_object_id, str(params.get("display_name", SECRET_DISPLAY_NAME)),
                                                  end)
        # Handed over before anything else can fail: the value exists nowhere else.
        receiver(NewSecret(app_id=app_id, key_id=password.key_id, value=password.secret,
                           expires=password.end_date_time))
        created["expires"] = password.end_date_time
        return str(password.key_id)

    # The journal's target is the application; its outcome records the new keyId only.
    journal_params = {k: v for k, v in params.items() if k in ("application_object_id", "app_id")}
    try:
        done = await _journaled_write(rt, change, journal_params, write, applied_detail="new client secret added")
    except WriteRefused as exc:
        if exc.code == "CredentialInvalidLifetimeAsPerAppPolicy":
            raise WriteRefused("bad-request", "The tenant's app management policy limits how long a secret may "
                               "live, and cipp-setup could not read the limit (it needs Policy.Read.All).",
                               status=exc.status, code=exc.code) from None
        if exc.code == "CredentialTypeNotAllowedAsPerAppPolicy":
            raise WriteRefused("bad-request", "The tenant's app management policy forbids adding client secrets.",
                               status=exc.status, code=exc.code) from None
        raise
    expires = created.get("expires", "")
    return replace(done, detail=f"new client secret added (keyId {done.object_id}, expires {expires or '?'})")


def merged_easy_auth(properties: Mapping[str, Any], app_id: str, add_audiences: list[str],
                     add_applications: list[str], tenant_id: str,
                     require_authentication: bool = False) -> dict[str, Any]:
    """authsettingsV2 properties allowing the client, everything else kept as it was.

    Where the Microsoft provider was never configured, it is set up the way CIPP's Save to
    Azure sets it up (registration for this client, v1 issuer of the tenant, Return401).
    """
    import copy

    settings: dict[str, Any] = copy.deepcopy(dict(properties))
    providers = settings.setdefault("identityProviders", {})
    aad = providers.get("azureActiveDirectory") or {}
    if not aad.get("registration", {}).get("clientId"):
        aad = {
            **aad, "enabled": True,
            "registration": {**(aad.get("registration") or {}), "clientId": app_id,
                             "openIdIssuer": f"https://sts.windows.net/{tenant_id}/v2.0"},
        }
        settings.setdefault("platform", {})["enabled"] = True
        settings.setdefault("globalValidation", {}).setdefault("unauthenticatedClientAction", "Return401")
        add_audiences = list(dict.fromkeys([f"api://{app_id}"] + add_audiences))
        add_applications = list(dict.fromkeys([app_id] + add_applications))
    aad["enabled"] = True
    settings.setdefault("platform", {})["enabled"] = True
    if require_authentication:
        settings.setdefault("globalValidation", {})["unauthenticatedClientAction"] = "Return401"
    validation = aad.setdefault("validation", {})
    audiences = list(validation.get("allowedAudiences") or [])
    for a in add_audiences:
        if a.lower() not in (x.lower() for x in audiences):
            audiences.append(a)
    validation["allowedAudiences"] = audiences
    policy = validation.setdefault("defaultAuthorizationPolicy", {})
    applications = list(policy.get("allowedApplications") or [])
    for a in add_applications:
        if a.lower() not in (x.lower() for x in applications):
            applications.append(a)
    policy["allowedApplications"] = applications
    providers["azureActiveDirectory"] = aad
    return settings


def _allowed(properties: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    aad = (properties.get("identityProviders") or {}).get("azureActiveDirectory") or {}
    validation = aad.get("validation") or {}
    return (list(validation.get("allowedAudiences") or []),
            list((validation.get("defaultAuthorizationPolicy") or {}).get("allowedApplications") or []))


async def _apply_easy_auth(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> Applied:
    site_id = str(params["site_id"])
    app_id = str(params["app_id"]).lower()
    current = await _writes(rt).get_easy_auth(site_id)
    updated = merged_easy_auth(current, app_id, list(params.get("add_audiences") or []),
                               list(params.get("add_applications") or []), rt.tenant_id,
                               bool(params.get("require_authentication")))
    if updated == current:
        return Applied(ChangeStatus.ALREADY_PRESENT, site_id, "Easy Auth already allows the client")
    audiences, applications = _allowed(current)

    async def write() -> str | None:
        await _writes(rt).set_easy_auth(site_id, updated)
        return site_id

    return await _journaled_write(
        rt, change, {"site_id": site_id, "app_id": app_id}, write,
        previous={"allowedAudiences": audiences, "allowedApplications": applications},
        applied_detail="Easy Auth now allows the client; the Function App restarts (allow about a minute)",
    )


# --- registration ------------------------------------------------------------------------

CURRENT_PLANNERS: Mapping[str, Planner] = {
    SAM_APP_GRAPH_APPLICATION_PERMISSIONS: plan_graph_application_permissions,
    FUNCTION_APP_MANAGED_IDENTITY: plan_managed_identity,
    API_CLIENT_APP: plan_api_client_app,
    API_EASY_AUTH: plan_easy_auth,
}
CURRENT_APPLIERS: Mapping[str, Applier] = {
    p.ADD_REQUIRED_APP_ROLES: _apply_required_app_roles,
    p.CREATE_APP_ROLE_ASSIGNMENT: _apply_app_role_assignment,
    p.ENABLE_MANAGED_IDENTITY: _apply_enable_identity,
    p.CREATE_MANAGED_IDENTITY_ROLE_ASSIGNMENT: _apply_identity_role_assignment,
    p.ADD_IDENTIFIER_URI: _apply_identifier_uri,
    p.ADD_CLIENT_SECRET: _apply_client_secret,
    p.UPDATE_EASY_AUTH: _apply_easy_auth,
}
CURRENT_ARM_ACTIONS = frozenset({p.ENABLE_MANAGED_IDENTITY, p.CREATE_MANAGED_IDENTITY_ROLE_ASSIGNMENT,
                                 p.UPDATE_EASY_AUTH})


def register(planners: MutableMapping[str, Planner], appliers: MutableMapping[str, Applier],
             arm_actions: MutableSet[str]) -> None:
    """Add the current generation's planners, appliers and ARM actions to the engine's."""
    planners.update(CURRENT_PLANNERS)
    appliers.update(CURRENT_APPLIERS)
    arm_actions |= CURRENT_ARM_ACTIONS


register(PLANNERS, APPLIERS, _ARM_ACTIONS)

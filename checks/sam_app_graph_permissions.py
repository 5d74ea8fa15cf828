"""sam-app-graph-application-permissions: the CIPP-SAM app holds the Graph application
permissions current CIPP writes API clients with, consented (not only in its manifest).

Facts (plain values, stable; read by the current-generation fixes):
  sam_app_id            the CIPP-SAM application's appId
  sam_app_object_id     its object id
  sam_sp_id             its service principal's object id, or None (never consented here)
  graph_sp_id           Microsoft Graph's service principal object id, or None
  required_app_role_ids the two Graph app role ids this check requires (list)
  manifest_has          the required app role ids present in requiredResourceAccess as Role (list)
  manifest_missing      the required app role ids absent from requiredResourceAccess (list)
  consented_app_role_ids the required app role ids held as app role assignments (list)
  missing_app_role_ids  the required app role ids not held as app role assignments (list)
"""

from __future__ import annotations

from typing import Mapping

from cipp_setup import wellknown
from cipp_setup.engine import plan as p
from cipp_setup.engine.context import CheckContext
from cipp_setup.engine.model import (
    Cause,
    CheckResult,
    CheckSpec,
    Evidence,
    FixableCheck,
    Lifecycle,
    Message,
    Remediation,
    Severity,
    with_remediations,
)
from cipp_setup.engine.plan import FixPlan, PlannedChange
from cipp_setup.engine.planning import (
    ROLES_FOR_APP_ROLE_CONSENT,
    ROLES_FOR_APPLICATIONS,
    create_service_principal,
    fact,
    lower_ids,
)
from cipp_setup.engine.writes import GRAPH_APP_ROLE_ASSIGNMENT_WRITE, GRAPH_APP_WRITE

from . import _current as cur
from . import _lookups as lk
from . import _remediations

GRAPH = wellknown.MICROSOFT_GRAPH_APP_ID
ROLES = cur.REQUIRED_GRAPH_APP_ROLES

SPEC = CheckSpec(
    id="sam-app-graph-application-permissions",
    title="The CIPP-SAM app holds consented Graph application permissions Application.ReadWrite.All and Directory.ReadWrite.All",
    severity=Severity.CRITICAL,
    required=True,
    generations=frozenset({"current"}),
    profiles=frozenset({"clients-by-app"}),
    services=frozenset({"graph"}),
    # Used while API clients are created (and their secrets reset), not by calls to the API;
    # a consent, not a role on a person: harmless to keep, never given back by revert.
    lifecycle=Lifecycle(needed="during-activation", what="the CIPP-SAM app's Graph application permissions"),
    remediation=Remediation(
        portal=(
            "Microsoft Entra admin center → Identity → Applications → App registrations → CIPP-SAM → "
            "API permissions → Add a permission → Microsoft Graph → Application permissions → "
            "Application.ReadWrite.All and Directory.ReadWrite.All → Add permissions; then "
            "Grant admin consent for the tenant."
        ),
        cli=(
            f"az ad app permission add --id <cipp-sam-app-id> --api {GRAPH} --api-permissions "
            f"{wellknown.GRAPH_APPLICATION_READWRITE_ALL}=Role {wellknown.GRAPH_DIRECTORY_READWRITE_ALL}=Role && "
            "az ad app permission admin-consent --id <cipp-sam-app-id>"
        ),
    ),
    docs=(
        "Since CIPP 7.4.0 the API clients are written by the CIPP-SAM app itself, with an app-only "
        "token: it creates each client's app registration, secret and service principal, and CIPP "
        "checks the app token's roles for both permissions first. CIPP 7.2-7.3 create clients as "
        "the CIPP-SAM user instead (sam-user-app-registration), so this check applies to 7.4+ "
        "only, and its fix is planned only when the evidence (--cipp-version, GetVersion, the "
        "tenant) shows 7.4+: these are tenant-wide high-privilege permissions. They are needed "
        "while API clients are created or their secrets reset, not for calls to the API. An "
        "app-only token carries only the application permissions that were consented, that is "
        "the app role assignments the CIPP-SAM service principal holds on Microsoft Graph's "
        "service principal — listing them in the manifest (requiredResourceAccess) is not "
        f"enough. Needed: Application.ReadWrite.All ({wellknown.GRAPH_APPLICATION_READWRITE_ALL}) "
        f"and Directory.ReadWrite.All ({wellknown.GRAPH_DIRECTORY_READWRITE_ALL}), type Role. "
        "Deployments whose SAM consent predates 7.4 often lack them. The app comes from --sam-app "
        "(app id), else the application named CIPP-SAM. Consented but absent from the manifest "
        "is a warning: the token works, but the portal does not show why."
    ),
    causes=with_remediations(_remediations.GRAPH_PERMISSIONS, (
        Cause("app-not-found", "No CIPP-SAM application: no app with the --sam-app id, or none named CIPP-SAM."),
        Cause("app-ambiguous", "Several applications are named CIPP-SAM; pass --sam-app with the right app id."),
        Cause(
            "permission-not-in-manifest",
            "The app's requiredResourceAccess lacks Application.ReadWrite.All or Directory.ReadWrite.All as application permissions.",
        ),
        Cause("consent-missing", "The permissions are requested but not consented: no app role assignment on Microsoft Graph."),
        Cause("graph-service-principal-missing", "Microsoft Graph's service principal does not exist in the tenant."),
    )),
)


def _names(role_ids: list[str]) -> str:
    return ", ".join(ROLES[r] for r in role_ids) or "none"


class SamAppGraphApplicationPermissions(FixableCheck):
    spec = SPEC
    fix_actions = frozenset({p.CREATE_SERVICE_PRINCIPAL, p.ADD_REQUIRED_APP_ROLES, p.CREATE_APP_ROLE_ASSIGNMENT})

    async def run(self, ctx: CheckContext) -> CheckResult:
        try:
            sam, graph_sp, consented_ids = await cur.sam_graph_app_roles(ctx)
        except lk.SamAppNotFound as exc:
            return self.failed("app-not-found", str(exc))
        except lk.SamAppAmbiguous as exc:
            listing = ", ".join(f"{a.app_id} (created as {a.display_name})" for a in exc.candidates)
            return self.errored(
                "app-ambiguous",
                f"{len(exc.candidates)} applications are named {wellknown.CIPP_SAM_APP_NAME}: pass --sam-app APP_ID.",
                evidence=(Evidence("applications named CIPP-SAM", listing, "exactly one", ("object-id",)),),
            )
        app, sam_sp = sam.app, sam.service_principal
        in_manifest = {
            e.id for r in app.required_resource_access if r.resource_app_id == GRAPH
            for e in r.entries if e.type == "Role"
        }
        required = list(ROLES)
        manifest_has = [r for r in required if r in in_manifest]
        manifest_missing = [r for r in required if r not in in_manifest]
        consented = [r for r in required if r in consented_ids]
        missing = [r for r in required if r not in consented_ids]
        facts = {
            "sam_app_id": app.app_id,
            "sam_app_object_id": app.id,
            "sam_sp_id": sam_sp.id if sam_sp else None,
            "graph_sp_id": graph_sp.id if graph_sp else None,
            "required_app_role_ids": required,
            "manifest_has": manifest_has,
            "manifest_missing": manifest_missing,
            "consented_app_role_ids": consented,
            "missing_app_role_ids": missing,
        }
        expected = "Application.ReadWrite.All, Directory.ReadWrite.All"
        if sam_sp is None:
            consent_found = "none: CIPP-SAM has no service principal in this tenant"
        else:
            consent_found = _names(consented)
        evidence = (
            Evidence(
                "CIPP-SAM application", f"{app.display_name} (app id {app.app_id}), found by {sam.found_by}",
                identifiers=("object-id",),
            ),
            Evidence("requiredResourceAccess: Microsoft Graph application permissions", _names(manifest_has), expected),
            Evidence("admin consent (app role assignments on Microsoft Graph)", consent_found, expected),
        )
        if graph_sp is None:
            return self.failed(
                "graph-service-principal-missing",
                "Microsoft Graph's service principal is missing from the tenant.",
                evidence=evidence, facts=facts,
            )
        if missing and manifest_missing:
            return self.failed(
                "permission-not-in-manifest",
                f"CIPP-SAM does not request {_names(manifest_missing)} as application permissions.",
                evidence=evidence, facts=facts,
                messages=(Message("hint", "Add them under API permissions → Application permissions, then grant admin consent."),),
            )
        if missing:
            return self.failed(
                "consent-missing",
                f"CIPP-SAM requests {_names(missing)} but they are not consented.",
                evidence=evidence, facts=facts,
                messages=(Message("hint", "Grant admin consent for the tenant on CIPP-SAM's API permissions page."),),
            )
        if manifest_missing:
            return self.warned(
                f"The permissions are consented, but CIPP-SAM's manifest does not list {_names(manifest_missing)}.",
                cause="permission-not-in-manifest", evidence=evidence, facts=facts,
            )
        return self.passed(
            "CIPP-SAM holds consented Application.ReadWrite.All and Directory.ReadWrite.All.",
            evidence=evidence, facts=facts,
        )

    def plan(self, result: CheckResult, ctx: CheckContext) -> FixPlan | None:
        return plan_graph_application_permissions(result, ctx)


# --- the fix ------------------------------------------------------------------------------

GRAPH_APPLICATION_PERMISSIONS: Mapping[str, str] = {
    wellknown.GRAPH_APPLICATION_READWRITE_ALL: "Application.ReadWrite.All",
    wellknown.GRAPH_DIRECTORY_READWRITE_ALL: "Directory.ReadWrite.All",
}


def plan_graph_application_permissions(result: CheckResult, ctx: CheckContext) -> FixPlan | None:
    if result.cause not in ("permission-not-in-manifest", "consent-missing"):
        return None  # no CIPP-SAM app (or several), no Graph service principal: not for a fix
    if ctx.inputs.profile != "clients-by-app":
        # Two tenant-wide high-privilege application permissions: consented only with
        # evidence that the instance is 7.4+ (7.2-7.3 never use them for clients).
        return None
    app_object_id = str(fact(result, "sam_app_object_id"))
    sam_app_id = str(fact(result, "sam_app_id"))
    sam_sp_id = result.facts.get("sam_sp_id")
    graph_sp_id = fact(result, "graph_sp_id")
    if not graph_sp_id:
        return None  # a tenant without Microsoft Graph's service principal is beyond this fix
    wanted = list(GRAPH_APPLICATION_PERMISSIONS)
    missing = [r for r in wanted if r in set(lower_ids(fact(result, "missing_app_role_ids")))]
    manifest_missing = result.facts.get("manifest_missing")
    manifest_needed = [r for r in wanted if r in set(lower_ids(manifest_missing))] if manifest_missing is not None else wanted
    cid = result.check_id
    app_label = f"CIPP-SAM application (appId {sam_app_id})"
    changes: list[PlannedChange] = []
    if not sam_sp_id:
        changes.append(create_service_principal(cid, sam_app_id, f"service principal for the {app_label}",
                                                step="sam-sp"))
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
            params={"application_object_id": app_object_id, "resource_app_id": wellknown.MICROSOFT_GRAPH_APP_ID,
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


"""sam-app-azure-management-consent: CIPP-SAM may call Azure Service Management as a user.

Facts its planner reads (plain values):
  sam_app_object_id        the CIPP-SAM application's object id (for the PATCH)
  sam_app_id               its appId
  sam_sp_id                its service principal's object id, or None (missing)
  asm_sp_id                Azure Service Management's service principal, or None (missing)
  manifest_has_permission  optional (bool); otherwise read from the cause (manifest problems
                           are reported before the others)
  grants                   optional: [{"id", "consentType", "principalId", "scope"}] from
                           CIPP-SAM to Azure Service Management (otherwise the applier finds an
                           existing grant and extends it)
"""

from __future__ import annotations

from typing import Any, Mapping

from cipp_setup import wellknown
from cipp_setup.engine import plan as p
from cipp_setup.engine.context import CheckContext
from cipp_setup.engine.model import (
    Cause,
    CheckResult,
    CheckSpec,
    Evidence,
    FixableCheck,
    Message,
    Lifecycle,
    Remediation,
    Severity,
    with_remediations,
)
from cipp_setup.engine.plan import FixPlan, PlannedChange
from cipp_setup.engine.planning import (
    ROLES_FOR_APPLICATIONS,
    ROLES_FOR_CONSENT,
    create_service_principal,
    fact,
)
from cipp_setup.engine.writes import GRAPH_APP_WRITE, GRAPH_GRANT_WRITE
from cipp_setup.gateways.errors import NotFound

from . import _lookups as lk
from . import _remediations

ASM = wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID
USER_IMPERSONATION = wellknown.AZURE_SERVICE_MANAGEMENT_USER_IMPERSONATION

SPEC = CheckSpec(
    id="sam-app-azure-management-consent",
    title="The CIPP-SAM app has consented delegated access to Azure Service Management",
    severity=Severity.CRITICAL,
    required=True,
    generations=frozenset({"legacy"}),
    services=frozenset({"graph"}),
    # Legacy CIPP asks for an ARM token with it only while activating. Harmless to keep (a
    # delegated permission of CIPP's own app, not a role), and revert keeps it.
    lifecycle=Lifecycle(needed="during-activation", what="the Azure Service Management consent"),
    remediation=Remediation(
        portal=(
            "Microsoft Entra admin center → Identity → Applications → App registrations → CIPP-SAM → "
            "API permissions → Add a permission → Azure Service Management → Delegated permissions → "
            "user_impersonation → Add; then Grant admin consent for the tenant."
        ),
        cli=(
            f"az ad app permission add --id <cipp-sam-app-id> --api {ASM} "
            f"--api-permissions {USER_IMPERSONATION}=Scope && "
            f"az ad app permission grant --id <cipp-sam-app-id> --api {ASM} --scope user_impersonation"
        ),
    ),
    docs=(
        "Legacy CIPP reads and writes the Function App's authentication settings through Azure "
        "Resource Manager with the CIPP-SAM user's refresh token. That needs the delegated "
        f"permission Azure Service Management ({ASM}) / user_impersonation ({USER_IMPERSONATION}, "
        "type Scope) in the CIPP-SAM app's requiredResourceAccess, the Azure Service Management "
        "service principal in the tenant, and an oauth2PermissionGrant from the CIPP-SAM service "
        "principal to it that includes user_impersonation, for all principals or for the CIPP-SAM "
        "user. The app comes from --sam-app (app id), else the application named CIPP-SAM. "
        "Needed during activation only: once ListLogs answers, a missing consent reads 'not "
        "needed any more'; one in place is harmless to keep (cipp-setup revert keeps it)."
    ),
    causes=with_remediations(_remediations.SAM_CONSENT, (
        Cause("app-not-found", "No CIPP-SAM application: no app with the --sam-app id, or none named CIPP-SAM."),
        Cause("app-ambiguous", "Several applications are named CIPP-SAM; pass --sam-app with the right app id."),
        Cause(
            "permission-not-in-manifest",
            "The app's requiredResourceAccess lacks Azure Service Management / user_impersonation.",
        ),
        Cause(
            "permission-wrong-type",
            "user_impersonation is listed as an application permission (Role); it must be delegated (Scope).",
        ),
        Cause(
            "azure-management-service-principal-missing",
            "The Azure Service Management service principal does not exist in the tenant.",
        ),
        Cause("consent-missing", "No admin consent grants user_impersonation on Azure Service Management to CIPP-SAM."),
    )),
)


class SamAppAzureManagementConsent(FixableCheck):
    spec = SPEC
    fix_actions = frozenset({p.CREATE_SERVICE_PRINCIPAL, p.ADD_REQUIRED_RESOURCE_ACCESS, p.EXTEND_OAUTH2_PERMISSION_GRANT, p.CREATE_OAUTH2_PERMISSION_GRANT})

    async def run(self, ctx: CheckContext) -> CheckResult:
        app_r, asm_r, user_r = await lk.settle(lk.sam_app(ctx), lk.azure_management_sp(ctx), lk.sam_user(ctx))
        if isinstance(app_r, lk.SamAppNotFound):
            return self.failed("app-not-found", str(app_r))
        if isinstance(app_r, lk.SamAppAmbiguous):
            listing = ", ".join(f"{a.app_id} (created as {a.display_name})" for a in app_r.candidates)
            return self.errored(
                "app-ambiguous",
                f"{len(app_r.candidates)} applications are named {wellknown.CIPP_SAM_APP_NAME}: pass --sam-app APP_ID.",
                evidence=(Evidence("applications named CIPP-SAM", listing, "exactly one", ("object-id",)),),
            )
        lk.reraise_unexpected(app_r)
        lk.reraise_unexpected(asm_r)
        # The user only widens which grants count: an unknown or undecided one counts none.
        lk.reraise_unexpected(user_r, NotFound, lk.SamUserUnknown, lk.SamUserAmbiguous)
        app = app_r.app
        sam_sp = app_r.service_principal
        asm_sp = asm_r
        user = None if isinstance(user_r, BaseException) else user_r.user

        grants = await lk.graph(ctx).grants_for_client(sam_sp.id) if sam_sp is not None else []

        app_ev = Evidence(
            "CIPP-SAM application", f"{app.display_name} (app id {app.app_id}), found by {app_r.found_by}",
            identifiers=("object-id",),
        )
        entries = [
            e for r in app.required_resource_access if r.resource_app_id == ASM for e in r.entries
            if e.id == USER_IMPERSONATION
        ]
        manifest_found = ", ".join(f"user_impersonation ({e.type})" for e in entries) or "absent"
        manifest_ev = Evidence(
            "requiredResourceAccess: Azure Service Management", manifest_found, "user_impersonation (Scope)"
        )
        asm_ev = Evidence(
            "Azure Service Management service principal",
            f"present ({asm_sp.id})" if asm_sp else "absent", "present", ("object-id",),
        )
        matching = [
            gr for gr in grants
            if asm_sp is not None and gr.resource_id == asm_sp.id and "user_impersonation" in gr.scopes
            and (gr.consent_type == "AllPrincipals" or (user is not None and gr.principal_id == user.id))
        ]
        if matching:
            grant_found = ", ".join(
                "all principals" if gr.consent_type == "AllPrincipals" else "the CIPP-SAM user" for gr in matching
            )
        elif sam_sp is None:
            grant_found = "none: CIPP-SAM has no service principal in this tenant"
        else:
            grant_found = "none"
        grant_ev = Evidence(
            "consent (oauth2PermissionGrant) for user_impersonation", grant_found,
            "all principals, or the CIPP-SAM user",
        )
        evidence = (app_ev, manifest_ev, asm_ev, grant_ev)
        facts = {"sam_app_id": app.app_id, "sam_app_object_id": app.id,
                 "sam_sp_id": sam_sp.id if sam_sp else None, "asm_sp_id": asm_sp.id if asm_sp else None}
        notes: tuple[Message, ...] = ()
        if user is None:
            notes = (Message("info", "The CIPP-SAM user could not be resolved: only a consent for all principals counts."),)

        if not entries:
            return self.failed(
                "permission-not-in-manifest",
                "CIPP-SAM does not request Azure Service Management / user_impersonation.",
                evidence=evidence, facts=facts, messages=notes,
            )
        if not any(e.type == "Scope" for e in entries):
            return self.failed(
                "permission-wrong-type",
                "CIPP-SAM lists user_impersonation as an application permission; it must be delegated.",
                evidence=evidence, facts=facts, messages=notes,
            )
        if asm_sp is None:
            return self.failed(
                "azure-management-service-principal-missing",
                "The Azure Service Management service principal is missing from the tenant.",
                evidence=evidence, facts=facts, messages=notes,
            )
        if not matching:
            return self.failed(
                "consent-missing",
                "Azure Service Management / user_impersonation is requested but not consented.",
                evidence=evidence, facts=facts, messages=notes,
            )
        return self.passed(
            "CIPP-SAM has consented delegated access to Azure Service Management.",
            evidence=evidence, facts=facts, messages=notes,
        )

    def plan(self, result: CheckResult, ctx: CheckContext) -> FixPlan | None:
        return plan_azure_management_consent(result, ctx)


# --- the fix ------------------------------------------------------------------------------

def plan_azure_management_consent(result: CheckResult, ctx: CheckContext) -> FixPlan | None:
    fixable = ("permission-not-in-manifest", "permission-wrong-type", "consent-missing",
               "azure-management-service-principal-missing")
    if result.cause not in fixable:
        return None
    app_object_id = str(fact(result, "sam_app_object_id"))
    sam_app_id = str(fact(result, "sam_app_id"))
    sam_sp_id = result.facts.get("sam_sp_id")
    asm_sp_id = result.facts.get("asm_sp_id")
    manifest_ok = bool(result.facts.get(
        "manifest_has_permission",
        result.cause not in ("permission-not-in-manifest", "permission-wrong-type"),
    ))
    grants = [g for g in result.facts.get("grants", []) or [] if isinstance(g, Mapping)]
    changes: list[PlannedChange] = []
    cid = result.check_id
    app_label = f"CIPP-SAM application (appId {sam_app_id})"

    if not sam_sp_id:
        changes.append(create_service_principal(cid, sam_app_id, f"service principal for the {app_label}",
                                                step="sam-sp"))
    if not asm_sp_id:
        changes.append(create_service_principal(
            cid, wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID,
            f"Azure Service Management (appId {wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID})",
            before="the tenant has no Azure Service Management service principal",
            after="service principal created (a first-party Microsoft application)",
            reversible=False, step="asm-sp",
        ))
    if not manifest_ok:
        changes.append(PlannedChange(
            check_id=cid, action=p.ADD_REQUIRED_RESOURCE_ACCESS,
            api="Microsoft Graph PATCH /applications/{id} (requiredResourceAccess)",
            target=app_label,
            before="no delegated Azure Service Management / user_impersonation",
            after="adds Azure Service Management / user_impersonation (Scope); every existing entry kept",
            admin_role_needed=ROLES_FOR_APPLICATIONS, grants_privilege=False, reversible=True,
            params={"application_object_id": app_object_id,
                    "resource_app_id": wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID,
                    "permission_id": wellknown.AZURE_SERVICE_MANAGEMENT_USER_IMPERSONATION},
            permission=GRAPH_APP_WRITE,
            notes=("A manifest entry alone grants nothing; the consent below does.",),
        ))
    # Consent: extend the tenant-wide grant if there is one, never add a second.
    all_principals = next((g for g in grants if g.get("consentType") == "AllPrincipals"), None)
    has_scope = all_principals is not None and "user_impersonation" in str(all_principals.get("scope", "")).split()
    if not has_scope:
        inputs_from: dict[str, str] = {}
        if not sam_sp_id:
            inputs_from["client_id"] = "sam-sp"
        if not asm_sp_id:
            inputs_from["resource_id"] = "asm-sp"
        params = {"client_id": sam_sp_id, "resource_id": asm_sp_id, "consent_type": "AllPrincipals",
                  "add_scope": "user_impersonation"}
        if all_principals is not None:
            before_scope = str(all_principals.get("scope", "")).strip()
            changes.append(PlannedChange(
                check_id=cid, action=p.EXTEND_OAUTH2_PERMISSION_GRANT,
                api="Microsoft Graph PATCH /oauth2PermissionGrants/{id}",
                target=f"admin consent of the {app_label} to Azure Service Management",
                before=f"scope '{before_scope}'", after=f"scope '{(before_scope + ' user_impersonation').strip()}'",
                admin_role_needed=ROLES_FOR_CONSENT, grants_privilege=True, reversible=True,
                params=params, permission=GRAPH_GRANT_WRITE, inputs_from=inputs_from,
            ))
        else:
            changes.append(PlannedChange(
                check_id=cid, action=p.CREATE_OAUTH2_PERMISSION_GRANT,
                api="Microsoft Graph POST /oauth2PermissionGrants",
                target=f"admin consent of the {app_label} to Azure Service Management",
                before="no consent", after="consent for all users, scope 'user_impersonation'",
                admin_role_needed=ROLES_FOR_CONSENT, grants_privilege=True, reversible=True,
                params=params, permission=GRAPH_GRANT_WRITE, inputs_from=inputs_from,
                notes=("Lets CIPP-SAM call Azure Resource Manager as its signed-in user.",),
            ))
    if not changes:
        return None
    return FixPlan(cid, "Give the CIPP-SAM application consented access to Azure Service Management",
                   result.cause, tuple(changes))


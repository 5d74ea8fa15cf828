"""sam-app-azure-management-consent: CIPP-SAM may call Azure Service Management as a user."""

from __future__ import annotations

from cipp_setup import wellknown
from cipp_setup.engine.context import CheckContext
from cipp_setup.engine.model import (
    Cause,
    Check,
    CheckResult,
    CheckSpec,
    Evidence,
    Message,
    Remediation,
    Severity,
    with_remediations,
)
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
    fixable=True,  # a planner in cipp_setup/engine/fixes*.py
    services=frozenset({"graph"}),
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
        "user. The app comes from --sam-app (app id), else the application named CIPP-SAM."
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


class SamAppAzureManagementConsent(Check):
    spec = SPEC

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
        lk.reraise_unexpected(user_r, NotFound, lk.SamUserUnknown)
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

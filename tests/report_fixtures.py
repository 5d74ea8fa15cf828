"""Fixed results for the report tests: every status, identifiers of every kind, and
secrets where a careless renderer would copy them (a message, an evidence value)."""

from __future__ import annotations

from cipp_setup.engine.model import (
    Cause,
    CheckResult,
    CheckSpec,
    Evidence,
    Message,
    Remediation,
    Severity,
    Status,
)
from cipp_setup.render.json_report import RunError
from cipp_setup.render.report_data import ReportData

CANARY_SECRET = "xY38Q~canary.Secret-Value_That-Never~Lk"  # shaped like an Entra ID secret
CANARY_JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJjYW5hcnkiLCJ0aWQiOiJjYW5hcnkifQ."
    "c2lnbmF0dXJlLWNhbmFyeS12YWx1ZS10aGF0LW11c3QtbmV2ZXItbGVhaw"
)
TENANT_ID = "11111111-2222-3333-4444-555555555555"
USER_ID = "aaaaaaaa-0000-4000-8000-000000000001"
SUBSCRIPTION_ID = "cccccccc-0000-4000-8000-000000000003"
SAM_UPN = "cipp-sam@contoso.onmicrosoft.com"
ADMIN_UPN = "admin@contoso.onmicrosoft.com"
GLOBAL_ADMIN_TEMPLATE = "62e90394-69f5-4237-9190-012177145e10"  # the same in every tenant


def _spec(check_id: str, title: str, *, required: bool = True, depends_on: tuple[str, ...] = (),
          causes: tuple[Cause, ...] = ()) -> CheckSpec:
    return CheckSpec(
        id=check_id, title=title, severity=Severity.HIGH if required else Severity.LOW,
        required=required,
        remediation=Remediation(portal=f"Entra admin center → {title}", cli=f"az something --for {check_id} | jq"),
        docs=f"{title}.\n\nWhy it matters: CIPP needs it <always>.", causes=causes, depends_on=depends_on,
    )


SPECS = {
    s.id: s
    for s in (
        _spec("sam-user-global-admin", "The CIPP-SAM user holds an active Global Administrator role",
              causes=(Cause("not-global-admin", "The user holds no Global Administrator role."),)),
        _spec("sam-app-azure-management-consent", "The CIPP-SAM app has consented Azure Service Management access",
              causes=(Cause("consent-missing", "The permission is in the manifest but not consented."),)),
        _spec("sam-user-subscription-contributor", "The CIPP-SAM user is Contributor on the subscription",
              depends_on=("sam-user-global-admin",),
              causes=(Cause("no-contributor", "No Contributor or Owner role on the subscription."),)),
        _spec("api-token", "A token for the CIPP API is issued to the API client",
              causes=(Cause("invalid-secret", "The secret is wrong."),)),
        _spec("api-list-logs", "The CIPP API answers ListLogs", depends_on=("api-token",)),
        _spec("optional-note", "An optional check", required=False),
    )
}
REQUIRED = frozenset(s.id for s in SPECS.values() if s.required)

RESULTS = (
    # Listed before the check it depends on, to prove the action plan orders by dependency.
    CheckResult(
        "sam-user-subscription-contributor", Status.FAIL,
        f"{SAM_UPN} has no Contributor or Owner role on Contoso CIPP.",
        cause="no-contributor",
        evidence=(
            Evidence("CIPP-SAM user", f"{SAM_UPN} ({USER_ID})", identifiers=("upn", "object-id")),
            Evidence("subscription", f"Contoso CIPP ({SUBSCRIPTION_ID})", identifiers=("object-id",)),
            Evidence("scope", f"/subscriptions/{SUBSCRIPTION_ID}", "Contributor | Owner"),
        ),
        duration_ms=45.0,
    ),
    CheckResult(
        "sam-user-global-admin", Status.FAIL, f"{SAM_UPN} is not a Global Administrator.",
        cause="not-global-admin", fix_available=True,
        evidence=(
            Evidence("CIPP-SAM user", f"{SAM_UPN} ({USER_ID})", identifiers=("upn", "object-id")),
            Evidence("role template", GLOBAL_ADMIN_TEMPLATE, "active assignment"),
        ),
        facts={"user_id": USER_ID},
        duration_ms=120.4,
    ),
    CheckResult(
        "sam-app-azure-management-consent", Status.PASS,
        "user_impersonation is consented for all principals.", duration_ms=88.0,
    ),
    CheckResult(
        "api-token", Status.ERROR, "The identity platform refused the secret (AADSTS7000215).",
        cause="invalid-secret",
        evidence=(Evidence("tid", TENANT_ID, identifiers=("tenant",)),),
        messages=(
            Message("error", f"Response echoed Authorization: Bearer {CANARY_JWT}"),
            Message("hint", f"The secret {CANARY_SECRET} was refused; copy the value, not the id.",
                    "https://learn.microsoft.com/entra/identity-platform/reference-error-codes"),
        ),
        duration_ms=12.3,
    ),
    CheckResult("api-list-logs", Status.SKIP, "Skipped: depends on api-token, which did not pass."),
    CheckResult(
        "optional-note", Status.WARN, "Demoted: *not* <fatal> | fine_ish.",
        messages=(Message("info", "This failure was demoted to a warning by --ignore."),),
        ignored=True, duration_ms=1.0,
    ),
)

CHANGES = (
    {
        "check_id": "sam-user-global-admin", "action": "create-directory-role-assignment",
        "status": "applied", "target": f"Global Administrator for {SAM_UPN} ({USER_ID})",
        "api": "Microsoft Graph POST /roleManagement/directory/roleAssignments",
        "before": "none", "after": "active", "admin_role_needed": "Privileged Role Administrator",
        "grants_privilege": True, "reversible": True, "detail": None, "cause": None,
        "object_id": "dddddddd-0000-4000-8000-000000000004",
    },
)


def report_data(**overrides: object) -> ReportData:
    values: dict[str, object] = {
        "command": "check", "exit_code": 1, "results": RESULTS, "specs": SPECS, "required": REQUIRED,
        "tenant_id": TENANT_ID, "generation": "legacy", "signed_in": ADMIN_UPN, "cloud": "public",
        "generation_evidence": ("--generation legacy was given.",),
        "generated_at": "2026-01-02T03:04:05Z",
    }
    values.update(overrides)
    return ReportData(**values)  # type: ignore[arg-type]


def fix_report_data() -> ReportData:
    return report_data(command="fix", changes=CHANGES, journal="/state/cipp-setup/journal.jsonl")


def error_report_data() -> ReportData:
    return report_data(
        exit_code=4, results=(), required=frozenset(), signed_in=None,
        error=RunError("sign-in-required", "sign-in required: run cipp-setup login"),
    )

"""Fixes: a pure planner per fixable check, idempotent appliers, and re-verification.

`plan_fixes(results, ctx)` turns failing check results into `FixPlan`s using only the
results' `facts` and the run's context: no service is called while planning, so a plan
can be shown (--dry-run, the wizard) before anything — not even a write token — is asked
for. `apply_plan(plan, runtime)` executes a plan through a `TenantWrites` gateway:

- every write is journaled before and after (`cipp_setup.engine.journal`);
- every applier reads the live state first and writes only what is missing, and an
  "already exists" answer (ARM 409 `RoleAssignmentExists`, the Graph conflicts) counts
  as success with status `already-present` — applying twice changes nothing;
- requiredResourceAccess edits keep every existing entry; a delegated grant is extended
  rather than duplicated; ARM role assignments carry `principalType`;
- a write that answers `PrincipalNotFound` (a principal still replicating) is retried
  with backoff until a deadline (429/503 are retried by the gateways, Retry-After);
- when a change fails, the rest of that plan is skipped and the outcome lists what was
  applied and what was not; because appliers are idempotent, a re-run converges;
- afterwards the check is re-run until it passes or the deadline passes (Entra ID and
  ARM replicate late), reporting progress ("waiting for Entra ID to replicate… 3/12").

Time is injected (`clock`, `sleep`) so tests never wait.

The facts each planner reads from its check's result are listed in `FACTS` below; the
checks publish them.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from typing import Any, Awaitable, Callable, Iterable, Mapping, Protocol, Sequence

from cipp_setup import wellknown as wk
from cipp_setup.engine import plan as p
from cipp_setup.engine.context import CheckContext
from cipp_setup.engine.journal import ALREADY_PRESENT, APPLIED, FAILED, Journal
from cipp_setup.engine.model import CheckResult, Status
from cipp_setup.engine.plan import (
    ChangeOutcome,
    ChangeStatus,
    FixPlan,
    PlannedChange,
    PlanOutcome,
)

SAM_USER_GLOBAL_ADMIN = "sam-user-global-admin"
SAM_APP_AZURE_MANAGEMENT_CONSENT = "sam-app-azure-management-consent"
SAM_USER_SUBSCRIPTION_CONTRIBUTOR = "sam-user-subscription-contributor"

# The facts a check result must carry for its planner (`CheckResult.facts`; plain values).
FACTS: Mapping[str, tuple[str, ...]] = {
    SAM_USER_GLOBAL_ADMIN: (
        "sam_user_id",  # object id of the CIPP-SAM user
        # optional: "sam_user_upn" (for display)
    ),
    SAM_APP_AZURE_MANAGEMENT_CONSENT: (
        "sam_app_object_id",  # the CIPP-SAM application's object id (for PATCH)
        "sam_app_id",  # its appId
        "sam_sp_id",  # the CIPP-SAM service principal's object id (None: missing)
        "asm_sp_id",  # the Azure Service Management service principal (None: missing)
        # optional: "manifest_has_permission" (bool; otherwise read from the cause: the
        # check reports manifest problems before the others), "grants":
        # [{"id", "consentType", "principalId", "scope"}] from CIPP-SAM to Azure Service
        # Management (otherwise the applier finds an existing grant and extends it).
    ),
    SAM_USER_SUBSCRIPTION_CONTRIBUTOR: (
        "sam_user_id",
        "subscription_id",
        # optional: "sam_user_upn" (else taken from another check or --sam-user),
        # "subscription_name"
    ),
}

# Delegated permissions a write is made with. The sign-in asks for these only when a fix
# is about to be applied; `check` never holds them.
GRAPH_ROLE_WRITE = "RoleManagement.ReadWrite.Directory"
GRAPH_APP_WRITE = "Application.ReadWrite.All"
GRAPH_GRANT_WRITE = "DelegatedPermissionGrant.ReadWrite.All"
GRAPH_APP_ROLE_ASSIGNMENT_WRITE = "AppRoleAssignment.ReadWrite.All"
ARM_USER_IMPERSONATION = "user_impersonation"
WRITE_GRAPH_PERMISSIONS: tuple[str, ...] = (
    GRAPH_ROLE_WRITE, GRAPH_APP_WRITE, GRAPH_GRANT_WRITE, GRAPH_APP_ROLE_ASSIGNMENT_WRITE,
)

ROLES_FOR_DIRECTORY_ROLE_ASSIGNMENT = "Privileged Role Administrator or Global Administrator"
ROLES_FOR_APPLICATIONS = "Application Administrator, Cloud Application Administrator or Global Administrator"
ROLES_FOR_CONSENT = (
    "Cloud Application Administrator, Application Administrator, Privileged Role "
    "Administrator or Global Administrator"
)
ROLES_FOR_ARM_ASSIGNMENT = "Owner or User Access Administrator on the subscription"
ROLE_FOR_SELF_ACTIVATION = "an active PIM eligibility for the role (the CIPP-SAM user's own)"

DEFAULT_ACTIVATION_DURATION = "PT1H"  # ISO 8601; the tenant's PIM policy may cap it lower
ACTIVATION_JUSTIFICATION = "Enable the CIPP API (cipp-setup)"


# --- The gateway the appliers write through -------------------------------------------


class WriteRefused(Exception):
    """A write the service did not carry out, classified by status and error code.

    `cause`: ``permission-denied`` (403), ``already-exists`` (409 RoleAssignmentExists,
    Graph's conflicting-object answer), ``principal-not-found`` (a principal or object
    not yet replicated: ARM PrincipalNotFound, Graph 404 on a just-created reference),
    ``not-found``, ``throttled``, ``service-unavailable``, ``network``, ``bad-request``,
    ``sign-in-required``. `message` is one line; it never contains a token.
    """

    def __init__(
        self,
        cause: str,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.cause = cause
        self.message = message
        self.status = status
        self.code = code
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Grant:
    """An oauth2PermissionGrant as plain values."""

    id: str
    client_id: str
    resource_id: str
    consent_type: str  # "AllPrincipals" or "Principal"
    principal_id: str | None
    scope: str

    def scopes(self) -> list[str]:
        return [s for s in self.scope.split(" ") if s]


class TenantWrites(Protocol):
    """Writes (and the reads an idempotent write needs) against Graph and ARM.

    Implemented by `cipp_setup.gateways.graph_writes` + `arm_writes` (combined in
    `cipp_setup.gateways.writes`); tests may pass any object with these methods. Every
    method raises `WriteRefused` for an answer it cannot turn into a result.
    """

    # directory roles
    async def find_directory_role_assignment(
        self, principal_id: str, role_definition_id: str, directory_scope_id: str
    ) -> str | None: ...
    async def create_directory_role_assignment(
        self, principal_id: str, role_definition_id: str, directory_scope_id: str
    ) -> str: ...
    async def delete_directory_role_assignment(self, assignment_id: str) -> bool: ...
    async def directory_role_assignment_exists(self, assignment_id: str) -> bool: ...
    async def request_role_self_activation(
        self, principal_id: str, role_definition_id: str, directory_scope_id: str,
        justification: str, duration: str,
    ) -> str: ...

    # applications, service principals, consent
    async def find_service_principal(self, app_id: str) -> str | None: ...
    async def create_service_principal(self, app_id: str) -> str: ...
    async def get_required_resource_access(self, application_object_id: str) -> list[dict[str, Any]]: ...
    async def set_required_resource_access(
        self, application_object_id: str, required_resource_access: list[dict[str, Any]]
    ) -> None: ...
    async def list_oauth2_permission_grants(self, client_id: str, resource_id: str) -> list[Grant]: ...
    async def create_oauth2_permission_grant(
        self, client_id: str, resource_id: str, consent_type: str, scope: str,
        principal_id: str | None,
    ) -> str: ...
    async def update_oauth2_permission_grant_scope(self, grant_id: str, scope: str) -> None: ...

    # Azure RBAC
    async def create_arm_role_assignment(
        self, scope: str, role_definition_id: str, principal_id: str, principal_type: str
    ) -> str: ...
    async def delete_arm_role_assignment(self, assignment_id: str) -> bool: ...
    async def arm_role_assignment_exists(self, assignment_id: str) -> bool: ...


# --- Time, progress, re-verification --------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """A wait the admin should see: "waiting for Entra ID to replicate… 3/12"."""

    check_id: str
    service: str  # "Entra ID" or "Azure Resource Manager"
    attempt: int
    of: int

    @property
    def text(self) -> str:
        return f"waiting for {self.service} to replicate… {self.attempt}/{self.of}"


@dataclass(frozen=True)
class WaitPolicy:
    """Backoff with a deadline, for replication and for transient service answers."""

    attempts: int = 12
    first_delay_s: float = 2.0
    factor: float = 1.6
    max_delay_s: float = 20.0
    deadline_s: float = 180.0

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number `attempt` (1-based)."""
        return min(self.max_delay_s, self.first_delay_s * self.factor ** (attempt - 1))


async def _real_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


Verifier = Callable[[str], Awaitable[CheckResult]]


@dataclass
class FixRuntime:
    """What applying needs: the write gateway, the journal, a way to re-run a check."""

    writes: TenantWrites
    journal: Journal
    tenant_id: str
    verify: Verifier
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = _real_sleep
    on_progress: Callable[[Progress], None] | None = None
    wait: WaitPolicy = field(default_factory=WaitPolicy)
    # Receives a client secret a fix created (fixes_current.NewSecret) so the front end
    # can show it once; None: nobody can be shown one, so no secret is created.
    on_new_secret: Callable[[Any], None] | None = None

    def progress(self, event: Progress) -> None:
        if self.on_progress is not None:
            self.on_progress(event)


# --- Planning ----------------------------------------------------------------------------


class PlanningError(ValueError):
    """A failing result lacks a fact its planner needs (a check/planner contract bug)."""


def _fact(result: CheckResult, key: str) -> Any:
    if key not in result.facts:
        raise PlanningError(f"check {result.check_id} result has no fact {key!r}; cannot plan its fix")
    return result.facts[key]


def _user_label(result: CheckResult, ctx: CheckContext | None = None) -> str:
    """"CIPP-SAM user name@domain": the UPN from this result, another check's, or --sam-user."""
    user_id = str(result.facts.get("sam_user_id", ""))
    upn = result.facts.get("sam_user_upn")
    if not upn and ctx is not None:
        upn = next((r.facts.get("sam_user_upn") for r in ctx.results.values()
                    if r.facts.get("sam_user_upn") and str(r.facts.get("sam_user_id", "")) == user_id), None)
        if not upn and ctx.inputs.sam_user and "@" in ctx.inputs.sam_user:
            upn = ctx.inputs.sam_user
    return f"CIPP-SAM user {upn}" if upn else f"CIPP-SAM user {user_id}"


def _admin_is(ctx: CheckContext, object_id: str) -> bool:
    admin = ctx.admin
    return admin is not None and admin.kind == "user" and admin.object_id.lower() == object_id.lower()


def plan_global_admin(result: CheckResult, ctx: CheckContext) -> FixPlan | None:
    if result.cause not in ("not-global-admin", "global-admin-eligible-only"):
        return None  # disabled or missing user: nothing this tool should create
    user_id = str(_fact(result, "sam_user_id"))
    who = _user_label(result, ctx)
    scope = "/"
    if result.cause == "global-admin-eligible-only":
        params = {
            "principal_id": user_id, "role_definition_id": wk.GLOBAL_ADMINISTRATOR,
            "directory_scope_id": scope, "duration": DEFAULT_ACTIVATION_DURATION,
            "justification": ACTIVATION_JUSTIFICATION,
        }
        change = PlannedChange(
            check_id=result.check_id, action=p.ACTIVATE_PIM_ROLE,
            api="Microsoft Graph POST /roleManagement/directory/roleAssignmentScheduleRequests (selfActivate)",
            target=f"{who}: Global Administrator eligibility at /",
            before="Global Administrator eligible (PIM), not active",
            after=f"Global Administrator active for {DEFAULT_ACTIVATION_DURATION[2:].lower()} (self-activation)",
            admin_role_needed=ROLE_FOR_SELF_ACTIVATION,
            grants_privilege=True, reversible=False, params=params, permission=GRAPH_ROLE_WRITE,
            notes=(
                "The activation expires by itself; cipp-setup revert does not touch it.",
                "Your tenant's PIM policy may also ask for MFA, a ticket number or approval.",
            ),
        )
        if _admin_is(ctx, user_id):
            return FixPlan(result.check_id, "Activate the CIPP-SAM user's eligible Global Administrator role",
                           result.cause, (change,))
        explanation = (
            f"Global Administrator is only eligible (PIM) for the {who}, and only that user can "
            f"activate it. Sign in as that user and activate it: Entra admin center → Identity "
            f"governance → Privileged Identity Management → My roles → Eligible assignments → "
            f"Global Administrator → Activate (or run cipp-setup fix signed in as that user). "
            f"A Privileged Role Administrator may instead make the assignment active in PIM → "
            f"Roles → Global Administrator → Eligible assignments → Update."
        )
        return FixPlan(result.check_id, "Activate the CIPP-SAM user's eligible Global Administrator role",
                       result.cause, (change,), applicable=False, explanation=explanation)
    change = PlannedChange(
        check_id=result.check_id, action=p.CREATE_DIRECTORY_ROLE_ASSIGNMENT,
        api="Microsoft Graph POST /roleManagement/directory/roleAssignments",
        target=f"{who}: Global Administrator at directory scope /",
        before="no active Global Administrator assignment",
        after="Global Administrator (62e90394-…) assigned at /",
        admin_role_needed=ROLES_FOR_DIRECTORY_ROLE_ASSIGNMENT,
        grants_privilege=True, reversible=True,
        params={"principal_id": user_id, "role_definition_id": wk.GLOBAL_ADMINISTRATOR,
                "directory_scope_id": scope},
        permission=GRAPH_ROLE_WRITE,
        notes=("Temporary elevation: cipp-setup revert removes it once the API answers.",),
    )
    return FixPlan(result.check_id, "Make the CIPP-SAM user a Global Administrator", result.cause, (change,))


def _has_user_impersonation(entry: Mapping[str, Any]) -> bool:
    return any(
        str(a.get("id", "")).lower() == wk.AZURE_SERVICE_MANAGEMENT_USER_IMPERSONATION
        and a.get("type") == "Scope"
        for a in entry.get("resourceAccess", []) or []
    )


def plan_azure_management_consent(result: CheckResult, ctx: CheckContext) -> FixPlan | None:
    fixable = ("permission-not-in-manifest", "permission-wrong-type", "consent-missing",
               "azure-management-service-principal-missing")
    if result.cause not in fixable:
        return None
    app_object_id = str(_fact(result, "sam_app_object_id"))
    sam_app_id = str(_fact(result, "sam_app_id"))
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
        changes.append(PlannedChange(
            check_id=cid, action=p.CREATE_SERVICE_PRINCIPAL,
            api="Microsoft Graph POST /servicePrincipals", target=f"service principal for the {app_label}",
            before="no service principal in this tenant", after="service principal created",
            admin_role_needed=ROLES_FOR_APPLICATIONS, grants_privilege=False, reversible=True,
            params={"app_id": sam_app_id}, permission=GRAPH_APP_WRITE, step="sam-sp",
        ))
    if not asm_sp_id:
        changes.append(PlannedChange(
            check_id=cid, action=p.CREATE_SERVICE_PRINCIPAL,
            api="Microsoft Graph POST /servicePrincipals",
            target=f"Azure Service Management (appId {wk.AZURE_SERVICE_MANAGEMENT_APP_ID})",
            before="the tenant has no Azure Service Management service principal",
            after="service principal created (a first-party Microsoft application)",
            admin_role_needed=ROLES_FOR_APPLICATIONS, grants_privilege=False, reversible=False,
            params={"app_id": wk.AZURE_SERVICE_MANAGEMENT_APP_ID}, permission=GRAPH_APP_WRITE,
            step="asm-sp",
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
                    "resource_app_id": wk.AZURE_SERVICE_MANAGEMENT_APP_ID,
                    "permission_id": wk.AZURE_SERVICE_MANAGEMENT_USER_IMPERSONATION},
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


def plan_subscription_contributor(result: CheckResult, ctx: CheckContext) -> FixPlan | None:
    if result.cause not in ("no-contributor", "contributor-eligible-only"):
        return None
    user_id = str(_fact(result, "sam_user_id"))
    subscription_id = str(_fact(result, "subscription_id"))
    sub_name = result.facts.get("subscription_name")
    sub_label = f"subscription {sub_name} ({subscription_id})" if sub_name else f"subscription {subscription_id}"
    who = _user_label(result, ctx)
    arm_scope = f"/subscriptions/{subscription_id}"
    change = PlannedChange(
        check_id=result.check_id, action=p.CREATE_ARM_ROLE_ASSIGNMENT,
        api="Azure Resource Manager PUT /subscriptions/{id}/providers/Microsoft.Authorization/roleAssignments/{new id}",
        target=f"{who} on {sub_label}",
        before="no Contributor or Owner at or above the subscription",
        after="Contributor (b24988ac-…) assigned at the subscription, principalType User",
        admin_role_needed=ROLES_FOR_ARM_ASSIGNMENT, grants_privilege=True, reversible=True,
        params={"arm_scope": arm_scope, "role_definition_id": wk.CONTRIBUTOR, "principal_id": user_id,
                "principal_type": "User", "subscription_id": subscription_id},
        permission=ARM_USER_IMPERSONATION,
        notes=("Temporary elevation: cipp-setup revert removes it once the API answers.",),
    )
    if result.cause == "contributor-eligible-only":
        explanation = (
            f"Contributor on the {sub_label} is only eligible (PIM) for the {who}. That user "
            f"activates it in the Azure portal → Privileged Identity Management → My roles → "
            f"Azure resources → Activate; cipp-setup does not override your PIM policy with a "
            f"permanent assignment."
        )
        return FixPlan(result.check_id, "Activate the CIPP-SAM user's eligible Contributor role",
                       result.cause, (change,), applicable=False, explanation=explanation)
    return FixPlan(result.check_id, "Give the CIPP-SAM user Contributor on the subscription",
                   result.cause, (change,))


Planner = Callable[[CheckResult, CheckContext], "FixPlan | None"]

PLANNERS: dict[str, Planner] = {
    SAM_USER_GLOBAL_ADMIN: plan_global_admin,
    SAM_APP_AZURE_MANAGEMENT_CONSENT: plan_azure_management_consent,
    SAM_USER_SUBSCRIPTION_CONTRIBUTOR: plan_subscription_contributor,
}


def plan_fix(result: CheckResult, ctx: CheckContext) -> FixPlan | None:
    """The plan for one result, or None when it passes or has no automatic fix."""
    if result.status is not Status.FAIL or result.ignored:
        return None
    planner = PLANNERS.get(result.check_id)
    return planner(result, ctx) if planner is not None else None


def plan_fixes(results: Iterable[CheckResult], ctx: CheckContext) -> list[FixPlan]:
    """Plans for every failing fixable check, in the order of `results` (catalogue order)."""
    return [plan for r in results if (plan := plan_fix(r, ctx)) is not None]


# --- Applying ----------------------------------------------------------------------------

_ARM_ACTIONS = {p.CREATE_ARM_ROLE_ASSIGNMENT, p.DELETE_ARM_ROLE_ASSIGNMENT}  # extended by register() below
# Retried here, with backoff until the deadline: a principal or object that has not
# replicated yet. 429/503/504 are retried inside the gateways (Retry-After, one budget
# shared with the reads); answering them again here would multiply the waits.
_TRANSIENT = frozenset({"principal-not-found"})


def service_of(action: str) -> str:
    return "Azure Resource Manager" if action in _ARM_ACTIONS else "Entra ID"


@dataclass(frozen=True)
class Applied:
    status: ChangeStatus
    object_id: str | None
    detail: str
    # The change as actually made, when the live state called for a different action
    # than planned (an existing consent found at apply time is extended, not created).
    actual: PlannedChange | None = None


async def with_retries(
    change: PlannedChange, rt: FixRuntime, write: Callable[[], Awaitable[Applied]]
) -> Applied:
    """Run `write`; on a transient refusal wait (backoff, Retry-After) and try again.

    PrincipalNotFound right after a principal was created is expected (replication).
    """
    started = rt.clock()
    attempt = 1
    while True:
        try:
            return await write()
        except WriteRefused as exc:
            if exc.cause not in _TRANSIENT or attempt >= rt.wait.attempts:
                raise
            delay = max(rt.wait.delay(attempt), exc.retry_after_s or 0.0)
            if rt.clock() - started + delay > rt.wait.deadline_s:
                raise
            rt.progress(Progress(change.check_id, service_of(change.action), attempt, rt.wait.attempts))
            await rt.sleep(delay)
            attempt += 1


class _Journaled:
    """One write bracketed by intent and outcome records."""

    def __init__(self, rt: FixRuntime, change: PlannedChange, params: Mapping[str, Any],
                 previous: Any = None) -> None:
        self.rt = rt
        target = {k: v for k, v in sorted(params.items()) if k in p.TARGET_PARAMS}
        self.change_id = rt.journal.record_intent(
            tenant_id=rt.tenant_id, check_id=change.check_id, action=change.action,
            target=target, previous=previous,
        )

    def done(self, status: str, object_id: str | None = None) -> None:
        self.rt.journal.record_outcome(self.change_id, status, object_id=object_id)

    def failed(self, exc: WriteRefused) -> None:
        self.rt.journal.record_outcome(self.change_id, FAILED, error_cause=exc.cause, error_code=exc.code)


async def _journaled_write(
    rt: FixRuntime, change: PlannedChange, params: Mapping[str, Any],
    write: Callable[[], Awaitable[str | None]], *,
    previous: Any = None, on_exists: Callable[[], Awaitable[str | None]] | None = None,
    applied_detail: str = "", present_detail: str = "already present",
) -> Applied:
    """Journal, write, journal. 'Already exists' becomes already-present (object looked up)."""
    entry = _Journaled(rt, change, params, previous)
    try:
        object_id = await write()
    except WriteRefused as exc:
        existing = None
        # Graph answers a duplicate directory role assignment with a plain 400 whose
        # code says nothing more; whether it was a duplicate is read from the tenant.
        if exc.cause in ("already-exists", "bad-request") and on_exists is not None:
            existing = await on_exists()
        if exc.cause == "already-exists" or existing:
            entry.done(ALREADY_PRESENT, existing)
            return Applied(ChangeStatus.ALREADY_PRESENT, existing, present_detail)
        entry.failed(exc)
        raise
    entry.done(APPLIED, object_id)
    return Applied(ChangeStatus.APPLIED, object_id, applied_detail)


async def _apply_directory_role_assignment(change: PlannedChange, params: Mapping[str, Any],
                                           rt: FixRuntime) -> Applied:
    args = (str(params["principal_id"]), str(params["role_definition_id"]), str(params["directory_scope_id"]))
    existing = await rt.writes.find_directory_role_assignment(*args)
    if existing:
        return Applied(ChangeStatus.ALREADY_PRESENT, existing, "the assignment already exists")
    return await _journaled_write(
        rt, change, params, lambda: rt.writes.create_directory_role_assignment(*args),
        on_exists=lambda: rt.writes.find_directory_role_assignment(*args),
        applied_detail="role assignment created",
    )


async def _apply_self_activation(change: PlannedChange, params: Mapping[str, Any],
                                 rt: FixRuntime) -> Applied:
    args = (str(params["principal_id"]), str(params["role_definition_id"]), str(params["directory_scope_id"]))
    existing = await rt.writes.find_directory_role_assignment(*args)
    if existing:
        return Applied(ChangeStatus.ALREADY_PRESENT, existing, "the role is already active")
    return await _journaled_write(
        rt, change, params,
        lambda: rt.writes.request_role_self_activation(
            *args, justification=str(params.get("justification", ACTIVATION_JUSTIFICATION)),
            duration=str(params.get("duration", DEFAULT_ACTIVATION_DURATION)),
        ),
        on_exists=lambda: rt.writes.find_directory_role_assignment(*args),
        applied_detail="activation requested", present_detail="the role is already active",
    )


async def _apply_service_principal(change: PlannedChange, params: Mapping[str, Any],
                                   rt: FixRuntime) -> Applied:
    app_id = str(params["app_id"])
    existing = await rt.writes.find_service_principal(app_id)
    if existing:
        return Applied(ChangeStatus.ALREADY_PRESENT, existing, "the service principal already exists")
    return await _journaled_write(
        rt, change, params, lambda: rt.writes.create_service_principal(app_id),
        on_exists=lambda: rt.writes.find_service_principal(app_id),
        applied_detail="service principal created",
    )


def _rra_summary(rra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The previous requiredResourceAccess, as plain ids (journal `previous`)."""
    return [
        {"resourceAppId": str(e.get("resourceAppId", "")),
         "resourceAccess": [{"id": str(a.get("id", "")), "type": str(a.get("type", ""))}
                            for a in e.get("resourceAccess", []) or []]}
        for e in rra
    ]


async def _apply_required_resource_access(change: PlannedChange, params: Mapping[str, Any],
                                          rt: FixRuntime) -> Applied:
    app_object_id = str(params["application_object_id"])
    resource_app_id = str(params["resource_app_id"]).lower()
    permission_id = str(params["permission_id"]).lower()
    # Read-modify-write on the live value, not the planning-time one: an entry added in
    # the portal since the check ran must survive.
    current = _rra_summary(await rt.writes.get_required_resource_access(app_object_id))
    updated = [dict(e, resourceAccess=list(e["resourceAccess"])) for e in current]
    entry = next((e for e in updated if e["resourceAppId"].lower() == resource_app_id), None)
    if entry is not None and any(
        a["id"].lower() == permission_id and a["type"] == "Scope" for a in entry["resourceAccess"]
    ):
        return Applied(ChangeStatus.ALREADY_PRESENT, app_object_id, "the permission is already in the manifest")
    if entry is None:
        entry = {"resourceAppId": resource_app_id, "resourceAccess": []}
        updated.append(entry)
    entry["resourceAccess"].append({"id": permission_id, "type": "Scope"})

    async def write() -> str | None:
        await rt.writes.set_required_resource_access(app_object_id, updated)
        return app_object_id

    return await _journaled_write(rt, change, params, write, previous=current,
                                  applied_detail="permission added; existing entries kept")


async def _apply_grant(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> Applied:
    client_id = str(params["client_id"])
    resource_id = str(params["resource_id"])
    add_scope = str(params.get("add_scope", "user_impersonation"))
    consent_type = str(params.get("consent_type", "AllPrincipals"))
    grants = await rt.writes.list_oauth2_permission_grants(client_id, resource_id)
    tenant_wide = [g for g in grants if g.consent_type == "AllPrincipals"]
    if consent_type == "AllPrincipals" and tenant_wide:
        grant = tenant_wide[0]
        if add_scope in grant.scopes():
            return Applied(ChangeStatus.ALREADY_PRESENT, grant.id, "the consent already includes the scope")
        new_scope = " ".join(grant.scopes() + [add_scope])
        extend_change = replace(change, action=p.EXTEND_OAUTH2_PERMISSION_GRANT)

        async def extend() -> str | None:
            await rt.writes.update_oauth2_permission_grant_scope(grant.id, new_scope)
            return grant.id

        done = await _journaled_write(rt, extend_change, dict(params, grant_id=grant.id), extend,
                                      previous={"grant_id": grant.id, "scope": grant.scope},
                                      applied_detail=f"consent extended to '{new_scope}'")
        return replace(done, actual=extend_change)
    return await _journaled_write(
        rt, change, params,
        lambda: rt.writes.create_oauth2_permission_grant(client_id, resource_id, consent_type, add_scope, None),
        on_exists=lambda: _find_grant_id(rt, client_id, resource_id),
        applied_detail=f"consent granted for all users, scope '{add_scope}'",
    )


async def _find_grant_id(rt: FixRuntime, client_id: str, resource_id: str) -> str | None:
    grants = await rt.writes.list_oauth2_permission_grants(client_id, resource_id)
    return next((g.id for g in grants if g.consent_type == "AllPrincipals"), None)


async def _apply_arm_role_assignment(change: PlannedChange, params: Mapping[str, Any],
                                     rt: FixRuntime) -> Applied:
    return await _journaled_write(
        rt, change, params,
        lambda: rt.writes.create_arm_role_assignment(
            str(params["arm_scope"]), str(params["role_definition_id"]), str(params["principal_id"]),
            str(params.get("principal_type", "User")),
        ),
        applied_detail="role assignment created",
        present_detail="the role assignment already exists (409 RoleAssignmentExists)",
    )


Applier = Callable[[PlannedChange, Mapping[str, Any], FixRuntime], Awaitable[Applied]]

APPLIERS: dict[str, Applier] = {
    p.CREATE_DIRECTORY_ROLE_ASSIGNMENT: _apply_directory_role_assignment,
    p.ACTIVATE_PIM_ROLE: _apply_self_activation,
    p.CREATE_SERVICE_PRINCIPAL: _apply_service_principal,
    p.ADD_REQUIRED_RESOURCE_ACCESS: _apply_required_resource_access,
    p.CREATE_OAUTH2_PERMISSION_GRANT: _apply_grant,
    p.EXTEND_OAUTH2_PERMISSION_GRANT: _apply_grant,
    p.CREATE_ARM_ROLE_ASSIGNMENT: _apply_arm_role_assignment,
}


def refusal_detail(change: PlannedChange, exc: WriteRefused) -> str:
    """One line for a failed write; a 403 names the admin role the write needs."""
    if exc.cause == "permission-denied":
        code = f" {exc.code}" if exc.code else ""
        hint = ""
        if change.action in _ARM_ACTIONS:
            hint = (" (a Global Administrator can first elevate access: Entra admin center → "
                    "Properties → Access management for Azure resources)")
        return (f"{service_of(change.action) if change.action in _ARM_ACTIONS else 'Microsoft Graph'} "
                f"refused ({exc.status or 403}{code}): this change needs {change.admin_role_needed}, "
                f"which the signed-in admin does not hold{hint}.")
    if exc.cause in ("throttled", "service-unavailable"):
        return f"{exc.message} Nothing was changed by this step; run the fix again later."
    return exc.message


async def apply_change(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> ChangeOutcome:
    """Apply one change (idempotently) and journal it; never raises WriteRefused."""
    applier = APPLIERS[change.action]
    try:
        applied = await with_retries(change, rt, lambda: applier(change, params, rt))
    except WriteRefused as exc:
        return ChangeOutcome(change, ChangeStatus.FAILED, refusal_detail(change, exc), cause=exc.cause)
    return ChangeOutcome(applied.actual or change, applied.status, applied.detail, object_id=applied.object_id)


def _passes(result: CheckResult) -> bool:
    return result.status in (Status.PASS, Status.WARN)


async def reverify(check_id: str, rt: FixRuntime, service: str = "Entra ID") -> tuple[CheckResult, int]:
    """Re-run the check until it passes, the attempts are spent or the deadline passes."""
    started = rt.clock()
    attempt = 1
    while True:
        result = await rt.verify(check_id)
        if _passes(result) or attempt >= rt.wait.attempts:
            return result, attempt
        delay = rt.wait.delay(attempt)
        if rt.clock() - started + delay > rt.wait.deadline_s:
            return result, attempt
        rt.progress(Progress(check_id, service, attempt, rt.wait.attempts))
        await rt.sleep(delay)
        attempt += 1


async def apply_plan(plan: FixPlan, rt: FixRuntime, *, verify: bool = True) -> PlanOutcome:
    """Apply every change of `plan` in order, then re-verify its check.

    A failed change stops the plan: later changes are reported `skipped` (not attempted),
    earlier ones stay applied — the outcome says which. Nothing here raises for a
    service's refusal; KeyboardInterrupt and cancellation propagate (the journal then
    holds an intent without an outcome, reported on the next run).
    """
    if not plan.applicable:
        reason = plan.explanation or "cannot be applied automatically"
        return PlanOutcome(plan, tuple(ChangeOutcome(c, ChangeStatus.SKIPPED, reason) for c in plan.changes))
    outputs: dict[str, str] = {}
    outcomes: list[ChangeOutcome] = []
    blocked: str | None = None
    for change in plan.changes:
        if blocked is not None:
            outcomes.append(ChangeOutcome(change, ChangeStatus.SKIPPED, f"not attempted: {blocked}"))
            continue
        params = dict(change.params)
        for param, step in change.inputs_from.items():
            if step in outputs:
                params[param] = outputs[step]
        outcome = await apply_change(change, params, rt)
        outcomes.append(outcome)
        if outcome.status is ChangeStatus.FAILED:
            blocked = f"'{change.action}' failed before it"
        elif change.step and outcome.object_id:
            outputs[change.step] = outcome.object_id
    verified: CheckResult | None = None
    attempts = 0
    if verify and blocked is None:
        service = "Azure Resource Manager" if any(c.action in _ARM_ACTIONS for c in plan.changes) else "Entra ID"
        verified, attempts = await reverify(plan.check_id, rt, service)
    return PlanOutcome(plan, tuple(outcomes), verified=verified, verify_attempts=attempts)


async def apply_plans(
    plans: Sequence[FixPlan],
    rt: FixRuntime,
    *,
    confirm: Callable[[FixPlan], Awaitable[bool]] | None = None,
) -> list[PlanOutcome]:
    """Apply plans in order, asking `confirm` (the front end's question) before each.

    `confirm` None applies everything (--yes). A declined or inapplicable plan is
    reported with its changes `skipped`.
    """
    outcomes: list[PlanOutcome] = []
    for plan in plans:
        if plan.applicable and confirm is not None and not await confirm(plan):
            outcomes.append(p.declined_outcome(plan))
            continue
        outcomes.append(await apply_plan(plan, rt))
    return outcomes


# The current generation's (CIPP 7.2+) planners and appliers live in their own module,
# which adds them to PLANNERS, APPLIERS and _ARM_ACTIONS when it is imported (last, so
# that everything above exists whichever of the two modules is imported first).
from cipp_setup.engine import fixes_current as _fixes_current  # noqa: E402,F401

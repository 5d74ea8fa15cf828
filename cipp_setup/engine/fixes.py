"""Fixes: a pure planner per fixable check, idempotent appliers, and re-verification.

`plan_fixes(results, ctx)` turns failing check results into `FixPlan`s: each check plans
its own fix (`FixableCheck.plan`, in its file in `checks/`), from the results' `facts`
and the run's context only — no service is called while planning, so a plan can be shown
(--dry-run, the wizard) before anything, not even a write token, is asked for. Which
checks there are is the catalogue's business (`cipp_setup.checks.CATALOGUE` unless one is
passed in). `apply_plan(plan, runtime)` executes a plan through a `TenantWrites` gateway,
each change by the applier its action kind names in `cipp_setup.engine.actions.ACTIONS`:

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

Time is injected (`clock`, `sleep`) so tests never wait. The facts each planner reads
are listed in its check's module docstring.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Iterable, Mapping, Sequence

from cipp_setup.engine import plan as p
from cipp_setup.engine.actions import applier_for
from cipp_setup.engine.builtin import builtin_catalogue
from cipp_setup.engine.catalogue import Catalogue
from cipp_setup.engine.context import CheckContext
from cipp_setup.engine.fix_runtime import Applied, FixRuntime, Progress, WaitPolicy
from cipp_setup.engine.model import CheckResult, FixableCheck, Status
from cipp_setup.engine.plan import (
    ChangeOutcome,
    ChangeStatus,
    FixPlan,
    PlannedChange,
    PlanOutcome,
    service_of,
)
from cipp_setup.engine.planning import PlanningError
from cipp_setup.engine.journal import APPLIED
from cipp_setup.engine.writes import WRITE_GRAPH_PERMISSIONS, Grant, TenantWrites, WriteRefused

__all__ = [
    "WRITE_GRAPH_PERMISSIONS", "FixRuntime", "Grant", "PlanningError", "Progress", "TenantWrites",
    "WaitPolicy", "WriteRefused", "apply_change", "apply_plan", "apply_plans", "plan_fix", "plan_fixes",
    "refusal_detail", "reverify", "service_of", "with_retries",
]


# --- Planning ----------------------------------------------------------------------------


def plan_fix(result: CheckResult, ctx: CheckContext, catalogue: Catalogue | None = None) -> FixPlan | None:
    """The plan for one result, or None when it passes or has no automatic fix.

    The plan comes from the result's own check (`FixableCheck.plan`); its changes must
    be of the action kinds the check declares (`fix_actions`).
    """
    if result.status is not Status.FAIL or result.ignored:
        return None
    check = builtin_catalogue(catalogue).find(result.check_id)
    if not isinstance(check, FixableCheck):
        return None
    plan = check.plan(result, ctx)
    if plan is not None:
        undeclared = {c.action for c in plan.changes} - check.fix_actions
        if undeclared:
            raise PlanningError(f"check {result.check_id} planned {sorted(undeclared)}, "
                                "which its fix_actions do not list")
    return plan


def plan_fixes(results: Iterable[CheckResult], ctx: CheckContext,
               catalogue: Catalogue | None = None) -> list[FixPlan]:
    """Plans for every failing fixable check, in the order of `results` (catalogue order)."""
    return [plan for r in results if (plan := plan_fix(r, ctx, catalogue)) is not None]


# --- Applying ----------------------------------------------------------------------------

# Retried here, with backoff until the deadline: a principal or object that has not
# replicated yet. 429/503/504 are retried inside the gateways (Retry-After, one budget
# shared with the reads); answering them again here would multiply the waits.
_TRANSIENT = frozenset({"principal-not-found", "not-landed"})


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


def refusal_detail(change: PlannedChange, exc: WriteRefused) -> str:
    """One line for a failed write; a 403 names the admin role the write needs."""
    if exc.cause == "permission-denied":
        code = f" {exc.code}" if exc.code else ""
        hint = ""
        if change.action in p.ARM_ACTIONS:
            hint = (" (a Global Administrator can first elevate access: Entra admin center → "
                    "Properties → Access management for Azure resources)")
        return (f"{service_of(change.action) if change.action in p.ARM_ACTIONS else 'Microsoft Graph'} "
                f"refused ({exc.status or 403}{code}): this change needs {change.admin_role_needed}, "
                f"which the signed-in admin does not hold{hint}.")
    if exc.cause in ("throttled", "service-unavailable"):
        return f"{exc.message} Nothing was changed by this step; run the fix again later."
    return exc.message


async def apply_change(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> ChangeOutcome:
    """Apply one change (idempotently) and journal it; never raises WriteRefused."""
    applier = applier_for(change.action)
    try:
        applied = await with_retries(change, rt, lambda: applier(change, params, rt))
    except WriteRefused as exc:
        return ChangeOutcome(change, ChangeStatus.FAILED, refusal_detail(change, exc), cause=exc.cause)
    made = applied.actual or change
    if applied.status is ChangeStatus.ALREADY_PRESENT:
        # Also for changes that are content, not an object (a manifest's entries, a
        # grant's scopes): their intent closes with the object the change went to, if known.
        close_open_intents(rt, made, params, applied.object_id)
    return ChangeOutcome(made, applied.status, applied.detail, object_id=applied.object_id)


def close_open_intents(rt: FixRuntime, change: PlannedChange, params: Mapping[str, Any], object_id: str | None) -> int:
    """An earlier run's intent for this very change has no outcome (interrupted, or no
    answer came) and the object is there now: that run's write landed. Its outcome is
    recorded, so revert knows to remove it and the "interrupted change" warning stops."""
    target = {k: v for k, v in sorted(params.items()) if k in p.TARGET_PARAMS}
    closed = 0
    for entry in rt.journal.interrupted(rt.tenant_id):
        if entry.action == change.action and dict(entry.target) == target:
            rt.journal.record_outcome(entry.change_id, APPLIED, object_id=object_id)
            closed += 1
    return closed


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
        service = "Azure Resource Manager" if any(c.action in p.ARM_ACTIONS for c in plan.changes) else "Entra ID"
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

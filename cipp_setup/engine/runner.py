"""Run checks concurrently, respecting dependencies; never let one check break the run.

flutter doctor's rule: a check that raises or hangs becomes an `error` result and the
others go on. Results are handed out in completion order (for live display) and the
report lists them in catalogue order.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from cipp_setup.engine.context import CheckContext
from cipp_setup.engine.model import Check, CheckResult, Message, Status
from cipp_setup.engine.remediation import with_remediation
# ServiceFailure lives with the plain values (context.py needs it without the runner);
# gateways and checks still import it from here.
from cipp_setup.engine.result import ServiceFailure as ServiceFailure

ResultCallback = Callable[[CheckResult], None]





@dataclass(frozen=True)
class RunReport:
    results: tuple[CheckResult, ...]  # catalogue order
    required: frozenset[str]

    @property
    def failed_required(self) -> list[CheckResult]:
        return [r for r in self.results if r.check_id in self.required and r.status.is_problem]

    @property
    def ok(self) -> bool:
        return not self.failed_required

    def result(self, check_id: str) -> CheckResult | None:
        return next((r for r in self.results if r.check_id == check_id), None)


def _demote(result: CheckResult) -> CheckResult:
    """--ignore: a failure stays visible, as a warning that says it was ignored."""
    if result.status is not Status.FAIL:
        return result
    note = Message("info", "This failure was demoted to a warning by --ignore.")
    return replace(result, status=Status.WARN, ignored=True, messages=result.messages + (note,))


async def _run_one(check: Check, ctx: CheckContext) -> CheckResult:
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(check.run(ctx), timeout=check.spec.timeout_s)
    except asyncio.TimeoutError:
        result = CheckResult(
            check.spec.id, Status.ERROR,
            f"Did not finish within {check.spec.timeout_s:.0f} s.", cause="timeout",
        )
    except ServiceFailure as exc:
        result = CheckResult(check.spec.id, Status.ERROR, exc.message, cause=exc.cause)
    except Exception as exc:  # noqa: BLE001 - the engine's promise: a check never crashes the run
        result = CheckResult(
            check.spec.id, Status.ERROR,
            f"cipp-setup failed while running this check: {type(exc).__name__}: {exc}",
            cause="internal-error",
        )
    elapsed = (time.perf_counter() - started) * 1000
    return replace(result, duration_ms=elapsed)


async def run_checks(
    checks: Sequence[Check],
    ctx: CheckContext,
    *,
    on_result: ResultCallback | None = None,
) -> RunReport:
    """Run `checks`; a check starts as soon as everything it depends on has finished.

    A dependency that did not pass (or warn) makes the dependent check `skip`, naming it.
    Dependencies outside `checks` (filtered away by --only) are treated as satisfied.
    """
    by_id = {c.spec.id: c for c in checks}
    done: dict[str, CheckResult] = {}
    pending: dict[str, asyncio.Task[CheckResult]] = {}

    def finish(result: CheckResult) -> None:
        check = by_id.get(result.check_id)
        if check is not None:
            result = with_remediation(check.spec, result, ctx)
        if result.check_id in ctx.inputs.ignore:
            result = _demote(result)
        done[result.check_id] = result
        ctx.results[result.check_id] = result
        if on_result is not None:
            on_result(result)

    def ready(check: Check) -> bool:
        return all(d in done or d not in by_id for d in check.spec.depends_on)

    while len(done) < len(checks):
        for check in checks:
            cid = check.spec.id
            if cid in done or cid in pending or not ready(check):
                continue
            blocked = [
                d for d in check.spec.depends_on
                if d in done and done[d].status not in (Status.PASS, Status.WARN)
            ]
            if blocked:
                finish(check.skipped(f"Skipped: depends on {blocked[0]}, which did not pass."))
                continue
            pending[cid] = asyncio.create_task(_run_one(check, ctx))
        if not pending:
            if len(done) < len(checks):  # a dependency cycle; the registry tests forbid it
                for check in checks:
                    if check.spec.id not in done:
                        finish(check.errored("internal-error", "Dependency cycle in the check registry."))
            break
        finished, _ = await asyncio.wait(pending.values(), return_when=asyncio.FIRST_COMPLETED)
        for task in finished:
            result = task.result()
            pending.pop(result.check_id)
            finish(result)

    ordered = tuple(done[c.spec.id] for c in checks)
    return RunReport(ordered, frozenset(c.spec.id for c in checks if c.spec.required))

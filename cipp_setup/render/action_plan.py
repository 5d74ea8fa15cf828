"""The action plan: what to do next, in the order to do it (ScubaGear's action plan).

Every required check that failed or could not run, in dependency order (a check before
the checks that depend on it; catalogue order otherwise), each with its cause, the
remediation in the portal and on the command line, and `cipp-setup fix --only ID` where
cipp-setup can fix it. A check skipped because of a failure is named under the failure
it waits for, so the reader sees why fixing the first one matters.
"""

from __future__ import annotations

from dataclasses import dataclass

from cipp_setup.engine.model import CheckSpec, Status
from cipp_setup.render.report_data import ReportData, cause_meaning, fix_for
from cipp_setup.render.text import result_remediation


@dataclass(frozen=True)
class ActionItem:
    check_id: str
    title: str
    status: Status  # fail or error
    summary: str
    cause: str | None
    cause_meaning: str
    portal: str
    cli: str  # Azure CLI
    fix_command: str | None  # "cipp-setup fix --only ID", when a fix exists
    unblocks: tuple[str, ...]  # checks skipped until this one passes
    powershell: str = ""  # Microsoft Graph / Az PowerShell
    steps: str = ""  # what to do, in a sentence (retry, pick the other URL...)


def _ancestors(specs: dict[str, CheckSpec], check_id: str) -> set[str]:
    """Every check `check_id` depends on, directly or through others."""
    found: set[str] = set()
    todo = list(specs[check_id].depends_on) if check_id in specs else []
    while todo:
        dep = todo.pop()
        if dep not in found:
            found.add(dep)
            todo.extend(specs[dep].depends_on if dep in specs else ())
    return found


def _dependency_order(check_ids: list[str], specs: dict[str, CheckSpec]) -> list[str]:
    """`check_ids` (in catalogue order) reordered so each comes after what it depends on,
    otherwise keeping the catalogue order."""
    waiting = {cid: _ancestors(specs, cid) & set(check_ids) for cid in check_ids}
    ordered: list[str] = []
    while waiting:
        ready = next((cid for cid in check_ids if cid in waiting and not waiting[cid] - set(ordered)), None)
        if ready is None:  # a cycle, which the registry forbids: keep catalogue order
            ready = next(cid for cid in check_ids if cid in waiting)
        ordered.append(ready)
        del waiting[ready]
    return ordered


def action_plan(data: ReportData) -> tuple[ActionItem, ...]:
    failing = {r.check_id: r for r in data.results if r.check_id in data.required and r.status.is_problem}
    problems = [failing[cid] for cid in _dependency_order(list(failing), dict(data.specs))]
    items: list[ActionItem] = []
    for result in problems:
        spec = data.spec(result.check_id)
        unblocks = tuple(
            r.check_id for r in data.results
            if r.status is Status.SKIP and (s := data.spec(r.check_id)) is not None
            and result.check_id in s.depends_on
        )
        fix = fix_for(data, result)
        remediation = result_remediation(result, spec)
        items.append(ActionItem(
            check_id=result.check_id,
            title=spec.title if spec else result.check_id,
            status=result.status,
            summary=result.summary,
            cause=result.cause,
            cause_meaning=cause_meaning(spec, result.cause),
            portal=remediation.portal if remediation else "",
            cli=remediation.cli if remediation else "",
            fix_command=fix,
            unblocks=unblocks,
            powershell=remediation.powershell if remediation else "",
            steps=remediation.steps if remediation else "",
        ))
    return tuple(items)

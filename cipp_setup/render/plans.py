"""Fix plans and their outcomes as terminal lines and as JSON: pure functions, no I/O.

Used by `fix`, `revert` and the wizard, so a plan reads the same wherever it is shown.
Lines use the `(text, style)` spans of `cipp_setup.render.text`.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from cipp_setup.shell import env
from cipp_setup.engine.journal import JournalEntry
from cipp_setup.engine.plan import ChangeStatus, FixPlan, PlannedChange, PlanOutcome
from cipp_setup.render.text import INDENT, UNICODE_MARKS, Line, Marks

_STATUS_STYLE = {
    ChangeStatus.PLANNED: "cyan",
    ChangeStatus.APPLIED: "green",
    ChangeStatus.ALREADY_PRESENT: "green",
    ChangeStatus.ALREADY_GONE: "green",
    ChangeStatus.FAILED: "bold red",
    ChangeStatus.SKIPPED: "yellow",
}


def _ascii(text: str, marks: Marks) -> str:
    return text if marks is UNICODE_MARKS else text.replace("→", ">").replace("…", "...")


def _mark(status: ChangeStatus, marks: Marks) -> str:
    if status in (ChangeStatus.APPLIED, ChangeStatus.ALREADY_PRESENT, ChangeStatus.ALREADY_GONE):
        return marks.passed
    if status is ChangeStatus.FAILED:
        return marks.failed
    if status is ChangeStatus.SKIPPED:
        return marks.skipped
    return "[ ]"


def plan_lines(plan: FixPlan, marks: Marks = UNICODE_MARKS, *, heading: str = "Fix",
               detailed: bool = True) -> list[Line]:
    """A plan as the admin reads it before saying yes: every change, before → after.
    `detailed=False` (the wizard without -v): one line per change and whether it grants
    a privilege or is undone by revert, so the question stays on a small screen."""
    lines: list[Line] = [
        ((f"{heading} ", "bold"), (plan.check_id, "bold"), (f": {plan.title}", "")),
    ]
    for number, change in enumerate(plan.changes, 1):
        lines.append(((f"{INDENT}{number}. ", ""), (change.action, "cyan"), (f" — {_ascii(change.target, marks)}", "")))
        detail = INDENT + "   "
        if not detailed:
            traits = (["grants a privilege"] if change.grants_privilege else []) + [_reversal(change)]
            lines.append(((f"{detail}{'; '.join(traits)}", "yellow" if change.grants_privilege else "dim"),))
            continue
        lines.append(((f"{detail}API:    {change.api}", "dim"),))
        lines.append(((f"{detail}before: {_ascii(change.before, marks)}", ""),))
        lines.append(((f"{detail}after:  {_ascii(change.after, marks)}", ""),))
        lines.append(((f"{detail}needs:  {change.admin_role_needed}", ""),))
        traits = []
        if change.grants_privilege:
            traits.append("grants a privilege")
        traits.append(_reversal(change))
        lines.append(((f"{detail}{'; '.join(traits)}", "yellow" if change.grants_privilege else "dim"),))
        for note in change.notes:
            lines.append(((f"{detail}note: {_ascii(note, marks)}", "dim"),))
    if not plan.applicable and plan.explanation:
        lines.append(((f"{INDENT}Not applied automatically: ", "bold yellow"), (_ascii(plan.explanation, marks), "")))
    if not detailed:
        lines.append(((f"{INDENT}(The API calls, before and after, and the role each needs: run with -v.)", "dim"),))
    return lines


def _reversal(change: PlannedChange) -> str:
    """How this change could be undone, in the admin's words."""
    if change.action.startswith("delete-"):
        return "removes a right cipp-setup added earlier"
    if change.reversible and change.action in ("create-directory-role-assignment", "create-arm-role-assignment"):
        return "undone by 'cipp-setup revert'"
    if change.action == "create-managed-identity-role-assignment":
        return "permanent: CIPP needs it to save API clients ('cipp-setup revert' keeps it)"
    return "reversible by hand" if change.reversible else "not undone by 'cipp-setup revert'"


def outcome_lines(outcome: PlanOutcome, marks: Marks = UNICODE_MARKS) -> list[Line]:
    """What happened: per change, then the re-verification."""
    lines: list[Line] = []
    for change in outcome.changes:
        status = change.status
        text = f" {status.value}: {change.change.action}"
        if change.detail and not (status is ChangeStatus.SKIPPED and not outcome.plan.applicable):
            text += f" — {_ascii(change.detail, marks)}"
        lines.append(((INDENT + _mark(status, marks), _STATUS_STYLE[status]), (text, "")))
    if outcome.failed:
        applied = [c.change.action for c in outcome.applied]
        lines.append(((INDENT + "Applied before the failure: " + (", ".join(applied) or "nothing")
                       + ". Run the same command again once the cause is fixed; finished steps are skipped.", ""),))
    if outcome.verified is not None:
        v = outcome.verified
        tries = f" (after {outcome.verify_attempts} tries)" if outcome.verify_attempts > 1 else ""
        if outcome.passes:
            lines.append(((INDENT + marks.passed, "green"), (f" verified: {v.check_id} passes{tries}", "")))
        else:
            lines.append(((INDENT + marks.for_status(v.status), "bold red"),
                          (f" not yet verified: {v.check_id} still {v.status.value}{tries}: {v.summary}", "")))
    return lines


def new_secret_lines(new: Any) -> list[Line]:
    """The one time a client secret a fix created is shown (`engine.writes.NewSecret`).

    The terminal writes these and then scrubs the value from everything after; nothing
    else (journal, JSON, reports) ever receives it."""
    return [
        (),
        (("  New client secret for the API client ", "bold yellow"), (str(new.app_id), "bold")),
        (("    Value: ", "dim"), (new.value.reveal(), "bold")),
        (("    Secret ID (keyId): ", "dim"), (str(new.key_id), ""), ("   expires: ", "dim"), (str(new.expires), "")),
        (("    Copy the value now: it is shown only this once and kept nowhere. Use it as the "
          f"API client secret ({env('CIPP_API_CLIENT_SECRET')}); CIPP keeps no copy of it either.", "yellow"),),
        (),
    ]


def interrupted_lines(entries: Iterable[JournalEntry]) -> list[Line]:
    return [(("warning: ", "bold yellow"), (f"interrupted change: verify {e.describe()}", "")) for e in entries]


def change_entries(outcomes: Sequence[PlanOutcome]) -> list[dict[str, Any]]:
    """The JSON `changes` list: {check_id, action, status} plus what a script may need."""
    out: list[dict[str, Any]] = []
    for outcome in outcomes:
        for c in outcome.changes:
            out.append({
                "check_id": c.change.check_id,
                "action": c.change.action,
                "status": c.status.value,
                "target": c.change.target,
                "api": c.change.api,
                "before": c.change.before,
                "after": c.change.after,
                "admin_role_needed": c.change.admin_role_needed,
                "grants_privilege": c.change.grants_privilege,
                "reversible": c.change.reversible,
                "detail": c.detail or None,
                "cause": c.cause,
                "object_id": c.object_id,
            })
    return out

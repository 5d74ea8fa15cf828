"""The lifecycle of the activation-time prerequisites: needed while the API is activated,
not after.

A check declares when CIPP needs what it verifies (`CheckSpec.lifecycle`, or
`Check.lifecycle(ctx)` when that depends on the CIPP version): "permanently" (nothing
here changes its result) or "during-activation" (the rights to create the API app and
write Easy Auth). Once the run proves the API is activated and answers — every check
declaring `proves_activation` ran and passed (api-list-logs) — an activation-time
prerequisite is judged by what it is for:

- missing (its check failed): `not-needed` (status), cause `not-needed-after-activation`,
  or `given-back-after-activation` when the journal shows `cipp-setup revert` removed the
  right cipp-setup had granted; the summary keeps what was found;
- still held (passed) and declared `give_back` (a privileged role): `warn`, cause
  `activation-rights-still-held`, naming whether cipp-setup granted it (so `revert`
  removes it) or not (remove it by hand); the front end puts the exact revert command in
  (`with_revert_command`);
- still held and harmless to keep (a consent): stays `pass`, with a note.

Errors and skips are left alone: a run that could not read the right, or could not tell
whose right it is, has not found anything to judge. Pure over the results and the
journal: no request is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cipp_setup.engine.model import Check, CheckResult, Evidence, Lifecycle, Message, Remediation, Status

if TYPE_CHECKING:
    from cipp_setup.engine.context import CheckContext
    from cipp_setup.engine.journal import Journal
    from cipp_setup.engine.runner import RunReport

NOT_NEEDED = "not-needed-after-activation"
GIVEN_BACK = "given-back-after-activation"
STILL_HELD = "activation-rights-still-held"


@dataclass(frozen=True)
class Grant:
    """A temporary right cipp-setup granted, from the journal: to whom, and whether a
    revert gave it back (and when)."""

    check_id: str
    principal_id: str
    granted_at: str
    given_back_at: str | None = None

    @property
    def given_back(self) -> bool:
        return self.given_back_at is not None


def grants_from_journal(journal: Journal | None, tenant_id: str) -> tuple[Grant, ...]:
    """The temporary rights cipp-setup granted in `tenant_id` (the elevation revert
    undoes), each with its revert if one ran. Nothing when there is no journal."""
    if journal is None or not tenant_id:
        return ()
    from cipp_setup.engine.journal import ALREADY_GONE, APPLIED, JournalUnusable
    from cipp_setup.engine.revert import ELEVATION_ACTIONS

    try:
        entries = journal.entries(tenant_id)
    except JournalUnusable:
        return ()  # check is read-only: an unreadable journal only means "not known"
    undone = {e.reverts: e.outcome_at or e.at for e in entries
              if e.reverts and e.outcome in (APPLIED, ALREADY_GONE)}
    return tuple(
        Grant(e.check_id, str(e.target.get("principal_id", "")).lower(), e.outcome_at or e.at,
              undone.get(e.change_id))
        for e in entries
        if e.action in ELEVATION_ACTIONS and e.created_object and e.object_id
    )


def api_answers(results: Iterable[CheckResult], checks: Sequence[Check]) -> CheckResult | None:
    """The result proving the API is activated and answers, or None: every check that
    can prove it ran in this run and passed (warnings count: the API answered)."""
    provers = {c.spec.id for c in checks if c.spec.proves_activation}
    by_id = {r.check_id: r for r in results}
    if not provers or not provers <= set(by_id):
        return None
    if any(by_id[i].status not in (Status.PASS, Status.WARN) for i in provers):
        return None
    return by_id[sorted(provers)[0]]


def _day(iso: str | None) -> str:
    return (iso or "")[:10] or "an earlier run"


def _tested_principal(result: CheckResult) -> str:
    return str(result.facts.get("sam_user_id") or "").lower()


def _ours(grants: Sequence[Grant], result: CheckResult) -> list[Grant]:
    """The journal's grants for this check and the principal it tested (any principal
    when the result does not say whom it tested)."""
    who = _tested_principal(result)
    return [g for g in grants if g.check_id == result.check_id and (not who or not g.principal_id or g.principal_id == who)]


def _not_needed(result: CheckResult, lifecycle: Lifecycle, proof: CheckResult, grants: Sequence[Grant]) -> CheckResult:
    given_back = [g for g in _ours(grants, result) if g.given_back]
    what = lifecycle.what or "this right"
    found = result.summary.rstrip(".")
    evidence = result.evidence + (
        Evidence("needed", "during activation only", "during activation only"),
        Evidence("API", f"answers ({proof.check_id} passed)", "answers"),
    )
    if given_back:
        last = given_back[-1]
        summary = (f"Not needed any more: {what} was given back by cipp-setup revert on {_day(last.given_back_at)} "
                   f"(granted {_day(last.granted_at)}), and the API answers. Found: {found}.")
        evidence += (Evidence("given back", f"by cipp-setup revert on {_day(last.given_back_at)}"),)
        cause = GIVEN_BACK
    else:
        summary = f"Not needed any more: the API answers, and {what} is needed only during activation. Found: {found}."
        cause = NOT_NEEDED
    facts = {**result.facts, "lifecycle": "not-needed", "was": result.cause or "",
             "given_back_at": given_back[-1].given_back_at if given_back else None}
    return replace(result, status=Status.NOT_NEEDED, cause=cause, summary=summary, evidence=evidence,
                   facts=facts, fix_available=False, remediation=None)


def _still_held(result: CheckResult, lifecycle: Lifecycle, proof: CheckResult, grants: Sequence[Grant],
                ctx: CheckContext) -> CheckResult:
    from cipp_setup.engine.remediation import fill, run_values

    outstanding = [g for g in _ours(grants, result) if not g.given_back]
    what = lifecycle.what or "this right"
    if outstanding:
        how = f"cipp-setup granted it on {_day(outstanding[-1].granted_at)}: cipp-setup revert gives it back."
    else:
        how = ("cipp-setup's journal on this computer does not record granting it: if cipp-setup granted it "
               "elsewhere, run revert there; otherwise remove it by hand.")
    summary = (f"{what[:1].upper()}{what[1:]} is still in place, though the API answers: it was needed only "
               f"during activation. Found: {result.summary.rstrip('.')}.")
    evidence = result.evidence + (
        Evidence("needed", "during activation only", "given back after activation"),
        Evidence("API", f"answers ({proof.check_id} passed)", "answers"),
        Evidence("granted by cipp-setup", "yes, not reverted" if outstanding else "no journal record"),
    )
    facts = {**result.facts, "lifecycle": "still-held", "revertable": bool(outstanding)}
    return replace(result, status=Status.WARN, cause=STILL_HELD, summary=summary, evidence=evidence,
                   messages=result.messages + (Message("hint", how),),
                   facts=facts, fix_available=False,
                   remediation=fill(lifecycle.remove, run_values(ctx, result)) if lifecycle.remove else None)


def _kept(result: CheckResult, lifecycle: Lifecycle) -> CheckResult:
    note = Message("info", f"Needed only during activation; {lifecycle.what or 'it'} is harmless to keep "
                           "(cipp-setup revert leaves it).")
    return replace(result, messages=result.messages + (note,), facts={**result.facts, "lifecycle": "kept"})


def apply_lifecycle(report: RunReport, checks: Sequence[Check], ctx: CheckContext,
                    grants: Sequence[Grant] = ()) -> RunReport:
    """`report` with the activation-time prerequisites judged after the activation (see
    the module's docstring). Unchanged when the run does not prove the API answers."""
    by_id = {c.spec.id: c for c in checks}
    lifecycles = {r.check_id: by_id[r.check_id].lifecycle(ctx) for r in report.results if r.check_id in by_id}
    stamped = tuple(replace(r, needed=lifecycles[r.check_id].needed) if r.check_id in lifecycles else r
                    for r in report.results)
    proof = api_answers(stamped, checks)
    out: list[CheckResult] = []
    for result in stamped:
        lifecycle = lifecycles.get(result.check_id)
        if proof is None or lifecycle is None or not lifecycle.activation_only or result.ignored:
            out.append(result)
        elif result.status is Status.FAIL:
            out.append(_not_needed(result, lifecycle, proof, grants))
        elif result.status is Status.PASS and lifecycle.give_back:
            out.append(_still_held(result, lifecycle, proof, grants, ctx))
        elif result.status is Status.PASS:
            out.append(_kept(result, lifecycle))
        else:
            out.append(result)
    for result in out:
        ctx.results[result.check_id] = result
    return replace(report, results=tuple(out))


def given_back(results: Iterable[CheckResult]) -> list[CheckResult]:
    """The results whose temporary right a revert gave back."""
    return [r for r in results if r.cause == GIVEN_BACK]


def with_revert_command(results: Sequence[CheckResult], command: str) -> tuple[CheckResult, ...]:
    """Each still-held temporary right's remediation names the exact `revert` command
    (the front end builds it with the run's options)."""
    out = []
    for r in results:
        if r.cause != STILL_HELD:
            out.append(r)
            continue
        base = r.remediation or Remediation()
        if r.facts.get("revertable"):
            steps = f"Give it back: {command} (it shows the removal and asks first)."
        else:
            steps = (f"If cipp-setup granted it on another computer, run {command} there; otherwise remove "
                     "it by hand as shown.")
        out.append(replace(r, remediation=replace(base, steps=steps)))
    return tuple(out)


def needed_by_check(checks: Sequence[Check], ctx: CheckContext) -> Mapping[str, str]:
    """check id → when CIPP needs it ("permanently" / "during-activation"), for reports."""
    return {c.spec.id: c.lifecycle(ctx).needed for c in checks}

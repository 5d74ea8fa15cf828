"""The lifecycle of activation-time prerequisites (engine/lifecycle.py), on plain results.

Sandbox-backed proofs (a finished setup, revert, check) are in tests/test_lifecycle_flow.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cipp_setup.cloud import resolve_cloud
from cipp_setup.engine.context import CheckContext, CheckInputs
from cipp_setup.engine.journal import APPLIED, Journal
from cipp_setup.engine.lifecycle import (
    GIVEN_BACK,
    NOT_NEEDED,
    STILL_HELD,
    apply_lifecycle,
    grants_from_journal,
    with_revert_command,
)
from cipp_setup.engine.model import Check, CheckResult, CheckSpec, Lifecycle, Remediation, Severity, Status
from cipp_setup.engine.runner import RunReport
from cipp_setup.engine import plan as p

TENANT = "11111111-1111-1111-1111-111111111111"
USER = "22222222-2222-2222-2222-222222222222"


def _spec(check_id: str, **kw: Any) -> CheckSpec:
    return CheckSpec(id=check_id, title=check_id, severity=Severity.HIGH, required=True,
                     remediation=Remediation(steps="x"), docs="d", causes=(), **kw)


class _Fake(Check):
    def __init__(self, spec: CheckSpec) -> None:
        self._spec = spec

    @property  # type: ignore[override]
    def spec(self) -> CheckSpec:  # type: ignore[override]
        return self._spec

    async def run(self, ctx: CheckContext) -> CheckResult:  # pragma: no cover - never run here
        raise AssertionError


ROLE = _Fake(_spec("role", lifecycle=Lifecycle("during-activation", give_back=True, what="the role",
                                                remove=Remediation(portal="remove it for {sam_user_id}"))))
CONSENT = _Fake(_spec("consent", lifecycle=Lifecycle("during-activation", what="the consent")))
FOREVER = _Fake(_spec("identity"))
LOGS = _Fake(_spec("logs", proves_activation=True))
CHECKS = (ROLE, CONSENT, FOREVER, LOGS)


def _ctx() -> CheckContext:
    return CheckContext(inputs=CheckInputs(tenant=TENANT), cloud=resolve_cloud("public"), gateways=None)


def _report(role: Status, consent: Status = Status.PASS, identity: Status = Status.FAIL,
            logs: Status | None = Status.PASS) -> RunReport:
    facts = {"sam_user_id": USER, "sam_user_upn": "cipp@contoso.example"}
    results = [
        CheckResult("role", role, "cipp@ holds the role." if role is Status.PASS else "cipp@ lacks the role.",
                    cause=None if role is Status.PASS else "no-role", facts=facts),
        CheckResult("consent", consent, "consent found." if consent is Status.PASS else "no consent.",
                    cause=None if consent is Status.PASS else "consent-missing"),
        CheckResult("identity", identity, "identity.", cause="missing" if identity is Status.FAIL else None),
    ]
    if logs is not None:
        results.append(CheckResult("logs", logs, "ListLogs answered.", cause=None if logs is Status.PASS else "x"))
    return RunReport(tuple(results), frozenset(r.check_id for r in results))


def _by_id(report: RunReport) -> dict[str, CheckResult]:
    return {r.check_id: r for r in report.results}


def test_before_activation_nothing_changes_but_each_result_says_when_it_is_needed() -> None:
    before = _report(Status.FAIL, logs=Status.FAIL)
    after = apply_lifecycle(before, CHECKS, _ctx())
    assert [(r.status, r.cause) for r in after.results] == [(r.status, r.cause) for r in before.results]
    assert [r.needed for r in after.results] == ["during-activation", "during-activation", "permanently", "permanently"]
    assert not after.ok
    # Without the proving check in the run (API details not given), nothing is judged either.
    assert _by_id(apply_lifecycle(_report(Status.FAIL, logs=None), CHECKS, _ctx()))["role"].status is Status.FAIL


def test_after_activation_a_missing_activation_right_is_not_needed_and_a_permanent_one_still_fails() -> None:
    after = _by_id(apply_lifecycle(_report(Status.FAIL, consent=Status.FAIL), CHECKS, _ctx()))
    role, consent = after["role"], after["consent"]
    assert (role.status, role.cause) == (Status.NOT_NEEDED, NOT_NEEDED)
    assert not role.status.is_problem and not role.fix_available
    assert "Not needed any more" in role.summary and "lacks the role" in role.summary  # what was found
    assert (consent.status, consent.cause) == (Status.NOT_NEEDED, NOT_NEEDED)
    assert after["identity"].status is Status.FAIL  # needed permanently: the lifecycle leaves it


def test_a_temporary_right_still_held_warns_and_a_harmless_one_passes() -> None:
    after = _by_id(apply_lifecycle(_report(Status.PASS, identity=Status.PASS), CHECKS, _ctx()))
    role = after["role"]
    assert (role.status, role.cause) == (Status.WARN, STILL_HELD)
    assert "still in place" in role.summary and "holds the role" in role.summary
    assert role.remediation is not None and USER in role.remediation.portal  # filled template
    assert after["consent"].status is Status.PASS
    assert any("harmless to keep" in m.text for m in after["consent"].messages)


def test_errors_and_ignored_failures_are_left_alone() -> None:
    report = _report(Status.ERROR)
    assert _by_id(apply_lifecycle(report, CHECKS, _ctx()))["role"].status is Status.ERROR


def _journal_with_grant(tmp_path: Path, *, reverted: bool) -> Journal:
    journal = Journal(tmp_path / "journal.jsonl")
    cid = journal.record_intent(tenant_id=TENANT, check_id="role", action=p.CREATE_DIRECTORY_ROLE_ASSIGNMENT,
                                target={"principal_id": USER, "role_definition_id": "r", "directory_scope_id": "/"})
    journal.record_outcome(cid, APPLIED, object_id="assignment-1")
    if reverted:
        rid = journal.record_intent(tenant_id=TENANT, check_id="role", action=p.DELETE_DIRECTORY_ROLE_ASSIGNMENT,
                                    target={"principal_id": USER, "role_definition_id": "r"}, reverts=cid)
        journal.record_outcome(rid, APPLIED, object_id="assignment-1")
    return journal


def test_a_right_revert_gave_back_says_so(tmp_path: Path) -> None:
    grants = grants_from_journal(_journal_with_grant(tmp_path, reverted=True), TENANT)
    assert len(grants) == 1 and grants[0].given_back
    role = _by_id(apply_lifecycle(_report(Status.FAIL), CHECKS, _ctx(), grants))["role"]
    assert (role.status, role.cause) == (Status.NOT_NEEDED, GIVEN_BACK)
    assert "given back by cipp-setup revert" in role.summary


@pytest.mark.parametrize("journaled", [True, False])
def test_the_revert_command_is_named_for_a_right_still_held(tmp_path: Path, journaled: bool) -> None:
    grants = grants_from_journal(_journal_with_grant(tmp_path, reverted=False), TENANT) if journaled else ()
    report = apply_lifecycle(_report(Status.PASS), CHECKS, _ctx(), grants)
    command = "cipp-setup revert --tenant contoso.example --generation legacy"
    role = _by_id(RunReport(with_revert_command(report.results, command), report.required))["role"]
    assert role.remediation is not None and command in role.remediation.steps
    hint = " ".join(m.text for m in role.messages)
    assert ("cipp-setup granted it on" in hint) is journaled
    assert ("does not record granting it" in hint) is not journaled


def test_an_unreadable_or_missing_journal_means_nothing_known(tmp_path: Path) -> None:
    assert grants_from_journal(None, TENANT) == ()
    assert grants_from_journal(Journal(tmp_path / "absent.jsonl"), TENANT) == ()
    assert not (tmp_path / "absent.jsonl").exists()  # reading never creates it

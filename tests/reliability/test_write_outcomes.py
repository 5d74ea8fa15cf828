"""Every write's outcome is what the tenant says after it (issue 14): a write whose answer
never came is read back, an earlier run's open intent is closed by the run that finds
the object, and revert is exact under replication lag. Waits move the sandbox clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fixsupport import check_and_fix_all, harness  # noqa: F401

from cipp_setup.engine import plan as p
from cipp_setup.engine.journal import APPLIED, Journal
from cipp_setup.engine.plan import ChangeStatus
from cipp_setup.sandbox.faults import parse_fault_spec
from cipp_setup.sandbox.state import DirectoryRoleAssignment, Visibility

def _sam_roles(state: Any) -> set[tuple[str, str]]:
    with state.lock:
        sam = state.cipp.sam_user_id
        return {(ra.role_definition_id, ra.directory_scope_id) for ra in state.role_assignments.values()
                if ra.principal_id == sam}


def _sam_arm(state: Any) -> set[tuple[str, str]]:
    with state.lock:
        sam = state.cipp.sam_user_id
        return {(a.scope.lower(), a.role_definition_id) for a in state.arm_role_assignments.values()
                if a.principal_id == sam}


async def _revert_all(session: Any) -> list[Any]:
    plan, reverts = session.revert_plan()
    return [await session.revert(removal, reverts) for removal in plan.plans]


@pytest.mark.parametrize(("service", "spec"), [
    ("graph", "slow:graph:POST:/roleManagement/directory/roleAssignments$:times=1:delay_ms=1500"),
    ("arm", "slow:arm:PUT:/roleAssignments/:times=1:delay_ms=1500"),
])
def test_a_write_whose_answer_timed_out_is_read_back_journaled_applied_and_reverted(
    sandbox_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, service: str, spec: str
) -> None:
    import cipp_setup.gateways.arm as arm
    import cipp_setup.gateways.graph as graph

    monkeypatch.setattr(graph, "GRAPH_TIMEOUT_S", 0.7)
    monkeypatch.setattr(arm, "ARM_READ_TIMEOUT_S", 0.7)
    sandbox = sandbox_factory("legacy-fresh")
    roles_before, arm_before = _sam_roles(sandbox.state), _sam_arm(sandbox.state)
    sandbox.control.add_fault(parse_fault_spec(spec))
    h = harness(sandbox, tmp_path)
    _, outcomes, after = h.run(check_and_fix_all)
    assert sandbox.control.faults()[0].hits == 1  # the answer was lost, the write landed
    action = p.CREATE_DIRECTORY_ROLE_ASSIGNMENT if service == "graph" else p.CREATE_ARM_ROLE_ASSIGNMENT
    [entry] = [e for e in h.journal.entries() if e.action == action]
    assert entry.outcome == APPLIED and entry.object_id  # not "failed": it landed
    assert [c.status for o in outcomes for c in o.changes if c.change.action == action] == [ChangeStatus.APPLIED]
    assert after.ok
    # ... so revert removes it, and the CIPP-SAM user is exactly as before the fix.
    outcomes = h.run(_revert_all)
    assert all(o.changes[0].status is ChangeStatus.APPLIED for o in outcomes)
    assert _sam_roles(sandbox.state) == roles_before and _sam_arm(sandbox.state) == arm_before


def test_an_interrupted_write_that_landed_is_closed_by_the_next_fix_and_reverted(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    sandbox = sandbox_factory("legacy-fresh")
    state = sandbox.state
    roles_before = _sam_roles(state)
    h = harness(sandbox, tmp_path)
    [ga_plan] = [pl for pl in h.run(lambda s: _plans(s)) if pl.check_id == "sam-user-global-admin"]
    change = ga_plan.changes[0]
    # The first run: the intent was journaled, the POST landed, then the process was
    # killed before the outcome (what `kill -9` during the POST leaves behind).
    target = {k: v for k, v in sorted(change.params.items()) if k in p.TARGET_PARAMS}
    Journal(h.journal.path).record_intent(tenant_id=_tenant(sandbox), check_id=change.check_id,
                                          action=change.action, target=target)
    with state.lock:
        state.add_role_assignment(DirectoryRoleAssignment(
            id="interrupted-ga", principal_id=str(change.params["principal_id"]),
            role_definition_id=str(change.params["role_definition_id"]),
            directory_scope_id=str(change.params["directory_scope_id"])))
    assert len(h.run(lambda s: _interrupted(s))) == 1

    settled, still_open = h.run(lambda s: s.settle_interrupted())  # what `fix` and `revert` do first
    assert len(settled) == 1 and still_open == []
    assert h.run(lambda s: _interrupted(s)) == []
    outcomes = h.run(_revert_all)
    assert any(o.changes[0].change.action == p.DELETE_DIRECTORY_ROLE_ASSIGNMENT for o in outcomes)
    assert _sam_roles(state) == roles_before


def test_revert_right_after_a_fix_waits_out_replication_lag_instead_of_saying_already_gone(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    sandbox = sandbox_factory("legacy-fresh")
    state = sandbox.state
    roles_before = _sam_roles(state)
    h = harness(sandbox, tmp_path)
    h.run(check_and_fix_all)
    # The replica the DELETE reaches has not seen the new assignment yet: 40 s of lag.
    with state.lock:
        sam = state.cipp.sam_user_id
        for ra in state.role_assignments.values():
            if ra.principal_id == sam:
                ra.visibility = Visibility(visible_at=state.clock.now() + 40)
    outcomes = h.run(_revert_all)
    ga = [o for o in outcomes if o.changes[0].change.action == p.DELETE_DIRECTORY_ROLE_ASSIGNMENT]
    assert [o.changes[0].status for o in ga] == [ChangeStatus.APPLIED]  # removed, not "already gone"
    assert sum(h.time.waits) >= 40
    with state.lock:
        for ra in state.role_assignments.values():
            ra.visibility = Visibility()
    assert _sam_roles(state) == roles_before  # read back with every replica caught up


def test_a_delete_that_keeps_missing_a_recent_object_is_gone_only_after_the_settle_window(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    sandbox = sandbox_factory("legacy-fresh")
    state = sandbox.state
    h = harness(sandbox, tmp_path)
    h.run(check_and_fix_all)
    with state.lock:  # removed by hand right after the fix
        sam = state.cipp.sam_user_id
        for key in [k for k, ra in state.role_assignments.items() if ra.principal_id == sam]:
            del state.role_assignments[key]
    outcomes = h.run(_revert_all)
    ga = [o for o in outcomes if o.changes[0].change.action == p.DELETE_DIRECTORY_ROLE_ASSIGNMENT]
    assert [o.changes[0].status for o in ga] == [ChangeStatus.ALREADY_GONE]
    # The settle window (WaitPolicy.gone_after_s = 60 s of the sandbox clock, which also
    # moves with real time) was waited before saying so.
    assert sum(h.time.waits) >= 50


async def _plans(session: Any) -> list[Any]:
    report = await session.check()
    return list(session.plans(report.results))


async def _interrupted(session: Any) -> list[Any]:
    return list(session.interrupted())


def _tenant(sandbox: Any) -> str:
    return str(sandbox.identities_document()["tenant_id"])

"""`revert`'s engine against the sandbox: exactly what the tool created, nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixsupport import check_and_fix_all, harness

from cipp_setup import wellknown as wk
from cipp_setup.engine import plan as p
from cipp_setup.engine.journal import ALREADY_GONE, APPLIED, Journal
from cipp_setup.engine.model import Status
from cipp_setup.engine.plan import ChangeStatus
from cipp_setup.sandbox.scenario import load_scenario
from cipp_setup.sandbox.state import ArmRoleAssignment


async def revert_all(session: Any) -> tuple[Any, list[Any]]:
    plan, reverts = session.revert_plan()
    outcomes = [await session.revert(removal, reverts) for removal in plan.plans]
    return plan, outcomes


def _arm_snapshot(state: Any) -> set[tuple[str, str, str]]:
    return {(a.scope.lower(), a.role_definition_id, a.principal_id) for a in state.arm_role_assignments.values()}


def _directory_snapshot(state: Any) -> set[tuple[str, str, str]]:
    return {(ra.principal_id, ra.role_definition_id, ra.directory_scope_id) for ra in state.role_assignments.values()}


def test_revert_removes_exactly_the_temporary_rights_the_fix_added(sandbox_factory: Any, tmp_path: Path) -> None:
    sandbox = sandbox_factory("legacy-fresh")
    state = sandbox.state
    arm_before, directory_before = _arm_snapshot(state), _directory_snapshot(state)
    h = harness(sandbox, tmp_path)
    h.run(check_and_fix_all)
    app = state.application_by_app_id(state.cipp.sam_app_id)
    grants_after_fix = dict(state.oauth2_grants)
    manifest_after_fix = repr(app.required_resource_access)

    plan, outcomes = h.run(revert_all)

    assert [pl.changes[0].action for pl in plan.plans] == [p.DELETE_ARM_ROLE_ASSIGNMENT, p.DELETE_DIRECTORY_ROLE_ASSIGNMENT]
    assert [o.changes[0].status for o in outcomes] == [ChangeStatus.APPLIED, ChangeStatus.APPLIED]
    # The two temporary rights are gone, and the checks they satisfied fail again.
    assert {o.verified.check_id: o.verified.status for o in outcomes} == {
        "sam-user-subscription-contributor": Status.FAIL, "sam-user-global-admin": Status.FAIL,
    }
    assert _arm_snapshot(state) == arm_before
    assert _directory_snapshot(state) == directory_before
    # Consent and manifest (what keeps the API working) are left as the fix made them.
    assert state.oauth2_grants.keys() == grants_after_fix.keys()
    assert repr(app.required_resource_access) == manifest_after_fix
    # Journaled: each removal names the change it reverts.
    removals = [e for e in h.journal.entries() if e.reverts]
    assert {e.action for e in removals} == {p.DELETE_ARM_ROLE_ASSIGNMENT, p.DELETE_DIRECTORY_ROLE_ASSIGNMENT}
    assert all(e.outcome == APPLIED for e in removals)

    # Nothing left to revert: a second revert plans nothing.
    plan_again, outcomes_again = h.run(revert_all)
    assert plan_again.plans == () and outcomes_again == []


def test_revert_never_removes_what_the_tool_did_not_create(sandbox_factory: Any, tmp_path: Path) -> None:
    """Contributor existed already when the fix ran (409 → already-present): it stays."""
    state = load_scenario("legacy-fresh")
    sub = next(iter(state.subscriptions.values())).subscription_id
    sam_id = state.cipp.sam_user_id
    sandbox = sandbox_factory(state)
    h = harness(sandbox, tmp_path)

    async def fix_with_colleague(session: Any) -> None:
        before = await session.check()
        plans = session.plans(before.results)
        with state.lock:  # a colleague assigns Contributor in the portal meanwhile
            state.add_arm_role_assignment(ArmRoleAssignment(
                name="33333333-3333-4333-8333-333333333333", scope=f"/subscriptions/{sub}",
                role_definition_id=wk.CONTRIBUTOR, principal_id=sam_id, principal_type="User"))
        for plan in plans:
            await session.apply(plan)

    h.run(fix_with_colleague)
    plan, outcomes = h.run(revert_all)

    assert [pl.changes[0].action for pl in plan.plans] == [p.DELETE_DIRECTORY_ROLE_ASSIGNMENT]
    assert "33333333-3333-4333-8333-333333333333" in state.arm_role_assignments
    assert outcomes[0].verified.status is Status.FAIL


def test_an_object_already_gone_counts_as_done(sandbox_factory: Any, tmp_path: Path) -> None:
    sandbox = sandbox_factory("legacy-fresh")
    state = sandbox.state
    h = harness(sandbox, tmp_path)
    h.run(check_and_fix_all)
    with state.lock:  # someone removed the Global Administrator assignment by hand
        for ra in list(state.role_assignments_for(state.cipp.sam_user_id)):
            if ra.role_definition_id == wk.GLOBAL_ADMINISTRATOR:
                state.remove_role_assignment(ra.id)

    _plan, outcomes = h.run(revert_all)

    statuses = {o.changes[0].change.action: o.changes[0].status for o in outcomes}
    assert statuses == {p.DELETE_ARM_ROLE_ASSIGNMENT: ChangeStatus.APPLIED,
                        p.DELETE_DIRECTORY_ROLE_ASSIGNMENT: ChangeStatus.ALREADY_GONE}
    assert ALREADY_GONE in {e.outcome for e in h.journal.entries() if e.reverts}


def test_an_interrupted_creation_is_reported_and_left_alone(sandbox_factory: Any, tmp_path: Path) -> None:
    sandbox = sandbox_factory("legacy-fresh")
    h = harness(sandbox, tmp_path)
    tenant = sandbox.identities_document()["tenant_id"]
    crashed = Journal(h.journal.path)
    crashed.record_intent(
        tenant_id=tenant, check_id="sam-user-global-admin", action=p.CREATE_DIRECTORY_ROLE_ASSIGNMENT,
        target={"principal_id": sandbox.state.cipp.sam_user_id, "role_definition_id": wk.GLOBAL_ADMINISTRATOR,
                "directory_scope_id": "/"},
    )

    plan, outcomes = h.run(revert_all)

    assert plan.plans == () and outcomes == []
    [entry] = plan.interrupted
    assert entry.action == p.CREATE_DIRECTORY_ROLE_ASSIGNMENT


def test_revert_only_touches_its_own_tenant(sandbox_factory: Any, tmp_path: Path) -> None:
    sandbox = sandbox_factory("legacy-fresh")
    h = harness(sandbox, tmp_path)
    other = Journal(h.journal.path)
    cid = other.record_intent(
        tenant_id="99999999-9999-4999-8999-999999999999", check_id="sam-user-global-admin",
        action=p.CREATE_DIRECTORY_ROLE_ASSIGNMENT,
        target={"principal_id": "x", "role_definition_id": wk.GLOBAL_ADMINISTRATOR, "directory_scope_id": "/"},
    )
    other.record_outcome(cid, APPLIED, object_id="someone-elses-assignment")

    plan, _ = h.run(revert_all)
    assert plan.plans == ()

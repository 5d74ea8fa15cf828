"""The interruption matrix (issue 14): at each of the 8 write points a legacy or a
current fix makes, a `fix --yes` process is interrupted (SIGINT and SIGKILL) while the
write is in flight; the next fix converges and revert then leaves the CIPP-SAM user
exactly as before the first fix, read back from the tenant. Also under 40 s of
replication lag.

Structural, not timed: the sandbox holds the write's answer (a `slow` fault: the service
carries the write out, the answer waits), the test waits until the fault has been hit —
the write has landed and the process is waiting for its answer — and only then signals.
The sandbox runs in this process (its state is read back directly) and serves the
interrupted process; the next fix and the revert run in this process through the
engine's FixSession, the way `fix` and `revert` run it (settle the open intents, check,
plan, apply; revert plan, revert), over the same journal. Every wait moves the sandbox
clock. One process per case keeps the 18 cases to a few minutes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fixsupport import check_and_fix_all, harness

from cipp_setup.cli.terminal import CI_VARIABLES
from cipp_setup.engine.plan import ChangeStatus
from cipp_setup.sandbox import scenario
from cipp_setup.sandbox.faults import parse_fault_spec
from cipp_setup.sandbox.runtime import Sandbox

HOLD_MS = 600_000  # the held answer never comes while the test looks (daemon thread)

# point: (scenario, the write's method and path, the journaled action it belongs to)
POINTS: dict[str, tuple[str, str, str]] = {
    "ga-assignment-post": ("legacy-fresh", "graph:POST:/roleManagement/directory/roleAssignments$",
                           "create-directory-role-assignment"),
    "required-resource-access-patch": ("legacy-fresh", "graph:PATCH:/applications/[^/]+$",
                                       "add-required-resource-access"),
    "grant-post": ("legacy-fresh", "graph:POST:/oauth2PermissionGrants$", "create-oauth2-permission-grant"),
    "arm-role-assignment-put": ("legacy-fresh", "arm:PUT:/providers/Microsoft.Authorization/roleAssignments/",
                                "create-arm-role-assignment"),
    "app-roles-patch": ("current-fresh", "graph:PATCH:/applications/[^/]+$", "add-required-app-roles"),
    "app-role-assignment-post": ("current-fresh", "graph:POST:/appRoleAssignedTo$", "create-app-role-assignment"),
    "identity-role-assignment-put": ("current-fresh", "arm:PUT:/sites/[^/]+/providers/Microsoft.Authorization/",
                                     "create-managed-identity-role-assignment"),
    "identity-patch": ("current-no-managed-identity", "arm:PATCH:/sites/[^/]+$", "enable-managed-identity"),
}
SIGNALS = {"sigint": signal.SIGINT, "sigkill": signal.SIGKILL}
LAG_S = 40.0
# current-fresh runs CIPP 7.4.0 (its scenario says so); the admin passes what CIPP shows.
CURRENT_CIPP_VERSION = "7.4.0"


def _env(state: Path) -> dict[str, str]:
    outside_ci = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}
    return {**outside_ci, "CIPP_SETUP_STATE_DIR": str(state), "NO_COLOR": "1"}


def _fix_argv(ready: Path, ids: dict[str, str], current: bool) -> list[str]:
    argv = [sys.executable, "-m", "cipp_setup", "fix", "--yes", "--cloud", str(ready),
            "--tenant", ids["tenant_id"], "--sam-user", ids["sam_user_upn"], "--sam-app", ids["sam_app_id"],
            "--subscription", ids["subscription_id"], "--generation", "current" if current else "legacy"]
    if current:  # the served tenant cannot tell 7.2-7.3 from 7.4+: say it (7.4's app-only writes)
        argv += ["--cipp-version", CURRENT_CIPP_VERSION]
        for flag, key in (("--api-url", "api_url"), ("--api-client-id", "api_client_id"),
                          ("--function-app", "function_app_id")):
            if ids.get(key):
                argv += [flag, ids[key]]
    return argv


def _overrides(ids: dict[str, str], current: bool) -> dict[str, Any]:
    if not current:
        return {}
    return {"generation": "current", "cipp_version": CURRENT_CIPP_VERSION, "api_url": ids.get("api_url"), "api_client_id": ids.get("api_client_id"),
            "function_app": ids.get("function_app_id"), "sam_app_id": ids["sam_app_id"]}


def sam_user_rights(state: Any) -> dict[str, Any]:
    """What the tenant says the CIPP-SAM user holds: directory roles, Azure roles, and the
    delegated grants made for it (read from the sandbox's state, every replica caught up)."""
    with state.lock:
        sam = state.cipp.sam_user_id
        return {
            "directory": sorted((ra.role_definition_id, ra.directory_scope_id)
                                for ra in state.role_assignments.values() if ra.principal_id == sam),
            "azure": sorted((a.scope.lower(), a.role_definition_id)
                            for a in state.arm_role_assignments.values() if a.principal_id == sam),
        }


def _wait_for_hit(sandbox: Sandbox, fix: subprocess.Popen[str], *, lag_s: float = 0.0) -> None:
    deadline = time.monotonic() + 240
    while sandbox.control.faults()[0].hits == 0:  # waiting for another process, not timing anything
        if fix.poll() is not None:
            pytest.fail("the fix ended before the write point: " + (fix.communicate()[1] or "")[-2000:])
        assert time.monotonic() < deadline, "the fix never reached the write point"
        if lag_s:
            # Under lag the fix waits for its earlier writes to replicate before the next
            # one: move the sandbox clock (ten times real time) instead of waiting it out.
            sandbox.control.advance_clock(0.5)
        time.sleep(0.05)


async def _revert_all(session: Any) -> list[Any]:
    plan, reverts = session.revert_plan()
    return [await session.revert(removal, reverts) for removal in plan.plans]


async def _next_fix(session: Any) -> tuple[Any, Any, list[Any], list[Any]]:
    settled, still_open = await session.settle_interrupted()  # what `fix` does first
    _, outcomes, after = await check_and_fix_all(session)
    return after, still_open, outcomes, list(session.plans(after.results))


def _interrupt_then_converge(point: str, how: str, tmp_path: Path, lag_s: float = 0.0) -> None:
    name, where, action = POINTS[point]
    current = name.startswith("current")
    sandbox = Sandbox(scenario.load_scenario(name)).start()
    try:
        ids = sandbox.identities_document()
        ready = sandbox.write_ready_file(tmp_path / "ready.json")
        before = sam_user_rights(sandbox.state)
        if lag_s:
            sandbox.control.set_replication(graph_seconds=lag_s)
        sandbox.control.add_fault(parse_fault_spec(f"slow:{where}:times=1:delay_ms={HOLD_MS}"))
        state_dir = tmp_path / "state"
        fix = subprocess.Popen(_fix_argv(ready, ids, current), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=_env(state_dir), stdin=subprocess.DEVNULL)
        try:
            _wait_for_hit(sandbox, fix, lag_s=lag_s)  # the write has landed; its answer is held
            fix.send_signal(SIGNALS[how])
            _, err = fix.communicate(timeout=120)
        finally:
            if fix.poll() is None:
                fix.kill()
        if how == "sigint":
            assert fix.returncode == 130, err
            assert "error:" not in err and "nothing was changed" not in err, err
            assert action in err and "may have landed" in err, err
        else:
            assert fix.returncode == -signal.SIGKILL
        sandbox.control.clear_faults()

        h = harness(sandbox, tmp_path)
        overrides = _overrides(ids, current)
        after, still_open, outcomes, left = h.run(_next_fix, **overrides)
        # Converged: nothing left that a fix could change (a scenario may also fail checks
        # no fix touches, such as a client CIPP never saved to Azure).
        assert not any(c.action == action for plan in left for c in plan.changes), left
        assert still_open == [] and h.run(lambda s: _open(s), **overrides) == []  # no intent left open
        landed = [(e.action, repr(sorted(e.target.items()))) for e in h.journal.entries()
                  if e.outcome == "applied" and not e.reverts]
        assert any(a == action for a, _ in landed), [(e.action, e.outcome, e.error_cause) for e in h.journal.entries()]
        assert len(landed) == len(set(landed)), landed  # each change made once
        assert not any(c.status is ChangeStatus.FAILED for o in outcomes for c in o.changes)

        reverted = h.run(_revert_all, **overrides)
        assert not any(c.status is ChangeStatus.FAILED for o in reverted for c in o.changes)
        if lag_s:  # read back once every replica has caught up
            sandbox.control.set_replication(graph_seconds=0)
            sandbox.control.advance_clock(lag_s)
        assert sam_user_rights(sandbox.state) == before
    finally:
        sandbox.stop()


async def _open(session: Any) -> list[Any]:
    return list(session.interrupted())


@pytest.mark.slow
@pytest.mark.parametrize("how", list(SIGNALS))
@pytest.mark.parametrize("point", list(POINTS))
def test_an_interrupted_write_converges_and_revert_is_exact(point: str, how: str, tmp_path: Path) -> None:
    _interrupt_then_converge(point, how, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["ga-assignment-post", "grant-post"])
def test_an_interrupted_write_converges_and_revert_is_exact_under_replication_lag(
    point: str, tmp_path: Path
) -> None:
    _interrupt_then_converge(point, "sigkill", tmp_path, lag_s=LAG_S)


def test_the_matrix_covers_eight_write_points_with_both_signals() -> None:
    assert len(POINTS) == 8 and len({(p, s) for p in POINTS for s in SIGNALS}) == 16
    assert len({action for _, _, action in POINTS.values()}) == 8

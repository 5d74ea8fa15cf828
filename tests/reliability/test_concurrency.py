"""Separate processes against one served sandbox (issue 14): concurrent `fix --yes` runs
make one set of changes with no false "interrupted" warning, and Ctrl-C during a write
names what landed or may have, exits 130, and the next fix + revert leave the tenant as
it was."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

from cipp_setup.cli.terminal import CI_VARIABLES
from cipp_setup.sandbox.control import RemoteControl

CREATES = ("create-directory-role-assignment", "create-arm-role-assignment")


def _serve(tmp_path: Path, *faults: str) -> Iterator[dict[str, Any]]:
    ready = tmp_path / "ready.json"
    argv = [sys.executable, "-m", "cipp_setup", "sandbox", "serve", "--scenario", "legacy-fresh",
            "--ready-file", str(ready)]
    for fault in faults:
        argv += ["--fault", fault]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():  # waiting for another process, not timing anything
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "the sandbox never wrote its ready file"
            time.sleep(0.05)
        yield {"ready": ready, **json.loads(ready.read_text(encoding="utf-8"))}
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    yield from _serve(tmp_path)


@pytest.fixture
def served_slow_ga(tmp_path: Path) -> Iterator[dict[str, Any]]:
    # The Global Administrator POST is handled (it lands), then its answer takes 20 s.
    yield from _serve(tmp_path, "slow:graph:POST:/roleManagement/directory/roleAssignments$:times=1:delay_ms=20000")


def _argv(served: dict[str, Any], *argv: str) -> list[str]:
    ids = served["identities"]
    return [sys.executable, "-m", "cipp_setup", *argv, "--cloud", str(served["ready"]),
            "--tenant", ids["tenant_id"], "--sam-user", ids["sam_user_upn"], "--sam-app", ids["sam_app_id"],
            "--subscription", ids["subscription_id"], "--generation", "legacy"]


def _env(state: Path) -> dict[str, str]:
    # Not a CI run for the tool (CI runs never sign in interactively): these runs sign in
    # with a device code that the served sandbox approves, as the other subprocess tests do.
    outside_ci = {k: v for k, v in os.environ.items() if k not in CI_VARIABLES}
    return {**outside_ci, "CIPP_SETUP_STATE_DIR": str(state), "NO_COLOR": "1"}


def _journal(state: Path) -> list[dict[str, Any]]:
    path = state / "journal.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _check(served: dict[str, Any], state: Path) -> dict[str, str]:
    done = subprocess.run(_argv(served, "check", "--json"), capture_output=True, text=True, timeout=240,
                          env=_env(state), stdin=subprocess.DEVNULL)
    return {c["id"]: c["status"] for c in json.loads(done.stdout)["checks"]}


@pytest.mark.parametrize("runs", [2, 3])
def test_concurrent_fixes_make_one_set_of_changes(served: dict[str, Any], tmp_path: Path, runs: int) -> None:
    state = tmp_path / "state"
    procs = [subprocess.Popen(_argv(served, "fix", "--yes"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=_env(state), stdin=subprocess.DEVNULL) for _ in range(runs)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0] * runs, [err for _, err in results]
    for _, err in results:
        assert "interrupted change" not in err and "Traceback" not in err
    intents = [r for r in _journal(state) if r["kind"] == "intent"]
    outcomes = {r["change_id"]: r["status"] for r in _journal(state) if r["kind"] == "outcome"}
    applied = Counter(r["action"] for r in intents if outcomes.get(r["change_id"]) == "applied")
    assert all(applied[action] == 1 for action in CREATES), applied  # each made once
    assert all(r["change_id"] in outcomes for r in intents)  # one journal, nothing left open
    assert _check(served, state)["sam-user-global-admin"] == "pass"


def test_ctrl_c_during_a_write_tells_the_truth_and_the_next_runs_converge(
    served_slow_ga: dict[str, Any], tmp_path: Path
) -> None:
    served = served_slow_ga
    state = tmp_path / "state"
    before = _check(served, state)
    fix = subprocess.Popen(_argv(served, "fix", "--yes"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=_env(state), stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    # Interrupt once the GA POST has reached the sandbox (it lands; its answer is held).
    with RemoteControl(served) as control:
        while control.faults()[0].hits == 0:  # waiting for another process, not timing anything
            assert fix.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    fix.send_signal(signal.SIGINT)
    _, err = fix.communicate(timeout=120)
    assert fix.returncode == 130, err
    assert "error:" not in err and "nothing was changed" not in err
    assert "create-directory-role-assignment" in err and "may have landed" in err

    second = subprocess.run(_argv(served, "fix", "--yes"), capture_output=True, text=True, timeout=600,
                            env=_env(state), stdin=subprocess.DEVNULL)
    assert second.returncode == 0, second.stderr
    third = subprocess.run(_argv(served, "fix", "--yes"), capture_output=True, text=True, timeout=600,
                           env=_env(state), stdin=subprocess.DEVNULL)
    assert "interrupted change" not in third.stderr  # the open intent was closed, not repeated
    revert = subprocess.run(_argv(served, "revert", "--yes"), capture_output=True, text=True, timeout=600,
                            env=_env(state), stdin=subprocess.DEVNULL)
    assert revert.returncode == 0, revert.stderr
    after = _check(served, state)
    # Read back: the CIPP-SAM user's temporary rights are exactly as before the first fix.
    for check_id in ("sam-user-global-admin", "sam-user-subscription-contributor"):
        assert after[check_id] == before[check_id] == "fail"

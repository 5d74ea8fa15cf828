"""`cipp-setup fix` and `cipp-setup revert` through the real entry point.

In-process runs use `--sandbox`; the end-to-end run drives a served sandbox
(`cipp-setup sandbox serve`, its ready file as `--cloud`) with separate processes for
check → fix → check → revert → check, as an admin would.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from cipp_setup.cli.main import main
from cipp_setup.engine.journal import Journal

PREREQUISITES = ["sam-user-global-admin", "sam-app-azure-management-consent", "sam-user-subscription-contributor"]


@pytest.fixture(autouse=True)
def _state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("CIPP_SETUP_STATE_DIR", str(state))
    for name in ("CIPP_API_CLIENT_SECRET", "NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    return state


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_without_a_terminal_fix_needs_yes_or_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "fix", "--sandbox", "legacy-fresh", "--generation", "legacy")
    assert code == 2 and out == ""
    assert err.startswith("cipp-setup: error: ") and "--yes" in err
    assert len(err.strip().splitlines()) == 1


def test_revert_needs_yes_too_and_yes_with_dry_run_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = _run(capsys, "revert", "--sandbox", "legacy-fresh", "--generation", "legacy")
    assert code == 2 and "--yes" in err
    code, _out, err = _run(capsys, "fix", "--sandbox", "legacy-fresh", "--generation", "legacy", "--yes", "--dry-run")
    assert code == 2 and "--yes and --dry-run" in err


def test_dry_run_shows_the_plans_and_changes_nothing(capsys: pytest.CaptureFixture[str], _state_dir: Path) -> None:
    code, out, err = _run(capsys, "fix", "--sandbox", "legacy-fresh", "--generation", "legacy", "--dry-run", "--json")
    assert code == 1, err
    envelope = json.loads(out)
    assert envelope["command"] == "fix"
    keys = list(envelope)
    assert keys.index("changes") < keys.index("checks")
    assert [(c["check_id"], c["action"], c["status"]) for c in envelope["changes"]] == [
        ("sam-user-global-admin", "create-directory-role-assignment", "planned"),
        ("sam-app-azure-management-consent", "add-required-resource-access", "planned"),
        ("sam-app-azure-management-consent", "create-oauth2-permission-grant", "planned"),
        ("sam-user-subscription-contributor", "create-arm-role-assignment", "planned"),
    ]
    assert [c["status"] for c in envelope["checks"] if c["id"] in PREREQUISITES] == ["fail"] * 3
    # The human report went to stderr, the plan in full.
    assert "Microsoft Graph POST /roleManagement/directory/roleAssignments" in err
    assert not (_state_dir / "journal.jsonl").exists()


def test_fix_yes_applies_everything_journals_it_and_keeps_secrets_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, _state_dir: Path
) -> None:
    canary = "canary-Q8~secret-value-that-must-never-be-written"
    monkeypatch.setenv("CIPP_API_CLIENT_SECRET", canary)
    code, out, err = _run(capsys, "fix", "--sandbox", "legacy-fresh", "--generation", "legacy", "--yes", "--json")
    assert code == 0, err
    envelope = json.loads(out)
    assert [c["status"] for c in envelope["changes"]] == ["applied"] * 4
    assert [c["status"] for c in envelope["checks"] if c["id"] in PREREQUISITES] == ["pass"] * 3
    assert envelope["status"] == "passed" and envelope["exit_code"] == 0
    journal_text = (_state_dir / "journal.jsonl").read_text(encoding="utf-8")
    entries = Journal(_state_dir / "journal.jsonl").entries()
    # The sign-in's own consent (the tool's client, for the organization) is journaled first.
    assert [e.action for e in entries][0] == "record-sign-in-consent"
    assert [e.outcome for e in entries[1:]] == ["applied"] * 4
    assert envelope["journal"] == str(_state_dir / "journal.jsonl")
    for text in (journal_text, out, err):
        assert canary not in text
        assert "eyJ" not in text  # no token either


def test_an_interrupted_change_is_reported_on_the_next_run(capsys: pytest.CaptureFixture[str], _state_dir: Path) -> None:
    from cipp_setup.sandbox.scenario import load_scenario

    tenant = load_scenario("legacy-fresh").tenant_id
    Journal(_state_dir / "journal.jsonl").record_intent(
        tenant_id=tenant, check_id="sam-user-global-admin", action="create-directory-role-assignment",
        target={"principal_id": "p", "role_definition_id": "r", "directory_scope_id": "/"},
    )
    code, _out, err = _run(capsys, "fix", "--sandbox", "legacy-fresh", "--generation", "legacy", "--dry-run")
    assert code == 1
    assert "interrupted change: verify create-directory-role-assignment" in err


# --- end to end on a served sandbox -----------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    ready = tmp_path / "ready.json"
    server = subprocess.Popen(
        [sys.executable, "-m", "cipp_setup", "sandbox", "serve", "--scenario", "legacy-fresh",
         "--ready-file", str(ready)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
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


def _cli(served: dict[str, Any], state_dir: Path, *argv: str) -> tuple[int, dict[str, Any], str]:
    ids = served["identities"]
    env = {**os.environ, "CIPP_SETUP_STATE_DIR": str(state_dir)}
    done = subprocess.run(
        [sys.executable, "-m", "cipp_setup", *argv, "--json", "--cloud", str(served["ready"]),
         "--tenant", ids["tenant_id"], "--sam-user", ids["sam_user_upn"], "--sam-app", ids["sam_app_id"],
         "--subscription", ids["subscription_id"], "--generation", "legacy"],
        capture_output=True, text=True, timeout=240, env=env, stdin=subprocess.DEVNULL,
    )
    return done.returncode, json.loads(done.stdout), done.stderr


def _prerequisites(envelope: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for c in envelope["checks"] if c["id"] in PREREQUISITES}


def test_check_fix_check_revert_check_on_a_served_sandbox(served: dict[str, Any], _state_dir: Path) -> None:
    code, before, err = _cli(served, _state_dir, "check")
    assert code == 1, err
    assert _prerequisites(before) == dict.fromkeys(PREREQUISITES, "fail")

    code, fixed, err = _cli(served, _state_dir, "fix", "--yes")
    assert code == 0, err
    assert {c["status"] for c in fixed["changes"]} == {"applied"}

    code, after, err = _cli(served, _state_dir, "check")
    assert code == 0, err
    assert _prerequisites(after) == dict.fromkeys(PREREQUISITES, "pass")

    code, reverted, err = _cli(served, _state_dir, "revert", "--yes")
    assert code == 0, err
    assert [(c["action"], c["status"]) for c in reverted["changes"]] == [
        ("delete-arm-role-assignment", "applied"), ("delete-directory-role-assignment", "applied"),
    ]

    code, last, err = _cli(served, _state_dir, "check")
    assert code == 1
    assert _prerequisites(last) == {
        "sam-user-global-admin": "fail",
        "sam-app-azure-management-consent": "pass",
        "sam-user-subscription-contributor": "fail",
    }


def test_on_a_terminal_each_plan_is_asked_for(tmp_path: Path) -> None:
    """A real pseudo-terminal: yes to the first fix, no to the second, yes to the third."""
    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, "CIPP_SETUP_STATE_DIR": str(tmp_path / "state"), "PROMPT_TOOLKIT_NO_CPR": "1",
           "NO_COLOR": "1", "TERM": "xterm"}
    env.pop("CI", None)
    env.pop("GITHUB_ACTIONS", None)
    child = pexpect.spawn(sys.executable, ["-m", "cipp_setup", "fix", "--sandbox", "legacy-fresh", "--generation", "legacy"],
                          env=env, encoding="utf-8", timeout=120, dimensions=(50, 200))
    seen = io.StringIO()
    child.logfile_read = seen
    try:
        for check_id, answer in (("sam-user-global-admin", "y"), ("sam-app-azure-management-consent", "n"),
                                 ("sam-user-subscription-contributor", "y")):
            child.expect(f"Apply this fix for {check_id}\\?")
            child.send(answer)
        child.expect(pexpect.EOF)
    finally:
        child.close()
    output = seen.getvalue()
    assert child.exitstatus == 1  # the declined consent still fails
    assert "skipped: add-required-resource-access" in output
    assert "verified: sam-user-subscription-contributor passes" in output
    entries = Journal(tmp_path / "state" / "journal.jsonl").entries()
    assert [e.action for e in entries] == [
        "record-sign-in-consent", "create-directory-role-assignment", "create-arm-role-assignment"]

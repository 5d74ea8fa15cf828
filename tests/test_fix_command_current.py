"""`cipp-setup fix` on current-generation scenarios, through the real entry point: every
scenario with a fix ends with every check passing; generation auto-detection; the new
client secret shown once on a terminal and nowhere else."""

from __future__ import annotations

import io
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from cipp_setup.cli.main import main
from cipp_setup.engine.journal import Journal
from cipp_setup.engine.signin_consent import RECORD_SIGN_IN_CONSENT

CURRENT_CHECKS = ["sam-app-graph-application-permissions", "function-app-managed-identity", "api-client-app",
                  "api-easy-auth", "api-token", "api-list-logs"]
SECRET_SHAPE = re.compile(r"[A-Za-z0-9_.~-]{3}\dQ~[A-Za-z0-9_.~-]{31,34}")


@pytest.fixture(autouse=True)
def _state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("CIPP_SETUP_STATE_DIR", str(state))
    for name in ("CIPP_API_CLIENT_SECRET", "NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    return state


def _json_fix(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict, str]:
    code = main(["fix", *argv, "--yes", "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


@pytest.mark.parametrize(("scenario", "extra", "actions"), [
    ("current-fresh", ["--generation", "current"],
     ["add-required-app-roles", "create-app-role-assignment", "create-app-role-assignment",
      "create-managed-identity-role-assignment"]),
    ("current-identifier-uri-missing", [], ["add-identifier-uri"]),
    ("current-identity-no-role", ["--write-easy-auth"], ["create-managed-identity-role-assignment", "update-easy-auth"]),
    ("current-no-managed-identity", ["--write-easy-auth"],
     ["enable-managed-identity", "create-managed-identity-role-assignment", "update-easy-auth"]),
    ("current-not-saved", ["--write-easy-auth"], ["update-easy-auth"]),
    ("current-v2-audience", ["--write-easy-auth"], ["update-easy-auth"]),
])
def test_fix_yes_then_every_check_passes(capsys: pytest.CaptureFixture[str], scenario: str, extra: list[str],
                                         actions: list[str]) -> None:
    code, envelope, err = _json_fix(capsys, "--sandbox", scenario, *extra)
    assert code == 0, err[-3000:]
    assert [(c["action"], c["status"]) for c in envelope["changes"]] == [(a, "applied") for a in actions]
    assert envelope["generation"] == "current"
    statuses = {c["id"]: c["status"] for c in envelope["checks"]}
    assert list(statuses) == CURRENT_CHECKS
    expected = "skip" if scenario == "current-fresh" else "pass"  # current-fresh has no API client yet
    assert statuses == {**dict.fromkeys(CURRENT_CHECKS[:2], "pass"), **dict.fromkeys(CURRENT_CHECKS[2:], expected)}


def test_auto_detection_names_the_generation_and_its_evidence(capsys: pytest.CaptureFixture[str]) -> None:
    code, envelope, _err = _json_fix(capsys, "--sandbox", "current-identifier-uri-missing")
    assert code == 0
    assert envelope["generation"] == "current" and envelope["generation_evidence"]


def test_when_the_tenant_cannot_tell_fix_names_generation(
    capsys: pytest.CaptureFixture[str], _state_dir: Path, sandbox_factory: Any, tmp_path: Path
) -> None:
    served = sandbox_factory("current-fresh")
    ready = served.write_ready_file(tmp_path / "ready.json")
    code = main(["fix", "--cloud", str(ready), "--tenant", served.state.tenant_id, "--yes"])
    err = capsys.readouterr().err
    assert code == 2
    assert "--generation legacy or --generation current" in err
    assert not (_state_dir / "journal.jsonl").exists()


def test_without_write_easy_auth_save_to_azure_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    code, envelope, err = _json_fix(capsys, "--sandbox", "current-not-saved")
    assert code == 1
    assert [(c["action"], c["status"]) for c in envelope["changes"]] == [("update-easy-auth", "skipped")]
    assert "Integrations → CIPP-API → API Clients" in envelope["changes"][0]["detail"]
    assert "Not applied automatically" in err and "Save to Azure" in err


def _tenant_changes(state_dir: Path) -> list[Any]:
    """The journal's entries other than the sign-in consent every first sign-in records."""
    path = state_dir / "journal.jsonl"
    entries = Journal(path).entries() if path.exists() else []
    return [e for e in entries if e.action != RECORD_SIGN_IN_CONSENT]


def test_off_a_terminal_no_secret_is_created(capsys: pytest.CaptureFixture[str], _state_dir: Path) -> None:
    code, envelope, err = _json_fix(capsys, "--sandbox", "current-secret-expired")
    assert code == 1
    [change] = envelope["changes"]
    assert (change["action"], change["status"], change["cause"]) == ("add-client-secret", "failed", "cannot-show-secret")
    assert "on a terminal" in change["detail"]
    # Nothing was created: the journal holds at most the admin's own sign-in consent (issue
    # 10 journals the first sign-in's consent, a change to the tenant of its own).
    assert _tenant_changes(_state_dir) == []


@pytest.mark.skipif(sys.platform == "win32", reason="pexpect.spawn needs a POSIX pseudo-terminal")
def test_on_a_terminal_the_new_secret_is_shown_exactly_once(tmp_path: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    state_dir = tmp_path / "state"
    env = {**os.environ, "CIPP_SETUP_STATE_DIR": str(state_dir), "PROMPT_TOOLKIT_NO_CPR": "1",
           "NO_COLOR": "1", "TERM": "xterm"}
    env.pop("CI", None)
    env.pop("GITHUB_ACTIONS", None)
    reports = tmp_path / "reports"
    child = pexpect.spawn(sys.executable, ["-m", "cipp_setup", "fix", "--sandbox", "current-secret-expired",
                                           "--yes", "--json", "--report", str(reports)],
                          env=env, encoding="utf-8", timeout=120, dimensions=(50, 250))
    seen = io.StringIO()
    child.logfile_read = seen
    try:
        child.expect(pexpect.EOF)
    finally:
        child.close()
    output = seen.getvalue()
    assert child.exitstatus == 0, output[-3000:]
    match = re.search(r"Value: (\S+)", output)
    assert match is not None, output[-3000:]
    secret = match.group(1)
    assert SECRET_SHAPE.fullmatch(secret)
    assert output.count(secret) == 1  # the one-time display; the JSON and the report lines scrubbed
    assert "shown only this once" in output
    journal_text = (state_dir / "journal.jsonl").read_text(encoding="utf-8")
    assert secret not in journal_text
    [entry] = _tenant_changes(state_dir)
    assert entry.action == "add-client-secret" and entry.outcome == "applied"
    for report in reports.rglob("*"):
        if report.is_file():
            assert secret not in report.read_text(encoding="utf-8", errors="replace")
    text = output.replace("\r\n", "\n")
    envelope, _end = json.JSONDecoder().raw_decode(text[text.index("{\n"):])  # the report line follows
    assert {c["id"]: c["status"] for c in envelope["checks"]}["api-list-logs"] == "pass"

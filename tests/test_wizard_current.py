"""The wizard and the demo for a current CIPP (7.2+, API clients), against the sandbox.

Same machinery as test_wizard.py: real questionary prompts fed by prompt_toolkit's pipe
input, a terminal whose streams say they are TTYs; the demo also as a subprocess and in
a real pseudo-terminal.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from test_wizard import ENTER, MAIN, SECRET_SHAPE, RecordingPrompter, journal_lines, run_with_keys, tty_terminal

from cipp_setup.cli import wizard_cmd
from cipp_setup.cli.inputs import from_namespace
from cipp_setup.cli.main import build_parser
from cipp_setup.wizard.prompts import Option


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CIPP_SETUP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for name in ("CI", "GITHUB_ACTIONS", "CIPP_API_CLIENT_SECRET", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)


def test_current_self_hosted_enter_at_every_prompt_reaches_list_logs(tmp_path: Path) -> None:
    # hosting, tenant, which CIPP (the tenant cannot tell), CIPP-SAM app, Function App, two fixes
    code, out, err = run_with_keys(["wizard", "--sandbox", "current-fresh"], ENTER * 7)
    assert code == 0, err[-3000:]
    assert "cipp-setup cannot tell from the tenant whether this CIPP is legacy or current" in err
    for check_id in ("sam-app-graph-application-permissions", "function-app-managed-identity"):
        assert f"[✗] {check_id}:" in err
        assert f"[✓] {check_id}: was fail, fixed" in out
    assert "Create an API client in CIPP" in err
    assert "Integrations → CIPP-API → API Clients → Add API Client" in err and "Save to Azure" in err
    assert "Secret: ******** (kept out of every screen and log)" in err
    assert "[✓] api-token:" in err and "[✓] api-list-logs:" in err
    assert "CIPP: self-hosted, current generation (you said so" in out
    assert "+ create-managed-identity-role-assignment" in out
    assert "Give the temporary rights back" not in err  # nothing temporary was added
    assert "The CIPP API answers." in out and "For your tenant: cipp-setup wizard" in out  # the sandbox is gone after it
    assert not SECRET_SHAPE.search(out + err)
    assert not any(SECRET_SHAPE.search(line) for line in journal_lines(tmp_path))


def run_recorded(argv: Sequence[str], prompter: RecordingPrompter) -> tuple[int, str, str]:
    terminal = tty_terminal()
    code = wizard_cmd.run(from_namespace(build_parser().parse_args(list(argv))), terminal, prompter=prompter)
    return code, terminal.stdout.getvalue(), terminal.stderr.getvalue()  # type: ignore[attr-defined]


def test_a_current_instance_is_recognised_and_the_reason_said() -> None:
    # The API client is named: the CIPP-SAM app's consented application permissions no longer
    # count as current evidence (CIPP 7.1.3 consents its SAM manifest's application permissions
    # too), and this upgraded tenant's Easy Auth still registers CIPP-API.
    from cipp_setup.sandbox import load_scenario

    client = load_scenario("current-identity-no-role").identities.api_client_id
    prompter = RecordingPrompter()
    code, out, err = run_recorded(["wizard", "--sandbox", "current-identity-no-role", "--api-client-id", str(client)],
                                  prompter)
    assert code == 0, err[-3000:]
    assert "Which CIPP do you run?" not in prompter.asked
    assert "Found current CIPP (7.2 and later: API clients), because:" in err
    assert "Easy Auth's registered client is the app named CIPP-API" in err  # the 7.1 remnant...
    assert "Current evidence outweighs legacy remnants" in err  # ...weighed against the rest
    assert "Which user is the CIPP-SAM user?" not in prompter.asked  # current CIPP needs no user's rights
    assert "Function App name (or its resource id):" in prompter.asked
    assert "Apply fix 1/1 (function-app-managed-identity)?" in prompter.asked
    assert "CIPP: self-hosted, current generation (found in the tenant)" in out


class PicksLegacy(RecordingPrompter):
    async def select(self, message: str, options: Sequence[Option], default: str | None = None) -> str:
        if message == "Which CIPP do you run?":
            self.asked.append(message)
            self.generation_options = [(o.value, o.title) for o in options]
            self.generation_default = default
            return "legacy"
        return await super().select(message, options, default)


def test_when_the_tenant_cannot_tell_the_wizard_asks_and_follows_the_answer() -> None:
    prompter = PicksLegacy()
    code, out, err = run_recorded(["wizard", "--sandbox", "current-fresh"], prompter)
    assert "Which CIPP do you run?" in prompter.asked
    assert prompter.generation_options == [("current", "Current (7.2 or later)"), ("legacy", "Legacy (7.1 or earlier)")]
    assert prompter.generation_default == "current"
    assert "CIPP-SAM does not hold both Graph application permissions" in err  # the evidence, shown
    # Answered legacy: the legacy prerequisites are what is checked.
    assert "Which user is the CIPP-SAM user?" in prompter.asked
    assert "[✗] sam-user-global-admin:" in err or "[✓] sam-user-global-admin:" in err
    assert "CIPP: self-hosted, legacy generation (you said so" in out
    assert code == 1  # a current instance cannot activate the legacy way


def test_generation_flag_skips_detection() -> None:
    prompter = RecordingPrompter()
    code, out, err = run_recorded(["wizard", "--sandbox", "current-fresh", "--generation", "current"], prompter)
    assert code == 0, err[-3000:]
    assert "Which CIPP do you run?" not in prompter.asked
    assert "you passed --generation current" in err


def test_demo_yes_on_current_fresh_ends_with_the_api_verified(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CIPP_API_CLIENT_SECRET",)}
    env.update({"CI": "true", "NO_COLOR": "1", "TMPDIR": str(tmp_path), "CIPP_SETUP_STATE_DIR": str(tmp_path / "s")})
    proc = subprocess.run(
        [sys.executable, "-m", "cipp_setup", "demo", "--yes", "--scenario", "current-fresh"], check=False,
        cwd=MAIN, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "The CIPP API answers." in proc.stdout
    assert "[✓] api-list-logs:" in proc.stdout
    assert "CIPP: self-hosted, current generation" in proc.stdout
    assert "Sandbox: cipp-setup clicks Add, then Save to Azure" in proc.stderr
    assert not SECRET_SHAPE.search(proc.stdout + proc.stderr)


CURRENT_QUESTIONS = (
    "How is your CIPP hosted?",
    r"Your partner tenant \(tenant id or domain\):",
    "Which CIPP do you run?",
    "Which application is CIPP-SAM?",
    "Function App name",
    r"Apply fix 1/2 \(sam-app-graph-application-permissions\)\?",
    r"Apply fix 2/2 \(function-app-managed-identity\)\?",
)


@pytest.mark.skipif(sys.platform == "win32", reason="pexpect.spawn needs a POSIX pseudo-terminal")
def test_demo_current_fresh_in_a_pty_pressing_enter_at_every_prompt(tmp_path: Path) -> None:
    pexpect: Any = pytest.importorskip("pexpect")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS", "NO_COLOR")}
    env.update({"PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm-256color", "TMPDIR": str(tmp_path),
                "CIPP_SETUP_STATE_DIR": str(tmp_path / "state")})
    child = pexpect.spawn(sys.executable, ["-m", "cipp_setup", "demo", "--scenario", "current-fresh"],
                          cwd=str(MAIN), env=env, encoding="utf-8", timeout=60, dimensions=(50, 220))
    try:
        for question in CURRENT_QUESTIONS:
            child.expect(question)
            child.send("\r")
        child.expect("The CIPP API answers")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0

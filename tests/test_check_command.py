"""`cipp-setup check` end to end against the sandbox, through the real entry point.

Most runs call `main()` in process (the SDK imports are paid once); the stream and
process-level promises (pure JSON on stdout, `sandbox serve` + `--cloud READYFILE`) run
`python -m cipp_setup` in a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import pytest

from cipp_setup.cli import main as cli_main
from cipp_setup.cli.main import main

LEGACY_CHECKS = [
    "sam-user-global-admin",
    "sam-app-azure-management-consent",
    "sam-user-subscription-contributor",
    "api-token",
    "api-list-logs",
]
PREREQUISITES = LEGACY_CHECKS[:3]


def _engine_ready() -> bool:
    try:
        import cipp_setup.checks

        import cipp_setup.engine.diagnose  # noqa: F401
        from cipp_setup.sandbox.scenario import list_scenarios
    except ImportError:
        return False
    return any(name == "legacy-ready" for name, _ in list_scenarios())


needs_engine = pytest.mark.skipif(not _engine_ready(), reason="the diagnosis engine, checks or scenarios are not built yet")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CIPP_API_CLIENT_SECRET", "NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _check_lines(text: str) -> dict[str, str]:
    """check id -> its mark, from the report's one-line-per-check layout."""
    marks: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("[") and "] " in line:
            mark, rest = line.split("] ", 1)
            marks[rest.split(":", 1)[0]] = mark + "]"
    return marks


def _json_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = _run(capsys, *argv, "--json")
    return code, json.loads(out), err


# --- verdicts --------------------------------------------------------------------------


@needs_engine
def test_legacy_ready_passes_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "check", "--sandbox", "legacy-ready")
    assert code == 0, out + err
    marks = _check_lines(out)
    assert list(marks) == LEGACY_CHECKS  # catalogue order
    # The API answers, so the two temporary roles still in place warn (issue 11's lifecycle;
    # before it, every mark was [✓]); each names the revert command.
    held = {"sam-user-global-admin", "sam-user-subscription-contributor"}
    assert marks == {c: "[!]" if c in held else "[✓]" for c in LEGACY_CHECKS}, out
    assert out.count("cipp-setup revert --sandbox legacy-ready") == 2, out
    signed_in = out.index("Signed in as ")
    assert signed_in < out.index("[✓]")
    assert "in tenant " in out[signed_in:].splitlines()[0]
    assert out.rstrip().splitlines()[-1].endswith("Every required check passed (with warnings).")
    assert "Traceback" not in err


@needs_engine
def test_legacy_fresh_fails_the_three_prerequisites(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "check", "--sandbox", "legacy-fresh", "--generation", "legacy")
    assert code == 1
    marks = _check_lines(out)
    assert [marks[c] for c in PREREQUISITES] == ["[✗]"] * 3, out
    assert marks["api-token"] == marks["api-list-logs"] == "[-]"
    # Each failure says what to do: portal path, command line, where to read more.
    assert out.count("In the portal: ") == 3
    assert out.count("Azure CLI: ") == 3
    assert out.count("PowerShell: ") == 3
    # Filled with what the run found: no placeholder for the CIPP-SAM user it resolved.
    assert "<cipp-sam-user-object-id>" not in out and "<user-object-id>" not in out
    assert "Details: cipp-setup explain sam-user-global-admin" in out
    assert "3 required checks did not pass." in out.splitlines()[-1]


@needs_engine
def test_json_keeps_stdout_pure(capsys: pytest.CaptureFixture[str]) -> None:
    code, envelope, err = _json_run(capsys, "check", "--sandbox", "legacy-fresh", "--generation", "legacy")
    assert code == 1 and envelope["exit_code"] == 1 and envelope["status"] == "failed"
    assert [c["id"] for c in envelope["checks"]] == LEGACY_CHECKS
    for check in envelope["checks"][:3]:
        assert check["status"] == "fail" and check["cause"]
    # The human report went to stderr instead.
    assert "Signed in as " in err and "[✗] sam-user-global-admin" in err


@needs_engine
def test_json_stdout_is_pure_in_a_real_process() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CIPP_API_CLIENT_SECRET"}
    done = subprocess.run([sys.executable, "-m", "cipp_setup", "check", "--sandbox", "legacy-ready", "--json"],
                          check=False, capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 0, done.stderr
    envelope = json.loads(done.stdout)  # the whole of stdout, nothing else
    assert envelope["status"] == "passed"
    assert "Signed in as " in done.stderr


@needs_engine
def test_only_runs_just_the_named_checks(capsys: pytest.CaptureFixture[str]) -> None:
    code, envelope, _ = _json_run(capsys, "check", "--sandbox", "legacy-fresh", "--generation", "legacy", "--only", "sam-user-global-admin")
    assert code == 1
    assert [c["id"] for c in envelope["checks"]] == ["sam-user-global-admin"]
    code, envelope, _ = _json_run(capsys, "check", "--sandbox", "legacy-ready",
                                  "--only", "sam-user-global-admin,sam-user-subscription-contributor")
    assert code == 0
    assert [c["id"] for c in envelope["checks"]] == ["sam-user-global-admin", "sam-user-subscription-contributor"]


@needs_engine
def test_ignore_demotes_failures_to_warnings_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "check", "--sandbox", "legacy-fresh", "--generation", "legacy", "--ignore", *PREREQUISITES)
    assert code == 0, out
    marks = _check_lines(out)
    assert [marks[c] for c in PREREQUISITES] == ["[!]"] * 3
    assert out.count("Ignored by --ignore") == 3
    code, envelope, _ = _json_run(capsys, "check", "--sandbox", "legacy-fresh", "--generation", "legacy", "--ignore", "sam-user-global-admin")
    assert code == 1  # the two failures not ignored still fail the run
    first = envelope["checks"][0]
    assert first["status"] == "warn" and first["ignored"] is True and first["cause"]


@needs_engine
def test_verbose_adds_evidence(capsys: pytest.CaptureFixture[str]) -> None:
    _, envelope, _ = _json_run(capsys, "check", "--sandbox", "legacy-fresh", "--generation", "legacy", "--only", "sam-user-global-admin")
    evidence = envelope["checks"][0]["evidence"]
    assert evidence, "the check should report what it found"
    setting = evidence[0]["setting"]
    _, quiet, _ = _run(capsys, "check", "--sandbox", "legacy-fresh", "--generation", "legacy", "--only", "sam-user-global-admin")
    _, loud, _ = _run(capsys, "check", "--sandbox", "legacy-fresh", "--generation", "legacy", "--only", "sam-user-global-admin", "-v")
    assert f"    {setting}: " not in quiet
    assert f"    {setting}: {evidence[0]['found']}" in loud


@needs_engine
def test_sign_in_impossible_non_interactively_exits_4(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "check", "--sandbox", "legacy-ready", "--non-interactive")
    assert code == 4, out + err
    error_lines = [line for line in err.splitlines() if line.startswith("cipp-setup: error: ")]
    assert len(error_lines) == 1 and error_lines[0].startswith("cipp-setup: error: sign-in required"), err
    assert "Traceback" not in err and "DeviceCodeCredential" not in err
    code, envelope, _ = _json_run(capsys, "check", "--sandbox", "legacy-ready", "--non-interactive")
    assert code == 4 and envelope["status"] == "error" and envelope["error"]["code"] == "sign-in-required"


# --- explain and sandbox list -------------------------------------------------------------


@needs_engine
def test_explain_prints_docs_and_remediation(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "explain", "sam-user-global-admin")
    assert code == 0
    assert out.startswith("sam-user-global-admin - ")
    assert "Causes:" in out and "not-global-admin" in out and "global-admin-eligible-only" in out
    assert "In the portal: " in out and "Azure CLI: " in out and "PowerShell: " in out
    code, out, _ = _run(capsys, "explain")
    # The whole catalogue, in order: the legacy checks and the current generation's (the
    # 7.2-7.3 profile's sam-user-app-registration, then the 7.4+ profile's permissions).
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == [
        *LEGACY_CHECKS[:3], "sam-user-app-registration", "sam-app-graph-application-permissions", "function-app-managed-identity",
        "api-client-app", "api-easy-auth", *LEGACY_CHECKS[3:],
    ]


def test_sandbox_list_names_the_builtin_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("cipp_setup.sandbox.scenario")
    code, out, _ = _run(capsys, "sandbox", "list")
    assert code == 0
    names = {line.split()[0]: line.split(None, 1)[1] if len(line.split()) > 1 else "" for line in out.splitlines()}
    for name in ("legacy-ready", "legacy-fresh", "legacy-ga-via-group", "legacy-ga-eligible-only",
                 "legacy-consent-missing", "legacy-contributor-inherited", "legacy-contributor-via-group"):
        assert names.get(name), f"{name} is missing or has no description:\n{out}"


# --- exit codes 3 and 130 come from the entry point itself ----------------------------


def _fake_command(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """A command module whose run() raises `error`: the outermost edge of the entry point."""
    module = types.ModuleType("cipp_setup.cli.explode_cmd")

    def register(subparsers: Any) -> Any:
        return subparsers.add_parser("explode", help="raises")

    def run(args: Any, terminal: Any) -> int:
        terminal.add_secret("hunter2-secret")
        raise error

    module.register = register  # type: ignore[attr-defined]
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cipp_setup.cli.explode_cmd", module)
    monkeypatch.setitem(cli_main.COMMANDS, "explode", "explode_cmd")


def test_unexpected_exception_exits_3_with_a_log_file(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_command(monkeypatch, RuntimeError("boom with hunter2-secret inside"))
    code, out, err = _run(capsys, "explode")
    assert code == 3 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err and "internal error (RuntimeError)" in err
    log = Path(err.split("the details are in ", 1)[1].split(". ", 1)[0])
    text = log.read_text(encoding="utf-8")
    log.unlink()
    assert "Traceback" in text and "boom with" in text
    assert "hunter2-secret" not in text  # secrets are scrubbed from the crash log too


def test_interrupt_exits_130(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_command(monkeypatch, KeyboardInterrupt())
    code, out, err = _run(capsys, "explode")
    assert code == 130 and out == "" and err == "Interrupted.\n"


# --- a served sandbox, used through its ready file ---------------------------------------


@needs_engine
def test_sandbox_serve_ready_file_works_as_cloud(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    env = {k: v for k, v in os.environ.items() if k not in ("CIPP_API_CLIENT_SECRET",)}
    server = subprocess.Popen(
        [sys.executable, "-m", "cipp_setup", "sandbox", "serve", "--scenario", "legacy-ready",
         "--ready-file", str(ready)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "the sandbox never wrote its ready file"
            time.sleep(0.05)
        doc = json.loads(ready.read_text(encoding="utf-8"))
        ids = doc["identities"]
        done = subprocess.run(
            [sys.executable, "-m", "cipp_setup", "check", "--cloud", str(ready), "--json",
             "--tenant", ids["tenant_id"], "--sam-user", ids["sam_user_upn"], "--sam-app", ids["sam_app_id"],
             "--subscription", ids["subscription_id"], "--api-url", ids["api_url"],
             "--api-client-id", ids["api_client_id"]],
            check=False, capture_output=True, text=True, timeout=180,
            env={**env, "CIPP_API_CLIENT_SECRET": ids["api_client_secret"]},
        )
        assert done.returncode == 0, done.stdout + done.stderr
        envelope = json.loads(done.stdout)
        # Activated and answering: the temporary roles still held warn (issue 11's lifecycle).
        assert [c["status"] for c in envelope["checks"]] == ["warn", "pass", "warn", "pass", "pass"]
        assert ids["api_client_secret"] not in done.stdout + done.stderr
    finally:
        server.send_signal(signal.SIGINT)
        try:
            _, err = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
    assert server.returncode == 0, err
    assert "listening" in err and "Sandbox stopped." in err
    assert not ready.exists()  # its URLs and key no longer work, so it is gone

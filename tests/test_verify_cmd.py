"""`cipp-setup verify`: a saved profile's API client gets a token and reads ListLogs, with
no admin sign-in. Against a running sandbox (its ready file as --cloud), real SDKs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from keyring_support import MemoryKeyring, keyring_backend

from cipp_setup.cli.main import main
from cipp_setup.sandbox.runtime import Sandbox
from cipp_setup.sandbox.state import Fault

CANARY = "wrong.Secret~canary-value-0123456789abcdefXYZ"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIPP_SETUP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("CIPP_SETUP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("CIPP_API_CLIENT_SECRET", "CI", "GITHUB_ACTIONS", "NO_COLOR", "FORCE_COLOR",
                 "CIPP_SETUP_INSECURE_STORE_SECRET"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    with keyring_backend(MemoryKeyring()) as backend:
        yield backend  # type: ignore[misc]


@pytest.fixture
def served(sandbox_factory: Any, tmp_path: Path) -> dict[str, Any]:
    sandbox: Sandbox = sandbox_factory("legacy-ready")
    ready = sandbox.write_ready_file(tmp_path / "ready.json")
    return {"sandbox": sandbox, "ready": str(ready), "ids": sandbox.identities_document()}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _save_profile(monkeypatch: pytest.MonkeyPatch, served: dict[str, Any], name: str = "cipp",
                  secret: str | None = None, *extra: str) -> None:
    ids = served["ids"]
    argv = ["profile", "add", name, "--tenant", ids["tenant_id"], "--api-url", ids["api_url"],
            "--api-client-id", ids["api_client_id"], *extra]
    if secret is None:
        argv.append("--no-secret")
    else:
        monkeypatch.setenv("CIPP_API_CLIENT_SECRET", secret)
    try:
        assert main(argv) == 0
    finally:
        monkeypatch.delenv("CIPP_API_CLIENT_SECRET", raising=False)


def _check_marks(text: str) -> dict[str, str]:
    return {line.split("] ", 1)[1].split(":", 1)[0]: line.split("] ", 1)[0] + "]"
            for line in text.splitlines() if line.startswith("[") and "] " in line}


def test_verify_a_saved_profile_runs_the_two_api_checks_without_admin_sign_in(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring,
    served: dict[str, Any],
) -> None:
    _save_profile(monkeypatch, served, secret=served["ids"]["api_client_secret"])
    capsys.readouterr()
    served["sandbox"].control.clear_request_log()
    code, out, err = _run(capsys, "verify", "--profile", "cipp", "--cloud", served["ready"])
    assert code == 0, out + err
    assert _check_marks(out) == {"api-token": "[✓]", "api-list-logs": "[✓]"}
    assert "Signed in as" not in out + err and "devicelogin" not in err
    log = served["sandbox"].control.request_log()
    # One token for the API client (client credentials), then ListLogs: no device code, no
    # Graph, no ARM — nothing that needs an admin.
    assert {r.service for r in log} <= {"idp", "cipp"}, log
    assert not any("devicecode" in r.path for r in log)
    assert any(r.service == "cipp" and r.path.startswith("/api/ListLogs") for r in log)
    assert served["ids"]["api_client_secret"] not in out + err


def test_verify_uses_the_default_profile(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring,
    served: dict[str, Any],
) -> None:
    _save_profile(monkeypatch, served, secret=served["ids"]["api_client_secret"])
    capsys.readouterr()
    code, out, err = _run(capsys, "verify", "--cloud", served["ready"])
    assert code == 0, out + err
    assert "Using profile 'cipp' (the default profile" in err


def test_a_wrong_saved_secret_fails_with_exit_1_and_stays_hidden(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring,
    served: dict[str, Any],
) -> None:
    _save_profile(monkeypatch, served, secret=CANARY)
    capsys.readouterr()
    code, out, err = _run(capsys, "verify", "--profile", "cipp", "--cloud", served["ready"], "--json")
    assert code == 1
    envelope = json.loads(out)
    assert envelope["command"] == "verify" and envelope["status"] == "failed"
    assert [(c["id"], c["status"]) for c in envelope["checks"]] == [("api-token", "fail"), ("api-list-logs", "skip")]
    schema = json.loads(resources.files("cipp_setup").joinpath("schemas/check-report.schema.json").read_text("utf-8"))
    jsonschema.validate(envelope, schema)
    assert CANARY not in out + err


def test_an_api_that_stopped_answering_fails_verify(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring,
    served: dict[str, Any],
) -> None:
    _save_profile(monkeypatch, served, secret=served["ids"]["api_client_secret"])
    served["sandbox"].control.add_fault(Fault(kind="unavailable", service="cipp", path="/api/ListLogs", retry_after=0))
    capsys.readouterr()
    code, out, err = _run(capsys, "verify", "--profile", "cipp", "--cloud", served["ready"])
    assert code == 1, out + err
    # A 503 that outlasts the retry budget says nothing about the tenant: an honest error
    # (service-unavailable, issue 14), not a failed check.
    assert _check_marks(out) == {"api-token": "[✓]", "api-list-logs": "[E]"}
    assert "service-unavailable" in out


def test_verify_in_a_sandbox_needs_no_profile(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "verify", "--sandbox", "legacy-ready")
    assert code == 0, out + err
    assert list(_check_marks(out)) == ["api-token", "api-list-logs"]


# --- bad input: exit 2, one line, before any request -------------------------------------------


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("cipp-setup: error: ")]
    assert len(lines) == 1, err
    return lines[0]


def test_a_profile_without_a_secret_is_a_usage_error_unless_one_is_given(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring,
    served: dict[str, Any],
) -> None:
    _save_profile(monkeypatch, served, secret=None)
    capsys.readouterr()
    served["sandbox"].control.clear_request_log()
    code, _, err = _run(capsys, "verify", "--profile", "cipp", "--cloud", served["ready"])
    assert code == 2
    assert "profile 'cipp' has no saved secret" in _one_error_line(err)
    assert served["sandbox"].control.request_log() == []
    # The secret from the environment completes the profile.
    monkeypatch.setenv("CIPP_API_CLIENT_SECRET", served["ids"]["api_client_secret"])
    code, out, err = _run(capsys, "verify", "--profile", "cipp", "--cloud", served["ready"])
    assert code == 0, out + err


def test_a_secret_missing_from_the_keyring_says_where_it_was_expected(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring,
    served: dict[str, Any],
) -> None:
    _save_profile(monkeypatch, served, secret=served["ids"]["api_client_secret"])
    memory_keyring.entries.clear()  # the user wiped the keyring
    capsys.readouterr()
    code, _, err = _run(capsys, "verify", "--profile", "cipp", "--cloud", served["ready"])
    assert code == 2
    assert "expects its secret in the OS keyring" in _one_error_line(err)


@pytest.mark.parametrize("argv, expected", [
    (["verify"], "verify: expected --profile NAME"),
    (["verify", "--profile", "nope"], "no profile named 'nope'"),
    (["verify", "--tenant", "contoso.onmicrosoft.com"], "--api-url, --api-client-id missing"),
])
def test_missing_details_exit_2(capsys: pytest.CaptureFixture[str], memory_keyring: MemoryKeyring,
                                argv: list[str], expected: str) -> None:
    code, _, err = _run(capsys, *argv)
    assert code == 2 and expected in _one_error_line(err)


def test_verify_in_a_real_process_with_the_file_store(served: dict[str, Any], tmp_path: Path) -> None:
    """No keyring in a fresh process on this machine (keyring's fail backend): the profile
    was saved with the explicit opt-in, and verify reads the secret back from the file."""
    ids = served["ids"]
    env = {**os.environ, "CIPP_SETUP_CONFIG_DIR": str(tmp_path / "config"),
           "CIPP_SETUP_STATE_DIR": str(tmp_path / "state"), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    env.pop("CIPP_API_CLIENT_SECRET", None)

    def cli(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cipp_setup", *argv], check=False, input=stdin, capture_output=True,
                              text=True, env=env, timeout=120)

    added = cli("profile", "add", "cipp", "--tenant", ids["tenant_id"], "--api-url", ids["api_url"],
                "--api-client-id", ids["api_client_id"], "--client-secret-stdin", "--insecure-store-secret",
                stdin=ids["api_client_secret"] + "\n")
    assert added.returncode == 0, added.stderr
    assert "UNENCRYPTED" in added.stderr
    done = cli("verify", "--profile", "cipp", "--cloud", served["ready"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[✓] api-list-logs" in done.stdout
    assert ids["api_client_secret"] not in added.stdout + added.stderr + done.stdout + done.stderr
    assert ids["api_client_secret"] not in (tmp_path / "config" / "profiles.json").read_text(encoding="utf-8")

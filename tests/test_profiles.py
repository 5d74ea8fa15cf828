"""`cipp-setup profile add|list|remove|use` and `--profile NAME`, through the real entry point.

The OS keyring is replaced in process by a small in-memory backend (keyring.set_keyring),
and the "no keyring" path uses keyring's own `fail` backend, which is what headless Linux
gets. Config and state go to temporary directories (CIPP_SETUP_CONFIG_DIR / _STATE_DIR).
"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from keyring_support import MemoryKeyring, keyring_backend

from cipp_setup import profiles
from cipp_setup.cli.main import main

SECRET = "Kx9~canary.PROFILE-secret_value-0123456789abcdef"  # searched for in every output
TENANT = "contoso.onmicrosoft.com"
API_URL = "https://cippabcde.azurewebsites.net"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIPP_SETUP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("CIPP_SETUP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("CIPP_API_CLIENT_SECRET", "CI", "GITHUB_ACTIONS", "NO_COLOR", "FORCE_COLOR",
                 profiles.INSECURE_STORE_ENV, "CIPP_SETUP_ALLOW_UNENCRYPTED_TOKEN_CACHE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    backend = MemoryKeyring()
    with keyring_backend(backend):
        yield backend


@pytest.fixture
def no_keyring() -> Iterator[None]:
    with keyring_backend(None):
        yield


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err, "a secret reached the terminal"
    return code, captured.out, captured.err


def _add(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str = "contoso",
         *extra: str, secret: str | None = SECRET) -> tuple[int, str, str]:
    if secret is not None:
        monkeypatch.setenv("CIPP_API_CLIENT_SECRET", secret)
    try:
        return _run(capsys, "profile", "add", name, "--tenant", TENANT, "--api-url", API_URL + "/api",
                    "--api-client-id", CLIENT_ID.upper(), *extra)
    finally:
        monkeypatch.delenv("CIPP_API_CLIENT_SECRET", raising=False)


def _config_text() -> str:
    return profiles.config_path().read_text(encoding="utf-8")


# --- add / list / use / remove with a keyring -----------------------------------------------


def test_add_keeps_details_in_the_config_and_the_secret_in_the_keyring(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring,
) -> None:
    code, out, err = _add(capsys, monkeypatch)
    assert code == 0, err
    assert "Saved profile 'contoso'" in out and "OS keyring" in out and "It is the default profile." in out
    config = json.loads(_config_text())
    assert config["default_profile"] == "contoso"
    # Normalised as the flags would be: /api dropped, the GUID in lower case.
    assert config["profiles"]["contoso"] == {
        "tenant": TENANT, "api_url": API_URL, "api_client_id": CLIENT_ID, "secret_store": "keyring",
    }
    assert SECRET not in _config_text()
    assert memory_keyring.entries == {("cipp-setup", "profile:contoso"): SECRET}
    assert not profiles.secrets_file_path().exists()


def test_secret_from_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                           memory_keyring: MemoryKeyring) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(SECRET + "\n"))
    code, _, err = _add(capsys, monkeypatch, "contoso", "--client-secret-stdin", secret=None)
    assert code == 0, err
    assert memory_keyring.entries[("cipp-setup", "profile:contoso")] == SECRET


def test_list_shows_where_each_secret_lives_never_the_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring,
) -> None:
    _add(capsys, monkeypatch, "contoso")
    _add(capsys, monkeypatch, "fabrikam", "--no-secret", secret=None)
    code, out, _ = _run(capsys, "profile", "list")
    assert code == 0
    assert "* contoso" in out and "  fabrikam" in out
    assert "secret: OS keyring (service cipp-setup, user profile:contoso)" in out
    assert "secret: not saved" in out
    code, out, _ = _run(capsys, "profile", "list", "--json")
    listing = json.loads(out)
    assert listing["default_profile"] == "contoso"
    assert [(p["name"], p["secret_store"]) for p in listing["profiles"]] == [("contoso", "keyring"), ("fabrikam", "none")]


def test_use_and_remove(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                        memory_keyring: MemoryKeyring) -> None:
    _add(capsys, monkeypatch, "contoso")
    _add(capsys, monkeypatch, "fabrikam")
    code, out, _ = _run(capsys, "profile", "use", "fabrikam")
    assert code == 0 and "'fabrikam' is now the default profile" in out
    assert profiles.load_config().default_profile == "fabrikam"
    code, out, _ = _run(capsys, "profile", "remove", "fabrikam")
    assert code == 0 and "and its secret from the OS keyring" in out
    assert ("cipp-setup", "profile:fabrikam") not in memory_keyring.entries
    assert ("cipp-setup", "profile:contoso") in memory_keyring.entries
    config = profiles.load_config()
    assert set(config.profiles) == {"contoso"} and config.default_profile is None


# --- bad input: one line, exit 2 ---------------------------------------------------------------


@pytest.mark.parametrize("argv, expected", [
    (["profile", "remove", "nope"], "--profile: no profile named 'nope'"),
    (["profile", "use", "nope"], "--profile: no profile named 'nope'"),
    (["check", "--profile", "nope"], "--profile: no profile named 'nope'"),
    (["verify", "--profile", "nope"], "--profile: no profile named 'nope'"),
    (["fix", "--dry-run", "--profile", "nope"], "--profile: no profile named 'nope'"),
    (["revert", "--dry-run", "--profile", "nope"], "--profile: no profile named 'nope'"),
    (["wizard", "--non-interactive", "--profile", "nope"], "--profile: no profile named 'nope'"),
    (["profile"], "missing action"),
    (["profile", "add", "bad name!", "--tenant", TENANT, "--api-url", API_URL, "--api-client-id", CLIENT_ID,
      "--no-secret"], "profile name: expected letters"),
    (["profile", "add", "x", "--api-url", API_URL, "--api-client-id", CLIENT_ID], "missing --tenant"),
    (["profile", "add", "x", "--tenant", TENANT, "--api-url", "http://cipp.example.com",
      "--api-client-id", CLIENT_ID], "--api-url: expected an https:// URL"),
    # Without a terminal, stdin or the variable there is no secret: say where it can come from.
    (["profile", "add", "x", "--tenant", TENANT, "--api-url", API_URL, "--api-client-id", CLIENT_ID],
     "expected the API client secret from a hidden prompt"),
])
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], memory_keyring: MemoryKeyring,
                                          argv: list[str], expected: str) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cipp-setup: error: ") and expected in lines[0], err


def test_empty_secret_is_refused(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                 memory_keyring: MemoryKeyring) -> None:
    code, _, err = _add(capsys, monkeypatch, "contoso", secret="   ")
    assert code == 2 and "CIPP_API_CLIENT_SECRET: expected the API client's secret value, got an empty value" in err
    assert not profiles.config_path().exists() and memory_keyring.entries == {}


def test_adding_an_existing_name_needs_replace(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                               memory_keyring: MemoryKeyring) -> None:
    assert _add(capsys, monkeypatch)[0] == 0
    code, _, err = _add(capsys, monkeypatch, secret="another-secret-value-1234567890")
    assert code == 2 and "already exists; pass --replace" in err
    assert memory_keyring.entries[("cipp-setup", "profile:contoso")] == SECRET
    code, _, err = _add(capsys, monkeypatch, "contoso", "--replace", "--no-secret", secret=None)
    assert code == 0, err
    # Replaced without a secret: the old one must not linger in the keyring.
    assert memory_keyring.entries == {}


def test_a_secret_shaped_like_a_guid_is_saved_with_a_warning(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring,
) -> None:
    code, _, err = _add(capsys, monkeypatch, secret="6f1d3c1e-0000-4000-8000-000000000001")
    assert code == 0 and "looks like a GUID" in err and "secret's ID, not its Value" in err


# --- no keyring (headless Linux) ------------------------------------------------------------------


def test_without_a_keyring_the_file_fallback_needs_an_opt_in(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, no_keyring: None,
) -> None:
    code, _, err = _add(capsys, monkeypatch)
    assert code == 2 and "no OS keyring is available" in err and "--insecure-store-secret" in err
    assert not profiles.config_path().exists() and not profiles.secrets_file_path().exists()

    code, out, err = _add(capsys, monkeypatch, "contoso", "--insecure-store-secret")
    assert code == 0, err
    assert "warning: no OS keyring is available, so the secret is stored UNENCRYPTED" in err
    secrets_file = profiles.secrets_file_path()
    assert json.loads(secrets_file.read_text(encoding="utf-8")) == {"contoso": SECRET}
    if os.name == "posix":
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert SECRET not in _config_text()
    code, out, _ = _run(capsys, "profile", "list")
    assert "(unencrypted, owner-only)" in out

    code, _, _ = _run(capsys, "profile", "remove", "contoso")
    assert code == 0 and not secrets_file.exists()


def test_the_opt_in_also_comes_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, no_keyring: None,
) -> None:
    monkeypatch.setenv(profiles.INSECURE_STORE_ENV, "1")
    code, _, err = _add(capsys, monkeypatch)
    assert code == 0 and "UNENCRYPTED" in err
    assert profiles.get_profile("contoso").secret_store == "file"


# --- --profile on the tenant commands ------------------------------------------------------------


def test_check_with_a_profile_uses_its_saved_secret(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring,
) -> None:
    """A profile for the sandbox's API client, saved with a wrong secret: the token check
    fails with the identity platform's invalid-secret answer, which proves the profile's
    secret (from the keyring) was used rather than the scenario's own."""
    from cipp_setup.sandbox.runtime import Sandbox
    from cipp_setup.sandbox.scenario import load_scenario

    with Sandbox(load_scenario("legacy-ready")) as sandbox:  # only to read the scenario's ids
        ids = sandbox.identities_document()
    # The sandbox's ports change per run, so the profile's API URL is a placeholder; only
    # the token check runs (it asks the identity platform, never the API URL).
    code, _, err = _add_for(capsys, monkeypatch, "sandbox", ids["tenant_id"], ids["api_client_id"], SECRET)
    assert code == 0, err
    code, out, err = _run(capsys, "check", "--sandbox", "legacy-ready", "--generation", "legacy",
                          "--profile", "sandbox", "--only", "api-token")
    assert "Using profile 'sandbox'." in err
    assert code == 1 and "[✗] api-token" in out, out + err
    assert "AADSTS7000215" in out, out
    assert ids["api_client_secret"] not in out + err


def _add_for(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str, tenant: str,
             client_id: str, secret: str) -> tuple[int, str, str]:
    monkeypatch.setenv("CIPP_API_CLIENT_SECRET", secret)
    try:
        return _run(capsys, "profile", "add", name, "--tenant", tenant, "--api-url", API_URL,
                    "--api-client-id", client_id)
    finally:
        monkeypatch.delenv("CIPP_API_CLIENT_SECRET", raising=False)


def test_the_default_profile_stays_out_of_sandbox_runs_and_other_tenants(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring,
) -> None:
    _add(capsys, monkeypatch)
    code, out, err = _run(capsys, "verify", "--sandbox", "legacy-ready")
    assert code == 0, out + err
    assert "Using profile" not in err
    # Another tenant on the command line: the default profile (for contoso) does not apply.
    code, _, err = _run(capsys, "verify", "--tenant", "fabrikam.onmicrosoft.com")
    assert code == 2 and "Using profile" not in err and "--api-url, --api-client-id missing" in err


def test_on_a_terminal_the_secret_is_asked_for_hidden(tmp_path: Path) -> None:
    """A real pseudo-terminal: the prompt appears, the typed secret is not echoed, and it
    lands in the store (the file one: a fresh process here has no keyring)."""
    pexpect = pytest.importorskip("pexpect")
    env = {**os.environ, "CIPP_SETUP_CONFIG_DIR": str(tmp_path / "config"), "NO_COLOR": "1",
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    env.pop("CIPP_API_CLIENT_SECRET", None)
    child = pexpect.spawn(sys.executable, ["-m", "cipp_setup", "profile", "add", "contoso", "--tenant", TENANT,
                                           "--api-url", API_URL, "--api-client-id", CLIENT_ID,
                                           "--insecure-store-secret"],
                          env=env, encoding="utf-8", timeout=60)
    child.expect("API client secret \\(input hidden\\): ")
    child.sendline(SECRET)
    child.expect(pexpect.EOF)
    child.close()
    transcript = (child.before or "")
    assert child.exitstatus == 0, transcript
    assert "Saved profile 'contoso'" in transcript
    assert SECRET not in transcript
    stored = json.loads((tmp_path / "config" / "profile-secrets.json").read_text(encoding="utf-8"))
    assert stored == {"contoso": SECRET}

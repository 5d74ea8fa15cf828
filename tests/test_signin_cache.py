"""A sign-in that sticks (`login` / `logout`) and sign-in errors explained, against a
running sandbox with the real azure-identity, msal and msal-extensions.

The sandbox runs in this process; the commands run as separate processes through its
ready file (`--cloud READYFILE`), so "a later run signs in silently" is tested across
processes, as a user would see it. HOME points at a temporary directory: azure-identity
keeps the persistent cache in ~/.IdentityService.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cipp_setup.cli.main import main
from cipp_setup.gateways import signin_cache
from cipp_setup.sandbox.runtime import Sandbox

ENCRYPTED = signin_cache.encryption_available()
# Where the OS cannot encrypt the cache (this CI box: no libsecret), login needs the opt-in.
LOGIN_OPT_IN = [] if ENCRYPTED else ["--allow-unencrypted-token-cache"]


@pytest.fixture
def served(sandbox_factory: Any, tmp_path: Path) -> dict[str, Any]:
    sandbox: Sandbox = sandbox_factory("legacy-ready")
    ready = sandbox.write_ready_file(tmp_path / "ready.json")
    return {"sandbox": sandbox, "ready": str(ready), "ids": sandbox.identities_document()}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of every process here (and of in-process runs, via monkeypatch)."""
    values = {"HOME": str(tmp_path / "home"), "CIPP_SETUP_STATE_DIR": str(tmp_path / "state"),
              "CIPP_SETUP_CONFIG_DIR": str(tmp_path / "config")}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in ("CI", "GITHUB_ACTIONS", "CIPP_API_CLIENT_SECRET", "NO_COLOR", "FORCE_COLOR",
                 signin_cache.UNENCRYPTED_ENV):
        monkeypatch.delenv(name, raising=False)
    return dict(os.environ)


def _cli(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cipp_setup", *argv], check=False, capture_output=True, text=True,
                          env=env, stdin=subprocess.DEVNULL, timeout=180)


def _check_args(served: dict[str, Any]) -> list[str]:
    ids = served["ids"]
    return ["check", "--cloud", served["ready"], "--tenant", ids["tenant_id"], "--sam-user", ids["sam_user_upn"],
            "--sam-app", ids["sam_app_id"], "--subscription", ids["subscription_id"],
            "--generation", "legacy", "--auth", "device-code",
            "--only", "sam-user-global-admin", "sam-user-subscription-contributor"]


def _error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("cipp-setup: error: ")]
    assert len(lines) == 1, err
    return lines[0]


# --- the whole flow, across processes -----------------------------------------------------------


def test_login_then_a_later_process_signs_in_silently_until_logout(
    served: dict[str, Any], env: dict[str, str], tmp_path: Path,
) -> None:
    sandbox, ids = served["sandbox"], served["ids"]
    tenant = ids["tenant_id"]

    # Before login a non-interactive run stops at once, naming the fix, without asking
    # the identity platform anything (no device code that nobody would enter).
    sandbox.control.clear_request_log()
    before = _cli(env, *_check_args(served), "--non-interactive")
    assert before.returncode == 4, before.stdout + before.stderr
    assert f"run 'cipp-setup login --tenant {tenant}'" in _error_line(before.stderr)
    assert sandbox.control.request_log() == []

    login = _cli(env, "login", "--cloud", served["ready"], "--tenant", tenant, "--auth", "device-code", *LOGIN_OPT_IN)
    assert login.returncode == 0, login.stdout + login.stderr
    assert f"Signed in as {ids['admin_upn']} in tenant {tenant}" in login.stdout
    assert "devicelogin" in login.stderr  # the device code was shown (and the sandbox approved it)
    if not ENCRYPTED:
        assert "warning: the token cache will be stored UNENCRYPTED" in login.stderr
        cache_file = signin_cache.cache_files()[0]  # this state directory's own cache
        assert cache_file.parent == Path(env["HOME"]) / ".IdentityService"
        assert cache_file.exists() and stat.S_IMODE(cache_file.stat().st_mode) == 0o600

    # The record: an account pointer, owner-only, and no token in it.
    records = Path(env["CIPP_SETUP_STATE_DIR"]) / "sign-in.json"
    text = records.read_text(encoding="utf-8")
    saved = json.loads(text)["sign_ins"]
    assert [(s["tenant"], s["username"]) for s in saved] == [(tenant, saved[0]["username"])]
    assert "eyJ" not in text and "refresh" not in text.lower() and "secret" not in text.lower()
    if os.name == "posix":
        assert stat.S_IMODE(records.stat().st_mode) == 0o600

    # A second process, non-interactive: silent, from the cache. No device code asked for.
    sandbox.control.clear_request_log()
    later = _cli(env, *_check_args(served), "--non-interactive")
    assert later.returncode == 0, later.stdout + later.stderr
    assert "Signed in as " in later.stdout and "devicelogin" not in later.stderr
    assert not any("devicecode" in r.path for r in sandbox.control.request_log())

    logout = _cli(env, "logout")
    assert logout.returncode == 0, logout.stderr
    assert "Signed out: " in logout.stdout
    assert not records.exists()
    assert not signin_cache.cache_files()[0].exists()

    after = _cli(env, *_check_args(served), "--non-interactive")
    assert after.returncode == 4, after.stdout + after.stderr
    assert "cipp-setup login" in _error_line(after.stderr)


def test_the_saved_sign_in_is_for_its_tenant_and_cloud_only(
    served: dict[str, Any], env: dict[str, str],
) -> None:
    ids = served["ids"]
    login = _cli(env, "login", "--cloud", served["ready"], "--tenant", ids["tenant_id"], "--auth", "device-code",
                 *LOGIN_OPT_IN)
    assert login.returncode == 0, login.stderr
    from cipp_setup.cloud import cloud_from_document

    ready = json.loads(Path(served["ready"]).read_text(encoding="utf-8"))
    cloud = cloud_from_document(ready["cloud"], "sandbox")
    assert signin_cache.find_saved(cloud, ids["tenant_id"]) is not None
    assert signin_cache.find_saved(cloud, "fabrikam.onmicrosoft.com") is None
    from cipp_setup.cloud import CLOUDS

    assert signin_cache.find_saved(CLOUDS["public"], ids["tenant_id"]) is None


# --- the record carries the authority: no TypeError ------------------------------------------------


def test_a_saved_record_replaces_the_authority_argument(served: dict[str, Any], env: dict[str, str]) -> None:
    """azure-identity refuses `authentication_record=` together with `authority=`; the
    options for a saved sign-in drop `authority=` and the record names the sandbox host."""
    from azure.identity import AuthenticationRecord, DeviceCodeCredential

    from cipp_setup.cloud import cloud_from_document

    ready = json.loads(Path(served["ready"]).read_text(encoding="utf-8"))
    cloud = cloud_from_document(ready["cloud"], "sandbox")
    tenant = served["ids"]["tenant_id"]
    record = AuthenticationRecord(tenant, "14d82eec-204b-4c2f-b7e8-296a70dab67e", "elsewhere.example",
                                  "uid.utid", "admin@contoso.example")
    with pytest.raises(TypeError):
        DeviceCodeCredential(authentication_record=record, authority=cloud.authority_host)
    signin_cache.save_sign_in(cloud, tenant, record, unencrypted=True)
    common = {"authority": cloud.authority_host, "tenant_id": tenant, "disable_instance_discovery": True}
    options = signin_cache.interactive_credential_options(cloud, tenant, common)
    assert "authority" not in options
    assert options["authentication_record"].authority == cloud.authority_host.rstrip("/")
    DeviceCodeCredential(disable_automatic_authentication=True, **options)  # no TypeError


# --- login's own refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("argv, expected", [
    (["login", "--sandbox", "legacy-ready", "--tenant", "contoso.onmicrosoft.com"], "--sandbox: an in-process sandbox"),
    (["login", "--non-interactive", "--tenant", "contoso.onmicrosoft.com"], "login needs a person"),
    (["login", "--auth", "azure-cli", "--tenant", "contoso.onmicrosoft.com"], "the Azure CLI keeps its own sign-in"),
    (["login", "--auth", "device-code"], "--tenant: expected a tenant id"),
])
def test_login_usage_errors(capsys: pytest.CaptureFixture[str], env: dict[str, str], argv: list[str], expected: str) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and expected in _error_line(err)


@pytest.mark.skipif(ENCRYPTED, reason="this machine can encrypt the token cache, so no opt-in is needed")
def test_login_without_encryption_needs_the_explicit_opt_in(
    capsys: pytest.CaptureFixture[str], served: dict[str, Any], env: dict[str, str],
) -> None:
    served["sandbox"].control.clear_request_log()
    code = main(["login", "--cloud", served["ready"], "--tenant", served["ids"]["tenant_id"], "--auth", "device-code"])
    err = capsys.readouterr().err
    assert code == 2 and "--allow-unencrypted-token-cache" in _error_line(err)
    assert served["sandbox"].control.request_log() == []  # refused before any sign-in
    # The variable is the same opt-in, and the warning is shown.
    os.environ[signin_cache.UNENCRYPTED_ENV] = "1"
    try:
        code = main(["login", "--cloud", served["ready"], "--tenant", served["ids"]["tenant_id"], "--auth", "device-code"])
    finally:
        del os.environ[signin_cache.UNENCRYPTED_ENV]
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "UNENCRYPTED" in captured.err
    assert main(["logout"]) == 0


# --- sign-in errors explained ---------------------------------------------------------------------


@pytest.mark.parametrize("aadsts, must_say", [
    (53003, ["AADSTS53003", "Conditional Access", "--auth browser", "--auth azure-cli"]),
    (50076, ["AADSTS50076", "multi-factor", "--tenant {tenant}"]),
    (50020, ["AADSTS50020", "not a member or guest"]),
    (50126, ["AADSTS50126", "password was wrong"]),
])
def test_sign_in_refusals_are_explained_with_what_to_try(
    capsys: pytest.CaptureFixture[str], served: dict[str, Any], env: dict[str, str], aadsts: int, must_say: list[str],
) -> None:
    served["sandbox"].control.fail_sign_ins(aadsts)
    code = main(_check_args(served))
    captured = capsys.readouterr()
    assert code == 4, captured.out + captured.err
    line = _error_line(captured.err)
    assert line.startswith("cipp-setup: error: sign-in failed: ")
    for text in must_say:
        assert text.format(tenant=served["ids"]["tenant_id"]) in line, line
    assert "Try: " in line and "Traceback" not in captured.err


def test_login_explains_a_refusal_too(
    capsys: pytest.CaptureFixture[str], served: dict[str, Any], env: dict[str, str],
) -> None:
    served["sandbox"].control.fail_sign_ins(53003)
    code = main(["login", "--cloud", served["ready"], "--tenant", served["ids"]["tenant_id"], "--auth", "device-code",
                 *LOGIN_OPT_IN])
    err = capsys.readouterr().err
    assert code == 4 and "Conditional Access" in _error_line(err)
    assert not (Path(env["CIPP_SETUP_STATE_DIR"]) / "sign-in.json").exists()


def test_the_public_client_missing_and_consent_missing_are_explained() -> None:
    """AADSTS700016 and 65001 come from the sandbox's own rules elsewhere; here the
    advice table is pinned for them (and unknown codes keep the platform's words)."""
    from cipp_setup.gateways.signin_advice import explain

    assert "--cloud" in explain("700016", "raw", tenant="contoso.com")
    assert "'cipp-setup login --tenant contoso.com'" in explain("65001", "raw", tenant="contoso.com")
    assert "adminconsent?client_id=" in explain("90094", "raw", tenant="contoso.com")
    assert explain("99999", "the platform's own words") == "the platform's own words"


def test_forcing_an_unknown_code_is_refused(served: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="cannot force AADSTS12345"):
        served["sandbox"].control.fail_sign_ins(12345)


def test_a_non_interactive_fix_names_the_command_that_obtains_its_write_permissions(
    sandbox_factory: Any, env: dict[str, str], tmp_path: Path,
) -> None:
    """The loop is gone: `login` (for check) lacks the write permissions; a non-interactive
    fix stops before any change naming `login --for fix`, and that command obtains them."""
    sandbox: Sandbox = sandbox_factory("legacy-fresh")
    ready = str(sandbox.write_ready_file(tmp_path / "ready.json"))
    ids = sandbox.identities_document()
    tenant = ids["tenant_id"]
    fix = ["fix", "--cloud", ready, "--tenant", tenant, "--sam-user", ids["sam_user_upn"],
           "--sam-app", ids["sam_app_id"], "--subscription", ids["subscription_id"],
           "--generation", "legacy", "--auth", "device-code", "--yes", "--non-interactive"]

    login = _cli(env, "login", "--cloud", ready, "--tenant", tenant, "--auth", "device-code", *LOGIN_OPT_IN)
    assert login.returncode == 0, login.stdout + login.stderr
    assert "Microsoft Graph Command Line Tools" in login.stderr  # what the consent page asks, said first
    grants_before = dict(sandbox.state.oauth2_grants)

    stopped = _cli(env, *fix)
    assert stopped.returncode == 4, stopped.stdout + stopped.stderr
    command = f"cipp-setup login --for fix --tenant {tenant}"
    assert f"run '{command}'" in _error_line(stopped.stderr)
    assert "Applying" not in stopped.stdout + stopped.stderr and not list(Path(env["CIPP_SETUP_STATE_DIR"]).glob("journal*"))
    assert sandbox.state.oauth2_grants == grants_before  # a refresh never records consent

    obtain = _cli(env, *command.split()[1:], "--cloud", ready, "--auth", "device-code", *LOGIN_OPT_IN)
    assert obtain.returncode == 0, obtain.stdout + obtain.stderr
    done = _cli(env, *fix)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_locked_down_tenant_ends_with_one_line_and_the_admin_consent_url(
    sandbox_factory: Any, env: dict[str, str], tmp_path: Path,
) -> None:
    """User consent off, and the person signing in holds no role that may consent."""
    import threading
    import time

    sandbox: Sandbox = sandbox_factory("legacy-fresh")
    sandbox.control.set_user_consent("none")
    sandbox.control.set_device_code_auto_approve(False)
    ready = str(sandbox.write_ready_file(tmp_path / "ready.json"))
    ids = sandbox.identities_document()
    stop = threading.Event()

    def enter_codes_as_a_plain_user() -> None:
        while not stop.is_set():
            for code in sandbox.control.pending_device_codes():
                sandbox.control.approve_device_code(code, upn="alex.wilber@contoso.example")
            time.sleep(0.01)

    helper = threading.Thread(target=enter_codes_as_a_plain_user, daemon=True)
    helper.start()
    try:
        run = _cli(env, "check", "--cloud", ready, "--tenant", ids["tenant_id"], "--sam-user", ids["sam_user_upn"],
                   "--sam-app", ids["sam_app_id"], "--subscription", ids["subscription_id"],
                   "--generation", "legacy", "--auth", "device-code")
    finally:
        stop.set()
        helper.join(5)
    assert run.returncode == 4, run.stdout + run.stderr
    line = _error_line(run.stderr)
    assert "AADSTS90094" in line
    assert f"/{ids['tenant_id']}/v2.0/adminconsent?client_id=14d82eec-204b-4c2f-b7e8-296a70dab67e&scope=" in line
    assert "Traceback" not in run.stderr

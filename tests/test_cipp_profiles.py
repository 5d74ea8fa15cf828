"""The three CIPP profiles (issue 11): legacy (7.1 and older), API clients written by the
CIPP-SAM user (7.2-7.3), API clients written by the CIPP-SAM app (7.4+).

Each profile scenario gives the verdicts its file documents through `check --json`; its
fixes converge (`fix --yes`, then `check` exits 0, and a second `fix` changes nothing); the
two Graph application permissions are never planned without evidence of 7.4+; Easy Auth as
CIPP-NG writes it at HEAD (CIPP-SSO, MCP audiences, VS Code) is read right.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cipp_setup import wellknown
from cipp_setup.cli.main import main
from cipp_setup.sandbox.cipp_actions import CippActionError, create_api_client
from test_fix_command_current import _state_dir  # noqa: F401 - autouse: an isolated state directory, no CI

PASS = ("pass", None)
SKIP = ("skip", None)

# scenario -> (profile, {check id: (status, cause)} in report order), as each file's comment says.
EXPECTED: dict[str, tuple[str, dict[str, tuple[str, str | None]]]] = {
    "current-user-writes": ("clients-by-user", {
        "sam-user-app-registration": ("fail", "no-app-registration-role"),
        "function-app-managed-identity": PASS,
        "api-client-app": SKIP, "api-easy-auth": SKIP, "api-token": SKIP, "api-list-logs": SKIP,
    }),
    "current-app-writes": ("clients-by-app", {
        "sam-app-graph-application-permissions": ("fail", "consent-missing"),
        "function-app-managed-identity": PASS,
        "api-client-app": PASS,
        "api-easy-auth": ("fail", "easy-auth-disabled"),
        "api-token": ("warn", "easy-auth-disabled"),
        "api-list-logs": ("fail", "easy-auth-disabled"),
    }),
    "current-sso-easy-auth": ("clients-by-app", {
        "sam-app-graph-application-permissions": PASS,
        "function-app-managed-identity": PASS,
        "api-client-app": PASS, "api-easy-auth": PASS, "api-token": PASS, "api-list-logs": PASS,
    }),
}


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def _verdicts(envelope: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {c["id"]: (c["status"], c["cause"]) for c in envelope["checks"]}


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_each_profile_scenario_gives_its_documented_verdicts(capsys: pytest.CaptureFixture[str], scenario: str) -> None:
    profile, verdicts = EXPECTED[scenario]
    code, envelope, _ = _json(capsys, "check", "--sandbox", scenario)
    assert envelope["generation"] == "current" and envelope["profile"] == profile, envelope["profile_evidence"]
    assert list(_verdicts(envelope).items()) == list(verdicts.items())
    assert code == (1 if any(s == "fail" for s, _ in verdicts.values()) else 0)
    assert envelope["profile_dependent"] == []


def test_getversion_and_the_client_owner_decide_7_4_without_the_scenario(
    capsys: pytest.CaptureFixture[str], sandbox_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A served sandbox through --cloud is a tenant like any other: the evidence decides.
    served = sandbox_factory("current-ready")
    ready = served.write_ready_file(tmp_path / "ready.json")
    ids = served.identities_document()
    monkeypatch.setenv("CIPP_API_CLIENT_SECRET", ids["api_client_secret"])
    code = main(["check", "--cloud", str(ready), "--tenant", served.state.tenant_id, "--json",
                 "--api-url", ids["api_url"], "--api-client-id", ids["api_client_id"],
                 "--function-app", ids["function_app_id"]])
    envelope = json.loads(capsys.readouterr().out)
    assert code == 0 and envelope["profile"] == "clients-by-app"
    evidence = " ".join(envelope["profile_evidence"])
    assert "GetVersion: this instance runs CIPP-API 8.5.2" in evidence
    assert "has no user owner" in evidence
    assert "sam-app-graph-application-permissions" in _verdicts(envelope)


def test_the_owner_less_client_decides_7_4_when_getversion_cannot_answer(
    capsys: pytest.CaptureFixture[str], sandbox_factory: Any, tmp_path: Path,
) -> None:
    served = sandbox_factory("current-app-writes")
    ready = served.write_ready_file(tmp_path / "ready.json")
    ids = served.identities_document()
    code, envelope, _ = _json(capsys, "check", "--cloud", str(ready), "--tenant", served.state.tenant_id,
                              "--api-url", ids["api_url"], "--api-client-id", ids["api_client_id"],
                              "--function-app", ids["function_app_id"])
    assert code == 1 and envelope["profile"] == "clients-by-app"
    assert any("has no user owner" in line for line in envelope["profile_evidence"])
    assert _verdicts(envelope)["sam-app-graph-application-permissions"] == ("fail", "consent-missing")


def test_without_a_version_the_dependent_checks_say_so_and_do_not_fail(
    capsys: pytest.CaptureFixture[str], sandbox_factory: Any, tmp_path: Path,
) -> None:
    served = sandbox_factory("current-user-writes")
    ready = served.write_ready_file(tmp_path / "ready.json")
    base = ["--cloud", str(ready), "--tenant", served.state.tenant_id, "--generation", "current",
            "--function-app", served.identities_document()["function_app_id"]]
    code, envelope, err = _json(capsys, "check", *base)
    assert envelope["profile"] is None
    assert envelope["profile_dependent"] == ["sam-user-app-registration", "sam-app-graph-application-permissions"]
    verdicts = _verdicts(envelope)
    assert verdicts["sam-user-app-registration"] == ("warn", "cipp-version-unknown")
    assert verdicts["sam-app-graph-application-permissions"] == ("warn", "cipp-version-unknown")
    summary = next(c for c in envelope["checks"] if c["id"] == "sam-app-graph-application-permissions")["summary"]
    assert summary.startswith("Depends on the CIPP version (needed only on CIPP 7.4 and later")
    assert code == 0 and "--cipp-version" in err
    # fix plans nothing for them: the application permissions are never consented on a guess.
    code, fixed, _ = _json(capsys, "fix", *base, "--yes")
    assert code == 0 and fixed["changes"] == []
    # The admin reads the version in CIPP: now it is a 7.2-7.3 verdict, and a fix.
    code, envelope, _ = _json(capsys, "check", *base, "--cipp-version", "7.3.1")
    assert code == 1 and envelope["profile"] == "clients-by-user"
    assert envelope["profile_evidence"] == ["--cipp-version 7.3.1 was given: CIPP 7.2-7.3 (API clients written by the CIPP-SAM user)."]
    assert "sam-app-graph-application-permissions" not in _verdicts(envelope)


@pytest.mark.parametrize(("scenario", "version", "actions"), [
    ("current-user-writes", "7.3.1", ["create-directory-role-assignment"]),
    ("current-app-writes", "7.4.0", ["create-app-role-assignment", "update-easy-auth"]),
])
def test_fixes_converge(capsys: pytest.CaptureFixture[str], sandbox_factory: Any, tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch, scenario: str, version: str, actions: list[str]) -> None:
    served = sandbox_factory(scenario)
    ready = served.write_ready_file(tmp_path / "ready.json")
    ids = served.identities_document()
    base = ["--cloud", str(ready), "--tenant", served.state.tenant_id, "--cipp-version", version,
            "--function-app", ids["function_app_id"], "--write-easy-auth"]
    if ids.get("api_client_id"):
        monkeypatch.setenv("CIPP_API_CLIENT_SECRET", ids["api_client_secret"])
        base += ["--api-url", ids["api_url"], "--api-client-id", ids["api_client_id"]]
    code, fixed, err = _json(capsys, "fix", *base, "--yes")
    assert code == 0, err[-2000:]
    assert [(c["action"], c["status"]) for c in fixed["changes"]] == [(a, "applied") for a in actions]
    code, checked, err = _json(capsys, "check", *[a for a in base if a != "--write-easy-auth"])
    assert code == 0, err[-2000:]
    code, again, _ = _json(capsys, "fix", *base, "--yes")
    assert code == 0 and again["changes"] == []


def test_the_7_3_fix_gives_the_least_role_and_revert_takes_it_back(
    capsys: pytest.CaptureFixture[str], sandbox_factory: Any, tmp_path: Path,
) -> None:
    served = sandbox_factory("current-user-writes")
    ready = served.write_ready_file(tmp_path / "ready.json")
    base = ["--cloud", str(ready), "--tenant", served.state.tenant_id, "--cipp-version", "7.3.1",
            "--function-app", served.identities_document()["function_app_id"]]
    assert main(["fix", *base, "--yes"]) == 0
    capsys.readouterr()
    state = served.state
    sam = state.cipp.sam_user_id
    held = {ra.role_definition_id for ra in state.role_assignments_for(sam)}
    assert held == {wellknown.CLOUD_APPLICATION_ADMINISTRATOR}
    # CIPP 7.3 can now create a client as the CIPP-SAM user, which owns it.
    made = create_api_client(state, None, served.urls, "Contoso Reporting")
    app = state.application_by_app_id(made["client_id"])
    assert app is not None and app.owner_ids == [sam]
    assert main(["revert", "--tenant", state.tenant_id, "--cloud", str(ready), "--yes"]) == 0
    assert not {ra.role_definition_id for ra in state.role_assignments_for(sam)}


def test_cipp_7_3_creates_clients_as_the_user_and_7_4_as_the_app(sandbox_factory: Any) -> None:
    served = sandbox_factory("current-user-writes")
    with pytest.raises(CippActionError) as refused:
        create_api_client(served.state, None, served.urls, "Reporting")
    assert refused.value.message == "Failed to setup CIPP-API Access: Insufficient privileges to complete the operation."
    app_writes = sandbox_factory("current-fresh")  # 7.4.0, no application permissions
    with pytest.raises(CippActionError) as refused:
        create_api_client(app_writes.state, None, app_writes.urls, "Reporting")
    assert "Application.ReadWrite.All, Directory.ReadWrite.All" in refused.value.message


def test_sso_easy_auth_is_current_and_the_sso_app_is_no_api_client(capsys: pytest.CaptureFixture[str]) -> None:
    code, envelope, _ = _json(capsys, "check", "--sandbox", "current-sso-easy-auth")
    assert code == 0
    evidence = " ".join(envelope["generation_evidence"])
    assert "CIPP-SSO" in evidence and "not an API client" in evidence
    assert "an API client → current" in evidence and "'CIPP-SSO'" not in evidence
    assert wellknown.VS_CODE_CLIENT_ID not in evidence


def test_save_to_azure_on_cipp_ng_keeps_the_sso_registration(sandbox_factory: Any) -> None:
    from cipp_setup.sandbox.cipp import function_app_site
    from cipp_setup.sandbox.cipp_actions import save_to_azure

    served = sandbox_factory("current-sso-easy-auth")
    site = function_app_site(served.state)
    before = json.loads(json.dumps(site.auth_settings_v2))
    made = create_api_client(served.state, None, served.urls, "Second client")
    save_to_azure(served.state, None, served.urls)
    after = site.auth_settings_v2
    aad = after["identityProviders"]["azureActiveDirectory"]
    assert aad["registration"] == before["identityProviders"]["azureActiveDirectory"]["registration"]
    assert after["globalValidation"] == before["globalValidation"]
    apps = aad["validation"]["defaultAuthorizationPolicy"]["allowedApplications"]
    assert made["client_id"] in apps and wellknown.VS_CODE_CLIENT_ID in apps
    assert f"api://{made['client_id']}" in aad["validation"]["allowedAudiences"]
    assert any(a.endswith("/api/ExecMcp") for a in aad["validation"]["allowedAudiences"])


def test_cipp_version_and_generation_must_agree(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--sandbox", "current-user-writes", "--generation", "current", "--cipp-version", "7.1.3"])
    err = capsys.readouterr().err
    assert code == 2 and "--cipp-version 7.1.3 is a legacy version" in err
    code = main(["check", "--sandbox", "current-user-writes", "--cipp-version", "seven"])
    assert code == 2 and "--cipp-version" in capsys.readouterr().err

"""The current-generation checks (CIPP 7.2+, API clients) against the sandbox tenant,
through the real SDKs (msgraph-sdk, azure-mgmt-web, azure-mgmt-authorization, msal), and
`--generation auto` deciding from the tenant's evidence.

Scenario verdicts are run through the product's entry point (`cipp-setup check --sandbox
NAME --json`, in process); the finer cases change one thing in a sandbox and call
run_diagnosis, as the legacy tests do.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cipp_setup.cli.main import main
from cipp_setup.cloud import cloud_from_document
from cipp_setup.engine.context import CheckInputs
from cipp_setup.engine.diagnose import (
    ConnectionOptions,
    Diagnosis,
    GenerationUndetermined,
    run_diagnosis,
)
from cipp_setup.engine.model import Secret, Status
from cipp_setup.gateways.retry import RetryPolicy
from cipp_setup.gateways.services import GatewayServices
from fixsupport import scenario_profile

CURRENT_IDS = [
    "sam-app-graph-application-permissions", "function-app-managed-identity", "api-client-app",
    "api-easy-auth", "api-token", "api-list-logs",
]
PROFILE_SCENARIOS = ("current-user-writes", "current-app-writes", "current-sso-easy-auth")
SCENARIOS = Path(__file__).resolve().parents[1] / "cipp_setup" / "sandbox" / "scenarios"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CIPP_API_CLIENT_SECRET", "NO_COLOR", "FORCE_COLOR", "CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)


async def _no_sleep(seconds: float) -> None:
    return None


def inputs_for(sandbox: Any, **overrides: Any) -> CheckInputs:
    ids = sandbox.identities_document()
    secret = ids.get("api_client_secret")
    inputs = CheckInputs(
        tenant=ids["tenant_id"],
        sam_user=ids.get("sam_user_upn"),
        sam_app_id=ids.get("sam_app_id"),
        subscription_id=ids.get("subscription_id"),
        api_url=ids.get("api_url") if ids.get("api_client_id") else None,
        api_client_id=ids.get("api_client_id"),
        api_client_secret=Secret(secret) if secret else None,
        generation="current",
        function_app=ids.get("function_app_id"),
        # As a sandbox CLI run: the scenario's version answers when the tenant does not tell
        # who writes the API clients (tests/test_cipp_profiles.py covers the unknown case).
        profile_default=scenario_profile(sandbox),
    )
    return replace(inputs, **overrides)


def diagnose(sandbox: Any, inputs: CheckInputs | None = None, *, only: frozenset[str] | None = None) -> Diagnosis:
    sandbox.control.set_device_code_auto_approve(False)

    def approve(message: str) -> None:
        code = re.search(r"enter the code (\S+) to authenticate", message)
        assert code, message
        sandbox.control.approve_device_code(code.group(1))

    connection = ConnectionOptions(
        services=GatewayServices(),
        cloud=cloud_from_document(sandbox.cloud_document(), "sandbox"),
        auth="device-code", interactive=True, device_code_callback=approve,
        retry=RetryPolicy(sleep=_no_sleep),
    )
    result = asyncio.run(run_diagnosis(inputs or inputs_for(sandbox), connection, only=only))
    assert sandbox.service_errors == []
    return result


def verdicts(d: Diagnosis) -> dict[str, tuple[str, str | None]]:
    return {r.check_id: (r.status.value, r.cause) for r in d.report.results}


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main(["check", *argv, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


# --- the two base scenarios --------------------------------------------------------------


def test_current_ready_all_pass_with_documented_facts(sandbox_factory: Any) -> None:
    sb = sandbox_factory("current-ready")
    d = diagnose(sb)
    assert [r.check_id for r in d.report.results] == CURRENT_IDS
    assert verdicts(d) == {i: ("pass", None) for i in CURRENT_IDS}
    assert d.report.ok and d.generation == "current"
    ids = sb.identities_document()
    facts = {r.check_id: r.facts for r in d.report.results}
    # The fixes read these keys: their names are a contract (see each module's docstring).
    sam = facts["sam-app-graph-application-permissions"]
    assert sam["sam_app_id"] == ids["sam_app_id"] and sam["sam_sp_id"] and sam["graph_sp_id"]
    assert sam["missing_app_role_ids"] == [] and len(sam["manifest_has"]) == 2
    identity = facts["function-app-managed-identity"]
    assert identity["function_app_id"] == ids["function_app_id"]
    assert identity["identity_principal_id"] and identity["subscription_id"] == ids["subscription_id"]
    assert identity["granting_role_id"] == "b24988ac-6180-42a0-ab88-20f7382dd24c"
    client = facts["api-client-app"]
    assert client["api_client_app_id"] == ids["api_client_id"] and client["api_client_sp_id"]
    assert client["identifier_uris"] == [f"api://{ids['api_client_id']}"] and client["token_version"] == 1
    assert client["secret_valid_until"] and client["password_addition_blocked"] is False
    easy = facts["api-easy-auth"]
    assert easy["allowed_applications"] == [ids["api_client_id"]]
    assert easy["allowed_audiences"] == [f"api://{ids['api_client_id']}"] and easy["client_saved"] is True
    assert easy["allowed_tenants"] == [ids["tenant_id"]]
    assert facts["api-token"]["easy_auth_compared"] is True and facts["api-token"]["easy_auth_cause"] is None
    # Facts are plain values and never hold the client secret.
    secret = ids["api_client_secret"]
    dumped = json.dumps({k: dict(v) for k, v in facts.items()})
    assert secret not in dumped


def test_current_fresh_prerequisites_fail_and_api_checks_skip(sandbox_factory: Any) -> None:
    sb = sandbox_factory("current-fresh")
    d = diagnose(sb)
    v = verdicts(d)
    assert v["sam-app-graph-application-permissions"] == ("fail", "permission-not-in-manifest")
    assert v["function-app-managed-identity"] == ("fail", "identity-no-role")
    assert {k: v[k][0] for k in CURRENT_IDS[2:]} == {k: "skip" for k in CURRENT_IDS[2:]}
    sam = d.report.result("sam-app-graph-application-permissions")
    assert sam is not None and len(sam.facts["missing_app_role_ids"]) == 2 and sam.facts["manifest_has"] == []
    assert sam.facts["manifest_missing"] == sam.facts["required_app_role_ids"]


# --- every issue-5 scenario names its cause (through the CLI) -----------------------------

PASS = ("pass", None)
# scenario -> {check id: (status, cause)}; checks not named pass.
EXPECTED: dict[str, dict[str, tuple[str, str | None]]] = {
    "current-ready": {},
    "current-not-saved": {
        "api-easy-auth": ("fail", "client-not-saved-to-azure"),
        "api-token": ("warn", "client-not-saved-to-azure"),
        "api-list-logs": ("fail", "client-not-saved-to-azure"),
    },
    "current-v2-audience": {
        "api-easy-auth": ("fail", "audience-not-allowed"),
        "api-token": ("warn", "audience-not-allowed"),
        "api-list-logs": ("fail", "audience-not-allowed"),
    },
    "current-identifier-uri-missing": {
        "api-client-app": ("fail", "identifier-uri-missing"),
        "api-token": ("fail", "identifier-uri-missing"),
        "api-list-logs": ("skip", None),
    },
    "current-secret-expired": {
        "api-client-app": ("fail", "secret-expired"),
        "api-token": ("fail", "secret-expired"),
        "api-list-logs": ("skip", None),
    },
    "current-secret-policy": {
        "api-client-app": ("fail", "secret-expired"),
        "api-token": ("fail", "secret-expired"),
        "api-list-logs": ("skip", None),
    },
    "current-front-end-url": {"api-list-logs": ("fail", "front-end-url")},
    "current-processor-url": {"api-list-logs": ("fail", "processor-app-url")},
    "current-ip-blocked": {"api-list-logs": ("fail", "ip-not-allowed")},
    "current-roleless-client": {"api-list-logs": ("fail", "role-missing")},
    "current-subscription-ended": {"api-list-logs": ("fail", "subscription-ended")},
    "current-identity-no-role": {
        "function-app-managed-identity": ("fail", "identity-no-role"),
        "api-easy-auth": ("fail", "client-not-saved-to-azure"),
        "api-token": ("warn", "client-not-saved-to-azure"),
        "api-list-logs": ("fail", "client-not-saved-to-azure"),
    },
    "current-no-managed-identity": {
        "function-app-managed-identity": ("fail", "managed-identity-missing"),
        "api-easy-auth": ("fail", "client-not-saved-to-azure"),
        "api-token": ("warn", "client-not-saved-to-azure"),
        "api-list-logs": ("fail", "client-not-saved-to-azure"),
    },
    # A user-assigned identity is not the one Save to Azure runs as (issue 11).
    "current-user-assigned-identity": {
        "function-app-managed-identity": ("fail", "managed-identity-missing"),
        "api-easy-auth": ("fail", "client-not-saved-to-azure"),
        "api-token": ("warn", "client-not-saved-to-azure"),
        "api-list-logs": ("fail", "client-not-saved-to-azure"),
    },
}


def test_the_table_covers_every_current_scenario() -> None:
    # The three profile scenarios have their own table (their check lists differ by profile).
    on_disk = {p.stem for p in SCENARIOS.glob("current-*.yaml")} - {"current-fresh", *PROFILE_SCENARIOS}
    assert on_disk <= set(EXPECTED), f"scenarios without an expected verdict: {sorted(on_disk - set(EXPECTED))}"


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_check_sandbox_names_the_right_cause(capsys: pytest.CaptureFixture[str], scenario: str) -> None:
    # auto: every one of these tenants shows it is a current instance.
    code, envelope, _ = cli_json(capsys, "--sandbox", scenario)
    assert envelope["generation"] == "current", envelope["generation_evidence"]
    found = {c["id"]: (c["status"], c["cause"]) for c in envelope["checks"]}
    assert list(found) == CURRENT_IDS
    expected = {i: EXPECTED[scenario].get(i, PASS) for i in CURRENT_IDS}
    assert found == expected
    assert code == (0 if scenario == "current-ready" else 1)


def test_secret_policy_is_reported_with_the_secret(capsys: pytest.CaptureFixture[str]) -> None:
    _, envelope, _ = cli_json(capsys, "--sandbox", "current-secret-policy")
    client = next(c for c in envelope["checks"] if c["id"] == "api-client-app")
    policy = next(e for e in client["evidence"] if e["setting"] == "tenant app management policy")
    assert "90 days" in policy["found"]
    assert any("90 days" in m["text"] for m in client["messages"])


# --- Easy Auth variants, one setting changed at a time ----------------------------------------


def _site(sb: Any) -> Any:
    return sb.state.sites[sb.state.cipp.function_app.lower()]


def test_tenant_not_allowed_is_explained_before_and_after_the_call(sandbox_factory: Any) -> None:
    sb = sandbox_factory("current-ready")
    with sb.state.lock:
        _site(sb).app_settings["WEBSITE_AUTH_AAD_ALLOWED_TENANTS"] = "00000000-1111-2222-3333-444444444444"
    v = verdicts(diagnose(sb))
    assert v["api-easy-auth"] == ("fail", "tenant-not-allowed")
    assert v["api-token"] == ("warn", "tenant-not-allowed")
    assert v["api-list-logs"] == ("fail", "tenant-not-allowed")  # the sandbox answered 401


def test_app_not_in_allowed_applications_gets_403_named(sandbox_factory: Any) -> None:
    sb = sandbox_factory("current-ready")
    client = sb.identities_document()["api_client_id"]
    with sb.state.lock:
        validation = _site(sb).auth_settings_v2["identityProviders"]["azureActiveDirectory"]["validation"]
        validation["defaultAuthorizationPolicy"]["allowedApplications"] = ["11111111-2222-3333-4444-555555555555"]
    v = verdicts(diagnose(sb))
    assert v["api-easy-auth"] == ("fail", "app-not-allowed")
    assert v["api-token"] == ("warn", "app-not-allowed")
    assert v["api-list-logs"] == ("fail", "app-not-allowed")
    assert client  # the client itself is unchanged: only Easy Auth's list moved


def test_anonymous_access_and_disabled_easy_auth(sandbox_factory: Any) -> None:
    sb = sandbox_factory("current-ready")
    with sb.state.lock:
        _site(sb).auth_settings_v2["globalValidation"] = {"unauthenticatedClientAction": "AllowAnonymous"}
    assert verdicts(diagnose(sb, only=frozenset({"api-easy-auth"})))["api-easy-auth"] == ("fail", "unauthenticated-allowed")
    with sb.state.lock:
        _site(sb).auth_settings_v2["platform"] = {"enabled": False}
    assert verdicts(diagnose(sb, only=frozenset({"api-easy-auth"})))["api-easy-auth"] == ("fail", "easy-auth-disabled")


def test_secret_expiring_within_30_days_warns(sandbox_factory: Any) -> None:
    sb = sandbox_factory("current-ready")
    with sb.state.lock:
        app = sb.state.application_by_app_id(sb.identities_document()["api_client_id"])
        for credential in app.password_credentials:
            credential.end_time = sb.state.clock.now() + 10 * 86400
    d = diagnose(sb, only=frozenset({"api-client-app"}))
    assert verdicts(d)["api-client-app"] == ("warn", "secret-expiring")
    assert d.report.ok  # a warning does not fail the run


def test_missing_service_principal_and_missing_app(sandbox_factory: Any) -> None:
    sb = sandbox_factory("current-ready")
    client = sb.identities_document()["api_client_id"]
    with sb.state.lock:
        sb.state.remove_service_principal(sb.state.service_principal_by_app_id(client).id)
    d = diagnose(sb, only=frozenset({"api-client-app"}))
    assert verdicts(d)["api-client-app"] == ("fail", "service-principal-missing")
    assert d.report.results[0].facts["api_client_sp_id"] is None
    d = diagnose(sb, replace(inputs_for(sb), api_client_id="11111111-2222-3333-4444-555555555555"),
                 only=frozenset({"api-client-app"}))
    assert verdicts(d)["api-client-app"] == ("fail", "client-app-not-found")


def test_function_app_by_name_and_unknown(sandbox_factory: Any) -> None:
    sb = sandbox_factory("current-ready")
    only = frozenset({"function-app-managed-identity"})
    by_name = diagnose(sb, replace(inputs_for(sb), function_app="cippk3x7q"), only=only)
    assert verdicts(by_name)["function-app-managed-identity"] == PASS
    assert by_name.report.results[0].facts["function_app_id"] == sb.identities_document()["function_app_id"]
    missing = diagnose(sb, replace(inputs_for(sb), function_app="no-such-app"), only=only)
    assert verdicts(missing)["function-app-managed-identity"] == ("fail", "function-app-not-found")
    unknown = diagnose(sb, replace(inputs_for(sb), function_app=None), only=only)
    assert verdicts(unknown)["function-app-managed-identity"] == ("fail", "function-app-unknown")


def test_a_role_allowing_config_writes_counts(sandbox_factory: Any) -> None:
    """Website Contributor (Microsoft.Web/sites/*) on the resource group, not Contributor."""
    from cipp_setup.sandbox.state import ArmRoleAssignment

    sb = sandbox_factory("current-fresh")
    site = _site(sb)
    with sb.state.lock:
        sb.state.add_arm_role_assignment(ArmRoleAssignment(
            name="5d3c0a52-8d0e-4f43-9a57-2b2f5b1f0001",
            scope=f"/subscriptions/{site.subscription_id}/resourceGroups/{site.resource_group}",
            role_definition_id="de139f84-1756-47ae-9be6-808fbbe84772",
            principal_id=site.identity_principal_id, principal_type="ServicePrincipal",
        ))
    d = diagnose(sb, only=frozenset({"function-app-managed-identity"}))
    result = d.report.results[0]
    assert (result.status, result.facts["granting_role_id"]) == (Status.PASS, "de139f84-1756-47ae-9be6-808fbbe84772")
    assert "resourceGroups" in str(result.facts["granting_scope"])


# --- --generation auto -------------------------------------------------------------------


def test_auto_detects_current_and_shows_why(sandbox_factory: Any) -> None:
    sb = sandbox_factory("current-ready")
    d = diagnose(sb, replace(inputs_for(sb), generation=None))
    assert d.generation == "current"
    assert [r.check_id for r in d.report.results] == CURRENT_IDS
    evidence = " ".join(d.generation_evidence)
    assert "Application.ReadWrite.All" in evidence and "Contoso Reporting" in evidence


def test_auto_detects_legacy_and_shows_why(capsys: pytest.CaptureFixture[str]) -> None:
    code, envelope, err = cli_json(capsys, "--sandbox", "legacy-ready")
    assert code == 0 and envelope["generation"] == "legacy"
    assert any("CIPP-API" in line for line in envelope["generation_evidence"])
    assert "CIPP generation: legacy" in err  # the human report (stderr with --json) says it too


def test_an_upgraded_instance_is_current_despite_its_legacy_app(sandbox_factory: Any) -> None:
    sb = sandbox_factory("current-identity-no-role")
    d = diagnose(sb, replace(inputs_for(sb), generation=None))
    assert d.generation == "current"
    assert any("outweighs" in line for line in d.generation_evidence)


def test_auto_that_cannot_tell_names_the_option(
    capsys: pytest.CaptureFixture[str], sandbox_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A served sandbox reached through --cloud is a tenant like any other: nothing says
    # which CIPP it runs, so check names the option.
    monkeypatch.delenv("CI", raising=False)
    served = sandbox_factory("current-fresh")
    ready = served.write_ready_file(tmp_path / "ready.json")
    code = main(["check", "--cloud", str(ready), "--tenant", served.state.tenant_id])
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and "--generation legacy" in lines[0] and "--generation current" in lines[0]
    sb = sandbox_factory("legacy-fresh")
    with pytest.raises(GenerationUndetermined) as raised:
        diagnose(sb, replace(inputs_for(sb), generation=None))
    assert raised.value.evidence  # what was looked at, for the wizard to show


def test_an_in_process_sandbox_answers_for_the_admin_when_the_tenant_cannot_tell(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, envelope, _ = cli_json(capsys, "--sandbox", "current-fresh")
    assert code == 1 and envelope["generation"] == "current"
    assert envelope["generation_evidence"][-1] == (
        "The tenant shows neither; the sandbox scenario 'current-fresh' is a current instance."
    )


def test_explicit_generation_and_only_need_no_detection(capsys: pytest.CaptureFixture[str]) -> None:
    code, envelope, _ = cli_json(capsys, "--sandbox", "current-fresh", "--generation", "current")
    assert code == 1 and envelope["generation_evidence"] == ["--generation current was given."]
    code, envelope, _ = cli_json(capsys, "--sandbox", "current-fresh", "--only", "function-app-managed-identity")
    assert envelope["generation"] == "current" and [c["id"] for c in envelope["checks"]] == ["function-app-managed-identity"]

"""The sign-in methods other than device code, end to end with the real SDKs against the sandbox.

- `--auth browser`: azure-identity's InteractiveBrowserCredential starts its loopback server
  and calls `webbrowser.open(url)`. The test's "browser" follows the sandbox's /authorize
  (which answers 302 to the loopback redirect URI with code and state, as Entra does once
  the admin has signed in) and then requests that redirect, so the credential's loopback
  server receives the code and redeems it (authorization code + PKCE) at the token endpoint.
- `--auth client-secret`: an admin service principal built in the scenario (an application
  with a secret, its service principal, Graph application permissions consented as app role
  assignments, Reader on the subscription), signed in with ClientSecretCredential — in
  process through run_diagnosis and through `cipp-setup check` with $AZURE_CLIENT_ID and
  $AZURE_CLIENT_SECRET.
- `--auth azure-cli`: only what can be proven without an `az` binary: the one-line error
  when it is not installed.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
import webbrowser
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml

from cipp_setup import wellknown
from cipp_setup.cli.main import main
from cipp_setup.cloud import Cloud, cloud_from_document
from cipp_setup.engine.context import CheckInputs
from cipp_setup.engine.diagnose import ConnectionOptions, Diagnosis, run_diagnosis
from cipp_setup.engine.model import Secret, Status
from cipp_setup.gateways.retry import RetryPolicy
from cipp_setup.gateways.services import GatewayServices
from cipp_setup.sandbox.scenario import load_scenario
from scenario_verdicts import documented_statuses

LEGACY_IDS = (
    "sam-user-global-admin", "sam-app-azure-management-consent",
    "sam-user-subscription-contributor", "api-token", "api-list-logs",
)
# legacy-ready's documented verdicts (its two activation rights still held warn); the
# automation scenario extends it and gets the same.
READY = documented_statuses("legacy-ready")
BUILTIN_SCENARIOS = Path(__file__).resolve().parents[1] / "cipp_setup" / "sandbox" / "scenarios"

# The automation service principal the client-secret tests sign in as. Fake by construction.
AUTOMATION_APP_ID = "5a7e0c1d-2b3f-4c5d-8e9f-0a1b2c3d4e5f"
AUTOMATION_SECRET = "Sbx8Q~automation.fake-secret.not-a-real-one"
WRONG_SECRET = "Wrong8Q~not-the-automation-secret-value"
# The Graph application permissions the read-only checks need, consented for the app. App-only
# tokens carry these as `roles`; the delegated READ_GRAPH_PERMISSIONS have no meaning for them.
AUTOMATION_GRAPH_ROLES = [
    "Directory.Read.All", "RoleManagement.Read.Directory", "Application.Read.All", "Policy.Read.All",
]


class RecordingSleep:
    """Retry waits are recorded, never slept."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No saved profile, sign-in record or stray credential of the machine takes part."""
    monkeypatch.setenv("CIPP_SETUP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("CIPP_SETUP_STATE_DIR", str(tmp_path / "state"))
    for name in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "CIPP_API_CLIENT_SECRET", "CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)


def sandbox_cloud(sandbox: Any) -> Cloud:
    return cloud_from_document(sandbox.cloud_document(), "sandbox")


def legacy_inputs(sandbox: Any, **overrides: Any) -> CheckInputs:
    ids = sandbox.identities_document()
    inputs = CheckInputs(
        tenant=ids["tenant_id"],
        sam_user=ids["sam_user_upn"],
        api_url=ids["api_url"],
        api_client_id=ids["api_client_id"],
        api_client_secret=Secret(ids["api_client_secret"]),
        generation="legacy",
    )
    return replace(inputs, **overrides)


def no_device_code(message: str) -> None:
    raise AssertionError(f"this sign-in must not fall back to a device code: {message}")


def diagnose(sandbox: Any, inputs: CheckInputs, connection: ConnectionOptions) -> Diagnosis:
    result = asyncio.run(run_diagnosis(inputs, connection))
    assert sandbox.service_errors == []
    return result


def statuses(d: Diagnosis) -> dict[str, tuple[str, str | None]]:
    return {r.check_id: (r.status.value, r.cause) for r in d.report.results}


# --- --auth browser ---------------------------------------------------------------------------


class LoopbackBrowser:
    """Stands in for `webbrowser.open`: the admin's browser, already signed in to the sandbox.

    It opens the authorize URL (the identity platform answers 302 to the loopback redirect
    URI with the code and state) and then follows that redirect to the credential's loopback
    server. A real browser returns from `open` at once and loads the page afterwards; the
    loopback server starts answering only after `open` returns, so the redirect is followed
    from a thread, as the browser would.
    """

    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud
        self.opened: list[str] = []
        self.redirects: list[str] = []
        self.loopback_answers: list[int] = []
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.opened.append(url)
        assert url.startswith(self._cloud.authority_host.rstrip("/") + "/"), url
        trust = ssl.create_default_context(cafile=self._cloud.ca_file)  # the sandbox CA, this client only
        with httpx.Client(verify=trust, trust_env=False, timeout=10) as client:
            answer = client.get(url)
        location = answer.headers.get("location", "")
        if answer.status_code != 302 or not location.startswith(("http://localhost:", "http://127.0.0.1:")):
            # "No browser could open": the credential fails at once instead of waiting 300 s.
            self.errors.append(AssertionError(f"/authorize answered {answer.status_code} {location or answer.text}"))
            return False
        self.redirects.append(location)
        thread = threading.Thread(target=self._deliver, args=(location,), daemon=True)
        thread.start()
        self._threads.append(thread)
        return True

    def _deliver(self, location: str) -> None:
        try:
            with httpx.Client(trust_env=False, timeout=10) as client:
                self.loopback_answers.append(client.get(location).status_code)
        except BaseException as exc:  # noqa: BLE001 - reported by the test, not lost in a thread
            self.errors.append(exc)

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=10)


def browser_connection(sandbox: Any) -> ConnectionOptions:
    return ConnectionOptions(
        services=GatewayServices(),
        cloud=sandbox_cloud(sandbox), auth="browser", interactive=True,
        device_code_callback=no_device_code, retry=RetryPolicy(sleep=RecordingSleep()),
    )


def test_browser_sign_in_gets_every_legacy_verdict(
    sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = sandbox_factory("legacy-ready")
    browser = LoopbackBrowser(sandbox_cloud(sb))
    monkeypatch.setattr(webbrowser, "open", browser.open)
    sb.control.clear_request_log()

    d = diagnose(sb, legacy_inputs(sb), browser_connection(sb))
    browser.join()

    assert browser.errors == []
    # A fresh tenant: the Graph sign-in, then the ARM consent (a second resource, its own
    # page: a refresh token never records consent). Both through the loopback redirect.
    assert len(browser.opened) == 2 and browser.loopback_answers == [200, 200]
    arm = parse_qs(urlsplit(browser.opened[1]).query)
    assert arm["scope"][0].split()[0] == "https://management.azure.com/user_impersonation"
    authorize = parse_qs(urlsplit(browser.opened[0]).query)
    # PKCE and state, the tool's own public client, and only read permissions asked for.
    assert authorize["client_id"] == [wellknown.TOOL_PUBLIC_CLIENT_ID]
    assert authorize["code_challenge_method"] == ["S256"]
    redirect = parse_qs(urlsplit(browser.redirects[0]).query)
    assert redirect["state"] == authorize["state"] and redirect["code"][0]
    scopes = authorize["scope"][0].split()
    assert "https://graph.microsoft.com/Directory.Read.All" in scopes
    assert not any("ReadWrite" in s for s in scopes)

    assert {k: v[0] for k, v in statuses(d).items()} == READY
    assert d.report.ok
    ids = sb.identities_document()
    assert d.admin is not None
    assert (d.admin.kind, d.admin.user_principal_name) == ("user", ids["admin_upn"])
    assert d.tenant_id == ids["tenant_id"]

    paths = [(r.service, r.method, r.path) for r in sb.control.request_log() if r.service == "idp"]
    assert any(m == "GET" and p.endswith("/oauth2/v2.0/authorize") for _, m, p in paths)
    assert not any(p.endswith("/devicecode") for _, _, p in paths)


# --- --auth client-secret ---------------------------------------------------------------------


def automation_scenario(directory: Path) -> Path:
    """legacy-ready plus an automation service principal that may read what `check` reads.

    `extends` replaces lists, so the parent's Azure role assignments are carried over and
    the service principal's Reader assignment added to them.
    """
    parent = yaml.safe_load((BUILTIN_SCENARIOS / "legacy-ready.yaml").read_text(encoding="utf-8"))
    document = {
        "description": "legacy-ready plus an automation service principal with read permissions.",
        "extends": "legacy-ready",
        "name": "legacy-ready-automation",
        "applications": {
            "automation": {
                "display_name": "cipp-setup automation",
                "app_id": AUTOMATION_APP_ID,
                "password_credentials": [
                    {"display_name": "pipeline", "secret": AUTOMATION_SECRET, "expires_in_days": 180},
                ],
            },
        },
        "app_role_assignments": [
            {"principal": "automation", "resource": "Microsoft Graph", "app_roles": AUTOMATION_GRAPH_ROLES},
        ],
        "arm_role_assignments": parent["arm_role_assignments"] + [
            {"principal": "automation", "role": "Reader", "scope": {"subscription": "cipp"}},
        ],
    }
    path = directory / "legacy-ready-automation.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def secret_connection(sandbox: Any, secret: str = AUTOMATION_SECRET) -> ConnectionOptions:
    return ConnectionOptions(
        services=GatewayServices(),
        cloud=sandbox_cloud(sandbox), auth="client-secret", interactive=False,
        device_code_callback=no_device_code, client_id=AUTOMATION_APP_ID, client_secret=Secret(secret),
        retry=RetryPolicy(sleep=RecordingSleep()),
    )


def test_automation_scenario_builds_the_service_principal(tmp_path: Path) -> None:
    state = load_scenario(str(automation_scenario(tmp_path)))
    app = state.application_by_app_id(AUTOMATION_APP_ID)
    sp = state.service_principal_by_app_id(AUTOMATION_APP_ID)
    assert app is not None and sp is not None
    assert [c.secret_text for c in app.password_credentials] == [AUTOMATION_SECRET]
    graph_sp = next(s for s in state.service_principals.values() if s.display_name == "Microsoft Graph")
    role_values = {r.id: r.value for r in graph_sp.app_roles}
    granted = {
        role_values[a.app_role_id] for a in state.app_role_assignments.values()
        if a.principal_id == sp.id and a.resource_id == graph_sp.id
    }
    assert granted == set(AUTOMATION_GRAPH_ROLES)
    assert [(a.scope.split("/")[1], a.principal_type) for a in state.arm_assignments_for(sp.id)] == [
        ("subscriptions", "ServicePrincipal"),
    ]


def test_client_secret_with_sam_user_gets_every_legacy_verdict(sandbox_factory: Any, tmp_path: Path) -> None:
    sb = sandbox_factory(load_scenario(str(automation_scenario(tmp_path))))
    sb.control.clear_request_log()

    d = diagnose(sb, legacy_inputs(sb), secret_connection(sb))

    assert {k: v[0] for k, v in statuses(d).items()} == READY, statuses(d)
    assert d.report.ok
    assert d.admin is not None and d.admin.kind == "app"
    assert d.admin.user_principal_name == f"app {AUTOMATION_APP_ID}"
    with sb.state.lock:
        sp_id = sb.state.service_principal_by_app_id(AUTOMATION_APP_ID).id  # type: ignore[union-attr]
    assert d.admin.object_id == sp_id
    # Every Graph and ARM call was made with the app's token (the log names an app by its
    # appid), never as a user.
    callers = {r.caller for r in sb.control.request_log() if r.service in ("graph", "arm")}
    assert callers == {AUTOMATION_APP_ID}


def test_client_secret_without_sam_user_finds_the_cipp_account_in_the_tenant(
    sandbox_factory: Any, tmp_path: Path
) -> None:
    # An app signed in: it cannot stand in for a user, and it never has to: the run finds
    # the CIPP-SAM user in the tenant and says why.
    sb = sandbox_factory(load_scenario(str(automation_scenario(tmp_path))))
    d = diagnose(sb, legacy_inputs(sb, sam_user=None), secret_connection(sb))

    for check_id in ("sam-user-global-admin", "sam-user-subscription-contributor"):
        result = d.report.result(check_id)
        assert result is not None
        identity = next(e for e in result.evidence if e.setting == "CIPP-SAM user")
        assert identity.found.startswith(sb.identities_document()["sam_user_upn"] + " ("), result
        assert "from the only candidate: named like CIPP's service account" in identity.found


def _run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_check_command_with_client_secret_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = automation_scenario(tmp_path)
    monkeypatch.setenv("AZURE_CLIENT_ID", AUTOMATION_APP_ID)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", AUTOMATION_SECRET)

    code, out, err = _run_cli(capsys, "check", "--sandbox", str(scenario), "--auth", "client-secret")

    assert code == 0, out + err
    assert f"Signed in as app {AUTOMATION_APP_ID}" in out + err
    # --generation auto decided from what the service principal may read.
    assert "CIPP generation: legacy" in out
    assert "3 passed, 2 warned. Every required check passed (with warnings)." in out  # READY's two activation rights
    for check_id in LEGACY_IDS:
        assert re.search(rf"^\[[^\]]+\] {re.escape(check_id)}:", out, re.MULTILINE), out
    assert AUTOMATION_SECRET not in out + err
    assert "Traceback" not in err


def test_check_command_with_a_wrong_secret_exits_4_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = automation_scenario(tmp_path)
    monkeypatch.setenv("AZURE_CLIENT_ID", AUTOMATION_APP_ID)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", WRONG_SECRET)

    code, out, err = _run_cli(capsys, "check", "--sandbox", str(scenario), "--auth", "client-secret")

    assert code == 4, out + err
    assert "Traceback" not in out + err
    assert WRONG_SECRET not in out + err and AUTOMATION_SECRET not in out + err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    line = errors[0]
    # Named once, with the identity platform's own explanation (secret value, not its id).
    assert "sign-in failed: AADSTS7000215: Invalid client secret provided." in line, line
    assert line.count("AADSTS") == 1, line
    assert "Trace ID" not in err  # the description's further lines are not shown


# --- --auth azure-cli -------------------------------------------------------------------------


def test_azure_cli_not_installed_exits_4_with_one_line_naming_another_auth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # No `az` on PATH (this machine has none either): the honest part of --auth azure-cli.
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    code, out, err = _run_cli(capsys, "check", "--sandbox", "legacy-ready", "--auth", "azure-cli")

    assert code == 4, out + err
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if "Azure CLI" in line]
    assert len(lines) == 1, err
    assert "sign-in required: Azure CLI not found on path" in lines[0], lines[0]
    assert "--auth device-code" in lines[0], lines[0]


def test_advice_to_use_azure_cli_says_what_it_cannot_do_for_fix() -> None:
    """No advice points a run that will fix to a mode without saying what that mode cannot do."""
    from cipp_setup.gateways.signin_advice import explain

    for code in ("53003", "530003", "700016"):
        for_check = explain(code, "raw", tenant="contoso.com")
        for_fix = explain(code, "raw", tenant="contoso.com", for_fix=True)
        assert "--auth azure-cli" in for_check and "Global Administrator change is not offered" not in for_check
        assert "Global Administrator change is not offered" in for_fix, for_fix
    assert "not offered" not in explain("65001", "raw", tenant="contoso.com", for_fix=True)

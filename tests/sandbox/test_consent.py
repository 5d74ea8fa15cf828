"""Entra's sign-in and consent rules on the wire, driven by real clients nobody here wrote:
msal's PublicClientApplication with Microsoft Graph Command Line Tools' client id, and
azure-identity's DeviceCodeCredential with its default client (the Azure CLI's).

Each outcome of the consent step is tested as the client sees it (AADSTS code, token `scp`)
and as the tenant records it (an oauth2PermissionGrant readable through Graph).
"""

from __future__ import annotations

import re
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import msal
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import DeviceCodeCredential

from cipp_setup.sandbox.runtime import Sandbox

GRAPH_CLI_TOOLS = "14d82eec-204b-4c2f-b7e8-296a70dab67e"  # Microsoft Graph Command Line Tools
AZURE_CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"  # Microsoft Azure CLI
GRAPH = "https://graph.microsoft.com"
ADMIN = "admin@contoso.example"
USER = "alex.wilber@contoso.example"  # no directory role
AZURE_CLI_GRAPH_SET = {
    "Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All", "AuditLog.Read.All",
    "DelegatedPermissionGrant.ReadWrite.All", "Directory.AccessAsUser.All", "Group.ReadWrite.All",
    "User.Read.All", "User.ReadWrite.All",
}


@pytest.fixture
def sb(sandbox_factory: Any) -> Sandbox:
    sandbox: Sandbox = sandbox_factory("legacy-fresh")
    sandbox.state.device_code_auto_approve = False
    return sandbox


def _session(sb: Sandbox) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = sb.ca_file
    return session


def graph_cli_app(sb: Sandbox) -> msal.PublicClientApplication:
    return msal.PublicClientApplication(
        GRAPH_CLI_TOOLS, authority=f"{sb.urls.idp}/{sb.state.tenant_id}", instance_discovery=False,
        http_client=_session(sb))


def device_flow(sb: Sandbox, app: msal.PublicClientApplication, scopes: list[str], upn: str) -> dict[str, Any]:
    """A device-code sign-in with msal, the code entered by `upn` through the control interface."""
    flow = app.initiate_device_flow(scopes=scopes)
    assert "user_code" in flow, flow
    sb.control.approve_device_code(flow["user_code"], upn=upn)
    result: dict[str, Any] = app.acquire_token_by_device_flow(flow)
    return result


def tool_grants(sb: Sandbox) -> list[tuple[str, str]]:
    """(consentType, scope) of the grants Microsoft Graph Command Line Tools holds here."""
    sp = sb.state.service_principal_by_app_id(GRAPH_CLI_TOOLS)
    return [] if sp is None else [(g.consent_type, g.scope) for g in sb.state.oauth2_grants.values()
                                  if g.client_id == sp.id]


def claims(sb: Sandbox, token: str) -> dict[str, Any]:
    assert sb.tokens is not None
    found = sb.tokens.verify(token)
    assert found is not None
    return found


def scp(sb: Sandbox, token: str) -> set[str]:
    return set(str(claims(sb, token)["scp"]).split(" "))


def graph_get(sb: Sandbox, token: str, path: str, **headers: str) -> httpx.Response:
    with httpx.Client(verify=ssl.create_default_context(cafile=sb.ca_file), trust_env=False, timeout=10) as http:
        return http.get(f"{sb.urls.graph}/v1.0/{path}", headers={"Authorization": f"Bearer {token}", **headers})


def grants_of(sb: Sandbox, admin_token: str, client_app_id: str) -> list[dict[str, Any]]:
    sp = graph_get(sb, admin_token, f"servicePrincipals(appId='{client_app_id}')")
    assert sp.status_code == 200, sp.text
    found = graph_get(sb, admin_token, f"oauth2PermissionGrants?$filter=clientId eq '{sp.json()['id']}'")
    assert found.status_code == 200, found.text
    value: list[dict[str, Any]] = found.json()["value"]
    return value


# --- Microsoft Graph Command Line Tools: third-party, consented incrementally ---------------


def test_pre_authorized_scopes_need_no_consent_page(sb: Sandbox) -> None:
    sb.state.consent_response = "decline"  # a consent page would fail this sign-in
    result = device_flow(sb, graph_cli_app(sb), ["User.Read"], ADMIN)
    assert "access_token" in result, result
    assert scp(sb, result["access_token"]) == {"User.Read"}
    assert claims(sb, result["access_token"])["appid"] == GRAPH_CLI_TOOLS


def test_admin_consents_for_the_organization_and_the_grant_is_in_graph(sb: Sandbox) -> None:
    result = device_flow(sb, graph_cli_app(sb), [f"{GRAPH}/Directory.Read.All"], ADMIN)
    assert "access_token" in result, result
    token = result["access_token"]
    assert scp(sb, token) == {"Directory.Read.All", "User.Read"}
    grants = grants_of(sb, token, GRAPH_CLI_TOOLS)
    assert [(g["consentType"], g["principalId"], g["scope"]) for g in grants] == [
        ("AllPrincipals", None, "Directory.Read.All")]
    # Consent for everyone: another user's sign-in carries it without a page of their own.
    sb.state.consent_response = "decline"
    other = device_flow(sb, graph_cli_app(sb), [f"{GRAPH}/Directory.Read.All"], USER)
    assert "access_token" in other, other
    assert "Directory.Read.All" in scp(sb, other["access_token"])


def test_user_consent_allowed_records_a_grant_for_that_user_only(sb: Sandbox) -> None:
    sb.state.user_consent = "allow"
    result = device_flow(sb, graph_cli_app(sb), [f"{GRAPH}/User.ReadBasic.All"], USER)
    assert "access_token" in result, result
    assert scp(sb, result["access_token"]) == {"User.Read", "User.ReadBasic.All"}
    user_id = claims(sb, result["access_token"])["oid"]
    kinds = [(g.consent_type, g.principal_id, g.scope) for g in sb.state.oauth2_grants.values()]
    assert ("Principal", user_id, "User.ReadBasic.All") in kinds


def test_user_consent_blocked_is_aadsts90094(sb: Sandbox) -> None:
    sb.state.user_consent = "none"
    result = device_flow(sb, graph_cli_app(sb), [f"{GRAPH}/User.ReadBasic.All"], USER)
    assert result.get("error_codes") == [90094], result
    assert "admin permission" in result["error_description"]
    # A permission that needs an admin: 90094 even where users may consent.
    sb.state.user_consent = "allow"
    result = device_flow(sb, graph_cli_app(sb), [f"{GRAPH}/Directory.Read.All"], USER)
    assert result.get("error_codes") == [90094], result


def test_declined_consent_is_aadsts65004_and_writes_nothing(sb: Sandbox) -> None:
    sb.state.consent_response = "decline"
    before = dict(sb.state.oauth2_grants)
    result = device_flow(sb, graph_cli_app(sb), [f"{GRAPH}/Directory.Read.All"], ADMIN)
    assert result.get("error_codes") == [65004], result
    assert "declined" in result["error_description"]
    assert sb.state.oauth2_grants == before


def test_refresh_for_an_unconsented_scope_is_aadsts65001(sb: Sandbox) -> None:
    app = graph_cli_app(sb)
    first = device_flow(sb, app, [f"{GRAPH}/Directory.Read.All"], ADMIN)
    assert "access_token" in first, first
    account = app.get_accounts()[0]
    silent = app.acquire_token_silent_with_error([f"{GRAPH}/RoleManagement.ReadWrite.Directory"], account)
    assert silent is not None and silent.get("error_codes") == [65001], silent
    assert silent.get("suberror") == "consent_required"
    # A refresh never records consent: the grant is unchanged.
    assert tool_grants(sb) == [("AllPrincipals", "Directory.Read.All")]


def test_dot_default_for_a_resource_outside_the_registration_is_aadsts650057(sb: Sandbox) -> None:
    result = device_flow(sb, graph_cli_app(sb), ["https://management.azure.com/.default"], ADMIN)
    assert result.get("error_codes") == [650057], result
    # The explicit scope is dynamic consent, which the admin gives on the page.
    result = device_flow(sb, graph_cli_app(sb), ["https://management.azure.com/user_impersonation"], ADMIN)
    assert "access_token" in result, result
    assert scp(sb, result["access_token"]) == {"user_impersonation"}


def test_pending_consent_waits_for_the_control_interface(sb: Sandbox) -> None:
    sb.state.consent_response = "pending"
    app = graph_cli_app(sb)
    flow = app.initiate_device_flow(scopes=[f"{GRAPH}/Directory.Read.All"])
    sb.control.approve_device_code(flow["user_code"], upn=ADMIN)
    results: list[dict[str, Any]] = []
    worker = threading.Thread(target=lambda: results.append(app.acquire_token_by_device_flow(flow)))
    worker.start()
    deadline = time.monotonic() + 10
    while not sb.control.pending_consents() and time.monotonic() < deadline:
        time.sleep(0.005)
    [waiting] = sb.control.pending_consents()
    assert waiting["user_code"] == flow["user_code"] and waiting["scopes"] == ["Directory.Read.All"]
    assert tool_grants(sb) == [], "nothing is written before the answer"
    sb.control.answer_consent("organization")
    worker.join(10)
    assert results and "access_token" in results[0], results
    assert tool_grants(sb) == [("AllPrincipals", "Directory.Read.All")]


# --- the Azure CLI's client: first-party, pre-authorized, never consented ------------------


def azure_cli_credential(sb: Sandbox, **kwargs: Any) -> DeviceCodeCredential:
    """azure-identity's DeviceCodeCredential with its default client id (the Azure CLI's)."""
    def enter_code(uri: str, code: str, expires: Any) -> None:
        sb.control.approve_device_code(code, upn=ADMIN)

    return DeviceCodeCredential(
        tenant_id=sb.state.tenant_id, authority=sb.urls.idp, disable_instance_discovery=True,
        connection_verify=sb.ca_file, prompt_callback=enter_code, **kwargs)


def test_azure_identity_default_client_gets_the_azure_cli_pre_authorized_scopes(sb: Sandbox) -> None:
    sb.state.consent_response = "decline"  # no consent page may appear for a first-party client
    before = dict(sb.state.oauth2_grants)
    credential = azure_cli_credential(sb)
    graph = credential.get_token(f"{GRAPH}/.default")
    assert claims(sb, graph.token)["appid"] == AZURE_CLI
    assert scp(sb, graph.token) == AZURE_CLI_GRAPH_SET
    arm = credential.get_token("https://management.core.windows.net//.default")
    assert scp(sb, arm.token) == {"user_impersonation"}
    assert claims(sb, arm.token)["aud"] == "https://management.core.windows.net/"
    assert sb.state.oauth2_grants == before, "pre-authorized scopes need no grant"


def test_azure_cli_explicit_graph_scope_is_aadsts65002(sb: Sandbox) -> None:
    with pytest.raises(ClientAuthenticationError, match="AADSTS65002"):
        azure_cli_credential(sb).get_token(f"{GRAPH}/RoleManagement.ReadWrite.Directory")


def test_azure_cli_token_on_pim_and_role_management_is_403_permission_scope_not_granted(sb: Sandbox) -> None:
    token = azure_cli_credential(sb).get_token(f"{GRAPH}/.default").token
    admin_id = claims(sb, token)["oid"]
    for path in (f"roleManagement/directory/roleEligibilityScheduleInstances?$filter=principalId eq '{admin_id}'",
                 f"roleManagement/directory/roleAssignmentScheduleInstances?$filter=principalId eq '{admin_id}'"):
        answer = graph_get(sb, token, path)
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "PermissionScopeNotGranted"
    # The directory itself accepts Directory.AccessAsUser.All.
    assert graph_get(sb, token, "me").status_code == 200


def test_graph_accepts_its_own_base_url_as_audience(sb: Sandbox) -> None:
    token = azure_cli_credential(sb).get_token(f"{sb.urls.graph}/.default").token
    assert claims(sb, token)["aud"] == sb.urls.graph.rstrip("/")
    assert graph_get(sb, token, "me").status_code == 200


# --- documented filters only -----------------------------------------------------------------


def _admin_graph_token(sb: Sandbox, *scopes: str) -> str:
    result = device_flow(sb, graph_cli_app(sb), [f"{GRAPH}/{s}" for s in scopes], ADMIN)
    assert "access_token" in result, result
    token: str = result["access_token"]
    return token


def test_pim_eligibility_instances_accept_eq_and_ne_only(sb: Sandbox) -> None:
    token = _admin_graph_token(sb, "RoleEligibilitySchedule.Read.Directory")
    base = "roleManagement/directory/roleEligibilityScheduleInstances"
    ids = "'a0000000-0000-4000-8000-000000000001', 'a0000000-0000-4000-8000-000000000002'"
    refused = graph_get(sb, token, f"{base}?$filter=principalId in ({ids})")
    assert refused.status_code == 400, refused.text
    assert graph_get(sb, token, f"{base}?$filter=principalId eq 'a0000000-0000-4000-8000-000000000001'").status_code == 200


def test_more_than_fifteen_in_expressions_are_refused(sb: Sandbox) -> None:
    token = _admin_graph_token(sb, "RoleManagement.Read.Directory")
    values = ", ".join(f"'a0000000-0000-4000-8000-{i:012d}'" for i in range(16))
    refused = graph_get(sb, token, f"roleManagement/directory/roleAssignments?$filter=principalId in ({values})")
    assert refused.status_code == 400 and "Max allowed: 15" in refused.text
    fifteen = ", ".join(f"'a0000000-0000-4000-8000-{i:012d}'" for i in range(15))
    assert graph_get(sb, token, f"roleManagement/directory/roleAssignments?$filter=principalId in ({fifteen})").status_code == 200


def test_group_cast_on_transitive_member_of_works_with_or_without_advanced_query(sb: Sandbox) -> None:
    token = _admin_graph_token(sb, "Directory.Read.All")
    plain = graph_get(sb, token, "me/transitiveMemberOf/microsoft.graph.group")
    advanced = graph_get(sb, token, "me/transitiveMemberOf/microsoft.graph.group?$count=true", ConsistencyLevel="eventual")
    assert plain.status_code == 200 and advanced.status_code == 200, (plain.text, advanced.text)
    assert plain.json()["value"] == advanced.json()["value"]


# --- the sandbox emulates the service, never our client --------------------------------------


def test_no_sandbox_source_line_names_the_tools_client_id() -> None:
    sandbox_dir = Path(__file__).resolve().parents[2] / "cipp_setup" / "sandbox"
    offenders = [
        f"{path.name}:{number}"
        for path in sorted(sandbox_dir.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"TOOL_PUBLIC_CLIENT|14d82eec", line, re.IGNORECASE)
    ]
    assert offenders == []


# --- Microsoft Graph's permission catalogue ----------------------------------------------------


def test_graph_catalogue_is_the_whole_published_list_with_real_ids() -> None:
    from cipp_setup.sandbox.consent import graph_catalogue

    rows = {value: (app_id, scope_id, admin) for value, app_id, scope_id, admin in graph_catalogue()}
    assert sum(1 for a, _, _ in rows.values() if a) > 500  # application permissions (appRoles)
    assert sum(1 for _, d, _ in rows.values() if d) > 500  # delegated permissions (scopes)
    # A few real ids, as the Graph service principal has them in every tenant.
    assert rows["RoleManagement.ReadWrite.Directory"] == (
        "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8", "d01b97e9-cbc0-49fe-810a-750afd5527a3", True)
    assert rows["User.Read"] == (None, "e1fe6dd8-ba31-4d61-89e7-88639da4683d", False)
    assert rows["Mail.Send"][2] is False and rows["Directory.AccessAsUser.All"][2] is True


def test_real_clients_graph_scopes_resolve_in_the_catalogue(sb: Sandbox) -> None:
    """Every Graph scope a first-party client is pre-authorized for, and scopes a real client
    asks that the tool never uses, are delegated permissions of the sandbox's Graph."""
    import json
    from importlib import resources

    exposed = {s.value for s in sb.state.service_principal_by_app_id(
        "00000003-0000-0000-c000-000000000000").oauth2_permission_scopes}
    table = json.loads(resources.files("cipp_setup.sandbox").joinpath("public_clients.json").read_text())
    for client in table["clients"]:
        for resource, values in client.get("preauthorized", {}).items():
            if resource.lower() == "00000003-0000-0000-c000-000000000000":
                assert set(values) - {"offline_access", "openid", "profile", "email"} <= exposed, client["display_name"]
    # Scopes nobody here uses: an msal client asking them gets the consent step, not 70011.
    result = device_flow(sb, graph_cli_app(sb), ["Mail.Send", "Calendars.ReadWrite", "Sites.Read.All"], ADMIN)
    assert "access_token" in result, result
    assert {"Mail.Send", "Calendars.ReadWrite", "Sites.Read.All"} <= scp(sb, result["access_token"])


def test_catalogue_generator_keeps_both_kinds_and_the_admin_flag(tmp_path: Path) -> None:
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location(
        "gen_graph_permissions", Path(__file__).resolve().parents[2] / "tools" / "gen_graph_permissions.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    source = {
        "delegatedScopesList": [
            {"value": "B.Read", "id": "d-b", "isAdmin": False, "isEnabled": True, "adminConsentDisplayName": "Read B"},
            {"value": "A.ReadWrite.All", "id": "d-a", "isAdmin": True, "isEnabled": True},
            {"value": "Off.Read", "id": "d-off", "isAdmin": False, "isEnabled": False},
        ],
        "applicationScopesList": [{"value": "A.ReadWrite.All", "id": "r-a", "isAdmin": True, "isEnabled": True,
                                   "adminConsentDisplayName": "Manage A"}],
    }
    (tmp_path / "in.json").write_text(json.dumps(source))
    out = tmp_path / "out.json"
    assert gen.main([str(tmp_path / "in.json"), "--commit", "abc", "--output", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["source_commit"] == "abc" and "microsoft-graph-devx-content" in written["source"]
    assert written["permissions"] == [["A.ReadWrite.All", "r-a", "d-a", True, "Manage A"],
                                      ["B.Read", None, "d-b", False, "Read B"]]

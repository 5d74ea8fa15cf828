"""The current-generation (API clients) built-in scenarios, and the legacy PIM-eligible one.

For each scenario: it loads, a direct call with real tokens (msal for the identity
platform, httpx for CIPP, azure-mgmt-web / azure-mgmt-authorization for ARM, plain HTTPS
for Graph) shows the failure the scenario is named for, and the state after the fix the
product will apply — made here through the same public endpoints, as the admin — passes.
"""

from __future__ import annotations

import datetime
import ssl
import time
import uuid
from typing import Any

import httpx
import jwt
import msal
import pytest
import requests

from cipp_setup import wellknown
from cipp_setup.sandbox import list_scenarios, load_scenario
from cipp_setup.sandbox.cipp import (
    CLIENT_IP_DENIED,
    NO_PERMISSION,
    PROCESSOR_MESSAGE,
    SUBSCRIPTION_ENDED,
    find_api_client,
    function_app_site,
)
from cipp_setup.sandbox.cipp_actions import (
    API_CLIENT_FAILED_PREFIX,
    API_CLIENT_PERMISSIONS_MISSING,
    SAVE_TO_AZURE_FAILED,
    CippActionError,
)
from cipp_setup.sandbox.runtime import Sandbox
from consent_support import tool_service_principal

NEW_SCENARIOS = {
    # name: the cause code its expected-verdicts comment must name
    "current-not-saved": "client-not-saved-to-azure",
    "current-v2-audience": "audience-not-allowed",
    "current-identifier-uri-missing": "identifier-uri-missing",
    "current-secret-expired": "secret-expired",
    "current-secret-policy": "secret-expired",
    "current-front-end-url": "front-end-url",
    "current-processor-url": "processor-app-url",
    "current-ip-blocked": "ip-not-allowed",
    "current-roleless-client": "role-missing",
    "current-subscription-ended": "subscription-ended",
    "current-identity-no-role": "identity-not-contributor",
    "current-no-managed-identity": "managed-identity-missing",
    "legacy-contributor-eligible-only": "contributor-eligible-only",
}
GRAPH_SCOPES = ["https://graph.microsoft.com/Application.ReadWrite.All",
                "https://graph.microsoft.com/AppRoleAssignment.ReadWrite.All",
                "https://graph.microsoft.com/Policy.Read.All"]
ARM_SCOPES = ["https://management.azure.com/user_impersonation"]


# --- helpers: real tokens and real HTTPS ---------------------------------------------------------------


def _session(live: Sandbox) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = live.ca_file
    return session


def client_token(live: Sandbox, client_id: str | None = None, secret: str | None = None,
                 resource: str | None = None) -> dict[str, Any]:
    """msal client credentials for the scenario's API client (or the one given): the raw result."""
    ids = live.identities_document()
    client_id = client_id or ids["api_client_id"]
    app = msal.ConfidentialClientApplication(
        client_id, client_credential=secret or ids["api_client_secret"],
        authority=f"{live.urls.idp}/{live.state.tenant_id}", instance_discovery=False, http_client=_session(live))
    return dict(app.acquire_token_for_client([f"{resource or 'api://' + client_id}/.default"]))


def ok_token(live: Sandbox, **kwargs: Any) -> str:
    result = client_token(live, **kwargs)
    assert "access_token" in result, result.get("error_description")
    return str(result["access_token"])


def user_token(live: Sandbox, scopes: list[str], upn: str | None = None) -> str:
    """A delegated token through the device code flow, approved as `upn` (default: the admin)."""
    app = msal.PublicClientApplication(
        wellknown.TOOL_PUBLIC_CLIENT_ID, authority=f"{live.urls.idp}/{live.state.tenant_id}",
        instance_discovery=False, http_client=_session(live))
    if upn is None:
        flow = app.initiate_device_flow(scopes)
    else:
        live.control.set_device_code_auto_approve(False)
        try:
            flow = app.initiate_device_flow(scopes)
            live.control.approve_device_code(flow["user_code"], upn=upn)
        finally:
            live.control.set_device_code_auto_approve(True)
    result = app.acquire_token_by_device_flow(flow)
    assert "access_token" in result, result.get("error_description")
    return str(result["access_token"])


def https(live: Sandbox, base: str, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=base, verify=ssl.create_default_context(cafile=live.ca_file),
                        headers=headers, follow_redirects=False, timeout=10)


def list_logs(live: Sandbox, token: str, base: str | None = None) -> httpx.Response:
    with https(live, base or live.identities_document()["api_url"], token) as api:
        return api.get("/api/ListLogs")


def admin_graph(live: Sandbox) -> httpx.Client:
    return https(live, f"{live.urls.graph}/v1.0", user_token(live, GRAPH_SCOPES))


def consent_tool_to_arm_for_everyone(live: Sandbox) -> None:
    """An admin's tenant-wide consent: the tool's public client may call ARM for any user."""
    from cipp_setup.sandbox.state import OAuth2PermissionGrant

    tool = tool_service_principal(live.state)
    asm = live.state.service_principal_by_app_id(wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID)
    assert tool is not None and asm is not None
    with live.state.lock:
        grant = OAuth2PermissionGrant(id=str(uuid.uuid4()), client_id=tool.id, consent_type="AllPrincipals",
                                      resource_id=asm.id, scope="user_impersonation")
        live.state.oauth2_grants[grant.id] = grant


class TokenCredential:
    """An azure-core credential holding a token the sandbox's identity platform issued."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(jwt.decode(self.token, options={"verify_signature": False})["exp"]))


def arm_credential(live: Sandbox, upn: str | None = None) -> TokenCredential:
    return TokenCredential(user_token(live, ARM_SCOPES, upn))


def web_client(live: Sandbox, credential: TokenCredential) -> Any:
    from azure.mgmt.web import WebSiteManagementClient

    return WebSiteManagementClient(
        credential, live.identities_document()["subscription_id"], base_url=live.urls.arm,
        credential_scopes=["https://management.azure.com/.default"], connection_verify=live.ca_file, retry_total=0)


def authorization_client(live: Sandbox, credential: TokenCredential) -> Any:
    from azure.mgmt.authorization import AuthorizationManagementClient

    return AuthorizationManagementClient(
        credential, live.identities_document()["subscription_id"], base_url=live.urls.arm,
        credential_scopes=["https://management.azure.com/.default"], connection_verify=live.ca_file, retry_total=0)


def site_names(live: Sandbox) -> tuple[str, str]:
    site = function_app_site(live.state)
    assert site is not None
    return site.resource_group, site.name


def give_identity_contributor(live: Sandbox, credential: TokenCredential, principal_id: str) -> Any:
    """What the product's fix does: Contributor on the Function App, principalType ServicePrincipal."""
    from azure.mgmt.authorization.models import RoleAssignmentCreateParameters

    site = function_app_site(live.state)
    assert site is not None
    params = RoleAssignmentCreateParameters(
        role_definition_id=f"{site.resource_id}/providers/Microsoft.Authorization/roleDefinitions/{wellknown.CONTRIBUTOR}",
        principal_id=principal_id, principal_type="ServicePrincipal")
    return authorization_client(live, credential).role_assignments.create(site.resource_id, str(uuid.uuid4()), params)


def app_object_id(live: Sandbox, app_id: str) -> str:
    app = live.state.application_by_app_id(app_id)
    assert app is not None
    return app.id


def graph_iso(days: float) -> str:
    moment = datetime.datetime.fromtimestamp(time.time() + days * 86400, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def start(sandbox_factory: Any) -> Any:
    return sandbox_factory


# --- every new scenario loads and says what it is for -----------------------------------------------------


def test_the_new_builtins_are_listed() -> None:
    listed = dict(list_scenarios())
    assert set(NEW_SCENARIOS) <= set(listed)


@pytest.mark.parametrize("name", sorted(NEW_SCENARIOS))
def test_each_new_builtin_loads_and_names_its_cause(name: str) -> None:
    state = load_scenario(name)
    assert state.description and "\n" not in state.description
    from importlib import resources

    text = (resources.files("cipp_setup.sandbox") / "scenarios" / f"{name}.yaml").read_text(encoding="utf-8")
    assert "# Expected verdicts" in text
    assert NEW_SCENARIOS[name] in text, f"{name}.yaml must name the cause {NEW_SCENARIOS[name]}"


# --- Easy Auth: not saved, v2 audience -------------------------------------------------------------------------


def test_not_saved_client_gets_401_until_saved_to_azure(start: Any) -> None:
    live = start("current-not-saved")
    client_id = live.identities_document()["api_client_id"]
    token = ok_token(live)
    r = list_logs(live, token)
    assert r.status_code == 401 and r.content == b""
    # What the product reads: the client is enabled in CIPP, absent from Easy Auth.
    web = web_client(live, arm_credential(live))
    rg, name = site_names(live)
    aad = web.web_apps.get_auth_settings_v2(rg, name).identity_providers.azure_active_directory
    assert client_id not in aad.validation.default_authorization_policy.allowed_applications
    assert f"api://{client_id}" not in aad.validation.allowed_audiences
    assert aad.validation.allowed_audiences, "an older client is saved"
    live.control.save_to_azure()
    assert list_logs(live, token).status_code == 200


def test_v2_token_aud_is_the_bare_id_and_gets_401(start: Any) -> None:
    live = start("current-v2-audience")
    client_id = live.identities_document()["api_client_id"]
    token = ok_token(live)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == client_id and claims["ver"] == "2.0"
    site = function_app_site(live.state)
    assert site is not None
    aad = site.auth_settings_v2["identityProviders"]["azureActiveDirectory"]
    # Not the registration's client id (App Service would accept that one as an audience).
    assert aad["registration"]["clientId"] != client_id
    assert client_id in aad["validation"]["defaultAuthorizationPolicy"]["allowedApplications"]
    r = list_logs(live, token)
    assert r.status_code == 401 and r.content == b""

    # The fix: the app asks for v1 tokens again (Graph PATCH of api, scopes kept).
    with admin_graph(live) as graph:
        oid = app_object_id(live, client_id)
        app = graph.get(f"/applications/{oid}").json()
        assert app["api"]["requestedAccessTokenVersion"] == 2
        api = dict(app["api"], requestedAccessTokenVersion=None)
        assert graph.patch(f"/applications/{oid}", json={"api": api}).status_code == 204
    v1 = ok_token(live)
    assert jwt.decode(v1, options={"verify_signature": False})["aud"] == f"api://{client_id}"
    assert list_logs(live, v1).status_code == 200


def test_v2_audience_also_fixed_by_allowing_the_bare_id(start: Any) -> None:
    live = start("current-v2-audience")
    client_id = live.identities_document()["api_client_id"]
    web = web_client(live, arm_credential(live))
    rg, name = site_names(live)
    settings = web.web_apps.get_auth_settings_v2(rg, name)
    settings.identity_providers.azure_active_directory.validation.allowed_audiences.append(client_id)
    web.web_apps.update_auth_settings_v2(rg, name, settings)
    assert list_logs(live, ok_token(live)).status_code == 200


# --- the identity platform: identifier URI, secrets, policy --------------------------------------------------------


def test_identifier_uri_missing_is_aadsts500011_until_added(start: Any) -> None:
    live = start("current-identifier-uri-missing")
    client_id = live.identities_document()["api_client_id"]
    result = client_token(live)
    assert result["error"] == "invalid_resource" and 500011 in result["error_codes"]
    assert result["error_description"].startswith("AADSTS500011")
    with admin_graph(live) as graph:
        oid = app_object_id(live, client_id)
        assert graph.get(f"/applications/{oid}").json()["identifierUris"] == []
        r = graph.patch(f"/applications/{oid}", json={"identifierUris": [f"api://{client_id}"]})
        assert r.status_code == 204
    assert list_logs(live, ok_token(live)).status_code == 200


def test_expired_secret_is_aadsts7000222_until_a_new_secret_is_added(start: Any) -> None:
    live = start("current-secret-expired")
    client_id = live.identities_document()["api_client_id"]
    result = client_token(live)
    assert result["error"] == "invalid_client" and 7000222 in result["error_codes"]
    with admin_graph(live) as graph:
        oid = app_object_id(live, client_id)
        creds = graph.get(f"/applications/{oid}").json()["passwordCredentials"]
        assert len(creds) == 1 and creds[0]["endDateTime"] < graph_iso(0)
        added = graph.post(f"/applications/{oid}/addPassword",
                           json={"passwordCredential": {"displayName": "cipp-setup"}})
        assert added.status_code == 200
        secret = added.json()["secretText"]
        # The expired one is kept: the fix never removes secrets unless asked.
        assert len(graph.get(f"/applications/{oid}").json()["passwordCredentials"]) == 2
    assert list_logs(live, ok_token(live, secret=secret)).status_code == 200


def test_secret_policy_limits_the_new_secrets_lifetime(start: Any) -> None:
    live = start("current-secret-policy")
    client_id = live.identities_document()["api_client_id"]
    assert 7000222 in client_token(live)["error_codes"]
    with admin_graph(live) as graph:
        policy = graph.get("/policies/defaultAppManagementPolicy").json()
        assert policy["isEnabled"] is True
        [restriction] = policy["applicationRestrictions"]["passwordCredentials"]
        assert (restriction["restrictionType"], restriction["maxLifetime"]) == ("passwordLifetime", "P90D")
        oid = app_object_id(live, client_id)
        too_long = graph.post(f"/applications/{oid}/addPassword", json={"passwordCredential": {}})
        assert too_long.status_code == 400
        assert too_long.json()["error"]["code"] == "CredentialInvalidLifetimeAsPerAppPolicy"
        added = graph.post(f"/applications/{oid}/addPassword",
                           json={"passwordCredential": {"displayName": "cipp-setup", "endDateTime": graph_iso(60)}})
        assert added.status_code == 200
        secret = added.json()["secretText"]
    assert list_logs(live, ok_token(live, secret=secret)).status_code == 200


def test_secret_policy_that_blocks_passwords(start: Any) -> None:
    state = load_scenario("current-secret-policy")
    state.app_management_policy.password_addition_blocked = True
    live = start(state)
    client_id = live.identities_document()["api_client_id"]
    with admin_graph(live) as graph:
        restrictions = graph.get("/policies/defaultAppManagementPolicy").json()["applicationRestrictions"]
        assert "passwordAddition" in {r["restrictionType"] for r in restrictions["passwordCredentials"]}
        refused = graph.post(f"/applications/{app_object_id(live, client_id)}/addPassword",
                             json={"passwordCredential": {"endDateTime": graph_iso(30)}})
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "CredentialTypeNotAllowedAsPerAppPolicy"
    # CIPP's own "create API client" runs into the same policy.
    with pytest.raises(CippActionError) as failed:
        live.control.create_api_client("Blocked client")
    assert failed.value.message.startswith(API_CLIENT_FAILED_PREFIX)
    assert "Credential type not allowed" in failed.value.message


# --- wrong URLs ------------------------------------------------------------------------------------------------------------


def test_front_end_url_redirects_to_sign_in(start: Any) -> None:
    live = start("current-front-end-url")
    ids = live.identities_document()
    assert ids["api_url"] == live.urls.frontend
    token = ok_token(live)
    r = list_logs(live, token)
    assert r.status_code == 302 and r.headers["location"].startswith("/.auth/login/aad")
    assert list_logs(live, token, base=live.urls.cipp).status_code == 200


def test_processor_url_answers_403(start: Any) -> None:
    live = start("current-processor-url")
    assert live.identities_document()["api_url"] == live.urls.processor
    token = ok_token(live)
    r = list_logs(live, token)
    assert r.status_code == 403 and r.text == PROCESSOR_MESSAGE
    assert list_logs(live, token, base=live.urls.cipp).status_code == 200


# --- CIPP's own checks --------------------------------------------------------------------------------------------------


def _client(live: Sandbox) -> Any:
    client = find_api_client(live.state, live.identities_document()["api_client_id"])
    assert client is not None
    return client


def test_ip_outside_the_allow_list_gets_cipps_misleading_403(start: Any) -> None:
    live = start("current-ip-blocked")
    assert "127.0.0.1" not in _client(live).ip_ranges
    token = ok_token(live)
    r = list_logs(live, token)
    assert r.status_code == 403 and r.text == CLIENT_IP_DENIED
    with live.state.lock:  # the admin edits the client in CIPP
        _client(live).ip_ranges.append("127.0.0.0/8")
    assert list_logs(live, token).status_code == 200


def test_roleless_client_gets_403(start: Any) -> None:
    live = start("current-roleless-client")
    assert _client(live).role is None
    token = ok_token(live)
    r = list_logs(live, token)
    assert r.status_code == 403 and r.text == NO_PERMISSION
    with live.state.lock:
        _client(live).role = "readonly"
    assert list_logs(live, token).status_code == 200


def test_subscription_ended_gets_403(start: Any) -> None:
    live = start("current-subscription-ended")
    assert live.state.cipp is not None and live.state.cipp.hosted
    token = ok_token(live)
    r = list_logs(live, token)
    assert r.status_code == 403 and r.text == SUBSCRIPTION_ENDED
    with live.state.lock:  # renewed with CyberDrain
        live.state.cipp.subscription_ended = False
    assert list_logs(live, token).status_code == 200


# --- the Function App's managed identity ------------------------------------------------------------------------------


def test_identity_without_role_cannot_save_until_made_contributor(start: Any) -> None:
    live = start("current-identity-no-role")
    token = ok_token(live)
    assert list_logs(live, token).status_code == 401
    with pytest.raises(CippActionError) as failed:
        live.control.save_to_azure()
    assert failed.value.message == SAVE_TO_AZURE_FAILED and "AuthorizationFailed" not in failed.value.message
    assert "does not have authorization to perform action 'Microsoft.Web/sites/config/list/action'" in (
        failed.value.reason)

    credential = arm_credential(live)
    rg, name = site_names(live)
    identity = web_client(live, credential).web_apps.get(rg, name).identity
    assert identity is not None and identity.type == "SystemAssigned"
    auth = authorization_client(live, credential)
    site = function_app_site(live.state)
    assert site is not None
    held = list(auth.role_assignments.list_for_scope(site.resource_id, filter=f"assignedTo('{identity.principal_id}')"))
    assert held == []
    created = give_identity_contributor(live, credential, identity.principal_id)
    assert created.principal_type == "ServicePrincipal"
    live.control.save_to_azure()
    assert list_logs(live, token).status_code == 200


def test_function_app_without_identity_until_turned_on(start: Any) -> None:
    from azure.mgmt.web.models import ManagedServiceIdentity, SitePatchResource

    live = start("current-no-managed-identity")
    token = ok_token(live)
    assert list_logs(live, token).status_code == 401
    with pytest.raises(CippActionError) as failed:
        live.control.save_to_azure()
    assert failed.value.message == SAVE_TO_AZURE_FAILED and "ManagedIdentityCredential" in failed.value.reason

    credential = arm_credential(live)
    web = web_client(live, credential)
    rg, name = site_names(live)
    assert web.web_apps.get(rg, name).identity is None
    patched = web.web_apps.update(rg, name, SitePatchResource(identity=ManagedServiceIdentity(type="SystemAssigned")))
    assert patched.identity is not None and patched.identity.principal_id
    assert live.state.service_principals[patched.identity.principal_id].service_principal_type == "ManagedIdentity"
    give_identity_contributor(live, credential, patched.identity.principal_id)
    live.control.save_to_azure()
    assert list_logs(live, token).status_code == 200


# --- current-fresh: CIPP's actions before and after the product's fixes -------------------------------------------------


def test_current_fresh_actions_fail_with_cipps_texts_then_work_after_the_fixes(start: Any) -> None:
    live = start("current-fresh")
    with pytest.raises(CippActionError) as no_roles:
        live.control.create_api_client("Contoso Reporting")
    assert no_roles.value.message == API_CLIENT_FAILED_PREFIX + API_CLIENT_PERMISSIONS_MISSING

    sam_app_id = live.identities_document()["sam_app_id"]
    sam_sp = live.state.service_principal_by_app_id(sam_app_id)
    graph_sp = live.state.service_principal_by_app_id(wellknown.MICROSOFT_GRAPH_APP_ID)
    assert sam_sp is not None and graph_sp is not None
    with admin_graph(live) as graph:
        assert graph.get(f"/servicePrincipals/{sam_sp.id}/appRoleAssignments").json()["value"] == []
        for role in (wellknown.GRAPH_APPLICATION_READWRITE_ALL, wellknown.GRAPH_DIRECTORY_READWRITE_ALL):
            r = graph.post(f"/servicePrincipals/{graph_sp.id}/appRoleAssignedTo",
                           json={"principalId": sam_sp.id, "resourceId": graph_sp.id, "appRoleId": role})
            assert r.status_code == 201, r.text
        held = {a["appRoleId"] for a in graph.get(f"/servicePrincipals/{sam_sp.id}/appRoleAssignments").json()["value"]}
    assert held == {wellknown.GRAPH_APPLICATION_READWRITE_ALL, wellknown.GRAPH_DIRECTORY_READWRITE_ALL}

    created = live.control.create_api_client("Contoso Reporting")
    with pytest.raises(CippActionError) as no_contributor:
        live.control.save_to_azure()
    assert no_contributor.value.message == SAVE_TO_AZURE_FAILED

    credential = arm_credential(live)
    site = function_app_site(live.state)
    assert site is not None and site.identity_principal_id
    give_identity_contributor(live, credential, site.identity_principal_id)
    saved = live.control.save_to_azure()
    assert created["client_id"] in saved["client_ids"]
    token = ok_token(live, client_id=created["client_id"], secret=created["client_secret"])
    assert list_logs(live, token, base=live.urls.cipp).status_code == 200


# --- ARM reads the product's current-generation checks make (azure-mgmt-web) ------------------------------------------------


def test_current_ready_through_azure_mgmt_web(start: Any) -> None:
    live = start("current-ready")
    client_id = live.identities_document()["api_client_id"]
    web = web_client(live, arm_credential(live))
    rg, name = site_names(live)
    site = web.web_apps.get(rg, name)
    assert site.identity.type == "SystemAssigned" and site.identity.principal_id == function_app_site(
        live.state).identity_principal_id  # type: ignore[union-attr]
    auth = web.web_apps.get_auth_settings_v2(rg, name)
    assert auth.platform.enabled is True
    assert auth.global_validation.unauthenticated_client_action == "Return401"
    aad = auth.identity_providers.azure_active_directory
    assert aad.enabled is True and aad.validation.allowed_audiences == [f"api://{client_id}"]
    assert aad.validation.default_authorization_policy.allowed_applications == [client_id]
    # Finding the Function App: the sites of its resource group and of the subscription.
    listed = {s.name: s for s in web.web_apps.list_by_resource_group(rg)}
    assert {name, f"{name}-proc"} <= set(listed) and listed[name].identity is not None
    assert name in {s.name for s in web.web_apps.list()}
    settings = web.web_apps.list_application_settings(rg, name).properties
    assert settings["WEBSITE_AUTH_AAD_ALLOWED_TENANTS"] == live.state.tenant_id
    # A reader without config/list rights is refused as ARM refuses it.
    from azure.core.exceptions import HttpResponseError

    consent_tool_to_arm_for_everyone(live)
    alex = web_client(live, arm_credential(live, upn="alex.wilber@contoso.example"))
    with pytest.raises(HttpResponseError) as denied:
        alex.web_apps.get_auth_settings_v2(rg, name)
    assert denied.value.status_code == 403 and denied.value.error.code == "AuthorizationFailed"


# --- ARM PIM eligibilities (azure-mgmt-authorization) -----------------------------------------------------------------------------


def test_contributor_eligible_only_is_listed_as_an_eligibility_not_an_assignment(start: Any) -> None:
    live = start("legacy-contributor-eligible-only")
    sam = live.state.cipp.sam_user_id if live.state.cipp else None
    assert sam
    scope = f"/subscriptions/{live.identities_document()['subscription_id']}"
    auth = authorization_client(live, arm_credential(live))
    assigned = {a.role_definition_id.rsplit("/", 1)[-1]
                for a in auth.role_assignments.list_for_scope(scope, filter=f"assignedTo('{sam}')")}
    assert assigned == {wellknown.READER}
    [eligible] = list(auth.role_eligibility_schedule_instances.list_for_scope(scope, filter=f"assignedTo('{sam}')"))
    assert eligible.principal_id == sam and eligible.scope == scope
    assert eligible.role_definition_id.endswith(f"/roleDefinitions/{wellknown.CONTRIBUTOR}")
    assert eligible.status == "Provisioned" and eligible.member_type == "Direct"
    assert eligible.end_date_time is not None
    assert eligible.expanded_properties.role_definition.display_name == "Contributor"
    # atScope() on a resource group below still sees the subscription-level eligibility.
    site = function_app_site(live.state)
    assert site is not None
    rg_scope = f"{scope}/resourceGroups/{site.resource_group}"
    assert len(list(auth.role_eligibility_schedule_instances.list_for_scope(rg_scope, filter="atScope()"))) == 1
    # The admin has none of their own.
    assert list(auth.role_eligibility_schedule_instances.list_for_scope(scope, filter="asTarget()")) == []


def test_eligibility_listing_needs_read_rights_except_as_target(start: Any) -> None:
    from azure.core.exceptions import HttpResponseError

    live = start("legacy-contributor-eligible-only")
    scope = f"/subscriptions/{live.identities_document()['subscription_id']}"
    alex = live.state.user_by_upn("alex.wilber@contoso.example")
    assert alex is not None
    consent_tool_to_arm_for_everyone(live)
    auth = authorization_client(live, arm_credential(live, upn=alex.user_principal_name))
    with pytest.raises(HttpResponseError) as denied:
        list(auth.role_eligibility_schedule_instances.list_for_scope(scope))
    assert denied.value.status_code == 403 and denied.value.error.code == "AuthorizationFailed"
    assert list(auth.role_eligibility_schedule_instances.list_for_scope(scope, filter="asTarget()")) == []
    # The CIPP-SAM user sees its own eligibility with asTarget(), even without read rights elsewhere.
    sam_auth = authorization_client(live, arm_credential(live, upn="cipp-sam@contoso.example"))
    [mine] = list(sam_auth.role_eligibility_schedule_instances.list_for_scope("/", filter="asTarget()"))
    assert mine.role_definition_id.endswith(wellknown.CONTRIBUTOR)
    with pytest.raises(HttpResponseError) as bad:
        list(auth.role_eligibility_schedule_instances.list_for_scope(scope, filter="roleName eq 'x'"))
    assert bad.value.status_code == 400


def test_expired_eligibilities_have_no_instance(start: Any) -> None:
    live = start("legacy-contributor-eligible-only")
    live.control.advance_clock(181 * 86400)
    sam = live.state.cipp.sam_user_id if live.state.cipp else None
    scope = f"/subscriptions/{live.identities_document()['subscription_id']}"
    auth = authorization_client(live, arm_credential(live))
    assert list(auth.role_eligibility_schedule_instances.list_for_scope(scope, filter=f"assignedTo('{sam}')")) == []


# --- user-assigned identities and read-only subscriptions (as ARM and App Service answer) ------------


def test_site_patch_keeps_user_assigned_identities_only_when_named_again(start: Any) -> None:
    from azure.core.exceptions import HttpResponseError

    live = start("current-no-managed-identity")
    web = web_client(live, arm_credential(live))
    rg, name = site_names(live)
    sub = live.identities_document()["subscription_id"]
    uai = f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/cipp-uai"
    attached = web.web_apps.update(rg, name, {"identity": {"type": "UserAssigned", "userAssignedIdentities": {uai: {}}}})
    assert attached.identity.type == "UserAssigned"
    [(shown_id, shown)] = attached.identity.user_assigned_identities.items()
    assert shown_id.lower() == uai.lower() and shown.principal_id and shown.client_id
    both = web.web_apps.update(rg, name, {"identity": {"type": "SystemAssigned, UserAssigned",
                                                       "userAssignedIdentities": {uai: {}}}})
    assert both.identity.type == "SystemAssigned, UserAssigned" and both.identity.principal_id
    assert both.identity.user_assigned_identities[shown_id].principal_id == shown.principal_id
    # `SystemAssigned` alone detaches every user-assigned identity, as ARM does.
    system_only = web.web_apps.update(rg, name, {"identity": {"type": "SystemAssigned"}})
    assert system_only.identity.type == "SystemAssigned" and not system_only.identity.user_assigned_identities
    with pytest.raises(HttpResponseError) as bad:
        web.web_apps.update(rg, name, {"identity": {"type": "SystemAssigned", "userAssignedIdentities": {uai: {}}}})
    assert bad.value.status_code == 400


@pytest.mark.parametrize("state", ["Disabled", "Deleted"])
def test_a_read_only_subscription_refuses_writes_and_its_function_app_is_stopped(start: Any, state: str) -> None:
    from azure.core.exceptions import HttpResponseError

    live = start("current-not-saved")
    token = ok_token(live)
    web = web_client(live, arm_credential(live))
    rg, name = site_names(live)
    live.state.subscriptions[live.identities_document()["subscription_id"].lower()].state = state
    assert web.web_apps.get(rg, name).state == "Stopped"  # reads still answer
    assert web.web_apps.get_auth_settings_v2(rg, name).platform.enabled is True  # POST …/list is a read
    with pytest.raises(HttpResponseError) as refused:
        web.web_apps.update(rg, name, {"identity": {"type": "SystemAssigned"}})
    assert refused.value.status_code == 409 and refused.value.error.code == "ReadOnlyDisabledSubscription"
    response = list_logs(live, token)
    assert response.status_code == 403 and "This web app is stopped" in response.text
    with pytest.raises(CippActionError) as failed:
        live.control.save_to_azure()
    assert "ReadOnlyDisabledSubscription" in failed.value.reason


@pytest.mark.parametrize("state", ["Warned", "PastDue"])
def test_a_subscription_in_its_grace_period_still_takes_writes_and_serves(start: Any, state: str) -> None:
    live = start("current-not-saved")
    token = ok_token(live)
    web = web_client(live, arm_credential(live))
    rg, name = site_names(live)
    live.state.subscriptions[live.identities_document()["subscription_id"].lower()].state = state
    assert web.web_apps.get(rg, name).state == "Running"
    patched = web.web_apps.update(rg, name, {"identity": {"type": "SystemAssigned"}})
    assert patched.identity.principal_id
    assert list_logs(live, token).status_code == 401  # Easy Auth answers: the app runs (the client is not saved)

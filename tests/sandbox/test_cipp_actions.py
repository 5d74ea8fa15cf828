"""CIPP's admin actions: legacy CIPP-API activation, API clients, Save to Azure."""

from __future__ import annotations

import uuid

import pytest

from cipp_setup import wellknown
from cipp_setup.sandbox import cipp_actions
from cipp_setup.sandbox.cipp_actions import CippActionError
from cipp_setup.sandbox.state import (
    Application,
    DirectoryRoleAssignment,
    DirectoryRoleEligibility,
    Group,
    OAuth2PermissionGrant,
    ServicePrincipal,
)

from .test_arm import SITE, SITE_ID, SUB, TENANT, URLS, World, assign, build_world
from .test_cipp import grant_graph_roles


def _sam_app(world: World) -> ServicePrincipal:
    state = world.state
    app_id = state.cipp.sam_app_id
    state.add_application(Application(id=str(uuid.uuid4()), app_id=app_id, display_name="CIPP-SAM",
                                      sign_in_audience="AzureADMultipleOrgs"))
    sp = ServicePrincipal(id=str(uuid.uuid4()), app_id=app_id, display_name="CIPP-SAM")
    state.add_service_principal(sp)
    return sp


def _grant_asm_consent(world: World, sam_sp: ServicePrincipal) -> None:
    asm = world.state.service_principal_by_app_id(wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID)
    grant = OAuth2PermissionGrant(id=str(uuid.uuid4()), client_id=sam_sp.id, consent_type="AllPrincipals",
                                  resource_id=asm.id, scope="user_impersonation")
    world.state.oauth2_grants[grant.id] = grant


def _make_ga(world: World, principal: str) -> None:
    ra = DirectoryRoleAssignment(id=str(uuid.uuid4()), principal_id=principal,
                                 role_definition_id=wellknown.GLOBAL_ADMINISTRATOR)
    world.state.add_role_assignment(ra)


def legacy_ready_world() -> World:
    """Legacy instance where the CIPP-SAM user is GA, the SAM app is consented for ARM, and the user is Contributor."""
    world = build_world("legacy")
    sam_sp = _sam_app(world)
    _make_ga(world, world.sam_user)
    _grant_asm_consent(world, sam_sp)
    assign(world.state, world.sam_user, wellknown.CONTRIBUTOR, f"/subscriptions/{SUB}")
    return world


def test_legacy_activation_succeeds() -> None:
    world = legacy_ready_world()
    state = world.state
    details = cipp_actions.activate_legacy_api(state, None, URLS)
    assert details["api_url"] == URLS.cipp
    app = state.application_by_app_id(details["client_id"])
    assert app is not None and app.display_name == "CIPP-API"
    assert app.identifier_uris == [f"api://{app.app_id}"]
    assert state.service_principal_by_app_id(app.app_id) is not None
    assert details["client_secret"] == app.password_credentials[0].secret_text
    assert details["message"].startswith("Successfully saved the extension configuration. API Enabled.")
    aad = state.sites[SITE].auth_settings_v2["identityProviders"]["azureActiveDirectory"]
    assert aad["enabled"] is True
    assert aad["registration"]["openIdIssuer"] == f"https://sts.windows.net/{TENANT}/v2.0"
    assert aad["validation"]["allowedAudiences"] == [f"api://{app.app_id}"]
    assert aad["validation"]["defaultAuthorizationPolicy"]["allowedApplications"] == [app.app_id]
    assert state.sites[SITE].auth_settings_v2["globalValidation"]["unauthenticatedClientAction"] == "Return401"
    assert state.sites[SITE].app_settings["WEBSITE_AUTH_AAD_ALLOWED_TENANTS"] == TENANT
    assert state.cipp.api_activated
    assert (state.identities.api_client_id, state.identities.api_client_secret) == (app.app_id, details["client_secret"])
    assert state.cipp.logs[-1].message == "Successfully setup CIPP-API Access."
    assert details["client_secret"] not in state.cipp.logs[-1].message


def test_legacy_activation_via_group_and_inherited_roles() -> None:
    world = build_world("legacy")
    state = world.state
    sam_sp = _sam_app(world)
    _grant_asm_consent(world, sam_sp)
    admins = Group(id=str(uuid.uuid4()), display_name="GA group", is_assignable_to_role=True,
                   member_ids=[world.sam_user])
    state.add_group(admins)
    _make_ga(world, admins.id)
    state.add_group_member(world.group, world.sam_user)  # nested group holds Contributor on the subscription
    assert cipp_actions.activate_legacy_api(state, None, URLS)["client_id"]


def test_legacy_activation_owner_at_management_group() -> None:
    world = build_world("legacy")
    sam_sp = _sam_app(world)
    _make_ga(world, world.sam_user)
    _grant_asm_consent(world, sam_sp)
    assign(world.state, world.sam_user, wellknown.OWNER,
           "/providers/Microsoft.Management/managementGroups/contoso-platform")
    assert cipp_actions.activate_legacy_api(world.state, None, URLS)["client_id"]


def test_legacy_without_global_admin_fails_before_creating_anything() -> None:
    world = legacy_ready_world()
    state = world.state
    for ra in list(state.role_assignments.values()):
        state.remove_role_assignment(ra.id)
    state.role_eligibilities["e1"] = DirectoryRoleEligibility(
        id="e1", principal_id=world.sam_user, role_definition_id=wellknown.GLOBAL_ADMINISTRATOR)
    apps_before = len(state.applications)
    with pytest.raises(CippActionError) as err:
        cipp_actions.activate_legacy_api(state, None, URLS)
    assert err.value.message == (
        "Successfully saved the extension configuration.  but could not set API configuration: "
        "Insufficient privileges to complete the operation.")
    assert len(state.applications) == apps_before
    assert not state.cipp.api_activated
    assert state.cipp.logs[-1].severity == "Error"


def test_legacy_without_consent_fails_with_cipp_text_and_leaves_the_app() -> None:
    world = legacy_ready_world()
    state = world.state
    state.oauth2_grants.clear()
    with pytest.raises(CippActionError) as err:
        cipp_actions.activate_legacy_api(state, None, URLS)
    assert err.value.reason == cipp_actions.CONSENT_MISSING
    assert err.value.message.endswith("please try refreshing the CPV permissions in the application settings menu.")
    # As in CIPP, the app registration was made before the ARM token was asked for.
    assert [a.display_name for a in state.applications.values()].count("CIPP-API") == 1
    assert "azureActiveDirectory" not in state.sites[SITE].auth_settings_v2.get("identityProviders", {})


def test_legacy_without_contributor_fails_with_arm_text() -> None:
    world = legacy_ready_world()
    state = world.state
    for a in list(state.arm_assignments_for(world.sam_user)):
        state.remove_arm_role_assignment(a.name)
    assign(state, world.sam_user, wellknown.READER, f"/subscriptions/{SUB}")
    with pytest.raises(CippActionError) as err:
        cipp_actions.activate_legacy_api(state, None, URLS)
    assert err.value.reason == (
        f"The client 'sam@contoso.example' with object id '{world.sam_user}' does not have authorization to perform "
        f"action 'Microsoft.Web/sites/config/list/action' over scope '{SITE_ID}/config/authsettingsV2' or the scope "
        "is invalid. If access was recently granted, please refresh your credentials.")
    assert not state.cipp.api_activated


def test_legacy_activation_refused_on_current_generation() -> None:
    with pytest.raises(CippActionError):
        cipp_actions.activate_legacy_api(build_world("current").state, None, URLS)


def test_create_api_client_needs_graph_app_roles() -> None:
    world = build_world("current")
    with pytest.raises(CippActionError) as err:
        cipp_actions.create_api_client(world.state, None, URLS, "Tool")
    assert err.value.message == cipp_actions.API_CLIENT_FAILED_PREFIX + cipp_actions.API_CLIENT_PERMISSIONS_MISSING
    assert world.state.cipp.api_clients == []


def test_create_api_client_as_cipp_creates_it() -> None:
    world = build_world("current")
    state = world.state
    grant_graph_roles(state)
    state.app_management_policy.max_password_lifetime_days = 90
    created = cipp_actions.create_api_client(state, None, URLS, "Tool", role="editor", ip_ranges=["10.0.0.0/8"])
    app = state.application_by_app_id(created["client_id"])
    assert app.sign_in_audience == "AzureADMyOrg" and app.requested_access_token_version is None
    assert app.identifier_uris == [f"api://{app.app_id}"]
    assert app.oauth2_permission_scopes[0].id == wellknown.CIPP_API_CLIENT_SCOPE_ID
    assert app.required_resource_access[0].resource_access[0].id == wellknown.GRAPH_USER_READ
    assert app.web_redirect_uris == [f"https://{SITE}.azurewebsites.net/.auth/login/aad/callback"]
    secret = app.password_credentials[0]
    assert secret.display_name == "Generated by API Setup"
    assert secret.end_time - secret.start_time == 90 * 86400
    (client,) = state.cipp.api_clients
    assert (client.display_name, client.role, client.ip_ranges, client.enabled) == ("Tool", "editor", ["10.0.0.0/8"], True)
    assert "azureActiveDirectory" not in state.sites[SITE].auth_settings_v2.get("identityProviders", {})
    state.app_management_policy.password_addition_blocked = True
    with pytest.raises(CippActionError) as err:
        cipp_actions.create_api_client(state, None, URLS, "Blocked")
    assert "Credential type not allowed as per assigned policy." in err.value.message


def test_save_to_azure_needs_the_managed_identity_rights() -> None:
    world = build_world("current")
    state = world.state
    grant_graph_roles(state)
    a = cipp_actions.create_api_client(state, None, URLS, "A")
    b = cipp_actions.create_api_client(state, None, URLS, "B")
    cipp_actions.create_api_client(state, None, URLS, "Disabled")
    state.cipp.api_clients[-1].enabled = False
    with pytest.raises(CippActionError) as err:
        cipp_actions.save_to_azure(state, None, URLS)
    assert err.value.message == cipp_actions.SAVE_TO_AZURE_FAILED
    assign(state, world.identity, wellknown.WEBSITE_CONTRIBUTOR, SITE_ID, "ServicePrincipal")
    saved = cipp_actions.save_to_azure(state, None, URLS)
    assert saved["client_ids"] == [a["client_id"], b["client_id"]]
    aad = state.sites[SITE].auth_settings_v2["identityProviders"]["azureActiveDirectory"]
    assert aad["registration"]["clientId"] == a["client_id"]
    assert aad["validation"]["allowedAudiences"] == [f"api://{a['client_id']}", f"api://{b['client_id']}"]
    assert aad["validation"]["defaultAuthorizationPolicy"]["allowedApplications"] == [a["client_id"], b["client_id"]]


def test_save_to_azure_without_identity() -> None:
    world = build_world("current")
    world.state.sites[SITE].identity_principal_id = None
    with pytest.raises(CippActionError) as err:
        cipp_actions.save_to_azure(world.state, None, URLS)
    assert err.value.message == cipp_actions.SAVE_TO_AZURE_FAILED
    assert "ManagedIdentityCredential" in err.value.reason

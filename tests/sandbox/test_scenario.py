"""Scenario files: the schema, the built-ins and their promised properties, clear errors."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import jsonschema
import pytest

from cipp_setup import wellknown
from cipp_setup.sandbox import ScenarioError, list_scenarios, load_scenario
from cipp_setup.sandbox.baseline import (
    MICROSOFT_TENANT_ID,
    SECURITY_READER,
    USER_ADMINISTRATOR,
    baseline_state,
)
from cipp_setup.sandbox.scenario import (
    oauth2_grant_id,
    role_assignment_id,
    scenario_schema,
)
from cipp_setup.sandbox.state import TenantState

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
REQUIRED_BUILTINS = {
    "legacy-ready",
    "legacy-fresh",
    "legacy-ga-via-group",
    "legacy-ga-eligible-only",
    "legacy-consent-missing",
    "legacy-contributor-inherited",
    "legacy-contributor-via-group",
    "current-ready",
    "current-fresh",
    "legacy-ready-large",
}
SMALL_BUILTINS = sorted(name for name, _ in list_scenarios() if name != "legacy-ready-large")


# --- helpers that answer the questions the checks will ask ---------------------------------------


def sam_user_id(state: TenantState) -> str:
    assert state.cipp is not None and state.cipp.sam_user_id
    return state.cipp.sam_user_id


def active_roles(state: TenantState, principal_id: str) -> set[str]:
    """Role template ids active for a principal, directly or through role-assignable groups."""
    ids = {principal_id} | {
        g.id for g in state.transitive_groups_of(principal_id) if g.is_assignable_to_role
    }
    return {ra.role_definition_id for pid in ids for ra in state.role_assignments_for(pid)}


def eligible_roles(state: TenantState, principal_id: str) -> set[str]:
    return {
        e.role_definition_id
        for e in state.role_eligibilities.values()
        if e.principal_id == principal_id
    }


def sam_app(state: TenantState):
    assert state.cipp is not None and state.cipp.sam_app_id
    app = state.application_by_app_id(state.cipp.sam_app_id)
    assert app is not None
    return app


def manifest_has_asm(state: TenantState) -> bool:
    return any(
        r.resource_app_id == wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID
        and any(
            a.id == wellknown.AZURE_SERVICE_MANAGEMENT_USER_IMPERSONATION and a.type == "Scope"
            for a in r.resource_access
        )
        for r in sam_app(state).required_resource_access
    )


def asm_consented(state: TenantState) -> bool:
    client = state.service_principal_by_app_id(sam_app(state).app_id)
    resource = state.service_principal_by_app_id(wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID)
    assert client is not None
    if resource is None:
        return False
    return any(
        g.client_id == client.id
        and g.resource_id == resource.id
        and "user_impersonation" in g.scopes()
        and (g.consent_type == "AllPrincipals" or g.principal_id == sam_user_id(state))
        for g in state.oauth2_grants.values()
    )


def arm_roles_at_or_above(state: TenantState, principal_id: str, scope: str) -> set[str]:
    """ARM role ids the principal (or its groups) holds at `scope` or above: atScope() semantics."""
    principals = {principal_id} | {g.id for g in state.transitive_groups_of(principal_id)}
    ancestors = {s.lower() for s in state.scope_ancestors(scope)}
    return {
        a.role_definition_id
        for pid in principals
        for a in state.arm_assignments_for(pid)
        if a.scope.lower() in ancestors
    }


def subscription_scope(state: TenantState) -> str:
    assert state.identities.subscription_id
    return f"/subscriptions/{state.identities.subscription_id}"


def function_site(state: TenantState):
    assert state.cipp is not None
    return state.sites[state.cipp.function_app.lower()]


def write(tmp_path: Path, text: str, name: str = "custom.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


MINIMAL = """\
description: A small test tenant.
tenant:
  domain: fabrikam.example
users:
  admin: {upn: admin}
  sam: {upn: cipp-sam}
"""


# --- the schema and the list ---------------------------------------------------------------------


def test_the_schema_is_a_valid_json_schema() -> None:
    schema = scenario_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["required"] == ["description", "tenant"]


def test_every_builtin_is_listed_with_a_one_line_description() -> None:
    listed = dict(list_scenarios())
    assert REQUIRED_BUILTINS <= set(listed)
    for name, description in listed.items():
        assert description and "\n" not in description, name
        assert len(description) < 200, name


@pytest.mark.parametrize("name", SMALL_BUILTINS)
def test_every_builtin_validates_against_the_schema_and_loads(name: str) -> None:
    state = load_scenario(name)
    assert state.scenario_name == name
    assert state.description == dict(list_scenarios())[name]
    assert state.cipp is not None


@pytest.mark.parametrize("name", SMALL_BUILTINS)
def test_every_builtin_has_a_separate_admin_who_can_apply_every_fix(name: str) -> None:
    state = load_scenario(name)
    admin = state.identities.admin_user_id
    assert admin and admin in state.users
    assert admin != sam_user_id(state), "the admin who signs in must not be the CIPP-SAM user"
    assert wellknown.GLOBAL_ADMINISTRATOR in active_roles(state, admin)
    assert wellknown.OWNER in arm_roles_at_or_above(state, admin, subscription_scope(state))


@pytest.mark.parametrize("name", SMALL_BUILTINS)
def test_every_builtin_has_the_cipp_deployment(name: str) -> None:
    state = load_scenario(name)
    app = sam_app(state)
    assert app.display_name == wellknown.CIPP_SAM_APP_NAME
    assert app.sign_in_audience == "AzureADMultipleOrgs"
    assert state.service_principal_by_app_id(app.app_id) is not None
    site = function_site(state)
    assert site.subscription_id == state.identities.subscription_id
    assert (site.subscription_id, site.resource_group.lower()) in state.resource_groups
    if name in ("current-no-managed-identity", "current-user-assigned-identity"):
        assert site.identity_principal_id is None, "this scenario is about the missing identity"
    else:
        assert site.identity_principal_id is not None
        identity = state.service_principals[site.identity_principal_id]
        assert identity.service_principal_type == "ManagedIdentity"
    assert state.cipp is not None
    assert state.cipp.front_end_host and state.cipp.processor_app
    assert state.cipp.processor_app.lower() in state.sites
    assert state.cipp.logs, "some log entries"
    times = [entry.date_time for entry in state.cipp.logs]
    assert times == sorted(times, reverse=True), "newest first"
    assert state.tenant_id and state.default_domain == "contoso.example"


# --- the promised properties of each built-in ------------------------------------------------------


def test_legacy_ready_holds_all_three_prerequisites_and_a_working_api_client() -> None:
    state = load_scenario("legacy-ready")
    sam = sam_user_id(state)
    assert state.cipp is not None and state.cipp.generation == "legacy" and state.cipp.api_activated
    assert wellknown.GLOBAL_ADMINISTRATOR in active_roles(state, sam)
    assert manifest_has_asm(state) and asm_consented(state)
    assert wellknown.CONTRIBUTOR in arm_roles_at_or_above(state, sam, subscription_scope(state))

    client_id = state.identities.api_client_id
    secret = state.identities.api_client_secret
    assert client_id and secret and not GUID.match(secret)
    api = state.application_by_app_id(client_id)
    assert api is not None and api.display_name == wellknown.CIPP_LEGACY_API_APP_NAME
    assert api.identifier_uris == [f"api://{client_id}"]
    assert state.service_principal_by_app_id(client_id) is not None
    now = state.clock.now()
    assert any(c.secret_text == secret and c.end_time > now for c in api.password_credentials)

    auth = function_site(state).auth_settings_v2
    aad = auth["identityProviders"]["azureActiveDirectory"]
    assert aad["enabled"] is True
    assert aad["validation"]["allowedAudiences"] == [f"api://{client_id}"]
    assert aad["validation"]["defaultAuthorizationPolicy"]["allowedApplications"] == [client_id]
    assert aad["registration"]["openIdIssuer"] == f"https://sts.windows.net/{state.tenant_id}/v2.0"
    assert auth["globalValidation"]["unauthenticatedClientAction"] == "Return401"


def test_legacy_fresh_holds_none_of_the_prerequisites_and_has_no_api() -> None:
    state = load_scenario("legacy-fresh")
    sam = sam_user_id(state)
    assert wellknown.GLOBAL_ADMINISTRATOR not in active_roles(state, sam)
    assert wellknown.GLOBAL_ADMINISTRATOR not in eligible_roles(state, sam)
    assert not manifest_has_asm(state) and not asm_consented(state)
    assert arm_roles_at_or_above(state, sam, subscription_scope(state)) == set()
    assert not any(a.principal_id == sam for a in state.arm_role_assignments.values())
    assert state.cipp is not None and not state.cipp.api_activated
    assert all(
        a.display_name != wellknown.CIPP_LEGACY_API_APP_NAME for a in state.applications.values()
    )
    assert function_site(state).auth_settings_v2 == {}
    assert state.identities.api_client_id is None and state.identities.api_client_secret is None


def test_legacy_ga_via_group_grants_global_admin_only_through_a_role_assignable_group() -> None:
    state = load_scenario("legacy-ga-via-group")
    sam = sam_user_id(state)
    assert all(
        ra.role_definition_id != wellknown.GLOBAL_ADMINISTRATOR
        for ra in state.role_assignments_for(sam)
    )
    groups = [g for g in state.transitive_groups_of(sam) if g.is_assignable_to_role]
    assert any(
        ra.role_definition_id == wellknown.GLOBAL_ADMINISTRATOR
        for g in groups
        for ra in state.role_assignments_for(g.id)
    )
    assert manifest_has_asm(state) and asm_consented(state)


def test_legacy_ga_eligible_only_has_an_eligibility_but_no_active_global_admin() -> None:
    state = load_scenario("legacy-ga-eligible-only")
    sam = sam_user_id(state)
    assert wellknown.GLOBAL_ADMINISTRATOR in eligible_roles(state, sam)
    assert wellknown.GLOBAL_ADMINISTRATOR not in active_roles(state, sam)
    assert active_roles(state, sam) == {wellknown.GLOBAL_READER}
    assert manifest_has_asm(state) and asm_consented(state)
    assert wellknown.CONTRIBUTOR in arm_roles_at_or_above(state, sam, subscription_scope(state))


def test_legacy_consent_missing_has_the_permission_in_the_manifest_only() -> None:
    state = load_scenario("legacy-consent-missing")
    assert manifest_has_asm(state)
    assert not asm_consented(state)
    assert state.service_principal_by_app_id(wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID) is not None
    assert wellknown.GLOBAL_ADMINISTRATOR in active_roles(state, sam_user_id(state))


def test_legacy_contributor_inherited_comes_from_a_management_group_above_the_subscription() -> (
    None
):
    state = load_scenario("legacy-contributor-inherited")
    sam = sam_user_id(state)
    sub_scope = subscription_scope(state)
    direct = [a for a in state.arm_assignments_for(sam) if a.scope.lower() == sub_scope.lower()]
    assert direct == []
    owners = [a for a in state.arm_assignments_for(sam) if a.role_definition_id == wellknown.OWNER]
    assert len(owners) == 1 and "/managementGroups/mg-contoso" in owners[0].scope
    ancestors = state.scope_ancestors(sub_scope)
    assert owners[0].scope in ancestors
    assert ancestors.index(owners[0].scope) >= 2, "two levels above the subscription"
    assert wellknown.OWNER in arm_roles_at_or_above(state, sam, sub_scope)
    below = [a for a in state.arm_assignments_for(sam) if "/resourceGroups/" in a.scope]
    assert below and below[0].role_definition_id == wellknown.READER


def test_legacy_contributor_via_group_comes_from_a_security_group() -> None:
    state = load_scenario("legacy-contributor-via-group")
    sam = sam_user_id(state)
    assert state.arm_assignments_for(sam) == []
    groups = state.transitive_groups_of(sam)
    assert any(
        a.role_definition_id == wellknown.CONTRIBUTOR and a.principal_type == "Group"
        for g in groups
        for a in state.arm_assignments_for(g.id)
    )
    assert all(not g.is_assignable_to_role for g in groups)


def test_current_ready_has_application_permissions_identity_role_and_a_saved_client() -> None:
    state = load_scenario("current-ready")
    assert state.cipp is not None and state.cipp.generation == "current"
    sam_sp = state.service_principal_by_app_id(sam_app(state).app_id)
    graph = state.service_principal_by_app_id(wellknown.MICROSOFT_GRAPH_APP_ID)
    assert sam_sp is not None and graph is not None
    granted = {
        a.app_role_id
        for a in state.app_role_assignments.values()
        if a.principal_id == sam_sp.id and a.resource_id == graph.id
    }
    assert granted == {
        wellknown.GRAPH_APPLICATION_READWRITE_ALL,
        wellknown.GRAPH_DIRECTORY_READWRITE_ALL,
    }
    site = function_site(state)
    identity_roles = [a for a in state.arm_assignments_for(site.identity_principal_id or "")]
    assert [(a.role_definition_id, a.scope, a.principal_type) for a in identity_roles] == [
        (wellknown.CONTRIBUTOR, site.resource_id, "ServicePrincipal")
    ]
    assert len(state.cipp.api_clients) == 1
    client = state.cipp.api_clients[0]
    assert (
        client.enabled
        and client.role == "readonly"
        and client.app_id == state.identities.api_client_id
    )
    aad = site.auth_settings_v2["identityProviders"]["azureActiveDirectory"]
    assert aad["validation"]["allowedAudiences"] == [f"api://{client.app_id}"]
    assert aad["validation"]["defaultAuthorizationPolicy"]["allowedApplications"] == [client.app_id]
    app = state.application_by_app_id(client.app_id)
    assert app is not None and app.identifier_uris == [f"api://{client.app_id}"]
    assert app.web_redirect_uris == [
        f"https://{site.name}.azurewebsites.net/.auth/login/aad/callback"
    ]
    assert state.identities.api_client_secret and not GUID.match(state.identities.api_client_secret)


def test_current_fresh_lacks_the_permissions_the_identity_role_and_any_client() -> None:
    state = load_scenario("current-fresh")
    assert state.cipp is not None and state.cipp.generation == "current"
    assert state.app_role_assignments == {}
    assert all(
        a.type == "Scope"
        for r in sam_app(state).required_resource_access
        for a in r.resource_access
    )
    site = function_site(state)
    assert (
        site.identity_principal_id and state.arm_assignments_for(site.identity_principal_id) == []
    )
    assert state.cipp.api_clients == [] and site.auth_settings_v2 == {}
    assert state.identities.api_client_id is None


# --- ids, freshness, files ----------------------------------------------------------------------------


def test_ids_are_deterministic_and_each_load_is_a_fresh_state() -> None:
    first, second = load_scenario("legacy-ready"), load_scenario("legacy-ready")
    assert first is not second
    assert first.tenant_id == second.tenant_id and GUID.match(first.tenant_id)
    assert sorted(first.users) == sorted(second.users)
    assert sorted(first.applications) == sorted(second.applications)
    assert sorted(first.oauth2_grants) == sorted(second.oauth2_grants)
    assert sorted(first.arm_role_assignments) == sorted(second.arm_role_assignments)
    assert [e.row_key for e in first.cipp.logs] == [e.row_key for e in second.cipp.logs]  # type: ignore[union-attr]
    first.users.clear()
    assert load_scenario("legacy-ready").users, (
        "a later load is not affected by changes to an earlier state"
    )
    assert load_scenario("legacy-fresh").tenant_id != first.tenant_id, (
        "another scenario, another tenant"
    )


def test_a_file_path_loads_and_takes_its_name_from_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL, "fabrikam-small.yaml")
    state = load_scenario(path)
    assert state.scenario_name == "fabrikam-small"
    assert state.user_by_upn("cipp-sam@fabrikam.example") is not None
    assert state.cipp is None
    assert load_scenario(str(path)).tenant_id == state.tenant_id


def test_explicit_ids_are_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        description: Explicit ids.
        tenant: {id: 11111111-2222-3333-4444-555555555555, domain: fabrikam.example}
        users:
          sam: {upn: cipp-sam, id: AAAAAAAA-0000-0000-0000-000000000001}
        applications:
          app: {display_name: App, app_id: bbbbbbbb-0000-0000-0000-000000000002}
        """,
    )
    state = load_scenario(path)
    assert state.tenant_id == "11111111-2222-3333-4444-555555555555"
    assert "aaaaaaaa-0000-0000-0000-000000000001" in state.users
    assert state.application_by_app_id("bbbbbbbb-0000-0000-0000-000000000002") is not None


def test_ids_take_the_shape_graph_gives_them() -> None:
    # Official examples: oauth2PermissionGrant create (AllPrincipals) and a roleAssignment list.
    assert (
        oauth2_grant_id(
            "ef969797-201d-4f6b-960c-e9ed5f31dab5", "943603e4-e787-4fe9-93d1-e30f749aae39"
        )
        == "l5eW7x0ga0-WDOntXzHateQDNpSH5-lPk9HjD3Sarjk"
    )
    assert role_assignment_id(
        wellknown.GLOBAL_ADMINISTRATOR, "f1847572-48aa-47aa-96a3-2ec61904f41f"
    ) == ("lAPpYvVpN0KRkAEhdxReEHJ1hPGqSKpHlqMuxhkE9B8-1")


def test_extends_merges_mappings_and_a_null_removes_a_key(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL, "parent.yaml")
    path = write(
        tmp_path,
        """\
        description: A child.
        extends: parent.yaml
        users:
          admin: null
          extra: {upn: extra}
        """,
        "child.yaml",
    )
    state = load_scenario(path)
    upns = {u.user_principal_name for u in state.users.values()}
    assert upns == {"cipp-sam@fabrikam.example", "extra@fabrikam.example"}


def test_placeholders_are_substituted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + textwrap.dedent("""\
        applications:
          api:
            display_name: API
            identifier_uris: ["api://{app_id}", "https://{domain}/{api.app_id}"]
        """),
    )
    state = load_scenario(path)
    app = next(iter(state.applications.values()))
    assert app.identifier_uris == [f"api://{app.app_id}", f"https://fabrikam.example/{app.app_id}"]


def test_the_azure_management_service_principal_can_be_omitted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + textwrap.dedent("""\
        baseline: {omit_service_principals: [Azure Service Management]}
        applications:
          cipp-sam:
            display_name: CIPP-SAM
            required_resource_access:
              - {resource: Azure Service Management, delegated: [user_impersonation]}
        """),
    )
    state = load_scenario(path)
    assert state.service_principal_by_app_id(wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID) is None
    app = next(iter(state.applications.values()))
    assert (
        app.required_resource_access[0].resource_access[0].id
        == wellknown.AZURE_SERVICE_MANAGEMENT_USER_IMPERSONATION
    )


def test_faults_replication_size_and_flags_reach_the_state(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + textwrap.dedent("""\
        faults:
          - {kind: throttle, service: graph, method: GET, path: /users, times: 2, retry_after: 3}
        replication: {graph_seconds: 5, arm_principal_requests: 2}
        device_code_auto_approve: false
        """),
    )
    state = load_scenario(path)
    assert [(f.kind, f.service, f.times, f.retry_after) for f in state.faults] == [
        ("throttle", "graph", 2, 3)
    ]
    assert state.replication.graph_seconds == 5 and state.replication.arm_principal_requests == 2
    assert state.device_code_auto_approve is False


# --- baseline --------------------------------------------------------------------------------------


def test_the_baseline_has_what_every_tenant_has() -> None:
    state = baseline_state(
        tenant_id="ABCDEF01-2345-6789-ABCD-EF0123456789",
        default_domain="x.example",
        display_name="X",
    )
    assert state.tenant_id == "abcdef01-2345-6789-abcd-ef0123456789"
    graph = state.service_principal_by_app_id(wellknown.MICROSOFT_GRAPH_APP_ID)
    asm = state.service_principal_by_app_id(wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID)
    # Public clients' service principals appear on first use (sign-in or consent), not before.
    assert state.service_principal_by_app_id(wellknown.TOOL_PUBLIC_CLIENT_ID) is None
    assert graph and asm
    assert {sp.app_owner_organization_id for sp in (graph, asm)} == {MICROSOFT_TENANT_ID}
    assert graph.resource_uris == ["https://graph.microsoft.com"]
    assert asm.display_name == "Windows Azure Service Management API"
    assert asm.resource_uris == [
        "https://management.azure.com/",
        "https://management.core.windows.net/",
    ]
    assert [(s.id, s.value) for s in asm.oauth2_permission_scopes] == [
        (wellknown.AZURE_SERVICE_MANAGEMENT_USER_IMPERSONATION, "user_impersonation")
    ]
    roles = {r.value: r.id for r in graph.app_roles}
    scopes = {s.value: s.id for s in graph.oauth2_permission_scopes}
    assert roles["Application.ReadWrite.All"] == wellknown.GRAPH_APPLICATION_READWRITE_ALL
    assert roles["Directory.ReadWrite.All"] == wellknown.GRAPH_DIRECTORY_READWRITE_ALL
    assert roles["RoleEligibilitySchedule.Read.Directory"] == "ff278e11-4a33-4d0c-83d2-d01dc58929a5"
    assert scopes["User.Read"] == wellknown.GRAPH_USER_READ
    assert scopes["offline_access"] == "7427e0e9-2fba-42fe-b0c0-848c9e6a8182"
    assert "User.Read" not in roles and "Application.ReadWrite.OwnedBy" not in scopes
    # Ids are unique, but for the one permission Microsoft's table gives the same id as an
    # app role and as a delegated scope (User.Export.All).
    shared = set(roles.values()) & set(scopes.values())
    assert shared == {roles["User.Export.All"]} == {scopes["User.Export.All"]}
    assert len(set(roles.values()) | set(scopes.values())) == len(roles) + len(scopes) - 1, (
        "ids are unique"
    )
    assert set(state.role_definitions) == {
        wellknown.GLOBAL_ADMINISTRATOR,
        wellknown.PRIVILEGED_ROLE_ADMINISTRATOR,
        wellknown.APPLICATION_ADMINISTRATOR,
        wellknown.CLOUD_APPLICATION_ADMINISTRATOR,
        wellknown.GLOBAL_READER,
        USER_ADMINISTRATOR,
        SECURITY_READER,
    }
    arm = state.arm_role_definitions
    assert arm[wellknown.OWNER].actions == ["*"] and arm[wellknown.OWNER].not_actions == []
    assert "Microsoft.Authorization/*/Write" in arm[wellknown.CONTRIBUTOR].not_actions
    assert arm[wellknown.READER].actions == ["*/read"]
    assert "Microsoft.Authorization/*" in arm[wellknown.USER_ACCESS_ADMINISTRATOR].actions
    assert "Microsoft.Web/sites/*" in arm[wellknown.WEBSITE_CONTRIBUTOR].actions
    root = state.management_groups[state.tenant_id]
    assert root.display_name == "Tenant Root Group" and root.parent_name is None


# --- errors: one line naming the file, the field and the expectation -------------------------------


def load_error(target: str | Path) -> str:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(target)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_unknown_builtin_names_the_choices() -> None:
    message = load_error("legacy-redy")
    assert message.startswith("unknown scenario 'legacy-redy': choose one of ")
    assert "legacy-ready" in message and "current-fresh" in message


def test_missing_file(tmp_path: Path) -> None:
    message = load_error(tmp_path / "nope.yaml")
    assert message.startswith(str(tmp_path / "nope.yaml")) and "no such file" in message


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "description: x\ntenant: {domain: a.example\nusers: []\n")
    message = load_error(path)
    assert message.startswith(f"{path}: line ") and "invalid YAML" in message


def test_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    assert "expected a mapping of scenario fields" in load_error(write(tmp_path, "- a\n- b\n"))
    assert "got an empty file" in load_error(write(tmp_path, "", "empty.yaml"))


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "  admin: {upn: other}\n")
    message = load_error(path)
    assert (
        message
        == f"{path}: line 7, column 3: duplicate key 'admin': each key may appear once in a mapping"
    )


@pytest.mark.parametrize(
    ("extra", "field", "expected"),
    [
        (
            "  bob: {upn: bob, account_enabled: maybe}\n",
            "users.bob.account_enabled",
            'expected true or false, got "maybe"',
        ),
        ("  bob: {display_name: Bob}\n", "users.bob.upn", "is required but missing"),
        ("  bob: {upn: bob, upm: x}\n", "users.bob.upm", "unknown field: expected one of"),
        ("  bob: {upn: 'two words'}\n", "users.bob.upn", "expected a user principal name"),
    ],
)
def test_schema_errors_name_field_and_expectation(
    tmp_path: Path, extra: str, field: str, expected: str
) -> None:
    path = write(tmp_path, MINIMAL + extra)
    message = load_error(path)
    assert message.startswith(f"{path}: {field}: "), message
    assert expected in message


def test_missing_top_level_field_and_wrong_types(tmp_path: Path) -> None:
    path = write(tmp_path, "description: no tenant\n")
    assert load_error(path) == f"{path}: tenant: is required but missing"
    path = write(tmp_path, MINIMAL.replace("fabrikam.example", "not a domain"), "bad-domain.yaml")
    assert load_error(path).startswith(f"{path}: tenant.domain: expected a domain name")
    path = write(
        tmp_path,
        MINIMAL + "cipp: {generation: modern, version: 7.1.0, function_app: "
        "{name: f, subscription: s, resource_group: r}}\n",
        "bad-generation.yaml",
    )
    assert (
        load_error(path)
        == f'{path}: cipp.generation: expected one of legacy, current, got "modern"'
    )
    path = write(
        tmp_path, MINIMAL.replace("tenant:\n", "tenant:\n  id: not-a-guid\n"), "bad-guid.yaml"
    )
    assert load_error(path).startswith(f"{path}: tenant.id: expected a GUID")


def test_unknown_references_name_the_field(tmp_path: Path) -> None:
    path = write(
        tmp_path, MINIMAL + "directory_roles:\n  - {principal: bob, role: Global Administrator}\n"
    )
    message = load_error(path)
    assert message.startswith(f"{path}: directory_roles[0].principal: unknown ")
    assert "'bob'" in message and "admin, sam" in message

    path = write(
        tmp_path,
        MINIMAL + "directory_roles:\n  - {principal: sam, role: Global Admin}\n",
        "role.yaml",
    )
    assert "directory_roles[0].role: unknown directory role 'Global Admin'" in load_error(path)

    path = write(
        tmp_path,
        MINIMAL + "arm_role_assignments:\n  - {principal: sam, role: Contributor, "
        "scope: {subscription: prod}}\n",
        "sub.yaml",
    )
    assert "arm_role_assignments[0].scope.subscription: unknown subscription 'prod'" in load_error(
        path
    )

    path = write(
        tmp_path,
        MINIMAL + "groups:\n  g: {display_name: G, members: [sam, nobody]}\n",
        "member.yaml",
    )
    assert "groups.g.members[1]: unknown" in load_error(path)


def test_unknown_permissions_and_resources(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + textwrap.dedent("""\
        applications:
          app:
            display_name: App
            required_resource_access:
              - {resource: Microsoft Graph, application: [Application.ReadWrite.Everything]}
        """),
    )
    message = load_error(path)
    assert (
        "applications.app.required_resource_access[0].application[0]: Microsoft Graph has no application "
        "permission 'Application.ReadWrite.Everything'" in message
    )
    path = write(
        tmp_path,
        MINIMAL + "oauth2_grants:\n  - {client: sam, resource: Nowhere, scope: x}\n",
        "g.yaml",
    )
    assert "oauth2_grants[0].client: unknown application or service principal 'sam'" in load_error(
        path
    )
    path = write(
        tmp_path,
        MINIMAL + "applications:\n  app: {display_name: App}\n"
        "oauth2_grants:\n  - {client: app, resource: Nowhere, scope: x}\n",
        "r.yaml",
    )
    assert (
        "oauth2_grants[0].resource: unknown resource 'Nowhere': expected Microsoft Graph"
        in load_error(path)
    )
    path = write(
        tmp_path,
        MINIMAL + "applications:\n  app: {display_name: App}\n"
        "oauth2_grants:\n  - {client: app, resource: Microsoft Graph, scope: User.Raed}\n",
        "s.yaml",
    )
    assert (
        "oauth2_grants[0].scope: Microsoft Graph exposes no delegated permission 'User.Raed'"
        in load_error(path)
    )


def test_a_grant_needs_the_resource_service_principal(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + textwrap.dedent("""\
        baseline: {omit_service_principals: [Azure Service Management]}
        applications:
          app: {display_name: App}
        oauth2_grants:
          - {client: app, resource: Azure Service Management, scope: user_impersonation}
        """),
    )
    assert (
        "oauth2_grants[0].resource: Windows Azure Service Management API has no service principal"
        in load_error(path)
    )


def test_directory_roles_need_role_assignable_groups(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + textwrap.dedent("""\
        groups:
          plain: {display_name: Plain, members: [sam]}
        directory_roles:
          - {principal: plain, role: Global Administrator}
        """),
    )
    assert "directory_roles[0].principal: group 'plain' is not role-assignable" in load_error(path)


def test_keys_must_be_unique_across_principals(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "applications:\n  sam: {display_name: CIPP-SAM}\n")
    assert load_error(path) == (
        f"{path}: applications.sam: the key 'sam' is already used under users: keys of "
        "users, groups, applications and service principals must be unique"
    )


def test_bad_placeholder_fault_and_extends_cycle(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL + "applications:\n  a: {display_name: A, identifier_uris: ['api://{nope}']}\n",
    )
    assert "applications.a.identifier_uris[0]: unknown placeholder {nope}" in load_error(path)
    path = write(tmp_path, MINIMAL + "faults:\n  - {kind: latency}\n", "fault.yaml")
    assert "faults[0]: a latency fault needs delay_ms" in load_error(path)
    write(tmp_path, "description: a\nextends: b.yaml\n", "a.yaml")
    write(tmp_path, "description: b\nextends: a.yaml\n", "b.yaml")
    assert "cycle" in load_error(tmp_path / "a.yaml")


def test_error_inside_an_extended_file_names_both_files(tmp_path: Path) -> None:
    path = write(tmp_path, "description: child\nextends: legacy-ready\nusers:\n  sam: {upn: 7}\n")
    message = load_error(path)
    assert message.startswith(f"{path} (extends legacy-ready.yaml): users.sam.upn: expected")


def test_the_user_consent_setting_and_grants_of_public_clients(tmp_path: Path) -> None:
    scenario = tmp_path / "consent-locked.yaml"
    scenario.write_text(textwrap.dedent("""\
        extends: legacy-fresh
        description: User consent off; an admin consented Graph reads for the tool's client before
        tenant: {domain: contoso.example, user_consent: none}
        oauth2_grants:
          - client: Microsoft Graph Command Line Tools
            resource: Microsoft Graph
            scope: [Directory.Read.All]
          - client: 04b07795-8ddb-461a-bbee-02f9e1bf7b46
            resource: Microsoft Graph
            scope: User.Read
            consent_type: Principal
            principal: admin
        """), encoding="utf-8")
    state = load_scenario(scenario)
    assert state.user_consent == "none"
    tool = state.service_principal_by_app_id(wellknown.TOOL_PUBLIC_CLIENT_ID)
    azure_cli = state.service_principal_by_app_id("04b07795-8ddb-461a-bbee-02f9e1bf7b46")
    assert tool is not None and tool.display_name == "Microsoft Graph Command Line Tools"
    assert azure_cli is not None and azure_cli.display_name == "Microsoft Azure CLI"
    kinds = {(g.client_id, g.consent_type, g.scope) for g in state.oauth2_grants.values()}
    assert (tool.id, "AllPrincipals", "Directory.Read.All") in kinds
    assert (azure_cli.id, "Principal", "User.Read") in kinds
    # Not a setting Entra has:
    bad = tmp_path / "bad.yaml"
    bad.write_text(scenario.read_text(encoding="utf-8").replace("user_consent: none", "user_consent: sometimes"),
                   encoding="utf-8")
    assert "user_consent" in load_error(bad)

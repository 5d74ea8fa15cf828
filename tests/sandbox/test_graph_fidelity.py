"""Fidelity: every payload the sandbox's Graph serves, next to Microsoft's own example for
the same call (tests/fixtures/microsoft-examples/graph_*.json).

The check: each key of the example is present in the sandbox's payload with the same
JSON type (object, array, string, number, boolean), recursively; arrays are compared on
their first element. A `null` on either side matches anything, and so does an empty array
(except a collection's `value`), because the examples' tenants and ours simply hold
different values. Status codes must match, and the
`@odata.context` fragment must match where the example's context is not a documented
doc artifact (noted per case). Error bodies match the official error shape, code and
message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cipp_setup import wellknown as wk
from cipp_setup.sandbox.state import (
    AppRoleAssignment,
    DirectoryRoleAssignment,
    OAuth2PermissionGrant,
    RequiredResourceAccess,
    ResourceAccess,
)

from .graph_tenant import DOMAIN, Tenant, build_tenant, graph_sp_id, uid

from reference import EXAMPLES

USER_READ_ALL_ROLE = "df021288-bdef-4463-88db-98f22de89214"


def load(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text())


def json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def shape_differences(example: Any, ours: Any, path: str = "$") -> list[str]:
    if example is None or ours is None:
        return []
    if json_type(example) != json_type(ours):
        return [f"{path}: example has {json_type(example)}, sandbox has {json_type(ours)}"]
    if isinstance(example, dict):
        out: list[str] = []
        for key, value in example.items():
            if key not in ours:
                out.append(f"{path}.{key}: missing")
            else:
                out += shape_differences(value, ours[key], f"{path}.{key}")
        return out
    if isinstance(example, list) and example:
        if not ours:
            # An empty array is data (no phone numbers, no URIs); an empty result list is not.
            return [f"{path}: example has items, sandbox has none"] if path.endswith(".value") else []
        return shape_differences(example[0], ours[0], f"{path}[0]")
    return []


def context_fragment(body: dict[str, Any]) -> str:
    return str(body.get("@odata.context", "")).split("#", 1)[-1]


@dataclass
class Case:
    example: str
    method: str
    path: Callable[[Tenant], str]
    body: Callable[[Tenant], Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    who: str = "admin"
    setup: Callable[[Tenant], None] | None = None
    # The example's @odata.context fragment is a doc artifact (beta host, typo, missing).
    check_context: bool = True


def _with_sam_permissions(t: Tenant) -> None:
    app = t.state.applications[uid("app-sam")]
    app.required_resource_access = [RequiredResourceAccess(
        resource_app_id=wk.MICROSOFT_GRAPH_APP_ID,
        resource_access=[ResourceAccess(id=wk.GRAPH_USER_READ, type="Scope")])]
    app.identifier_uris = [f"api://{app.app_id}"]


def _with_grants(t: Tenant) -> None:
    for key, consent, principal in (("g1", "AllPrincipals", None), ("g2", "Principal", uid("plain"))):
        gid = f"grant-{key}"
        t.state.oauth2_grants[gid] = OAuth2PermissionGrant(
            id=gid, client_id=uid("sp-sam"), consent_type=consent, resource_id=graph_sp_id(),  # type: ignore[arg-type]
            scope="User.Read.All Group.Read.All", principal_id=principal)


def _with_app_role_assignment(t: Tenant) -> None:
    t.state.app_role_assignments["ara-1"] = AppRoleAssignment(
        id="ara-1", principal_id=uid("sp-sam"), principal_type="ServicePrincipal",
        principal_display_name="CIPP-SAM", resource_id=graph_sp_id(), resource_display_name="Microsoft Graph",
        app_role_id=USER_READ_ALL_ROLE, created_time=time.time())


def _with_activation(t: Tenant) -> None:
    t.state.add_role_assignment(DirectoryRoleAssignment(
        id="activated-1", principal_id=uid("eligible"), role_definition_id=wk.GLOBAL_ADMINISTRATOR,
        activated_from_eligibility_id=uid("elig"), start_time=t.state.clock.now(),
        end_time=t.state.clock.now() + 3600))


def _with_second_role_for_appadmin(t: Tenant) -> None:
    t.state.add_role_assignment(DirectoryRoleAssignment(
        id="ra-appadmin-reader", principal_id=uid("appadmin"), role_definition_id=wk.GLOBAL_READER))


SAM = uid("app-sam")
EVENTUAL = {"ConsistencyLevel": "eventual"}

CASES = [
    Case("graph_application_addPassword.json", "POST", lambda t: f"/v1.0/applications/{SAM}/addPassword",
         lambda t: {"passwordCredential": {"displayName": "Password friendly name"}}, check_context=False),
    Case("graph_application_create.json", "POST", lambda t: "/v1.0/applications",
         lambda t: {"displayName": "Display name"}),
    Case("graph_application_get.json", "GET", lambda t: f"/v1.0/applications/{SAM}"),
    Case("graph_application_get_by_appId_select.json", "GET",
         lambda t: f"/v1.0/applications(appId='{uid('appid-sam')}')?$select=id,appId,displayName,"
                   "requiredResourceAccess", setup=_with_sam_permissions),
    Case("graph_application_update.json", "PATCH", lambda t: f"/v1.0/applications/{SAM}",
         lambda t: {"displayName": "New display name"}),
    Case("graph_applications_list.json", "GET", lambda t: "/v1.0/applications", setup=_with_sam_permissions),
    Case("graph_applications_list_filter_startswith_count.json", "GET",
         lambda t: "/v1.0/applications?$filter=startswith(displayName, 'C')&$count=true&$top=1"
                   "&$orderby=displayName", headers=EVENTUAL, setup=_with_sam_permissions),
    Case("graph_me_get.json", "GET", lambda t: "/v1.0/me", check_context=False),
    Case("graph_oauth2PermissionGrant_update.json", "PATCH", lambda t: "/v1.0/oauth2PermissionGrants/grant-g1",
         lambda t: {"scope": "User.ReadBasic.All Group.ReadWrite.All"}, setup=_with_grants),
    Case("graph_oauth2PermissionGrant_update_revoke_scope.json", "PATCH",
         lambda t: "/v1.0/oauth2PermissionGrants/grant-g2", lambda t: {"scope": "User.Read.All"},
         setup=_with_grants),
    Case("graph_oauth2PermissionGrants_create_allprincipals.json", "POST", lambda t: "/v1.0/oauth2PermissionGrants",
         lambda t: {"clientId": uid("sp-sam"), "consentType": "AllPrincipals", "resourceId": graph_sp_id(),
                    "scope": "DelegatedPermissionGrant.ReadWrite.All"}),
    Case("graph_oauth2PermissionGrants_create_principal.json", "POST", lambda t: "/v1.0/oauth2PermissionGrants",
         lambda t: {"clientId": uid("sp-sam"), "consentType": "Principal", "resourceId": graph_sp_id(),
                    "principalId": uid("plain"), "scope": "User.Read.All Group.Read.All"}),
    Case("graph_oauth2PermissionGrants_list.json", "GET", lambda t: "/v1.0/oauth2PermissionGrants",
         setup=_with_grants),
    Case("graph_oauth2PermissionGrants_list_filter_clientId.json", "GET",
         lambda t: f"/v1.0/oauth2PermissionGrants?$filter=clientId eq '{uid('sp-sam')}' and principalId eq "
                   f"'{uid('plain')}' and consentType eq 'Principal'", setup=_with_grants),
    Case("graph_roleAssignmentScheduleInstances_list.json", "GET",
         lambda t: "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances"),
    Case("graph_roleAssignments_create_application_scope.json", "POST",
         lambda t: "/v1.0/roleManagement/directory/roleAssignments",
         lambda t: {"@odata.type": "#microsoft.graph.unifiedRoleAssignment", "principalId": uid("plain"),
                    "roleDefinitionId": wk.APPLICATION_ADMINISTRATOR, "directoryScopeId": f"/{SAM}"},
         check_context=False),  # the doc's context says /beta/
    Case("graph_roleAssignments_create_tenant_scope.json", "POST",
         lambda t: "/v1.0/roleManagement/directory/roleAssignments",
         lambda t: {"@odata.type": "#microsoft.graph.unifiedRoleAssignment", "roleDefinitionId": wk.GLOBAL_READER,
                    "principalId": uid("plain"), "directoryScopeId": "/"}),
    Case("graph_roleAssignments_list_filter_principalId.json", "GET",
         lambda t: f"/v1.0/roleManagement/directory/roleAssignments?$filter=principalId eq '{uid('admin')}'"),
    Case("graph_roleAssignments_list_filter_roleDefinitionId_expand_principal.json", "GET",
         lambda t: f"/v1.0/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq "
                   f"'{wk.GLOBAL_ADMINISTRATOR}'&$expand=principal"),
    Case("graph_roleEligibilityScheduleInstances_list.json", "GET",
         lambda t: "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances"),
    Case("graph_roleEligibilitySchedules_list.json", "GET",
         lambda t: "/v1.0/roleManagement/directory/roleEligibilitySchedules"),
    Case("graph_servicePrincipal_appRoleAssignedTo_create.json", "POST",
         lambda t: f"/v1.0/servicePrincipals/{graph_sp_id()}/appRoleAssignedTo",
         lambda t: {"principalId": uid("ga-group"), "resourceId": graph_sp_id(), "appRoleId": USER_READ_ALL_ROLE}),
    Case("graph_servicePrincipal_appRoleAssignedTo_create_for_sp.json", "POST",
         lambda t: f"/v1.0/servicePrincipals/{graph_sp_id()}/appRoleAssignedTo",
         lambda t: {"principalId": uid("sp-sam"), "resourceId": graph_sp_id(), "appRoleId": USER_READ_ALL_ROLE}),
    Case("graph_servicePrincipal_appRoleAssignedTo_list.json", "GET",
         lambda t: f"/v1.0/servicePrincipals/{graph_sp_id()}/appRoleAssignedTo", setup=_with_app_role_assignment),
    Case("graph_servicePrincipal_appRoleAssignments_list.json", "GET",
         lambda t: f"/v1.0/servicePrincipals/{uid('sp-sam')}/appRoleAssignments", setup=_with_app_role_assignment),
    Case("graph_servicePrincipals_create.json", "POST", lambda t: "/v1.0/serviceprincipals",
         lambda t: {"appId": t.state.applications[SAM].app_id},
         setup=lambda t: t.state.remove_service_principal(uid("sp-sam"))),
    Case("graph_servicePrincipals_list.json", "GET", lambda t: "/v1.0/servicePrincipals", check_context=False),
    Case("graph_servicePrincipals_list_filter_displayName_select_appRoles.json", "GET",
         lambda t: "/v1.0/servicePrincipals?$filter=displayName eq 'Microsoft Graph'&$select=id,displayName,"
                   "appId,appRoles"),
    Case("graph_servicePrincipals_list_filter_displayName_select_scopes.json", "GET",
         lambda t: "/v1.0/servicePrincipals?$filter=displayName eq 'Microsoft Graph'&$select=id,displayName,"
                   "appId,oauth2PermissionScopes"),
    Case("graph_servicePrincipals_list_filter_startswith_count.json", "GET",
         lambda t: "/v1.0/servicePrincipals?$filter=startswith(displayName, 'M')&$count=true&$top=1"
                   "&$orderby=displayName", headers=EVENTUAL, check_context=False),  # doc typo servicePrinciples
    Case("graph_user_get.json", "GET", lambda t: f"/v1.0/users/{uid('plain')}", check_context=False),
    Case("graph_user_get_select.json", "GET",
         lambda t: f"/v1.0/users/{uid('plain')}?$select=displayName,givenName,postalCode,identities"),
    Case("graph_user_transitiveMemberOf_cast_group_filter_count.json", "GET",
         lambda t: f"/v1.0/users/{uid('plain')}/transitiveMemberOf/microsoft.graph.group?$count=true"
                   "&$orderby=displayName&$filter=startswith(displayName, 'a')", headers=EVENTUAL),
    Case("graph_user_transitiveMemberOf_list.json", "GET", lambda t: f"/v1.0/users/{uid('plain')}/transitiveMemberOf"),
    Case("graph_users_list_filter_upn_recorded.json", "GET",
         lambda t: f"/v1.0/users?$filter=userPrincipalName%20eq%20%27plain%40{DOMAIN}%27"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.example.removesuffix(".json") for c in CASES])
def test_payload_matches_the_official_example(case: Case) -> None:
    example = load(case.example)
    t = build_tenant()
    for setup in (_with_activation, case.setup):
        if setup is not None:
            setup(t)
    body = case.body(t) if case.body else None
    r = t.call(case.method, case.path(t), t.user_token(case.who), body, headers=case.headers)
    assert r.status == example["status"], r.body[:400]
    expected = example["response_body"]
    if expected is None:
        assert r.body == b""
        return
    ours = json.loads(r.body)
    assert shape_differences(expected, ours) == []
    if case.check_context and "@odata.context" in expected:
        fragment = context_fragment(expected)
        # Ids in the doc's context differ from ours; compare with ours substituted.
        if "('" in fragment:
            fragment = fragment.replace(fragment[fragment.index("('") + 2:fragment.index("')")], graph_sp_id())
        assert context_fragment(ours) == fragment


def test_default_user_properties_match_the_recorded_response() -> None:
    """The real recorded list shows Graph's default user property set and order (id last)."""
    t = build_tenant()
    example = load("graph_users_list_filter_upn_recorded.json")["response_body"]["value"][0]
    r = json.loads(t.call("GET", f"/v1.0/users?$filter=userPrincipalName eq 'plain@{DOMAIN}'",
                          t.user_token("admin")).body)
    assert list(r["value"][0]) == list(example)


# --- error bodies ------------------------------------------------------------------------------


def test_403_matches_the_official_authorization_request_denied_body() -> None:
    example = load("graph_error_403_Authorization_RequestDenied.json")["response_body"]
    t = build_tenant()
    r = t.call("DELETE", f"/v1.0/roleManagement/directory/roleAssignments/{uid('ra-admin')}", t.user_token("plain"))
    assert r.status == 403
    ours = json.loads(r.body)
    assert shape_differences(example, ours) == []
    assert set(ours["error"]) == set(example["error"])
    assert set(ours["error"]["innerError"]) == set(example["error"]["innerError"])
    assert (ours["error"]["code"], ours["error"]["message"]) == (example["error"]["code"], example["error"]["message"])


def test_404_matches_the_official_resource_not_found_body() -> None:
    example = load("graph_error_404_Request_ResourceNotFound.json")["response_body"]
    t = build_tenant()
    missing = "5b31c38c-2584-42f0-aa47-657fb3a84230"
    r = t.call("GET", f"/v1.0/applications/{missing}", t.user_token("admin"))
    assert r.status == 404
    ours = json.loads(r.body)
    assert shape_differences(example, ours) == []
    assert ours["error"]["code"] == example["error"]["code"]
    assert ours["error"]["message"] == example["error"]["message"].replace("{administrativeUnitId}", missing)


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/v1.0/me", 401),                       # no token
    ("GET", "/v1.0/nothing", 400),                  # unknown segment
    ("DELETE", "/v1.0/organization", 405),          # wrong method
    ("GET", "/v1.0/users?$select=nope", 400),       # unknown property
])
def test_every_error_has_the_graph_error_envelope(method: str, path: str, status: int) -> None:
    example = load("graph_error_format.json")["response_body"]
    t = build_tenant()
    token = None if status == 401 else t.user_token("admin")
    r = t.call(method, path, token)
    assert r.status == status
    ours = json.loads(r.body)
    assert shape_differences(example, ours) == []
    assert list(ours) == ["error"] and set(ours["error"]) == {"code", "message", "innerError"}
    date = ours["error"]["innerError"]["date"]
    assert len(date) == 19 and date[10] == "T"  # 2025-02-13T10:17:06, as Graph writes it


def test_batch_matches_the_official_batch_response() -> None:
    example = load("graph_batch.json")["response_body"]["responses"]
    t = build_tenant()
    _with_second_role_for_appadmin(t)
    r = t.call("POST", "/v1.0/$batch", t.user_token("appadmin"), {"requests": [
        {"id": "1", "method": "GET", "url": "/me/memberOf?$top=1"},
        {"id": "3", "method": "DELETE", "url": f"/roleManagement/directory/roleAssignments/{uid('ra-admin')}"},
        {"id": "4", "method": "POST", "url": "/organization", "body": {},
         "headers": {"Content-Type": "application/json"}},
        {"id": "5", "method": "GET", "headers": {"ConsistencyLevel": "eventual"},
         "url": "users?$select=id,displayName,userPrincipalName&$filter=accountEnabled eq true&$count=true"},
    ]})
    assert r.status == 200
    ours = {x["id"]: x for x in json.loads(r.body)["responses"]}
    by_id = {x["id"]: x for x in example}
    for sub_id in ("1", "3", "4", "5"):
        assert ours[sub_id]["status"] == by_id[sub_id]["status"], ours[sub_id]
        assert shape_differences(by_id[sub_id], ours[sub_id]) == [], sub_id
    assert ours["3"]["body"]["error"]["code"] == "Authorization_RequestDenied"
    assert ours["4"]["body"]["error"]["message"] == by_id["4"]["body"]["error"]["message"]

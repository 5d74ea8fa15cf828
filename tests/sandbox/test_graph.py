"""The sandbox's Microsoft Graph v1.0 service.

Two layers:
- `handle()` tests call the service directly with requests and tokens signed by the
  sandbox's own TokenAuthority (fast, precise about status codes and bodies);
- end-to-end tests run the real `Sandbox` over TLS and drive it with the real
  msgraph-sdk (GraphServiceClient on a GraphRequestAdapter, httpx with the sandbox CA).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import ssl
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cipp_setup import wellknown as wk
from cipp_setup.sandbox.graph import GraphService
from cipp_setup.sandbox.state import User

from .graph_tenant import (
    DOMAIN,
    READ_SCOPES,
    TENANT_ID,
    Tenant,
    arm_sp_id,
    build_state,
    build_tenant,
    graph_sp_id,
    uid,
)

GA = wk.GLOBAL_ADMINISTRATOR
USER_READ_ALL_ROLE = "df021288-bdef-4463-88db-98f22de89214"


def body(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def error_code(response: Any) -> str:
    return body(response)["error"]["code"]


@pytest.fixture()
def t() -> Tenant:
    return build_tenant()


@pytest.fixture()
def admin(t: Tenant) -> str:
    return t.user_token("admin")


# --- authentication --------------------------------------------------------------------------


def test_missing_token_is_401_invalid_authentication_token(t: Tenant) -> None:
    r = t.call("GET", "/v1.0/me", None)
    assert r.status == 401
    assert body(r)["error"]["code"] == "InvalidAuthenticationToken"
    assert body(r)["error"]["message"] == "Access token is empty."
    assert "WWW-Authenticate" in r.headers


def test_expired_token_is_401_after_moving_the_clock(t: Tenant, admin: str) -> None:
    assert t.call("GET", "/v1.0/me", admin).status == 200
    t.state.clock.advance(3700)
    r = t.call("GET", "/v1.0/me", admin)
    assert r.status == 401
    assert "expired" in body(r)["error"]["message"]


def test_token_for_another_resource_or_tenant_is_401(t: Tenant) -> None:
    arm = t.user_token("admin", aud="https://management.azure.com/")
    assert t.call("GET", "/v1.0/me", arm).status == 401
    other = t.user_token("admin", tid="11111111-1111-1111-1111-111111111111")
    assert t.call("GET", "/v1.0/me", other).status == 401
    assert t.call("GET", "/v1.0/me", "not-a-jwt").status == 401


def test_graph_app_id_audience_is_accepted(t: Tenant) -> None:
    token = t.user_token("admin", aud=wk.MICROSOFT_GRAPH_APP_ID)
    assert t.call("GET", "/v1.0/me", token).status == 200


def test_request_caller_is_set_for_the_request_log(t: Tenant, admin: str) -> None:
    from cipp_setup.sandbox.http import Headers, Request

    request = Request(method="GET", path="/v1.0/me", raw_path="/v1.0/me", query={},
                      headers=Headers({"Authorization": f"Bearer {admin}"}))
    t.graph.handle(request)
    assert request.caller == uid("admin")


# --- routing and errors ------------------------------------------------------------------------


def test_unknown_segment_is_400_resource_not_found_for_the_segment(t: Tenant, admin: str) -> None:
    r = t.call("GET", "/v1.0/usres", admin)
    assert r.status == 400
    assert body(r)["error"]["message"] == "Resource not found for the segment 'usres'."


def test_missing_object_is_404_request_resource_not_found(t: Tenant, admin: str) -> None:
    missing = "5b31c38c-2584-42f0-aa47-657fb3a84230"
    r = t.call("GET", f"/v1.0/users/{missing}", admin)
    assert r.status == 404
    err = body(r)["error"]
    assert err["code"] == "Request_ResourceNotFound"
    assert err["message"].startswith(f"Resource '{missing}' does not exist")
    assert set(err["innerError"]) == {"date", "request-id", "client-request-id"}


def test_wrong_method_is_405(t: Tenant, admin: str) -> None:
    r = t.call("DELETE", "/v1.0/organization", admin)
    assert r.status == 405


# --- users ---------------------------------------------------------------------------------


def test_user_by_id_and_by_upn(t: Tenant, admin: str) -> None:
    by_id = body(t.call("GET", f"/v1.0/users/{uid('plain')}", admin))
    by_upn = body(t.call("GET", f"/v1.0/users/plain@{DOMAIN}", admin))
    assert by_id["id"] == by_upn["id"] == uid("plain")
    assert by_id["@odata.context"].endswith("/v1.0/$metadata#users/$entity")
    # accountEnabled / userType are not in the default property set, as in Graph.
    assert "accountEnabled" not in by_id


def test_user_select_account_enabled_and_user_type(t: Tenant, admin: str) -> None:
    t.state.users[uid("plain")].account_enabled = False
    r = body(t.call("GET", f"/v1.0/users/{uid('plain')}?$select=accountEnabled,userType", admin))
    assert r == {"@odata.context": "https://127.0.0.1:2/v1.0/$metadata#users(accountEnabled,userType)/$entity",
                 "accountEnabled": False, "userType": "Member", "id": uid("plain")}


def test_unknown_select_property_is_400(t: Tenant, admin: str) -> None:
    r = t.call("GET", "/v1.0/users?$select=nope", admin)
    assert r.status == 400
    assert "Could not find a property named 'nope'" in body(r)["error"]["message"]


def test_users_filter_upn_displayname_startswith(t: Tenant, admin: str) -> None:
    r = body(t.call("GET", f"/v1.0/users?$filter=userPrincipalName eq 'PRA@{DOMAIN.upper()}'", admin))
    assert [u["id"] for u in r["value"]] == [uid("pra")]
    r = body(t.call("GET", "/v1.0/users?$filter=displayName eq 'Admin'", admin))
    assert [u["id"] for u in r["value"]] == [uid("admin")]
    r = body(t.call("GET", "/v1.0/users?$filter=startswith(displayName,'app')", admin))
    assert [u["id"] for u in r["value"]] == [uid("appadmin")]


def test_unsupported_filter_property_is_400(t: Tenant, admin: str) -> None:
    r = t.call("GET", "/v1.0/users?$filter=city eq 'x'", admin)
    assert r.status == 400
    assert error_code(r) == "Request_UnsupportedQuery"


def test_me_needs_a_delegated_token(t: Tenant) -> None:
    r = t.call("GET", "/v1.0/me", t.app_token(["User.Read.All"]))
    assert r.status == 400


def test_users_read_needs_a_user_read_permission(t: Tenant) -> None:
    assert t.call("GET", "/v1.0/users", t.user_token("plain", scopes="User.Read")).status == 403
    assert t.call("GET", "/v1.0/users", t.user_token("plain", scopes="User.ReadBasic.All")).status == 200
    assert t.call("GET", "/v1.0/users", t.app_token([])).status == 403
    assert t.call("GET", "/v1.0/users", t.app_token(["User.Read.All"])).status == 200


# --- membership and groups -------------------------------------------------------------------------


def test_transitive_member_of_lists_nested_groups_and_roles(t: Tenant, admin: str) -> None:
    r = body(t.call("GET", f"/v1.0/users/{uid('grouped')}/transitiveMemberOf", admin))
    by_type = {(i["@odata.type"], i["displayName"]) for i in r["value"]}
    assert ("#microsoft.graph.group", "Tenant admins") in by_type
    assert ("#microsoft.graph.group", "All staff") in by_type  # through Tenant admins
    assert ("#microsoft.graph.directoryRole", "Global Administrator") in by_type  # through the group
    direct = body(t.call("GET", f"/v1.0/users/{uid('grouped')}/memberOf", admin))
    assert {i["displayName"] for i in direct["value"]} == {"Tenant admins"}


def test_transitive_member_of_group_cast_with_filter_and_count(t: Tenant, admin: str) -> None:
    path = (f"/v1.0/users/{uid('grouped')}/transitiveMemberOf/microsoft.graph.group"
            "?$count=true&$filter=isAssignableToRole eq true")
    assert t.call("GET", path, admin).status == 400  # $count needs ConsistencyLevel: eventual
    r = body(t.call("GET", path, admin, headers={"ConsistencyLevel": "eventual"}))
    assert r["@odata.context"].endswith("$metadata#groups")
    assert r["@odata.count"] == 1
    assert [g["id"] for g in r["value"]] == [uid("ga-group")]
    assert "@odata.type" not in r["value"][0]
    count = t.call("GET", f"/v1.0/users/{uid('grouped')}/transitiveMemberOf/$count", admin,
                   headers={"ConsistencyLevel": "eventual"})
    assert count.body == b"3" and count.headers["Content-Type"] == "text/plain"


def test_groups_list_and_get(t: Tenant, admin: str) -> None:
    r = body(t.call("GET", "/v1.0/groups?$filter=isAssignableToRole eq true", admin))
    assert [g["id"] for g in r["value"]] == [uid("ga-group")]
    g = body(t.call("GET", f"/v1.0/groups/{uid('ga-group')}?$select=displayName,isAssignableToRole", admin))
    assert g["isAssignableToRole"] is True and g["id"] == uid("ga-group")


def test_directory_roles_lists_activated_roles(t: Tenant, admin: str) -> None:
    r = body(t.call("GET", "/v1.0/directoryRoles", admin))
    templates = {d["roleTemplateId"] for d in r["value"]}
    assert {GA, wk.PRIVILEGED_ROLE_ADMINISTRATOR} <= templates
    ga = next(d for d in r["value"] if d["roleTemplateId"] == GA)
    members = body(t.call("GET", f"/v1.0/directoryRoles/{ga['id']}/members", admin))
    assert {m["id"] for m in members["value"]} == {uid("admin"), uid("ga-group")}


# --- role definitions and assignments ------------------------------------------------------------


def test_role_definitions_list_and_get(t: Tenant, admin: str) -> None:
    r = body(t.call("GET", "/v1.0/roleManagement/directory/roleDefinitions?$filter=displayName eq "
                           "'Global Administrator'", admin))
    assert [d["id"] for d in r["value"]] == [GA]
    d = body(t.call("GET", f"/v1.0/roleManagement/directory/roleDefinitions/{GA}", admin))
    assert d["isBuiltIn"] is True and d["templateId"] == GA


def test_role_assignments_filters_and_expand(t: Tenant, admin: str) -> None:
    base = "/v1.0/roleManagement/directory/roleAssignments"
    r = body(t.call("GET", f"{base}?$filter=principalId eq '{uid('admin')}'", admin))
    assert [a["roleDefinitionId"] for a in r["value"]] == [GA]
    r = body(t.call("GET", f"{base}?$filter=roleDefinitionId eq '{GA}'&$expand=principal", admin))
    assert r["@odata.context"].endswith("roleAssignments(principal())")
    principals = {a["principal"]["@odata.type"]: a["principal"]["id"] for a in r["value"]}
    assert principals == {"#microsoft.graph.user": uid("admin"), "#microsoft.graph.group": uid("ga-group")}
    r = body(t.call("GET", f"{base}?$filter=principalId eq '{uid('admin')}' and roleDefinitionId eq '{GA}' "
                           "and directoryScopeId eq '/'&$expand=roleDefinition", admin))
    assert len(r["value"]) == 1 and r["value"][0]["roleDefinition"]["displayName"] == "Global Administrator"
    r = body(t.call("GET", f"{base}?$filter=principalId eq '{uid('admin')}' and roleDefinitionId eq "
                           f"'{wk.PRIVILEGED_ROLE_ADMINISTRATOR}'", admin))
    assert r["value"] == []


def _assign(t: Tenant, token: str, who: str, role: str = GA) -> Any:
    return t.call("POST", "/v1.0/roleManagement/directory/roleAssignments", token,
                  {"@odata.type": "#microsoft.graph.unifiedRoleAssignment", "principalId": uid(who),
                   "roleDefinitionId": role, "directoryScopeId": "/"})


def test_create_get_and_delete_role_assignment(t: Tenant, admin: str) -> None:
    r = _assign(t, admin, "plain")
    assert r.status == 201
    created = body(r)
    assert created["principalId"] == uid("plain") and created["id"].endswith("-1")
    assert _assign(t, admin, "plain").status == 400  # the same assignment again
    path = f"/v1.0/roleManagement/directory/roleAssignments/{created['id']}"
    assert body(t.call("GET", path, admin))["id"] == created["id"]
    assert t.call("DELETE", path, admin).status == 204
    assert t.call("GET", path, admin).status == 404


@pytest.mark.parametrize("who,allowed", [
    ("admin", True),      # Global Administrator
    ("pra", True),        # Privileged Role Administrator
    ("grouped", True),    # Global Administrator through a role-assignable group
    ("appadmin", False),  # Cloud Application Administrator
    ("eligible", False),  # only eligible through PIM
    ("plain", False),
])
def test_writing_role_assignments_needs_ga_or_pra(t: Tenant, who: str, allowed: bool) -> None:
    r = _assign(t, t.user_token(who), "plain", wk.GLOBAL_READER)
    assert r.status == (201 if allowed else 403)
    if not allowed:
        assert body(r)["error"]["code"] == "Authorization_RequestDenied"
        assert body(r)["error"]["message"] == "Insufficient privileges to complete the operation."


def test_writing_role_assignments_needs_the_scope_too(t: Tenant) -> None:
    r = _assign(t, t.user_token("admin", scopes=READ_SCOPES), "plain")
    assert r.status == 403
    assert _assign(t, t.app_token(["RoleManagement.ReadWrite.Directory"]), "plain").status == 201


def test_role_assignment_to_a_group_that_is_not_role_assignable_is_400(t: Tenant, admin: str) -> None:
    assert _assign(t, admin, "staff").status == 400


# --- PIM -------------------------------------------------------------------------------------


def _activate(t: Tenant, who: str, principal: str | None = None, duration: str = "PT4H",
              justification: str | None = "rotate CIPP secret") -> Any:
    request = {"action": "selfActivate", "principalId": uid(principal or who), "roleDefinitionId": GA,
               "directoryScopeId": "/",
               "scheduleInfo": {"startDateTime": None, "expiration": {"type": "afterDuration", "duration": duration}}}
    if justification:
        request["justification"] = justification
    return t.call("POST", "/v1.0/roleManagement/directory/roleAssignmentScheduleRequests",
                  t.user_token(who), request)


def test_eligibility_lists(t: Tenant, admin: str) -> None:
    for collection in ("roleEligibilityScheduleInstances", "roleEligibilitySchedules"):
        r = body(t.call("GET", f"/v1.0/roleManagement/directory/{collection}?$filter=principalId eq "
                               f"'{uid('eligible')}'", admin))
        assert [e["roleDefinitionId"] for e in r["value"]] == [GA]
    mine = body(t.call("GET", "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances/"
                              "filterByCurrentUser(on='principal')", t.user_token("eligible")))
    assert [e["principalId"] for e in mine["value"]] == [uid("eligible")]


def test_self_activation_makes_the_role_active_until_it_expires(t: Tenant, admin: str) -> None:
    assert _assign(t, t.user_token("eligible"), "plain", wk.GLOBAL_READER).status == 403
    r = _activate(t, "eligible")
    assert r.status == 201
    assert body(r)["status"] == "Provisioned"
    instances = body(t.call("GET", "/v1.0/roleManagement/directory/roleAssignmentScheduleInstances?$filter="
                                   f"principalId eq '{uid('eligible')}'", admin))
    [instance] = instances["value"]
    assert instance["assignmentType"] == "Activated" and instance["endDateTime"] is not None
    assert _assign(t, t.user_token("eligible"), "plain", wk.GLOBAL_READER).status == 201
    assert _activate(t, "eligible").status == 400  # already active: RoleAssignmentExists
    t.state.clock.advance(4 * 3600 + 1)
    assert _assign(t, t.user_token("eligible"), "plain", wk.PRIVILEGED_ROLE_ADMINISTRATOR).status == 403


def test_self_activation_rules(t: Tenant) -> None:
    r = _activate(t, "plain")
    assert r.status == 400 and "EligibilityRule" in body(r)["error"]["message"]
    r = _activate(t, "eligible", justification=None)
    assert r.status == 400 and "JustificationRule" in body(r)["error"]["message"]
    r = _activate(t, "eligible", duration="PT9H")
    assert r.status == 400 and "ExpirationRule" in body(r)["error"]["message"]
    # Activating someone else's eligibility is not self-activation.
    assert _activate(t, "plain", principal="eligible").status == 403


# --- applications ------------------------------------------------------------------------------


def test_applications_filters_alternate_key_and_select(t: Tenant, admin: str) -> None:
    app_id = uid("appid-sam")
    r = body(t.call("GET", f"/v1.0/applications?$filter=appId eq '{app_id}'", admin))
    assert [a["id"] for a in r["value"]] == [uid("app-sam")]
    r = body(t.call("GET", "/v1.0/applications?$filter=displayName eq 'CIPP-SAM'&$select=appId", admin))
    assert r["value"] == [{"appId": app_id, "id": uid("app-sam")}]
    r = body(t.call("GET", "/v1.0/applications?$filter=startswith(displayName,'C')&$count=true", admin,
                    headers={"ConsistencyLevel": "eventual"}))
    assert r["@odata.count"] == 1
    r = body(t.call("GET", f"/v1.0/applications(appId='{app_id}')?$select=id,appId,requiredResourceAccess",
                    admin))
    assert r["@odata.context"].endswith("#applications(id,appId,requiredResourceAccess)/$entity")
    assert r["id"] == uid("app-sam")
    assert t.call("GET", "/v1.0/applications(appId='00000000-0000-0000-0000-000000000001')",
                  admin).status == 404


def test_create_and_patch_application_replaces_properties_whole(t: Tenant) -> None:
    token = t.user_token("appadmin")
    r = t.call("POST", "/v1.0/applications", token, {"displayName": "CIPP-API"})
    assert r.status == 201
    app = body(r)
    assert app["signInAudience"] == "AzureADMyOrg" and app["passwordCredentials"] == []
    assert t.state.applications[app["id"]].owner_ids == [uid("appadmin")]
    path = f"/v1.0/applications/{app['id']}"
    rra = [{"resourceAppId": wk.MICROSOFT_GRAPH_APP_ID,
            "resourceAccess": [{"id": wk.GRAPH_USER_READ, "type": "Scope"}]}]
    assert t.call("PATCH", path, token, {"requiredResourceAccess": rra,
                                         "identifierUris": [f"api://{app['appId']}"]}).status == 204
    got = body(t.call("GET", path, token))
    assert got["requiredResourceAccess"] == rra and got["identifierUris"] == [f"api://{app['appId']}"]
    assert t.call("PATCH", path, token, {"requiredResourceAccess": []}).status == 204
    assert body(t.call("GET", path, token))["requiredResourceAccess"] == []
    bad = t.call("PATCH", path, token, {"identifierUris": ["https://evil.example/api"]})
    assert bad.status == 400 and error_code(bad) == "HostNameNotOnVerifiedDomain"
    assert t.call("PATCH", path, token, {"unknownThing": 1}).status == 400


def test_application_writes_need_an_app_admin_role_or_ownership(t: Tenant) -> None:
    path = f"/v1.0/applications/{uid('app-sam')}"
    assert t.call("PATCH", path, t.user_token("plain"), {"displayName": "x"}).status == 403
    assert t.call("POST", "/v1.0/applications", t.user_token("plain"), {"displayName": "x"}).status == 403
    t.state.applications[uid("app-sam")].owner_ids.append(uid("plain"))
    assert t.call("PATCH", path, t.user_token("plain"), {"displayName": "x"}).status == 204
    # A delegated token without Application.ReadWrite.All is refused even for an admin.
    assert t.call("PATCH", path, t.user_token("admin", scopes=READ_SCOPES), {"displayName": "y"}).status == 403


def test_owned_by_app_permission_reaches_only_owned_apps(t: Tenant) -> None:
    token = t.app_token(["Application.ReadWrite.OwnedBy"])
    path = f"/v1.0/applications/{uid('app-sam')}"
    assert t.call("PATCH", path, token, {"displayName": "x"}).status == 403
    t.state.applications[uid("app-sam")].owner_ids.append(uid("sp-daemon"))
    assert t.call("PATCH", path, token, {"displayName": "x"}).status == 204


def test_add_and_remove_password(t: Tenant, admin: str) -> None:
    path = f"/v1.0/applications/{uid('app-sam')}"
    r = t.call("POST", f"{path}/addPassword", admin, {"passwordCredential": {"displayName": "CIPP-API"}})
    assert r.status == 200
    cred = body(r)
    assert len(cred["secretText"]) == 40 and cred["hint"] == cred["secretText"][:3]
    listed = body(t.call("GET", path, admin))["passwordCredentials"]
    assert [c["keyId"] for c in listed] == [cred["keyId"]] and listed[0]["secretText"] is None
    assert t.state.applications[uid("app-sam")].password_credentials[0].secret_text == cred["secretText"]
    assert t.call("POST", f"{path}/removePassword", admin, {"keyId": cred["keyId"]}).status == 204
    assert body(t.call("GET", path, admin))["passwordCredentials"] == []


def test_add_password_obeys_the_app_management_policy(t: Tenant, admin: str) -> None:
    path = f"/v1.0/applications/{uid('app-sam')}/addPassword"
    t.state.app_management_policy.max_password_lifetime_days = 180
    r = t.call("POST", path, admin, {"passwordCredential": {"displayName": "x"}})  # default: 2 years
    assert r.status == 400 and error_code(r) == "CredentialInvalidLifetimeAsPerAppPolicy"
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t.state.clock.now() + 90 * 86400))
    assert t.call("POST", path, admin, {"passwordCredential": {"endDateTime": end}}).status == 200
    policy = body(t.call("GET", "/v1.0/policies/defaultAppManagementPolicy", admin))
    assert policy["isEnabled"] is True
    assert policy["applicationRestrictions"]["passwordCredentials"][0]["maxLifetime"] == "P180D"
    t.state.app_management_policy.password_addition_blocked = True
    r = t.call("POST", path, admin, {"passwordCredential": {"endDateTime": end}})
    assert r.status == 400 and error_code(r) == "CredentialTypeNotAllowedAsPerAppPolicy"


def test_delete_application_deletes_its_service_principal(t: Tenant, admin: str) -> None:
    assert t.call("DELETE", f"/v1.0/applications/{uid('app-sam')}", admin).status == 204
    assert t.call("GET", f"/v1.0/applications/{uid('app-sam')}", admin).status == 404
    assert t.call("GET", f"/v1.0/servicePrincipals/{uid('sp-sam')}", admin).status == 404


# --- service principals, app role assignments, grants -------------------------------------------


def test_service_principals_filters_and_alternate_key(t: Tenant, admin: str) -> None:
    r = body(t.call("GET", f"/v1.0/servicePrincipals?$filter=appId eq '{wk.MICROSOFT_GRAPH_APP_ID}'"
                           "&$select=id,appRoles", admin))
    assert [s["id"] for s in r["value"]] == [graph_sp_id()]
    assert any(role["value"] == "User.Read.All" for role in r["value"][0]["appRoles"])
    r = body(t.call("GET", "/v1.0/servicePrincipals?$filter=displayName eq 'Microsoft Graph'", admin))
    assert [s["id"] for s in r["value"]] == [graph_sp_id()]
    r = body(t.call("GET", f"/v1.0/servicePrincipals(appId='{wk.AZURE_SERVICE_MANAGEMENT_APP_ID}')", admin))
    assert r["id"] == arm_sp_id()


def test_create_service_principal_and_conflict(t: Tenant) -> None:
    token = t.user_token("appadmin")
    app = body(t.call("POST", "/v1.0/applications", token, {"displayName": "CIPP-API"}))
    r = t.call("POST", "/v1.0/servicePrincipals", token, {"appId": app["appId"]})
    assert r.status == 201 and body(r)["appId"] == app["appId"]
    again = t.call("POST", "/v1.0/servicePrincipals", token, {"appId": app["appId"]})
    assert again.status == 409 and error_code(again) == "Request_MultipleObjectsWithSameKeyValue"
    assert t.call("POST", "/v1.0/servicePrincipals", t.user_token("plain"), {"appId": app["appId"]}).status == 403


def _grant_app_role(t: Tenant, token: str, resource: str, role: str) -> Any:
    return t.call("POST", f"/v1.0/servicePrincipals/{resource}/appRoleAssignedTo", token,
                  {"principalId": uid("sp-sam"), "resourceId": resource, "appRoleId": role})


def test_app_role_assigned_to_create_list_delete(t: Tenant, admin: str) -> None:
    r = _grant_app_role(t, admin, graph_sp_id(), USER_READ_ALL_ROLE)
    assert r.status == 201
    created = body(r)
    assert created["principalType"] == "ServicePrincipal" and created["resourceDisplayName"] == "Microsoft Graph"
    assert _grant_app_role(t, admin, graph_sp_id(), USER_READ_ALL_ROLE).status == 400  # exists
    listed = body(t.call("GET", f"/v1.0/servicePrincipals/{graph_sp_id()}/appRoleAssignedTo", admin))
    assert [a["id"] for a in listed["value"]] == [created["id"]]
    mine = body(t.call("GET", f"/v1.0/servicePrincipals/{uid('sp-sam')}/appRoleAssignments", admin))
    assert [a["appRoleId"] for a in mine["value"]] == [USER_READ_ALL_ROLE]
    path = f"/v1.0/servicePrincipals/{graph_sp_id()}/appRoleAssignedTo/{created['id']}"
    assert t.call("DELETE", path, admin).status == 204
    assert t.call("DELETE", path, admin).status == 404


def test_granting_graph_app_roles_needs_ga_or_pra(t: Tenant) -> None:
    assert _grant_app_role(t, t.user_token("appadmin"), graph_sp_id(), USER_READ_ALL_ROLE).status == 403
    assert _grant_app_role(t, t.user_token("pra"), graph_sp_id(), USER_READ_ALL_ROLE).status == 201
    # Cloud Application Administrator may grant app roles of a non-Graph API.
    t.state.service_principals[uid("sp-daemon")].app_roles = []
    r = _grant_app_role(t, t.user_token("appadmin"), uid("sp-daemon"), "00000000-0000-0000-0000-000000000000")
    assert r.status == 201
    assert _grant_app_role(t, t.user_token("admin"), graph_sp_id(), "11111111-2222-3333-4444-555555555555"
                           ).status == 400  # no such app role


def test_oauth2_permission_grants_lifecycle(t: Tenant, admin: str) -> None:
    create = {"clientId": uid("sp-sam"), "consentType": "AllPrincipals", "resourceId": arm_sp_id(),
              "scope": "user_impersonation"}
    assert t.call("POST", "/v1.0/oauth2PermissionGrants", t.user_token("plain"), create).status == 403
    r = t.call("POST", "/v1.0/oauth2PermissionGrants", admin, create)
    assert r.status == 201
    grant = body(r)
    assert grant["principalId"] is None and len(grant["id"]) == 43
    listed = body(t.call("GET", f"/v1.0/oauth2PermissionGrants?$filter=clientId eq '{uid('sp-sam')}' and "
                                "consentType eq 'AllPrincipals'", admin))
    assert [g["id"] for g in listed["value"]] == [grant["id"]]
    path = f"/v1.0/oauth2PermissionGrants/{grant['id']}"
    assert t.call("PATCH", path, admin, {"scope": "user_impersonation openid"}).status == 204
    assert t.state.oauth2_grants[grant["id"]].scope == "user_impersonation openid"
    assert t.call("DELETE", path, admin).status == 204
    assert grant["id"] not in t.state.oauth2_grants


def test_graph_consent_needs_ga_or_pra_other_apis_allow_app_admins(t: Tenant) -> None:
    graph = {"clientId": uid("sp-sam"), "consentType": "AllPrincipals", "resourceId": graph_sp_id(),
             "scope": "User.Read"}
    assert t.call("POST", "/v1.0/oauth2PermissionGrants", t.user_token("appadmin"), graph).status == 403
    arm = dict(graph, resourceId=arm_sp_id(), scope="user_impersonation")
    assert t.call("POST", "/v1.0/oauth2PermissionGrants", t.user_token("appadmin"), arm).status == 201
    app_only = t.app_token(["DelegatedPermissionGrant.ReadWrite.All"])
    assert t.call("POST", "/v1.0/oauth2PermissionGrants", app_only, graph).status == 201


def test_organization(t: Tenant, admin: str) -> None:
    r = body(t.call("GET", "/v1.0/organization", admin))
    [org] = r["value"]
    assert org["id"] == TENANT_ID and org["verifiedDomains"][0]["name"] == DOMAIN
    assert body(t.call("GET", f"/v1.0/organization/{TENANT_ID}", admin))["displayName"] == "Contoso"


# --- paging --------------------------------------------------------------------------------


def _add_users(t: Tenant, n: int) -> None:
    for i in range(n):
        t.state.add_user(User(id=uid(f"bulk-{i}"), user_principal_name=f"bulk{i:05d}@{DOMAIN}",
                              display_name=f"Bulk {i:05d}"))


def test_paging_with_next_link_and_top(t: Tenant, admin: str) -> None:
    _add_users(t, 250)
    total = len(t.state.users)
    seen: list[str] = []
    path = "/v1.0/users?$select=id"
    pages = 0
    while path:
        r = body(t.call("GET", path, admin))
        seen += [u["id"] for u in r["value"]]
        pages += 1
        link = r.get("@odata.nextLink")
        assert link is None or link.startswith("https://127.0.0.1:2/v1.0/users?")
        path = link.replace("https://127.0.0.1:2", "") if link else ""
    assert pages == 3 and len(seen) == len(set(seen)) == total
    r = body(t.call("GET", "/v1.0/users?$top=999", admin))
    assert len(r["value"]) == total and "@odata.nextLink" not in r
    r = body(t.call("GET", "/v1.0/users?$top=5", admin))
    assert len(r["value"]) == 5 and "$top=5" in r["@odata.nextLink"]
    assert t.call("GET", "/v1.0/users?$skiptoken=garbage", admin).status == 400


# --- replication lag ----------------------------------------------------------------------------


def test_created_objects_are_invisible_until_replicated_by_requests(t: Tenant, admin: str) -> None:
    t.state.replication.graph_requests = 3
    app = body(t.call("POST", "/v1.0/applications", admin, {"displayName": "Lagging"}))
    path = f"/v1.0/applications/{app['id']}"
    assert t.call("GET", path, admin).status == 404  # request 2 after the write
    assert body(t.call("GET", f"/v1.0/applications?$filter=appId eq '{app['appId']}'", admin))["value"] == []
    assert t.call("GET", path, admin).status == 200  # request 4: replicated


def test_created_objects_are_invisible_until_the_clock_passes(t: Tenant, admin: str) -> None:
    t.state.replication.graph_seconds = 30
    r = _assign(t, admin, "plain", wk.GLOBAL_READER)
    assignment = body(r)["id"]
    path = f"/v1.0/roleManagement/directory/roleAssignments/{assignment}"
    assert t.call("GET", path, admin).status == 404
    t.state.clock.advance(31)
    assert t.call("GET", path, admin).status == 200


# --- $batch ---------------------------------------------------------------------------------


def test_batch_runs_and_authorizes_each_request(t: Tenant) -> None:
    token = t.user_token("plain")
    r = t.call("POST", "/v1.0/$batch", token, {"requests": [
        {"id": "1", "method": "GET", "url": "/me?$select=id"},
        {"id": "2", "method": "POST", "url": "/roleManagement/directory/roleAssignments",
         "headers": {"Content-Type": "application/json"},
         "body": {"principalId": uid("plain"), "roleDefinitionId": GA, "directoryScopeId": "/"}},
        {"id": "3", "method": "GET", "url": "users/nobody@contoso.onmicrosoft.com"},
        {"id": "4", "method": "GET", "url": "/me", "dependsOn": ["3"]},
        {"id": "5", "method": "GET", "url": "users?$filter=userPrincipalName eq 'admin@contoso.onmicrosoft.com'"
                                            "&$count=true", "headers": {"ConsistencyLevel": "eventual"}},
    ]})
    assert r.status == 200
    responses = {x["id"]: x for x in body(r)["responses"]}
    assert responses["1"]["status"] == 200 and responses["1"]["body"]["id"] == uid("plain")
    assert responses["2"]["status"] == 403
    assert responses["2"]["body"]["error"]["code"] == "Authorization_RequestDenied"
    assert responses["3"]["status"] == 404
    assert responses["4"]["status"] == 424
    assert responses["5"]["body"]["@odata.count"] == 1


def test_batch_limits(t: Tenant, admin: str) -> None:
    too_many = [{"id": str(i), "method": "GET", "url": "/me"} for i in range(21)]
    assert t.call("POST", "/v1.0/$batch", admin, {"requests": too_many}).status == 400
    dupes = [{"id": "1", "method": "GET", "url": "/me"}] * 2
    assert t.call("POST", "/v1.0/$batch", admin, {"requests": dupes}).status == 400
    no_token = t.call("POST", "/v1.0/$batch", None, {"requests": [{"id": "1", "method": "GET", "url": "/me"}]})
    assert no_token.status == 401


# --- performance: indexed look-ups never scan ----------------------------------------------------


class _NoScan(dict):  # type: ignore[type-arg]
    """A dict that fails the test if anyone iterates it (a full scan)."""

    def values(self) -> Any:
        raise AssertionError("scanned every object")

    def __iter__(self) -> Iterator[Any]:
        raise AssertionError("scanned every object")

    def items(self) -> Any:
        raise AssertionError("scanned every object")


def test_indexed_queries_do_not_scan_a_100k_user_tenant() -> None:
    state = build_state()
    for i in range(100_000):
        state.add_user(User(id=f"00000000-0000-4000-8000-{i:012d}", user_principal_name=f"u{i}@{DOMAIN}",
                            display_name=f"U {i}"))
    t = build_tenant(state)
    admin = t.user_token("admin")
    state.users = _NoScan(state.users)
    state.role_assignments = _NoScan(state.role_assignments)
    state.applications = _NoScan(state.applications)
    state.service_principals = _NoScan(state.service_principals)
    started = time.perf_counter()
    checks = [
        f"/v1.0/users?$filter=userPrincipalName eq 'u99999@{DOMAIN}'",
        f"/v1.0/users/u5@{DOMAIN}",
        f"/v1.0/roleManagement/directory/roleAssignments?$filter=principalId eq '{uid('admin')}'",
        f"/v1.0/applications?$filter=appId eq '{uid('appid-sam')}'",
        f"/v1.0/servicePrincipals?$filter=appId eq '{wk.MICROSOFT_GRAPH_APP_ID}'",
        f"/v1.0/users/{uid('grouped')}/transitiveMemberOf",
    ]
    for path in checks:
        assert t.call("GET", path, admin).status == 200, path
    assert time.perf_counter() - started < 1.0


# --- end to end: the real Sandbox and the real msgraph-sdk ----------------------------------------


class SandboxCredential:
    """An async azure-core TokenCredential that mints tokens from the sandbox's own authority.

    It lets a test pick the signed-in user and the consented scopes precisely; the identity
    platform's own token endpoint is tested in test_idp.py.
    """

    def __init__(self, tenant: Tenant, who: str | None = None, scopes: str | None = None,
                 roles: list[str] | None = None) -> None:
        self.tenant, self.who, self.scopes, self.roles = tenant, who, scopes, roles
        self.requested: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.requested.append(scopes)
        if self.who is None:
            token = self.tenant.app_token(self.roles or [])
        elif self.scopes is None:
            token = self.tenant.user_token(self.who)
        else:
            token = self.tenant.user_token(self.who, scopes=self.scopes)
        return AccessToken(token, int(self.tenant.state.clock.now()) + 3600)

    async def close(self) -> None:
        return None


class E2E:
    def __init__(self, tenant: Tenant, sandbox: Any) -> None:
        self.tenant = tenant
        self.sandbox = sandbox
        self.loop = asyncio.new_event_loop()
        self.ssl = ssl.create_default_context(cafile=sandbox.ca_file)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def client(self, who: str | None = "admin", scopes: str | None = None, roles: list[str] | None = None) -> Any:
        import httpx
        from kiota_authentication_azure.azure_identity_authentication_provider import (
            AzureIdentityAuthenticationProvider,
        )
        from msgraph import GraphRequestAdapter, GraphServiceClient
        from msgraph.graph_request_adapter import options as graph_options
        from msgraph_core import GraphClientFactory

        credential = SandboxCredential(self.tenant, who, scopes, roles)
        auth = AzureIdentityAuthenticationProvider(credential, scopes=["https://graph.microsoft.com/.default"],
                                                   is_cae_enabled=False)
        # The SDK's own options matter: they rewrite /users/me-token-to-replace to /me.
        http = GraphClientFactory.create_with_default_middleware(
            client=httpx.AsyncClient(verify=self.ssl, timeout=10), options=graph_options)
        adapter = GraphRequestAdapter(auth, client=http)
        adapter.base_url = f"{self.sandbox.urls.graph}/v1.0"
        return GraphServiceClient(request_adapter=adapter)


@pytest.fixture(scope="module")
def e2e() -> Iterator[E2E]:
    from cipp_setup.sandbox.runtime import Sandbox

    state = build_state()
    for i in range(230):
        state.add_user(User(id=uid(f"bulk-{i}"), user_principal_name=f"bulk{i:05d}@{DOMAIN}",
                            display_name=f"Bulk {i:05d}"))
    sandbox = Sandbox(state).start()
    try:
        tenant = Tenant(state=state, tokens=sandbox.tokens, graph=sandbox.services["graph"])
        harness = E2E(tenant, sandbox)
        yield harness
        harness.loop.close()
    finally:
        sandbox.stop()


def test_sdk_users_me_and_upn(e2e: E2E) -> None:
    client = e2e.client()
    me = e2e.run(client.me.get())
    assert me.id == uid("admin") and me.user_principal_name == f"admin@{DOMAIN}"
    user = e2e.run(client.users.by_user_id(f"plain@{DOMAIN}").get())
    assert user.id == uid("plain")


def test_sdk_select_and_filter(e2e: E2E) -> None:
    from msgraph.generated.users.users_request_builder import UsersRequestBuilder

    client = e2e.client()
    params = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        filter=f"userPrincipalName eq 'pra@{DOMAIN}'", select=["id", "accountEnabled", "userType"])
    config = UsersRequestBuilder.UsersRequestBuilderGetRequestConfiguration(query_parameters=params)
    page = e2e.run(client.users.get(request_configuration=config))
    [user] = page.value
    assert user.id == uid("pra") and user.account_enabled is True and user.user_type == "Member"
    assert user.display_name is None  # not selected


def test_sdk_page_iterator_walks_past_100(e2e: E2E) -> None:
    from msgraph_core.tasks.page_iterator import PageIterator

    client = e2e.client()
    ids: list[str] = []

    async def walk() -> None:
        first = await client.users.get()
        iterator = PageIterator(first, client.request_adapter)

        def collect(user: Any) -> bool:
            ids.append(user.id)
            return True

        await iterator.iterate(collect)

    e2e.run(walk())
    assert len(ids) == len(set(ids)) == len(e2e.tenant.state.users)
    assert len(ids) > 200


def test_sdk_transitive_member_of_group_cast_with_count(e2e: E2E) -> None:
    from msgraph.generated.users.item.transitive_member_of.graph_group.graph_group_request_builder import (
        GraphGroupRequestBuilder,
    )

    client = e2e.client()
    params = GraphGroupRequestBuilder.GraphGroupRequestBuilderGetQueryParameters(
        count=True, filter="isAssignableToRole eq true")
    config = GraphGroupRequestBuilder.GraphGroupRequestBuilderGetRequestConfiguration(query_parameters=params)
    config.headers.add("ConsistencyLevel", "eventual")
    page = e2e.run(client.users.by_user_id(uid("grouped")).transitive_member_of.graph_group.get(
        request_configuration=config))
    assert page.odata_count == 1 and [g.id for g in page.value] == [uid("ga-group")]


def test_sdk_role_assignments_list_create_delete(e2e: E2E) -> None:
    from msgraph.generated.models.unified_role_assignment import UnifiedRoleAssignment
    from msgraph.generated.role_management.directory.role_assignments.role_assignments_request_builder import (
        RoleAssignmentsRequestBuilder,
    )

    client = e2e.client()
    params = RoleAssignmentsRequestBuilder.RoleAssignmentsRequestBuilderGetQueryParameters(
        filter=f"principalId eq '{uid('admin')}'", expand=["roleDefinition"])
    config = RoleAssignmentsRequestBuilder.RoleAssignmentsRequestBuilderGetRequestConfiguration(
        query_parameters=params)
    page = e2e.run(client.role_management.directory.role_assignments.get(request_configuration=config))
    assert [a.role_definition.display_name for a in page.value] == ["Global Administrator"]
    created = e2e.run(client.role_management.directory.role_assignments.post(UnifiedRoleAssignment(
        principal_id=uid("plain"), role_definition_id=wk.GLOBAL_READER, directory_scope_id="/")))
    assert created.id and created.principal_id == uid("plain")
    e2e.run(client.role_management.directory.role_assignments.by_unified_role_assignment_id(created.id).delete())
    assert created.id not in e2e.tenant.state.role_assignments


def test_sdk_errors_403_user_role_403_scope_and_404(e2e: E2E) -> None:
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph.generated.models.unified_role_assignment import UnifiedRoleAssignment

    assignment = UnifiedRoleAssignment(principal_id=uid("plain"), role_definition_id=GA, directory_scope_id="/")
    # The user lacks the role: Authorization_RequestDenied. The token lacks the scope: the
    # role-management service's own PermissionScopeNotGranted.
    for client, code in ((e2e.client("plain"), "Authorization_RequestDenied"),
                         (e2e.client("admin", scopes=READ_SCOPES), "PermissionScopeNotGranted")):
        with pytest.raises(ODataError) as denied:
            e2e.run(client.role_management.directory.role_assignments.post(assignment))
        assert denied.value.response_status_code == 403
        assert denied.value.error.code == code
    with pytest.raises(ODataError) as missing:
        e2e.run(e2e.client().users.by_user_id("5b31c38c-2584-42f0-aa47-657fb3a84230").get())
    assert missing.value.response_status_code == 404
    assert missing.value.error.code == "Request_ResourceNotFound"


def test_sdk_applications_and_service_principals(e2e: E2E) -> None:
    from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
        AddPasswordPostRequestBody,
    )
    from msgraph.generated.models.app_role_assignment import (
        AppRoleAssignment as SdkAppRoleAssignment,
    )
    from msgraph.generated.models.application import Application as SdkApplication
    from msgraph.generated.models.password_credential import PasswordCredential
    from msgraph.generated.models.service_principal import ServicePrincipal as SdkServicePrincipal

    client = e2e.client()
    app = e2e.run(client.applications.post(SdkApplication(display_name="CIPP-API e2e")))
    assert app.app_id
    by_app_id = e2e.run(client.applications_with_app_id(app.app_id).get())
    assert by_app_id.id == app.id
    assert e2e.run(client.applications.by_application_id(app.id).patch(
        SdkApplication(identifier_uris=[f"api://{app.app_id}"]))) is None
    secret = e2e.run(client.applications.by_application_id(app.id).add_password.post(
        AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name="e2e"))))
    assert secret.secret_text and secret.hint == secret.secret_text[:3]
    sp = e2e.run(client.service_principals.post(SdkServicePrincipal(app_id=app.app_id)))
    assert sp.app_id == app.app_id and f"api://{app.app_id}" in sp.service_principal_names
    grant = e2e.run(client.service_principals.by_service_principal_id(graph_sp_id()).app_role_assigned_to.post(
        SdkAppRoleAssignment(principal_id=sp.id, resource_id=graph_sp_id(),
                             app_role_id=USER_READ_ALL_ROLE)))
    assert str(grant.app_role_id) == USER_READ_ALL_ROLE
    listed = e2e.run(client.service_principals.by_service_principal_id(sp.id).app_role_assignments.get())
    assert [a.id for a in listed.value] == [grant.id]


def test_sdk_oauth2_permission_grants(e2e: E2E) -> None:
    from msgraph.generated.models.o_auth2_permission_grant import OAuth2PermissionGrant as SdkGrant

    client = e2e.client()
    grant = e2e.run(client.oauth2_permission_grants.post(SdkGrant(
        client_id=uid("sp-daemon"), consent_type="AllPrincipals", resource_id=arm_sp_id(),
        scope="user_impersonation")))
    assert grant.id
    e2e.run(client.oauth2_permission_grants.by_o_auth2_permission_grant_id(grant.id).patch(
        SdkGrant(scope="user_impersonation openid")))
    got = e2e.run(client.oauth2_permission_grants.by_o_auth2_permission_grant_id(grant.id).get())
    assert got.scope == "user_impersonation openid"
    e2e.run(client.oauth2_permission_grants.by_o_auth2_permission_grant_id(grant.id).delete())
    assert grant.id not in e2e.tenant.state.oauth2_grants


def test_sdk_pim_list_and_self_activate(e2e: E2E) -> None:
    from msgraph.generated.models.expiration_pattern import ExpirationPattern
    from msgraph.generated.models.expiration_pattern_type import ExpirationPatternType
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError
    from msgraph.generated.models.request_schedule import RequestSchedule
    from msgraph.generated.models.unified_role_assignment_schedule_request import (
        UnifiedRoleAssignmentScheduleRequest,
    )
    from msgraph.generated.models.unified_role_schedule_request_actions import (
        UnifiedRoleScheduleRequestActions,
    )

    client = e2e.client("eligible")
    eligible = e2e.run(client.role_management.directory.role_eligibility_schedule_instances.get())
    assert [e.principal_id for e in eligible.value] == [uid("eligible")]
    def request(expiration: ExpirationPattern) -> UnifiedRoleAssignmentScheduleRequest:
        return UnifiedRoleAssignmentScheduleRequest(
            action=UnifiedRoleScheduleRequestActions.SelfActivate, principal_id=uid("eligible"),
            role_definition_id=GA, directory_scope_id="/", justification="e2e",
            schedule_info=RequestSchedule(expiration=expiration))

    requests = client.role_management.directory.role_assignment_schedule_requests
    # msgraph-sdk serialises a timedelta as str() ("1:00:00", msgraph-sdk-python#1262), which
    # Graph refuses; an ISO-8601 end time works.
    with pytest.raises(ODataError) as bad_duration:
        e2e.run(requests.post(request(ExpirationPattern(type=ExpirationPatternType.AfterDuration,
                                                          duration=dt.timedelta(hours=1)))))
    assert bad_duration.value.response_status_code == 400
    end = dt.datetime.fromtimestamp(e2e.tenant.state.clock.now() + 3600, tz=dt.timezone.utc)
    result = e2e.run(requests.post(request(ExpirationPattern(type=ExpirationPatternType.AfterDateTime,
                                                             end_date_time=end))))
    assert result.status == "Provisioned"
    active = e2e.run(client.role_management.directory.role_assignment_schedule_instances.get())
    assert any(i.principal_id == uid("eligible") and i.assignment_type == "Activated" for i in active.value)


def test_sdk_replication_lag(e2e: E2E) -> None:
    from msgraph.generated.models.application import Application as SdkApplication
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    client = e2e.client()
    state = e2e.tenant.state
    state.replication.graph_seconds = 60
    try:
        app = e2e.run(client.applications.post(SdkApplication(display_name="Replicating")))
        with pytest.raises(ODataError) as invisible:
            e2e.run(client.applications.by_application_id(app.id).get())
        assert invisible.value.response_status_code == 404
        state.clock.advance(61)
        assert e2e.run(client.applications.by_application_id(app.id).get()).id == app.id
    finally:
        state.replication.graph_seconds = 0


def test_raw_batch_over_https(e2e: E2E) -> None:
    import httpx

    token = e2e.tenant.user_token("admin")
    with httpx.Client(verify=e2e.ssl, timeout=10) as http:
        r = http.post(f"{e2e.sandbox.urls.graph}/v1.0/$batch", headers={"Authorization": f"Bearer {token}"},
                      json={"requests": [{"id": "1", "method": "GET", "url": "/me/memberOf"},
                                         {"id": "2", "method": "GET", "url": "/organization"}]})
    assert r.status_code == 200
    statuses = {x["id"]: x["status"] for x in r.json()["responses"]}
    assert statuses == {"1": 200, "2": 200}
    assert any(rec.path.endswith("/$batch") and rec.caller == uid("admin") for rec in e2e.tenant.state.request_log)


def test_sdk_app_only_token(e2e: E2E) -> None:
    from msgraph.generated.models.o_data_errors.o_data_error import ODataError

    client = e2e.client(None, roles=["Application.Read.All"])
    sp = e2e.run(client.service_principals_with_app_id(wk.MICROSOFT_GRAPH_APP_ID).get())
    assert sp.id == graph_sp_id()
    with pytest.raises(ODataError) as denied:
        e2e.run(client.users.get())
    assert denied.value.response_status_code == 403


# --- built-in scenarios: the queries the checks make answer from scenario data ---------------------


@pytest.mark.parametrize("name", ["legacy-ready", "legacy-fresh", "legacy-ga-via-group", "legacy-ga-eligible-only",
                                  "legacy-consent-missing"])
def test_builtin_scenarios_answer_the_checks_queries(name: str) -> None:
    from cipp_setup.sandbox.scenario import load_scenario
    from cipp_setup.sandbox.tokens import TokenAuthority

    from .graph_tenant import URLS

    state = load_scenario(name)
    tokens = TokenAuthority(state, URLS.idp)
    t = Tenant(state=state, tokens=tokens, graph=GraphService(state, tokens, URLS))
    admin_id = state.identities.admin_user_id
    sam_user = state.users[state.identities.sam_user_id or ""]
    now = int(state.clock.now())
    token = tokens.issue({"aud": "https://graph.microsoft.com", "tid": state.tenant_id, "oid": admin_id,
                          "scp": READ_SCOPES, "idtyp": "user", "appid": wk.TOOL_PUBLIC_CLIENT_ID,
                          "iat": now, "nbf": now, "exp": now + 3600})
    user = body(t.call("GET", f"/v1.0/users/{sam_user.user_principal_name}?$select=id,accountEnabled", token))
    assert user["id"] == sam_user.id
    roles = body(t.call("GET", "/v1.0/roleManagement/directory/roleAssignments?$filter=principalId eq "
                               f"'{sam_user.id}'&$expand=roleDefinition", token))
    groups = body(t.call("GET", f"/v1.0/users/{sam_user.id}/transitiveMemberOf", token))
    eligible = body(t.call("GET", "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances?$filter="
                                  f"principalId eq '{sam_user.id}'", token))
    direct_ga = any(a["roleDefinitionId"] == GA for a in roles["value"])
    group_ga = any(i.get("roleTemplateId") == GA for i in groups["value"])
    assert (direct_ga or group_ga) == (name in ("legacy-ready", "legacy-ga-via-group", "legacy-consent-missing"))
    assert (name == "legacy-ga-eligible-only") == any(e["roleDefinitionId"] == GA for e in eligible["value"])
    sam_app_id = state.identities.sam_app_id
    sps = body(t.call("GET", f"/v1.0/servicePrincipals?$filter=appId eq '{sam_app_id}'", token))
    [sam_sp] = sps["value"]
    grants = body(t.call("GET", f"/v1.0/oauth2PermissionGrants?$filter=clientId eq '{sam_sp['id']}'", token))
    asm = any(g["resourceId"] == arm_sp_id_for(state) and "user_impersonation" in g["scope"]
              for g in grants["value"])
    assert asm == (name in ("legacy-ready", "legacy-ga-via-group", "legacy-ga-eligible-only"))


def arm_sp_id_for(state: Any) -> str:
    sp = state.service_principal_by_app_id(wk.AZURE_SERVICE_MANAGEMENT_APP_ID)
    return sp.id if sp else ""

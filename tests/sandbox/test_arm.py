"""The sandbox's Azure Resource Manager: RBAC, scope semantics, errors, Microsoft.Web config.

Unit tests call `ArmService.handle` directly; the SDK tests drive azure-mgmt-authorization
and azure-mgmt-resource-subscriptions over HTTPS against a started sandbox.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest

from cipp_setup import wellknown
from cipp_setup.sandbox.arm import ArmService
from cipp_setup.sandbox.baseline import baseline_state
from cipp_setup.sandbox.http import Headers, Request, SandboxUrls
from cipp_setup.sandbox.state import (
    ArmRoleAssignment,
    CippInstance,
    Group,
    ManagementGroup,
    ResourceGroup,
    ServicePrincipal,
    Site,
    Subscription,
    TenantState,
    User,
    Visibility,
)
from cipp_setup.sandbox.tokens import TokenAuthority

TENANT = "11111111-2222-3333-4444-555555555555"
SUB = "aaaaaaaa-0000-0000-0000-000000000001"
OTHER_SUB = "aaaaaaaa-0000-0000-0000-000000000002"
RG = "cipp-rg"
SITE = "cipp-func"
URLS = SandboxUrls(idp="https://127.0.0.1:1", graph="https://127.0.0.1:2", arm="https://127.0.0.1:3",
                   cipp="https://127.0.0.1:4", frontend="https://127.0.0.1:5", processor="https://127.0.0.1:6")
SITE_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Web/sites/{SITE}"
MG_PLATFORM = "contoso-platform"


@dataclass
class World:
    state: TenantState
    owner: str  # Owner on SUB
    reader: str  # Reader on SUB
    contributor_via_group: str  # member of a group with Contributor on SUB
    group: str
    nested_group: str  # holds `group` as a member: Contributor on SUB reaches users transitively
    inherited: str  # Owner at MG_PLATFORM
    rg_only: str  # Contributor at RG only
    nobody: str  # no Azure role
    sam_user: str
    identity: str  # the Function App's managed identity SP


def _uid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


def assign(state: TenantState, principal: str, role: str, scope: str, ptype: str = "User") -> ArmRoleAssignment:
    a = ArmRoleAssignment(name=str(uuid.uuid4()), scope=scope, role_definition_id=role,
                          principal_id=principal, principal_type=ptype, created_on=1_700_000_000.0)
    state.add_arm_role_assignment(a)
    return a


def build_world(generation: str = "current") -> World:
    """A small tenant: MG → two subscriptions → RG → the CIPP Function App, and people with roles."""
    state = baseline_state(tenant_id=TENANT, default_domain="contoso.example", display_name="Contoso")
    state.management_groups[MG_PLATFORM] = ManagementGroup(MG_PLATFORM, "Platform", parent_name=TENANT)
    state.subscriptions[SUB] = Subscription(SUB, "CIPP production", MG_PLATFORM)
    state.subscriptions[OTHER_SUB] = Subscription(OTHER_SUB, "Sandbox", TENANT)
    state.resource_groups[(SUB, RG)] = ResourceGroup(SUB, RG)
    names = ["owner", "reader", "viagroup", "inherited", "rgonly", "nobody", "sam"]
    ids = {n: _uid(i + 1) for i, n in enumerate(names)}
    for n, oid in ids.items():
        state.add_user(User(id=oid, user_principal_name=f"{n}@contoso.example", display_name=n))
    group = Group(id=_uid(100), display_name="Azure admins", member_ids=[ids["viagroup"]])
    nested = Group(id=_uid(101), display_name="Platform team", member_ids=[group.id])
    state.add_group(group)
    state.add_group(nested)
    identity = ServicePrincipal(id=_uid(200), app_id=_uid(201), display_name=SITE,
                                service_principal_type="ManagedIdentity")
    state.add_service_principal(identity)
    state.sites[SITE] = Site(subscription_id=SUB, resource_group=RG, name=SITE,
                             identity_principal_id=identity.id,
                             auth_settings_v2={"platform": {"enabled": True},
                                               "globalValidation": {"requireAuthentication": True,
                                                                    "unauthenticatedClientAction": "Return401"}})
    assign(state, ids["owner"], wellknown.OWNER, f"/subscriptions/{SUB}")
    assign(state, ids["reader"], wellknown.READER, f"/subscriptions/{SUB}")
    assign(state, nested.id, wellknown.CONTRIBUTOR, f"/subscriptions/{SUB}", "Group")
    assign(state, ids["inherited"], wellknown.OWNER, f"/providers/Microsoft.Management/managementGroups/{MG_PLATFORM}")
    assign(state, ids["rgonly"], wellknown.CONTRIBUTOR, f"/subscriptions/{SUB}/resourceGroups/{RG}")
    state.cipp = CippInstance(generation=generation, version="7.4.0" if generation == "current" else "7.1.0",
                              function_app=SITE, sam_app_id=_uid(300), sam_user_id=ids["sam"])
    state.identities.admin_user_id = ids["owner"]
    state.identities.subscription_id = SUB
    state.reindex()
    return World(state=state, owner=ids["owner"], reader=ids["reader"], contributor_via_group=ids["viagroup"],
                 group=group.id, nested_group=nested.id, inherited=ids["inherited"], rg_only=ids["rgonly"],
                 nobody=ids["nobody"], sam_user=ids["sam"], identity=identity.id)


def arm_claims(state: TenantState, oid: str, *, app: bool = False, aud: str = "https://management.azure.com/",
               lifetime: float = 3600) -> dict[str, Any]:
    now = state.clock.now()
    claims: dict[str, Any] = {"aud": aud, "iss": f"https://sts.windows.net/{state.tenant_id}/",
                              "tid": state.tenant_id, "oid": oid, "iat": int(now), "nbf": int(now),
                              "exp": int(now + lifetime), "ver": "1.0"}
    if app:
        sp = state.service_principals[oid]
        claims.update({"appid": sp.app_id, "idtyp": "app"})
    else:
        user = state.users[oid]
        claims.update({"appid": wellknown.TOOL_PUBLIC_CLIENT_ID, "scp": "user_impersonation",
                       "idtyp": "user", "upn": user.user_principal_name})
    return claims


def call(service: ArmService, tokens: TokenAuthority, method: str, path: str, *, oid: str | None = None,
         app: bool = False, query: dict[str, str] | None = None, body: Any = None,
         token: str | None = None) -> tuple[int, Any]:
    q = {"api-version": "2022-04-01"} if query is None else query
    headers = {}
    if token is None and oid is not None:
        token = tokens.issue(arm_claims(service.state, oid, app=app))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    raw = json.dumps(body).encode() if body is not None else b""
    request = Request(method=method, path=path, raw_path=path + ("?" + urlencode(q) if q else ""),
                      query=q, headers=Headers(headers), body=raw)
    response = service.handle(request)
    payload = json.loads(response.body) if response.body else None
    return response.status, payload


@pytest.fixture
def world() -> World:
    return build_world()


@pytest.fixture
def arm(world: World) -> tuple[ArmService, TokenAuthority]:
    tokens = TokenAuthority(world.state, URLS.idp)
    return ArmService(world.state, tokens, URLS), tokens


RA = "/providers/Microsoft.Authorization/roleAssignments"


def _names(payload: dict[str, Any]) -> set[tuple[str, str]]:
    return {(v["properties"]["principalId"], v["properties"]["scope"]) for v in payload["value"]}


# --- authentication and request validation -----------------------------------------------------


def test_missing_token_is_401_authentication_failed(arm: tuple[ArmService, TokenAuthority]) -> None:
    service, tokens = arm
    status, body = call(service, tokens, "GET", "/subscriptions", query={"api-version": "2022-12-01"})
    assert status == 401
    assert body["error"]["code"] == "AuthenticationFailed"


def test_token_for_graph_is_rejected(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    token = tokens.issue(arm_claims(world.state, world.owner, aud="https://graph.microsoft.com"))
    status, body = call(service, tokens, "GET", "/subscriptions", token=token, query={"api-version": "2022-12-01"})
    assert status == 401
    assert body["error"]["code"] == "InvalidAuthenticationToken"
    assert "wrong audience" in body["error"]["message"]


@pytest.mark.parametrize("aud", ["https://management.azure.com", "https://management.core.windows.net/",
                                 "https://management.core.windows.net"])
def test_every_arm_audience_form_is_accepted(arm: tuple[ArmService, TokenAuthority], world: World, aud: str) -> None:
    service, tokens = arm
    token = tokens.issue(arm_claims(world.state, world.owner, aud=aud))
    status, _ = call(service, tokens, "GET", "/subscriptions", token=token, query={"api-version": "2022-12-01"})
    assert status == 200


def test_expired_token_gets_arm_expired_code(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    token = tokens.issue(arm_claims(world.state, world.owner, lifetime=60))
    world.state.clock.advance(120)
    status, body = call(service, tokens, "GET", "/subscriptions", token=token, query={"api-version": "2022-12-01"})
    assert (status, body["error"]["code"]) == (401, "ExpiredAuthenticationToken")


def test_missing_api_version(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    status, body = call(service, tokens, "GET", "/subscriptions", oid=world.owner, query={})
    assert status == 400
    assert body == {"error": {"code": "MissingApiVersionParameter",
                              "message": "The api-version query parameter (?api-version=) is required for all requests."}}


def test_request_log_caller_is_set(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    token = tokens.issue(arm_claims(world.state, world.owner))
    request = Request("GET", "/subscriptions", "/subscriptions?api-version=2022-12-01",
                      {"api-version": "2022-12-01"}, Headers({"Authorization": f"Bearer {token}"}))
    service.handle(request)
    assert request.caller == world.owner


# --- subscriptions ---------------------------------------------------------------------------------


def test_subscriptions_list_only_where_caller_has_a_role(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    q = {"api-version": "2022-12-01"}
    for oid, expected in [(world.owner, {SUB}), (world.inherited, {SUB}), (world.contributor_via_group, {SUB}),
                          (world.rg_only, {SUB}), (world.nobody, set())]:
        status, body = call(service, tokens, "GET", "/subscriptions", oid=oid, query=q)
        assert status == 200
        assert {s["subscriptionId"] for s in body["value"]} == expected, oid
    assign(world.state, world.nobody, wellknown.READER, "/")
    _, body = call(service, tokens, "GET", "/subscriptions", oid=world.nobody, query=q)
    assert {s["subscriptionId"] for s in body["value"]} == {SUB, OTHER_SUB}


def test_subscriptions_page_with_next_link(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    for i in range(250):
        sid = f"bbbbbbbb-0000-0000-0000-{i:012d}"
        world.state.subscriptions[sid] = Subscription(sid, f"Sub {i}", MG_PLATFORM)
    _, first = call(service, tokens, "GET", "/subscriptions", oid=world.inherited, query={"api-version": "2022-12-01"})
    assert len(first["value"]) == 100 and first["nextLink"].startswith(URLS.arm + "/subscriptions?")
    seen = {s["subscriptionId"] for s in first["value"]}
    _, second = call(service, tokens, "GET", "/subscriptions", oid=world.inherited,
                     query={"api-version": "2022-12-01", "$skiptoken": "100"})
    _, third = call(service, tokens, "GET", "/subscriptions", oid=world.inherited,
                    query={"api-version": "2022-12-01", "$skiptoken": "200"})
    assert "nextLink" not in third
    seen |= {s["subscriptionId"] for s in second["value"] + third["value"]}
    assert len(seen) == 251


def test_get_subscription_denied_and_unknown(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    q = {"api-version": "2022-12-01"}
    assert call(service, tokens, "GET", f"/subscriptions/{SUB}", oid=world.reader, query=q)[0] == 200
    status, body = call(service, tokens, "GET", f"/subscriptions/{SUB}", oid=world.nobody, query=q)
    assert (status, body["error"]["code"]) == (403, "AuthorizationFailed")
    status, body = call(service, tokens, "GET", f"/subscriptions/{uuid.uuid4()}", oid=world.owner, query=q)
    assert (status, body["error"]["code"]) == (404, "SubscriptionNotFound")


def test_tenants_and_resource_groups(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    _, tenants = call(service, tokens, "GET", "/tenants", oid=world.nobody, query={"api-version": "2022-12-01"})
    assert tenants["value"][0]["tenantId"] == TENANT
    status, groups = call(service, tokens, "GET", f"/subscriptions/{SUB}/resourcegroups", oid=world.reader)
    assert status == 200 and [g["name"] for g in groups["value"]] == [RG]
    status, body = call(service, tokens, "GET", f"/subscriptions/{SUB}/resourceGroups/missing", oid=world.owner)
    assert (status, body["error"]["code"]) == (404, "ResourceGroupNotFound")
    assert call(service, tokens, "GET", f"/subscriptions/{SUB}/resourceGroups/{RG}", oid=world.nobody)[0] == 403


def test_management_groups(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    status, body = call(service, tokens, "GET", "/providers/Microsoft.Management/managementGroups",
                        oid=world.inherited, query={"api-version": "2020-05-01"})
    assert status == 200 and [g["name"] for g in body["value"]] == [MG_PLATFORM]
    status, body = call(service, tokens, "GET", f"/providers/Microsoft.Management/managementGroups/{MG_PLATFORM}",
                        oid=world.inherited, query={"api-version": "2020-05-01"})
    assert body["properties"]["details"]["parent"]["name"] == TENANT


# --- role assignments: scope semantics ------------------------------------------------------------


def test_at_scope_excludes_assignments_below(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    path = f"/subscriptions/{SUB}{RA}"
    _, at_scope = call(service, tokens, "GET", path, oid=world.owner,
                       query={"api-version": "2022-04-01", "$filter": "atScope()"})
    _, everything = call(service, tokens, "GET", path, oid=world.owner)
    rg_scope = f"/subscriptions/{SUB}/resourceGroups/{RG}"
    assert (world.rg_only, rg_scope) not in _names(at_scope)
    assert (world.rg_only, rg_scope) in _names(everything)
    mg_scope = f"/providers/Microsoft.Management/managementGroups/{MG_PLATFORM}"
    assert (world.inherited, mg_scope) in _names(at_scope)  # inherited from above


def test_assigned_to_includes_transitive_groups(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    path = f"/subscriptions/{SUB}{RA}"
    _, body = call(service, tokens, "GET", path, oid=world.owner,
                   query={"api-version": "2022-04-01",
                          "$filter": f"atScope() and assignedTo('{world.contributor_via_group}')"})
    assert _names(body) == {(world.nested_group, f"/subscriptions/{SUB}")}
    _, direct = call(service, tokens, "GET", path, oid=world.owner,
                     query={"api-version": "2022-04-01", "$filter": f"principalId eq '{world.contributor_via_group}'"})
    assert direct["value"] == []


def test_principal_id_filter_returns_at_above_and_below(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    _, body = call(service, tokens, "GET", f"/subscriptions/{SUB}{RA}", oid=world.owner,
                   query={"api-version": "2022-04-01", "$filter": f"principalId eq '{world.rg_only}'"})
    assert _names(body) == {(world.rg_only, f"/subscriptions/{SUB}/resourceGroups/{RG}")}
    # ARM refuses atScope() with principalId eq; atScope() and assignedTo() is the documented form.
    status, body = call(service, tokens, "GET", f"/subscriptions/{SUB}{RA}", oid=world.owner,
                        query={"api-version": "2022-04-01", "$filter": f"atScope() and principalId eq '{world.rg_only}'"})
    assert (status, body["error"]["code"]) == (400, "UnsupportedQuery")
    _, body = call(service, tokens, "GET", f"/subscriptions/{SUB}{RA}", oid=world.owner,
                   query={"api-version": "2022-04-01", "$filter": f"atScope() and assignedTo('{world.rg_only}')"})
    assert body["value"] == []


def test_unsupported_filter(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    status, body = call(service, tokens, "GET", f"/subscriptions/{SUB}{RA}", oid=world.owner,
                        query={"api-version": "2022-04-01", "$filter": "roleName eq 'x'"})
    assert (status, body["error"]["code"]) == (400, "UnsupportedQuery")


def test_listing_needs_a_role_at_the_scope(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    status, body = call(service, tokens, "GET", f"/subscriptions/{SUB}{RA}", oid=world.nobody)
    assert status == 403
    assert body["error"]["message"] == (
        "The client 'nobody@contoso.example' with object id '" + world.nobody + "' does not have authorization "
        "to perform action 'Microsoft.Authorization/roleAssignments/read' over scope '/subscriptions/" + SUB
        + "' or the scope is invalid. If access was recently granted, please refresh your credentials.")


def test_filtered_listing_does_not_scan_all_assignments(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    for i in range(2000):
        sid = f"cccccccc-0000-0000-0000-{i:012d}"
        world.state.subscriptions[sid] = Subscription(sid, f"Sub {i}", TENANT)
        for _ in range(5):
            assign(world.state, str(uuid.uuid4()), wellknown.READER, f"/subscriptions/{sid}")
    query = {"api-version": "2022-04-01", "$filter": f"atScope() and assignedTo('{world.owner}')"}
    start = time.perf_counter()
    for _ in range(20):
        status, body = call(service, tokens, "GET", f"/subscriptions/{SUB}{RA}", oid=world.owner, query=query)
    elapsed = (time.perf_counter() - start) / 20
    assert status == 200 and len(body["value"]) == 1
    assert elapsed < 0.05, f"filtered list took {elapsed * 1000:.1f} ms with 10,000 assignments"


# --- role assignments: create, conflicts, replication, delete --------------------------------------


def _create(service: ArmService, tokens: TokenAuthority, caller: str, principal: str,
            role: str = wellknown.CONTRIBUTOR, scope: str = f"/subscriptions/{SUB}",
            name: str | None = None) -> tuple[int, Any]:
    body = {"properties": {"roleDefinitionId": f"{scope}/providers/Microsoft.Authorization/roleDefinitions/{role}",
                           "principalId": principal, "principalType": "User"}}
    return call(service, tokens, "PUT", f"{scope}{RA}/{name or uuid.uuid4()}", oid=caller, body=body)


def test_create_get_delete(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    name = str(uuid.uuid4())
    status, body = _create(service, tokens, world.owner, world.sam_user, name=name)
    assert status == 201
    assert body["properties"]["scope"] == f"/subscriptions/{SUB}"
    assert body["properties"]["updatedBy"] == world.owner
    status, again = _create(service, tokens, world.owner, world.sam_user, name=name)
    assert status == 200 and again["name"] == name  # idempotent PUT of the same assignment
    status, got = call(service, tokens, "GET", f"/subscriptions/{SUB}{RA}/{name}", oid=world.reader)
    assert status == 200 and got["properties"]["principalId"] == world.sam_user
    status, _ = call(service, tokens, "DELETE", f"/subscriptions/{SUB}{RA}/{name}", oid=world.owner)
    assert status == 200
    assert call(service, tokens, "GET", f"/subscriptions/{SUB}{RA}/{name}", oid=world.owner)[0] == 404
    assert call(service, tokens, "DELETE", f"/subscriptions/{SUB}{RA}/{name}", oid=world.owner)[0] == 204


def test_duplicate_is_409_role_assignment_exists(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    assert _create(service, tokens, world.owner, world.sam_user)[0] == 201
    status, body = _create(service, tokens, world.owner, world.sam_user)
    assert status == 409 and body["error"]["code"] == "RoleAssignmentExists"
    assert body["error"]["message"].startswith("The role assignment already exists.")


def test_reader_and_contributor_cannot_write_role_assignments(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    for caller in (world.reader, world.contributor_via_group):
        status, body = _create(service, tokens, caller, world.sam_user)
        assert status == 403 and body["error"]["code"] == "AuthorizationFailed"
        assert "'Microsoft.Authorization/roleAssignments/write'" in body["error"]["message"]
    assert _create(service, tokens, world.inherited, world.sam_user)[0] == 201  # Owner inherited from the MG


def test_principal_not_found_and_replication(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    missing = str(uuid.uuid4())
    status, body = _create(service, tokens, world.owner, missing)
    assert status == 400 and body["error"]["code"] == "PrincipalNotFound"
    assert body["error"]["message"].startswith(f"Principal {missing.replace('-', '')} does not exist in the directory {TENANT}.")
    state = world.state
    state.replication.arm_principal_seconds = 30
    fresh = str(uuid.uuid4())
    state.add_user(User(id=fresh, user_principal_name="fresh@contoso.example", display_name="Fresh",
                        visibility=Visibility(visible_at=state.clock.now(), visible_after_requests=state.request_count)))
    assert _create(service, tokens, world.owner, fresh)[1]["error"]["code"] == "PrincipalNotFound"
    state.clock.advance(31)
    assert _create(service, tokens, world.owner, fresh)[0] == 201


def test_unknown_role_definition_and_bad_name(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    status, body = _create(service, tokens, world.owner, world.sam_user, role=str(uuid.uuid4()))
    assert (status, body["error"]["code"]) == (400, "RoleDefinitionDoesNotExist")
    status, body = _create(service, tokens, world.owner, world.sam_user, name="not-a-guid")
    assert (status, body["error"]["code"]) == (400, "InvalidRoleAssignmentId")


# --- role definitions -------------------------------------------------------------------------------


def test_role_definitions_filter_and_get(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    path = f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions"
    _, body = call(service, tokens, "GET", path, oid=world.reader,
                   query={"api-version": "2022-04-01", "$filter": "roleName eq 'contributor'"})
    (contributor,) = body["value"]
    assert contributor["name"] == wellknown.CONTRIBUTOR
    assert "Microsoft.Authorization/*/Write" in contributor["properties"]["permissions"][0]["notActions"]
    assert contributor["id"] == f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{wellknown.CONTRIBUTOR}"
    _, all_roles = call(service, tokens, "GET", path, oid=world.reader)
    names = {r["properties"]["roleName"] for r in all_roles["value"]}
    assert {"Owner", "Contributor", "Reader", "User Access Administrator", "Website Contributor"} <= names
    status, website = call(service, tokens, "GET", f"{path}/{wellknown.WEBSITE_CONTRIBUTOR}", oid=world.reader)
    assert status == 200 and "Microsoft.Web/sites/*" in website["properties"]["permissions"][0]["actions"]


# --- Microsoft.Web ------------------------------------------------------------------------------------


def test_site_get_shows_managed_identity(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    status, body = call(service, tokens, "GET", SITE_ID, oid=world.reader, query={"api-version": "2024-04-01"})
    assert status == 200
    assert body["identity"] == {"type": "SystemAssigned", "tenantId": TENANT, "principalId": world.identity}
    world.state.sites[SITE].identity_principal_id = None
    _, body = call(service, tokens, "GET", SITE_ID, oid=world.reader, query={"api-version": "2024-04-01"})
    assert "identity" not in body
    status, body = call(service, tokens, "GET", SITE_ID.replace(SITE, "nope"), oid=world.owner,
                        query={"api-version": "2024-04-01"})
    assert (status, body["error"]["code"]) == (404, "ResourceNotFound")


def test_auth_settings_read_write_rights(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    q = {"api-version": "2024-04-01"}
    listing = f"{SITE_ID}/config/authsettingsV2/list"
    status, body = call(service, tokens, "POST", listing, oid=world.reader, query=q)
    assert status == 403 and "Microsoft.Web/sites/config/list/action" in body["error"]["message"]
    status, body = call(service, tokens, "POST", listing, oid=world.contributor_via_group, query=q)
    assert status == 200 and body["name"] == "authsettingsV2" and body["type"] == "Microsoft.Web/sites/config"
    new = {"properties": {"platform": {"enabled": "true"},
                          "globalValidation": {"unauthenticatedClientAction": "Return401"}}}
    status, _ = call(service, tokens, "PUT", f"{SITE_ID}/config/authsettingsV2", oid=world.reader, query=q, body=new)
    assert status == 403
    status, body = call(service, tokens, "PUT", f"{SITE_ID}/config/authsettingsV2", oid=world.rg_only, query=q, body=new)
    assert status == 200 and body["properties"]["platform"]["enabled"] is True
    assert world.state.sites[SITE].auth_settings_v2["globalValidation"]["unauthenticatedClientAction"] == "Return401"
    status, _ = call(service, tokens, "GET", f"{SITE_ID}/config/authsettingsV2", oid=world.reader, query=q)
    assert status == 200


def test_app_settings(arm: tuple[ArmService, TokenAuthority], world: World) -> None:
    service, tokens = arm
    q = {"api-version": "2024-04-01"}
    body = {"properties": {"WEBSITE_AUTH_AAD_ALLOWED_TENANTS": TENANT}}
    status, _ = call(service, tokens, "PUT", f"{SITE_ID}/config/appsettings", oid=world.identity, app=True,
                     query=q, body=body)
    assert status == 403  # the managed identity holds no role yet
    assign(world.state, world.identity, wellknown.WEBSITE_CONTRIBUTOR, SITE_ID, "ServicePrincipal")
    status, _ = call(service, tokens, "PUT", f"{SITE_ID}/config/appsettings", oid=world.identity, app=True,
                     query=q, body=body)
    assert status == 200
    status, listed = call(service, tokens, "POST", f"{SITE_ID}/config/appsettings/list", oid=world.identity,
                          app=True, query=q)
    assert listed["properties"] == {"WEBSITE_AUTH_AAD_ALLOWED_TENANTS": TENANT}


# --- the real SDKs over HTTPS --------------------------------------------------------------------------


class SandboxCredential:
    """An azure-core TokenCredential whose tokens the sandbox's own authority signs for a user."""

    def __init__(self, tokens: TokenAuthority, state: TenantState, oid: str) -> None:
        self.tokens, self.state, self.oid = tokens, state, oid

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        assert scopes == ("https://management.azure.com/.default",)
        claims = arm_claims(self.state, self.oid)
        return AccessToken(self.tokens.issue(claims), int(claims["exp"]))


@pytest.fixture
def live(sandbox_factory: Any, world: World) -> Any:
    return sandbox_factory(world.state)


def _auth_client(live: Any, world: World, oid: str) -> Any:
    from azure.mgmt.authorization import AuthorizationManagementClient

    return AuthorizationManagementClient(
        SandboxCredential(live.tokens, world.state, oid), SUB, base_url=live.urls.arm,
        credential_scopes=["https://management.azure.com/.default"], connection_verify=live.ca_file,
        retry_total=0)


def test_sdk_list_for_scope_each_filter(live: Any, world: World) -> None:
    client = _auth_client(live, world, world.owner)
    scope = f"/subscriptions/{SUB}"
    at_scope = {(a.principal_id, a.scope) for a in client.role_assignments.list_for_scope(scope, filter="atScope()")}
    everything = {(a.principal_id, a.scope) for a in client.role_assignments.list_for_scope(scope)}
    rg_assignment = (world.rg_only, f"/subscriptions/{SUB}/resourceGroups/{RG}")
    assert rg_assignment in everything and rg_assignment not in at_scope
    via_group = list(client.role_assignments.list_for_scope(
        scope, filter=f"atScope() and assignedTo('{world.contributor_via_group}')"))
    assert [a.principal_id for a in via_group] == [world.nested_group]
    assert via_group[0].role_definition_id.endswith(wellknown.CONTRIBUTOR)
    by_principal = list(client.role_assignments.list_for_scope(scope, filter=f"principalId eq '{world.inherited}'"))
    assert [a.scope for a in by_principal] == [f"/providers/Microsoft.Management/managementGroups/{MG_PLATFORM}"]


def test_sdk_create_conflict_principal_not_found_delete(live: Any, world: World) -> None:
    from azure.core.exceptions import HttpResponseError, ResourceExistsError
    from azure.mgmt.authorization.models import RoleAssignmentCreateParameters

    client = _auth_client(live, world, world.owner)
    scope = f"/subscriptions/{SUB}"
    params = RoleAssignmentCreateParameters(
        role_definition_id=f"{scope}/providers/Microsoft.Authorization/roleDefinitions/{wellknown.CONTRIBUTOR}",
        principal_id=world.sam_user, principal_type="User")
    created = client.role_assignments.create(scope, str(uuid.uuid4()), params)
    assert created.principal_id == world.sam_user
    with pytest.raises(ResourceExistsError) as conflict:
        client.role_assignments.create(scope, str(uuid.uuid4()), params)
    assert conflict.value.error.code == "RoleAssignmentExists"
    missing = RoleAssignmentCreateParameters(role_definition_id=params.role_definition_id,
                                             principal_id=str(uuid.uuid4()), principal_type="User")
    with pytest.raises(HttpResponseError) as not_found:
        client.role_assignments.create(scope, str(uuid.uuid4()), missing)
    assert not_found.value.status_code == 400 and not_found.value.error.code == "PrincipalNotFound"
    client.role_assignments.delete(scope, created.name)
    assert created.name not in world.state.arm_role_assignments


def test_sdk_reader_gets_authorization_failed(live: Any, world: World) -> None:
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.authorization.models import RoleAssignmentCreateParameters

    client = _auth_client(live, world, world.reader)
    scope = f"/subscriptions/{SUB}"
    params = RoleAssignmentCreateParameters(
        role_definition_id=f"{scope}/providers/Microsoft.Authorization/roleDefinitions/{wellknown.READER}",
        principal_id=world.sam_user, principal_type="User")
    with pytest.raises(HttpResponseError) as denied:
        client.role_assignments.create(scope, str(uuid.uuid4()), params)
    assert denied.value.status_code == 403 and denied.value.error.code == "AuthorizationFailed"


def test_sdk_role_definitions(live: Any, world: World) -> None:
    client = _auth_client(live, world, world.reader)
    scope = f"/subscriptions/{SUB}"
    (reader,) = client.role_definitions.list(scope, filter="roleName eq 'Reader'")
    assert reader.permissions[0].actions == ["*/read"]
    owner = client.role_definitions.get(scope, wellknown.OWNER)
    assert owner.role_name == "Owner" and owner.permissions[0].actions == ["*"]


def test_sdk_subscription_client(live: Any, world: World) -> None:
    from azure.mgmt.resource.subscriptions import SubscriptionClient

    client = SubscriptionClient(SandboxCredential(live.tokens, world.state, world.contributor_via_group),
                                base_url=live.urls.arm, credential_scopes=["https://management.azure.com/.default"],
                                connection_verify=live.ca_file, retry_total=0)
    subs = list(client.subscriptions.list())
    assert [s.subscription_id for s in subs] == [SUB]
    assert subs[0].tenant_id == TENANT
    assert [t.tenant_id for t in client.tenants.list()] == [TENANT]


def test_httpx_web_config_over_https(live: Any, world: World) -> None:
    import ssl

    import httpx

    token = live.tokens.issue(arm_claims(world.state, world.owner))
    ctx = ssl.create_default_context(cafile=live.ca_file)
    with httpx.Client(base_url=live.urls.arm, verify=ctx, headers={"Authorization": f"Bearer {token}"}) as http:
        listed = http.post(f"{SITE_ID}/config/authsettingsV2/list", params={"api-version": "2024-04-01"})
        assert listed.status_code == 200
        props = listed.json()["properties"]
        props["globalValidation"] = {"unauthenticatedClientAction": "Return401"}
        put = http.put(f"{SITE_ID}/config/authsettingsV2", params={"api-version": "2024-04-01"},
                       json={"properties": props})
        assert put.status_code == 200
        no_version = http.get(SITE_ID)
        assert no_version.status_code == 400
    assert world.state.sites[SITE].auth_settings_v2["globalValidation"]["unauthenticatedClientAction"] == "Return401"

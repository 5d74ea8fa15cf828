"""Fidelity: what the sandbox's ARM serves, compared with Microsoft's examples for the same call.

For each example in tests/fixtures/microsoft-examples/arm_*.json: every key of the example is
present in the sandbox's answer with the same JSON type (null matches anything, a list's
first element is compared with the first element of ours), and error bodies have ARM's
shape and the example's code. Where an example holds real values that are facts (built-in
role definitions), the values are compared too.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from cipp_setup import wellknown
from cipp_setup.sandbox.arm import ArmService
from cipp_setup.sandbox.tokens import TokenAuthority

from .test_arm import RA, RG, SITE_ID, SUB, URLS, World, build_world, call

from reference import EXAMPLES



def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def assert_same_shape(expected: Any, actual: Any, path: str = "$", ignore: frozenset[str] = frozenset()) -> None:
    """Every key of `expected` is in `actual` with the same JSON type, recursively."""
    if expected is None or path in ignore:
        return
    assert actual is not None or expected is None, f"{path}: null where the example has {_kind(expected)}"
    assert _kind(expected) == _kind(actual), f"{path}: {_kind(actual)} where the example has {_kind(expected)}"
    if isinstance(expected, dict):
        for key, value in expected.items():
            if f"{path}.{key}" in ignore:
                continue
            assert key in actual, f"{path}.{key} missing"
            assert_same_shape(value, actual[key], f"{path}.{key}", ignore)
    elif isinstance(expected, list) and expected and actual:
        assert_same_shape(expected[0], actual[0], f"{path}[0]", ignore)


@pytest.fixture
def world() -> World:
    return build_world()


@pytest.fixture
def arm(world: World) -> tuple[ArmService, TokenAuthority]:
    tokens = TokenAuthority(world.state, URLS.idp)
    return ArmService(world.state, tokens, URLS), tokens


def test_subscriptions_list(arm: Any, world: World) -> None:
    service, tokens = arm
    status, body = call(service, tokens, "GET", "/subscriptions", oid=world.owner, query={"api-version": "2022-12-01"})
    ex = example("arm_subscriptions_list.json")
    assert status == ex["status"]
    # nextLink is the spec's placeholder; ARM omits it on the last page.
    # Tag names are data, not shape.
    ignore = frozenset({"$.nextLink", "$.value[0].tags.tagKey1", "$.value[0].tags.tagKey2"})
    assert_same_shape(ex["response_body"], body, ignore=ignore)
    assert body["value"][0]["managedByTenants"] == []


def test_tenants_list(arm: Any, world: World) -> None:
    service, tokens = arm
    status, body = call(service, tokens, "GET", "/tenants", oid=world.owner, query={"api-version": "2022-12-01"})
    ex = example("arm_tenants_list.json")
    assert status == ex["status"]
    assert_same_shape(ex["response_body"], body, ignore=frozenset({"$.nextLink", "$.value[0].tenantBrandingLogoUrl"}))


@pytest.mark.parametrize("name", ["arm_roleAssignment_create_recorded.json", "arm_roleAssignment_create_subscription.json"])
def test_role_assignment_create(arm: Any, world: World, name: str) -> None:
    service, tokens = arm
    ex = example(name)
    scope = f"/subscriptions/{SUB}/resourceGroups/{RG}" if "recorded" in name else f"/subscriptions/{SUB}"
    body = {"properties": {"roleDefinitionId": f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{wellknown.READER}",
                           "principalId": world.sam_user, "principalType": "User"}}
    status, created = call(service, tokens, "PUT", f"{scope}{RA}/{uuid.uuid4()}", oid=world.owner, body=body)
    assert status == ex["status"] == 201
    assert_same_shape(ex["response_body"], created)
    assert created["properties"]["roleDefinitionId"] == body["properties"]["roleDefinitionId"]
    assert created["id"] == f"{scope}{RA}/{created['name']}"


def test_role_assignment_get(arm: Any, world: World) -> None:
    service, tokens = arm
    ex = example("arm_roleAssignment_get.json")
    _, listed = call(service, tokens, "GET", f"/subscriptions/{SUB}{RA}", oid=world.owner,
                     query={"api-version": "2022-04-01", "$filter": f"principalId eq '{world.owner}'"})
    name = listed["value"][0]["name"]
    status, got = call(service, tokens, "GET", f"/subscriptions/{SUB}{RA}/{name}", oid=world.owner)
    assert status == ex["status"]
    assert_same_shape(ex["response_body"], got)


@pytest.mark.parametrize("name", ["arm_roleAssignments_list_atScope_recorded.json",
                                  "arm_roleAssignments_listForScope_subscription.json",
                                  "arm_roleAssignments_listForResourceGroup.json"])
def test_role_assignments_list(arm: Any, world: World, name: str) -> None:
    service, tokens = arm
    ex = example(name)
    scope = f"/subscriptions/{SUB}/resourceGroups/{RG}" if "ResourceGroup" in name or "recorded" in name else f"/subscriptions/{SUB}"
    query = {"api-version": "2022-04-01"}
    if "atScope" in name:
        query["$filter"] = "atScope()"
    status, body = call(service, tokens, "GET", f"{scope}{RA}", oid=world.owner, query=query)
    assert status == ex["status"]
    assert body["value"], "the sandbox tenant has assignments at this scope"
    assert_same_shape(ex["response_body"], body)
    # Inherited assignments keep their own scope and id, as in the recording.
    ids = {v["properties"]["scope"]: v["id"] for v in body["value"]}
    for sc, rid in ids.items():
        assert rid.startswith("" if sc == "/" else sc)


def test_role_definitions_match_the_real_ones(arm: Any, world: World) -> None:
    service, tokens = arm
    reader_ex = example("arm_roleDefinition_get_reader_recorded.json")
    status, reader = call(service, tokens, "GET",
                          f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{wellknown.READER}",
                          oid=world.reader)
    assert status == 200
    assert_same_shape(reader_ex["response_body"], reader)
    expected = dict(reader_ex["response_body"])
    expected["id"] = expected["id"].replace("00000000-0000-0000-0000-000000000000", SUB)
    assert reader == expected
    list_ex = example("arm_roleDefinitions_list_filter_roleName_reader_recorded.json")
    _, listed = call(service, tokens, "GET", f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Authorization/roleDefinitions",
                     oid=world.reader, query={"api-version": "2022-05-01-preview", "$filter": "roleName eq 'reader'"})
    assert_same_shape(list_ex["response_body"], listed)
    assert len(listed["value"]) == 1
    for doc, guid in (("arm_roleDefinition_owner_doc.json", wellknown.OWNER),
                      ("arm_roleDefinition_contributor_doc.json", wellknown.CONTRIBUTOR)):
        flat = example(doc)["response_body"]
        _, wire = call(service, tokens, "GET", f"/providers/Microsoft.Authorization/roleDefinitions/{guid}", oid=world.reader)
        # Reading at "/" needs a role at the root; fall back to a subscription-scope read.
        if "properties" not in wire:
            _, wire = call(service, tokens, "GET",
                           f"/subscriptions/{SUB}/providers/Microsoft.Authorization/roleDefinitions/{guid}", oid=world.reader)
        props = wire["properties"]
        assert (props["roleName"], props["type"], props["description"]) == (flat["roleName"], flat["roleType"], flat["description"])
        assert props["permissions"] == flat["permissions"]
        assert props["assignableScopes"] == flat["assignableScopes"]


def test_site_get_function_app_with_identity(arm: Any, world: World) -> None:
    service, tokens = arm
    ex = example("arm_web_site_get_functionapp_with_identity_recorded.json")
    status, body = call(service, tokens, "GET", SITE_ID, oid=world.reader, query={"api-version": "2022-03-01"})
    assert status == ex["status"]
    assert_same_shape(ex["response_body"], body)
    assert body["identity"]["type"] == "SystemAssigned"


def test_auth_settings_envelopes(arm: Any, world: World) -> None:
    service, tokens = arm
    unconfigured = example("arm_web_authsettingsV2_list_unconfigured_recorded.json")
    world.state.sites["cipp-func"].auth_settings_v2 = {}
    status, body = call(service, tokens, "GET", f"{SITE_ID}/config/authsettingsV2/list", oid=world.owner,
                        query={"api-version": "2020-12-01"})
    assert status == 200
    assert_same_shape(unconfigured["response_body"], body)
    assert body["properties"] == {} and body["name"] == "authsettingsV2" and body["type"] == "Microsoft.Web/sites/config"
    for name in ("arm_web_authsettingsV2_update.json", "arm_web_authsettingsV2_update_recorded.json"):
        ex = example(name)
        status, put = call(service, tokens, "PUT", f"{SITE_ID}/config/authsettingsV2", oid=world.owner,
                           query={"api-version": "2024-04-01"}, body=ex["request_body"])
        assert status == ex["status"]
        # Envelope keys of the real service (the spec example's lower-case name/type and kind are spec artefacts).
        assert {"id", "name", "type", "properties"} <= set(put)
        assert_same_shape(ex["request_body"]["properties"] if "recorded" not in name else {}, put["properties"])
    spec_list = example("arm_web_authsettingsV2_list.json")
    _, listed = call(service, tokens, "POST", f"{SITE_ID}/config/authsettingsV2/list", oid=world.owner,
                     query={"api-version": "2024-04-01"})
    assert set(listed) >= {"id", "name", "type", "properties"}
    assert set(spec_list["response_body"]["properties"]) >= {"platform", "globalValidation"}


# --- error bodies ---------------------------------------------------------------------------------


def _assert_error_shape(body: dict[str, Any]) -> None:
    fmt = example("arm_error_format.json")["response_body"]
    assert set(body) == set(fmt)
    assert {"code", "message"} <= set(body["error"])
    assert all(isinstance(body["error"][k], str) and body["error"][k] for k in ("code", "message"))


def test_error_403_authorization_failed(arm: Any, world: World) -> None:
    service, tokens = arm
    ex = example("arm_error_403_AuthorizationFailed.json")
    body = {"properties": {"roleDefinitionId": f"/providers/Microsoft.Authorization/roleDefinitions/{wellknown.READER}",
                           "principalId": world.sam_user}}
    status, err = call(service, tokens, "PUT", f"/subscriptions/{SUB}{RA}/{uuid.uuid4()}", oid=world.reader, body=body)
    assert status == ex["status"]
    _assert_error_shape(err)
    assert err["error"]["code"] == ex["response_body"]["error"]["code"]
    template = (r"^The client '[^']+' with object id '[0-9a-f-]{36}' does not have authorization to perform action "
                r"'Microsoft\.Authorization/roleAssignments/write' over scope '/subscriptions/[^']+' or the scope is "
                r"invalid\. If access was recently granted, please refresh your credentials\.$")
    assert re.match(template, err["error"]["message"])


def test_error_409_and_400(arm: Any, world: World) -> None:
    service, tokens = arm
    body = {"properties": {"roleDefinitionId": f"/providers/Microsoft.Authorization/roleDefinitions/{wellknown.OWNER}",
                           "principalId": world.owner, "principalType": "User"}}
    status, err = call(service, tokens, "PUT", f"/subscriptions/{SUB}{RA}/{uuid.uuid4()}", oid=world.owner, body=body)
    conflict = example("arm_error_409_RoleAssignmentExists.json")
    assert status == conflict["status"]
    _assert_error_shape(err)
    assert err["error"]["code"] == conflict["response_body"]["error"]["code"]
    assert err["error"]["message"].startswith(conflict["response_body"]["error"]["message"])

    missing = str(uuid.uuid4())
    body["properties"]["principalId"] = missing
    status, err = call(service, tokens, "PUT", f"/subscriptions/{SUB}{RA}/{uuid.uuid4()}", oid=world.owner, body=body)
    not_found = example("arm_error_400_PrincipalNotFound.json")
    assert status == not_found["status"]
    _assert_error_shape(err)
    expected = (not_found["response_body"]["error"]["message"]
                .replace("{principalId}", missing.replace("-", "")).replace("{tenantId}", world.state.tenant_id))
    assert err["error"] == {"code": "PrincipalNotFound", "message": expected}


def test_every_error_has_arm_shape(arm: Any, world: World) -> None:
    service, tokens = arm
    cases = [
        call(service, tokens, "GET", "/subscriptions", query={"api-version": "2022-12-01"}),
        call(service, tokens, "GET", "/subscriptions", oid=world.owner, query={}),
        call(service, tokens, "GET", f"/subscriptions/{uuid.uuid4()}", oid=world.owner, query={"api-version": "2022-12-01"}),
        call(service, tokens, "GET", f"{SITE_ID}x", oid=world.owner, query={"api-version": "2022-12-01"}),
        call(service, tokens, "GET", "/nothing/here", oid=world.owner),
    ]
    for status, err in cases:
        assert status >= 400
        _assert_error_shape(err)

"""The CIPP instance: Easy Auth in front of the Function App, CIPP's access checks, its endpoints,
the Static Web App front end and the processor — with real client-credentials tokens (msal)."""

from __future__ import annotations

import datetime
import json
import ssl
import uuid
from typing import Any

import httpx
import pytest

from cipp_setup import wellknown
from cipp_setup.sandbox import cipp_actions
from cipp_setup.sandbox.cipp import (
    CLIENT_IP_DENIED,
    ENDPOINT_NOT_FOUND,
    NO_PERMISSION,
    PROCESSOR_MESSAGE,
    SUBSCRIPTION_ENDED,
    base_role_denied,
    caller_ip,
    ip_in_range,
)
from cipp_setup.sandbox.http import Headers, Request
from cipp_setup.sandbox.state import AppRoleAssignment, LogEntry, TenantState

from .test_arm import SITE_ID, TENANT, URLS, World, assign, build_world


def grant_graph_roles(state: TenantState) -> None:
    """Give the CIPP-SAM app (current generation) its app-only Graph roles, consented."""
    assert state.cipp is not None and state.cipp.sam_app_id
    from cipp_setup.sandbox.state import Application, ServicePrincipal

    sam_app = state.cipp.sam_app_id
    if state.service_principal_by_app_id(sam_app) is None:
        state.add_application(Application(id=str(uuid.uuid4()), app_id=sam_app, display_name="CIPP-SAM",
                                          sign_in_audience="AzureADMultipleOrgs"))
        state.add_service_principal(ServicePrincipal(id=str(uuid.uuid4()), app_id=sam_app, display_name="CIPP-SAM"))
    sp = state.service_principal_by_app_id(sam_app)
    graph = state.service_principal_by_app_id(wellknown.MICROSOFT_GRAPH_APP_ID)
    assert sp is not None and graph is not None
    for role in (wellknown.GRAPH_APPLICATION_READWRITE_ALL, wellknown.GRAPH_DIRECTORY_READWRITE_ALL):
        a = AppRoleAssignment(id=str(uuid.uuid4()), principal_id=sp.id, principal_type="ServicePrincipal",
                              principal_display_name="CIPP-SAM", resource_id=graph.id,
                              resource_display_name="Microsoft Graph", app_role_id=role)
        state.app_role_assignments[a.id] = a


def current_world_with_clients() -> tuple[World, dict[str, dict[str, Any]]]:
    """A current-generation instance with saved API clients: reader, nobody (no role), narrow IPs, unsaved."""
    world = build_world("current")
    state = world.state
    grant_graph_roles(state)
    assign(state, world.identity, wellknown.CONTRIBUTOR, SITE_ID, "ServicePrincipal")
    clients = {
        "reader": cipp_actions.create_api_client(state, None, URLS, "Reader client", role="readonly"),
        "norole": cipp_actions.create_api_client(state, None, URLS, "No role client", role=None),
        "narrow": cipp_actions.create_api_client(state, None, URLS, "Office only", role="readonly",
                                                 ip_ranges=["203.0.113.0/24", "2001:db8::/32"]),
        "admin": cipp_actions.create_api_client(state, None, URLS, "Admin client", role="admin"),
    }
    cipp_actions.save_to_azure(state, None, URLS)
    clients["unsaved"] = cipp_actions.create_api_client(state, None, URLS, "Created later", role="readonly")
    return world, clients


@pytest.fixture
def current(sandbox_factory: Any) -> tuple[Any, World, dict[str, dict[str, Any]]]:
    world, clients = current_world_with_clients()
    return sandbox_factory(world.state), world, clients


def msal_token(live: Any, client: dict[str, Any], resource: str | None = None) -> str:
    import msal
    import requests

    session = requests.Session()
    session.trust_env = False
    session.verify = live.ca_file
    app = msal.ConfidentialClientApplication(
        client["client_id"], client_credential=client["client_secret"],
        authority=f"{live.urls.idp}/{live.state.tenant_id}", instance_discovery=False, http_client=session)
    result = app.acquire_token_for_client([f"{resource or 'api://' + client['client_id']}/.default"])
    assert "access_token" in result, result
    return str(result["access_token"])


def http(live: Any, base: str, token: str | None = None, **headers: str) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=live.ca_file)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=base, verify=ctx, headers=headers, follow_redirects=False)


# --- every row of "How a call fails" -----------------------------------------------------------------


def test_saved_readonly_client_reads_logs(current: Any) -> None:
    live, _world, clients = current
    token = msal_token(live, clients["reader"])
    with http(live, live.urls.cipp, token) as api:
        r = api.get("/api/ListLogs")
    assert r.status_code == 200 and isinstance(r.json(), list)
    # The caller the request log records is the client's appId.
    request = Request("GET", "/api/ListLogs", "/api/ListLogs", {}, Headers({"Authorization": f"Bearer {token}"}))
    with live.state.lock:
        assert live.services["cipp"].handle(request).status == 200
    assert request.caller == clients["reader"]["client_id"]


def test_unsaved_client_gets_401_empty(current: Any) -> None:
    live, _world, clients = current
    token = msal_token(live, clients["unsaved"])
    with http(live, live.urls.cipp, token) as api:
        r = api.get("/api/ListLogs")
    assert r.status_code == 401 and r.content == b""


def test_wrong_audience_gets_401(current: Any) -> None:
    live, _world, clients = current
    graph_token = msal_token(live, clients["reader"], resource="https://graph.microsoft.com")
    with http(live, live.urls.cipp, graph_token) as api:
        assert api.get("/api/ListLogs").status_code == 401
    with http(live, live.urls.cipp) as anonymous:
        r = anonymous.get("/api/ListLogs")
        assert r.status_code == 401 and r.content == b""
    with http(live, live.urls.cipp, "not-a-jwt") as garbage:
        assert garbage.get("/api/ListLogs").status_code == 401


def test_v2_token_audience_is_the_bare_client_id(current: Any) -> None:
    """requestedAccessTokenVersion 2: aud is the bare appId, which CIPP's allowedAudiences lack.

    App Service still accepts the registration's own client id as an audience, so only the
    first saved client gets through with a v2 token.
    """
    live, world, clients = current
    state = world.state
    for name in ("reader", "narrow"):
        state.application_by_app_id(clients[name]["client_id"]).requested_access_token_version = 2
    first = state.sites["cipp-func"].auth_settings_v2["identityProviders"]["azureActiveDirectory"]["registration"]["clientId"]
    assert first == clients["reader"]["client_id"]
    with http(live, live.urls.cipp, msal_token(live, clients["narrow"]), **{"X-Forwarded-For": "203.0.113.9"}) as api:
        assert api.get("/api/ListLogs").status_code == 401
    with http(live, live.urls.cipp, msal_token(live, clients["reader"])) as api:
        assert api.get("/api/ListLogs").status_code == 200


def test_client_without_role_gets_403(current: Any) -> None:
    live, world, clients = current
    with http(live, live.urls.cipp, msal_token(live, clients["norole"])) as api:
        r = api.get("/api/ListLogs")
    assert r.status_code == 403 and r.text == NO_PERMISSION
    world.state.cipp.custom_roles.append("cipp-api")
    with http(live, live.urls.cipp, msal_token(live, clients["norole"])) as api:
        assert api.get("/api/ListLogs").status_code == 200


def test_base_role_lacking_the_permission_gets_403(current: Any) -> None:
    live, world, clients = current
    client = next(c for c in world.state.cipp.api_clients if c.app_id == clients["reader"]["client_id"])
    client.role = "readonly"
    from cipp_setup.sandbox import cipp as cipp_module

    cipp_module.ENDPOINTS["execapiclient"] = cipp_module.Endpoint("ExecApiClient", "CIPP.Extension.ReadWrite",
                                                                  cipp_module.list_api_test)
    try:
        with http(live, live.urls.cipp, msal_token(live, clients["reader"])) as api:
            r = api.post("/api/ExecApiClient")
            assert r.status_code == 403
            assert r.text == base_role_denied("readonly", "CIPP.Extension.ReadWrite")
        with http(live, live.urls.cipp, msal_token(live, clients["admin"])) as api:
            assert api.post("/api/ExecApiClient").status_code == 200
    finally:
        del cipp_module.ENDPOINTS["execapiclient"]


def test_ip_outside_range_gets_misleading_403(current: Any) -> None:
    live, _world, clients = current
    token = msal_token(live, clients["narrow"])
    with http(live, live.urls.cipp, token) as api:
        r = api.get("/api/ListLogs")  # from 127.0.0.1
        assert (r.status_code, r.text) == (403, CLIENT_IP_DENIED)
        assert api.get("/api/ListLogs", headers={"X-Forwarded-For": "203.0.113.7:50123, 10.0.0.1"}).status_code == 200
        assert api.get("/api/ListLogs", headers={"X-Forwarded-For": "[2001:db8::5]:443"}).status_code == 200
        assert api.get("/api/ListLogs", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 403


def test_subscription_ended_gets_403_before_anything_else(current: Any) -> None:
    live, world, clients = current
    world.state.cipp.hosted = True
    world.state.cipp.subscription_ended = True
    with http(live, live.urls.cipp, msal_token(live, clients["reader"])) as api:
        assert (api.get("/api/ListLogs").status_code, api.get("/api/ListLogs").text) == (403, SUBSCRIPTION_ENDED)
        assert api.get("/api/NoSuchThing").text == SUBSCRIPTION_ENDED


def test_unknown_endpoint_is_404(current: Any) -> None:
    live, _world, clients = current
    with http(live, live.urls.cipp, msal_token(live, clients["reader"])) as api:
        r = api.get("/api/ListLogz")
    assert (r.status_code, r.text) == (404, ENDPOINT_NOT_FOUND)


def test_processor_refuses_api_calls(current: Any) -> None:
    live, _world, clients = current
    with http(live, live.urls.processor, msal_token(live, clients["reader"])) as api:
        r = api.get("/api/ListLogs")
    assert (r.status_code, r.text) == (403, PROCESSOR_MESSAGE)


def test_front_end_redirects_api_calls_to_sign_in(current: Any) -> None:
    live, _world, clients = current
    with http(live, live.urls.frontend, msal_token(live, clients["reader"])) as swa:
        r = swa.get("/api/ListLogs")
        assert r.status_code == 302
        assert r.headers["location"] == "/.auth/login/aad?post_login_redirect_uri=%2Fapi%2FListLogs"
        home = swa.get("/")
        assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
        ping = swa.get("/api/PublicPing")
        assert ping.status_code == 200 and ping.json()["Results"]["Message"] == "Pong"


def test_tenant_not_allowed_gets_401(current: Any) -> None:
    live, world, clients = current
    world.state.sites["cipp-func"].app_settings["WEBSITE_AUTH_AAD_ALLOWED_TENANTS"] = str(uuid.uuid4())
    with http(live, live.urls.cipp, msal_token(live, clients["reader"])) as api:
        assert api.get("/api/ListLogs").status_code == 401


# --- endpoints ---------------------------------------------------------------------------------------


def _day(state: TenantState, days_ago: int = 0) -> float:
    return state.clock.now() - days_ago * 86400


def seed_logs(state: TenantState) -> dict[str, LogEntry]:
    now = state.clock.now()
    entries = {
        "today_info": LogEntry(now - 60, "contoso.example", "ListUsers", "Listed users", "alice@contoso.example"),
        "today_debug": LogEntry(now - 50, "None", "ExecApiClient", "debug", "CIPP", severity="Debug"),
        "today_api": LogEntry(now - 40, "fabrikam.example", "Standards_MFA", "Applied", "Reader client",
                              severity="Warning", app_id="abc", tenant_id="tid-f", log_data='{"a":1}',
                              standard_template_id="0f0f0f0f-0000-0000-0000-000000000001"),
        "yesterday": LogEntry(now - 86400, "contoso.example", "ListLogs", "Old", "bob@contoso.example", severity="Error"),
        "lastweek": LogEntry(now - 7 * 86400, "contoso.example", "ListLogs", "Older", "bob@contoso.example"),
    }
    state.cipp.logs.extend(entries.values())
    return entries


def _ymd(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc).strftime("%Y%m%d")


def test_list_logs_parameters(current: Any) -> None:
    live, world, clients = current
    state = world.state
    now = state.clock.now()
    state.clock.advance(now - now % 86400 + 12 * 3600 - now)  # noon UTC: "today" is unambiguous
    state.cipp.logs.clear()
    entries = seed_logs(state)
    with http(live, live.urls.cipp, msal_token(live, clients["reader"])) as api:
        default = api.get("/api/ListLogs").json()
        assert [e["Message"] for e in default] == ["Applied", "Listed users"]  # today, newest first, no Debug
        first = default[0]
        assert set(first) == {"DateTime", "Tenant", "API", "Message", "User", "Severity", "LogData", "TenantID",
                              "AppId", "IP", "RowKey", "StandardInfo", "DateFilter"}
        assert first["LogData"] == {"a": 1} and first["AppId"] == "abc" and first["DateFilter"] == _ymd(state.clock.now())
        assert default[1]["TenantID"] == "None"

        def q(**params: str) -> list[str]:
            return [e["Message"] for e in api.get("/api/ListLogs", params={"Filter": "true", **params}).json()]

        assert q(DateFilter=_ymd(_day(state, 1))) == ["Old"]
        assert q(StartDate=_ymd(_day(state, 8)), EndDate=_ymd(_day(state, 1))) == ["Old", "Older"]
        assert q(Severity="Debug") == ["debug"]
        assert q(User="bob*", StartDate=_ymd(_day(state, 8)), EndDate=_ymd(state.clock.now())) == ["Old", "Older"]
        assert q(Tenant="fabrikam") == ["Applied"]
        assert q(Tenant="tid-f") == ["Applied"]
        assert q(API="^standards_") == ["Applied"]
        assert q(StandardTemplateId="0f0f0f0f-0000-0000-0000-000000000001") == ["Applied"]
        assert q(ScheduledTaskId=str(uuid.uuid4())) == []
        days = api.get("/api/ListLogs", params={"ListLogs": "true"}).json()
        assert days[-1] == {"value": _ymd(state.clock.now()), "label": _ymd(state.clock.now())} and len(days) == 3
        one = api.get("/api/ListLogs", params={"logentryid": entries["today_api"].row_key}).json()
        assert [e["Message"] for e in one] == ["Applied"] and "Standard" in one[0]
        bad = api.get("/api/ListLogs", params={"Filter": "true", "DateFilter": "last week"})
        assert bad.status_code == 500 and "Invalid date format" in bad.text


def test_get_version_ping_and_api_test(current: Any) -> None:
    live, _world, clients = current
    token = msal_token(live, clients["reader"])
    with http(live, live.urls.cipp, token) as api:
        version = api.get("/api/GetVersion", params={"LocalVersion": "7.0.0"}).json()
        assert version == {"LocalCIPPVersion": "7.0.0", "RemoteCIPPVersion": "7.4.0", "LocalCIPPAPIVersion": "7.4.0",
                           "RemoteCIPPAPIVersion": "7.4.0", "OutOfDateCIPP": True, "OutOfDateCIPPAPI": False}
        ping = api.get("/api/PublicPing").json()["Results"]
        assert ping["Message"] == "Pong" and ping["ColdStart"] is False
        echo = api.get("/api/ListApiTest", params={"x": "1"}).json()
    assert echo["Request"]["Headers"]["authorization"] == "REDACTED"
    assert token not in json.dumps(echo)
    assert echo["Request"]["Headers"]["x-ms-client-principal-name"] == clients["reader"]["client_id"]
    assert echo["Request"]["Query"] == {"x": "1"}


def test_legacy_instance_accepts_its_cipp_api_client(sandbox_factory: Any) -> None:
    from cipp_setup.sandbox.state import OAuth2PermissionGrant

    from .test_cipp_actions import legacy_ready_world

    world = legacy_ready_world()
    details = cipp_actions.activate_legacy_api(world.state, None, URLS)
    live = sandbox_factory(world.state)
    token = msal_token(live, details)
    with http(live, live.urls.cipp, token) as api:
        assert api.get("/api/ListLogs").status_code == 200
    assert OAuth2PermissionGrant  # the legacy world was built with a real consent grant


# --- unit: Easy Auth states and helpers ----------------------------------------------------------------


def test_ip_helpers() -> None:
    assert ip_in_range("203.0.113.9", "203.0.113.0/24")
    assert ip_in_range("203.0.113.9", "203.0.113.9")
    assert not ip_in_range("203.0.114.9", "203.0.113.0/24")
    assert ip_in_range("2001:db8::1", "2001:db8::/32")
    assert not ip_in_range("203.0.113.9", "2001:db8::/32")
    assert not ip_in_range("203.0.113.9", "garbage")
    req = Request("GET", "/api/x", "/api/x", {}, Headers({"X-Forwarded-For": "198.51.100.2:1234, 10.0.0.1"}),
                  client_ip="127.0.0.1")
    assert caller_ip(req) == "198.51.100.2"
    assert caller_ip(Request("GET", "/", "/", {}, Headers({}), client_ip="127.0.0.1")) == "127.0.0.1"


def test_easy_auth_off_lets_anonymous_requests_reach_cipp() -> None:
    from cipp_setup.sandbox.cipp import NO_PRINCIPAL, CippService
    from cipp_setup.sandbox.tokens import TokenAuthority

    world = build_world("current")
    world.state.sites["cipp-func"].auth_settings_v2 = {}
    service = CippService(world.state, TokenAuthority(world.state, URLS.idp), URLS)
    response = service.handle(Request("GET", "/api/ListLogs", "/api/ListLogs", {}, Headers({})))
    assert (response.status, response.body.decode()) == (403, NO_PRINCIPAL)
    ping = service.handle(Request("GET", "/api/PublicPing", "/api/PublicPing", {}, Headers({})))
    assert ping.status == 200


def test_redirect_policy_and_allowed_applications() -> None:
    from cipp_setup.sandbox.cipp import EASY_AUTH_FORBIDDEN, CippService
    from cipp_setup.sandbox.tokens import TokenAuthority

    world = build_world("current")
    state = world.state
    tokens = TokenAuthority(state, URLS.idp)
    service = CippService(state, tokens, URLS)
    client_id = str(uuid.uuid4())
    state.sites["cipp-func"].auth_settings_v2 = {
        "platform": {"enabled": True},
        "globalValidation": {"unauthenticatedClientAction": "RedirectToLoginPage"},
        "identityProviders": {"azureActiveDirectory": {
            "enabled": True,
            "registration": {"clientId": client_id, "openIdIssuer": f"https://sts.windows.net/{TENANT}/v2.0"},
            "validation": {"allowedAudiences": [f"api://{client_id}"],
                           "defaultAuthorizationPolicy": {"allowedApplications": [client_id]}}}},
    }
    anonymous = service.handle(Request("GET", "/api/ListLogs", "/api/ListLogs", {}, Headers({})))
    assert anonymous.status == 302 and anonymous.headers["Location"].startswith("/.auth/login/aad")
    now = state.clock.now()
    other_app = tokens.issue({"aud": f"api://{client_id}", "iss": f"https://sts.windows.net/{TENANT}/", "tid": TENANT,
                              "appid": str(uuid.uuid4()), "oid": str(uuid.uuid4()), "idtyp": "app",
                              "exp": now + 600, "nbf": now - 1, "iat": now})
    denied = service.handle(Request("GET", "/api/ListLogs", "/api/ListLogs", {},
                                    Headers({"Authorization": f"Bearer {other_app}"})))
    assert (denied.status, denied.body.decode()) == (403, EASY_AUTH_FORBIDDEN)


# --- the built-in scenarios -----------------------------------------------------------------------------


def test_legacy_ready_scenario_client_works(sandbox: Any) -> None:
    ids = sandbox.identities_document()
    client = {"client_id": ids["api_client_id"], "client_secret": ids["api_client_secret"]}
    with http(sandbox, ids["api_url"], msal_token(sandbox, client)) as api:
        r = api.get("/api/ListLogs", params={"Filter": "true", "StartDate": "20000101", "EndDate": "29991231"})
    assert r.status_code == 200 and r.json(), sandbox.service_errors


def test_legacy_fresh_scenario_activation_fails(sandbox_factory: Any) -> None:
    live = sandbox_factory("legacy-fresh")
    with pytest.raises(cipp_actions.CippActionError) as err:
        cipp_actions.activate_legacy_api(live.state, live.tokens, live.urls)
    assert err.value.message.startswith("Successfully saved the extension configuration.  but could not set API")

"""The sandbox identity platform, driven by the real msal and azure-identity.

Each test serves a hand-built tenant (the baseline plus a few users and apps) on the
sandbox transport; the other services are stubs so this file tests sign-in alone.
Raw HTTP is used only to compare response bodies with the official examples.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import threading
import time
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import msal
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import (
    ClientSecretCredential,
    DeviceCodeCredential,
    InteractiveBrowserCredential,
)

from cipp_setup import wellknown
from cipp_setup.sandbox.baseline import baseline_state
from cipp_setup.sandbox.consent import ensure_service_principal, public_client
from cipp_setup.sandbox.http import Request, Response, json_response
from cipp_setup.sandbox.idp import IdentityPlatform, consented_scopes
from cipp_setup.sandbox.runtime import Sandbox
from cipp_setup.sandbox.state import (
    Application,
    AppRole,
    AppRoleAssignment,
    DirectoryRoleAssignment,
    Group,
    OAuth2PermissionGrant,
    PasswordCredential,
    PermissionScope,
    RequestRecord,
    RequiredResourceAccess,
    ResourceAccess,
    ServicePrincipal,
    TenantState,
    User,
)
from cipp_setup.sandbox.tokens import caller_from_claims
from cipp_setup.sandbox.transport import SERVICE_NAMES

from reference import EXAMPLES

TENANT_ID = "4f6c1a2b-93d7-4e0a-8b5c-2d1e7f9a0c31"
DOMAIN = "contoso.onmicrosoft.com"
GRAPH = "https://graph.microsoft.com"
ARM_DEFAULT = "https://management.azure.com/.default"
ARM_IMPERSONATION = "https://management.azure.com/user_impersonation"


@dataclass
class Ids:
    admin: str = "a0000000-0000-4000-8000-000000000001"
    helpdesk: str = "a0000000-0000-4000-8000-000000000002"
    group_admin: str = "a0000000-0000-4000-8000-000000000003"
    disabled: str = "a0000000-0000-4000-8000-000000000004"
    admins_group: str = "b0000000-0000-4000-8000-000000000001"
    daemon_app: str = "c0000000-0000-4000-8000-000000000001"
    api_app: str = "c0000000-0000-4000-8000-000000000002"
    bare_app: str = "c0000000-0000-4000-8000-000000000003"
    sam_app: str = "c0000000-0000-4000-8000-000000000004"
    api_role: str = "d0000000-0000-4000-8000-000000000001"
    daemon_secret: str = "dmn8Q~sandbox-daemon-secret-value-0001"


IDS = Ids()


def _app_and_sp(state: TenantState, app_id: str, name: str, **app_fields: Any) -> tuple[Application, ServicePrincipal]:
    app = Application(id=f"a{app_id[1:]}", app_id=app_id, display_name=name, **app_fields)
    sp = ServicePrincipal(id=f"5{app_id[1:]}", app_id=app_id, display_name=name,
                          app_roles=list(app.app_roles))
    state.add_application(app)
    state.add_service_principal(sp)
    return app, sp


def build_state() -> TenantState:
    state = baseline_state(tenant_id=TENANT_ID, default_domain=DOMAIN, display_name="Contoso")
    now = state.clock.now()
    state.add_user(User(IDS.admin, f"admin@{DOMAIN}", "Ada Admin", given_name="Ada", surname="Admin"))
    state.add_user(User(IDS.helpdesk, f"helpdesk@{DOMAIN}", "Hal Helpdesk"))
    state.add_user(User(IDS.group_admin, f"groupadmin@{DOMAIN}", "Gia Groupadmin"))
    state.add_user(User(IDS.disabled, f"gone@{DOMAIN}", "Gone User", account_enabled=False))
    state.add_role_assignment(DirectoryRoleAssignment("ra-1", IDS.admin, wellknown.GLOBAL_ADMINISTRATOR))
    state.add_group(Group(IDS.admins_group, "Tenant admins", is_assignable_to_role=True,
                          member_ids=[IDS.group_admin]))
    state.add_role_assignment(DirectoryRoleAssignment("ra-2", IDS.admins_group, wellknown.GLOBAL_ADMINISTRATOR))
    state.identities.admin_user_id = IDS.admin

    # A daemon app with a secret and an app role on an API whose tokens are v2.
    _, api_sp = _app_and_sp(
        state, IDS.api_app, "Contoso API",
        identifier_uris=[f"api://{IDS.api_app}"], requested_access_token_version=2,
        app_roles=[AppRole(IDS.api_role, "Logs.Read", "Read logs")],
    )
    _, daemon_sp = _app_and_sp(
        state, IDS.daemon_app, "Contoso daemon",
        password_credentials=[PasswordCredential("k1", "ci", IDS.daemon_secret, now - 60, now + 86400)],
    )
    state.app_role_assignments["ara-1"] = AppRoleAssignment(
        "ara-1", daemon_sp.id, "ServicePrincipal", daemon_sp.display_name,
        api_sp.id, api_sp.display_name, IDS.api_role)
    # An app that exists with a service principal but exposes no identifier URI.
    _app_and_sp(state, IDS.bare_app, "No identifier URI")
    # A CIPP-SAM-like client that signs users in (public client flows allowed).
    _app_and_sp(state, IDS.sam_app, "CIPP-SAM", public_client=True, sign_in_audience="AzureADMultipleOrgs",
                required_resource_access=[RequiredResourceAccess(
                    wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID,
                    [ResourceAccess(wellknown.AZURE_SERVICE_MANAGEMENT_USER_IMPERSONATION, "Scope")])])
    return state


class StubService:
    """Stands in for Graph, ARM and CIPP: this file tests sign-in alone."""

    def __init__(self, name: str) -> None:
        self.name = name

    def handle(self, request: Request) -> Response:
        return json_response(404, {"error": {"code": "NotUsedHere", "message": self.name}})


@pytest.fixture
def sb(sandbox_factory: Any) -> Sandbox:
    stubs = {n: (lambda _s, _t, _u, n=n: StubService(n)) for n in SERVICE_NAMES if n != "idp"}
    sandbox: Sandbox = sandbox_factory(build_state(), service_factories=stubs)
    return sandbox


def idp_of(sb: Sandbox) -> IdentityPlatform:
    service = sb.services["idp"]
    assert isinstance(service, IdentityPlatform)
    return service


def msal_session(sb: Sandbox) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = sb.ca_file
    return session


def confidential_app(sb: Sandbox, client_id: str, secret: str, tenant: str = TENANT_ID) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        client_id, client_credential=secret, authority=f"{sb.urls.idp}/{tenant}",
        instance_discovery=False, http_client=msal_session(sb))


def raw_client(sb: Sandbox) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=sb.ca_file), trust_env=False, timeout=10)


def claims_of(sb: Sandbox, token: str) -> dict[str, Any]:
    assert sb.tokens is not None
    claims = sb.tokens.verify(token)
    assert claims is not None, "the sandbox must verify the tokens it issued"
    return claims


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return data


def assert_same_shape(actual: dict[str, Any], name: str) -> None:
    """Every key of the official example is present with the same JSON type."""
    expected = example(name)["response_body"]
    for key, value in expected.items():
        assert key in actual, f"{key!r} missing (example {name})"
        assert type(actual[key]) is type(value), f"{key!r}: {type(actual[key]).__name__} vs {type(value).__name__}"


def logged(sb: Sandbox, wanted: Callable[[RequestRecord], bool], at_least: int = 1) -> list[RequestRecord]:
    """Matching request-log records; the transport appends a record just after answering."""
    deadline = time.monotonic() + 5
    while True:
        with sb.state.lock:
            records = [r for r in sb.state.request_log if wanted(r)]
        if len(records) >= at_least or time.monotonic() > deadline:
            return records
        time.sleep(0.005)


def device_credential(sb: Sandbox, prompts: list[str], **kwargs: Any) -> DeviceCodeCredential:
    kwargs.setdefault("client_id", wellknown.TOOL_PUBLIC_CLIENT_ID)
    kwargs.setdefault("tenant_id", TENANT_ID)
    return DeviceCodeCredential(
        authority=sb.urls.idp, disable_instance_discovery=True, connection_verify=sb.ca_file,
        prompt_callback=lambda uri, code, expires: prompts.append(code), **kwargs)


# --- discovery and keys -------------------------------------------------------------------


def test_openid_configuration_has_the_real_fields_and_only_sandbox_urls(sb: Sandbox) -> None:
    with raw_client(sb) as http:
        response = http.get(f"{sb.urls.idp}/{DOMAIN}/v2.0/.well-known/openid-configuration")
    assert response.status_code == 200
    document = response.json()
    assert_same_shape(document, "idp_openid_configuration_tenant_recorded.json")
    # A domain resolves to the tenant id, as the real document names endpoints by GUID.
    assert document["token_endpoint"] == f"{sb.urls.idp}/{TENANT_ID}/oauth2/v2.0/token"
    assert document["issuer"] == f"{sb.urls.idp}/{TENANT_ID}/v2.0"
    urls = [v for v in document.values() if isinstance(v, str) and v.startswith("http")]
    assert urls and all(u.startswith(("https://127.0.0.1", "https://localhost")) for u in urls)


def test_unknown_tenant_answers_aadsts90002_in_the_real_shape(sb: Sandbox) -> None:
    with raw_client(sb) as http:
        response = http.get(f"{sb.urls.idp}/fabrikam.onmicrosoft.com/v2.0/.well-known/openid-configuration",
                            headers={"client-request-id": "5d7c3a1e-0000-4000-8000-00000000abcd"})
    assert response.status_code == 400
    body = response.json()
    assert_same_shape(body, "idp_error_AADSTS90002_tenant_not_found.json")
    assert body["error"] == "invalid_tenant" and body["error_codes"] == [90002]
    assert body["error_description"].startswith("AADSTS90002: Tenant 'fabrikam.onmicrosoft.com' not found.")
    assert "\r\nTrace ID: " in body["error_description"]
    assert body["correlation_id"] == "5d7c3a1e-0000-4000-8000-00000000abcd"
    assert body["error_uri"] == f"{sb.urls.idp}/error?code=90002"


def test_msal_reports_the_unknown_tenant(sb: Sandbox) -> None:
    with pytest.raises(ValueError, match="double check your tenant") as raised:
        confidential_app(sb, IDS.daemon_app, IDS.daemon_secret, tenant="nowhere.example")
    # msal wraps the discovery failure; the service's own answer is the cause.
    assert "AADSTS90002" in str(raised.value.__context__)


def test_jwks_verifies_the_issued_tokens(sb: Sandbox) -> None:
    result = confidential_app(sb, IDS.daemon_app, IDS.daemon_secret).acquire_token_for_client([f"{GRAPH}/.default"])
    with raw_client(sb) as http:
        keys = http.get(f"{sb.urls.idp}/{TENANT_ID}/discovery/v2.0/keys").json()["keys"]
    header = jwt.get_unverified_header(result["access_token"])
    assert header["typ"] == "JWT" and header["alg"] == "RS256"
    (key,) = [k for k in keys if k["kid"] == header["kid"]]
    public_key = jwt.PyJWK(key).key
    claims = jwt.decode(result["access_token"], public_key, algorithms=["RS256"],
                        audience=GRAPH, options={"verify_exp": False, "verify_iat": False, "verify_nbf": False})
    assert claims["tid"] == TENANT_ID


# --- client credentials (msal) -------------------------------------------------------------


def test_client_credentials_for_a_v2_api_carries_the_assigned_roles(sb: Sandbox) -> None:
    app = confidential_app(sb, IDS.daemon_app, IDS.daemon_secret)
    result = app.acquire_token_for_client([f"api://{IDS.api_app}/.default"])
    assert "access_token" in result, result
    claims = claims_of(sb, result["access_token"])
    assert claims["aud"] == IDS.api_app
    assert claims["iss"] == f"{sb.urls.idp}/{TENANT_ID}/v2.0"
    assert claims["ver"] == "2.0" and claims["azp"] == IDS.daemon_app and claims["azpacr"] == "1"
    assert claims["idtyp"] == "app" and claims["roles"] == ["Logs.Read"]
    assert claims["oid"] == sb.state.service_principal_by_app_id(IDS.daemon_app).id  # type: ignore[union-attr]
    assert claims["exp"] - int(sb.state.clock.now()) == 3600
    assert "appid" not in claims and "scp" not in claims


def test_client_credentials_for_graph_gets_a_v1_token(sb: Sandbox) -> None:
    result = confidential_app(sb, IDS.daemon_app, IDS.daemon_secret).acquire_token_for_client([f"{GRAPH}/.default"])
    claims = claims_of(sb, result["access_token"])
    assert claims["aud"] == GRAPH
    assert claims["iss"] == f"https://sts.windows.net/{TENANT_ID}/"
    assert claims["ver"] == "1.0" and claims["appid"] == IDS.daemon_app and claims["appidacr"] == "1"
    assert "roles" not in claims  # nothing assigned on Graph
    caller = caller_from_claims(claims, sb.state)
    assert caller.kind == "app" and caller.app_id == IDS.daemon_app and caller.upn is None


def test_client_credentials_raw_response_matches_the_recording(sb: Sandbox) -> None:
    with raw_client(sb) as http:
        response = http.post(f"{sb.urls.idp}/{TENANT_ID}/oauth2/v2.0/token", data={
            "client_id": IDS.daemon_app, "client_secret": IDS.daemon_secret,
            "scope": f"{GRAPH}/.default", "grant_type": "client_credentials"})
    assert response.status_code == 200
    body = response.json()
    assert_same_shape(body, "idp_token_client_credentials_recorded.json")
    assert_same_shape(body, "idp_token_client_credentials_secret_success.json")
    assert "refresh_token" not in body and "scope" not in body
    assert response.headers["cache-control"] == "no-store, no-cache"


def test_wrong_secret_is_aadsts7000215_and_never_echoed(sb: Sandbox) -> None:
    result = confidential_app(sb, IDS.daemon_app, "not-the-secret").acquire_token_for_client([f"{GRAPH}/.default"])
    assert result["error"] == "invalid_client" and result["error_codes"] == [7000215]
    assert IDS.daemon_app in result["error_description"]
    assert "not-the-secret" not in json.dumps(result)


def test_expired_secret_is_aadsts7000222_once_the_clock_moves(sb: Sandbox) -> None:
    app = confidential_app(sb, IDS.daemon_app, IDS.daemon_secret)
    assert "access_token" in app.acquire_token_for_client([f"{GRAPH}/.default"])
    sb.state.clock.advance(2 * 86400)
    # A fresh application object: msal would otherwise answer from its own cache.
    result = confidential_app(sb, IDS.daemon_app, IDS.daemon_secret).acquire_token_for_client([f"{GRAPH}/.default"])
    assert result["error"] == "invalid_client" and result["error_codes"] == [7000222]
    assert IDS.daemon_secret not in json.dumps(result)


def test_app_without_service_principal_here_is_aadsts700016(sb: Sandbox) -> None:
    stranger = "e0000000-0000-4000-8000-00000000dead"
    result = confidential_app(sb, stranger, "whatever").acquire_token_for_client([f"{GRAPH}/.default"])
    assert result["error"] == "unauthorized_client" and result["error_codes"] == [700016]
    assert f"Application with identifier '{stranger}' was not found" in result["error_description"]


def test_identifier_uri_the_app_lacks_is_aadsts500011(sb: Sandbox) -> None:
    app = confidential_app(sb, IDS.daemon_app, IDS.daemon_secret)
    result = app.acquire_token_for_client([f"api://{IDS.bare_app}/.default"])
    assert result["error"] == "invalid_resource" and result["error_codes"] == [500011]
    assert f"The resource principal named api://{IDS.bare_app} was not found" in result["error_description"]


@pytest.mark.parametrize(("secret", "scope", "expected_example", "code"), [
    ("Not~The~Secret~42", f"{GRAPH}/.default", "idp_token_error_AADSTS7000215_invalid_client_secret.json", 7000215),
    (IDS.daemon_secret, f"api://{IDS.bare_app}/.default", "idp_token_error_AADSTS500011_resource_not_found.json", 500011),
    (IDS.daemon_secret, f"{GRAPH}/User.Read", "idp_token_error_invalid_scope.json", 1002012),
])
def test_error_bodies_have_the_official_shape(sb: Sandbox, secret: str, scope: str, expected_example: str, code: int) -> None:
    with raw_client(sb) as http:
        response = http.post(f"{sb.urls.idp}/{TENANT_ID}/oauth2/v2.0/token", data={
            "client_id": IDS.daemon_app, "client_secret": secret, "scope": scope,
            "grant_type": "client_credentials"})
    body = response.json()
    assert response.status_code == example(expected_example)["status"]
    assert_same_shape(body, expected_example)
    assert_same_shape(body, "idp_token_error_format_with_error_uri.json")
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert "Not~The~Secret~42" not in response.text and IDS.daemon_secret not in response.text


def test_app_not_found_raw_body_matches_the_example(sb: Sandbox) -> None:
    with raw_client(sb) as http:
        response = http.post(f"{sb.urls.idp}/{DOMAIN}/oauth2/v2.0/token", data={
            "client_id": "e0000000-0000-4000-8000-00000000dead", "client_secret": "x",
            "scope": f"{GRAPH}/.default", "grant_type": "client_credentials"})
    assert response.status_code == 400
    assert_same_shape(response.json(), "idp_token_error_AADSTS700016_app_not_found.json")


def test_expired_secret_raw_body_matches_the_example(sb: Sandbox) -> None:
    sb.state.clock.advance(2 * 86400)
    with raw_client(sb) as http:
        response = http.post(f"{sb.urls.idp}/{TENANT_ID}/oauth2/v2.0/token", data={
            "client_id": IDS.daemon_app, "client_secret": IDS.daemon_secret,
            "scope": f"{GRAPH}/.default", "grant_type": "client_credentials"})
    assert response.status_code == 401
    assert_same_shape(response.json(), "idp_token_error_AADSTS7000222_expired_secret.json")


def test_request_log_names_the_client_and_never_the_secret(sb: Sandbox) -> None:
    confidential_app(sb, IDS.daemon_app, IDS.daemon_secret).acquire_token_for_client([f"{GRAPH}/.default"])
    records = logged(sb, lambda r: r.service == "idp" and r.path.endswith("/token"))
    assert records[-1].caller == IDS.daemon_app and records[-1].status == 200
    assert IDS.daemon_secret not in repr(sb.state.request_log)


# --- azure-identity -----------------------------------------------------------------------


def test_client_secret_credential_gets_an_arm_token(sb: Sandbox) -> None:
    credential = ClientSecretCredential(TENANT_ID, IDS.daemon_app, IDS.daemon_secret, authority=sb.urls.idp,
                                        disable_instance_discovery=True, connection_verify=sb.ca_file)
    token = credential.get_token(ARM_DEFAULT)
    claims = claims_of(sb, token.token)
    assert claims["aud"] == "https://management.azure.com" and claims["ver"] == "1.0"
    assert token.expires_on > time.time()


def test_device_code_auto_approved_then_a_new_resource_needs_its_own_consent(sb: Sandbox) -> None:
    prompts: list[str] = []
    credential = device_credential(sb, prompts)
    graph = claims_of(sb, credential.get_token(f"{GRAPH}/User.Read").token)
    assert graph["upn"] == f"admin@{DOMAIN}" and graph["oid"] == IDS.admin
    assert graph["scp"] == "User.Read" and graph["idtyp"] == "user"
    assert graph["appid"] == wellknown.TOOL_PUBLIC_CLIENT_ID and graph["aud"] == GRAPH
    assert wellknown.GLOBAL_ADMINISTRATOR in graph["wids"]

    # ARM is no resource of this client's registration: `.default` is refused outright...
    with pytest.raises(ClientAuthenticationError, match="AADSTS650057"):
        credential.get_token(ARM_DEFAULT)
    # ...and the explicit scope is dynamic consent: the refresh token cannot record it
    # (65001), so the credential signs in again and the admin consents on the page.
    arm = claims_of(sb, credential.get_token(ARM_IMPERSONATION).token)
    assert len(prompts) == 3, "650057 and the consent each took an interactive sign-in"
    assert arm["aud"] == "https://management.azure.com" and arm["scp"] == "user_impersonation"
    caller = caller_from_claims(arm, sb.state)
    assert caller.kind == "user" and caller.object_id == IDS.admin and caller.scopes == {"user_impersonation"}
    asm = sb.state.service_principal_by_app_id(wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID)
    tool_sp = sb.state.service_principal_by_app_id(wellknown.TOOL_PUBLIC_CLIENT_ID)
    assert asm is not None and tool_sp is not None
    grants = [g for g in sb.state.oauth2_grants.values() if g.client_id == tool_sp.id]
    assert [(g.consent_type, g.scope) for g in grants] == [("AllPrincipals", "user_impersonation")]
    # The next call is answered from msal's cache (every issued token differs, by `uti`),
    # which works only because the response echoed the requested scope.
    first = credential.get_token(ARM_IMPERSONATION).token
    assert credential.get_token(ARM_IMPERSONATION).token == first


def test_device_code_waits_for_approval(sb: Sandbox) -> None:
    sb.state.device_code_auto_approve = False
    idp = idp_of(sb)
    prompts: list[str] = []
    approved: list[str] = []

    def approve_once_polled(user_code: str) -> None:
        deadline = time.monotonic() + 10
        while idp.device_code_polls(user_code) < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert idp.pending_device_codes() == [user_code]
        approved.append(idp.approve_device_code(None, IDS.group_admin))

    def prompt(uri: str, code: str, expires: Any) -> None:
        assert uri == f"{sb.urls.idp}/devicelogin"
        prompts.append(code)
        threading.Thread(target=approve_once_polled, args=(code,), daemon=True).start()

    credential = DeviceCodeCredential(
        client_id=wellknown.TOOL_PUBLIC_CLIENT_ID, tenant_id="organizations", authority=sb.urls.idp,
        disable_instance_discovery=True, connection_verify=sb.ca_file, prompt_callback=prompt)
    claims = claims_of(sb, credential.get_token(f"{GRAPH}/User.Read").token)
    assert approved == prompts and claims["oid"] == IDS.group_admin
    assert idp.pending_device_codes() == []
    assert len(logged(sb, lambda r: r.path.endswith("/token") and r.status == 400, at_least=2)) >= 2


def test_device_code_raw_bodies_match_the_examples(sb: Sandbox) -> None:
    sb.state.device_code_auto_approve = False
    base = f"{sb.urls.idp}/{TENANT_ID}/oauth2/v2.0"
    scope = f"{GRAPH}/User.Read openid profile offline_access"
    with raw_client(sb) as http:
        flow = http.post(f"{base}/devicecode", data={"client_id": wellknown.TOOL_PUBLIC_CLIENT_ID, "scope": scope})
        assert flow.status_code == 200
        assert_same_shape(flow.json(), "idp_devicecode_response.json")
        assert flow.json()["interval"] == 0 and flow.json()["expires_in"] == 900
        poll = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "client_id": wellknown.TOOL_PUBLIC_CLIENT_ID, "device_code": flow.json()["device_code"],
                "client_info": "1"}
        pending = http.post(f"{base}/token", data=poll)
        assert pending.status_code == 400
        assert_same_shape(pending.json(), "idp_token_error_authorization_pending.json")
        assert pending.json()["error"] == "authorization_pending" and pending.json()["error_codes"] == [70016]
        idp_of(sb).approve_device_code(flow.json()["user_code"])
        done = http.post(f"{base}/token", data=poll)
    assert done.status_code == 200
    body = done.json()
    assert_same_shape(body, "idp_token_device_code_success.json")
    assert body["scope"].split(" ") == [f"{GRAPH}/User.Read", "openid", "profile", "offline_access"]
    assert isinstance(body["ext_expires_in"], int)
    id_token = claims_of(sb, body["id_token"])
    assert id_token["aud"] == wellknown.TOOL_PUBLIC_CLIENT_ID and id_token["ver"] == "2.0"
    assert id_token["preferred_username"] == f"admin@{DOMAIN}" and id_token["tid"] == TENANT_ID
    padded = body["client_info"] + "=" * (-len(body["client_info"]) % 4)
    assert json.loads(base64.urlsafe_b64decode(padded)) == {"uid": IDS.admin, "utid": TENANT_ID}


def test_device_code_expires_on_the_sandbox_clock(sb: Sandbox) -> None:
    sb.state.device_code_auto_approve = False
    base = f"{sb.urls.idp}/{TENANT_ID}/oauth2/v2.0"
    with raw_client(sb) as http:
        flow = http.post(f"{base}/devicecode", data={"client_id": wellknown.TOOL_PUBLIC_CLIENT_ID,
                                                     "scope": f"{GRAPH}/User.Read"}).json()
        sb.state.clock.advance(901)
        assert idp_of(sb).pending_device_codes() == []
        expired = http.post(f"{base}/token", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
            "client_id": wellknown.TOOL_PUBLIC_CLIENT_ID, "device_code": flow["device_code"]})
    assert expired.status_code == 400 and expired.json()["error"] == "expired_token"


def test_disabled_user_is_aadsts50057(sb: Sandbox) -> None:
    sb.state.device_code_auto_approve = False
    idp = idp_of(sb)

    def prompt(uri: str, code: str, expires: Any) -> None:
        idp.approve_device_code(code, upn=f"gone@{DOMAIN}")

    credential = DeviceCodeCredential(
        client_id=wellknown.TOOL_PUBLIC_CLIENT_ID, tenant_id=TENANT_ID, authority=sb.urls.idp,
        disable_instance_discovery=True, connection_verify=sb.ca_file, prompt_callback=prompt)
    with pytest.raises(ClientAuthenticationError, match="AADSTS50057"):
        credential.get_token(f"{GRAPH}/User.Read")


def test_approving_nothing_or_nobody_is_a_clear_error(sb: Sandbox) -> None:
    idp = idp_of(sb)
    with pytest.raises(ValueError, match="no device code"):
        idp.approve_device_code()
    with pytest.raises(ValueError, match="nobody@"):
        idp.approve_device_code(None, upn=f"nobody@{DOMAIN}")


def test_declined_consent_is_aadsts65004_and_a_grant_makes_the_page_unneeded(sb: Sandbox) -> None:
    prompts: list[str] = []
    sb.state.consent_response = "decline"
    credential = device_credential(sb, prompts, client_id=IDS.sam_app)
    with pytest.raises(ClientAuthenticationError) as raised:
        credential.get_token(ARM_DEFAULT)
    message = str(raised.value)
    assert "AADSTS65004" in message and "declined" in message

    asm = sb.state.service_principal_by_app_id(wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID)
    sam_sp = sb.state.service_principal_by_app_id(IDS.sam_app)
    assert asm is not None and sam_sp is not None
    assert consented_scopes(sb.state, IDS.sam_app, IDS.admin, asm) == set()
    with sb.state.lock:
        sb.state.oauth2_grants["g-1"] = OAuth2PermissionGrant(
            "g-1", sam_sp.id, "AllPrincipals", asm.id, "user_impersonation")
    assert consented_scopes(sb.state, IDS.sam_app, IDS.admin, asm) == {"user_impersonation"}
    claims = claims_of(sb, device_credential(sb, prompts, client_id=IDS.sam_app).get_token(ARM_DEFAULT).token)
    assert claims["scp"] == "user_impersonation" and claims["appid"] == IDS.sam_app


def test_principal_grant_counts_only_for_its_user(sb: Sandbox) -> None:
    asm = sb.state.service_principal_by_app_id(wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID)
    sam_sp = sb.state.service_principal_by_app_id(IDS.sam_app)
    assert asm is not None and sam_sp is not None
    sb.state.oauth2_grants["g-2"] = OAuth2PermissionGrant(
        "g-2", sam_sp.id, "Principal", asm.id, "user_impersonation", principal_id=IDS.helpdesk)
    assert consented_scopes(sb.state, IDS.sam_app, IDS.helpdesk, asm) == {"user_impersonation"}
    assert consented_scopes(sb.state, IDS.sam_app, IDS.admin, asm) == set()


def test_non_admin_cannot_consent_for_the_tool_but_an_admin_can(sb: Sandbox) -> None:
    sb.state.device_code_auto_approve = False
    idp = idp_of(sb)

    def as_user(upn: str) -> DeviceCodeCredential:
        return DeviceCodeCredential(
            client_id=wellknown.TOOL_PUBLIC_CLIENT_ID, tenant_id=TENANT_ID, authority=sb.urls.idp,
            disable_instance_discovery=True, connection_verify=sb.ca_file,
            prompt_callback=lambda uri, code, exp: idp.approve_device_code(code, upn=upn))

    # Directory.Read.All needs an admin's consent, whatever the user consent setting.
    sb.state.user_consent = "allow"
    with pytest.raises(ClientAuthenticationError, match="AADSTS90094"):
        as_user(f"helpdesk@{DOMAIN}").get_token(f"{GRAPH}/Directory.Read.All")
    # Global Administrator through a role-assignable group consents on the spot.
    claims = claims_of(sb, as_user(f"groupadmin@{DOMAIN}").get_token(f"{GRAPH}/Directory.Read.All").token)
    assert "Directory.Read.All" in claims["scp"].split(" ")


def test_v2_resource_gets_v2_delegated_token(sb: Sandbox) -> None:
    api = sb.state.application_by_app_id(IDS.api_app)
    api_sp = sb.state.service_principal_by_app_id(IDS.api_app)
    # The tool's client gets its service principal with a first consent; here, a grant made earlier.
    known = public_client(wellknown.TOOL_PUBLIC_CLIENT_ID)
    assert known is not None and not known.first_party
    tool_sp = ensure_service_principal(sb.state, known)
    assert api is not None and api_sp is not None
    api.oauth2_permission_scopes.append(PermissionScope("s-1", "user_impersonation"))
    sb.state.oauth2_grants["g-3"] = OAuth2PermissionGrant(
        "g-3", tool_sp.id, "AllPrincipals", api_sp.id, "user_impersonation")
    claims = claims_of(sb, device_credential(sb, []).get_token(f"api://{IDS.api_app}/user_impersonation").token)
    assert claims["ver"] == "2.0" and claims["aud"] == IDS.api_app
    assert claims["iss"] == f"{sb.urls.idp}/{TENANT_ID}/v2.0"
    assert claims["azp"] == wellknown.TOOL_PUBLIC_CLIENT_ID and claims["azpacr"] == "0"
    assert claims["scp"] == "user_impersonation" and claims["upn"] == f"admin@{DOMAIN}"


def test_interactive_browser_flow_with_pkce_and_nonce(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    visited: list[str] = []

    def fake_browser(url: str, *args: Any, **kwargs: Any) -> bool:
        visited.append(url)

        def follow() -> None:
            with raw_client(sb) as http:
                answer = http.get(url)
            assert answer.status_code == 302
            # The loopback redirect server is plain http on localhost.
            with httpx.Client(trust_env=False, timeout=10) as local:
                local.get(answer.headers["location"])

        threading.Thread(target=follow, daemon=True).start()
        return True

    monkeypatch.setattr(webbrowser, "open", fake_browser)
    credential = InteractiveBrowserCredential(
        client_id=wellknown.TOOL_PUBLIC_CLIENT_ID, tenant_id=TENANT_ID, authority=sb.urls.idp,
        disable_instance_discovery=True, connection_verify=sb.ca_file, timeout=20)
    token = credential.get_token(f"{GRAPH}/User.Read")
    claims = claims_of(sb, token.token)
    assert claims["oid"] == IDS.admin and "User.Read" in claims["scp"].split(" ")
    query = parse_qs(urlsplit(visited[0]).query)
    assert query["code_challenge_method"] == ["S256"] and "nonce" in query
    # The record azure-identity builds from the id token names this authority and tenant.
    record = credential.authenticate(scopes=[f"{GRAPH}/User.Read"])
    assert record.tenant_id == TENANT_ID and record.username == f"admin@{DOMAIN}"
    assert record.authority == urlsplit(sb.urls.idp).netloc


def test_authorization_code_checks_the_pkce_verifier_and_single_use(sb: Sandbox) -> None:
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect = "http://localhost:8400"
    base = f"{sb.urls.idp}/{TENANT_ID}/oauth2/v2.0"
    with raw_client(sb) as http:
        answer = http.get(f"{base}/authorize", params={
            "client_id": wellknown.TOOL_PUBLIC_CLIENT_ID, "response_type": "code", "redirect_uri": redirect,
            "scope": f"{GRAPH}/User.Read openid offline_access", "state": "s-42", "nonce": "n-42",
            "code_challenge": challenge, "code_challenge_method": "S256"})
        assert answer.status_code == 302
        location = urlsplit(answer.headers["location"])
        params = parse_qs(location.query)
        assert f"{location.scheme}://{location.netloc}" == redirect and params["state"] == ["s-42"]
        redeem = {"grant_type": "authorization_code", "client_id": wellknown.TOOL_PUBLIC_CLIENT_ID,
                  "code": params["code"][0], "redirect_uri": redirect}
        wrong = http.post(f"{base}/token", data={**redeem, "code_verifier": "w" * 50})
        assert wrong.status_code == 400 and wrong.json()["error_codes"] == [501481]
        good = http.post(f"{base}/token", data={**redeem, "code_verifier": verifier})
        assert good.status_code == 200
        assert claims_of(sb, good.json()["id_token"])["nonce"] == "n-42"
        again = http.post(f"{base}/token", data={**redeem, "code_verifier": verifier})
        assert again.status_code == 400 and again.json()["error_codes"] == [54005]


def test_unregistered_redirect_uri_for_a_tenant_app_is_refused(sb: Sandbox) -> None:
    with raw_client(sb) as http:
        answer = http.get(f"{sb.urls.idp}/{TENANT_ID}/oauth2/v2.0/authorize", params={
            "client_id": IDS.sam_app, "response_type": "code", "redirect_uri": "http://localhost:8400",
            "scope": f"{GRAPH}/User.Read"})
    assert answer.status_code == 400 and answer.json()["error_codes"] == [50011]


def test_more_than_one_resource_in_a_scope_is_refused(sb: Sandbox) -> None:
    with raw_client(sb) as http:
        answer = http.post(f"{sb.urls.idp}/{TENANT_ID}/oauth2/v2.0/devicecode", data={
            "client_id": wellknown.TOOL_PUBLIC_CLIENT_ID, "scope": f"{GRAPH}/User.Read {ARM_DEFAULT}"})
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_scope"


def test_single_tenant_app_cannot_use_organizations(sb: Sandbox) -> None:
    app = sb.state.application_by_app_id(IDS.sam_app)
    assert app is not None
    app.sign_in_audience = "AzureADMyOrg"
    with raw_client(sb) as http:
        answer = http.post(f"{sb.urls.idp}/organizations/oauth2/v2.0/devicecode", data={
            "client_id": IDS.sam_app, "scope": f"{GRAPH}/User.Read"})
    assert answer.status_code == 400 and answer.json()["error_codes"] == [50059]


def test_get_on_the_token_endpoint_is_refused(sb: Sandbox) -> None:
    with raw_client(sb) as http:
        answer = http.get(f"{sb.urls.idp}/{TENANT_ID}/oauth2/v2.0/token")
    assert answer.status_code == 400 and answer.json()["error_codes"] == [900561]


def test_new_grants_reach_tokens_after_the_token_replication_lag(sb: Sandbox) -> None:
    state = sb.state
    asm = state.service_principal_by_app_id(wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID)
    sam_sp = state.service_principal_by_app_id(IDS.sam_app)
    assert asm is not None and sam_sp is not None
    with state.lock:
        state.replication.token_seconds = 30
        state.oauth2_grants["g-4"] = OAuth2PermissionGrant(
            "g-4", sam_sp.id, "AllPrincipals", asm.id, "user_impersonation",
            visibility=state.new_visibility())
    state.consent_response = "decline"  # nobody consents here: the grant must replicate
    with pytest.raises(ClientAuthenticationError, match="AADSTS65004"):
        device_credential(sb, [], client_id=IDS.sam_app).get_token(ARM_DEFAULT)
    state.clock.advance(31)
    token = device_credential(sb, [], client_id=IDS.sam_app).get_token(ARM_DEFAULT)
    assert claims_of(sb, token.token)["scp"] == "user_impersonation"

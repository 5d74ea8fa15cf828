"""Where the tenant forbids the dynamic consent of Azure Service Management for the tool's
client, ARM goes through a first-party client pre-authorized for it (the Azure CLI's), as
a second sign-in the user is told about; Graph stays with the tool's client."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cipp_setup import wellknown
from cipp_setup.cloud import cloud_from_document
from cipp_setup.gateways.auth import sign_in
from cipp_setup.gateways.errors import SignInFailed
from cipp_setup.gateways.permissions import READ_GRAPH_PERMISSIONS
from cipp_setup.sandbox.state import OAuth2PermissionGrant

from consent_support import tool_service_principal

USER = "alex.wilber@contoso.example"  # no directory role: may not consent for the organization


def _locked_down_with_graph_consented(sandbox: Any) -> None:
    """User consent off; an administrator consented the tool's Graph read permissions for
    everyone (the admin-consent URL), but nothing for Azure Service Management."""
    state = sandbox.state
    state.user_consent = "none"
    state.device_code_auto_approve = False
    tool = tool_service_principal(state)
    graph = state.service_principal_by_app_id(wellknown.MICROSOFT_GRAPH_APP_ID)
    with state.lock:
        grant = OAuth2PermissionGrant("admin-url", tool.id, "AllPrincipals", graph.id, " ".join(READ_GRAPH_PERMISSIONS))
        state.oauth2_grants[grant.id] = grant


def _sign_in_as(sandbox: Any, upn: str, messages: list[str]) -> Any:
    cloud = cloud_from_document(sandbox.cloud_document(), "sandbox")

    def show(message: str) -> None:
        messages.append(message)
        code = re.search(r"enter the code (\w+)", message)
        if code:
            sandbox.control.approve_device_code(code.group(1), upn=upn)

    return sign_in(cloud=cloud, tenant=sandbox.state.tenant_id, auth="device-code", interactive=True,
                   device_code_callback=show)


def test_arm_consent_forbidden_goes_through_the_azure_cli_client_said_first(sandbox_factory: Any) -> None:
    sandbox = sandbox_factory("legacy-fresh")
    _locked_down_with_graph_consented(sandbox)
    grants_before = {g.id: g.scope for g in sandbox.state.oauth2_grants.values()}
    messages: list[str] = []
    session = _sign_in_as(sandbox, USER, messages)
    told = " ".join(messages)
    assert "AADSTS90094" in told and "Azure CLI" in told  # the second sign-in is announced
    # Graph; ARM with the tool's client, refused at the consent step; ARM with the Azure CLI's.
    codes = [i for i, m in enumerate(messages) if "enter the code" in m]
    announced = next(i for i, m in enumerate(messages) if "Azure CLI" in m)
    assert len(codes) == 3 and codes[1] < announced < codes[2]
    assert session.arm_client_id == wellknown.AZURE_CLI_CLIENT_ID
    token = session.arm_token_credential.get_token(session.arm_scope)
    claims = sandbox.tokens.verify(token.token)
    assert claims["appid"] == wellknown.AZURE_CLI_CLIENT_ID and claims["scp"] == "user_impersonation"
    graph = session.credential.get_token(*session.graph_scopes)
    assert sandbox.tokens.verify(graph.token)["appid"] == wellknown.TOOL_PUBLIC_CLIENT_ID
    # Nothing was consented on the way: a pre-authorized client needs no grant.
    assert {g.id: g.scope for g in sandbox.state.oauth2_grants.values()} == grants_before


def test_where_the_arm_consent_is_allowed_arm_stays_with_the_tools_client(sandbox_factory: Any) -> None:
    sandbox = sandbox_factory("legacy-fresh")
    sandbox.state.device_code_auto_approve = False
    messages: list[str] = []
    session = _sign_in_as(sandbox, "admin@contoso.example", messages)
    assert session.arm_client_id == wellknown.TOOL_PUBLIC_CLIENT_ID
    token = session.arm_token_credential.get_token(session.arm_scope)
    assert sandbox.tokens.verify(token.token)["appid"] == wellknown.TOOL_PUBLIC_CLIENT_ID
    assert not any("Azure CLI" in m for m in messages)


def test_a_declined_arm_consent_is_the_users_answer_not_a_fallback(sandbox_factory: Any) -> None:
    sandbox = sandbox_factory("legacy-fresh")
    sandbox.state.device_code_auto_approve = False
    tool = tool_service_principal(sandbox.state)
    graph = sandbox.state.service_principal_by_app_id(wellknown.MICROSOFT_GRAPH_APP_ID)
    with sandbox.state.lock:
        sandbox.state.oauth2_grants["g"] = OAuth2PermissionGrant(
            "g", tool.id, "AllPrincipals", graph.id, " ".join(READ_GRAPH_PERMISSIONS))
    sandbox.state.consent_response = "decline"
    with pytest.raises(SignInFailed, match="65004"):
        _sign_in_as(sandbox, "admin@contoso.example", [])

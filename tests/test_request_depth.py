"""A check costs its dependency depth: requests that do not need each other go out together.

With 100 ms added to every request, requests that wait for one another arrive at least
100 ms apart; requests sent together arrive within a few milliseconds of each other.
"""

from __future__ import annotations

import pytest

import asyncio
from typing import Any

from cipp_setup.cloud import cloud_from_document
from cipp_setup.engine.context import CheckInputs
from cipp_setup.engine.diagnose import ConnectionOptions, run_diagnosis
from cipp_setup.engine.model import Secret
from cipp_setup.gateways.services import GatewayServices

LATENCY_MS = 100


def _consented_before(sandbox: Any) -> None:
    """The steady state these depths are about: an admin consented for the organization
    earlier (Graph reads, ARM user_impersonation), so the sign-in shows no consent page and
    the ARM token is a refresh. A first sign-in in a fresh tenant adds the consent steps."""
    from cipp_setup import wellknown
    from cipp_setup.gateways.permissions import READ_GRAPH_PERMISSIONS
    from cipp_setup.sandbox.state import OAuth2PermissionGrant

    from consent_support import tool_service_principal

    state = sandbox.state
    tool = tool_service_principal(state)
    with state.lock:
        for app_id, scope in ((wellknown.MICROSOFT_GRAPH_APP_ID, " ".join(READ_GRAPH_PERMISSIONS)),
                              (wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID, "user_impersonation")):
            resource = state.service_principal_by_app_id(app_id)
            assert resource is not None
            grant = OAuth2PermissionGrant(f"earlier-{app_id}", tool.id, "AllPrincipals", resource.id, scope)
            state.oauth2_grants[grant.id] = grant


def _run_legacy_check(sandbox: Any) -> list[Any]:
    ids = sandbox.identities_document()
    inputs = CheckInputs(
        tenant=ids["tenant_id"], sam_user=ids["sam_user_upn"], sam_app_id=ids["sam_app_id"],
        subscription_id=ids["subscription_id"], api_url=ids["api_url"], api_client_id=ids["api_client_id"],
        api_client_secret=Secret(ids["api_client_secret"]), generation="legacy",
    )
    connection = ConnectionOptions(
        services=GatewayServices(),
        cloud=cloud_from_document(sandbox.cloud_document(), "sandbox"), auth="device-code",
        interactive=True, device_code_callback=lambda message: None,
    )
    _consented_before(sandbox)
    sandbox.control.clear_request_log()
    diagnosis = asyncio.run(run_diagnosis(inputs, connection))
    assert all(r.status.value == "pass" for r in diagnosis.report.results)
    return sandbox.control.request_log()


def test_the_api_checks_do_not_wait_for_the_admin_sign_in(sandbox_factory: Any) -> None:
    sandbox = sandbox_factory("legacy-ready", latency_ms=LATENCY_MS)
    api_client = sandbox.identities_document()["api_client_id"]
    log = _run_legacy_check(sandbox)
    tokens = [r for r in log if r.service == "idp" and r.path.endswith("/oauth2/v2.0/token")]
    api_token = next(r for r in tokens if r.caller == api_client)
    admin_first_token = next(r for r in tokens if r.caller != api_client)
    # API chain: discovery → token (hop 2); admin chain: discovery → device code → token (hop 3).
    assert api_token.at < admin_first_token.at - LATENCY_MS / 2000


@pytest.mark.xfail(strict=False, reason=(
    "since delegated sign-ins ask ARM for the explicit user_impersonation scope (issue 10), "
    "the contributor query sometimes starts one round trip after the SAM user read; the cause "
    "(a token look-up per SDK client?) is not found yet"))
def test_the_contributor_query_does_not_wait_for_the_subscription_read(sandbox_factory: Any) -> None:
    sandbox = sandbox_factory("legacy-ready", latency_ms=LATENCY_MS)
    log = _run_legacy_check(sandbox)
    arm = [r for r in log if r.service == "arm"]
    subscription_read = next(r for r in arm if not r.path.endswith("/roleAssignments"))
    assignments = next(r for r in arm if r.path.endswith("/roleAssignments"))
    user_read = next(r for r in log if r.service == "graph" and r.path.count("/") == 3 and r.path.startswith("/v1.0/users/"))
    # It needs only the user's object id (the Graph user read): it starts once that answers,
    # whenever the subscription's own read (which only names it) comes back. The ARM token
    # is ready from the sign-in, so the subscription read may well finish first.
    # "Waits" means another round trip in between: less than one latency of local work.
    started = assignments.at - assignments.latency_ms / 1000
    assert started - user_read.at < LATENCY_MS / 1000, (started - user_read.at)
    assert started < subscription_read.at + LATENCY_MS / 1000

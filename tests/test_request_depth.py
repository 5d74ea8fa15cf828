"""A check costs its dependency depth: requests that do not need each other go out together.

With 100 ms added to every request, requests that wait for one another arrive at least
100 ms apart; requests sent together arrive within a few milliseconds of each other.
"""

from __future__ import annotations


import asyncio
from typing import Any

from cipp_setup.cloud import cloud_from_document
from cipp_setup.engine.context import CheckInputs
from cipp_setup.engine.diagnose import ConnectionOptions, run_diagnosis
from cipp_setup.engine.model import Secret
from cipp_setup.gateways.services import GatewayServices
from scenario_verdicts import documented_statuses

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
    assert {r.check_id: r.status.value for r in diagnosis.report.results} == documented_statuses("legacy-ready")
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


# The subscription's own read is answered this late; the contributor query must come and be
# answered in the meantime. Far more than the local work between two requests here (a new
# TLS connection on a loaded machine: under a second), so the order below is structural.
SLOW_SUBSCRIPTION_MS = 4000


def test_the_contributor_query_does_not_wait_for_the_subscription_read(sandbox_factory: Any) -> None:
    """The role-assignment query needs the subscription id (given) and the user's object id
    only. The sandbox holds the subscription's own read open (a `slow` fault: handled, then
    answered late): the request log is in answer order, so the query's record before the
    read's record shows the two requests overlapping — a query that waited for the read
    could only be answered after it. (Its start time moves with the cost of a new TLS
    connection on a loaded machine, which is why this is an order, not a timing.)"""
    from cipp_setup.sandbox.state import Fault

    sandbox = sandbox_factory("legacy-ready", latency_ms=LATENCY_MS)
    sandbox.control.add_fault(Fault("slow", service="arm", method="GET", path=r"^/subscriptions/[^/]+$",
                                    delay_ms=SLOW_SUBSCRIPTION_MS))
    log = _run_legacy_check(sandbox)
    arm = [r.path.split("?")[0] for r in log if r.service == "arm"]
    assignments = next(i for i, path in enumerate(arm) if path.endswith("/roleAssignments"))
    subscription_read = next(i for i, path in enumerate(arm) if path.count("/") == 2)
    assert assignments < subscription_read, arm

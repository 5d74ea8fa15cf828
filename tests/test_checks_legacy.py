"""The legacy checks against the sandbox tenant, through the real SDKs and run_diagnosis.

Every test signs in with the device-code flow the product uses (the callback approves
the code in the sandbox, as the admin would in a browser) or, for API-only runs, does
not sign in at all. Retry waits go through an injected sleep that only records.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import replace
from typing import Any

import pytest

from cipp_setup.cloud import cloud_from_document
from cipp_setup.engine.context import CheckInputs
from cipp_setup.engine.diagnose import ConnectionOptions, Diagnosis, run_diagnosis
from cipp_setup.engine.model import Secret, Status
from cipp_setup.gateways.api import normalise_api_url
from cipp_setup.gateways.errors import SignInRequired
from cipp_setup.gateways.retry import RetryPolicy
from cipp_setup.gateways.services import GatewayServices
from cipp_setup.sandbox.state import Fault

API_ONLY = frozenset({"api-token", "api-list-logs"})
LEGACY_IDS = (
    "sam-user-global-admin", "sam-app-azure-management-consent",
    "sam-user-subscription-contributor", "api-token", "api-list-logs",
)


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def inputs_for(sandbox: Any, **overrides: Any) -> CheckInputs:
    ids = sandbox.identities_document()
    secret = ids.get("api_client_secret")
    inputs = CheckInputs(
        tenant=ids["tenant_id"],
        sam_user=ids.get("sam_user_upn"),
        api_url=ids.get("api_url") if ids.get("api_client_id") else None,
        api_client_id=ids.get("api_client_id"),
        api_client_secret=Secret(secret) if secret else None,
        generation="legacy",
    )
    return replace(inputs, **overrides)


def diagnose(
    sandbox: Any,
    inputs: CheckInputs | None = None,
    *,
    only: frozenset[str] | None = None,
    sleep: RecordingSleep | None = None,
    interactive: bool = True,
    api_timeout_s: float | None = None,
) -> Diagnosis:
    messages: list[str] = []
    # Approve by hand, as the admin entering the code in a browser would.
    sandbox.control.set_device_code_auto_approve(False)

    def approve(message: str) -> None:
        messages.append(message)
        code = re.search(r"enter the code (\S+) to authenticate", message)
        assert code, message
        sandbox.control.approve_device_code(code.group(1))

    connection = ConnectionOptions(
        services=GatewayServices(),
        cloud=cloud_from_document(sandbox.cloud_document(), "sandbox"),
        auth="device-code",
        interactive=interactive,
        device_code_callback=approve,
        retry=RetryPolicy(sleep=sleep or RecordingSleep()),
        api_timeout_s=api_timeout_s,
    )
    result = asyncio.run(
        run_diagnosis(inputs or inputs_for(sandbox), connection, only=only)
    )
    assert sandbox.service_errors == []
    return result


def statuses(d: Diagnosis) -> dict[str, tuple[str, str | None]]:
    return {r.check_id: (r.status.value, r.cause) for r in d.report.results}


# --- the built-in scenarios --------------------------------------------------------------


STILL_HELD = ("warn", "activation-rights-still-held")


def test_legacy_ready_all_pass(sandbox_factory: Any) -> None:
    """Every prerequisite holds and the API answers: the two temporary rights (Global
    Administrator, Contributor) are still in place, which warns (issue 11's lifecycle;
    before it, all five passed); the consent is harmless to keep and passes."""
    sb = sandbox_factory("legacy-ready")
    d = diagnose(sb)
    assert [r.check_id for r in d.report.results] == list(LEGACY_IDS)
    assert statuses(d) == {
        "sam-user-global-admin": STILL_HELD, "sam-user-subscription-contributor": STILL_HELD,
        "sam-app-azure-management-consent": ("pass", None), "api-token": ("pass", None),
        "api-list-logs": ("pass", None),
    }
    assert d.report.ok
    assert d.admin is not None and d.admin.user_principal_name == sb.identities_document()["admin_upn"]
    assert d.tenant_id == sb.identities_document()["tenant_id"]
    logs = d.report.result("api-list-logs")
    assert logs is not None and {e.setting for e in logs.evidence} >= {"entries", "newest entry"}
    token = d.report.result("api-token")
    assert token is not None
    secret = sb.identities_document()["api_client_secret"]
    assert all(secret not in f"{e.found}{e.expected}" for r in d.report.results for e in r.evidence)


def test_requests_use_server_side_filters_only(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    sb.control.clear_request_log()
    diagnose(sb)
    paths = [(r.service, r.method, r.path) for r in sb.control.request_log()]
    graph_lists = [p for s, m, p in paths if s == "graph"]
    # Collections are only ever read filtered (the filter is in the query, not logged):
    # no /users listing, and each look-up sent once although three checks need the user.
    assert "/v1.0/users" not in graph_lists
    assert sum(1 for p in graph_lists if p.startswith("/v1.0/users/")) == 2  # user + memberships
    arm = [p for s, m, p in paths if s == "arm"]
    assert any(p.endswith("/providers/Microsoft.Authorization/roleAssignments") for p in arm)


def test_legacy_fresh_prerequisites_fail_and_api_checks_skip(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-fresh")
    got = statuses(diagnose(sb))
    assert got["sam-user-global-admin"] == ("fail", "not-global-admin")
    assert got["sam-app-azure-management-consent"][0] == "fail"
    assert got["sam-app-azure-management-consent"][1] in ("permission-not-in-manifest", "consent-missing")
    assert got["sam-user-subscription-contributor"] == ("fail", "no-contributor")
    assert got["api-token"][0] == "skip"
    assert got["api-list-logs"][0] == "skip"


def test_legacy_ga_via_group_passes(sandbox_factory: Any) -> None:
    d = diagnose(sandbox_factory("legacy-ga-via-group"))
    result = d.report.result("sam-user-global-admin")
    # The role holds (through the group); the API answers, so it is a right still in place.
    assert result is not None and (result.status, result.cause) == (Status.WARN, STILL_HELD[1])
    assert "through group" in result.summary


def test_legacy_ga_eligible_only(sandbox_factory: Any) -> None:
    d = diagnose(sandbox_factory("legacy-ga-eligible-only"))
    result = d.report.result("sam-user-global-admin")
    assert result is not None
    assert (result.status, result.cause) == (Status.FAIL, "global-admin-eligible-only")
    assert any("Activate" in m.text for m in result.messages)


def test_legacy_consent_missing(sandbox_factory: Any) -> None:
    d = diagnose(sandbox_factory("legacy-consent-missing"))
    assert statuses(d)["sam-app-azure-management-consent"] == ("fail", "consent-missing")


@pytest.mark.parametrize("scenario", ["legacy-contributor-inherited", "legacy-contributor-via-group"])
def test_contributor_inherited_or_via_group_passes(sandbox_factory: Any, scenario: str) -> None:
    d = diagnose(sandbox_factory(scenario))
    result = d.report.result("sam-user-subscription-contributor")
    # The role holds; the API answers, so it is a temporary right still in place.
    assert result is not None and (result.status, result.cause) == (Status.WARN, STILL_HELD[1]), result
    if scenario.endswith("inherited"):
        assert "inherited from /providers/Microsoft.Management/managementGroups/" in result.summary
    else:
        assert "through group" in result.summary


# --- variations on legacy-ready ------------------------------------------------------------


def test_without_sam_user_the_tenants_cipp_account_is_tested_not_the_signed_in_admin(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    d = diagnose(sb, inputs_for(sb, sam_user=None), only=frozenset({"sam-user-global-admin"}))
    result = d.report.results[0]
    assert result.evidence[0].found.startswith("cipp-sam@contoso.example (")
    assert "from the only candidate: named like CIPP's service account" in result.evidence[0].found
    assert "admin@contoso.example" not in result.evidence[0].found


def test_unknown_sam_user(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    d = diagnose(sb, inputs_for(sb, sam_user="nobody@contoso.example"),
                 only=frozenset({"sam-user-global-admin", "sam-user-subscription-contributor"}))
    assert statuses(d) == {
        "sam-user-global-admin": ("fail", "user-not-found"),
        "sam-user-subscription-contributor": ("fail", "user-not-found"),
    }


def test_disabled_sam_user(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    with sb.state.lock:
        sb.state.user_by_upn(sb.identities_document()["sam_user_upn"]).account_enabled = False
    d = diagnose(sb, only=frozenset({"sam-user-global-admin"}))
    assert statuses(d)["sam-user-global-admin"] == ("fail", "account-disabled")


def test_unknown_sam_app_and_subscription(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    inputs = inputs_for(sb, sam_app_id=str(uuid.uuid4()), subscription_id=str(uuid.uuid4()))
    d = diagnose(sb, inputs, only=frozenset({"sam-app-azure-management-consent", "sam-user-subscription-contributor"}))
    assert statuses(d) == {
        "sam-app-azure-management-consent": ("fail", "app-not-found"),
        "sam-user-subscription-contributor": ("fail", "subscription-not-found"),
    }


def test_given_subscription_and_object_id(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    ids = sb.identities_document()
    with sb.state.lock:
        sam_id = sb.state.user_by_upn(ids["sam_user_upn"]).id
    d = diagnose(sb, inputs_for(sb, sam_user=sam_id, subscription_id=ids["subscription_id"]),
                 only=frozenset({"sam-user-subscription-contributor"}))
    assert statuses(d)["sam-user-subscription-contributor"] == ("pass", None)


def test_permission_wrong_type(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    with sb.state.lock:
        app = sb.state.application_by_app_id(sb.identities_document()["sam_app_id"])
        for rra in app.required_resource_access:
            for entry in rra.resource_access:
                if entry.id == "41094075-9dad-400e-a0bd-54e686782033":
                    entry.type = "Role"
    d = diagnose(sb, only=frozenset({"sam-app-azure-management-consent"}))
    assert statuses(d)["sam-app-azure-management-consent"] == ("fail", "permission-wrong-type")


# --- throttling ------------------------------------------------------------------------------


def test_graph_429_then_success_passes_after_waiting_retry_after(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    sb.control.add_fault(Fault(kind="throttle", service="graph", path="/users/", times=1, retry_after=7))
    sleep = RecordingSleep()
    d = diagnose(sb, only=frozenset({"sam-user-global-admin"}), sleep=sleep)
    assert statuses(d)["sam-user-global-admin"] == ("pass", None)
    assert sleep.waits == [7.0]


def test_persistent_graph_429_is_an_error_with_cause_throttled(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    sb.control.add_fault(Fault(kind="throttle", service="graph", path="roleManagement", retry_after=2))
    sleep = RecordingSleep()
    d = diagnose(sb, only=frozenset({"sam-user-global-admin"}), sleep=sleep)
    assert statuses(d)["sam-user-global-admin"] == ("error", "throttled")
    assert sleep.waits and all(w == 2.0 for w in sleep.waits)


def test_persistent_arm_503_is_service_unavailable(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    sb.control.add_fault(Fault(kind="unavailable", service="arm", path="roleAssignments", retry_after=1))
    d = diagnose(sb, only=frozenset({"sam-user-subscription-contributor"}))
    assert statuses(d)["sam-user-subscription-contributor"] == ("error", "service-unavailable")


# --- sign-in --------------------------------------------------------------------------------


def test_api_only_run_needs_no_sign_in(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    sb.control.clear_request_log()
    d = diagnose(sb, only=API_ONLY, interactive=False)
    assert d.admin is None
    assert statuses(d) == {"api-token": ("pass", None), "api-list-logs": ("pass", None)}
    assert not any(r.path.endswith("/devicecode") for r in sb.control.request_log())


def test_non_interactive_without_cached_sign_in_raises_sign_in_required(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    with pytest.raises(SignInRequired):
        diagnose(sb, interactive=False)


# --- api-token causes -----------------------------------------------------------------------


def _api(sb: Any, **overrides: Any) -> tuple[str, str | None]:
    d = diagnose(sb, inputs_for(sb, **overrides), only=API_ONLY)
    return statuses(d)["api-token"]


def test_api_token_wrong_secret(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    assert _api(sb, api_client_secret=Secret("Wrong8Q~not-the-secret-value")) == ("fail", "invalid-secret")


def test_api_token_secret_id_pasted(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    assert _api(sb, api_client_secret=Secret(str(uuid.uuid4()))) == ("fail", "secret-id-pasted")


def test_api_token_secret_expired(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    sb.control.advance_clock(3 * 365 * 86400)
    assert _api(sb) == ("fail", "secret-expired")


def test_api_token_unknown_tenant(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    assert _api(sb, tenant=str(uuid.uuid4())) == ("fail", "tenant-not-found")


def test_api_token_unknown_app(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    assert _api(sb, api_client_id=str(uuid.uuid4())) == ("fail", "app-not-found")


def test_api_token_identifier_uri_missing(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    client_id = sb.identities_document()["api_client_id"]
    with sb.state.lock:
        # In Entra the SP's names mirror the app's identifier URIs: remove it from both.
        sb.state.application_by_app_id(client_id).identifier_uris = []
        sp = sb.state.service_principal_by_app_id(client_id)
        sp.resource_uris = [u for u in sp.resource_uris if not u.startswith("api://")]
    assert _api(sb) == ("fail", "identifier-uri-missing")


def test_api_token_evidence_shows_claims_not_token(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    d = diagnose(sb, only=frozenset({"api-token"}))
    result = d.report.results[0]
    settings = {e.setting: e.found for e in result.evidence}
    client_id = sb.identities_document()["api_client_id"]
    assert settings["aud"] == f"api://{client_id}"
    assert settings["appid"] == client_id
    assert settings["tid"] == sb.identities_document()["tenant_id"]
    assert "eyJ" not in repr(result)  # no JWT anywhere in the result


# --- api-list-logs causes -------------------------------------------------------------------


def _logs(sb: Any, **kwargs: Any) -> tuple[str, str | None]:
    api_timeout_s = kwargs.pop("api_timeout_s", None)
    d = diagnose(sb, inputs_for(sb, **kwargs), only=API_ONLY, api_timeout_s=api_timeout_s)
    return statuses(d)["api-list-logs"]


def test_list_logs_front_end_url(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    assert _logs(sb, api_url=sb.identities_document()["frontend_url"]) == ("fail", "front-end-url")


def test_list_logs_processor_url(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    processor = sb.identities_document()["processor_url"]
    assert _logs(sb, api_url=processor) == ("fail", "processor-app-url")


def test_list_logs_easy_auth_401(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    with sb.state.lock:
        site = sb.state.sites[sb.state.cipp.function_app.lower()]
        validation = site.auth_settings_v2["identityProviders"]["azureActiveDirectory"]["validation"]
        validation["allowedAudiences"] = ["api://someone-else"]
        site.auth_settings_v2["identityProviders"]["azureActiveDirectory"]["registration"]["clientId"] = "someone-else"
    assert _logs(sb) == ("fail", "easy-auth-rejected")


def test_list_logs_endpoint_not_found(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    # The identity platform's host has no /api/ListLogs: a wrong host that answers 404.
    assert _logs(sb, api_url=sb.urls.idp) == ("fail", "endpoint-not-found")


def test_list_logs_persistent_503_is_an_honest_error(sandbox_factory: Any) -> None:
    # 503 is retried like every service's; beyond the budget it is the service being
    # unavailable (an `error`), not a verdict about the API's set-up (`fail`).
    sb = sandbox_factory("legacy-ready")
    sb.control.add_fault(Fault(kind="unavailable", service="cipp", path="ListLogs"))
    assert _logs(sb) == ("error", "service-unavailable")


def test_list_logs_timeout(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    sb.control.add_fault(Fault(kind="slow", service="cipp", path="ListLogs", delay_ms=1500, times=2))
    assert _logs(sb, api_timeout_s=0.5) == ("error", "timeout")


def test_list_logs_one_timeout_is_retried(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    sb.control.add_fault(Fault(kind="slow", service="cipp", path="ListLogs", delay_ms=1500, times=1))
    assert _logs(sb, api_timeout_s=0.5) == ("pass", None)


def test_list_logs_skipped_when_token_fails(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    d = diagnose(sb, inputs_for(sb, api_client_secret=Secret("Wrong8Q~nope")), only=API_ONLY)
    result = d.report.result("api-list-logs")
    assert result is not None and result.status is Status.SKIP and "api-token" in result.summary


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://cipp-x.azurewebsites.net", "https://cipp-x.azurewebsites.net"),
        ("https://cipp-x.azurewebsites.net/", "https://cipp-x.azurewebsites.net"),
        ("https://CIPP-x.azurewebsites.net/api", "https://cipp-x.azurewebsites.net"),
        ("  https://cipp-x.azurewebsites.net/api/ ", "https://cipp-x.azurewebsites.net"),
        ("https://127.0.0.1:8443/", "https://127.0.0.1:8443"),
    ],
)
def test_normalise_api_url_accepts(text: str, expected: str) -> None:
    assert normalise_api_url(text) == expected


@pytest.mark.parametrize(
    "text",
    ["http://cipp-x.azurewebsites.net", "cipp-x.azurewebsites.net", "https://", "https://bad_host!/",
     "https://cipp-x.azurewebsites.net/api/ListLogs", "https://u:p@cipp-x.azurewebsites.net", "",
     "https://cipp-x.azurewebsites.net/?x=1", "https://host:99999"],
)
def test_normalise_api_url_rejects_with_one_line(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        normalise_api_url(text)
    message = str(caught.value)
    assert message.startswith("--api-url") and "\n" not in message


def _two_subscriptions(sandbox_factory: Any) -> Any:
    """legacy-ready plus a second subscription the admin owns: "the only one" no longer works."""
    from cipp_setup import wellknown
    from cipp_setup.sandbox.scenario import load_scenario
    from cipp_setup.sandbox.state import ArmRoleAssignment, Subscription

    state = load_scenario("legacy-ready")
    other = "0c0c0c0c-0000-4000-8000-000000000001"
    root = next(iter(state.subscriptions.values())).management_group
    state.subscriptions[other] = Subscription(other, "Contoso Other", root)
    state.add_arm_role_assignment(ArmRoleAssignment(
        name=str(uuid.uuid4()), scope=f"/subscriptions/{other}", role_definition_id=wellknown.OWNER,
        principal_id=state.identities.admin_user_id or "",
    ))
    return sandbox_factory(state)


def test_several_subscriptions_and_none_named_lists_them(sandbox_factory: Any) -> None:
    sb = _two_subscriptions(sandbox_factory)
    d = diagnose(sb, inputs_for(sb), only=frozenset({"sam-user-subscription-contributor"}))
    result = d.report.results[0]
    assert (result.status, result.cause) == (Status.ERROR, "subscription-ambiguous")
    assert "Contoso Other" in " ".join(e.found for e in result.evidence)


def test_the_function_app_resource_id_names_the_hosting_subscription(sandbox_factory: Any) -> None:
    sb = _two_subscriptions(sandbox_factory)
    function_app = sb.identities_document()["function_app_id"]
    d = diagnose(sb, inputs_for(sb, function_app=function_app), only=frozenset({"sam-user-subscription-contributor"}))
    result = d.report.results[0]
    assert result.status is Status.PASS, result.summary
    assert function_app.split("/")[2] in " ".join(e.found for e in result.evidence)


def test_ga_check_says_eligibility_unknown_when_pim_cannot_be_read(
    sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No licence, no permission or a 400 from the PIM service: an eligible-only user must
    not pass for not-assigned, and the fix says an eligibility may exist."""
    from cipp_setup.engine.context import CheckContext
    from cipp_setup.gateways.errors import BadRequest
    from cipp_setup.gateways.graph import GraphGateway

    from cipp_setup.checks.sam_user_global_admin import plan_global_admin

    async def refused(self: Any, **kwargs: Any) -> Any:
        raise BadRequest("PIM role eligibilities: 400 BadRequest (Invalid filter clause)", "BadRequest")

    monkeypatch.setattr(GraphGateway, "role_eligibilities", refused)
    sb = sandbox_factory("legacy-ga-eligible-only")
    d = diagnose(sb, only=frozenset({"sam-user-global-admin"}))
    result = d.report.result("sam-user-global-admin")
    assert result is not None
    assert (result.status, result.cause) == (Status.FAIL, "not-global-admin")
    assert "eligibility unknown" in result.summary
    assert any(e.setting == "PIM eligibility" and e.found.startswith("unknown") for e in result.evidence)
    plan = plan_global_admin(result, CheckContext(inputs=inputs_for(sb), cloud=None, gateways=None))  # type: ignore[arg-type]
    assert plan is not None and plan.applicable
    [change] = plan.changes
    assert any("may already be eligible" in note and "Activate" in note for note in change.notes)


def test_ga_fix_is_not_offered_to_a_sign_in_that_cannot_use_role_management(sandbox_factory: Any) -> None:
    from cipp_setup.engine.context import CheckContext, SignedInAdmin
    from cipp_setup.gateways.auth import AZURE_CLI_ROLE_MANAGEMENT

    from cipp_setup.checks.sam_user_global_admin import plan_global_admin

    d = diagnose(sandbox_factory("legacy-fresh"), only=frozenset({"sam-user-global-admin"}))
    result = d.report.result("sam-user-global-admin")
    assert result is not None and result.cause == "not-global-admin"
    admin = SignedInAdmin("x", "admin@contoso.example", "t", role_management_blocked=AZURE_CLI_ROLE_MANAGEMENT)
    ctx = CheckContext(inputs=inputs_for(sandbox_factory("legacy-fresh")), cloud=None, gateways=None, admin=admin)  # type: ignore[arg-type]
    plan = plan_global_admin(result, ctx)
    assert plan is not None and not plan.applicable
    assert "--auth device-code" in (plan.explanation or "")

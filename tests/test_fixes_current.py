"""The current-generation fixes (CIPP 7.2+, API clients) against the sandbox, through the
real SDKs (msgraph-sdk, azure-mgmt-authorization, azure-mgmt-web): plans, appliers,
re-verification, idempotency, refusals, the one-time secret, Easy Auth, revert."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cipp_setup.checks.api_easy_auth import allow_easy_auth_write
from fixsupport import Harness, check_and_fix_all, harness

from cipp_setup import wellknown as wk
from cipp_setup.engine import plan as p
from cipp_setup.engine.fixes import apply_plan
from cipp_setup.engine.model import Secret, Status
from cipp_setup.engine.plan import ChangeStatus
from cipp_setup.engine.writes import NewSecret
from cipp_setup.sandbox.scenario import load_scenario
from cipp_setup.sandbox.state import ArmRoleAssignment, OAuth2PermissionGrant
from consent_support import tool_service_principal

CURRENT_CHECKS = ("sam-app-graph-application-permissions", "function-app-managed-identity", "api-client-app",
                  "api-easy-auth", "api-token", "api-list-logs")


def current_harness(sandbox_factory: Any, tmp_path: Path, scenario: Any) -> Harness:
    return harness(sandbox_factory(scenario), tmp_path)


def current_inputs(h: Harness, **extra: Any) -> dict[str, Any]:
    ids = h.sandbox.identities_document()
    secret = ids.get("api_client_secret")
    return {"generation": "current", "function_app": ids["function_app_id"], "api_url": ids.get("api_url"),
            "api_client_id": ids.get("api_client_id"), "api_client_secret": Secret(secret) if secret else None,
            **extra}


def writes(h: Harness) -> list[tuple[str, str, str, int]]:
    """Write requests only: ARM's POST .../list reads (config lists) are not writes."""
    return [w for w in h.writes_in_log() if not w[2].endswith("/list")]


def statuses(report: Any) -> dict[str, str]:
    return {r.check_id: r.status.value for r in report.results}


def change_statuses(outcomes: list[Any]) -> list[tuple[str, str, str]]:
    return [(c.change.check_id, c.change.action, c.status.value) for o in outcomes for c in o.changes]


def run_fixes(h: Harness, *, secrets: list[NewSecret] | None = None, write_easy_auth: bool = False,
              **extra: Any) -> tuple[Any, list[Any], Any]:
    async def body(session: Any) -> tuple[Any, list[Any], Any]:
        if secrets is not None:
            session.on_new_secret = secrets.append
        session.write_easy_auth = write_easy_auth
        return await check_and_fix_all(session)

    return h.run(body, **current_inputs(h, **extra))


def test_current_fresh_gets_permissions_consent_and_identity_contributor(sandbox_factory: Any, tmp_path: Path) -> None:
    h = current_harness(sandbox_factory, tmp_path, "current-fresh")
    state = h.sandbox.state
    sam_app = state.application_by_app_id(state.cipp.sam_app_id)
    entries_before = [(r.resource_app_id, [(a.id, a.type) for a in r.resource_access])
                      for r in sam_app.required_resource_access]

    before, outcomes, after = run_fixes(h)

    assert statuses(before)["sam-app-graph-application-permissions"] == "fail"
    assert statuses(before)["function-app-managed-identity"] == "fail"
    assert change_statuses(outcomes) == [
        ("sam-app-graph-application-permissions", p.ADD_REQUIRED_APP_ROLES, "applied"),
        ("sam-app-graph-application-permissions", p.CREATE_APP_ROLE_ASSIGNMENT, "applied"),
        ("sam-app-graph-application-permissions", p.CREATE_APP_ROLE_ASSIGNMENT, "applied"),
        ("function-app-managed-identity", p.CREATE_MANAGED_IDENTITY_ROLE_ASSIGNMENT, "applied"),
    ]
    assert all(o.passes for o in outcomes)
    assert statuses(after)["sam-app-graph-application-permissions"] == "pass"
    assert statuses(after)["function-app-managed-identity"] == "pass"
    # Every existing requiredResourceAccess entry kept; the two Graph roles added as Role.
    graph_entry = next(r for r in sam_app.required_resource_access if r.resource_app_id == wk.MICROSOFT_GRAPH_APP_ID)
    for resource_app_id, accesses in entries_before:
        entry = next(r for r in sam_app.required_resource_access if r.resource_app_id == resource_app_id)
        assert set(accesses) <= {(a.id, a.type) for a in entry.resource_access}
    assert {(wk.GRAPH_APPLICATION_READWRITE_ALL, "Role"), (wk.GRAPH_DIRECTORY_READWRITE_ALL, "Role")} <= {
        (a.id, a.type) for a in graph_entry.resource_access}
    # Consent is app role assignments on the Graph service principal, through appRoleAssignedTo.
    sam_sp = state.service_principal_by_app_id(state.cipp.sam_app_id)
    graph_sp = state.service_principal_by_app_id(wk.MICROSOFT_GRAPH_APP_ID)
    held = {a.app_role_id for a in state.app_role_assignments.values()
            if a.principal_id == sam_sp.id and a.resource_id == graph_sp.id}
    assert {wk.GRAPH_APPLICATION_READWRITE_ALL, wk.GRAPH_DIRECTORY_READWRITE_ALL} <= held
    posts = [path for s, m, path, st in writes(h) if m == "POST" and st == 201]
    assert sum(path.endswith("/appRoleAssignedTo") for path in posts) == 2
    # Contributor for the identity at the site's scope, principalType ServicePrincipal.
    site = state.sites[state.cipp.function_app.lower()]
    [assignment] = [a for a in state.arm_assignments_for(site.identity_principal_id)
                    if a.role_definition_id == wk.CONTRIBUTOR]
    assert assignment.principal_type == "ServicePrincipal"
    assert assignment.scope.lower() == site.resource_id.lower()


def test_plans_are_data_and_planning_writes_nothing(sandbox_factory: Any, tmp_path: Path) -> None:
    h = current_harness(sandbox_factory, tmp_path, "current-fresh")

    async def plans(session: Any) -> list[Any]:
        return session.plans((await session.check()).results)

    permissions, identity = h.run(plans, **current_inputs(h))
    consent = [c for c in permissions.changes if c.action == p.CREATE_APP_ROLE_ASSIGNMENT]
    assert [c.params["app_role_id"] for c in consent] == [wk.GRAPH_APPLICATION_READWRITE_ALL,
                                                         wk.GRAPH_DIRECTORY_READWRITE_ALL]
    assert all(c.admin_role_needed == "Privileged Role Administrator or Global Administrator" for c in consent)
    assert all(c.permission == "AppRoleAssignment.ReadWrite.All" and c.grants_privilege for c in consent)
    [role] = identity.changes
    assert role.params["principal_type"] == "ServicePrincipal"
    assert role.params["arm_scope"].endswith("/providers/Microsoft.Web/sites/cippk3x7q")
    assert any("revert leaves it in place" in note for note in role.notes)
    assert writes(h) == []


def test_a_second_run_changes_nothing(sandbox_factory: Any, tmp_path: Path) -> None:
    h = current_harness(sandbox_factory, tmp_path, "current-fresh")

    async def twice(session: Any) -> tuple[list[Any], list[Any], list[Any]]:
        plans = session.plans((await session.check()).results)
        first = [await session.apply(plan) for plan in plans]
        h.sandbox.control.clear_request_log()
        again = [await apply_plan(plan, session.runtime(), verify=False) for plan in plans]
        replanned = session.plans((await session.check()).results)
        return first, again, replanned

    first, again, replanned = h.run(twice, **current_inputs(h))
    assert all(c.status is ChangeStatus.APPLIED for o in first for c in o.changes)
    assert {c.status for o in again for c in o.changes} == {ChangeStatus.ALREADY_PRESENT}
    assert replanned == []
    # Graph writes were avoided by reading first; the ARM PUT answered 409 RoleAssignmentExists.
    assert [(s, m, st) for s, m, _path, st in writes(h)] == [("arm", "PUT", 409)]


def test_identifier_uri_is_added_keeping_the_others_and_the_token_follows(sandbox_factory: Any, tmp_path: Path) -> None:
    state = load_scenario("current-identifier-uri-missing")
    client = state.application_by_app_id(state.identities.api_client_id)
    client.identifier_uris = ["https://reporting.contoso.example"]
    h = current_harness(sandbox_factory, tmp_path, state)

    before, outcomes, after = run_fixes(h)

    assert before.result("api-client-app").cause == "identifier-uri-missing"
    assert change_statuses(outcomes) == [("api-client-app", p.ADD_IDENTIFIER_URI, "applied")]
    assert client.identifier_uris == ["https://reporting.contoso.example", f"api://{client.app_id}"]
    assert statuses(after)["api-token"] == "pass" and statuses(after)["api-list-logs"] == "pass"
    [entry] = h.journal.entries()
    assert entry.previous == ["https://reporting.contoso.example"]


def test_missing_service_principal_is_created(sandbox_factory: Any, tmp_path: Path) -> None:
    state = load_scenario("current-ready")
    sp = state.service_principal_by_app_id(state.identities.api_client_id)
    state.remove_service_principal(sp.id)
    h = current_harness(sandbox_factory, tmp_path, state)

    before, outcomes, after = run_fixes(h)

    assert before.result("api-client-app").cause == "service-principal-missing"
    assert change_statuses(outcomes) == [("api-client-app", p.CREATE_SERVICE_PRINCIPAL, "applied")]
    assert statuses(after)["api-client-app"] == "pass"


def test_expired_secret_gets_a_new_one_shown_once_and_never_journaled(sandbox_factory: Any, tmp_path: Path) -> None:
    h = current_harness(sandbox_factory, tmp_path, "current-secret-expired")
    state = h.sandbox.state
    client = state.application_by_app_id(state.identities.api_client_id)
    shown: list[NewSecret] = []

    before, outcomes, after = run_fixes(h, secrets=shown)

    assert before.result("api-client-app").cause == "secret-expired"
    assert change_statuses(outcomes) == [("api-client-app", p.ADD_CLIENT_SECRET, "applied")]
    [new] = shown
    value = new.value.reveal()
    assert value and new.app_id == client.app_id
    assert len(client.password_credentials) == 2  # the expired one is kept
    # The re-checks used the new secret: the API answers.
    assert statuses(after)["api-token"] == "pass" and statuses(after)["api-list-logs"] == "pass"
    journal_text = h.journal.path.read_text(encoding="utf-8")
    assert value not in journal_text
    [entry] = h.journal.entries()
    assert entry.object_id == new.key_id and entry.previous is None
    assert value not in repr(outcomes) and value not in repr(new)


def test_no_secret_is_created_when_nobody_can_be_shown_it(sandbox_factory: Any, tmp_path: Path) -> None:
    h = current_harness(sandbox_factory, tmp_path, "current-secret-expired")
    client = h.sandbox.state.application_by_app_id(h.sandbox.state.identities.api_client_id)

    _before, outcomes, after = run_fixes(h)  # no on_new_secret receiver

    [change] = [c for o in outcomes for c in o.changes]
    assert change.status is ChangeStatus.FAILED and change.cause == "cannot-show-secret"
    assert "terminal" in change.detail
    assert len(client.password_credentials) == 1
    assert writes(h) == [] and h.journal.entries() == []
    assert statuses(after)["api-client-app"] == "fail"


def test_a_valid_secret_already_there_is_not_added_again(sandbox_factory: Any, tmp_path: Path) -> None:
    h = current_harness(sandbox_factory, tmp_path, "current-secret-expired")
    shown: list[NewSecret] = []

    async def twice(session: Any) -> list[Any]:
        session.on_new_secret = shown.append
        [plan] = session.plans((await session.check()).results)
        await session.apply(plan)
        return [c.status for c in (await apply_plan(plan, session.runtime(), verify=False)).changes]

    assert h.run(twice, **current_inputs(h)) == [ChangeStatus.ALREADY_PRESENT]
    assert len(shown) == 1


def test_a_policy_limited_secret_lives_within_the_policy(sandbox_factory: Any, tmp_path: Path) -> None:
    h = current_harness(sandbox_factory, tmp_path, "current-secret-policy")
    state = h.sandbox.state
    client = state.application_by_app_id(state.identities.api_client_id)
    shown: list[NewSecret] = []

    _before, outcomes, after = run_fixes(h, secrets=shown)

    assert change_statuses(outcomes) == [("api-client-app", p.ADD_CLIENT_SECRET, "applied")]
    newest = max(client.password_credentials, key=lambda c: c.end_time)
    assert 80 * 86400 < newest.end_time - state.clock.now() <= 90 * 86400
    assert statuses(after)["api-list-logs"] == "pass"


def test_no_managed_identity_is_turned_on_then_made_contributor(sandbox_factory: Any, tmp_path: Path) -> None:
    h = current_harness(sandbox_factory, tmp_path, "current-no-managed-identity")
    site = h.sandbox.state.sites[h.sandbox.state.cipp.function_app.lower()]
    assert site.identity_principal_id is None

    before, outcomes, after = run_fixes(h)

    assert before.result("function-app-managed-identity").cause == "managed-identity-missing"
    assert change_statuses(outcomes)[:2] == [
        ("function-app-managed-identity", p.ENABLE_MANAGED_IDENTITY, "applied"),
        ("function-app-managed-identity", p.CREATE_MANAGED_IDENTITY_ROLE_ASSIGNMENT, "applied"),
    ]
    assert site.identity_principal_id
    assert statuses(after)["function-app-managed-identity"] == "pass"
    # Easy Auth is explained, not written, without --write-easy-auth.
    easy = next(o for o in outcomes if o.plan.check_id == "api-easy-auth")
    assert not easy.plan.applicable and [c.status for c in easy.changes] == [ChangeStatus.SKIPPED]


def test_identity_made_contributor_lets_cipp_save_to_azure(sandbox_factory: Any, tmp_path: Path) -> None:
    h = current_harness(sandbox_factory, tmp_path, "current-identity-no-role")
    from cipp_setup.sandbox.cipp_actions import CippActionError

    with pytest.raises(CippActionError):
        h.sandbox.control.save_to_azure()

    _before, outcomes, _after = run_fixes(h)

    assert ("function-app-managed-identity", p.CREATE_MANAGED_IDENTITY_ROLE_ASSIGNMENT, "applied") in change_statuses(outcomes)
    assert h.sandbox.control.save_to_azure()["client_ids"]


def test_not_saved_is_explained_as_save_to_azure_by_default(sandbox_factory: Any, tmp_path: Path) -> None:
    h = current_harness(sandbox_factory, tmp_path, "current-not-saved")

    _before, outcomes, after = run_fixes(h)

    [outcome] = outcomes
    assert not outcome.plan.applicable
    assert "Integrations → CIPP-API → API Clients" in (outcome.plan.explanation or "")
    assert "Save to Azure" in (outcome.plan.explanation or "") and "about a minute" in (outcome.plan.explanation or "")
    assert "--write-easy-auth" in (outcome.plan.explanation or "")
    assert writes(h) == []
    assert statuses(after)["api-easy-auth"] == "fail"


def test_write_easy_auth_allows_the_client_and_keeps_everything_else(sandbox_factory: Any, tmp_path: Path) -> None:
    h = current_harness(sandbox_factory, tmp_path, "current-not-saved")
    site = h.sandbox.state.sites[h.sandbox.state.cipp.function_app.lower()]
    import copy

    settings_before = copy.deepcopy(site.auth_settings_v2)
    aad_before = settings_before["identityProviders"]["azureActiveDirectory"]
    client_id = h.sandbox.state.identities.api_client_id

    _before, outcomes, after = run_fixes(h, write_easy_auth=True)

    assert change_statuses(outcomes) == [("api-easy-auth", p.UPDATE_EASY_AUTH, "applied")]
    assert any("Save to Azure rewrites" in n for n in outcomes[0].plan.changes[0].notes)
    aad = site.auth_settings_v2["identityProviders"]["azureActiveDirectory"]
    validation = aad["validation"]
    assert validation["allowedAudiences"] == aad_before["validation"]["allowedAudiences"] + [f"api://{client_id}"]
    assert validation["defaultAuthorizationPolicy"]["allowedApplications"] == \
        aad_before["validation"]["defaultAuthorizationPolicy"]["allowedApplications"] + [client_id]
    assert aad["registration"] == aad_before["registration"]
    assert site.auth_settings_v2["globalValidation"] == settings_before["globalValidation"]
    assert site.auth_settings_v2["login"] == settings_before["login"]
    assert statuses(after)["api-easy-auth"] == "pass" and statuses(after)["api-list-logs"] == "pass"
    [entry] = h.journal.entries()
    assert entry.previous["allowedApplications"] == aad_before["validation"]["defaultAuthorizationPolicy"]["allowedApplications"]


def test_v2_audience_is_explained_and_written_only_on_request(sandbox_factory: Any, tmp_path: Path) -> None:
    h = current_harness(sandbox_factory, tmp_path, "current-v2-audience")
    client_id = h.sandbox.state.identities.api_client_id

    async def plans(session: Any) -> Any:
        return session.plans((await session.check()).results)

    [plan] = h.run(plans, **current_inputs(h))
    assert not plan.applicable and "requestedAccessTokenVersion" in (plan.explanation or "")
    assert plan.changes[0].params["add_audiences"] == [client_id]
    assert allow_easy_auth_write(plan).applicable

    _before, outcomes, after = run_fixes(h, write_easy_auth=True)
    assert change_statuses(outcomes) == [("api-easy-auth", p.UPDATE_EASY_AUTH, "applied")]
    assert statuses(after)["api-list-logs"] == "pass"


def _demoted_admin(scenario: str) -> Any:
    """The scenario, but the admin holds no directory role and only Reader in Azure (the
    tool was consented earlier, so the sign-in works; what is missing is the role)."""
    from cipp_setup.engine.fixes import WRITE_GRAPH_PERMISSIONS
    from cipp_setup.gateways.auth import READ_GRAPH_PERMISSIONS

    state = load_scenario(scenario)
    admin_id = state.identities.admin_user_id
    for ra in list(state.role_assignments_for(admin_id)):
        state.remove_role_assignment(ra.id)
    for a in list(state.arm_assignments_for(admin_id)):
        state.remove_arm_role_assignment(a.name)
        state.add_arm_role_assignment(ArmRoleAssignment(
            name="33333333-3333-4333-8333-333333333333", scope=a.scope, role_definition_id=wk.READER,
            principal_id=admin_id, principal_type="User"))
    tool_sp = tool_service_principal(state)
    for resource, scope in (
        (wk.MICROSOFT_GRAPH_APP_ID, " ".join(READ_GRAPH_PERMISSIONS + WRITE_GRAPH_PERMISSIONS)),
        (wk.AZURE_SERVICE_MANAGEMENT_APP_ID, "user_impersonation"),
    ):
        sp = state.service_principal_by_app_id(resource)
        state.oauth2_grants[f"tool-{resource}"] = OAuth2PermissionGrant(
            id=f"tool-{resource}", client_id=tool_sp.id, consent_type="AllPrincipals", resource_id=sp.id, scope=scope)
    return state


def test_403_names_the_role_the_admin_lacks(sandbox_factory: Any, tmp_path: Path) -> None:
    h = current_harness(sandbox_factory, tmp_path, _demoted_admin("current-fresh"))

    _before, outcomes, after = run_fixes(h)

    by_action = {c.change.action: c for o in outcomes for c in o.changes}
    manifest = by_action[p.ADD_REQUIRED_APP_ROLES]
    assert manifest.status is ChangeStatus.FAILED and manifest.cause == "permission-denied"
    assert "Application Administrator" in manifest.detail and "403" in manifest.detail
    assert by_action[p.CREATE_APP_ROLE_ASSIGNMENT].status is ChangeStatus.SKIPPED
    identity = by_action[p.CREATE_MANAGED_IDENTITY_ROLE_ASSIGNMENT]
    assert identity.status is ChangeStatus.FAILED and "AuthorizationFailed" in identity.detail
    assert "Owner or User Access Administrator on the Function App" in identity.detail
    assert statuses(after)["function-app-managed-identity"] == "fail"


def test_403_on_consent_names_privileged_role_administrator(sandbox_factory: Any, tmp_path: Path) -> None:
    state = _demoted_admin("current-fresh")
    from cipp_setup.sandbox.state import DirectoryRoleAssignment

    # An Application Administrator may edit the manifest, but not consent Graph app roles.
    state.add_role_assignment(DirectoryRoleAssignment(
        id="app-admin", principal_id=state.identities.admin_user_id,
        role_definition_id=wk.APPLICATION_ADMINISTRATOR, directory_scope_id="/"))
    h = current_harness(sandbox_factory, tmp_path, state)

    _before, outcomes, _after = run_fixes(h)

    by_action = [(c.change.action, c) for o in outcomes for c in o.changes]
    assert by_action[0][1].status is ChangeStatus.APPLIED  # the manifest edit
    consent = by_action[1][1]
    assert by_action[1][0] == p.CREATE_APP_ROLE_ASSIGNMENT and consent.status is ChangeStatus.FAILED
    assert "Privileged Role Administrator or Global Administrator" in consent.detail


def test_revert_never_removes_the_identity_role(sandbox_factory: Any, tmp_path: Path) -> None:
    h = current_harness(sandbox_factory, tmp_path, "current-fresh")

    async def fix_then_plan_revert(session: Any) -> Any:
        await check_and_fix_all(session)
        return session.revert_plan()

    revert, reverts = h.run(fix_then_plan_revert, **current_inputs(h))
    assert revert.plans == () and reverts == {}
    assert p.CREATE_MANAGED_IDENTITY_ROLE_ASSIGNMENT in {e.action for e in h.journal.entries()}

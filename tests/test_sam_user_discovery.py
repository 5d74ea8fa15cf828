"""The CIPP-SAM user is found in the tenant, never assumed to be the signed-in admin.

Candidates: accounts named like CIPP's service account, owners of the CIPP-SAM app,
users holding a per-user consent to it. Exactly one → tested, and every output says who
and why; several or none → the checks that test the user say so, and `check` exits 2
naming --sam-user.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from cipp_setup.cli.main import main
from cipp_setup.sandbox.scenario import load_scenario
from cipp_setup.sandbox.state import OAuth2PermissionGrant, TenantState, User

USER_CHECKS = ("sam-user-global-admin", "sam-user-subscription-contributor")


def _run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, state: TenantState,
         *extra: str) -> tuple[int, dict[str, Any], str]:
    """`check --sandbox legacy-ready --json` against `state` (the scenario, changed by the test)."""
    import cipp_setup.sandbox.scenario as scenario_module

    monkeypatch.setattr(scenario_module, "load_scenario", lambda _name: state)
    code = main(["check", "--sandbox", "legacy-ready", "--only", ",".join(USER_CHECKS), "--json", *extra])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def _verdicts(envelope: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {c["id"]: (c["status"], c["cause"]) for c in envelope["checks"]}


def _facts(envelope: dict[str, Any], check_id: str) -> dict[str, Any]:
    """Who was tested and why, as the JSON report says it (the "CIPP-SAM user" evidence:
    "upn (object id), from <why>")."""
    check = next(c for c in envelope["checks"] if c["id"] == check_id)
    [found] = [e["found"] for e in check["evidence"] if e["setting"] == "CIPP-SAM user"]
    upn, rest = found.split(" (", 1)
    return {"sam_user_upn": upn, "sam_user_found_by": rest.split("), from ", 1)[1]}


def _sam(state: TenantState) -> User:
    return state.users[state.identities.sam_user_id]


def _add_user(state: TenantState, upn: str, display_name: str) -> User:
    user = User(id=str(uuid.uuid4()), user_principal_name=upn, display_name=display_name)
    state.users[user.id] = user
    return user


def _sam_app(state: TenantState) -> Any:
    return next(a for a in state.applications.values() if a.app_id == state.identities.sam_app_id)


def test_the_one_account_named_like_cipps_is_tested_not_the_signed_in_admin(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    state = load_scenario("legacy-ready")
    code, envelope, _ = _run(capsys, monkeypatch, state)
    assert code == 0, envelope
    for check_id in USER_CHECKS:
        facts = _facts(envelope, check_id)
        assert facts["sam_user_upn"] == "cipp-sam@contoso.example"
        assert "named like CIPP's service account" in facts["sam_user_found_by"]
    assert envelope["signed_in"] == "admin@contoso.example"


def test_text_output_names_the_user_tested_and_why(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import cipp_setup.sandbox.scenario as scenario_module

    state = load_scenario("legacy-ready")
    monkeypatch.setattr(scenario_module, "load_scenario", lambda _name: state)
    assert main(["check", "--sandbox", "legacy-ready", "--only", ",".join(USER_CHECKS)]) == 0
    out = capsys.readouterr().out
    assert "CIPP-SAM user tested: cipp-sam@contoso.example" in out
    assert "from the only candidate: named like CIPP's service account" in out


def test_two_cipp_like_accounts_are_listed_and_check_exits_2_naming_sam_user(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    state = load_scenario("legacy-ready")
    _add_user(state, "cipp-integration@contoso.example", "CIPP Integration")
    code, envelope, err = _run(capsys, monkeypatch, state)
    assert code == 2
    assert _verdicts(envelope) == {c: ("error", "sam-user-ambiguous") for c in USER_CHECKS}
    listing = next(c for c in envelope["checks"] if c["id"] == "sam-user-global-admin")["evidence"][0]["found"]
    assert "cipp-sam@contoso.example" in listing and "cipp-integration@contoso.example" in listing
    assert "--sam-user" in err and "Traceback" not in err
    # --sam-user settles it.
    code, envelope, _ = _run(capsys, monkeypatch, state, "--sam-user", "cipp-sam@contoso.example")
    assert code == 0 and _facts(envelope, "sam-user-global-admin")["sam_user_found_by"] == "--sam-user"


def test_no_candidate_exits_2_and_never_falls_back_to_the_admin(capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    state = load_scenario("legacy-ready")
    sam = _sam(state)
    sam.user_principal_name, sam.display_name = "svc-m365@contoso.example", "M365 automation"
    code, envelope, err = _run(capsys, monkeypatch, state)
    assert code == 2
    assert _verdicts(envelope) == {c: ("error", "sam-user-unknown") for c in USER_CHECKS}
    assert "--sam-user" in err


def test_the_owner_of_the_cipp_sam_app_is_found_by_that_evidence(capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    state = load_scenario("legacy-ready")
    sam = _sam(state)
    sam.user_principal_name, sam.display_name = "svc-m365@contoso.example", "M365 automation"
    _sam_app(state).owner_ids.append(sam.id)
    code, envelope, _ = _run(capsys, monkeypatch, state)
    assert code == 0
    facts = _facts(envelope, "sam-user-global-admin")
    assert facts["sam_user_upn"] == "svc-m365@contoso.example"
    assert facts["sam_user_found_by"] == "the only candidate: an owner of the CIPP-SAM app"


def test_a_per_user_consent_points_at_its_user(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    state = load_scenario("legacy-ready")
    sam = _sam(state)
    sam.user_principal_name, sam.display_name = "svc-m365@contoso.example", "M365 automation"
    sam_sp = state.service_principal_by_app_id(state.identities.sam_app_id)
    graph_sp = next(sp for sp in state.service_principals.values() if sp.display_name == "Microsoft Graph")
    grant = OAuth2PermissionGrant(id=str(uuid.uuid4()), client_id=sam_sp.id, consent_type="Principal",
                                  resource_id=graph_sp.id, scope="User.Read", principal_id=sam.id)
    state.oauth2_grants[grant.id] = grant
    code, envelope, _ = _run(capsys, monkeypatch, state)
    assert code == 0
    assert _facts(envelope, "sam-user-global-admin")["sam_user_found_by"] == \
        "the only candidate: holds a per-user consent to the CIPP-SAM app"


def test_the_signed_in_admin_only_when_the_evidence_points_at_them(capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    state = load_scenario("legacy-ready")
    sam = _sam(state)
    sam.user_principal_name, sam.display_name = "svc-m365@contoso.example", "M365 automation"
    _sam_app(state).owner_ids.append(state.identities.admin_user_id)
    _code, envelope, _ = _run(capsys, monkeypatch, state)
    facts = _facts(envelope, "sam-user-global-admin")
    assert facts["sam_user_upn"] == "admin@contoso.example"
    assert facts["sam_user_found_by"] == "the only candidate: an owner of the CIPP-SAM app (the signed-in admin)"

"""Issue 11's scenarios give their documented verdicts through `check --json`, and their
fixes converge; a finished legacy setup after `revert` is checked "given back", exit 0.

The expected verdicts are read from each scenario file's own comment header (the lines
`#   <check-id>  <status>  [<cause>]` and `# Exit code: N`), so the file documents what
this test proves. docs/scenarios.md lists each of them. Every wait of a fix or a revert
moves the sandbox clock (tests/fixsupport.py); nothing sleeps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cipp_setup.cli.main import main
from cipp_setup.engine.model import Secret, Status
from cipp_setup.sandbox.scenario import load_scenario
from cipp_setup.sandbox.state import TenantState
from fixsupport import check_and_fix_all, harness
from scenario_verdicts import SCENARIOS, documented

DOCS = Path(__file__).resolve().parents[1] / "docs" / "scenarios.md"

NEW = (
    "legacy-ready", "legacy-finished-given-back", "legacy-finished-rights-held", "legacy-two-sam-candidates",
    "legacy-no-sam-candidate", "legacy-subscription-disabled", "legacy-subscription-deleted",
    "legacy-subscription-warned", "legacy-subscription-past-due", "current-user-assigned-identity",
)
@pytest.fixture(autouse=True)
def _state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("CIPP_SETUP_STATE_DIR", str(state))
    for name in ("CIPP_API_CLIENT_SECRET", "NO_COLOR", "FORCE_COLOR", "CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    return state


def check_json(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str,
               state: TenantState | None = None, *extra: str) -> tuple[int, dict[str, Any], str]:
    """`check --sandbox NAME --json`, against `state` when given (a tenant a test changed)."""
    if state is not None:
        import cipp_setup.sandbox.scenario as scenario_module

        monkeypatch.setattr(scenario_module, "load_scenario", lambda _name: state)
    code = main(["check", "--sandbox", name, "--json", *extra])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def verdicts(envelope: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {c["id"]: (c["status"], c["cause"]) for c in envelope["checks"]}


@pytest.mark.parametrize("name", NEW)
def test_each_scenario_gives_its_documented_verdicts(name: str, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    expected, exit_code = documented(name)
    code, envelope, err = check_json(capsys, monkeypatch, name)
    got = verdicts(envelope)
    assert {k: got.get(k) for k in expected} == expected, err
    assert code == exit_code == envelope["exit_code"], err
    assert f"`{name}`" in DOCS.read_text(encoding="utf-8"), f"docs/scenarios.md does not list {name}"
    # Every output says which CIPP-SAM user was tested, and why; never the admin by default.
    sam = envelope["sam_user"]
    if name in ("legacy-two-sam-candidates", "legacy-no-sam-candidate") or name.startswith("current-"):
        assert sam is None
    else:
        assert sam["upn"] == "cipp-sam@contoso.example" and "named like CIPP's service account" in sam["found_by"]
        assert sam["signed_in_admin"] is False
        assert "CIPP-SAM user tested: cipp-sam@contoso.example" in err


def test_rights_still_held_name_the_exact_revert_command(capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _code, envelope, err = check_json(capsys, monkeypatch, "legacy-finished-rights-held")
    held = [c for c in envelope["checks"] if c["cause"] == "activation-rights-still-held"]
    assert [c["id"] for c in held] == ["sam-user-global-admin", "sam-user-subscription-contributor"]
    for check in held:
        assert check["needed"] == "during-activation"
        assert "cipp-setup revert --sandbox legacy-finished-rights-held" in check["remediation"]["steps"]
        assert check["remediation"]["portal"]  # and how to remove it by hand
    assert "cipp-setup revert --sandbox legacy-finished-rights-held" in err


def _fix_converges(sandbox: Any, tmp_path: Path, *, write_easy_auth: bool = False,
                   **inputs: Any) -> tuple[Any, Any]:
    """check → fix every failure → check; then a second round plans nothing applicable."""
    h = harness(sandbox, tmp_path)

    async def body(session: Any) -> tuple[Any, Any, list[Any]]:
        session.write_easy_auth = write_easy_auth
        session.on_new_secret = lambda _new: None
        before, outcomes, after = await check_and_fix_all(session)
        assert all(o.passes for o in outcomes), [(o.plan.check_id, [c.detail for c in o.changes]) for o in outcomes]
        again = [p for p in session.plans((await session.check()).results) if p.applicable]
        return before, after, again

    before, after, again = h.run(body, **inputs)
    assert after.ok, [(r.check_id, r.status.value, r.cause) for r in after.results]
    assert again == []  # a second fix changes nothing
    return before, after


@pytest.mark.parametrize(("name", "sam_user"), [("legacy-two-sam-candidates", "cipp-sam@contoso.example"),
                                                ("legacy-no-sam-candidate", "msp-svc@contoso.example")])
def test_without_sam_user_fix_changes_nothing_and_with_it_the_fixes_converge(
        name: str, sam_user: str, sandbox_factory: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    state = load_scenario(name)
    import cipp_setup.sandbox.scenario as scenario_module

    monkeypatch.setattr(scenario_module, "load_scenario", lambda _name: state)
    code = main(["fix", "--sandbox", name, "--yes", "--generation", "legacy"])
    err = capsys.readouterr().err
    assert code == 2 and "--sam-user" in err and "Nothing was changed" in err
    from cipp_setup.engine.journal import Journal

    # No write to the tenant was even attempted (the sign-in's own consent may be journaled).
    journal = Journal(tmp_path / "state" / "journal.jsonl")
    assert not [e for e in journal.entries() if e.check_id.startswith("sam-")]
    _fix_converges(sandbox_factory(state), tmp_path, sam_user=sam_user)
    code, envelope, err = check_json(capsys, monkeypatch, name, state, "--sam-user", sam_user)
    assert code == 0, err
    assert envelope["sam_user"]["found_by"] == "--sam-user"


def test_a_user_assigned_identity_survives_turning_the_system_identity_on(
        sandbox_factory: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    state = load_scenario("current-user-assigned-identity")
    site = state.sites[state.cipp.function_app.lower()]  # type: ignore[union-attr]
    attached = dict(site.user_assigned_identities)
    assert len(attached) == 1 and site.identity_principal_id is None
    sb = sandbox_factory(state)
    ids = sb.identities_document()
    secret = ids.get("api_client_secret")
    _fix_converges(sb, tmp_path, write_easy_auth=True, generation="current", function_app=ids["function_app_id"],
                   api_url=ids.get("api_url"), api_client_id=ids.get("api_client_id"),
                   api_client_secret=Secret(secret) if secret else None)
    assert site.identity_principal_id is not None
    assert site.user_assigned_identities == attached  # still attached, same principal
    code, _envelope, err = check_json(capsys, monkeypatch, "current-user-assigned-identity", state)
    assert code == 0, err


@pytest.mark.parametrize("name", ["legacy-subscription-warned", "legacy-subscription-past-due",
                                  "legacy-finished-given-back", "legacy-finished-rights-held"])
def test_finished_setups_have_nothing_to_fix(name: str, sandbox_factory: Any, tmp_path: Path) -> None:
    """Nothing to fix: fix plans nothing (it never re-grants an activation right while
    ListLogs answers), and the run passes."""
    sb = sandbox_factory(name)
    ids = sb.identities_document()
    secret = ids.get("api_client_secret")
    before, after = _fix_converges(sb, tmp_path, api_url=ids.get("api_url"), api_client_id=ids.get("api_client_id"),
                                   api_client_secret=Secret(secret) if secret else None)
    assert before.ok and [r.status for r in before.results] == [r.status for r in after.results]


@pytest.mark.parametrize("name", ["legacy-subscription-disabled", "legacy-subscription-deleted"])
def test_a_read_only_subscription_offers_no_fix(name: str, sandbox_factory: Any, tmp_path: Path) -> None:
    h = harness(sandbox_factory(name), tmp_path)

    async def body(session: Any) -> Any:
        before = await session.check()
        return before, [p for p in session.plans(before.results) if p.applicable]

    before, plans = h.run(body)
    assert not before.ok and plans == []


def test_a_finished_legacy_setup_after_revert_is_given_back_and_exits_0(
        sandbox_factory: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """fix → activate the API in CIPP → check (rights still held, revert named) → revert →
    check: the activation rights read "given back", from the journal, and the run exits 0."""
    state = load_scenario("legacy-fresh")
    sb = sandbox_factory(state)
    h = harness(sb, tmp_path)  # its journal is $CIPP_SETUP_STATE_DIR/journal.jsonl

    async def fix(session: Any) -> None:
        _before, outcomes, after = await check_and_fix_all(session)
        assert outcomes and all(o.passes for o in outcomes) and after.ok

    h.run(fix)
    sb.control.activate_legacy_api()
    ids = sb.identities_document()
    api = {"api_url": ids["api_url"], "api_client_id": ids["api_client_id"],
           "api_client_secret": Secret(ids["api_client_secret"])}

    async def revert(session: Any) -> tuple[Any, Any]:
        held = await session.check()
        plan, reverts = session.revert_plan()
        outcomes = [await session.revert(removal, reverts) for removal in plan.plans]
        assert len(outcomes) == 2 and all(o.applied and not o.failed for o in outcomes)
        return held, await session.check()

    held, after = h.run(revert, **api)
    by_id = {r.check_id: r for r in held.results}
    for check_id in ("sam-user-global-admin", "sam-user-subscription-contributor"):
        assert (by_id[check_id].status, by_id[check_id].cause) == (Status.WARN, "activation-rights-still-held")
        assert by_id[check_id].facts["revertable"] is True  # cipp-setup granted it: revert removes it
    assert after.ok
    assert {r.check_id: (r.status, r.cause) for r in after.results if r.status is Status.NOT_NEEDED} == {
        "sam-user-global-admin": (Status.NOT_NEEDED, "given-back-after-activation"),
        "sam-user-subscription-contributor": (Status.NOT_NEEDED, "given-back-after-activation"),
    }
    # The CLI, reading the same journal and tenant: exit 0, and it says the rights went back.
    code, envelope, err = check_json(capsys, monkeypatch, "legacy-fresh", state)
    assert code == 0 and envelope["status"] == "passed", err
    assert verdicts(envelope)["sam-user-global-admin"] == ("not-needed", "given-back-after-activation")
    assert verdicts(envelope)["sam-user-subscription-contributor"] == ("not-needed", "given-back-after-activation")
    assert "given back by cipp-setup revert" in err
    assert "Every required check passed or is not needed any more" in err

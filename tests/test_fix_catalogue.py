"""Meta-tests over the fix machinery: the catalogue's planners and the one action table.

- every action kind a planner can emit has an applier in `engine.actions.ACTIONS`;
- every applier there is reachable from some planner;
- a planner emits only the kinds its check declares (`fix_actions`), read from its source;
- every fixable check has a built-in scenario whose fix converges: the check fails, its
  plan is applied against the sandbox, and the check then passes.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pytest
from cipp_setup.checks import CATALOGUE
from fixsupport import check_and_fix_all, harness

from cipp_setup.engine import plan as p
from cipp_setup.engine import revert
from cipp_setup.engine.actions import ACTIONS, applier_for
from cipp_setup.engine.model import FixableCheck, Secret

FIXABLE = CATALOGUE.fixable()
FIXABLE_IDS = [c.spec.id for c in FIXABLE]

# check id -> (built-in scenario where it fails and its fix converges, generation, opt in
# to the writes the check leaves to a person by default)
CONVERGES_IN: dict[str, tuple[str, str, bool]] = {
    "sam-user-global-admin": ("legacy-fresh", "legacy", False),
    "sam-app-azure-management-consent": ("legacy-consent-missing", "legacy", False),
    "sam-user-subscription-contributor": ("legacy-fresh", "legacy", False),
    "sam-app-graph-application-permissions": ("current-fresh", "current", False),
    "sam-user-app-registration": ("current-user-writes", "current", False),
    "function-app-managed-identity": ("current-no-managed-identity", "current", False),
    "api-client-app": ("current-identifier-uri-missing", "current", False),
    "api-easy-auth": ("current-not-saved", "current", True),
}


def test_every_action_a_planner_can_emit_has_an_applier() -> None:
    for check in FIXABLE:
        assert check.fix_actions, check.spec.id
        missing = check.fix_actions - set(ACTIONS)
        assert not missing, f"{check.spec.id} plans {sorted(missing)}, which no applier applies"
        for action in check.fix_actions:
            assert callable(applier_for(action))


def test_every_applier_is_reachable_from_some_planner() -> None:
    emitted = set().union(*(c.fix_actions for c in FIXABLE))
    assert set(ACTIONS) - emitted == set()


def test_the_action_kinds_are_the_appliers_and_reverts_removals() -> None:
    removals = set(revert._UNDO_ACTION.values())
    assert set(ACTIONS) | removals == set(p.ALL_ACTIONS)
    assert set(ACTIONS) & removals == set()
    with pytest.raises(KeyError, match="no applier for action kind"):
        applier_for(p.DELETE_ARM_ROLE_ASSIGNMENT)


def _action_names_in(source: str) -> set[str]:
    """The plan.py action constants (`p.X`) a piece of source names."""
    constants = {name: value for name, value in vars(p).items() if name.isupper() and value in p.ALL_ACTIONS}
    return {constants[node.attr] for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "p"
            and node.attr in constants}


@pytest.mark.parametrize("check", FIXABLE, ids=FIXABLE_IDS)
def test_fix_actions_lists_exactly_what_the_checks_file_plans(check: FixableCheck) -> None:
    source = Path(inspect.getfile(type(check))).read_text(encoding="utf-8")
    assert _action_names_in(source) == set(check.fix_actions)


def test_a_plan_with_an_undeclared_action_is_a_planning_error() -> None:
    from cipp_setup.engine.catalogue import Catalogue
    from cipp_setup.engine.fixes import plan_fix
    from cipp_setup.engine.model import CheckResult, Status
    from cipp_setup.engine.planning import PlanningError

    honest = CATALOGUE.get("sam-user-subscription-contributor")

    class Liar(type(honest)):  # type: ignore[misc]
        fix_actions = frozenset({p.CREATE_DIRECTORY_ROLE_ASSIGNMENT})

    liar = Catalogue((Liar(),))
    result = CheckResult("sam-user-subscription-contributor", Status.FAIL, "s", cause="no-contributor",
                         facts={"sam_user_id": "u", "subscription_id": "s"})
    with pytest.raises(PlanningError, match="create-arm-role-assignment"):
        plan_fix(result, _ctx(), liar)


def _ctx() -> Any:
    from cipp_setup.cloud import CLOUDS
    from cipp_setup.engine.context import CheckContext, CheckInputs

    return CheckContext(inputs=CheckInputs(tenant="contoso.example"), cloud=CLOUDS["public"], gateways=None)


def test_every_fixable_check_has_a_converging_scenario() -> None:
    assert sorted(CONVERGES_IN) == sorted(FIXABLE_IDS)


@pytest.mark.parametrize("check_id", sorted(CONVERGES_IN))
def test_the_fix_converges_in_its_scenario(check_id: str, sandbox_factory: Any, tmp_path: Path) -> None:
    scenario, generation, opt_in = CONVERGES_IN[check_id]
    h = harness(sandbox_factory(scenario), tmp_path)
    ids = h.sandbox.identities_document()
    extra: dict[str, Any] = {"generation": generation}
    if generation == "current":
        secret = ids.get("api_client_secret")
        extra.update(function_app=ids["function_app_id"], api_url=ids.get("api_url"),
                     api_client_id=ids.get("api_client_id"),
                     api_client_secret=Secret(secret) if secret else None)

    async def body(session: Any) -> tuple[Any, list[Any], Any]:
        session.write_easy_auth = opt_in
        session.on_new_secret = lambda _new: None
        return await check_and_fix_all(session)

    before, outcomes, after = h.run(body, **extra)
    assert before.result(check_id).status.value == "fail"
    mine = [o for o in outcomes if o.plan.check_id == check_id]
    assert len(mine) == 1 and mine[0].plan.applicable
    assert mine[0].passes, [c.detail for c in mine[0].changes]
    assert after.result(check_id).status.value in ("pass", "warn")

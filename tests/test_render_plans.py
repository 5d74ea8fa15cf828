"""How a plan reads before the admin says yes: undo wording per kind of change."""

from __future__ import annotations

from cipp_setup.engine import plan as p
from cipp_setup.render.plans import plan_lines
from cipp_setup.render.text import plain


def _change(action: str, *, reversible: bool) -> p.PlannedChange:
    return p.PlannedChange(
        check_id="sam-user-global-admin", action=action, api="Microsoft Graph",
        target="CIPP-SAM user", before="a", after="b", admin_role_needed="Global Administrator",
        grants_privilege=action.startswith("create-"), reversible=reversible,
    )


def _text(change: p.PlannedChange) -> str:
    plan = p.FixPlan(check_id=change.check_id, title="t", cause=None, changes=(change,))
    return plain(plan_lines(plan))


def test_the_temporary_rights_say_revert_undoes_them() -> None:
    assert "undone by 'cipp-setup revert'" in _text(_change(p.CREATE_DIRECTORY_ROLE_ASSIGNMENT, reversible=True))


def test_a_removal_in_a_revert_plan_says_what_it_is() -> None:
    text = _text(_change(p.DELETE_DIRECTORY_ROLE_ASSIGNMENT, reversible=False))
    assert "removes a right cipp-setup added earlier" in text
    assert "not undone" not in text


def test_a_consent_change_says_revert_leaves_it() -> None:
    assert "not undone by 'cipp-setup revert'" in _text(_change(p.CREATE_OAUTH2_PERMISSION_GRANT, reversible=False))

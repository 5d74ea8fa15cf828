"""The large-tenant generator: sizes, spread, indexes, and that it leaves the scenario alone."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

import pytest

from cipp_setup import wellknown
from cipp_setup.sandbox import ScenarioError, load_scenario
from cipp_setup.sandbox.generator import FILLER_ROOT_GROUP, grow


def test_grow_adds_exactly_the_requested_sizes() -> None:
    state = load_scenario("legacy-fresh")
    users, assignments = len(state.users), len(state.role_assignments)
    subscriptions, groups = len(state.subscriptions), len(state.management_groups)
    grow(state, users=500, role_assignments=1200, subscriptions=120)
    assert len(state.users) == users + 500
    assert len(state.role_assignments) == assignments + 1200
    assert len(state.subscriptions) == subscriptions + 120
    # 120 subscriptions in groups of 50 → 3 groups, plus the "Filler" parent.
    assert len(state.management_groups) == groups + 4


def test_filler_is_indexed_and_realistic() -> None:
    state = load_scenario("legacy-fresh")
    grow(state, users=300, role_assignments=900, subscriptions=60)
    user = state.user_by_upn("filler000042@contoso.example")
    assert user is not None and user.account_enabled and user.user_type == "Member"
    assert state.users[user.id] is user
    assigned = state.role_assignments_for(user.id)
    assert assigned and all(a.principal_id == user.id for a in assigned)
    pairs = Counter((a.principal_id, a.role_definition_id) for a in state.role_assignments.values())
    assert max(pairs.values()) == 1, "no principal holds the same role twice"
    roles = Counter(a.role_definition_id for a in state.role_assignments.values())
    assert set(roles) == set(state.role_definitions), "spread over every built-in role"
    assert roles[wellknown.GLOBAL_ADMINISTRATOR] > 1
    filler_sub = next(
        s for s in state.subscriptions.values() if s.display_name.startswith("Filler")
    )
    ancestors = state.scope_ancestors(f"/subscriptions/{filler_sub.subscription_id}")
    assert ancestors[-3:] == [
        f"/providers/Microsoft.Management/managementGroups/{FILLER_ROOT_GROUP}",
        f"/providers/Microsoft.Management/managementGroups/{state.tenant_id}",
        "/",
    ]


def test_grow_never_touches_the_scenarios_own_people() -> None:
    state = load_scenario("legacy-fresh")
    own_users = set(state.users)
    own_assignments = set(state.role_assignments)
    grow(state, users=50, role_assignments=350)
    added = [a for aid, a in state.role_assignments.items() if aid not in own_assignments]
    assert len(added) == 350
    assert all(a.principal_id not in own_users for a in added)
    assert all(state.users[a.principal_id].user_principal_name.startswith("filler") for a in added)


def test_growing_twice_continues_without_collisions() -> None:
    state = load_scenario("legacy-ready")
    grow(state, users=100, subscriptions=60)
    grow(state, users=100, subscriptions=60)
    assert (
        len([u for u in state.users.values() if u.user_principal_name.startswith("filler")]) == 200
    )
    assert state.user_by_upn("filler000200@contoso.example") is not None
    assert (
        len([s for s in state.subscriptions.values() if s.display_name.startswith("Filler")]) == 120
    )


def test_generated_ids_are_deterministic() -> None:
    first, second = load_scenario("legacy-ready"), load_scenario("legacy-ready")
    grow(first, users=20, role_assignments=40, subscriptions=5)
    grow(second, users=20, role_assignments=40, subscriptions=5)
    assert sorted(first.users) == sorted(second.users)
    assert sorted(first.role_assignments) == sorted(second.role_assignments)
    assert sorted(first.subscriptions) == sorted(second.subscriptions)


def test_impossible_sizes_are_refused() -> None:
    state = load_scenario("legacy-ready")
    with pytest.raises(ValueError, match="need at least"):
        grow(state, users=1, role_assignments=100)
    with pytest.raises(ValueError):
        grow(state, users=-1)


def test_size_in_a_scenario_file(tmp_path: Path) -> None:
    path = tmp_path / "sized.yaml"
    path.write_text(
        textwrap.dedent("""\
        description: Sized.
        extends: legacy-ready
        size: {users: 40, role_assignments: 80, subscriptions: 51}
        """),
        encoding="utf-8",
    )
    state = load_scenario(path)
    assert len(state.users) == 3 + 40
    assert len(state.role_assignments) == 2 + 80
    assert len(state.subscriptions) == 1 + 51

    bad = tmp_path / "bad-size.yaml"
    bad.write_text(
        "description: bad\ntenant: {domain: a.example}\nsize: {role_assignments: 5}\n",
        encoding="utf-8",
    )
    with pytest.raises(
        ScenarioError, match=r"bad-size.yaml: size.role_assignments: .*need at least"
    ):
        load_scenario(bad)


@pytest.mark.slow
def test_the_large_builtin_has_the_promised_size_and_the_same_people() -> None:
    state = load_scenario("legacy-ready-large")
    assert len(state.users) == 100_000 + 3
    assert len(state.role_assignments) == 20_000 + 2
    assert len(state.subscriptions) == 2_000 + 1
    small = load_scenario("legacy-ready")
    sam = state.identities.sam_user_id
    assert sam is not None
    # Same verdict-relevant facts as legacy-ready: the SAM user's roles are untouched.
    assert {a.role_definition_id for a in state.role_assignments_for(sam)} == {
        wellknown.GLOBAL_ADMINISTRATOR
    }
    assert len(state.arm_assignments_for(sam)) == len(
        small.arm_assignments_for(small.identities.sam_user_id or "")
    )

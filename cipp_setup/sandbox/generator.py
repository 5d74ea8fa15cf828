"""Large tenants for benchmarks: grow a scenario's state with generated filler.

`grow(state, users=N, role_assignments=N, subscriptions=N)` adds, on top of whatever the
scenario defined:

- N filler users (``filler000001@{domain}`` ...), member accounts that can sign in;
- N active directory role assignments spread over the filler users and the tenant's
  built-in roles (Global Administrator included, as in a real tenant: a check must find
  *its* user's roles with a filter, never by scanning everybody's);
- N subscriptions in a two-level management-group tree under the tenant root group
  ("Filler" → "Filler 001" ... with up to 50 subscriptions each), so ARM inheritance has
  real depth to walk.

It never touches the scenario's own objects, so a large tenant gives the same verdicts as
the small one. Speed matters (the 100,000-user tenant must load in well under two
seconds): objects are built directly, ids come from a per-scenario prefix plus a counter
instead of one uuid5 each, and the indexes are updated in bulk.
"""

from __future__ import annotations

import base64
import uuid

from cipp_setup.sandbox.state import (
    DirectoryRoleAssignment,
    ManagementGroup,
    Subscription,
    TenantState,
    User,
)

_NAMESPACE = uuid.UUID("5d0f3e2a-7c41-5b8e-a9d2-64c1f0e8b7a3")
SUBSCRIPTIONS_PER_MANAGEMENT_GROUP = 50
FILLER_USER_PREFIX = "filler"
FILLER_ROOT_GROUP = "mg-filler"


class _Ids:
    """GUIDs ``{prefix}-{counter:012x}``: unique per (seed, kind), cheap to make in bulk."""

    def __init__(self, seed: str, kind: str) -> None:
        base = uuid.uuid5(_NAMESPACE, f"{seed}/{kind}")
        text = str(base)
        self.prefix = text[:24]  # "xxxxxxxx-xxxx-xxxx-xxxx-"
        # bytes_le of the first three fields + clock_seq: the same for every id of this kind.
        self.prefix_le = base.bytes_le[:10]

    def text(self, n: int) -> str:
        return f"{self.prefix}{n:012x}"

    def bytes_le(self, n: int) -> bytes:
        return self.prefix_le + n.to_bytes(6, "big")


def _existing_filler_users(state: TenantState) -> int:
    count = 0
    while (
        f"{FILLER_USER_PREFIX}{count + 1:06d}@{state.default_domain}".lower() in state._user_by_upn
    ):
        count += 1
    return count


def grow(
    state: TenantState,
    *,
    users: int = 0,
    role_assignments: int = 0,
    subscriptions: int = 0,
    seed: str | None = None,
) -> None:
    """Add filler users, directory role assignments and subscriptions to `state`.

    Role assignments go to filler users only (never to the scenario's own people), so
    `role_assignments` needs filler users: at most (filler users × roles) of them.
    Raises ValueError for an impossible request.
    """
    if min(users, role_assignments, subscriptions) < 0:
        raise ValueError("sizes must be 0 or more")
    seed = seed or state.scenario_name
    with state.lock:
        first_user = _existing_filler_users(state) + 1
        if users:
            _add_users(state, seed, first_user, users)
        filler_count = first_user - 1 + users
        if role_assignments:
            roles = sorted(state.role_definitions)
            if filler_count * len(roles) < role_assignments:
                raise ValueError(
                    f"{role_assignments} role assignments need at least "
                    f"{-(-role_assignments // max(1, len(roles)))} filler users ({len(roles)} roles each)"
                )
            _add_role_assignments(state, seed, filler_count, roles, role_assignments)
        if subscriptions:
            _add_subscriptions(state, seed, subscriptions)


def _add_users(state: TenantState, seed: str, first: int, count: int) -> None:
    ids = _Ids(seed, "filler-user")
    domain = state.default_domain
    new_users: dict[str, User] = {}
    by_upn: dict[str, str] = {}
    for n in range(first, first + count):
        uid = ids.text(n)
        upn = f"{FILLER_USER_PREFIX}{n:06d}@{domain}"
        new_users[uid] = User(
            id=uid,
            user_principal_name=upn,
            display_name=f"Filler User {n:06d}",
            mail=upn,
        )
        by_upn[upn.lower()] = uid
    state.users.update(new_users)
    state._user_by_upn.update(by_upn)


def _add_role_assignments(
    state: TenantState, seed: str, filler_users: int, roles: list[str], count: int
) -> None:
    user_ids = _Ids(seed, "filler-user")
    role_le = [uuid.UUID(r).bytes_le for r in roles]
    index = state._role_assignments_by_principal
    assignments = state.role_assignments
    n_roles = len(roles)
    for i in range(count):
        user_n = i % filler_users + 1
        # Each pass over the users shifts the role, so no (user, role) pair repeats.
        role_i = (i // filler_users + user_n) % n_roles
        principal = user_ids.text(user_n)
        # Graph's unifiedRoleAssignment id: base64url(role bytes + principal bytes) + "-1".
        aid = (
            base64.urlsafe_b64encode(role_le[role_i] + user_ids.bytes_le(user_n))
            .decode("ascii")
            .rstrip("=")
            + "-1"
        )
        assignments[aid] = DirectoryRoleAssignment(
            id=aid, principal_id=principal, role_definition_id=roles[role_i]
        )
        members = index.get(principal)
        if members is None:
            index[principal] = {aid}
        else:
            members.add(aid)


def _add_subscriptions(state: TenantState, seed: str, count: int) -> None:
    ids = _Ids(seed, "filler-subscription")
    root = state.tenant_id
    groups = state.management_groups
    if FILLER_ROOT_GROUP not in groups:
        groups[FILLER_ROOT_GROUP] = ManagementGroup(
            name=FILLER_ROOT_GROUP, display_name="Filler", parent_name=root
        )
    first = (
        sum(1 for s in state.subscriptions.values() if s.subscription_id.startswith(ids.prefix)) + 1
    )
    for n in range(first, first + count):
        group_n = (n - 1) // SUBSCRIPTIONS_PER_MANAGEMENT_GROUP + 1
        group = f"{FILLER_ROOT_GROUP}-{group_n:03d}"
        if group not in groups:
            groups[group] = ManagementGroup(
                name=group, display_name=f"Filler {group_n:03d}", parent_name=FILLER_ROOT_GROUP
            )
        sid = ids.text(n)
        state.subscriptions[sid] = Subscription(
            subscription_id=sid, display_name=f"Filler Subscription {n:04d}", management_group=group
        )

"""Azure RBAC evaluation for the sandbox's ARM: who holds which action at which scope.

ARM decides a request from the caller's *effective* role assignments: those made to the
caller itself or to any group it belongs to (transitively), at the request's scope or
any scope above it (resource → resource group → subscription → management groups → "/").
An assignment grants an action when one of its role's `actions` matches and none of its
`notActions` does; patterns use `*` as a wildcard and compare case-insensitively, as
Azure does ("Microsoft.Authorization/*/Write" denies "Microsoft.Authorization/roleAssignments/write").

Every look-up starts from the principal's own assignments (`state.arm_assignments_for`),
never from a scan of all assignments, so a tenant with thousands of subscriptions answers
as fast as one with a single subscription.
"""

from __future__ import annotations

import re
from functools import lru_cache

from cipp_setup.sandbox.state import ArmRoleAssignment, ArmRoleDefinition, TenantState


@lru_cache(maxsize=512)
def _pattern(pattern: str) -> re.Pattern[str]:
    parts = (re.escape(p) for p in pattern.split("*"))
    return re.compile("^" + ".*".join(parts) + "$", re.IGNORECASE)


def action_matches(pattern: str, action: str) -> bool:
    """Whether an RBAC action pattern (with `*` wildcards) covers `action`."""
    return _pattern(pattern).match(action) is not None


def role_permits(role: ArmRoleDefinition, action: str) -> bool:
    """`actions` minus `notActions`, as Azure evaluates one role definition."""
    if not any(action_matches(p, action) for p in role.actions):
        return False
    return not any(action_matches(p, action) for p in role.not_actions)


def principal_and_groups(state: TenantState, object_id: str) -> list[str]:
    """The principal itself and every group it is a member of, directly or through groups."""
    return [object_id] + [g.id for g in state.transitive_groups_of(object_id)]


def assignments_of(state: TenantState, object_id: str, *, include_groups: bool = True) -> list[ArmRoleAssignment]:
    """Assignments made to the principal (and, by default, to its groups)."""
    ids = principal_and_groups(state, object_id) if include_groups else [object_id]
    out: list[ArmRoleAssignment] = []
    for pid in ids:
        out.extend(state.arm_assignments_for(pid))
    return out


def normalize_scope(scope: str) -> str:
    """A scope as a comparable key: lower case, no trailing slash, "/" for the root."""
    s = scope.strip().rstrip("/").lower()
    return s or "/"


def ancestor_keys(state: TenantState, scope: str) -> set[str]:
    """The scope and every scope above it, normalized."""
    return {normalize_scope(s) for s in state.scope_ancestors(scope if scope else "/")}


def is_at_or_above(state: TenantState, assignment_scope: str, scope: str, *, _cache: dict[str, set[str]] | None = None) -> bool:
    """Whether an assignment at `assignment_scope` is inherited by `scope`."""
    keys = ancestor_keys(state, scope) if _cache is None else _cache.setdefault(scope, ancestor_keys(state, scope))
    return normalize_scope(assignment_scope) in keys


def is_below(state: TenantState, assignment_scope: str, scope: str) -> bool:
    """Whether `assignment_scope` lies strictly under `scope` (e.g. an RG under a subscription)."""
    target = normalize_scope(scope)
    if normalize_scope(assignment_scope) == target:
        return False
    return target in ancestor_keys(state, assignment_scope)


def effective_assignments(state: TenantState, object_id: str, scope: str) -> list[ArmRoleAssignment]:
    """The caller's assignments (own and groups') that apply at `scope` (at it or above)."""
    keys = ancestor_keys(state, scope)
    return [a for a in assignments_of(state, object_id) if normalize_scope(a.scope) in keys]


def is_authorized(state: TenantState, object_id: str, action: str, scope: str) -> bool:
    """Whether the caller's effective assignments at `scope` grant `action`."""
    for assignment in effective_assignments(state, object_id, scope):
        role = state.arm_role_definitions.get(assignment.role_definition_id.lower())
        if role is not None and role_permits(role, action):
            return True
    return False


def authorization_failed_message(client_name: str, object_id: str, action: str, scope: str) -> str:
    """ARM's AuthorizationFailed text (see examples/arm_error_403_AuthorizationFailed.json)."""
    return (
        f"The client '{client_name}' with object id '{object_id}' does not have authorization to "
        f"perform action '{action}' over scope '{scope}' or the scope is invalid. If access was "
        "recently granted, please refresh your credentials."
    )

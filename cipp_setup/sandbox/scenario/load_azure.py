"""Loading Azure: management groups, subscriptions and resource groups, ARM roles (and PIM)."""

from __future__ import annotations

from typing import Any

from cipp_setup.sandbox.scenario.resolve import DAY, Principal, Resolver
from cipp_setup.sandbox.state import (
    ArmRoleAssignment,
    ArmRoleEligibility,
    ManagementGroup,
    ResourceGroup,
    Subscription,
)


def load_management_groups(ctx: Resolver, groups: dict[str, Any]) -> None:
    root = ctx.state.tenant_id
    for name, spec in groups.items():
        if name.lower() == root:
            raise ctx.fail(
                f"management_groups.{name}",
                "the tenant root group exists already: expected another name",
            )
        ctx.state.management_groups[name] = ManagementGroup(
            name=name,
            display_name=spec.get("display_name", name),
            parent_name=spec.get("parent") or root,
        )
    for name, spec in groups.items():
        parent = spec.get("parent")
        if parent and parent not in ctx.state.management_groups:
            defined = ", ".join(groups) or "none"
            raise ctx.fail(
                f"management_groups.{name}.parent",
                f"unknown management group {parent!r}: expected "
                f"one defined under management_groups ({defined}) or no parent for the tenant root",
            )
        # Walk up: a cycle would make inheritance loop forever.
        seen = {name}
        current = ctx.state.management_groups[name].parent_name
        while current and current != root:
            if current in seen:
                raise ctx.fail(
                    f"management_groups.{name}.parent",
                    "the parents form a cycle: expected a tree under the tenant root group",
                )
            seen.add(current)
            current = ctx.state.management_groups[current].parent_name


def load_subscriptions(ctx: Resolver, subscriptions: dict[str, Any]) -> None:
    for key, spec in subscriptions.items():
        sub_id = (spec.get("id") or ctx.derive_id("subscription", key)).lower()
        sub = Subscription(
            subscription_id=sub_id,
            display_name=spec.get("display_name", key),
            management_group=ctx.management_group(
                spec.get("management_group", "root"), f"subscriptions.{key}.management_group"
            ),
            state=spec.get("state", "Enabled"),
        )
        ctx.subscriptions[key] = sub
        ctx.state.subscriptions[sub_id] = sub
        for index, rg in enumerate(spec.get("resource_groups", [])):
            rg = {"name": rg} if isinstance(rg, str) else rg
            if (sub_id, rg["name"].lower()) in ctx.state.resource_groups:
                raise ctx.fail(
                    f"subscriptions.{key}.resource_groups[{index}]",
                    f"resource group {rg['name']!r} is listed twice",
                )
            ctx.state.resource_groups[(sub_id, rg["name"].lower())] = ResourceGroup(
                subscription_id=sub_id,
                name=rg["name"],
                location=rg.get("location", "westeurope"),
            )


def _arm_role_target(ctx: Resolver, spec: dict[str, Any], field: str) -> tuple[Principal, str, str]:
    """Who gets which Azure role where: (principal, role definition id, scope)."""
    principal = ctx.principal(spec["principal"], f"{field}.principal")
    role_id = ctx.arm_role_id(spec["role"], f"{field}.role")
    return principal, role_id, ctx.arm_scope(spec["scope"], f"{field}.scope")


def _arm_name(ctx: Resolver, spec: dict[str, Any], kind: str, index: int) -> str:
    """The entry's name (a GUID, as ARM names them): given, or derived from its place."""
    return str(spec.get("name") or ctx.derive_id(kind, f"{index}/{spec['principal']}")).lower()


def load_arm_role_assignments(ctx: Resolver, entries: list[dict[str, Any]]) -> None:
    seen: set[tuple[str, str, str]] = set()
    for index, spec in enumerate(entries):
        field = f"arm_role_assignments[{index}]"
        principal, role_id, scope = _arm_role_target(ctx, spec, field)
        marker = (principal.object_id, role_id, scope.lower())
        if marker in seen:
            raise ctx.fail(
                field,
                "this role is already assigned to this principal at this scope (ARM would "
                "answer 409 RoleAssignmentExists)",
            )
        seen.add(marker)
        ctx.state.add_arm_role_assignment(
            ArmRoleAssignment(
                name=_arm_name(ctx, spec, "arm_role_assignment", index),
                scope=scope,
                role_definition_id=role_id,
                principal_id=principal.object_id,
                principal_type=principal.arm_type,
                created_on=ctx.now - 60 * DAY,
            )
        )


def load_arm_role_eligibilities(ctx: Resolver, entries: list[dict[str, Any]]) -> None:
    """Azure PIM eligibilities: what `roleEligibilityScheduleInstances` lists, never a role."""
    for index, spec in enumerate(entries):
        principal, role_id, scope = _arm_role_target(ctx, spec, f"arm_role_eligibilities[{index}]")
        days = spec.get("expires_in_days", 365)
        eligibility = ArmRoleEligibility(
            name=_arm_name(ctx, spec, "arm_role_eligibility", index),
            scope=scope,
            role_definition_id=role_id,
            principal_id=principal.object_id,
            principal_type=principal.arm_type,
            start_time=ctx.now - 30 * DAY,
            end_time=None if days is None else ctx.now + days * DAY,
            created_on=ctx.now - 30 * DAY,
        )
        ctx.state.arm_role_eligibilities[eligibility.name] = eligibility

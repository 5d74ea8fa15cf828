"""Loading consent and assignments of applications: oauth2 grants, app role assignments."""

from __future__ import annotations

from typing import Any

from cipp_setup.sandbox.scenario.ids import b64_guid_bytes, oauth2_grant_id
from cipp_setup.sandbox.scenario.resolve import DAY, Resolver
from cipp_setup.sandbox.state import AppRoleAssignment, OAuth2PermissionGrant


def load_oauth2_grants(ctx: Resolver, entries: list[dict[str, Any]]) -> None:
    for index, spec in enumerate(entries):
        field = f"oauth2_grants[{index}]"
        client = ctx.client_sp(spec["client"], f"{field}.client")
        resource = ctx.resource_sp(spec["resource"], f"{field}.resource")
        values = spec["scope"].split() if isinstance(spec["scope"], str) else list(spec["scope"])
        for value in values:
            if ctx.find_permission(resource.oauth2_permission_scopes, value) is None:
                known = ", ".join(s.value for s in resource.oauth2_permission_scopes) or "none"
                raise ctx.fail(
                    f"{field}.scope",
                    f"{resource.display_name} exposes no delegated permission "
                    f"{value!r}: expected one of {known}",
                )
        consent_type = spec.get("consent_type", "AllPrincipals")
        principal_id = None
        if consent_type == "Principal":
            if "principal" not in spec:
                raise ctx.fail(
                    f"{field}.principal",
                    "is required when consent_type is Principal (the user who consented)",
                )
            principal_id = ctx.principal(
                spec["principal"], f"{field}.principal", ("user",)
            ).object_id
        elif "principal" in spec:
            raise ctx.fail(
                f"{field}.principal", "expected no principal for consent_type AllPrincipals"
            )
        grant = OAuth2PermissionGrant(
            id=spec.get("id") or oauth2_grant_id(client.id, resource.id, principal_id),
            client_id=client.id,
            consent_type=consent_type,
            resource_id=resource.id,
            scope=" ".join(values),
            principal_id=principal_id,
        )
        if grant.id in ctx.state.oauth2_grants:
            raise ctx.fail(
                field,
                "a grant for this client, resource and principal already exists: merge the "
                "scopes into one entry",
            )
        ctx.state.oauth2_grants[grant.id] = grant


def load_app_role_assignments(ctx: Resolver, entries: list[dict[str, Any]]) -> None:
    for index, spec in enumerate(entries):
        field = f"app_role_assignments[{index}]"
        found = ctx.principals.get(spec["principal"])
        if found is not None and found.kind == "application_without_sp":
            ctx.client_sp(spec["principal"], f"{field}.principal")
        principal = ctx.principal(spec["principal"], f"{field}.principal")
        resource = ctx.resource_sp(spec["resource"], f"{field}.resource")
        if principal.kind == "service_principal":
            display = ctx.state.service_principals[principal.object_id].display_name
            principal_type = "ServicePrincipal"
        elif principal.kind == "user":
            display = ctx.state.users[principal.object_id].display_name
            principal_type = "User"
        else:
            display = ctx.state.groups[principal.object_id].display_name
            principal_type = "Group"
        for j, value in enumerate(spec["app_roles"]):
            role_id = ctx.find_permission(resource.app_roles, value)
            if role_id is None:
                known = ", ".join(r.value for r in resource.app_roles) or "none"
                raise ctx.fail(
                    f"{field}.app_roles[{j}]",
                    f"{resource.display_name} has no app role {value!r}: expected one of {known}",
                )
            assignment_id = b64_guid_bytes(
                principal.object_id,
                ctx.derive_id(
                    "app_role_assignment", f"{spec['principal']}/{resource.id}/{role_id}"
                ),
            )
            if assignment_id in ctx.state.app_role_assignments:
                raise ctx.fail(
                    f"{field}.app_roles[{j}]", f"{value} is already assigned to this principal"
                )
            ctx.state.app_role_assignments[assignment_id] = AppRoleAssignment(
                id=assignment_id,
                principal_id=principal.object_id,
                principal_type=principal_type,
                principal_display_name=display,
                resource_id=resource.id,
                resource_display_name=resource.display_name,
                app_role_id=role_id,
                created_time=ctx.now - 30 * DAY,
            )

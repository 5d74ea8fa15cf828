"""Loading the directory: users, applications, service principals, groups, directory roles.

Applications load in two passes: first their ids, scopes and app roles (so that any
application may reference another), then what references other keys or placeholders.
"""

from __future__ import annotations

from typing import Any

from cipp_setup import wellknown
from cipp_setup.sandbox.scenario.ids import derived_secret, role_assignment_id, role_eligibility_id
from cipp_setup.sandbox.scenario.resolve import DAY, Principal, Resolver
from cipp_setup.sandbox.state import (
    Application,
    AppRole,
    DirectoryRoleAssignment,
    DirectoryRoleEligibility,
    Group,
    PasswordCredential,
    PermissionScope,
    RequiredResourceAccess,
    ResourceAccess,
    ServicePrincipal,
    User,
)


def load_users(ctx: Resolver, users: dict[str, Any]) -> None:
    seen_upns: dict[str, str] = {}
    for key, spec in users.items():
        upn = spec["upn"] if "@" in spec["upn"] else f"{spec['upn']}@{ctx.state.default_domain}"
        if upn.lower() in seen_upns:
            raise ctx.fail(
                f"users.{key}.upn",
                f"{upn!r} is already the UPN of users.{seen_upns[upn.lower()]}: "
                "expected a unique user principal name",
            )
        seen_upns[upn.lower()] = key
        local = upn.split("@")[0]
        user = User(
            id=(spec.get("id") or ctx.derive_id("user", key)).lower(),
            user_principal_name=upn,
            display_name=spec.get("display_name")
            or local.replace(".", " ").replace("-", " ").title(),
            account_enabled=spec.get("account_enabled", True),
            user_type=spec.get("user_type", "Member"),
            mail=spec.get("mail", upn),
            given_name=spec.get("given_name"),
            surname=spec.get("surname"),
            job_title=spec.get("job_title"),
            can_sign_in=spec.get("can_sign_in", True),
        )
        ctx.register("users", key, Principal("user", user.id, "users"))
        ctx.state.add_user(user)


def load_applications(ctx: Resolver, apps: dict[str, Any]) -> None:
    """First pass: ids, exposed scopes and app roles (other apps may reference them)."""
    for key, spec in apps.items():
        app_id = (spec.get("app_id") or ctx.derive_id("app_id", key)).lower()
        scopes = []
        for item in spec.get("exposed_scopes", []):
            item = {"value": item} if isinstance(item, str) else item
            scopes.append(
                PermissionScope(
                    id=(
                        item.get("id")
                        or (
                            wellknown.CIPP_API_CLIENT_SCOPE_ID
                            if item["value"] == "user_impersonation"
                            else ctx.derive_id("scope", f"{key}/{item['value']}")
                        )
                    ).lower(),
                    value=item["value"],
                    admin_consent_display_name=item.get(
                        "display_name", f"Access {spec['display_name']}"
                    ),
                    admin_consent_description=f"Allows the app to access {spec['display_name']} on behalf of the "
                    "signed-in user.",
                    type=item.get("type", "User"),
                )
            )
        roles = []
        for item in spec.get("app_roles", []):
            item = {"value": item} if isinstance(item, str) else item
            roles.append(
                AppRole(
                    id=(
                        item.get("id") or ctx.derive_id("app_role", f"{key}/{item['value']}")
                    ).lower(),
                    value=item["value"],
                    display_name=item.get("display_name", item["value"]),
                    allowed_member_types=item.get("allowed_member_types", ["Application"]),
                )
            )
        app = Application(
            id=(spec.get("id") or ctx.derive_id("application", key)).lower(),
            app_id=app_id,
            display_name=spec["display_name"],
            sign_in_audience=spec.get("sign_in_audience", "AzureADMyOrg"),
            oauth2_permission_scopes=scopes,
            app_roles=roles,
            requested_access_token_version=spec.get("requested_access_token_version"),
            public_client=spec.get("public_client", False),
            created_time=ctx.now - spec.get("created_days_ago", 90) * DAY,
        )
        if ctx.state.application_by_app_id(app_id) or ctx.state.service_principal_by_app_id(app_id):
            raise ctx.fail(
                f"applications.{key}.app_id",
                f"appId {app_id} is already used: expected a unique appId",
            )
        ctx.apps[key] = app
        ctx.state.add_application(app)
        sp_spec = spec.get("service_principal", True)
        if sp_spec is not False:
            sp_spec = sp_spec if isinstance(sp_spec, dict) else {}
            sp = ServicePrincipal(
                id=(sp_spec.get("id") or ctx.derive_id("service_principal", key)).lower(),
                app_id=app_id,
                display_name=app.display_name,
                app_owner_organization_id=ctx.state.tenant_id,
                account_enabled=sp_spec.get("account_enabled", True),
                app_roles=list(roles),
                oauth2_permission_scopes=list(scopes),
                service_principal_names=[app_id],
            )
            ctx.add_service_principal("applications", key, sp)
        else:
            # Still reserve the key: referring to an app without an SP must fail clearly.
            ctx.register(
                "applications",
                key,
                Principal("application_without_sp", app.id, "applications"),
            )


def load_application_details(ctx: Resolver, apps: dict[str, Any]) -> None:
    """Second pass: everything that may reference other keys or placeholders."""
    for key, spec in apps.items():
        app = ctx.apps[key]
        field = f"applications.{key}"
        app.identifier_uris = [
            ctx.substitute(u, f"{field}.identifier_uris[{i}]", app)
            for i, u in enumerate(spec.get("identifier_uris", []))
        ]
        app.web_redirect_uris = [
            ctx.substitute(u, f"{field}.web_redirect_uris[{i}]", app)
            for i, u in enumerate(spec.get("web_redirect_uris", []))
        ]
        sp = ctx.sps.get(key)
        if sp is not None:
            sp.service_principal_names = [app.app_id, *app.identifier_uris]
            sp.resource_uris = list(app.identifier_uris)
        for index, entry in enumerate(spec.get("required_resource_access", [])):
            entry_field = f"{field}.required_resource_access[{index}]"
            resource_app_id, scopes, roles, display = ctx.resource_definition(
                entry["resource"], f"{entry_field}.resource"
            )
            access: list[ResourceAccess] = []
            for kind, items, type_ in (
                ("delegated", scopes, "Scope"),
                ("application", roles, "Role"),
            ):
                for j, value in enumerate(entry.get(kind, [])):
                    permission_id = ctx.find_permission(items, value)
                    if permission_id is None:
                        known = ", ".join(i.value for i in items) or "none"
                        raise ctx.fail(
                            f"{entry_field}.{kind}[{j}]",
                            f"{display} has no {kind} permission {value!r}: expected one of {known}",
                        )
                    access.append(ResourceAccess(id=permission_id, type=type_))  # type: ignore[arg-type]
            existing = next(
                (r for r in app.required_resource_access if r.resource_app_id == resource_app_id),
                None,
            )
            if existing is None:
                app.required_resource_access.append(RequiredResourceAccess(resource_app_id, access))
            else:
                existing.resource_access.extend(access)
        for index, cred in enumerate(spec.get("password_credentials", [])):
            end = ctx.now + cred.get("expires_in_days", 365) * DAY
            start = ctx.now - cred.get("created_days_ago", 30) * DAY
            if start >= end:
                start = end - 180 * DAY
            app.password_credentials.append(
                PasswordCredential(
                    key_id=(
                        cred.get("key_id") or ctx.derive_id("password", f"{key}/{index}")
                    ).lower(),
                    display_name=cred.get("display_name"),
                    secret_text=cred.get("secret") or derived_secret(f"{ctx.name}/{key}/{index}"),
                    start_time=start,
                    end_time=end,
                )
            )
        for index, owner in enumerate(spec.get("owners", [])):
            app.owner_ids.append(
                ctx.principal(
                    owner, f"{field}.owners[{index}]", ("user", "service_principal")
                ).object_id
            )


def load_service_principals(ctx: Resolver, sps: dict[str, Any]) -> None:
    for key, spec in sps.items():
        app_id = (spec.get("app_id") or ctx.derive_id("sp_app_id", key)).lower()
        if ctx.state.service_principal_by_app_id(app_id):
            raise ctx.fail(
                f"service_principals.{key}.app_id",
                f"a service principal for appId {app_id} already exists: expected a unique appId",
            )
        sp = ServicePrincipal(
            id=(spec.get("id") or ctx.derive_id("service_principal", key)).lower(),
            app_id=app_id,
            display_name=spec["display_name"],
            service_principal_type=spec.get("type", "Application"),
            app_owner_organization_id=(spec.get("app_owner_organization_id") or "").lower() or None,
            account_enabled=spec.get("account_enabled", True),
            service_principal_names=[app_id],
        )
        ctx.add_service_principal("service_principals", key, sp)


def load_groups(ctx: Resolver, groups: dict[str, Any]) -> None:
    created: dict[str, Group] = {}
    for key, spec in groups.items():
        group = Group(
            id=(spec.get("id") or ctx.derive_id("group", key)).lower(),
            display_name=spec["display_name"],
            security_enabled=spec.get("security_enabled", True),
            mail_enabled=spec.get("mail_enabled", False),
            is_assignable_to_role=spec.get("is_assignable_to_role", False),
        )
        ctx.register("groups", key, Principal("group", group.id, "groups"))
        created[key] = group
    for key, spec in groups.items():
        group = created[key]
        for index, member in enumerate(spec.get("members", [])):
            found = ctx.principal(member, f"groups.{key}.members[{index}]")
            if found.kind == "group" and group.is_assignable_to_role:
                raise ctx.fail(
                    f"groups.{key}.members[{index}]",
                    "a role-assignable group cannot contain groups: expected a user or service principal",
                )
            if found.object_id not in group.member_ids:
                group.member_ids.append(found.object_id)
        ctx.state.add_group(group)


def load_directory_roles(ctx: Resolver, entries: list[dict[str, Any]]) -> None:
    seen: set[tuple[str, str, str, str]] = set()
    for index, spec in enumerate(entries):
        field = f"directory_roles[{index}]"
        principal = ctx.principal(spec["principal"], f"{field}.principal")
        role_id = ctx.role_definition_id(spec["role"], f"{field}.role")
        state = spec.get("state", "active")
        scope = spec.get("scope", "/")
        if principal.kind == "group":
            group = ctx.state.groups[principal.object_id]
            if not group.is_assignable_to_role:
                raise ctx.fail(
                    f"{field}.principal",
                    f"group {spec['principal']!r} is not role-assignable: a "
                    "directory role can only be assigned to a group with is_assignable_to_role: true",
                )
        marker = (principal.object_id, role_id, scope, state)
        if marker in seen:
            raise ctx.fail(
                field,
                "this role is already assigned to this principal at this scope: expected no "
                "duplicate assignments",
            )
        seen.add(marker)
        end = ctx.now + spec["expires_in_days"] * DAY if "expires_in_days" in spec else None
        if state == "active":
            ctx.state.add_role_assignment(
                DirectoryRoleAssignment(
                    id=spec.get("id") or role_assignment_id(role_id, principal.object_id),
                    principal_id=principal.object_id,
                    role_definition_id=role_id,
                    directory_scope_id=scope,
                    end_time=end,
                )
            )
        else:
            eligibility = DirectoryRoleEligibility(
                id=spec.get("id") or role_eligibility_id(role_id, principal.object_id),
                principal_id=principal.object_id,
                role_definition_id=role_id,
                directory_scope_id=scope,
                start_time=ctx.now - 30 * DAY,
                end_time=end,
            )
            ctx.state.role_eligibilities[eligibility.id] = eligibility

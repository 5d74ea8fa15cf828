"""Who may call which Graph operation: the one table, and the check Graph applies.

Graph authorizes in two steps (learn.microsoft.com/graph/permissions-overview):

1. The token's permissions. A delegated token carries `scp` (the scopes consented for
   the client app), an app-only token carries `roles` (application permissions). The
   operation's documented permission list must contain at least one of them.
2. For a delegated token, the signed-in user's own privileges as well: Graph acts as the
   user, so the user must hold a directory role that allows the operation (or own the
   object, where the operation allows owners). Roles count when they are *active*:
   assigned directly, or through a role-assignable group the user is a member of. A PIM
   eligibility does not count until activated. App-only calls skip this step.

A call that fails either step answers 403 `Authorization_RequestDenied`,
"Insufficient privileges to complete the operation."

The permission lists follow each operation's "Permissions" table in the Graph v1.0 API
reference (least to most privileged). `Directory.AccessAsUser.All` is a delegated-only
permission that lets the app do whatever the user may do, so it is accepted for the
directory's delegated operations — but not by the PIM service and the role-management
writes, which answer a token without one of their own scopes with 403
`PermissionScopeNotGranted` (Azure/azure-cli#26471, #33778: the Azure CLI's fixed Graph
set is refused there).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import wellknown as wk
from .tokens import Caller

GA = wk.GLOBAL_ADMINISTRATOR
PRA = wk.PRIVILEGED_ROLE_ADMINISTRATOR
AA = wk.APPLICATION_ADMINISTRATOR
CAA = wk.CLOUD_APPLICATION_ADMINISTRATOR


@dataclass(frozen=True)
class Rule:
    """What an operation needs.

    delegated: scopes, any one suffices (delegated tokens).
    application: app roles, any one suffices (app-only tokens).
    user_roles: directory role template ids the signed-in user must hold one of;
        None means the scope alone suffices (reads, self-service).
    owners_may: the object's owners may do it without a directory role.
    """

    delegated: frozenset[str]
    application: frozenset[str]
    user_roles: frozenset[str] | None = None
    owners_may: bool = False
    # Served outside the directory (PIM, role-management writes): a missing scope is
    # `PermissionScopeNotGranted`, and Directory.AccessAsUser.All does not count.
    scope_checked_by_service: bool = False


def _rule(delegated: str, application: str, user_roles: tuple[str, ...] | None = None,
          owners_may: bool = False, *, service: bool = False) -> Rule:
    d = frozenset(delegated.split()) | (set() if service else {"Directory.AccessAsUser.All"})
    a = frozenset(application.split())
    return Rule(d, a, None if user_roles is None else frozenset(user_roles), owners_may, service)


_USER_READ = "User.ReadBasic.All User.Read.All User.ReadWrite.All Directory.Read.All Directory.ReadWrite.All"
_GROUP_READ = "GroupMember.Read.All Group.Read.All Group.ReadWrite.All Directory.Read.All Directory.ReadWrite.All"
_MEMBER_OF = ("GroupMember.Read.All Group.Read.All User.Read.All User.ReadWrite.All Directory.Read.All "
              "Directory.ReadWrite.All")
_ROLE_READ = ("RoleManagement.Read.Directory RoleManagement.Read.All RoleManagement.ReadWrite.Directory "
              "Directory.Read.All Directory.ReadWrite.All")
_ELIG_READ = ("RoleEligibilitySchedule.Read.Directory RoleEligibilitySchedule.ReadWrite.Directory "
              "RoleManagement.Read.Directory RoleManagement.Read.All RoleManagement.ReadWrite.Directory")
_ASSIGN_SCHED_READ = ("RoleAssignmentSchedule.Read.Directory RoleAssignmentSchedule.ReadWrite.Directory "
                      "RoleManagement.Read.Directory RoleManagement.Read.All RoleManagement.ReadWrite.Directory")
_APP_READ = ("Application.Read.All Application.ReadWrite.All Application.ReadWrite.OwnedBy "
             "Directory.Read.All Directory.ReadWrite.All")
_APP_WRITE_D = "Application.ReadWrite.All Directory.ReadWrite.All"
_APP_WRITE_A = "Application.ReadWrite.OwnedBy Application.ReadWrite.All Directory.ReadWrite.All"
_APP_ADMINS = (GA, AA, CAA)
_GRANT_READ = ("DelegatedPermissionGrant.Read.All DelegatedPermissionGrant.ReadWrite.All Directory.Read.All "
               "Directory.ReadWrite.All")
_ARA_READ = ("Application.Read.All AppRoleAssignment.ReadWrite.All Application.ReadWrite.All "
             "Directory.Read.All Directory.ReadWrite.All")

# operation → rule.  Operation names are "<resource>.<verb>"; the handlers name them.
PERMISSIONS: dict[str, Rule] = {
    # signed-in user and people
    "me.read": _rule("User.Read User.ReadWrite " + _USER_READ, ""),
    "users.read": _rule(_USER_READ, _USER_READ),
    "users.memberOf": _rule(_MEMBER_OF, _MEMBER_OF),
    "me.memberOf": _rule("User.Read " + _MEMBER_OF, ""),
    "groups.read": _rule(_GROUP_READ, _GROUP_READ),
    "organization.read": _rule(
        "User.Read Organization.Read.All Organization.ReadWrite.All Directory.Read.All Directory.ReadWrite.All",
        "Organization.Read.All Organization.ReadWrite.All Directory.Read.All Directory.ReadWrite.All"),
    # directory roles (RBAC)
    "directoryRoles.read": _rule(_ROLE_READ, _ROLE_READ),
    "roleDefinitions.read": _rule(_ROLE_READ, _ROLE_READ),
    "roleAssignments.read": _rule(_ROLE_READ, _ROLE_READ),
    # Writing directory role assignments: Privileged Role Administrator or Global Administrator.
    "roleAssignments.write": _rule("RoleManagement.ReadWrite.Directory", "RoleManagement.ReadWrite.Directory",
                                   (GA, PRA), service=True),
    # PIM
    "roleEligibility.read": _rule(_ELIG_READ, _ELIG_READ, service=True),
    "roleAssignmentSchedules.read": _rule(_ASSIGN_SCHED_READ, _ASSIGN_SCHED_READ, service=True),
    # Self-activation needs only the scope: the eligibility itself is the privilege.
    "roleAssignmentScheduleRequests.self": _rule(
        "RoleAssignmentSchedule.ReadWrite.Directory RoleManagement.ReadWrite.Directory", "", service=True),
    "roleAssignmentScheduleRequests.admin": _rule(
        "RoleAssignmentSchedule.ReadWrite.Directory RoleManagement.ReadWrite.Directory",
        "RoleAssignmentSchedule.ReadWrite.Directory RoleManagement.ReadWrite.Directory", (GA, PRA),
        service=True),
    # applications
    "applications.read": _rule(_APP_READ, _APP_READ),
    "applications.create": _rule(_APP_WRITE_D, _APP_WRITE_A, _APP_ADMINS),
    "applications.write": _rule(_APP_WRITE_D, _APP_WRITE_A, _APP_ADMINS, owners_may=True),
    # service principals
    "servicePrincipals.read": _rule(_APP_READ, _APP_READ),
    "servicePrincipals.create": _rule(_APP_WRITE_D, _APP_WRITE_A, _APP_ADMINS, owners_may=True),
    "servicePrincipals.write": _rule(_APP_WRITE_D, _APP_WRITE_A, _APP_ADMINS, owners_may=True),
    "appRoleAssignments.read": _rule(_ARA_READ, _ARA_READ),
    # Granting an app role of Microsoft Graph is consent to a privileged API: only Global
    # Administrator or Privileged Role Administrator. For other resources the application
    # admin roles may grant too (see appRoleAssignments.writeOther).
    "appRoleAssignments.writeGraph": _rule("AppRoleAssignment.ReadWrite.All", "AppRoleAssignment.ReadWrite.All",
                                           (GA, PRA)),
    "appRoleAssignments.writeOther": _rule("AppRoleAssignment.ReadWrite.All", "AppRoleAssignment.ReadWrite.All",
                                           (GA, PRA, AA, CAA)),
    # delegated consent
    "oauth2PermissionGrants.read": _rule(_GRANT_READ, _GRANT_READ),
    "oauth2PermissionGrants.writeGraph": _rule("DelegatedPermissionGrant.ReadWrite.All Directory.ReadWrite.All",
                                               "DelegatedPermissionGrant.ReadWrite.All", (GA, PRA)),
    "oauth2PermissionGrants.writeOther": _rule("DelegatedPermissionGrant.ReadWrite.All Directory.ReadWrite.All",
                                               "DelegatedPermissionGrant.ReadWrite.All", (GA, PRA, AA, CAA)),
    # policies
    "policies.read": _rule(
        "Policy.Read.All Policy.Read.ApplicationConfiguration Policy.ReadWrite.ApplicationConfiguration",
        "Policy.Read.All Policy.Read.ApplicationConfiguration Policy.ReadWrite.ApplicationConfiguration"),
}


def token_allows(rule: Rule, caller: Caller) -> bool:
    if caller.kind == "user":
        return bool(rule.delegated & caller.scopes)
    return bool(rule.application & caller.roles)


def user_allowed(rule: Rule, active_role_templates: set[str], is_owner: bool) -> bool:
    """Step 2 for delegated calls: the signed-in user's own privilege."""
    if rule.user_roles is None:
        return True
    if rule.owners_may and is_owner:
        return True
    return bool(rule.user_roles & active_role_templates)

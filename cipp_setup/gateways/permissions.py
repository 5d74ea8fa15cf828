"""The delegated permissions the tool asks for: a leaf module, so that sign-in advice can
name them without importing the sign-in itself."""

from __future__ import annotations

# Delegated Microsoft Graph permissions `check` asks for: reads only. Writes are asked for
# incrementally by the fixes, when a fix is about to be applied.
READ_GRAPH_PERMISSIONS: tuple[str, ...] = (
    "User.Read.All",
    "Directory.Read.All",
    "RoleManagement.Read.Directory",
    "Application.Read.All",
    # oauth2PermissionGrants are readable with Directory.Read.All; the narrower
    # DelegatedPermissionGrant.Read.All adds nothing here (and the sandbox lacks it).
    "RoleEligibilitySchedule.Read.Directory",
    "RoleAssignmentSchedule.Read.Directory",
    # policies/defaultAppManagementPolicy (api-client-app: may secrets be added, for how long).
    "Policy.Read.All",
)

"""What every real Microsoft 365 tenant contains before anyone configures anything.

A scenario starts from this baseline and adds its own users, apps and assignments on top.
Everything here is a fact about the real services, never an invention of the sandbox:

- Microsoft Graph permission ids (app roles and oauth2PermissionScopes) come from the
  Microsoft Graph permissions reference, "All permissions and IDs" table
  (microsoftgraph/microsoft-graph-docs-contrib: concepts/includes/permissions-ids.md).
  The Role* schedule application permissions that table version lacks
  (RoleEligibilitySchedule.Read.Directory, RoleAssignmentSchedule.Read.Directory,
  RoleAssignmentSchedule.ReadWrite.Directory) were checked against the per-permission pages
  of the Graph permissions explorer and several independent dumps of the Graph service
  principal's appRoles.
- Entra ID role template ids come from the Entra built-in roles reference
  (MicrosoftDocs/entra-docs: identity/role-based-access-control/permissions-reference.md).
- Azure RBAC built-in role ids, descriptions, actions and notActions come from the Azure
  built-in roles reference (MicrosoftDocs/azure-docs:
  articles/role-based-access-control/built-in-roles/general.md and web-and-mobile.md), see
  shared/reference/examples/arm_roleDefinition_*.json.

Object ids of the first-party service principals differ in every real tenant; here they are
derived from the tenant id so that a scenario is reproducible run after run.
"""

from __future__ import annotations


from cipp_setup import wellknown
from cipp_setup.sandbox.consent import first_party_object_id, graph_catalogue, graph_display_names
from cipp_setup.sandbox.state import (
    AppRole,
    ArmRoleDefinition,
    DirectoryRoleDefinition,
    ManagementGroup,
    PermissionScope,
    ServicePrincipal,
    TenantState,
)

# The tenant that owns every first-party Microsoft application (appOwnerOrganizationId).
MICROSOFT_TENANT_ID = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"

# Display names of the first-party service principals, as Graph returns them.
MICROSOFT_GRAPH_NAME = "Microsoft Graph"
AZURE_SERVICE_MANAGEMENT_NAME = "Windows Azure Service Management API"

# Names a scenario may use for the first-party resources (short and long forms).
FIRST_PARTY_ALIASES: dict[str, str] = {
    "microsoft graph": wellknown.MICROSOFT_GRAPH_APP_ID,
    "graph": wellknown.MICROSOFT_GRAPH_APP_ID,
    "azure service management": wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID,
    "windows azure service management api": wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID,
}

# --- Microsoft Graph permissions ---------------------------------------------------------
# The catalogue is shipped data (graph_permissions.json, generated from Microsoft's published
# list with its source and commit: tools/gen_graph_permissions.py), display names included.
def _display(value: str) -> str:
    return graph_display_names().get(value, value)


def graph_app_roles() -> list[AppRole]:
    return [
        AppRole(
            id=app_id,
            value=value,
            display_name=_display(value),
            description=f"Allows the app to: {_display(value).lower()}, without a signed-in user.",
        )
        for value, app_id, _, _ in graph_catalogue()
        if app_id is not None
    ]


def graph_permission_scopes() -> list[PermissionScope]:
    return [
        PermissionScope(
            id=scope_id,
            value=value,
            admin_consent_display_name=_display(value),
            admin_consent_description=f"Allows the app to: {_display(value).lower()}.",
            type="Admin" if admin else "User",
        )
        for value, _, scope_id, admin in graph_catalogue()
        if scope_id is not None
    ]


# --- Entra ID directory roles --------------------------------------------------------------
USER_ADMINISTRATOR = "fe930be7-5e62-47db-91af-98c3a49a38b1"
SECURITY_READER = "5d6b6bb7-de71-4623-b4af-96380a352509"

# (template id, display name, description, representative allowed resource actions).
# The action lists are a subset of the real ones: the sandbox authorizes by role id, and the
# actions are served only so a roleDefinitions read looks like the real thing.
_DIRECTORY_ROLES: list[tuple[str, str, str, list[str]]] = [
    (
        wellknown.GLOBAL_ADMINISTRATOR,
        "Global Administrator",
        "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities.",
        [
            "microsoft.directory/applications/allProperties/allTasks",
            "microsoft.directory/servicePrincipals/allProperties/allTasks",
            "microsoft.directory/oAuth2PermissionGrants/allProperties/allTasks",
            "microsoft.directory/roleAssignments/allProperties/allTasks",
            "microsoft.directory/users/allProperties/allTasks",
            "microsoft.directory/groups/allProperties/allTasks",
            "microsoft.directory/privilegedIdentityManagement/allProperties/read",
            "microsoft.azure.supportTickets/allEntities/allTasks",
        ],
    ),
    (
        wellknown.PRIVILEGED_ROLE_ADMINISTRATOR,
        "Privileged Role Administrator",
        "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management.",
        [
            "microsoft.directory/roleAssignments/allProperties/allTasks",
            "microsoft.directory/roleDefinitions/allProperties/allTasks",
            "microsoft.directory/oAuth2PermissionGrants/allProperties/allTasks",
            "microsoft.directory/servicePrincipals/appRoleAssignedTo/update",
            "microsoft.directory/privilegedIdentityManagement/allProperties/allTasks",
        ],
    ),
    (
        wellknown.APPLICATION_ADMINISTRATOR,
        "Application Administrator",
        "Can create and manage all aspects of app registrations and enterprise apps.",
        [
            "microsoft.directory/applications/create",
            "microsoft.directory/applications/delete",
            "microsoft.directory/applications/credentials/update",
            "microsoft.directory/applications/permissions/update",
            "microsoft.directory/applications/basic/update",
            "microsoft.directory/servicePrincipals/create",
            "microsoft.directory/servicePrincipals/managePermissionGrantsForAll.microsoft-application-admin",
        ],
    ),
    (
        wellknown.CLOUD_APPLICATION_ADMINISTRATOR,
        "Cloud Application Administrator",
        "Can create and manage all aspects of app registrations and enterprise apps except App Proxy.",
        [
            "microsoft.directory/applications/create",
            "microsoft.directory/applications/delete",
            "microsoft.directory/applications/credentials/update",
            "microsoft.directory/applications/permissions/update",
            "microsoft.directory/servicePrincipals/create",
            "microsoft.directory/servicePrincipals/managePermissionGrantsForAll.microsoft-application-admin",
        ],
    ),
    (
        wellknown.GLOBAL_READER,
        "Global Reader",
        "Can read everything that a Global Administrator can, but not update anything.",
        [
            "microsoft.directory/applications/allProperties/read",
            "microsoft.directory/servicePrincipals/allProperties/read",
            "microsoft.directory/roleAssignments/allProperties/read",
            "microsoft.directory/oAuth2PermissionGrants/allProperties/read",
            "microsoft.directory/users/allProperties/read",
            "microsoft.directory/groups/allProperties/read",
        ],
    ),
    (
        USER_ADMINISTRATOR,
        "User Administrator",
        "Can manage all aspects of users and groups, including resetting passwords for limited admins.",
        [
            "microsoft.directory/users/allProperties/allTasks",
            "microsoft.directory/groups/allProperties/allTasks",
        ],
    ),
    (
        SECURITY_READER,
        "Security Reader",
        "Can read security information and reports in Microsoft Entra ID and Office 365.",
        [
            "microsoft.directory/auditLogs/allProperties/read",
            "microsoft.directory/signInReports/allProperties/read",
        ],
    ),
]

# --- Azure RBAC built-in roles ---------------------------------------------------------------
_ARM_ROLES: list[ArmRoleDefinition] = [
    ArmRoleDefinition(
        id=wellknown.OWNER,
        role_name="Owner",
        description="Grants full access to manage all resources, including the ability to assign roles in Azure RBAC.",
        actions=["*"],
    ),
    ArmRoleDefinition(
        id=wellknown.CONTRIBUTOR,
        role_name="Contributor",
        description=(
            "Grants full access to manage all resources, but does not allow you to assign roles "
            "in Azure RBAC, manage assignments in Azure Blueprints, or share image galleries."
        ),
        actions=["*"],
        not_actions=[
            "Microsoft.Authorization/*/Delete",
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/elevateAccess/Action",
            "Microsoft.Blueprint/blueprintAssignments/write",
            "Microsoft.Blueprint/blueprintAssignments/delete",
            "Microsoft.Compute/galleries/share/action",
            "Microsoft.Purview/consents/write",
            "Microsoft.Purview/consents/delete",
        ],
    ),
    ArmRoleDefinition(
        id=wellknown.READER,
        role_name="Reader",
        description="View all resources, but does not allow you to make any changes.",
        actions=["*/read"],
    ),
    ArmRoleDefinition(
        id=wellknown.USER_ACCESS_ADMINISTRATOR,
        role_name="User Access Administrator",
        description="Lets you manage user access to Azure resources.",
        actions=["*/read", "Microsoft.Authorization/*", "Microsoft.Support/*"],
    ),
    ArmRoleDefinition(
        id=wellknown.WEBSITE_CONTRIBUTOR,
        role_name="Website Contributor",
        description="Lets you manage websites (not web plans), but not access to them.",
        actions=[
            "Microsoft.Authorization/*/read",
            "Microsoft.Insights/alertRules/*",
            "Microsoft.Insights/components/*",
            "Microsoft.ResourceHealth/availabilityStatuses/read",
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Support/*",
            "Microsoft.Web/certificates/*",
            "Microsoft.Web/listSitesAssignedToHostName/read",
            "Microsoft.Web/serverFarms/join/action",
            "Microsoft.Web/serverFarms/read",
            "Microsoft.Web/sites/*",
        ],
    ),
]

# Names a scenario may use for ARM roles (case-insensitive) → role definition GUID.
ARM_ROLE_IDS: dict[str, str] = {r.role_name.lower(): r.id for r in _ARM_ROLES}
# Names a scenario may use for directory roles (case-insensitive) → template id.
DIRECTORY_ROLE_IDS: dict[str, str] = {name.lower(): rid for rid, name, _, _ in _DIRECTORY_ROLES}

def microsoft_graph_sp(tenant_id: str) -> ServicePrincipal:
    return ServicePrincipal(
        id=first_party_object_id(tenant_id, wellknown.MICROSOFT_GRAPH_APP_ID),
        app_id=wellknown.MICROSOFT_GRAPH_APP_ID,
        display_name=MICROSOFT_GRAPH_NAME,
        app_owner_organization_id=MICROSOFT_TENANT_ID,
        app_roles=graph_app_roles(),
        oauth2_permission_scopes=graph_permission_scopes(),
        service_principal_names=[
            wellknown.MICROSOFT_GRAPH_APP_ID,
            "https://graph.microsoft.com",
            "https://graph.microsoft.com/",
        ],
        resource_uris=["https://graph.microsoft.com"],
    )


def azure_service_management_sp(tenant_id: str) -> ServicePrincipal:
    return ServicePrincipal(
        id=first_party_object_id(tenant_id, wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID),
        app_id=wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID,
        display_name=AZURE_SERVICE_MANAGEMENT_NAME,
        app_owner_organization_id=MICROSOFT_TENANT_ID,
        oauth2_permission_scopes=[
            PermissionScope(
                id=wellknown.AZURE_SERVICE_MANAGEMENT_USER_IMPERSONATION,
                value="user_impersonation",
                admin_consent_display_name="Access Azure Service Management as organization users (preview)",
                admin_consent_description=(
                    "Allows the application to access Azure Service Management as organization users."
                ),
                type="User",
            )
        ],
        service_principal_names=[
            wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID,
            "https://management.azure.com/",
            "https://management.core.windows.net/",
        ],
        resource_uris=["https://management.azure.com/", "https://management.core.windows.net/"],
    )


def directory_role_definitions() -> list[DirectoryRoleDefinition]:
    return [
        DirectoryRoleDefinition(
            id=rid,
            display_name=name,
            description=desc,
            is_built_in=True,
            template_id=rid,
            allowed_resource_actions=list(actions),
        )
        for rid, name, desc, actions in _DIRECTORY_ROLES
    ]


def arm_role_definitions() -> list[ArmRoleDefinition]:
    return [
        ArmRoleDefinition(
            id=r.id,
            role_name=r.role_name,
            description=r.description,
            role_type=r.role_type,
            actions=list(r.actions),
            not_actions=list(r.not_actions),
            data_actions=list(r.data_actions),
            not_data_actions=list(r.not_data_actions),
            assignable_scopes=list(r.assignable_scopes),
        )
        for r in _ARM_ROLES
    ]


def baseline_state(*, tenant_id: str, default_domain: str, display_name: str) -> TenantState:
    """A fresh tenant: first-party service principals, built-in roles, the root management group."""
    tenant_id = tenant_id.lower()
    state = TenantState(
        tenant_id=tenant_id, default_domain=default_domain, display_name=display_name
    )
    for sp in (
        microsoft_graph_sp(tenant_id),
        azure_service_management_sp(tenant_id),
    ):
        state.service_principals[sp.id] = sp
    for rd in directory_role_definitions():
        state.role_definitions[rd.id] = rd
    for ad in arm_role_definitions():
        state.arm_role_definitions[ad.id] = ad
    state.management_groups[tenant_id] = ManagementGroup(
        name=tenant_id, display_name="Tenant Root Group", parent_name=None
    )
    state.reindex()
    return state

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

import uuid

from cipp_setup import wellknown
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
TOOL_PUBLIC_CLIENT_NAME = "Microsoft Graph Command Line Tools"

# Names a scenario may use for the first-party resources (short and long forms).
FIRST_PARTY_ALIASES: dict[str, str] = {
    "microsoft graph": wellknown.MICROSOFT_GRAPH_APP_ID,
    "graph": wellknown.MICROSOFT_GRAPH_APP_ID,
    "azure service management": wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID,
    "windows azure service management api": wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID,
    "microsoft graph command line tools": wellknown.TOOL_PUBLIC_CLIENT_ID,
}

# --- Microsoft Graph permissions ---------------------------------------------------------
# (value, application permission id or None, delegated permission id or None,
#  delegated consent type, display string)
_GRAPH_PERMISSIONS: list[tuple[str, str | None, str | None, str, str]] = [
    (
        "User.Read",
        None,
        "e1fe6dd8-ba31-4d61-89e7-88639da4683d",
        "User",
        "Sign in and read user profile",
    ),
    (
        "User.Read.All",
        "df021288-bdef-4463-88db-98f22de89214",
        "a154be20-db9c-4678-8ab7-66f6cc099a59",
        "Admin",
        "Read all users' full profiles",
    ),
    (
        "User.ReadBasic.All",
        "97235f07-e226-4f63-ace3-39588e11d3a1",
        "b340eb25-3456-403f-be2f-af7a0d370277",
        "User",
        "Read all users' basic profiles",
    ),
    (
        "Directory.Read.All",
        "7ab1d382-f21e-4acd-a863-ba3e13f7da61",
        "06da0dbc-49e2-44d2-8312-53f166ab848a",
        "Admin",
        "Read directory data",
    ),
    (
        "Directory.ReadWrite.All",
        wellknown.GRAPH_DIRECTORY_READWRITE_ALL,
        "c5366453-9fb0-48a5-a156-24f0c49a4b84",
        "Admin",
        "Read and write directory data",
    ),
    (
        "Group.Read.All",
        "5b567255-7703-4780-807c-7be8301ae99b",
        "5f8c59db-677d-491f-a6b8-5f174b11ec1d",
        "Admin",
        "Read all groups",
    ),
    (
        "Application.Read.All",
        "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
        "c79f8feb-a9db-4090-85f9-90d820caa0eb",
        "Admin",
        "Read applications",
    ),
    (
        "Application.ReadWrite.All",
        wellknown.GRAPH_APPLICATION_READWRITE_ALL,
        "bdfbf15f-ee85-4955-8675-146e8e5296b5",
        "Admin",
        "Read and write all applications",
    ),
    (
        "Application.ReadWrite.OwnedBy",
        "18a4783c-866b-4cc7-a460-3d5e5662c884",
        None,
        "Admin",
        "Manage apps that this app creates or owns",
    ),
    (
        "AppRoleAssignment.ReadWrite.All",
        "06b708a9-e830-4db3-a914-8e69da51d44f",
        "84bccea3-f856-4a8a-967b-dbe0a3d53a64",
        "Admin",
        "Manage app permission grants and app role assignments",
    ),
    (
        "DelegatedPermissionGrant.ReadWrite.All",
        "8e8e4742-1d95-4f68-9d56-6ee75648c72a",
        "41ce6ca6-6826-4807-84f1-1c82854f7ee5",
        "Admin",
        "Manage all delegated permission grants",
    ),
    (
        "RoleManagement.Read.Directory",
        "483bed4a-2ad3-4361-a73b-c83ccdbdc53c",
        "741c54c3-0c1e-44a1-818b-3f97ab4e8c83",
        "Admin",
        "Read all directory RBAC settings",
    ),
    (
        "RoleManagement.Read.All",
        "c7fbd983-d9aa-4fa7-84b8-17382c103bc4",
        "48fec646-b2ba-4019-8681-8eb31435aded",
        "Admin",
        "Read role management data for all RBAC providers",
    ),
    (
        "RoleManagement.ReadWrite.Directory",
        "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8",
        "d01b97e9-cbc0-49fe-810a-750afd5527a3",
        "Admin",
        "Read and write all directory RBAC settings",
    ),
    (
        "RoleEligibilitySchedule.Read.Directory",
        "ff278e11-4a33-4d0c-83d2-d01dc58929a5",
        "eb0788c2-6d4e-4658-8c9e-c0fb8053f03d",
        "Admin",
        "Read all eligible role assignments and role schedules for your company's directory",
    ),
    (
        "RoleAssignmentSchedule.Read.Directory",
        "d5fe8ce8-684c-4c83-a52c-46e882ce4be1",
        "344a729c-0285-42c6-9014-f12b9b8d6129",
        "Admin",
        "Read all active role assignments and role schedules for your company's directory",
    ),
    (
        "RoleAssignmentSchedule.ReadWrite.Directory",
        "dd199f4a-f148-40a4-a2ec-f0069cc799ec",
        "8c026be3-8e26-4774-9372-8d5d6f21daff",
        "Admin",
        "Read, update, and delete all active role assignments for your company's directory",
    ),
    (
        "Policy.Read.All",
        "246dd0d5-5bd0-4def-940b-0421030a5b68",
        "572fea84-0151-49b2-9301-11cb16974376",
        "Admin",
        "Read your organization's policies",
    ),
    (
        "Organization.Read.All",
        "498476ce-e0fe-48b0-b801-37ba7e2685c6",
        "4908d5b9-3fb2-4b1e-9336-1888b7937185",
        "Admin",
        "Read organization information",
    ),
    ("openid", None, "37f7f235-527c-4136-accd-4a02d197296e", "User", "Sign users in"),
    ("profile", None, "14dad69e-099b-42c9-810b-d002981feec1", "User", "View users' basic profile"),
    (
        "offline_access",
        None,
        "7427e0e9-2fba-42fe-b0c0-848c9e6a8182",
        "User",
        "Maintain access to data you have given it access to",
    ),
    ("email", None, "64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0", "User", "View users' email address"),
]


def graph_app_roles() -> list[AppRole]:
    return [
        AppRole(
            id=app_id,
            value=value,
            display_name=display,
            description=f"Allows the app to: {display.lower()}, without a signed-in user.",
        )
        for value, app_id, _, _, display in _GRAPH_PERMISSIONS
        if app_id is not None
    ]


def graph_permission_scopes() -> list[PermissionScope]:
    return [
        PermissionScope(
            id=scope_id,
            value=value,
            admin_consent_display_name=display,
            admin_consent_description=f"Allows the app to: {display.lower()}.",
            type="Admin" if consent_type == "Admin" else "User",
        )
        for value, _, scope_id, consent_type, display in _GRAPH_PERMISSIONS
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

_SP_NAMESPACE = uuid.UUID("6f1c2a4e-3b5d-4c7e-9a1f-0b2c3d4e5f60")


def first_party_object_id(tenant_id: str, app_id: str) -> str:
    """The object id a first-party service principal gets in this tenant (stable per tenant)."""
    return str(uuid.uuid5(_SP_NAMESPACE, f"{tenant_id.lower()}/{app_id.lower()}"))


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


def tool_public_client_sp(tenant_id: str) -> ServicePrincipal:
    return ServicePrincipal(
        id=first_party_object_id(tenant_id, wellknown.TOOL_PUBLIC_CLIENT_ID),
        app_id=wellknown.TOOL_PUBLIC_CLIENT_ID,
        display_name=TOOL_PUBLIC_CLIENT_NAME,
        app_owner_organization_id=MICROSOFT_TENANT_ID,
        service_principal_names=[wellknown.TOOL_PUBLIC_CLIENT_ID],
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
        tool_public_client_sp(tenant_id),
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

"""What puts each cause right, per check: a sentence, a portal path, Azure CLI, PowerShell.

One table per check, keyed by cause code; the check's SPEC attaches its table to its
causes (`model.with_remediations`), and a meta-test fails when a cause has none. Texts are
templates: `{sam_user_id}`, `{client_id}`, `{resource_group}`... are filled with what the
run found (`engine/remediation.py`); `{graph}` is the cloud's Graph host. A cause that is
not about the tenant (a URL pasted wrongly, a subscription ended) says so and changes
nothing in it.
"""

from __future__ import annotations

from collections.abc import Mapping

from cipp_setup import wellknown
from cipp_setup.engine.model import Remediation

GA = wellknown.GLOBAL_ADMINISTRATOR
ASM = wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID
USER_IMPERSONATION = wellknown.AZURE_SERVICE_MANAGEMENT_USER_IMPERSONATION
GRAPH = wellknown.MICROSOFT_GRAPH_APP_ID
APP_RW = wellknown.GRAPH_APPLICATION_READWRITE_ALL
DIR_RW = wellknown.GRAPH_DIRECTORY_READWRITE_ALL
CONTRIBUTOR = wellknown.CONTRIBUTOR

_ENTRA_APPS = "Microsoft Entra admin center → Identity → Applications → App registrations"
_SAVE_TO_AZURE = (
    "In CIPP: Integrations → CIPP-API → API Clients → the client {client_id} → Enabled → Save to "
    "Azure (it writes Easy Auth and restarts the Function App; allow a minute)."
)
_AUTH_SHOW = (
    "az webapp auth show -g {resource_group} -n {function_app} "
    "--query properties.identityProviders.azureActiveDirectory"
)
_AUTH_PS = (
    "Invoke-AzRestMethod -Method GET "
    "-Path '{function_app_id}/config/authsettingsV2?api-version=2022-03-01'"
)

# --- the CIPP-SAM user and app (both generations share the look-ups) ---------------------------

_USER_NOT_FOUND = Remediation(
    steps=(
        "Pass --sam-user with the CIPP-SAM user's UPN or object id as it is in tenant {tenant} "
        "(CIPP's SAM setup created it; it is the account CIPP signed in as)."
    ),
    portal="Microsoft Entra admin center → Identity → Users → All users → search 'CIPP'",
    cli="az ad user list --filter \"startswith(displayName,'CIPP')\" --query \"[].userPrincipalName\" -o tsv",
    powershell="Get-MgUser -Filter \"startswith(displayName,'CIPP')\" | Select-Object UserPrincipalName, Id",
)

_APP_NOT_FOUND = Remediation(
    steps=(
        "Pass --sam-app with the CIPP-SAM application's app id (CIPP → Settings → SAM setup shows "
        "it), or run CIPP's SAM setup wizard if it never created one in tenant {tenant}."
    ),
    portal=f"{_ENTRA_APPS} → All applications → search 'CIPP'",
    cli="az ad app list --filter \"startswith(displayName,'CIPP')\" --query \"[].{name:displayName, appId:appId}\" -o table",
    powershell="Get-MgApplication -Filter \"startswith(displayName,'CIPP')\" | Select-Object DisplayName, AppId",
)

_APP_AMBIGUOUS = Remediation(
    steps="Several apps are named CIPP-SAM: pass --sam-app with the app id CIPP uses (CIPP → Settings → SAM setup).",
    portal=f"{_ENTRA_APPS} → All applications → search 'CIPP-SAM' (compare the Application (client) ID)",
    cli="az ad app list --display-name CIPP-SAM --query \"[].{appId:appId, created:createdDateTime}\" -o table",
    powershell="Get-MgApplication -Filter \"displayName eq 'CIPP-SAM'\" | Select-Object AppId, CreatedDateTime",
)

GLOBAL_ADMIN: Mapping[str, Remediation] = {
    "not-global-admin": Remediation(
        portal=(
            "Microsoft Entra admin center → Identity → Roles & admins → Global Administrator → Add "
            "assignments → {sam_user} (assignment type Active)."
        ),
        cli=(
            "az rest --method POST --url {graph}/v1.0/roleManagement/directory/roleAssignments "
            f"--body '{{\"principalId\":\"{{sam_user_id}}\",\"roleDefinitionId\":\"{GA}\",\"directoryScopeId\":\"/\"}}'"
        ),
        powershell=(
            "Connect-MgGraph -TenantId {tenant} -Scopes RoleManagement.ReadWrite.Directory; "
            f"New-MgRoleManagementDirectoryRoleAssignment -PrincipalId {{sam_user_id}} -RoleDefinitionId {GA} "
            "-DirectoryScopeId '/'"
        ),
    ),
    "global-admin-eligible-only": Remediation(
        steps="{sam_user} is eligible only: activate the role (signed in as {sam_user}), or make the assignment active.",
        portal=(
            "Signed in as {sam_user}: Microsoft Entra admin center → Identity Governance → Privileged "
            "Identity Management → My roles → Eligible assignments → Global Administrator → Activate."
        ),
        powershell=(
            "Connect-MgGraph -TenantId {tenant} -Scopes RoleAssignmentSchedule.ReadWrite.Directory; "
            "New-MgRoleManagementDirectoryRoleAssignmentScheduleRequest -Action selfActivate "
            f"-PrincipalId {{sam_user_id}} -RoleDefinitionId {GA} -DirectoryScopeId '/' "
            "-Justification 'Enable the CIPP API' "
            "-ScheduleInfo @{StartDateTime=(Get-Date); Expiration=@{Type='AfterDuration'; Duration='PT8H'}}"
        ),
    ),
    "account-disabled": Remediation(
        portal="Microsoft Entra admin center → Identity → Users → {sam_user} → Edit properties → Settings → Account enabled.",
        cli="az ad user update --id {sam_user_id} --account-enabled true",
        powershell="Update-MgUser -UserId {sam_user_id} -AccountEnabled:$true",
    ),
    "user-not-found": _USER_NOT_FOUND,
}

SAM_CONSENT: Mapping[str, Remediation] = {
    "app-not-found": _APP_NOT_FOUND,
    "app-ambiguous": _APP_AMBIGUOUS,
    "permission-not-in-manifest": Remediation(
        portal=(
            f"{_ENTRA_APPS} → CIPP-SAM → API permissions → Add a permission → Azure Service Management → "
            "Delegated permissions → user_impersonation → Add permissions."
        ),
        cli=f"az ad app permission add --id {{sam_app_id}} --api {ASM} --api-permissions {USER_IMPERSONATION}=Scope",
        powershell=(
            "$app = Get-MgApplication -ApplicationId {sam_app_object_id}; "
            f"Update-MgApplication -ApplicationId {{sam_app_object_id}} -RequiredResourceAccess ($app.RequiredResourceAccess + "
            f"@{{ResourceAppId='{ASM}'; ResourceAccess=@(@{{Id='{USER_IMPERSONATION}'; Type='Scope'}})}})"
        ),
    ),
    "permission-wrong-type": Remediation(
        steps="user_impersonation is requested as an application permission: remove it, then add it as a delegated one.",
        portal=(
            f"{_ENTRA_APPS} → CIPP-SAM → API permissions → Azure Service Management → user_impersonation "
            "(Application) → Remove; then Add a permission → Delegated permissions → user_impersonation."
        ),
        cli=(
            f"az ad app permission delete --id {{sam_app_id}} --api {ASM} --api-permissions {USER_IMPERSONATION} && "
            f"az ad app permission add --id {{sam_app_id}} --api {ASM} --api-permissions {USER_IMPERSONATION}=Scope"
        ),
    ),
    "azure-management-service-principal-missing": Remediation(
        steps="Create Azure Service Management's service principal in tenant {tenant} (a first-party app; harmless).",
        cli=f"az ad sp create --id {ASM}",
        powershell=f"New-MgServicePrincipal -AppId {ASM}",
    ),
    "consent-missing": Remediation(
        portal=f"{_ENTRA_APPS} → CIPP-SAM → API permissions → Grant admin consent for the tenant.",
        cli=f"az ad app permission grant --id {{sam_app_id}} --api {ASM} --scope user_impersonation",
        powershell=(
            "New-MgOauth2PermissionGrant -ClientId {sam_sp_id} -ConsentType AllPrincipals "
            "-ResourceId {asm_sp_id} -Scope user_impersonation"
        ),
    ),
}

_SUBSCRIPTIONS = Remediation(
    steps=(
        "Pass --subscription with the id of the subscription that hosts CIPP's Function App, as an "
        "admin who can see it."
    ),
    portal="Azure portal → Subscriptions (switch directory to {tenant} if it is not listed)",
    cli="az account list --all --query \"[?tenantId=='{tenant_id}'].{name:name, id:id, state:state}\" -o table",
    powershell="Get-AzSubscription -TenantId {tenant}",
)

SUBSCRIPTION_CONTRIBUTOR: Mapping[str, Remediation] = {
    "no-contributor": Remediation(
        portal=(
            "Azure portal → Subscriptions → {subscription_id} → Access control (IAM) → Add → Add role "
            "assignment → Privileged administrator roles → Contributor → Members → {sam_user} → Review + assign."
        ),
        cli=(
            "az role assignment create --assignee-object-id {sam_user_id} --assignee-principal-type User "
            "--role Contributor --scope /subscriptions/{subscription_id}"
        ),
        powershell="New-AzRoleAssignment -ObjectId {sam_user_id} -RoleDefinitionName Contributor -Scope /subscriptions/{subscription_id}",
    ),
    "contributor-eligible-only": Remediation(
        steps="{sam_user} is eligible only: activate Contributor (signed in as {sam_user}), or make the assignment active.",
        portal=(
            "Signed in as {sam_user}: Azure portal → Privileged Identity Management → My roles → Azure "
            "resources → Eligible assignments → Contributor on {subscription_id} → Activate."
        ),
        powershell=(
            "New-AzRoleAssignmentScheduleRequest -Name (New-Guid).Guid -Scope /subscriptions/{subscription_id} "
            "-PrincipalId {sam_user_id} "
            f"-RoleDefinitionId /subscriptions/{{subscription_id}}/providers/Microsoft.Authorization/roleDefinitions/{CONTRIBUTOR} "
            "-RequestType SelfActivate -ExpirationType AfterDuration -ExpirationDuration PT8H "
            "-Justification 'Enable the CIPP API'"
        ),
    ),
    "subscription-not-found": _SUBSCRIPTIONS,
    "subscription-ambiguous": Remediation(
        steps="Several subscriptions are visible: pass --subscription with the one whose resource group holds CIPP's Function App.",
        cli="az functionapp list --query \"[].{name:name, subscription:id}\" -o table",
        powershell="Get-AzSubscription -TenantId {tenant} | ForEach-Object { Get-AzFunctionApp -SubscriptionId $_.Id } | Select-Object Name, SubscriptionId",
    ),
    "cannot-read-role-assignments": Remediation(
        steps=(
            "Sign in as an admin who may read role assignments on subscription {subscription_id} "
            "(Reader or above); nothing in the tenant needs to change."
        ),
        cli="az role assignment list --scope /subscriptions/{subscription_id} --assignee {sam_user_id} -o table",
        powershell="Get-AzRoleAssignment -Scope /subscriptions/{subscription_id} -ObjectId {sam_user_id}",
    ),
    "user-not-found": _USER_NOT_FOUND,
}

GRAPH_PERMISSIONS: Mapping[str, Remediation] = {
    "app-not-found": _APP_NOT_FOUND,
    "app-ambiguous": _APP_AMBIGUOUS,
    "permission-not-in-manifest": Remediation(
        portal=(
            f"{_ENTRA_APPS} → CIPP-SAM → API permissions → Add a permission → Microsoft Graph → Application "
            "permissions → Application.ReadWrite.All and Directory.ReadWrite.All → Add permissions."
        ),
        cli=f"az ad app permission add --id {{sam_app_id}} --api {GRAPH} --api-permissions {APP_RW}=Role {DIR_RW}=Role",
    ),
    "consent-missing": Remediation(
        portal=f"{_ENTRA_APPS} → CIPP-SAM → API permissions → Grant admin consent for the tenant.",
        cli="az ad app permission admin-consent --id {sam_app_id}",
        powershell=(
            f"'{APP_RW}','{DIR_RW}' | ForEach-Object {{ New-MgServicePrincipalAppRoleAssignment "
            "-ServicePrincipalId {sam_sp_id} -PrincipalId {sam_sp_id} -ResourceId {graph_sp_id} -AppRoleId $_ }"
        ),
    ),
    "graph-service-principal-missing": Remediation(
        steps="Create Microsoft Graph's service principal in tenant {tenant} (a first-party app; harmless).",
        cli=f"az ad sp create --id {GRAPH}",
        powershell=f"New-MgServicePrincipal -AppId {GRAPH}",
    ),
}

CLOUD_APP_ADMIN = wellknown.CLOUD_APPLICATION_ADMINISTRATOR

APP_REGISTRATION: Mapping[str, Remediation] = {
    "no-app-registration-role": Remediation(
        steps=(
            "While you create or re-create API clients in CIPP 7.2-7.3, {sam_user} needs a role that may "
            "create app registrations: Cloud Application Administrator is the least that works "
            "(Application Administrator or Global Administrator also do). Remove it afterwards."
        ),
        portal=(
            "Microsoft Entra admin center → Identity → Roles & admins → Cloud Application Administrator → "
            "Add assignments → {sam_user} (assignment type Active)."
        ),
        cli=(
            "az rest --method POST --url {graph}/v1.0/roleManagement/directory/roleAssignments "
            f"--body '{{\"principalId\":\"{{sam_user_id}}\",\"roleDefinitionId\":\"{CLOUD_APP_ADMIN}\",\"directoryScopeId\":\"/\"}}'"
        ),
        powershell=(
            "Connect-MgGraph -TenantId {tenant} -Scopes RoleManagement.ReadWrite.Directory; "
            f"New-MgRoleManagementDirectoryRoleAssignment -PrincipalId {{sam_user_id}} -RoleDefinitionId {CLOUD_APP_ADMIN} "
            "-DirectoryScopeId '/'"
        ),
    ),
    "delegated-permission-missing": Remediation(
        steps=(
            "CIPP-SAM's delegated Graph consent lacks Application.ReadWrite.All (and Directory.AccessAsUser.All): "
            "run CIPP's SAM setup wizard again (CIPP → Settings → SAM setup), or grant admin consent on "
            "CIPP-SAM's API permissions page."
        ),
        portal=f"{_ENTRA_APPS} → CIPP-SAM → API permissions → Grant admin consent for the tenant.",
        cli="az ad app permission admin-consent --id {sam_app_id}",
    ),
    "account-disabled": Remediation(
        portal="Microsoft Entra admin center → Identity → Users → {sam_user} → Edit properties → Settings → Account enabled.",
        cli="az ad user update --id {sam_user_id} --account-enabled true",
        powershell="Update-MgUser -UserId {sam_user_id} -AccountEnabled:$true",
    ),
    "user-not-found": _USER_NOT_FOUND,
    "app-not-found": _APP_NOT_FOUND,
    "app-ambiguous": _APP_AMBIGUOUS,
}

# --- the Function App (current generation) -----------------------------------------------------

_FUNCTION_APP_UNKNOWN = Remediation(
    steps=(
        "Pass --function-app with the CIPP API's Function App name or resource id, or give --api-url "
        "as its https://<name>.azurewebsites.net address."
    ),
    portal="Azure portal → Function App (the one whose name starts with 'cipp' and has no '-proc' suffix)",
    cli="az functionapp list --query \"[].{name:name, group:resourceGroup, host:defaultHostName}\" -o table",
    powershell="Get-AzFunctionApp | Select-Object Name, ResourceGroupName, DefaultHostName",
)
_FUNCTION_APP_NOT_FOUND = Remediation(
    steps=(
        "No Function App {function_app} is visible to the signed-in admin: check the name (or pass its "
        "resource id with --function-app) and sign in as an admin with Reader on it."
    ),
    cli="az functionapp list --subscription {subscription_id} --query \"[].{name:name, group:resourceGroup}\" -o table",
    powershell="Get-AzFunctionApp -SubscriptionId {subscription_id} | Select-Object Name, ResourceGroupName",
)

FUNCTION_APP_IDENTITY: Mapping[str, Remediation] = {
    "function-app-unknown": _FUNCTION_APP_UNKNOWN,
    "function-app-not-found": _FUNCTION_APP_NOT_FOUND,
    "managed-identity-missing": Remediation(
        portal="Azure portal → Function App {function_app} → Settings → Identity → System assigned → Status On → Save.",
        cli="az functionapp identity assign -g {resource_group} -n {function_app}",
        powershell="Update-AzFunctionApp -ResourceGroupName {resource_group} -Name {function_app} -IdentityType SystemAssigned",
    ),
    "identity-no-role": Remediation(
        portal=(
            "Azure portal → Function App {function_app} → Settings → Identity → Azure role assignments → "
            "Add role assignment → Scope: Resource group {resource_group} → Role: Contributor → Save."
        ),
        cli=(
            "az role assignment create --assignee-object-id {identity_principal_id} "
            "--assignee-principal-type ServicePrincipal --role Contributor --scope {function_app_id}"
        ),
        powershell="New-AzRoleAssignment -ObjectId {identity_principal_id} -RoleDefinitionName Contributor -Scope {function_app_id}",
    ),
    "cannot-read-role-assignments": Remediation(
        steps=(
            "Sign in as an admin who may read role assignments on {function_app} (Reader on its "
            "resource group or above); nothing in the tenant needs to change."
        ),
        cli="az role assignment list --scope {function_app_id} --include-inherited -o table",
        powershell="Get-AzRoleAssignment -Scope {function_app_id}",
    ),
}

# --- the API client (current generation) -------------------------------------------------------

_IDENTIFIER_URI = Remediation(
    portal=f"{_ENTRA_APPS} → the API client {{client_id}} → Expose an API → Application ID URI → Add → api://{{client_id}} → Save.",
    cli="az ad app update --id {client_id} --identifier-uris api://{client_id}",
    powershell="Update-MgApplication -ApplicationId {client_object_id} -IdentifierUris 'api://{client_id}'",
)

_NEW_SECRET_STEPS = (
    "Create a new secret: in CIPP (7.2+) Integrations → CIPP-API → API Clients → {client_id} → Reset "
    "secret; or in Entra (below). Copy its Value (not the Secret ID): it is shown once."
)
_NEW_SECRET = Remediation(
    steps=_NEW_SECRET_STEPS,
    portal=f"{_ENTRA_APPS} → the API client {{client_id}} → Certificates & secrets → New client secret → copy the Value.",
    cli="az ad app credential reset --id {client_id} --append --display-name cipp-setup --query password -o tsv",
    powershell="(Add-MgApplicationPassword -ApplicationId {client_object_id} -PasswordCredential @{DisplayName='cipp-setup'}).SecretText",
)

_CLIENT_NOT_FOUND = Remediation(
    steps=(
        "No app {client_id} in tenant {tenant}: check --api-client-id against CIPP → Integrations → "
        "CIPP-API → API Clients, and that --tenant is the tenant CIPP runs in (the partner tenant)."
    ),
    cli="az ad app show --id {client_id} --query \"{name:displayName, appId:appId}\"",
    powershell="Get-MgApplication -Filter \"appId eq '{client_id}'\" | Select-Object DisplayName, AppId",
)

API_CLIENT_APP: Mapping[str, Remediation] = {
    "client-app-not-found": _CLIENT_NOT_FOUND,
    "identifier-uri-missing": _IDENTIFIER_URI,
    "service-principal-missing": Remediation(
        portal=f"{_ENTRA_APPS} → the API client {{client_id}} → Overview → Managed application in local directory → Create.",
        cli="az ad sp create --id {client_id}",
        powershell="New-MgServicePrincipal -AppId {client_id}",
    ),
    "no-secret": _NEW_SECRET,
    "secret-expired": Remediation(
        steps=_NEW_SECRET_STEPS + " Then give the new Value to every integration that used the expired one.",
        portal=_NEW_SECRET.portal, cli=_NEW_SECRET.cli, powershell=_NEW_SECRET.powershell,
    ),
    "secret-expiring": Remediation(
        steps=(
            "Before the secret expires, add a second one (--append keeps the current one working), "
            "move every integration to it, then delete the old one."
        ),
        portal=_NEW_SECRET.portal, cli=_NEW_SECRET.cli, powershell=_NEW_SECRET.powershell,
    ),
    "secret-policy-restricts": Remediation(
        steps=(
            "The tenant's app management policy blocks new secrets for this app: ask the policy's owner for "
            "an exemption for {client_id} before the current secret expires."
        ),
        cli="az rest --url {graph}/v1.0/policies/defaultAppManagementPolicy",
        powershell="Get-MgPolicyDefaultAppManagementPolicy; Get-MgApplicationAppManagementPolicy -ApplicationId {client_object_id}",
    ),
}

# Easy Auth: the same cause means the same thing wherever it is found (api-easy-auth reads
# the settings, api-token compares its token with them, api-list-logs meets the 401).
EASY_AUTH_SHARED: Mapping[str, Remediation] = {
    "client-not-saved-to-azure": Remediation(
        steps=_SAVE_TO_AZURE, cli=_AUTH_SHOW, powershell=_AUTH_PS,
    ),
    "audience-not-allowed": Remediation(
        steps=_SAVE_TO_AZURE.replace("(it writes", "(it adds api://{client_id} and {client_id} to the allowed audiences; it writes"),
        portal=(
            "Azure portal → Function App {function_app} → Settings → Authentication → Microsoft → Edit → "
            "Allowed token audiences: add api://{client_id} and {client_id} (keep the ones listed) → Save."
        ),
        cli=_AUTH_SHOW + ".validation.allowedAudiences",
        powershell=_AUTH_PS,
    ),
    "app-not-allowed": Remediation(
        steps=_SAVE_TO_AZURE.replace("(it writes", "(it adds {client_id} to the allowed applications; it writes"),
        portal=(
            "Azure portal → Function App {function_app} → Settings → Authentication → Microsoft → Edit → "
            "Client application requirement → Allow requests from specific client applications → add {client_id}."
        ),
        cli=_AUTH_SHOW + ".validation.defaultAuthorizationPolicy.allowedApplications",
        powershell=_AUTH_PS,
    ),
    "tenant-not-allowed": Remediation(
        steps="Add tenant {tenant_id} to the Function App's WEBSITE_AUTH_AAD_ALLOWED_TENANTS setting (keep the tenants listed).",
        portal="Azure portal → Function App {function_app} → Settings → Environment variables → WEBSITE_AUTH_AAD_ALLOWED_TENANTS.",
        cli=(
            "az functionapp config appsettings list -g {resource_group} -n {function_app} "
            "--query \"[?name=='WEBSITE_AUTH_AAD_ALLOWED_TENANTS'].value\" -o tsv"
        ),
        powershell="(Get-AzFunctionAppSetting -ResourceGroupName {resource_group} -Name {function_app})['WEBSITE_AUTH_AAD_ALLOWED_TENANTS']",
    ),
    "easy-auth-disabled": Remediation(
        portal=(
            "Azure portal → Function App {function_app} → Settings → Authentication → Add identity "
            "provider (or Edit) → Microsoft → Enabled; then in CIPP Save to Azure once more."
        ),
        cli="az webapp auth update -g {resource_group} -n {function_app} --enabled true --action Return401",
        powershell=_AUTH_PS,
    ),
}

EASY_AUTH: Mapping[str, Remediation] = {
    **EASY_AUTH_SHARED,
    "unauthenticated-allowed": Remediation(
        portal=(
            "Azure portal → Function App {function_app} → Settings → Authentication → Edit → Restrict "
            "access: Require authentication; Unauthenticated requests: HTTP 401."
        ),
        cli="az webapp auth update -g {resource_group} -n {function_app} --unauthenticated-client-action Return401",
    ),
    "cannot-read-auth-settings": Remediation(
        steps=(
            "Sign in as an admin who may read {function_app}'s authentication settings (Website "
            "Contributor or Contributor on it); nothing in the tenant needs to change."
        ),
        cli=_AUTH_SHOW,
        powershell=_AUTH_PS,
    ),
    "function-app-unknown": _FUNCTION_APP_UNKNOWN,
    "function-app-not-found": _FUNCTION_APP_NOT_FOUND,
}

# --- the API client's token and the API itself -----------------------------------------------

API_TOKEN: Mapping[str, Remediation] = {
    **EASY_AUTH_SHARED,
    "invalid-secret": Remediation(
        steps=(
            "Paste the secret's Value again (whole, no spaces). If nobody has it any more, create a new "
            "secret (below); the old one keeps working for what uses it."
        ),
        portal=_NEW_SECRET.portal, cli=_NEW_SECRET.cli, powershell=_NEW_SECRET.powershell,
    ),
    "secret-id-pasted": Remediation(
        steps=(
            "What was given is the Secret ID (a GUID). Give the secret's Value instead: the string shown "
            "once, when the secret was created. If it was not kept, create a new secret (below)."
        ),
        portal=_NEW_SECRET.portal, cli=_NEW_SECRET.cli, powershell=_NEW_SECRET.powershell,
    ),
    "secret-expired": API_CLIENT_APP["secret-expired"],
    "app-not-found": _CLIENT_NOT_FOUND,
    "tenant-not-found": Remediation(
        steps=(
            "--tenant {tenant} names no tenant: pass the partner tenant's id or its "
            "onmicrosoft.com domain (the tenant CIPP runs in)."
        ),
        cli="az login --tenant <tenant-domain> && az account show --query tenantId -o tsv",
        powershell="Connect-AzAccount -Tenant <tenant-domain>; (Get-AzContext).Tenant.Id",
    ),
    "identifier-uri-missing": _IDENTIFIER_URI,
    "secret-missing": Remediation(
        steps="Give the API client's secret without putting it on the command line: {set_secret}",
    ),
    "token-refused": Remediation(
        steps=(
            "The identity platform refused for a reason shown in the evidence (-v): look the AADSTS code "
            "up at https://login.microsoftonline.com/error; retry if it says the service was busy."
        ),
        portal="Microsoft Entra admin center → Identity → Monitoring & health → Sign-in logs → Service principal sign-ins → {client_id}",
    ),
}

API_LIST_LOGS: Mapping[str, Remediation] = {
    **EASY_AUTH_SHARED,
    "front-end-url": Remediation(
        steps=(
            "{api_url} is CIPP's front end (the Static Web App). Use the Function App's URL, "
            "https://<name>.azurewebsites.net, which CIPP shows under Integrations → CIPP-API; nothing in "
            "the tenant needs to change."
        ),
        portal="Azure portal → Function App (the CIPP one, no '-proc' suffix) → Overview → Default domain.",
        cli="az functionapp list --query \"[?!contains(name,'proc')].defaultHostName\" -o tsv",
        powershell="Get-AzFunctionApp | Where-Object Name -notlike '*proc*' | Select-Object -ExpandProperty DefaultHostName",
    ),
    "processor-app-url": Remediation(
        steps=(
            "{api_url} is CIPP's processor Function App (offloading), which refuses API calls. Use the "
            "main Function App's URL, the one without the '-proc' suffix; nothing in the tenant needs to change."
        ),
        cli="az functionapp list --query \"[?!contains(name,'proc')].defaultHostName\" -o tsv",
        powershell="Get-AzFunctionApp | Where-Object Name -notlike '*proc*' | Select-Object -ExpandProperty DefaultHostName",
    ),
    "easy-auth-rejected": Remediation(
        steps=(
            "Easy Auth refused the token before CIPP saw it: the client is disabled or was never saved "
            "to Azure, or its audience or tenant is not allowed. " + _SAVE_TO_AZURE + " Signed in as an "
            "admin, the api-easy-auth check names which of these it is."
        ),
        cli=_AUTH_SHOW + ".validation",
        powershell=_AUTH_PS,
    ),
    "ip-not-allowed": Remediation(
        steps=(
            "CIPP refused this computer's address: it checks the first X-Forwarded-For address, which is "
            "this network's public address. Allowed now: {allowed_ranges}. In CIPP: Integrations → "
            "CIPP-API → API Clients → {client_id} → Allowed IP ranges: add this network's public address "
            "(or 'Any') → Save to Azure."
        ),
        cli="curl -s https://api.ipify.org   # this network's public address, as CIPP sees it",
        powershell="Invoke-RestMethod https://api.ipify.org   # this network's public address",
    ),
    "role-missing": Remediation(
        steps=(
            "In CIPP: Integrations → CIPP-API → API Clients → {client_id} → Role: readonly (or a custom role "
            "granting CIPP.Core.Read) → Save to Azure."
        ),
    ),
    "subscription-ended": Remediation(
        steps=(
            "The hosted CIPP instance's subscription has ended: renew it with CIPP (cipp.app, your "
            "account's billing). Nothing in the tenant needs to change."
        ),
    ),
    "function-app-stopped": Remediation(
        steps=(
            "Start the Function App; if its Azure subscription is Disabled or Deleted, Azure stopped it: "
            "re-enable the subscription first (see the subscription checks), then run the check again."
        ),
        portal="Azure portal → Function App {function_app} → Overview → Start",
        cli="az functionapp start -g {resource_group} -n {function_app}",
        powershell="Start-AzFunctionApp -ResourceGroupName {resource_group} -Name {function_app}",
    ),
    "endpoint-not-found": Remediation(
        steps="{api_url} answers, but is not the CIPP API: give the CIPP Function App's URL (https://<name>.azurewebsites.net).",
        cli="az functionapp list --query \"[?!contains(name,'proc')].defaultHostName\" -o tsv",
        powershell="Get-AzFunctionApp | Where-Object Name -notlike '*proc*' | Select-Object -ExpandProperty DefaultHostName",
    ),
    "server-error": Remediation(
        steps=(
            "CIPP failed while answering (5xx): retry in a minute (it may be starting or updating). If it "
            "persists, read the Function App's log; nothing in the tenant needs to change."
        ),
        portal="Azure portal → Function App {function_app} → Monitoring → Log stream",
        cli="az webapp log tail -g {resource_group} -n {function_app}",
    ),
    "not-json": Remediation(
        steps=(
            "{api_url} answered 200 but not with CIPP's JSON: it is probably not the CIPP API (a front end "
            "or a proxy page). Give the CIPP Function App's URL."
        ),
        cli="az functionapp list --query \"[?!contains(name,'proc')].defaultHostName\" -o tsv",
    ),
    "forbidden": Remediation(
        steps=(
            "CIPP refused with a text cipp-setup does not know (the answer is in the evidence, -v). In "
            "CIPP: Integrations → CIPP-API → API Clients → {client_id}: check Enabled, its role and its IP "
            "ranges → Save to Azure."
        ),
    ),
    "unexpected-status": Remediation(
        steps="The API answered a status cipp-setup does not expect: retry once; if it persists, check {api_url} is the CIPP Function App.",
    ),
}

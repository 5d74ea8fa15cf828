"""Identifiers that are the same in every Microsoft tenant, and CIPP's own names.

Both the product and the sandbox use these; they are facts about the real services
(see shared/reference/cipp-api.md), never values a scenario invents.
"""

from __future__ import annotations

# Applications (appId) that exist in every tenant as first-party service principals.
MICROSOFT_GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
AZURE_SERVICE_MANAGEMENT_APP_ID = "797f4846-ba00-4fd7-ba43-dac1f8f63013"
AZURE_SERVICE_MANAGEMENT_USER_IMPERSONATION = "41094075-9dad-400e-a0bd-54e686782033"

# Public client application the tool signs the admin in with.  Microsoft Graph Command
# Line Tools supports incremental (dynamic) consent, so `check` can ask for read scopes
# only and `fix` for write scopes only when a fix is about to be applied.
TOOL_PUBLIC_CLIENT_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
# Microsoft Azure CLI: first-party, pre-authorized for Azure Service Management in every
# tenant (no consent). ARM goes through it where a tenant forbids consenting the tool's client.
AZURE_CLI_CLIENT_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

# Entra ID directory role templates.
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
APPLICATION_ADMINISTRATOR = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
CLOUD_APPLICATION_ADMINISTRATOR = "158c047a-c907-4556-b7ef-446551a6b5f7"
GLOBAL_READER = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"

# Azure RBAC built-in role definitions (the GUID part of the definition id).
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
WEBSITE_CONTRIBUTOR = "de139f84-1756-47ae-9be6-808fbbe84772"

# Microsoft Graph permissions used by the current (7.2+) CIPP generation.
GRAPH_APPLICATION_READWRITE_ALL = "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9"  # Role
GRAPH_DIRECTORY_READWRITE_ALL = "19dbc75e-c2e2-444c-a770-ec69d8559fc7"  # Role
GRAPH_USER_READ = "e1fe6dd8-ba31-4d61-89e7-88639da4683d"  # Scope

# The scope id CIPP gives the user_impersonation scope it exposes on API client apps.
CIPP_API_CLIENT_SCOPE_ID = "ba7ffeff-96ea-4ac4-9822-1bcfee9adaa4"

CIPP_SAM_APP_NAME = "CIPP-SAM"
CIPP_LEGACY_API_APP_NAME = "CIPP-API"

# CIPP-NG's single sign-on app (CIPP-API New-CIPPSSOApp, seen at 10.8.2): when present it is
# Easy Auth's registration.clientId, so that client id is not an API client.
CIPP_SSO_APP_NAME = "CIPP-SSO"
# Visual Studio Code's first-party client id: CIPP adds it to Easy Auth's allowedApplications
# when MCP is enabled (CIPP-API Get-CippMcpKnownClients, seen at 10.8.2). Not an API client.
VS_CODE_CLIENT_ID = "aebc6443-996d-45c2-90f0-388ff96faa56"
# Delegated Graph scopes the CIPP-SAM user's token creates app registrations with in CIPP
# 7.2-7.3 (either suffices; both are in CIPP's SAM manifest).
GRAPH_DELEGATED_APPLICATION_READWRITE_ALL = "Application.ReadWrite.All"
GRAPH_DELEGATED_DIRECTORY_ACCESS_AS_USER = "Directory.AccessAsUser.All"

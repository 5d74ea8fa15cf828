"""Graph v1.0 wire shapes for the sandbox's directory objects.

Each `*_wire` function turns a `state` object into the JSON object Graph returns for
it: camelCase names, the property set and order of the official examples (see
shared/reference/examples/graph_*.json), `null` where the tenant has no value, times as
ISO-8601 UTC with a `Z`. `*_DEFAULT` lists the properties Graph returns without
`$select` when that is narrower than everything it knows (users); everything else
returns every property by default, as Graph does for these types.

Ids Graph builds from other ids (role assignments, grants, app role assignments) follow
the observed encodings (base64url of the GUIDs' little-endian bytes), so a client that
treats them as opaque strings sees realistic values.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import uuid
from typing import Any

from .state import (
    Application,
    AppRole,
    AppRoleAssignment,
    DirectoryRoleAssignment,
    DirectoryRoleDefinition,
    DirectoryRoleEligibility,
    Group,
    OAuth2PermissionGrant,
    PasswordCredential,
    PermissionScope,
    RequiredResourceAccess,
    ServicePrincipal,
    TenantState,
    User,
)

# --- values -----------------------------------------------------------------------------


def iso(t: float | None) -> str | None:
    """Graph's timestamp form: 2019-09-17T19:10:35.2742618Z (7 fractional digits)."""
    if t is None:
        return None
    d = dt.datetime.fromtimestamp(t, tz=dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond:06d}0Z"


def parse_iso(text: str) -> float:
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    # Python < 3.11 accepts at most 6 fractional digits.
    if "." in value:
        head, _, rest = value.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(digits):]
        value = f"{head}.{digits[:6]}{tz}"
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()


def guid_bytes(value: str) -> bytes:
    return uuid.UUID(value).bytes_le


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def role_assignment_id(role_definition_id: str, principal_id: str, directory_scope_id: str) -> str:
    data = guid_bytes(role_definition_id) + guid_bytes(principal_id)
    scope = directory_scope_id.strip("/")
    if scope:
        try:
            data += guid_bytes(scope)
        except ValueError:
            data += uuid.uuid5(uuid.NAMESPACE_URL, directory_scope_id).bytes_le
    return b64url(data) + "-1"


def grant_id(client_id: str, resource_id: str, principal_id: str | None) -> str:
    data = guid_bytes(client_id) + guid_bytes(resource_id)
    if principal_id:
        data += guid_bytes(principal_id)
    return b64url(data)


def app_role_assignment_id(principal_id: str) -> str:
    return b64url(guid_bytes(principal_id) + os.urandom(16))


def directory_role_object_id(tenant_id: str, template_id: str) -> str:
    """An activated directoryRole has its own object id per tenant; derive a stable one."""
    return str(uuid.uuid5(uuid.UUID(tenant_id), f"directoryRole:{template_id}"))


# --- users and groups -------------------------------------------------------------------

USER_DEFAULT = [
    "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
]
USER_ALL = USER_DEFAULT + [
    "accountEnabled", "userType", "mailNickname", "imAddresses", "createdDateTime",
    "deletedDateTime", "onPremisesSyncEnabled", "usageLocation", "otherMails", "proxyAddresses",
    "identities", "city", "country", "companyName", "department", "employeeId", "postalCode", "state",
    "streetAddress", "onPremisesImmutableId", "onPremisesSamAccountName", "ageGroup", "creationType",
]


def user_wire(u: User, state: TenantState) -> dict[str, Any]:
    nickname = u.user_principal_name.split("@")[0]
    return {
        "businessPhones": [],
        "displayName": u.display_name,
        "givenName": u.given_name,
        "jobTitle": u.job_title,
        "mail": u.mail,
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": None,
        "surname": u.surname,
        "userPrincipalName": u.user_principal_name,
        "id": u.id,
        "accountEnabled": u.account_enabled,
        "userType": u.user_type,
        "mailNickname": nickname,
        "imAddresses": [u.mail] if u.mail else [],
        "createdDateTime": None,
        "deletedDateTime": None,
        "onPremisesSyncEnabled": None,
        "usageLocation": None,
        "otherMails": [],
        "proxyAddresses": [f"SMTP:{u.mail}"] if u.mail else [],
        "identities": [{"signInType": "userPrincipalName", "issuer": state.default_domain,
                        "issuerAssignedId": u.user_principal_name}],
        "city": None,
        "country": None,
        "companyName": None,
        "department": None,
        "employeeId": None,
        "postalCode": None,
        "state": None,
        "streetAddress": None,
        "onPremisesImmutableId": None,
        "onPremisesSamAccountName": None,
        "ageGroup": None,
        "creationType": None,
    }


def user_default(u: User, state: TenantState) -> dict[str, Any]:
    full = user_wire(u, state)
    return {k: full[k] for k in USER_DEFAULT}


GROUP_ALL = [
    "id", "deletedDateTime", "classification", "createdDateTime", "creationOptions", "description",
    "displayName", "expirationDateTime", "groupTypes", "isAssignableToRole", "mail", "mailEnabled",
    "mailNickname", "membershipRule", "membershipRuleProcessingState", "onPremisesSyncEnabled",
    "proxyAddresses", "renewedDateTime", "resourceBehaviorOptions", "resourceProvisioningOptions",
    "securityEnabled", "securityIdentifier", "visibility",
]


def group_wire(g: Group, state: TenantState) -> dict[str, Any]:
    nickname = "".join(ch for ch in g.display_name if ch.isalnum()) or g.id[:8]
    return {
        "id": g.id,
        "deletedDateTime": None,
        "classification": None,
        "createdDateTime": None,
        "creationOptions": [],
        "description": None,
        "displayName": g.display_name,
        "expirationDateTime": None,
        "groupTypes": [],
        "isAssignableToRole": g.is_assignable_to_role,
        "mail": f"{nickname}@{state.default_domain}" if g.mail_enabled else None,
        "mailEnabled": g.mail_enabled,
        "mailNickname": nickname,
        "membershipRule": None,
        "membershipRuleProcessingState": None,
        "onPremisesSyncEnabled": None,
        "proxyAddresses": [],
        "renewedDateTime": None,
        "resourceBehaviorOptions": [],
        "resourceProvisioningOptions": [],
        "securityEnabled": g.security_enabled,
        "securityIdentifier": None,
        "visibility": None,
    }


DIRECTORY_ROLE_ALL = ["id", "deletedDateTime", "description", "displayName", "roleTemplateId"]


def directory_role_wire(d: DirectoryRoleDefinition, state: TenantState) -> dict[str, Any]:
    template = d.template_id or d.id
    return {
        "id": directory_role_object_id(state.tenant_id, template),
        "deletedDateTime": None,
        "description": d.description,
        "displayName": d.display_name,
        "roleTemplateId": template,
    }


# --- role management --------------------------------------------------------------------

ROLE_DEFINITION_ALL = [
    "id", "description", "displayName", "isBuiltIn", "isEnabled", "resourceScopes", "templateId",
    "version", "rolePermissions",
]


def role_definition_wire(d: DirectoryRoleDefinition, state: TenantState) -> dict[str, Any]:
    return {
        "id": d.id,
        "description": d.description,
        "displayName": d.display_name,
        "isBuiltIn": d.is_built_in,
        "isEnabled": True,
        "resourceScopes": ["/"],
        "templateId": d.template_id or d.id,
        "version": "1" if d.is_built_in else None,
        "rolePermissions": [
            {"allowedResourceActions": list(d.allowed_resource_actions), "condition": None,
             "excludedResourceActions": []}
        ],
    }


ROLE_ASSIGNMENT_ALL = ["id", "principalId", "resourceScope", "directoryScopeId", "roleDefinitionId",
                       "appScopeId", "condition"]


def role_assignment_wire(a: DirectoryRoleAssignment, state: TenantState) -> dict[str, Any]:
    return {
        "id": a.id,
        "principalId": a.principal_id,
        "resourceScope": a.directory_scope_id,
        "directoryScopeId": a.directory_scope_id,
        "roleDefinitionId": a.role_definition_id,
        "appScopeId": None,
        "condition": None,
    }


ELIGIBILITY_INSTANCE_ALL = ["id", "principalId", "roleDefinitionId", "directoryScopeId", "appScopeId",
                            "startDateTime", "endDateTime", "memberType", "roleEligibilityScheduleId"]


def eligibility_instance_wire(e: DirectoryRoleEligibility, state: TenantState) -> dict[str, Any]:
    return {
        "id": e.id,
        "principalId": e.principal_id,
        "roleDefinitionId": e.role_definition_id,
        "directoryScopeId": e.directory_scope_id,
        "appScopeId": None,
        "startDateTime": iso(e.start_time),
        "endDateTime": iso(e.end_time),
        "memberType": "Direct",
        "roleEligibilityScheduleId": e.id,
    }


ELIGIBILITY_SCHEDULE_ALL = ["id", "principalId", "roleDefinitionId", "directoryScopeId", "appScopeId",
                            "createdUsing", "createdDateTime", "modifiedDateTime", "status", "memberType",
                            "scheduleInfo"]


def eligibility_schedule_wire(e: DirectoryRoleEligibility, state: TenantState) -> dict[str, Any]:
    return {
        "id": e.id,
        "principalId": e.principal_id,
        "roleDefinitionId": e.role_definition_id,
        "directoryScopeId": e.directory_scope_id,
        "appScopeId": None,
        "createdUsing": e.id,
        "createdDateTime": iso(e.start_time),
        "modifiedDateTime": None,
        "status": "Provisioned",
        "memberType": "Direct",
        "scheduleInfo": {
            "startDateTime": iso(e.start_time),
            "recurrence": None,
            "expiration": {
                "type": "noExpiration" if e.end_time is None else "afterDateTime",
                "endDateTime": iso(e.end_time),
                "duration": None,
            },
        },
    }


ASSIGNMENT_INSTANCE_ALL = ["id", "principalId", "roleDefinitionId", "directoryScopeId", "appScopeId",
                           "startDateTime", "endDateTime", "assignmentType", "memberType",
                           "roleAssignmentOriginId", "roleAssignmentScheduleId"]


def assignment_instance_wire(a: DirectoryRoleAssignment, state: TenantState) -> dict[str, Any]:
    activated = a.activated_from_eligibility_id is not None
    return {
        "id": a.id,
        "principalId": a.principal_id,
        "roleDefinitionId": a.role_definition_id,
        "directoryScopeId": a.directory_scope_id,
        "appScopeId": None,
        "startDateTime": iso(a.start_time) if activated else None,
        "endDateTime": iso(a.end_time),
        "assignmentType": "Activated" if activated else "Assigned",
        "memberType": "Direct",
        "roleAssignmentOriginId": a.id,
        "roleAssignmentScheduleId": a.id,
    }


# --- applications and service principals ------------------------------------------------


def password_credential_wire(p: PasswordCredential, with_secret: bool = False) -> dict[str, Any]:
    return {
        "customKeyIdentifier": None,
        "displayName": p.display_name,
        "endDateTime": iso(p.end_time),
        "hint": p.hint,
        "keyId": p.key_id,
        # Graph returns the secret only in addPassword's response; stored credentials read back null.
        "secretText": p.secret_text if with_secret else None,
        "startDateTime": iso(p.start_time),
    }


def scope_wire(s: PermissionScope) -> dict[str, Any]:
    return {
        "adminConsentDescription": s.admin_consent_description,
        "adminConsentDisplayName": s.admin_consent_display_name,
        "id": s.id,
        "isEnabled": s.is_enabled,
        "type": s.type,
        "userConsentDescription": s.admin_consent_description if s.type == "User" else None,
        "userConsentDisplayName": s.admin_consent_display_name if s.type == "User" else None,
        "value": s.value,
    }


def app_role_wire(r: AppRole) -> dict[str, Any]:
    return {
        "allowedMemberTypes": list(r.allowed_member_types),
        "description": r.description,
        "displayName": r.display_name,
        "id": r.id,
        "isEnabled": r.is_enabled,
        "origin": "Application",
        "value": r.value,
    }


def rra_wire(r: RequiredResourceAccess) -> dict[str, Any]:
    return {
        "resourceAppId": r.resource_app_id,
        "resourceAccess": [{"id": ra.id, "type": ra.type} for ra in r.resource_access],
    }


APPLICATION_ALL = [
    "id", "deletedDateTime", "isFallbackPublicClient", "appId", "applicationTemplateId", "identifierUris",
    "createdDateTime", "disabledByMicrosoftStatus", "displayName", "isDeviceOnlyAuthSupported",
    "groupMembershipClaims", "optionalClaims", "addIns", "publisherDomain", "samlMetadataUrl",
    "signInAudience", "tags", "tokenEncryptionKeyId", "api", "appRoles", "publicClient", "info",
    "keyCredentials", "parentalControlSettings", "passwordCredentials", "requiredResourceAccess", "web",
    "spa", "verifiedPublisher", "certification", "description", "notes", "serviceManagementReference",
]


def application_wire(a: Application, state: TenantState) -> dict[str, Any]:
    return {
        "id": a.id,
        "deletedDateTime": None,
        "isFallbackPublicClient": True if a.public_client else None,
        "appId": a.app_id,
        "applicationTemplateId": None,
        "identifierUris": list(a.identifier_uris),
        "createdDateTime": iso(a.created_time),
        "disabledByMicrosoftStatus": None,
        "displayName": a.display_name,
        "isDeviceOnlyAuthSupported": None,
        "groupMembershipClaims": None,
        "optionalClaims": None,
        "addIns": [],
        "publisherDomain": state.default_domain,
        "samlMetadataUrl": None,
        "signInAudience": a.sign_in_audience,
        "tags": [],
        "tokenEncryptionKeyId": None,
        "api": {
            "requestedAccessTokenVersion": a.requested_access_token_version,
            "acceptMappedClaims": None,
            "knownClientApplications": [],
            "oauth2PermissionScopes": [scope_wire(s) for s in a.oauth2_permission_scopes],
            "preAuthorizedApplications": [],
        },
        "appRoles": [app_role_wire(r) for r in a.app_roles],
        "publicClient": {"redirectUris": []},
        "info": {"termsOfServiceUrl": None, "supportUrl": None, "privacyStatementUrl": None,
                 "marketingUrl": None, "logoUrl": None},
        "keyCredentials": [],
        "parentalControlSettings": {"countriesBlockedForMinors": [], "legalAgeGroupRule": "Allow"},
        "passwordCredentials": [password_credential_wire(p) for p in a.password_credentials],
        "requiredResourceAccess": [rra_wire(r) for r in a.required_resource_access],
        "web": {
            "redirectUris": list(a.web_redirect_uris),
            "homePageUrl": None,
            "logoutUrl": None,
            "implicitGrantSettings": {"enableIdTokenIssuance": False, "enableAccessTokenIssuance": False},
        },
        "spa": {"redirectUris": []},
        "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
        "certification": None,
        "description": None,
        "notes": None,
        "serviceManagementReference": None,
    }


SERVICE_PRINCIPAL_ALL = [
    "id", "deletedDateTime", "accountEnabled", "alternativeNames", "appDisplayName", "appDescription",
    "appId", "applicationTemplateId", "appOwnerOrganizationId", "appRoleAssignmentRequired", "description",
    "disabledByMicrosoftStatus", "displayName", "homepage", "loginUrl", "logoutUrl", "notes",
    "notificationEmailAddresses", "preferredSingleSignOnMode", "preferredTokenSigningKeyThumbprint",
    "publisherName", "replyUrls", "servicePrincipalNames", "servicePrincipalType", "signInAudience", "tags",
    "tokenEncryptionKeyId", "addIns", "appRoles", "info", "keyCredentials", "oauth2PermissionScopes",
    "passwordCredentials", "resourceSpecificApplicationPermissions", "verifiedPublisher",
]


def service_principal_wire(sp: ServicePrincipal, state: TenantState) -> dict[str, Any]:
    app = state.application_by_app_id(sp.app_id)
    managed = sp.service_principal_type == "ManagedIdentity"
    return {
        "id": sp.id,
        "deletedDateTime": None,
        "accountEnabled": sp.account_enabled,
        "alternativeNames": [],
        "appDisplayName": None if managed else (app.display_name if app else sp.display_name),
        "appDescription": None,
        "appId": sp.app_id,
        "applicationTemplateId": None,
        "appOwnerOrganizationId": sp.app_owner_organization_id or (state.tenant_id if app else None),
        "appRoleAssignmentRequired": False,
        "description": None,
        "disabledByMicrosoftStatus": None,
        "displayName": sp.display_name,
        "homepage": None,
        "loginUrl": None,
        "logoutUrl": None,
        "notes": None,
        "notificationEmailAddresses": [],
        "preferredSingleSignOnMode": None,
        "preferredTokenSigningKeyThumbprint": None,
        "publisherName": state.display_name if app else None,
        "replyUrls": list(app.web_redirect_uris) if app else [],
        "servicePrincipalNames": list(sp.service_principal_names) or [sp.app_id],
        "servicePrincipalType": sp.service_principal_type,
        "signInAudience": app.sign_in_audience if app else ("AzureADMultipleOrgs" if not managed else None),
        "tags": [],
        "tokenEncryptionKeyId": None,
        "addIns": [],
        "appRoles": [app_role_wire(r) for r in sp.app_roles],
        "info": {"termsOfServiceUrl": None, "supportUrl": None, "privacyStatementUrl": None,
                 "marketingUrl": None, "logoUrl": None},
        "keyCredentials": [],
        "oauth2PermissionScopes": [scope_wire(s) for s in sp.oauth2_permission_scopes],
        "passwordCredentials": [],
        "resourceSpecificApplicationPermissions": [],
        "verifiedPublisher": {"displayName": None, "verifiedPublisherId": None, "addedDateTime": None},
    }


GRANT_ALL = ["clientId", "consentType", "id", "principalId", "resourceId", "scope"]


def grant_wire(g: OAuth2PermissionGrant, state: TenantState) -> dict[str, Any]:
    return {
        "clientId": g.client_id,
        "consentType": g.consent_type,
        "id": g.id,
        "principalId": g.principal_id,
        "resourceId": g.resource_id,
        "scope": g.scope,
    }


APP_ROLE_ASSIGNMENT_ALL = ["id", "deletedDateTime", "appRoleId", "createdDateTime", "principalDisplayName",
                           "principalId", "principalType", "resourceDisplayName", "resourceId"]


def app_role_assignment_wire(a: AppRoleAssignment, state: TenantState) -> dict[str, Any]:
    return {
        "id": a.id,
        "deletedDateTime": None,
        "appRoleId": a.app_role_id,
        "createdDateTime": iso(a.created_time),
        "principalDisplayName": a.principal_display_name,
        "principalId": a.principal_id,
        "principalType": a.principal_type,
        "resourceDisplayName": a.resource_display_name,
        "resourceId": a.resource_id,
    }


# --- tenant-wide ------------------------------------------------------------------------


def organization_wire(state: TenantState) -> dict[str, Any]:
    domains = [state.default_domain]
    initial = next((d for d in domains if d.endswith(".onmicrosoft.com")), state.default_domain)
    return {
        "id": state.tenant_id,
        "deletedDateTime": None,
        "businessPhones": [],
        "city": None,
        "country": None,
        "countryLetterCode": "US",
        "createdDateTime": None,
        "defaultUsageLocation": None,
        "displayName": state.display_name,
        "marketingNotificationEmails": [],
        "onPremisesLastSyncDateTime": None,
        "onPremisesSyncEnabled": None,
        "postalCode": None,
        "preferredLanguage": "en",
        "privacyProfile": None,
        "securityComplianceNotificationMails": [],
        "securityComplianceNotificationPhones": [],
        "state": None,
        "street": None,
        "technicalNotificationMails": [],
        "tenantType": "AAD",
        "directorySizeQuota": {"used": len(state.users) + len(state.groups), "total": 300000},
        "assignedPlans": [],
        "provisionedPlans": [],
        "verifiedDomains": [
            {
                "capabilities": "Email, OfficeCommunicationsOnline",
                "isDefault": d == state.default_domain,
                "isInitial": d == initial,
                "name": d,
                "type": "Managed",
            }
            for d in domains
        ],
    }


def default_app_management_policy_wire(state: TenantState) -> dict[str, Any]:
    policy = state.app_management_policy
    restrictions: list[dict[str, Any]] = []
    if policy.password_addition_blocked:
        restrictions.append({"restrictionType": "passwordAddition", "state": "enabled", "maxLifetime": None,
                             "restrictForAppsCreatedAfterDateTime": "0001-01-01T00:00:00Z"})
    if policy.max_password_lifetime_days is not None:
        restrictions.append({"restrictionType": "passwordLifetime", "state": "enabled",
                             "maxLifetime": f"P{policy.max_password_lifetime_days}D",
                             "restrictForAppsCreatedAfterDateTime": "0001-01-01T00:00:00Z"})
    return {
        "id": DEFAULT_APP_MANAGEMENT_POLICY_ID,
        "description": "Default tenant policy that enforces app management restrictions on applications "
                       "and service principals.",
        "displayName": "Default app management tenant policy",
        "isEnabled": bool(restrictions),
        "applicationRestrictions": {"passwordCredentials": restrictions, "keyCredentials": []},
        "servicePrincipalRestrictions": {"passwordCredentials": list(restrictions), "keyCredentials": []},
    }


DEFAULT_APP_MANAGEMENT_POLICY_ID = "00000000-0000-0000-0000-000000000000"

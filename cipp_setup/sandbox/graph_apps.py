"""Graph handlers for app registrations and consent: applications (incl. addPassword /
removePassword), servicePrincipals (incl. appRoleAssignments / appRoleAssignedTo),
oauth2PermissionGrants, policies/defaultAppManagementPolicy and organization."""

from __future__ import annotations

import re
import secrets
import string
import uuid
from collections.abc import Iterator
from typing import Any

from .. import wellknown as wk
from . import graph_wire as w
from .graph_base import Call, GraphBase, GraphError404, Reply
from .graph_odata import (
    Filter,
    GraphError,
    bad_request,
    method_not_allowed,
    parse_filter,
    parse_select,
    segment_not_found,
)
from .state import (
    Application,
    AppRole,
    AppRoleAssignment,
    OAuth2PermissionGrant,
    PasswordCredential,
    PermissionScope,
    RequiredResourceAccess,
    ResourceAccess,
    ServicePrincipal,
)

_APP_FILTER = ["id", "appId", "displayName", "signInAudience", "publisherDomain", "identifierUris"]
_SP_FILTER = ["id", "appId", "displayName", "servicePrincipalType", "accountEnabled", "servicePrincipalNames",
              "appOwnerOrganizationId"]
_GRANT_FILTER = ["id", "clientId", "resourceId", "consentType", "principalId"]
_ALT_KEY = re.compile(r"^(applications|servicePrincipals)\(appId='([^']*)'\)$", re.IGNORECASE)
_TWO_YEARS = 2 * 365 * 86400 + 86400  # Graph's default secret lifetime (start + 2 years)
_SECRET_ALPHABET = string.ascii_letters + string.digits + "~_.-"

# Properties PATCH /applications accepts, and how each is applied (whole-value replacement,
# as Graph does for collections and complex types).
_APP_PATCHABLE = {"displayName", "identifierUris", "requiredResourceAccess", "api", "appRoles", "web",
                  "publicClient", "isFallbackPublicClient", "signInAudience", "description", "notes", "tags",
                  "spa", "info", "optionalClaims", "groupMembershipClaims", "serviceManagementReference"}


def split_alternate_key(segment: str) -> tuple[str, str] | None:
    """`applications(appId='...')` → ("applications", appId)."""
    m = _ALT_KEY.match(segment)
    return (m.group(1), m.group(2).lower()) if m else None




def _new_secret() -> str:
    # Entra secrets are 40 characters: a 3-character hint, a version marker "8Q~", 34 more.
    head = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(3))
    tail = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(34))
    return f"{head}8Q~{tail}"


class AppHandlers(GraphBase):
    # --- applications --------------------------------------------------------------------

    def _application(self, key: str, by_app_id: bool) -> Application:
        app = (self.state.application_by_app_id(key) if by_app_id
               else self.state.applications.get(key.lower()))
        if app is None or not self.visible(app):
            raise GraphError404(key)
        return app

    def handle_applications(self, call: Call, rest: list[str], app_id_key: str | None = None) -> Reply:
        entity_set = "applications"
        if app_id_key is None and not rest:
            if call.method == "GET":
                self.authorize(call, "applications.read")
                flt = parse_filter(call.query, _APP_FILTER, "application")
                select = parse_select(call.query, w.APPLICATION_ALL, "application")
                items = (w.application_wire(a, self.state) for a in self._app_candidates(flt) if self.visible(a))
                if flt is not None:
                    items = (i for i in items if flt.matches(i))
                return self.collection(call, entity_set, items, select=select)
            if call.method == "POST":
                return self._create_application(call)
            raise method_not_allowed()
        if app_id_key is not None:
            app = self._application(app_id_key, by_app_id=True)
        else:
            app = self._application(rest[0], by_app_id=False)
            rest = rest[1:]
        if not rest:
            if call.method == "GET":
                self.authorize(call, "applications.read")
                select = parse_select(call.query, w.APPLICATION_ALL, "application")
                return self.entity(entity_set, w.application_wire(app, self.state), select)
            if call.method == "PATCH":
                self.authorize(call, "applications.write", owners=app.owner_ids, object_scope=app.id)
                self._patch_application(app, call.body())
                return Reply(204)
            if call.method == "DELETE":
                self.authorize(call, "applications.write", owners=app.owner_ids, object_scope=app.id)
                self._delete_application(app)
                return Reply(204)
            raise method_not_allowed()
        action = rest[0].removeprefix("microsoft.graph.")
        if len(rest) > 1:
            raise segment_not_found(rest[1])
        if action == "addPassword" and call.method == "POST":
            self.authorize(call, "applications.write", owners=app.owner_ids, object_scope=app.id)
            return self._add_password(app, call.body())
        if action == "removePassword" and call.method == "POST":
            self.authorize(call, "applications.write", owners=app.owner_ids, object_scope=app.id)
            key_id = str(call.body().get("keyId") or "").lower()
            before = len(app.password_credentials)
            app.password_credentials = [p for p in app.password_credentials if p.key_id.lower() != key_id]
            if len(app.password_credentials) == before:
                raise bad_request(f"No password credential found with keyId '{key_id}'.")
            return Reply(204)
        if action == "owners" and call.method == "GET":
            self.authorize(call, "applications.read")
            owners = [o for oid in app.owner_ids if (o := self.directory_object(oid)) is not None]
            return self.collection(call, "directoryObjects", owners)
        if action in ("addPassword", "removePassword", "owners"):
            raise method_not_allowed()
        raise segment_not_found(rest[0])

    def _app_candidates(self, flt: Filter | None) -> list[Application]:
        eq = flt.equalities() if flt else {}
        if isinstance(eq.get("appId"), str):
            app = self.state.application_by_app_id(eq["appId"])
            return [app] if app else []
        if isinstance(eq.get("id"), str):
            app = self.state.applications.get(eq["id"].lower())
            return [app] if app else []
        return list(self.state.applications.values())

    def _create_application(self, call: Call) -> Reply:
        self.authorize(call, "applications.create")
        body = call.body()
        name = body.get("displayName")
        if not isinstance(name, str) or not name.strip():
            raise bad_request("Invalid value specified for property 'displayName' of resource 'Application'.")
        app = Application(
            id=str(uuid.uuid4()),
            app_id=str(uuid.uuid4()),
            display_name=name,
            created_time=self.state.clock.now(),
            owner_ids=[call.caller.object_id] if call.caller.object_id else [],
            visibility=self.state.new_visibility(),
        )
        self._apply_app_fields(app, {k: v for k, v in body.items() if k != "displayName"}, creating=True)
        self.state.add_application(app)
        return self.entity("applications", w.application_wire(app, self.state), status=201)

    def _patch_application(self, app: Application, body: dict[str, Any]) -> None:
        self._apply_app_fields(app, body, creating=False)

    def _apply_app_fields(self, app: Application, body: dict[str, Any], creating: bool) -> None:
        for key in body:
            if key.startswith("@odata."):
                continue
            if key == "passwordCredentials":
                raise bad_request("Updates to password credentials are not supported through this API; "
                                  "use addPassword and removePassword.")
            if key not in _APP_PATCHABLE:
                raise GraphError(400, "BadRequest",
                                 f"The property '{key}' does not exist on type 'microsoft.graph.application'. "
                                 "Make sure to only use property names that are defined by the type.")
        if "identifierUris" in body:
            uris = body["identifierUris"] or []
            if not isinstance(uris, list) or not all(isinstance(u, str) for u in uris):
                raise bad_request("Invalid value specified for property 'identifierUris' of resource 'Application'.")
            self._check_identifier_uris(app, uris)
        if "displayName" in body:
            app.display_name = str(body["displayName"])
        if "signInAudience" in body:
            app.sign_in_audience = str(body["signInAudience"])
        if "identifierUris" in body:
            app.identifier_uris = list(body["identifierUris"] or [])
            sp = self.state.service_principal_by_app_id(app.app_id)
            if sp is not None:
                sp.service_principal_names = [app.app_id] + list(app.identifier_uris)
                # The resource a token request may name follows the app: a removed URI stops resolving.
                sp.resource_uris = list(app.identifier_uris)
        if "requiredResourceAccess" in body:
            app.required_resource_access = [
                RequiredResourceAccess(
                    resource_app_id=str(r.get("resourceAppId", "")).lower(),
                    resource_access=[ResourceAccess(id=str(a["id"]).lower(), type=a.get("type", "Scope"))
                                     for a in r.get("resourceAccess") or []],
                )
                for r in body["requiredResourceAccess"] or []
            ]
        if "api" in body:
            api = body["api"] or {}
            # PATCH replaces the whole api object: properties it omits return to defaults.
            app.requested_access_token_version = api.get("requestedAccessTokenVersion")
            app.oauth2_permission_scopes = [
                PermissionScope(
                    id=str(s.get("id") or uuid.uuid4()).lower(),
                    value=str(s.get("value", "")),
                    admin_consent_display_name=str(s.get("adminConsentDisplayName") or ""),
                    admin_consent_description=str(s.get("adminConsentDescription") or ""),
                    type=s.get("type") or "User",
                    is_enabled=bool(s.get("isEnabled", True)),
                )
                for s in api.get("oauth2PermissionScopes") or []
            ]
        if "appRoles" in body:
            app.app_roles = [
                AppRole(id=str(r.get("id") or uuid.uuid4()).lower(), value=str(r.get("value", "")),
                        display_name=str(r.get("displayName") or ""), description=str(r.get("description") or ""),
                        allowed_member_types=list(r.get("allowedMemberTypes") or ["Application"]),
                        is_enabled=bool(r.get("isEnabled", True)))
                for r in body["appRoles"] or []
            ]
        if "web" in body:
            app.web_redirect_uris = list((body["web"] or {}).get("redirectUris") or [])
        if "isFallbackPublicClient" in body:
            app.public_client = bool(body["isFallbackPublicClient"])
        sp = self.state.service_principal_by_app_id(app.app_id)
        if sp is not None and not creating:
            # The tenant's own service principal mirrors the app's published permissions.
            sp.oauth2_permission_scopes = list(app.oauth2_permission_scopes)
            sp.app_roles = list(app.app_roles)

    def _check_identifier_uris(self, app: Application, uris: list[str]) -> None:
        allowed_prefixes = (f"api://{app.app_id}", f"api://{self.state.tenant_id}/")
        domain = self.state.default_domain.lower()
        for uri in uris:
            lower = uri.lower()
            host = re.match(r"^[a-z]+://([^/:]+)", lower)
            ok = (lower == f"api://{app.app_id}" or lower.startswith(allowed_prefixes)
                  or (host is not None and (host.group(1) == domain or host.group(1).endswith("." + domain))))
            if not ok:
                raise GraphError(400, "HostNameNotOnVerifiedDomain",
                                 "Values of identifierUris property must use a verified domain of the "
                                 "organization or its subdomain: '" + uri + "'")
            for other in self.state.applications.values():
                if other.id != app.id and lower in (u.lower() for u in other.identifier_uris):
                    raise bad_request("Another object with the same value for property identifierUris "
                                      "already exists.")

    def _delete_application(self, app: Application) -> None:
        self.state.remove_application(app.id)
        sp = self.state.service_principal_by_app_id(app.app_id)
        if sp is not None:  # deleting the app deletes its service principal in the home tenant
            self._delete_service_principal(sp)

    def _add_password(self, app: Application, body: dict[str, Any]) -> Reply:
        policy = self.state.app_management_policy
        if policy.password_addition_blocked:
            raise bad_request("Credential type not allowed as per assigned policy "
                              f"'{w.DEFAULT_APP_MANAGEMENT_POLICY_ID}'.", "CredentialTypeNotAllowedAsPerAppPolicy")
        spec = body.get("passwordCredential") or {}
        now = self.state.clock.now()
        start = w.parse_iso(spec["startDateTime"]) if isinstance(spec.get("startDateTime"), str) else now
        end = w.parse_iso(spec["endDateTime"]) if isinstance(spec.get("endDateTime"), str) else start + _TWO_YEARS
        if end <= start:
            raise bad_request("Invalid value specified for property 'endDateTime' of resource 'PasswordCredential'.")
        if policy.max_password_lifetime_days is not None and end - start > policy.max_password_lifetime_days * 86400:
            raise bad_request("Credential lifetime exceeds the max value allowed as per assigned policy "
                              f"'{w.DEFAULT_APP_MANAGEMENT_POLICY_ID}'.", "CredentialInvalidLifetimeAsPerAppPolicy")
        credential = PasswordCredential(
            key_id=str(uuid.uuid4()),
            display_name=spec.get("displayName"),
            secret_text=_new_secret(),
            start_time=start,
            end_time=end,
        )
        app.password_credentials.append(credential)
        body_out = {"@odata.context": f"{self.urls.graph}/v1.0/$metadata#microsoft.graph.passwordCredential"}
        body_out.update(w.password_credential_wire(credential, with_secret=True))
        return Reply(200, body_out)

    # --- service principals ----------------------------------------------------------------

    def _service_principal(self, key: str, by_app_id: bool) -> ServicePrincipal:
        sp = (self.state.service_principal_by_app_id(key) if by_app_id
              else self.state.service_principals.get(key.lower()))
        if sp is None or not self.visible(sp):
            raise GraphError404(key)
        return sp

    def _sp_owners(self, sp: ServicePrincipal) -> list[str]:
        app = self.state.application_by_app_id(sp.app_id)
        return list(app.owner_ids) if app else []

    def handle_service_principals(self, call: Call, rest: list[str], app_id_key: str | None = None) -> Reply:
        entity_set = "servicePrincipals"
        if app_id_key is None and not rest:
            if call.method == "GET":
                self.authorize(call, "servicePrincipals.read")
                flt = parse_filter(call.query, _SP_FILTER, "servicePrincipal")
                select = parse_select(call.query, w.SERVICE_PRINCIPAL_ALL, "servicePrincipal")
                items = (w.service_principal_wire(s, self.state) for s in self._sp_candidates(flt) if self.visible(s))
                if flt is not None:
                    items = (i for i in items if flt.matches(i))
                return self.collection(call, entity_set, items, select=select)
            if call.method == "POST":
                return self._create_service_principal(call)
            raise method_not_allowed()
        if app_id_key is not None:
            sp = self._service_principal(app_id_key, by_app_id=True)
        else:
            sp = self._service_principal(rest[0], by_app_id=False)
            rest = rest[1:]
        if not rest:
            if call.method == "GET":
                self.authorize(call, "servicePrincipals.read")
                select = parse_select(call.query, w.SERVICE_PRINCIPAL_ALL, "servicePrincipal")
                return self.entity(entity_set, w.service_principal_wire(sp, self.state), select)
            if call.method == "DELETE":
                self.authorize(call, "servicePrincipals.write", owners=self._sp_owners(sp))
                self._delete_service_principal(sp)
                return Reply(204)
            raise method_not_allowed()
        if rest[0] == "appRoleAssignments" and len(rest) == 1:
            if call.method != "GET":
                raise method_not_allowed()
            self.authorize(call, "appRoleAssignments.read")
            assigned = [w.app_role_assignment_wire(a, self.state) for a in self.state.app_role_assignments.values()
                        if a.principal_id == sp.id and self.visible(a)]
            return self.collection(call, "appRoleAssignments", assigned, directory_objects=False)
        if rest[0] == "appRoleAssignedTo":
            return self._app_role_assigned_to(call, sp, rest[1:])
        if rest[0] == "oauth2PermissionGrants" and len(rest) == 1 and call.method == "GET":
            self.authorize(call, "oauth2PermissionGrants.read")
            grants = [w.grant_wire(g, self.state) for g in self.state.oauth2_grants.values()
                      if g.client_id == sp.id and self.visible(g)]
            return self.collection(call, "oauth2PermissionGrants", grants, directory_objects=False)
        raise segment_not_found(rest[0])

    def _sp_candidates(self, flt: Filter | None) -> list[ServicePrincipal]:
        eq = flt.equalities() if flt else {}
        if isinstance(eq.get("appId"), str):
            sp = self.state.service_principal_by_app_id(eq["appId"])
            return [sp] if sp else []
        if isinstance(eq.get("id"), str):
            sp = self.state.service_principals.get(eq["id"].lower())
            return [sp] if sp else []
        return list(self.state.service_principals.values())

    def _create_service_principal(self, call: Call) -> Reply:
        body = call.body()
        app_id = str(body.get("appId") or "").lower()
        app = self.state.application_by_app_id(app_id) if app_id else None
        self.authorize(call, "servicePrincipals.create", owners=app.owner_ids if app else ())
        if app is None or not self.visible(app):
            raise bad_request(f"The appId '{app_id}' of the service principal does not reference a valid "
                              "application object.", "Request_BadRequest")
        if self.state.service_principal_by_app_id(app_id) is not None:
            raise GraphError(409, "Request_MultipleObjectsWithSameKeyValue",
                             "The service principal cannot be created, updated, or restored because the service "
                             f"principal name {app_id} is already in use.")
        sp = ServicePrincipal(
            id=str(uuid.uuid4()),
            app_id=app_id,
            display_name=app.display_name,
            app_owner_organization_id=self.state.tenant_id,
            app_roles=list(app.app_roles),
            oauth2_permission_scopes=list(app.oauth2_permission_scopes),
            service_principal_names=[app_id] + list(app.identifier_uris),
            resource_uris=list(app.identifier_uris),
            visibility=self.state.new_visibility(),
        )
        self.state.add_service_principal(sp)
        return self.entity("servicePrincipals", w.service_principal_wire(sp, self.state), status=201)

    def _delete_service_principal(self, sp: ServicePrincipal) -> None:
        self.state.remove_service_principal(sp.id)
        for gid in [g.id for g in self.state.oauth2_grants.values() if sp.id in (g.client_id, g.resource_id)]:
            del self.state.oauth2_grants[gid]
        for aid in [a.id for a in self.state.app_role_assignments.values() if sp.id in (a.principal_id, a.resource_id)]:
            del self.state.app_role_assignments[aid]

    def _consent_operation(self, resource: ServicePrincipal, kind: str) -> str:
        graph = resource.app_id == wk.MICROSOFT_GRAPH_APP_ID
        return f"{kind}.writeGraph" if graph else f"{kind}.writeOther"

    def _app_role_assigned_to(self, call: Call, resource: ServicePrincipal, rest: list[str]) -> Reply:
        context = f"servicePrincipals('{resource.id}')/appRoleAssignedTo"
        if not rest:
            if call.method == "GET":
                self.authorize(call, "appRoleAssignments.read")
                items = [w.app_role_assignment_wire(a, self.state) for a in self.state.app_role_assignments.values()
                         if a.resource_id == resource.id and self.visible(a)]
                return self.collection(call, context, items, directory_objects=False)
            if call.method != "POST":
                raise method_not_allowed()
            self.authorize(call, self._consent_operation(resource, "appRoleAssignments"))
            return self._create_app_role_assignment(call, resource, context)
        if len(rest) > 1:
            raise segment_not_found(rest[1])
        assignment = self.state.app_role_assignments.get(rest[0])
        if assignment is None or assignment.resource_id != resource.id or not self.visible(assignment):
            raise GraphError404(rest[0])
        if call.method == "GET":
            self.authorize(call, "appRoleAssignments.read")
            return self.entity(context, w.app_role_assignment_wire(assignment, self.state))
        if call.method == "DELETE":
            self.authorize(call, self._consent_operation(resource, "appRoleAssignments"))
            del self.state.app_role_assignments[assignment.id]
            return Reply(204)
        raise method_not_allowed()

    def _create_app_role_assignment(self, call: Call, resource: ServicePrincipal, context: str) -> Reply:
        body = call.body()
        principal_id = str(body.get("principalId") or "").lower()
        app_role_id = str(body.get("appRoleId") or "").lower()
        resource_id = str(body.get("resourceId") or resource.id).lower()
        if resource_id != resource.id:
            raise bad_request("The resourceId in the request body must match the service principal in the URL.")
        principal = self.directory_object(principal_id)
        if principal is None:
            raise GraphError404(principal_id)
        default_role = "00000000-0000-0000-0000-000000000000"
        if app_role_id != default_role and not any(r.id == app_role_id for r in resource.app_roles):
            raise bad_request(f"Permission being assigned was not found on application '{resource.app_id}'.")
        for existing in self.state.app_role_assignments.values():
            if (existing.principal_id == principal_id and existing.resource_id == resource.id
                    and existing.app_role_id == app_role_id):
                raise bad_request("Permission being assigned already exists on the object")
        principal_type = principal["@odata.type"].rsplit(".", 1)[-1]
        assignment = AppRoleAssignment(
            id=w.app_role_assignment_id(principal_id),
            principal_id=principal_id,
            principal_type={"user": "User", "group": "Group"}.get(principal_type, "ServicePrincipal"),
            principal_display_name=str(principal.get("displayName") or ""),
            resource_id=resource.id,
            resource_display_name=resource.display_name,
            app_role_id=app_role_id,
            created_time=self.state.clock.now(),
            visibility=self.state.new_visibility(),
        )
        self.state.app_role_assignments[assignment.id] = assignment
        return self.entity(context, w.app_role_assignment_wire(assignment, self.state), status=201)

    # --- oauth2PermissionGrants ------------------------------------------------------------

    def handle_grants(self, call: Call, rest: list[str]) -> Reply:
        entity_set = "oauth2PermissionGrants"
        if not rest:
            if call.method == "GET":
                self.authorize(call, "oauth2PermissionGrants.read")
                flt = parse_filter(call.query, _GRANT_FILTER, "oAuth2PermissionGrant")
                select = parse_select(call.query, w.GRANT_ALL + ["id"], "oAuth2PermissionGrant")
                items: Iterator[dict[str, Any]] = (self._grant_list_item(g)
                                                   for g in list(self.state.oauth2_grants.values())
                                                   if self.visible(g))
                if flt is not None:
                    items = (i for i in items if flt.matches(i))
                return self.collection(call, entity_set, items, select=select, directory_objects=False)
            if call.method == "POST":
                return self._create_grant(call)
            raise method_not_allowed()
        if len(rest) > 1:
            raise segment_not_found(rest[1])
        grant = self.find(self.state.oauth2_grants, rest[0])
        resource = self.state.service_principals.get(grant.resource_id)
        write_op = (self._consent_operation(resource, "oauth2PermissionGrants") if resource
                    else "oauth2PermissionGrants.writeGraph")
        if call.method == "GET":
            self.authorize(call, "oauth2PermissionGrants.read")
            return self.entity(entity_set, w.grant_wire(grant, self.state))
        if call.method == "PATCH":
            self.authorize(call, write_op)
            body = call.body()
            if "scope" in body:
                # The new value replaces the old one: to add scopes, send old + new.
                grant.scope = str(body["scope"] or "")
            return Reply(204)
        if call.method == "DELETE":
            self.authorize(call, write_op)
            del self.state.oauth2_grants[grant.id]
            return Reply(204)
        raise method_not_allowed()

    def _grant_list_item(self, grant: OAuth2PermissionGrant) -> dict[str, Any]:
        # Graph's unfiltered grant list carries each grant's canonical address.
        address = f"{self.urls.graph}/v2/{self.state.tenant_id}/oauth2PermissionGrants/{grant.id}"
        return {"@odata.id": address, **w.grant_wire(grant, self.state)}

    def _create_grant(self, call: Call) -> Reply:
        body = call.body()
        client_id = str(body.get("clientId") or "").lower()
        resource_id = str(body.get("resourceId") or "").lower()
        consent_type = str(body.get("consentType") or "")
        principal_id = body.get("principalId")
        principal_id = str(principal_id).lower() if principal_id else None
        resource = self.state.service_principals.get(resource_id)
        self.authorize(call, self._consent_operation(resource, "oauth2PermissionGrants") if resource
                       else "oauth2PermissionGrants.writeGraph")
        if consent_type not in ("AllPrincipals", "Principal"):
            raise bad_request("Invalid value specified for property 'consentType' of resource "
                              "'OAuth2PermissionGrant'.")
        if consent_type == "Principal" and not principal_id:
            raise bad_request("principalId is required when consentType is 'Principal'.")
        if consent_type == "AllPrincipals":
            principal_id = None
        client = self.state.service_principals.get(client_id)
        if client is None or not self.visible(client):
            raise GraphError404(client_id)
        if resource is None or not self.visible(resource):
            raise GraphError404(resource_id)
        if principal_id and self.directory_object(principal_id) is None:
            raise GraphError404(principal_id)
        gid = w.grant_id(client_id, resource_id, principal_id)
        if gid in self.state.oauth2_grants:
            raise GraphError(409, "Request_MultipleObjectsWithSameKeyValue",
                             "Permission entry already exists.")
        grant = OAuth2PermissionGrant(
            id=gid, client_id=client_id, consent_type=consent_type,  # type: ignore[arg-type]
            resource_id=resource_id, scope=str(body.get("scope") or ""), principal_id=principal_id,
            visibility=self.state.new_visibility(),
        )
        self.state.oauth2_grants[gid] = grant
        return self.entity("oauth2PermissionGrants", w.grant_wire(grant, self.state), status=201)

    # --- tenant-wide -----------------------------------------------------------------------

    def handle_policies(self, call: Call, rest: list[str]) -> Reply:
        if rest != ["defaultAppManagementPolicy"]:
            raise segment_not_found(rest[0] if rest else "policies")
        if call.method != "GET":
            raise method_not_allowed()
        self.authorize(call, "policies.read")
        return self.entity("policies/defaultAppManagementPolicy",
                           w.default_app_management_policy_wire(self.state))

    def handle_organization(self, call: Call, rest: list[str]) -> Reply:
        if call.method != "GET":
            raise method_not_allowed()
        self.authorize(call, "organization.read")
        org = w.organization_wire(self.state)
        select = parse_select(call.query, list(org), "organization")
        if not rest:
            return self.collection(call, "organization", [org], select=select, directory_objects=False)
        if rest[0].lower() != self.state.tenant_id.lower() or len(rest) > 1:
            raise GraphError404(rest[0])
        return self.entity("organization", org, select)

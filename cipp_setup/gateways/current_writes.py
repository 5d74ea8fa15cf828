"""Writes for the current-generation fixes (CIPP 7.2+, API clients).

- `GraphAppWrites` (msgraph-sdk) extends `GraphWrites`: app role assignments on a
  resource service principal (admin consent of application permissions), identifier
  URIs, `addPassword`, and the tenant's app-management policy (how long a new secret
  may live).
- `WebWrites` (azure-mgmt-web) extends `ArmWrites`: the Function App's system-assigned
  managed identity and its Easy Auth settings (`config/authsettingsV2`).

Same classification as the base gateways: status and error code, never message text.
Graph answers a duplicate app role assignment with a plain 400; the fix engine reads
the tenant to tell whether that was a duplicate. The new secret's value is returned in
a `Secret`, never logged, and never part of an exception message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cipp_setup.engine.result import Secret
from cipp_setup.engine.writes import WriteRefused
from cipp_setup.gateways.arm_json import as_object, json_body, raw_json
from cipp_setup.gateways.arm_writes import ArmWrites
from cipp_setup.gateways.graph import _query
from cipp_setup.gateways.graph_writes import GraphWrites


@dataclass(frozen=True)
class AppRoleGrant:
    """An appRoleAssignment as plain values."""

    id: str
    principal_id: str
    resource_id: str
    app_role_id: str


@dataclass(frozen=True)
class CreatedPassword:
    key_id: str
    secret: Secret
    end_date_time: str  # ISO 8601, UTC


@dataclass(frozen=True)
class PasswordPolicy:
    """What the tenant's default app-management policy says about client secrets."""

    addition_blocked: bool = False
    max_lifetime_days: int | None = None


def _lower(value: Any) -> str:
    return "" if value is None else str(value).lower()


def _iso(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.isoformat().replace("+00:00", "Z")


def _days(value: Any) -> int | None:
    """A policy's maxLifetime (kiota parses ISO 8601 durations into timedelta) in days."""
    if value is None:
        return None
    days = getattr(value, "days", None)
    if isinstance(days, int):
        return days
    text = str(value).upper()
    if text.startswith("P") and text.endswith("D") and text[1:-1].isdigit():
        return int(text[1:-1])
    return None


class GraphAppWrites(GraphWrites):
    """The Graph writes of the current-generation fixes."""

    async def list_app_role_assignments(self, principal_id: str) -> list[AppRoleGrant]:
        """The app roles granted to a service principal (its appRoleAssignments)."""
        builder = self._client.service_principals.by_service_principal_id(principal_id).app_role_assignments
        page = await self._call("reading the app role assignments", builder.get)
        return [
            AppRoleGrant(id=str(a.id), principal_id=_lower(a.principal_id), resource_id=_lower(a.resource_id),
                         app_role_id=_lower(a.app_role_id))
            for a in ((page.value or []) if page else [])
        ]

    async def create_app_role_assignment(self, principal_id: str, resource_id: str, app_role_id: str) -> str:
        """POST /servicePrincipals/{resource}/appRoleAssignedTo: admin consent of one app role."""
        from uuid import UUID

        from msgraph.generated.models.app_role_assignment import AppRoleAssignment

        body = AppRoleAssignment(principal_id=UUID(principal_id), resource_id=UUID(resource_id),
                                 app_role_id=UUID(app_role_id))
        builder = self._client.service_principals.by_service_principal_id(resource_id).app_role_assigned_to
        created = await self._call("granting the application permission", lambda: builder.post(body),
                                   references_other_object=True)
        return str(created.id) if created else ""

    async def get_identifier_uris(self, application_object_id: str) -> list[str]:
        builder = self._client.applications.by_application_id(application_object_id)
        config = _query(builder, select=["id", "identifierUris"])
        app = await self._call("reading the application", lambda: builder.get(request_configuration=config))
        return [str(u) for u in ((app.identifier_uris or []) if app else [])]

    async def set_identifier_uris(self, application_object_id: str, identifier_uris: list[str]) -> None:
        from msgraph.generated.models.application import Application

        builder = self._client.applications.by_application_id(application_object_id)
        await self._call("updating the application's identifierUris",
                         lambda: builder.patch(Application(identifier_uris=list(identifier_uris))))

    async def get_password_expiries(self, application_object_id: str) -> list[datetime | None]:
        """When each of the application's client secrets expires (None: never)."""
        builder = self._client.applications.by_application_id(application_object_id)
        config = _query(builder, select=["id", "passwordCredentials"])
        app = await self._call("reading the application", lambda: builder.get(request_configuration=config))
        return [p.end_date_time for p in ((app.password_credentials or []) if app else [])]

    async def add_password(self, application_object_id: str, display_name: str,
                           end_date_time: datetime | None) -> CreatedPassword:
        from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
            AddPasswordPostRequestBody,
        )
        from msgraph.generated.models.password_credential import PasswordCredential

        credential = PasswordCredential(display_name=display_name)
        if end_date_time is not None:
            credential.end_date_time = end_date_time
        body = AddPasswordPostRequestBody(password_credential=credential)
        builder = self._client.applications.by_application_id(application_object_id).add_password
        created = await self._call("adding a client secret", lambda: builder.post(body))
        if created is None or not created.secret_text:
            raise WriteRefused("bad-request", "Microsoft Graph created no secret (empty addPassword answer).")
        return CreatedPassword(key_id=_lower(created.key_id), secret=Secret(str(created.secret_text)),
                               end_date_time=_iso(created.end_date_time))

    async def password_policy(self) -> PasswordPolicy | None:
        """The tenant's default app-management policy for secrets; None if it cannot be read."""
        builder = self._client.policies.default_app_management_policy
        try:
            policy = await self._call("reading the app management policy", builder.get)
        except WriteRefused:
            return None  # Policy.Read.All not granted: the write itself will say what the policy allows
        if policy is None or policy.is_enabled is False:
            return PasswordPolicy()
        blocked = False
        max_days: int | None = None
        restrictions = policy.application_restrictions
        for r in ((restrictions.password_credentials or []) if restrictions else []):
            if _lower(getattr(r.state, "value", r.state)) not in ("enabled", ""):
                continue
            kind = _lower(getattr(r.restriction_type, "value", r.restriction_type))
            if kind == "passwordaddition":
                blocked = True
            elif kind == "passwordlifetime":
                days = _days(r.max_lifetime)
                if days is not None:
                    max_days = days if max_days is None else min(max_days, days)
        return PasswordPolicy(addition_blocked=blocked, max_lifetime_days=max_days)


@dataclass(frozen=True)
class SiteRef:
    subscription_id: str
    resource_group: str
    name: str


def parse_site_id(site_id: str) -> SiteRef:
    """/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Web/sites/{name}."""
    parts = site_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    try:
        sub = parts[lowered.index("subscriptions") + 1]
        rg = parts[lowered.index("resourcegroups") + 1]
        name = parts[lowered.index("sites") + 1]
    except (ValueError, IndexError):
        raise ValueError(f"not a Function App resource id: {site_id}") from None
    return SiteRef(sub, rg, name)


class WebWrites(ArmWrites):
    """The ARM half of the current-generation fixes: Microsoft.Web/sites."""

    def _web(self, subscription_id: str) -> Any:
        key = f"web:{subscription_id}"
        if key not in self._clients:
            from azure.mgmt.web import WebSiteManagementClient

            self._clients[key] = WebSiteManagementClient(self._credential, subscription_id, **self._client_kwargs())
        return self._clients[key]

    async def _site_document(self, site: SiteRef) -> dict[str, Any]:
        def get() -> Any:
            return self._web(site.subscription_id).web_apps.get(site.resource_group, site.name, cls=raw_json)

        return as_object(await self._write("reading the Function App", get))

    async def get_site_identity(self, site_id: str) -> str | None:
        """The system-assigned managed identity's principal id, or None when it has none."""
        identity = as_object((await self._site_document(parse_site_id(site_id))).get("identity"))
        if "systemassigned" not in identity_kinds(identity):
            return None
        return _lower(identity.get("principalId")) or None

    async def enable_site_identity(self, site_id: str) -> str:
        """Turn the system-assigned identity on, keeping every user-assigned identity.

        PATCH with `type: SystemAssigned` alone would detach user-assigned identities, so the
        site is read first and its identities are carried over. Returns the new principal id.
        """
        site = parse_site_id(site_id)
        current = as_object((await self._site_document(site)).get("identity"))
        body = {"identity": identity_with_system_assigned(current)}

        def patch() -> Any:
            return self._web(site.subscription_id).web_apps.update(
                site.resource_group, site.name, json_body(body), content_type="application/json", cls=raw_json,
            )

        updated = as_object(await self._write("turning on the Function App's managed identity", patch))
        return _lower(as_object(updated.get("identity")).get("principalId"))

    async def get_easy_auth(self, site_id: str) -> dict[str, Any]:
        """The authsettingsV2 `properties` exactly as ARM sends them (read with config/list)."""
        site = parse_site_id(site_id)

        def get() -> Any:
            return self._web(site.subscription_id).web_apps.get_auth_settings_v2(
                site.resource_group, site.name, cls=raw_json)

        found = as_object(await self._write("reading the Function App's authentication settings", get))
        return as_object(found.get("properties"))

    async def set_easy_auth(self, site_id: str, properties: dict[str, Any]) -> None:
        """PUT authsettingsV2 with `properties` as they are (the caller kept everything it did not change)."""
        site = parse_site_id(site_id)

        def put() -> Any:
            return self._web(site.subscription_id).web_apps.update_auth_settings_v2(
                site.resource_group, site.name, json_body({"properties": properties}),
                content_type="application/json", cls=raw_json,
            )

        await self._write("writing the Function App's authentication settings", put)


def identity_kinds(identity: dict[str, Any]) -> set[str]:
    """`"SystemAssigned, UserAssigned"` → {"systemassigned", "userassigned"} ("None" → empty)."""
    text = str(identity.get("type") or "")
    return {k.strip().lower() for k in text.split(",") if k.strip() and k.strip().lower() != "none"}


def identity_with_system_assigned(identity: dict[str, Any]) -> dict[str, Any]:
    """The `identity` of a site PATCH that adds the system-assigned identity to what is there.

    ARM replaces the identity as sent: the user-assigned identities must be named again
    (each with an empty object, as ARM's PATCH expects) and the type must list both.
    """
    user_assigned = as_object(identity.get("userAssignedIdentities"))
    if "userassigned" in identity_kinds(identity) and user_assigned:
        return {"type": "SystemAssigned, UserAssigned",
                "userAssignedIdentities": {resource_id: {} for resource_id in user_assigned}}
    return {"type": "SystemAssigned"}

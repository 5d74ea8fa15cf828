"""Entra ID's consent rules: which public clients exist everywhere, what a token may carry
without consent, who may consent to what, and what a consent writes.

The facts (sources in `public_clients.json` and `graph_permissions.json`):

- First-party public clients (the Azure CLI, Azure PowerShell) exist in every tenant
  without registration and are **pre-authorized** for fixed scopes: no consent is ever
  asked for those, and nothing else can be consented for them on that resource.
- Microsoft Graph Command Line Tools is registered as a **third-party** multi-tenant app:
  only `openid profile offline_access User.Read` are pre-authorized; anything else needs
  consent (`oauth2PermissionGrant`), asked dynamically in an interactive sign-in.
- Admin consent for the organization (an AllPrincipals grant) of delegated permissions:
  Global Administrator, Privileged Role Administrator, Cloud Application Administrator,
  Application Administrator (active, not merely eligible).
- A user may consent for themselves only where the tenant's user-consent setting allows it
  and only to permissions that do not need admin consent: `allow` (any such permission of
  any app), `verified-low-impact` (apps of verified publishers, low-impact permissions
  only), `none`. Otherwise AADSTS90094.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from cipp_setup import wellknown
from cipp_setup.sandbox.state import OAuth2PermissionGrant, ServicePrincipal, TenantState, Visibility, new_id

# Roles whose holders consent to delegated permissions for the whole organization.
ORGANIZATION_CONSENT_ROLES = frozenset({
    wellknown.GLOBAL_ADMINISTRATOR,
    wellknown.PRIVILEGED_ROLE_ADMINISTRATOR,
    wellknown.CLOUD_APPLICATION_ADMINISTRATOR,
    wellknown.APPLICATION_ADMINISTRATOR,
})

USER_CONSENT_SETTINGS = ("allow", "verified-low-impact", "none")
# Microsoft's suggested "low impact" classification for the verified-publisher setting.
LOW_IMPACT_SCOPES = frozenset({"openid", "profile", "email", "offline_access", "user.read"})
# Publisher of the Microsoft-owned clients in the table (all verified).
MICROSOFT_TENANT_ID = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"


_SP_NAMESPACE = uuid.UUID("6f1c2a4e-3b5d-4c7e-9a1f-0b2c3d4e5f60")


def first_party_object_id(tenant_id: str, app_id: str) -> str:
    """The object id a first-party service principal gets in this tenant (stable per tenant)."""
    return str(uuid.uuid5(_SP_NAMESPACE, f"{tenant_id.lower()}/{app_id.lower()}"))


@dataclass(frozen=True)
class PublicClient:
    app_id: str
    display_name: str
    first_party: bool
    # resource appId -> scope values usable without consent
    preauthorized: dict[str, tuple[str, ...]]
    # resources in the app's registration (`.default` is valid for these only)
    registered_resources: frozenset[str]
    # resources the client may ask only as `.default` (explicit scopes: AADSTS65002)
    default_only: frozenset[str]

    def preauthorized_for(self, resource_app_id: str) -> set[str]:
        return set(self.preauthorized.get(resource_app_id.lower(), ()))


def _load(name: str) -> Any:
    text = resources.files("cipp_setup.sandbox").joinpath(name).read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def public_clients() -> dict[str, PublicClient]:
    """The known public clients by appId (lower case)."""
    out: dict[str, PublicClient] = {}
    for raw in _load("public_clients.json")["clients"]:
        pre = {k.lower(): tuple(v) for k, v in raw.get("preauthorized", {}).items()}
        registered = raw.get("registered_resources")
        out[raw["app_id"].lower()] = PublicClient(
            app_id=raw["app_id"].lower(),
            display_name=raw["display_name"],
            first_party=raw["consent"] == "first-party",
            preauthorized=pre,
            registered_resources=frozenset(r.lower() for r in (registered if registered is not None else pre)),
            default_only=frozenset(r.lower() for r in raw.get("default_only", [])),
        )
    return out


def public_client(app_id: str) -> PublicClient | None:
    return public_clients().get(app_id.lower())


def public_client_by_name(name: str) -> PublicClient | None:
    wanted = name.strip().lower()
    return next((c for c in public_clients().values() if c.display_name.lower() == wanted), None)


@lru_cache(maxsize=1)
def graph_catalogue() -> list[tuple[str, str | None, str | None, bool]]:
    """Microsoft Graph's permissions: (value, appRole id, delegated scope id, admin consent).
    Generated from Microsoft's published list by tools/gen_graph_permissions.py."""
    rows = _load("graph_permissions.json")["permissions"]
    return [(r[0], r[1], r[2], bool(r[3])) for r in rows]


@lru_cache(maxsize=1)
def graph_display_names() -> dict[str, str]:
    """Each Graph permission's admin-facing display name, as the consent page shows it."""
    return {r[0]: r[4] for r in _load("graph_permissions.json")["permissions"] if len(r) > 4 and r[4]}


def ensure_service_principal(state: TenantState, client: PublicClient) -> ServicePrincipal:
    """The client's service principal here, created as Entra creates it on first use."""
    existing = state.service_principal_by_app_id(client.app_id)
    if existing is not None:
        return existing
    sp = ServicePrincipal(
        id=first_party_object_id(state.tenant_id, client.app_id),
        app_id=client.app_id,
        display_name=client.display_name,
        app_owner_organization_id=MICROSOFT_TENANT_ID,
        service_principal_names=[client.app_id],
    )
    state.add_service_principal(sp)
    return sp


def may_consent_for_organization(active_role_templates: set[str]) -> bool:
    """Whether a user holding these directory role templates (active ones: a PIM
    eligibility does not count) may consent for the organization."""
    return bool(active_role_templates & ORGANIZATION_CONSENT_ROLES)


def user_may_consent(
    state: TenantState, client_publisher_verified: bool, scopes: list[tuple[str, bool]]
) -> bool:
    """Whether the tenant's user-consent setting lets a user consent, for themselves, to
    `scopes` ((value, needs admin consent) pairs)."""
    setting = state.user_consent
    if setting == "none" or any(admin for _, admin in scopes):
        return False
    if setting == "verified-low-impact":
        return client_publisher_verified and all(v.lower() in LOW_IMPACT_SCOPES for v, _ in scopes)
    return True


def record_grant(
    state: TenantState,
    client_sp: ServicePrincipal,
    resource_sp: ServicePrincipal,
    values: list[str],
    principal_id: str | None,
) -> OAuth2PermissionGrant:
    """What Accept on the consent page writes: the client's grant on the resource, for
    everyone (`principal_id` None: AllPrincipals) or for one user (Principal), extended
    with `values` when one exists already."""
    consent_type: Literal["AllPrincipals", "Principal"] = "AllPrincipals" if principal_id is None else "Principal"
    for grant in state.oauth2_grants.values():
        if (grant.client_id == client_sp.id and grant.resource_id == resource_sp.id
                and grant.consent_type == consent_type and grant.principal_id == principal_id):
            have = grant.scopes()
            have_lower = {s.lower() for s in have}
            added = [v for v in values if v.lower() not in have_lower]
            if added:
                grant.scope = " ".join(have + added)
            return grant
    grant = OAuth2PermissionGrant(
        id=new_id(),
        client_id=client_sp.id,
        consent_type=consent_type,
        resource_id=resource_sp.id,
        scope=" ".join(values),
        principal_id=principal_id,
        visibility=Visibility(),
    )
    state.oauth2_grants[grant.id] = grant
    return grant

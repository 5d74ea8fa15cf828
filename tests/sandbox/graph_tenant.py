"""A small tenant and token helpers for the sandbox Graph tests.

People (all in one tenant built on the baseline):
- admin: Global Administrator (direct)
- pra: Privileged Role Administrator
- appadmin: Cloud Application Administrator
- grouped: Global Administrator through a role-assignable group
- eligible: Global Administrator only eligible through PIM
- plain: no directory role
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from cipp_setup import wellknown as wk
from cipp_setup.sandbox.baseline import baseline_state, first_party_object_id
from cipp_setup.sandbox.graph import GraphService
from cipp_setup.sandbox.http import Headers, Request, Response, SandboxUrls
from cipp_setup.sandbox.state import (
    Application,
    DirectoryRoleAssignment,
    DirectoryRoleEligibility,
    Group,
    ServicePrincipal,
    TenantState,
    User,
)
from cipp_setup.sandbox.tokens import TokenAuthority

TENANT_ID = "6babcaad-604b-40ac-a9d7-9fd97c0b779f"
DOMAIN = "contoso.onmicrosoft.com"
GRAPH_AUD = "https://graph.microsoft.com"
URLS = SandboxUrls(idp="https://127.0.0.1:1", graph="https://127.0.0.1:2", arm="https://127.0.0.1:3",
                   cipp="https://127.0.0.1:4", frontend="https://127.0.0.1:5", processor="https://127.0.0.1:6")

READ_SCOPES = ("User.Read User.Read.All Group.Read.All Directory.Read.All RoleManagement.Read.Directory "
               "Application.Read.All DelegatedPermissionGrant.Read.All Policy.Read.All "
               "RoleEligibilitySchedule.Read.Directory RoleAssignmentSchedule.Read.Directory")
WRITE_SCOPES = (READ_SCOPES + " RoleManagement.ReadWrite.Directory Application.ReadWrite.All "
                "DelegatedPermissionGrant.ReadWrite.All AppRoleAssignment.ReadWrite.All "
                "RoleAssignmentSchedule.ReadWrite.Directory")


def uid(name: str) -> str:
    return str(uuid.uuid5(uuid.UUID(TENANT_ID), name))


@dataclass
class Tenant:
    state: TenantState
    tokens: TokenAuthority
    graph: GraphService

    # ----- tokens -----

    def user_token(self, who: str, scopes: str = WRITE_SCOPES, **extra: Any) -> str:
        user = self.state.users[uid(who)]
        now = self.state.clock.now()
        claims = {
            "aud": GRAPH_AUD, "iss": f"https://sts.windows.net/{TENANT_ID}/", "tid": TENANT_ID,
            "oid": user.id, "upn": user.user_principal_name, "scp": scopes, "idtyp": "user",
            "appid": wk.TOOL_PUBLIC_CLIENT_ID, "ver": "1.0",
            "iat": int(now) - 5, "nbf": int(now) - 5, "exp": int(now) + 3600,
        }
        claims.update(extra)
        return self.tokens.issue(claims)

    def app_token(self, roles: list[str], app: str = "daemon", **extra: Any) -> str:
        sp = self.state.service_principals[uid(f"sp-{app}")]
        now = self.state.clock.now()
        claims = {
            "aud": GRAPH_AUD, "iss": f"https://sts.windows.net/{TENANT_ID}/", "tid": TENANT_ID,
            "oid": sp.id, "appid": sp.app_id, "roles": roles, "idtyp": "app", "ver": "1.0",
            "iat": int(now) - 5, "nbf": int(now) - 5, "exp": int(now) + 3600,
        }
        claims.update(extra)
        return self.tokens.issue(claims)

    # ----- calls -----

    def call(self, method: str, path_and_query: str, token: str | None, body: Any = None,
             headers: dict[str, str] | None = None) -> Response:
        from urllib.parse import parse_qs, unquote, urlsplit

        split = urlsplit(path_and_query)
        h = Headers(dict(headers or {}))
        if token:
            h["Authorization"] = f"Bearer {token}"
        raw = b""
        if body is not None:
            import json

            raw = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        request = Request(method=method, path=unquote(split.path), raw_path=path_and_query,
                          query={k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()},
                          headers=h, body=raw)
        with self.state.lock:
            self.state.request_count += 1
            return self.graph.handle(request)


def build_state() -> TenantState:
    state = baseline_state(tenant_id=TENANT_ID, default_domain=DOMAIN, display_name="Contoso")
    for name in ("admin", "pra", "appadmin", "grouped", "eligible", "plain"):
        state.add_user(User(id=uid(name), user_principal_name=f"{name}@{DOMAIN}",
                            display_name=name.capitalize(), mail=f"{name}@{DOMAIN}"))
    state.add_group(Group(id=uid("ga-group"), display_name="Tenant admins", is_assignable_to_role=True,
                          member_ids=[uid("grouped")]))
    state.add_group(Group(id=uid("staff"), display_name="All staff", mail_enabled=True,
                          member_ids=[uid("plain"), uid("admin"), uid("ga-group")]))
    for who, role in (("admin", wk.GLOBAL_ADMINISTRATOR), ("pra", wk.PRIVILEGED_ROLE_ADMINISTRATOR),
                      ("appadmin", wk.CLOUD_APPLICATION_ADMINISTRATOR), ("ga-group", wk.GLOBAL_ADMINISTRATOR)):
        state.add_role_assignment(DirectoryRoleAssignment(id=uid(f"ra-{who}"), principal_id=uid(who),
                                                          role_definition_id=role))
    state.role_eligibilities[uid("elig")] = DirectoryRoleEligibility(
        id=uid("elig"), principal_id=uid("eligible"), role_definition_id=wk.GLOBAL_ADMINISTRATOR,
        start_time=state.clock.now() - 86400, end_time=state.clock.now() + 365 * 86400)
    # An app-only daemon, and the CIPP-SAM app owned by nobody in particular.
    for key, name in (("daemon", "Daemon"), ("sam", "CIPP-SAM")):
        app = Application(id=uid(f"app-{key}"), app_id=uid(f"appid-{key}"), display_name=name,
                          created_time=state.clock.now())
        state.add_application(app)
        state.add_service_principal(ServicePrincipal(id=uid(f"sp-{key}"), app_id=app.app_id, display_name=name,
                                                     app_owner_organization_id=TENANT_ID,
                                                     service_principal_names=[app.app_id]))
    return state


def build_tenant(state: TenantState | None = None) -> Tenant:
    state = state or build_state()
    tokens = TokenAuthority(state, URLS.idp)
    return Tenant(state=state, tokens=tokens, graph=GraphService(state, tokens, URLS))


def graph_sp_id() -> str:
    return first_party_object_id(TENANT_ID, wk.MICROSOFT_GRAPH_APP_ID)


def arm_sp_id() -> str:
    return first_party_object_id(TENANT_ID, wk.AZURE_SERVICE_MANAGEMENT_APP_ID)


def now() -> float:
    return time.time()

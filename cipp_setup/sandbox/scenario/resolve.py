"""Resolving a scenario's references: keys, placeholders, roles, resources and scopes.

A scenario names objects by short keys (``users.sam``, ``applications.cipp``) and roles,
resources and scopes by their display names or ids. `Resolver` keeps what the loaders have
created so far and turns each reference into the id the state uses — or raises one
`ScenarioError` naming the field and what it could have been.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

from cipp_setup import wellknown
from cipp_setup.sandbox import baseline
from cipp_setup.sandbox.consent import ensure_service_principal, public_client, public_client_by_name
from cipp_setup.sandbox.scenario.errors import ScenarioError
from cipp_setup.sandbox.scenario.ids import derived_id
from cipp_setup.sandbox.state import (
    Application,
    AppRole,
    PermissionScope,
    ResourceGroup,
    ServicePrincipal,
    Subscription,
    TenantState,
)

DAY = 86400.0
# The key under which a scenario refers to the CIPP Function App's managed identity.
FUNCTION_APP_IDENTITY_KEY = "function_app"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass
class Principal:
    kind: str  # "user", "group", "service_principal", "application_without_sp"
    object_id: str
    section: str  # where the key was defined, for messages

    @property
    def arm_type(self) -> str:
        return {"user": "User", "group": "Group"}.get(self.kind, "ServicePrincipal")


@dataclass
class Resolver:
    """What a scenario has defined so far, and how its references resolve against it."""

    label: str  # the file, for messages
    name: str  # the scenario's name: the seed of every derived id
    doc: dict[str, Any]
    state: TenantState
    now: float
    principals: dict[str, Principal] = dataclass_field(default_factory=dict)
    apps: dict[str, Application] = dataclass_field(default_factory=dict)
    # by application key, service_principals key, or FUNCTION_APP_IDENTITY_KEY
    sps: dict[str, ServicePrincipal] = dataclass_field(default_factory=dict)
    subscriptions: dict[str, Subscription] = dataclass_field(default_factory=dict)

    def fail(self, field: str, expected: str) -> ScenarioError:
        return ScenarioError(self.label, field, expected)

    def derive_id(self, kind: str, key: str) -> str:
        return derived_id(self.name, kind, key)

    def register(self, section: str, key: str, principal: Principal) -> None:
        if key == FUNCTION_APP_IDENTITY_KEY and section != "cipp.function_app":
            raise self.fail(
                f"{section}.{key}",
                f"the key {key!r} is reserved for the Function App's managed "
                "identity: choose another key",
            )
        previous = self.principals.get(key)
        if previous is not None:
            raise self.fail(
                f"{section}.{key}",
                f"the key {key!r} is already used under {previous.section}: "
                "keys of users, groups, applications and service principals must be unique",
            )
        self.principals[key] = principal

    def add_service_principal(
        self, section: str, key: str, sp: ServicePrincipal, defined_in: str | None = None
    ) -> None:
        """A service principal the scenario defines, known by `key` to the sections after it."""
        self.sps[key] = sp
        self.state.add_service_principal(sp)
        self.register(section, key, Principal("service_principal", sp.id, defined_in or section))

    def principal(
        self, key: str, field: str, kinds: tuple[str, ...] = ("user", "group", "service_principal")
    ) -> Principal:
        found = self.principals.get(key)
        if found is None or found.kind not in kinds:
            choices = sorted(k for k, p in self.principals.items() if p.kind in kinds)
            words = [
                w
                for k in kinds
                for w in {
                    "user": ["user"],
                    "group": ["group"],
                    "service_principal": ["application", "service principal"],
                }[k]
            ]
            expected = ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]
            what = expected if len(kinds) == 1 else "principal"
            expected = ("an " if expected[0] in "aeiou" else "a ") + expected
            listing = ", ".join(choices) if choices else "none defined"
            raise self.fail(
                field,
                f"unknown {what} {key!r}: expected the key of {expected} defined in this "
                f"file ({listing})",
            )
        return found

    def substitute(self, text: str, field: str, own_app: Application | None = None) -> str:
        def replace(match: re.Match[str]) -> str:
            token = match.group(1).strip()
            if token == "tenant_id":
                return self.state.tenant_id
            if token == "domain":
                return self.state.default_domain
            if token == "app_id" and own_app is not None:
                return own_app.app_id
            function_app = self.doc.get("cipp", {}).get("function_app", {}).get("name")
            if token == "function_app_host" and function_app:
                return f"{function_app}.azurewebsites.net"
            if "." in token:
                key, attribute = token.rsplit(".", 1)
                app = self.apps.get(key)
                if app is not None and attribute in ("app_id", "id"):
                    return app.app_id if attribute == "app_id" else app.id
                sp = self.sps.get(key)
                if sp is not None and attribute in ("app_id", "id"):
                    return sp.app_id if attribute == "app_id" else sp.id
            raise self.fail(
                field,
                f"unknown placeholder {{{token}}}: expected {{tenant_id}}, {{domain}}, "
                "{app_id}, {function_app_host}, {KEY.app_id} or {KEY.id} with KEY an application key",
            )

        return _PLACEHOLDER.sub(replace, text)

    # ----- resources (for permissions, grants, app role assignments) -----

    def resource_definition(
        self, ref: str, field: str
    ) -> tuple[str, list[PermissionScope], list[AppRole], str]:
        """(appId, scopes, app roles, display name) of a resource, whether or not its SP is in the tenant."""
        app_id = baseline.FIRST_PARTY_ALIASES.get(ref.strip().lower())
        if app_id is None and ref.lower() in (
            wellknown.MICROSOFT_GRAPH_APP_ID,
            wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID,
        ):
            app_id = ref.lower()
        if app_id == wellknown.MICROSOFT_GRAPH_APP_ID:
            return (
                app_id,
                baseline.graph_permission_scopes(),
                baseline.graph_app_roles(),
                baseline.MICROSOFT_GRAPH_NAME,
            )
        if app_id == wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID:
            asm = baseline.azure_service_management_sp(self.state.tenant_id)
            return app_id, asm.oauth2_permission_scopes, asm.app_roles, asm.display_name
        known_client = public_client(app_id or ref) or public_client_by_name(ref)
        if known_client is not None:
            return known_client.app_id, [], [], known_client.display_name
        app = self.apps.get(ref) or next(
            (a for a in self.apps.values() if a.app_id == ref.lower()), None
        )
        if app is not None:
            return app.app_id, app.oauth2_permission_scopes, app.app_roles, app.display_name
        sp = self.sps.get(ref) or next(
            (s for s in self.sps.values() if s.app_id == ref.lower()), None
        )
        if sp is not None:
            return sp.app_id, sp.oauth2_permission_scopes, sp.app_roles, sp.display_name
        keys = ", ".join(sorted(set(self.apps) | set(self.sps)))
        raise self.fail(
            field,
            f"unknown resource {ref!r}: expected Microsoft Graph, Azure Service Management, "
            f"an appId, or an application / service principal key ({keys or 'none defined'})",
        )

    def resource_sp(self, ref: str, field: str) -> ServicePrincipal:
        """The resource's service principal in this tenant (a grant or assignment needs one)."""
        app_id, _, _, display = self.resource_definition(ref, field)
        sp = self.sps.get(ref) or self.state.service_principal_by_app_id(app_id)
        if sp is None:
            raise self.fail(
                field,
                f"{display} has no service principal in this tenant (omitted by baseline or "
                "service_principal: false): a grant or assignment needs one",
            )
        return sp

    @staticmethod
    def find_permission(items: list[Any], value: str) -> str | None:
        for item in items:
            if item.value == value or item.id == value.lower():
                return str(item.id)
        return None

    # ----- directory objects -----

    def role_definition_id(self, role: str, field: str) -> str:
        definitions = self.state.role_definitions
        return self._role_id(
            role,
            field,
            baseline.DIRECTORY_ROLE_IDS,
            {rid: d.display_name for rid, d in definitions.items()},
            "directory role",
            "a template id",
        )

    def _role_id(
        self,
        role: str,
        field: str,
        aliases: dict[str, str],
        names_by_id: dict[str, str],
        what: str,
        id_word: str,
    ) -> str:
        """A role's definition id from its name (any case) or its id."""
        rid = aliases.get(role.strip().lower())
        if rid is None and role.lower() in names_by_id:
            rid = role.lower()
        if rid is None:
            names = ", ".join(names_by_id.values())
            raise self.fail(
                field, f"unknown {what} {role!r}: expected one of {names} (or {id_word})"
            )
        return rid

    def client_sp(self, key: str, field: str) -> ServicePrincipal:
        # A public client every tenant has (Microsoft Graph Command Line Tools, the Azure
        # CLI, ...): its service principal exists once something was consented for it.
        if key not in self.principals:
            known = public_client(key) or public_client_by_name(key)
            if known is not None:
                return ensure_service_principal(self.state, known)
        found = self.principals.get(key)
        if found is not None and found.kind == "application_without_sp":
            raise self.fail(
                field,
                f"application {key!r} has no service principal (service_principal: false): "
                "expected an application with a service principal",
            )
        principal = self.principal(key, field, ("service_principal",))
        return self.state.service_principals[principal.object_id]

    def application(self, key: str, field: str) -> Application:
        app = self.apps.get(key)
        if app is None:
            raise self.fail(
                field,
                f"unknown application {key!r}: expected a key defined under "
                f"applications ({', '.join(self.apps) or 'none defined'})",
            )
        return app

    # ----- Azure: management groups, subscriptions, resource groups, scopes, roles -----

    def management_group(self, name: str, field: str) -> str:
        if name == "root" or name.lower() == self.state.tenant_id:
            return self.state.tenant_id
        if name not in self.state.management_groups:
            defined = (
                ", ".join(n for n in self.state.management_groups if n != self.state.tenant_id)
                or "none"
            )
            raise self.fail(
                field,
                f"unknown management group {name!r}: expected root or one defined under "
                f"management_groups ({defined})",
            )
        return name

    def subscription(self, key: str, field: str) -> Subscription:
        sub = self.subscriptions.get(key)
        if sub is None:
            defined = ", ".join(self.subscriptions) or "none"
            raise self.fail(
                field,
                f"unknown subscription {key!r}: expected a key defined under subscriptions ({defined})",
            )
        return sub

    def resource_group(
        self, sub: Subscription, name: str, field: str, create: bool = False
    ) -> ResourceGroup:
        rg = self.state.resource_groups.get((sub.subscription_id, name.lower()))
        if rg is None and create:
            rg = ResourceGroup(subscription_id=sub.subscription_id, name=name)
            self.state.resource_groups[(sub.subscription_id, name.lower())] = rg
        if rg is None:
            raise self.fail(
                field,
                f"unknown resource group {name!r} in subscription {sub.display_name!r}: expected "
                "one listed under that subscription's resource_groups",
            )
        return rg

    def arm_scope(self, scope: Any, field: str) -> str:
        if isinstance(scope, str):
            if scope in ("root", "/"):
                return "/"
            return scope.rstrip("/") or "/"
        if "management_group" in scope:
            name = self.management_group(scope["management_group"], f"{field}.management_group")
            return f"/providers/Microsoft.Management/managementGroups/{name}"
        if "site" in scope:
            name = scope["site"]
            cipp = self.state.cipp
            if name == "function_app" and cipp is not None:
                name = cipp.function_app
            elif name == "processor_app" and cipp is not None and cipp.processor_app:
                name = cipp.processor_app
            site = self.state.sites.get(name.lower())
            if site is None:
                known = ", ".join(s.name for s in self.state.sites.values()) or "none"
                raise self.fail(
                    f"{field}.site",
                    f"unknown site {name!r}: expected function_app, processor_app or a "
                    f"site name ({known})",
                )
            return site.resource_id
        sub = self.subscription(scope["subscription"], f"{field}.subscription")
        if "resource_group" in scope:
            rg = self.resource_group(sub, scope["resource_group"], f"{field}.resource_group")
            return f"/subscriptions/{sub.subscription_id}/resourceGroups/{rg.name}"
        return f"/subscriptions/{sub.subscription_id}"

    def arm_role_id(self, role: str, field: str) -> str:
        definitions = self.state.arm_role_definitions
        return self._role_id(
            role,
            field,
            baseline.ARM_ROLE_IDS,
            {rid: d.role_name for rid, d in definitions.items()},
            "Azure role",
            "a role definition GUID",
        )

"""Scenario files: a YAML (or JSON) description of a tenant and its CIPP instance.

`load_scenario(name_or_path)` reads a built-in scenario (``scenarios/*.yaml`` inside the
package, found with importlib.resources so it works from an installed wheel) or a file,
validates it against ``scenario.schema.json``, and builds a fresh `TenantState` on top of
`baseline.baseline_state`. Objects are named by short keys; every id a file leaves out is
derived with uuid5 from the scenario name and the object's key, so a scenario gives the
same ids on every run.

Every problem with a file — unreadable, bad YAML, a schema violation, a reference to a key
that does not exist, a permission the resource does not expose — raises `ScenarioError`,
whose message is one line naming the file, the field (``users.sam.upn``,
``directory_roles[2].principal``) and what was expected. The file format is documented in
docs/scenarios.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import yaml

from cipp_setup import wellknown
from cipp_setup.sandbox import baseline
from cipp_setup.sandbox.faults import validate_fault
from cipp_setup.sandbox.state import (
    ApiClient,
    Application,
    AppManagementPolicy,
    AppRole,
    AppRoleAssignment,
    ArmRoleAssignment,
    ArmRoleEligibility,
    CippInstance,
    DirectoryRoleAssignment,
    DirectoryRoleEligibility,
    Fault,
    Group,
    LogEntry,
    ManagementGroup,
    OAuth2PermissionGrant,
    PasswordCredential,
    PermissionScope,
    Replication,
    RequiredResourceAccess,
    ResourceAccess,
    ResourceGroup,
    ServicePrincipal,
    Site,
    Subscription,
    TenantState,
    User,
)

if TYPE_CHECKING:  # importlib.resources.abc is 3.11+; importlib.abc has it on 3.10
    from importlib.abc import Traversable

__all__ = ["ScenarioError", "list_scenarios", "load_scenario", "scenario_schema"]

DAY = 86400.0
# Namespace for every id a scenario derives (uuid5 of "scenario/kind/key").
_ID_NAMESPACE = uuid.UUID("0b6f9c3e-8d2a-5e41-9c7b-3a1d5f2e4c60")
# The key under which a scenario refers to the CIPP Function App's managed identity.
FUNCTION_APP_IDENTITY_KEY = "function_app"
_SCHEMA_FILE = "scenario.schema.json"


class ScenarioError(Exception):
    """A scenario that cannot be loaded. `str()` is one line: file, field, what was expected."""

    def __init__(self, file: str, field: str, expected: str) -> None:
        self.file = file
        self.field = field
        self.expected = " ".join(expected.split())  # always one line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{where}: {self.expected}"


# --- finding scenarios ----------------------------------------


def _builtin_dir() -> Traversable:
    return resources.files("cipp_setup.sandbox").joinpath("scenarios")


def _builtin_files() -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for entry in _builtin_dir().iterdir():
        if entry.is_file() and entry.name.endswith(".yaml"):
            found[entry.name[: -len(".yaml")]] = entry
    return dict(sorted(found.items()))


def list_scenarios() -> list[tuple[str, str]]:
    """The built-in scenarios as (name, one-line description), sorted by name."""
    out: list[tuple[str, str]] = []
    for name, entry in _builtin_files().items():
        try:
            doc = yaml.safe_load(entry.read_text(encoding="utf-8"))
            description = str(doc.get("description", "")).strip() if isinstance(doc, dict) else ""
        except yaml.YAMLError:
            description = "(this built-in scenario does not parse)"
        out.append((name, description.splitlines()[0] if description else ""))
    return out


def scenario_schema() -> dict[str, Any]:
    """The JSON Schema of the scenario format."""
    text = resources.files("cipp_setup.sandbox").joinpath(_SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _looks_like_path(text: str) -> bool:
    return (
        "/" in text
        or "\\" in text
        or text.endswith((".yaml", ".yml", ".json"))
        or Path(text).is_file()
    )


def _read_source(name_or_path: str | Path) -> tuple[str, str, str]:
    """(label for errors, text, default scenario name)."""
    if isinstance(name_or_path, Path) or _looks_like_path(str(name_or_path)):
        path = Path(name_or_path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ScenarioError(
                str(path),
                "",
                "no such file: expected a scenario file (.yaml) or a built-in scenario name",
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ScenarioError(str(path), "", f"cannot read the file ({reason})") from None
        stem = path.name.rsplit(".", 1)[0] if "." in path.name else path.name
        return str(path), text, stem
    name = str(name_or_path).strip()
    builtins = _builtin_files()
    entry = builtins.get(name)
    if entry is None:
        choices = ", ".join(builtins)
        raise ScenarioError(
            f"unknown scenario {name!r}",
            "",
            f"choose one of {choices} (or give the path of a scenario file)",
        )
    return f"{name}.yaml", entry.read_text(encoding="utf-8"), name


# --- YAML with duplicate-key detection ----------------------------------------------------------


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int, column: int) -> None:
        self.key, self.line, self.column = key, line, column
        super().__init__(key)


class _StrictLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader that refuses duplicate mapping keys (plain YAML keeps the last silently)."""


def _construct_mapping(
    loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, (str, int, float, bool)) and key in seen:
            mark = key_node.start_mark
            raise _DuplicateKey(key, mark.line + 1, mark.column + 1)
        seen.add(key)
    return cast("dict[Any, Any]", loader.construct_mapping(node, deep=deep))


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _parse(label: str, text: str) -> dict[str, Any]:
    try:
        doc = yaml.load(text, Loader=_StrictLoader)
    except _DuplicateKey as dup:
        raise ScenarioError(
            label,
            f"line {dup.line}, column {dup.column}",
            f"duplicate key {dup.key!r}: each key may appear once in a mapping",
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "unreadable"
        raise ScenarioError(label, where, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(label, "", f"invalid YAML: {exc}") from None
    if not isinstance(doc, dict):
        got = "an empty file" if doc is None else f"a {type(doc).__name__}"
        raise ScenarioError(
            label,
            "",
            f"expected a mapping of scenario fields (description, tenant, ...), got {got}",
        )
    return doc


# --- schema validation ----------------------------------------


def _json_path(parts: Any) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null (empty)"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    text = json.dumps(value) if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPE_WORDS = {
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "null",
}


def _schema_message(error: Any) -> tuple[str, str]:
    """(field path, expectation) for one jsonschema ValidationError."""
    path = list(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    expected_hint = schema.get("x-expected")
    validator = error.validator
    if validator == "required":
        missing = re.search(r"'([^']+)' is a required property", error.message)
        field = missing.group(1) if missing else "?"
        return _json_path([*path, field]), "is required but missing"
    if validator == "additionalProperties":
        extra = re.findall(r"'([^']+)'", error.message.split("(")[-1])
        allowed = ", ".join(sorted(schema.get("properties", {})))
        field = extra[0] if extra else "?"
        return _json_path([*path, field]), f"unknown field: expected one of {allowed}"
    if validator == "propertyNames":
        key = error.instance
        return _json_path([*path, key]), (
            "bad key: expected a short key of letters, digits, '-', '_' or '.'"
        )
    got = _describe(error.instance)
    if expected_hint:
        return _json_path(path), f"expected {expected_hint}, got {got}"
    if validator == "type":
        types = (
            error.validator_value
            if isinstance(error.validator_value, list)
            else [error.validator_value]
        )
        words = " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in types)
        return _json_path(path), f"expected {words}, got {got}"
    if validator == "enum":
        choices = ", ".join("null" if c is None else str(c) for c in error.validator_value)
        return _json_path(path), f"expected one of {choices}, got {got}"
    if validator in ("minimum", "exclusiveMinimum"):
        return _json_path(path), f"expected a value of at least {error.validator_value}, got {got}"
    if validator == "minLength":
        return _json_path(path), f"expected a non-empty string, got {got}"
    if validator == "minItems":
        return _json_path(path), "expected a non-empty list"
    if validator == "pattern":
        return _json_path(path), f"expected a value matching {error.validator_value}, got {got}"
    return _json_path(path), error.message.splitlines()[0]


def _validate(label: str, doc: dict[str, Any]) -> None:
    import jsonschema  # imported here: only scenario loading needs it

    validator = jsonschema.Draft202012Validator(scenario_schema())
    errors = list(validator.iter_errors(doc))
    if not errors:
        return
    # The deepest error is the most specific; for oneOf alternatives prefer the parent's hint.
    best = jsonschema.exceptions.best_match(errors)
    if best.validator in ("oneOf", "anyOf") and not best.schema.get("x-expected"):
        contexts = sorted(best.context or [], key=lambda e: -len(e.absolute_path))
        if contexts:
            best = contexts[0]
    field, expected = _schema_message(best)
    raise ScenarioError(label, field or "(top level)", expected)


# --- ids as the real services shape them ----------------------------------------


def _b64_guid_bytes(*guids: str) -> str:
    raw = b"".join(uuid.UUID(g).bytes_le for g in guids)
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def oauth2_grant_id(client_id: str, resource_id: str, principal_id: str | None = None) -> str:
    """Graph's oauth2PermissionGrant id: base64url of the client, resource [and user] GUID bytes."""
    return _b64_guid_bytes(client_id, resource_id, *([principal_id] if principal_id else []))


def role_assignment_id(role_definition_id: str, principal_id: str) -> str:
    """A unifiedRoleAssignment id as Graph forms it: base64url(role + principal bytes) + "-1"."""
    return _b64_guid_bytes(role_definition_id, principal_id) + "-1"


def role_eligibility_id(role_definition_id: str, principal_id: str) -> str:
    """A roleEligibilityScheduleInstance id as Graph forms it (suffix "-1-e")."""
    return _b64_guid_bytes(role_definition_id, principal_id) + "-1-e"


_SECRET_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789~._-"


def derived_secret(seed: str) -> str:
    """A 40-character client secret of the real shape (``xxx8Q~...``), derived from `seed`."""
    digest = (
        hashlib.sha256(seed.encode("utf-8")).digest()
        + hashlib.sha256(b"2" + seed.encode()).digest()
    )
    chars = [_SECRET_ALPHABET[b % len(_SECRET_ALPHABET)] for b in digest]
    prefix = "".join(c if c.isalnum() else "x" for c in chars[:3])
    return prefix + "8Q~" + "".join(chars[3:37])


# --- building the state ----------------------------------------


@dataclass
class _Principal:
    kind: str  # "user", "group", "service_principal"
    object_id: str
    section: str  # where the key was defined, for messages

    @property
    def arm_type(self) -> str:
        return {"user": "User", "group": "Group"}.get(self.kind, "ServicePrincipal")


_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_FIRST_PARTY_OMIT = {
    "azure service management": wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID,
    "microsoft graph command line tools": wellknown.TOOL_PUBLIC_CLIENT_ID,
}
# Generated log entries: (API, message, severity) as CIPP writes them.
_LOG_SAMPLES = [
    ("Standards", "Standard applied successfully", "Info"),
    ("Update-CIPPDynamicTenantGroups", "Updated tenant group members", "Info"),
    ("ExecCPVPermissions", "Refreshed CPV permissions for tenant", "Info"),
    ("Alerts", "Ran alert checks", "Info"),
    ("Scheduler_Billing", "Completed scheduled task", "Info"),
    ("BestPracticeAnalyser", "Best practice analyser finished", "Info"),
    ("Standards", "Could not apply standard: the tenant did not answer in time", "Warning"),
    ("ExecCPVPermissions", "Could not connect to tenant: insufficient permissions", "Error"),
    ("Alerts", "Alert check skipped: no licence for this feature", "Debug"),
]


class _Builder:
    def __init__(self, label: str, name: str, doc: dict[str, Any]) -> None:
        self.label = label
        self.name = name
        self.doc = doc
        self.principals: dict[str, _Principal] = {}
        self.apps: dict[str, Application] = {}
        self.sps: dict[
            str, ServicePrincipal
        ] = {}  # app keys, service_principals keys, function_app
        self.subscriptions: dict[str, Subscription] = {}
        self.state: TenantState
        self.now = 0.0

    # ----- helpers -----

    def fail(self, field: str, expected: str) -> ScenarioError:
        return ScenarioError(self.label, field, expected)

    def derive_id(self, kind: str, key: str) -> str:
        return str(uuid.uuid5(_ID_NAMESPACE, f"{self.name}/{kind}/{key}"))

    def register(self, section: str, key: str, principal: _Principal) -> None:
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

    def principal(
        self, key: str, field: str, kinds: tuple[str, ...] = ("user", "group", "service_principal")
    ) -> _Principal:
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
        if app_id == wellknown.TOOL_PUBLIC_CLIENT_ID:
            return app_id, [], [], baseline.TOOL_PUBLIC_CLIENT_NAME
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

    # ----- sections -----

    def build(self) -> TenantState:
        doc = self.doc
        tenant = doc["tenant"]
        tenant_id = tenant.get("id") or self.derive_id("tenant", "tenant")
        domain = tenant["domain"].lower()
        display_name = tenant.get("display_name") or domain.split(".")[0].capitalize()
        self.state = baseline.baseline_state(
            tenant_id=tenant_id, default_domain=domain, display_name=display_name
        )
        self.state.scenario_name = self.name
        self.state.description = doc["description"].strip()
        self.now = self.state.clock.now()
        for omitted in doc.get("baseline", {}).get("omit_service_principals", []):
            sp = self.state.service_principal_by_app_id(_FIRST_PARTY_OMIT[omitted.lower()])
            if sp is not None:
                self.state.remove_service_principal(sp.id)

        self.build_users(doc.get("users", {}))
        self.build_applications(doc.get("applications", {}))
        self.build_service_principals(doc.get("service_principals", {}))
        self.build_management_groups(doc.get("management_groups", {}))
        self.build_subscriptions(doc.get("subscriptions", {}))
        if "cipp" in doc:
            self.build_function_app_identity(doc["cipp"]["function_app"])
        self.build_groups(doc.get("groups", {}))
        self.build_app_details(doc.get("applications", {}))
        self.build_directory_roles(doc.get("directory_roles", []))
        self.build_grants(doc.get("oauth2_grants", []))
        self.build_app_role_assignments(doc.get("app_role_assignments", []))
        if "app_management_policy" in doc:
            policy = doc["app_management_policy"]
            self.state.app_management_policy = AppManagementPolicy(
                password_addition_blocked=policy.get("password_addition_blocked", False),
                max_password_lifetime_days=policy.get("max_password_lifetime_days"),
            )
        if "cipp" in doc:
            self.build_cipp(doc["cipp"])
        self.build_arm_role_assignments(doc.get("arm_role_assignments", []))
        self.build_arm_role_eligibilities(doc.get("arm_role_eligibilities", []))
        self.build_identities(doc.get("identities", {}))
        self.build_faults(doc.get("faults", []))
        if "replication" in doc:
            self.state.replication = Replication(**doc["replication"])
        self.state.device_code_auto_approve = doc.get("device_code_auto_approve", True)
        self.state.reindex()
        size = doc.get("size")
        if size:
            from cipp_setup.sandbox.generator import grow

            try:
                grow(
                    self.state,
                    users=size.get("users", 0),
                    role_assignments=size.get("role_assignments", 0),
                    subscriptions=size.get("subscriptions", 0),
                    seed=self.name,
                )
            except ValueError as exc:
                raise self.fail("size.role_assignments", f"{exc}: raise size.users") from None
        return self.state

    def build_users(self, users: dict[str, Any]) -> None:
        seen_upns: dict[str, str] = {}
        for key, spec in users.items():
            upn = (
                spec["upn"] if "@" in spec["upn"] else f"{spec['upn']}@{self.state.default_domain}"
            )
            if upn.lower() in seen_upns:
                raise self.fail(
                    f"users.{key}.upn",
                    f"{upn!r} is already the UPN of users.{seen_upns[upn.lower()]}: "
                    "expected a unique user principal name",
                )
            seen_upns[upn.lower()] = key
            local = upn.split("@")[0]
            user = User(
                id=(spec.get("id") or self.derive_id("user", key)).lower(),
                user_principal_name=upn,
                display_name=spec.get("display_name")
                or local.replace(".", " ").replace("-", " ").title(),
                account_enabled=spec.get("account_enabled", True),
                user_type=spec.get("user_type", "Member"),
                mail=spec.get("mail", upn),
                given_name=spec.get("given_name"),
                surname=spec.get("surname"),
                job_title=spec.get("job_title"),
                can_sign_in=spec.get("can_sign_in", True),
            )
            self.register("users", key, _Principal("user", user.id, "users"))
            self.state.add_user(user)

    def build_applications(self, apps: dict[str, Any]) -> None:
        """First pass: ids, exposed scopes and app roles (other apps may reference them)."""
        for key, spec in apps.items():
            app_id = (spec.get("app_id") or self.derive_id("app_id", key)).lower()
            scopes = []
            for item in spec.get("exposed_scopes", []):
                item = {"value": item} if isinstance(item, str) else item
                scopes.append(
                    PermissionScope(
                        id=(
                            item.get("id")
                            or (
                                wellknown.CIPP_API_CLIENT_SCOPE_ID
                                if item["value"] == "user_impersonation"
                                else self.derive_id("scope", f"{key}/{item['value']}")
                            )
                        ).lower(),
                        value=item["value"],
                        admin_consent_display_name=item.get(
                            "display_name", f"Access {spec['display_name']}"
                        ),
                        admin_consent_description=f"Allows the app to access {spec['display_name']} on behalf of the "
                        "signed-in user.",
                        type=item.get("type", "User"),
                    )
                )
            roles = []
            for item in spec.get("app_roles", []):
                item = {"value": item} if isinstance(item, str) else item
                roles.append(
                    AppRole(
                        id=(
                            item.get("id") or self.derive_id("app_role", f"{key}/{item['value']}")
                        ).lower(),
                        value=item["value"],
                        display_name=item.get("display_name", item["value"]),
                        allowed_member_types=item.get("allowed_member_types", ["Application"]),
                    )
                )
            app = Application(
                id=(spec.get("id") or self.derive_id("application", key)).lower(),
                app_id=app_id,
                display_name=spec["display_name"],
                sign_in_audience=spec.get("sign_in_audience", "AzureADMyOrg"),
                oauth2_permission_scopes=scopes,
                app_roles=roles,
                requested_access_token_version=spec.get("requested_access_token_version"),
                public_client=spec.get("public_client", False),
                created_time=self.now - spec.get("created_days_ago", 90) * DAY,
            )
            if self.state.application_by_app_id(app_id) or self.state.service_principal_by_app_id(
                app_id
            ):
                raise self.fail(
                    f"applications.{key}.app_id",
                    f"appId {app_id} is already used: expected a unique appId",
                )
            self.apps[key] = app
            self.state.add_application(app)
            sp_spec = spec.get("service_principal", True)
            if sp_spec is not False:
                sp_spec = sp_spec if isinstance(sp_spec, dict) else {}
                sp = ServicePrincipal(
                    id=(sp_spec.get("id") or self.derive_id("service_principal", key)).lower(),
                    app_id=app_id,
                    display_name=app.display_name,
                    app_owner_organization_id=self.state.tenant_id,
                    account_enabled=sp_spec.get("account_enabled", True),
                    app_roles=list(roles),
                    oauth2_permission_scopes=list(scopes),
                    service_principal_names=[app_id],
                )
                self.sps[key] = sp
                self.state.add_service_principal(sp)
                self.register(
                    "applications", key, _Principal("service_principal", sp.id, "applications")
                )
            else:
                # Still reserve the key: referring to an app without an SP must fail clearly.
                self.register(
                    "applications",
                    key,
                    _Principal("application_without_sp", app.id, "applications"),
                )

    def build_app_details(self, apps: dict[str, Any]) -> None:
        """Second pass: everything that may reference other keys or placeholders."""
        for key, spec in apps.items():
            app = self.apps[key]
            field = f"applications.{key}"
            app.identifier_uris = [
                self.substitute(u, f"{field}.identifier_uris[{i}]", app)
                for i, u in enumerate(spec.get("identifier_uris", []))
            ]
            app.web_redirect_uris = [
                self.substitute(u, f"{field}.web_redirect_uris[{i}]", app)
                for i, u in enumerate(spec.get("web_redirect_uris", []))
            ]
            sp = self.sps.get(key)
            if sp is not None:
                sp.service_principal_names = [app.app_id, *app.identifier_uris]
                sp.resource_uris = list(app.identifier_uris)
            for index, entry in enumerate(spec.get("required_resource_access", [])):
                entry_field = f"{field}.required_resource_access[{index}]"
                resource_app_id, scopes, roles, display = self.resource_definition(
                    entry["resource"], f"{entry_field}.resource"
                )
                access: list[ResourceAccess] = []
                for kind, items, type_ in (
                    ("delegated", scopes, "Scope"),
                    ("application", roles, "Role"),
                ):
                    for j, value in enumerate(entry.get(kind, [])):
                        permission_id = self.find_permission(items, value)
                        if permission_id is None:
                            known = ", ".join(i.value for i in items) or "none"
                            raise self.fail(
                                f"{entry_field}.{kind}[{j}]",
                                f"{display} has no {kind} permission {value!r}: expected one of {known}",
                            )
                        access.append(ResourceAccess(id=permission_id, type=type_))  # type: ignore[arg-type]
                existing = next(
                    (
                        r
                        for r in app.required_resource_access
                        if r.resource_app_id == resource_app_id
                    ),
                    None,
                )
                if existing is None:
                    app.required_resource_access.append(
                        RequiredResourceAccess(resource_app_id, access)
                    )
                else:
                    existing.resource_access.extend(access)
            for index, cred in enumerate(spec.get("password_credentials", [])):
                end = self.now + cred.get("expires_in_days", 365) * DAY
                start = self.now - cred.get("created_days_ago", 30) * DAY
                if start >= end:
                    start = end - 180 * DAY
                app.password_credentials.append(
                    PasswordCredential(
                        key_id=(
                            cred.get("key_id") or self.derive_id("password", f"{key}/{index}")
                        ).lower(),
                        display_name=cred.get("display_name"),
                        secret_text=cred.get("secret")
                        or derived_secret(f"{self.name}/{key}/{index}"),
                        start_time=start,
                        end_time=end,
                    )
                )
            for index, owner in enumerate(spec.get("owners", [])):
                app.owner_ids.append(
                    self.principal(
                        owner, f"{field}.owners[{index}]", ("user", "service_principal")
                    ).object_id
                )

    def build_service_principals(self, sps: dict[str, Any]) -> None:
        for key, spec in sps.items():
            app_id = (spec.get("app_id") or self.derive_id("sp_app_id", key)).lower()
            if self.state.service_principal_by_app_id(app_id):
                raise self.fail(
                    f"service_principals.{key}.app_id",
                    f"a service principal for appId {app_id} already exists: expected a unique appId",
                )
            sp = ServicePrincipal(
                id=(spec.get("id") or self.derive_id("service_principal", key)).lower(),
                app_id=app_id,
                display_name=spec["display_name"],
                service_principal_type=spec.get("type", "Application"),
                app_owner_organization_id=(spec.get("app_owner_organization_id") or "").lower()
                or None,
                account_enabled=spec.get("account_enabled", True),
                service_principal_names=[app_id],
            )
            self.sps[key] = sp
            self.state.add_service_principal(sp)
            self.register(
                "service_principals",
                key,
                _Principal("service_principal", sp.id, "service_principals"),
            )

    def build_function_app_identity(self, function_app: dict[str, Any]) -> None:
        identity = function_app.get("managed_identity", True)
        if identity is False:
            return
        identity = identity if isinstance(identity, dict) else {}
        sp = ServicePrincipal(
            id=(
                identity.get("id") or self.derive_id("managed_identity", function_app["name"])
            ).lower(),
            app_id=(
                identity.get("app_id")
                or self.derive_id("managed_identity_app", function_app["name"])
            ).lower(),
            display_name=function_app["name"],
            service_principal_type="ManagedIdentity",
            app_owner_organization_id=None,
        )
        sp.service_principal_names = [
            sp.app_id,
            f"https://identity.azure.net/{_b64_guid_bytes(sp.id)}",
        ]
        self.sps[FUNCTION_APP_IDENTITY_KEY] = sp
        self.state.add_service_principal(sp)
        self.register(
            "cipp.function_app",
            FUNCTION_APP_IDENTITY_KEY,
            _Principal("service_principal", sp.id, "cipp.function_app (its managed identity)"),
        )

    def build_groups(self, groups: dict[str, Any]) -> None:
        created: dict[str, Group] = {}
        for key, spec in groups.items():
            group = Group(
                id=(spec.get("id") or self.derive_id("group", key)).lower(),
                display_name=spec["display_name"],
                security_enabled=spec.get("security_enabled", True),
                mail_enabled=spec.get("mail_enabled", False),
                is_assignable_to_role=spec.get("is_assignable_to_role", False),
            )
            self.register("groups", key, _Principal("group", group.id, "groups"))
            created[key] = group
        for key, spec in groups.items():
            group = created[key]
            for index, member in enumerate(spec.get("members", [])):
                found = self.principal(member, f"groups.{key}.members[{index}]")
                if found.kind == "group" and group.is_assignable_to_role:
                    raise self.fail(
                        f"groups.{key}.members[{index}]",
                        "a role-assignable group cannot contain groups: expected a user or service principal",
                    )
                if found.object_id not in group.member_ids:
                    group.member_ids.append(found.object_id)
            self.state.add_group(group)

    def role_definition_id(self, role: str, field: str) -> str:
        rid = baseline.DIRECTORY_ROLE_IDS.get(role.strip().lower())
        if rid is None and role.lower() in self.state.role_definitions:
            rid = role.lower()
        if rid is None:
            names = ", ".join(d.display_name for d in self.state.role_definitions.values())
            raise self.fail(
                field,
                f"unknown directory role {role!r}: expected one of {names} (or a template id)",
            )
        return rid

    def build_directory_roles(self, entries: list[dict[str, Any]]) -> None:
        seen: set[tuple[str, str, str, str]] = set()
        for index, spec in enumerate(entries):
            field = f"directory_roles[{index}]"
            principal = self.principal(spec["principal"], f"{field}.principal")
            role_id = self.role_definition_id(spec["role"], f"{field}.role")
            state = spec.get("state", "active")
            scope = spec.get("scope", "/")
            if principal.kind == "group":
                group = self.state.groups[principal.object_id]
                if not group.is_assignable_to_role:
                    raise self.fail(
                        f"{field}.principal",
                        f"group {spec['principal']!r} is not role-assignable: a "
                        "directory role can only be assigned to a group with is_assignable_to_role: true",
                    )
            marker = (principal.object_id, role_id, scope, state)
            if marker in seen:
                raise self.fail(
                    field,
                    "this role is already assigned to this principal at this scope: expected no "
                    "duplicate assignments",
                )
            seen.add(marker)
            end = self.now + spec["expires_in_days"] * DAY if "expires_in_days" in spec else None
            if state == "active":
                self.state.add_role_assignment(
                    DirectoryRoleAssignment(
                        id=spec.get("id") or role_assignment_id(role_id, principal.object_id),
                        principal_id=principal.object_id,
                        role_definition_id=role_id,
                        directory_scope_id=scope,
                        end_time=end,
                    )
                )
            else:
                eligibility = DirectoryRoleEligibility(
                    id=spec.get("id") or role_eligibility_id(role_id, principal.object_id),
                    principal_id=principal.object_id,
                    role_definition_id=role_id,
                    directory_scope_id=scope,
                    start_time=self.now - 30 * DAY,
                    end_time=end,
                )
                self.state.role_eligibilities[eligibility.id] = eligibility

    def client_sp(self, key: str, field: str) -> ServicePrincipal:
        found = self.principals.get(key)
        if found is not None and found.kind == "application_without_sp":
            raise self.fail(
                field,
                f"application {key!r} has no service principal (service_principal: false): "
                "expected an application with a service principal",
            )
        principal = self.principal(key, field, ("service_principal",))
        return self.state.service_principals[principal.object_id]

    def build_grants(self, entries: list[dict[str, Any]]) -> None:
        for index, spec in enumerate(entries):
            field = f"oauth2_grants[{index}]"
            client = self.client_sp(spec["client"], f"{field}.client")
            resource = self.resource_sp(spec["resource"], f"{field}.resource")
            values = (
                spec["scope"].split() if isinstance(spec["scope"], str) else list(spec["scope"])
            )
            for value in values:
                if self.find_permission(resource.oauth2_permission_scopes, value) is None:
                    known = ", ".join(s.value for s in resource.oauth2_permission_scopes) or "none"
                    raise self.fail(
                        f"{field}.scope",
                        f"{resource.display_name} exposes no delegated permission "
                        f"{value!r}: expected one of {known}",
                    )
            consent_type = spec.get("consent_type", "AllPrincipals")
            principal_id = None
            if consent_type == "Principal":
                if "principal" not in spec:
                    raise self.fail(
                        f"{field}.principal",
                        "is required when consent_type is Principal (the user who consented)",
                    )
                principal_id = self.principal(
                    spec["principal"], f"{field}.principal", ("user",)
                ).object_id
            elif "principal" in spec:
                raise self.fail(
                    f"{field}.principal", "expected no principal for consent_type AllPrincipals"
                )
            grant = OAuth2PermissionGrant(
                id=spec.get("id") or oauth2_grant_id(client.id, resource.id, principal_id),
                client_id=client.id,
                consent_type=consent_type,
                resource_id=resource.id,
                scope=" ".join(values),
                principal_id=principal_id,
            )
            if grant.id in self.state.oauth2_grants:
                raise self.fail(
                    field,
                    "a grant for this client, resource and principal already exists: merge the "
                    "scopes into one entry",
                )
            self.state.oauth2_grants[grant.id] = grant

    def build_app_role_assignments(self, entries: list[dict[str, Any]]) -> None:
        for index, spec in enumerate(entries):
            field = f"app_role_assignments[{index}]"
            found = self.principals.get(spec["principal"])
            if found is not None and found.kind == "application_without_sp":
                self.client_sp(spec["principal"], f"{field}.principal")
            principal = self.principal(spec["principal"], f"{field}.principal")
            resource = self.resource_sp(spec["resource"], f"{field}.resource")
            if principal.kind == "service_principal":
                display = self.state.service_principals[principal.object_id].display_name
                principal_type = "ServicePrincipal"
            elif principal.kind == "user":
                display = self.state.users[principal.object_id].display_name
                principal_type = "User"
            else:
                display = self.state.groups[principal.object_id].display_name
                principal_type = "Group"
            for j, value in enumerate(spec["app_roles"]):
                role_id = self.find_permission(resource.app_roles, value)
                if role_id is None:
                    known = ", ".join(r.value for r in resource.app_roles) or "none"
                    raise self.fail(
                        f"{field}.app_roles[{j}]",
                        f"{resource.display_name} has no app role {value!r}: "
                        f"expected one of {known}",
                    )
                assignment_id = _b64_guid_bytes(
                    principal.object_id,
                    self.derive_id(
                        "app_role_assignment", f"{spec['principal']}/{resource.id}/{role_id}"
                    ),
                )
                if assignment_id in self.state.app_role_assignments:
                    raise self.fail(
                        f"{field}.app_roles[{j}]", f"{value} is already assigned to this principal"
                    )
                self.state.app_role_assignments[assignment_id] = AppRoleAssignment(
                    id=assignment_id,
                    principal_id=principal.object_id,
                    principal_type=principal_type,
                    principal_display_name=display,
                    resource_id=resource.id,
                    resource_display_name=resource.display_name,
                    app_role_id=role_id,
                    created_time=self.now - 30 * DAY,
                )

    def build_management_groups(self, groups: dict[str, Any]) -> None:
        root = self.state.tenant_id
        for name, spec in groups.items():
            if name.lower() == root:
                raise self.fail(
                    f"management_groups.{name}",
                    "the tenant root group exists already: expected another name",
                )
            self.state.management_groups[name] = ManagementGroup(
                name=name,
                display_name=spec.get("display_name", name),
                parent_name=spec.get("parent") or root,
            )
        for name, spec in groups.items():
            parent = spec.get("parent")
            if parent and parent not in self.state.management_groups:
                defined = ", ".join(groups) or "none"
                raise self.fail(
                    f"management_groups.{name}.parent",
                    f"unknown management group {parent!r}: expected "
                    f"one defined under management_groups ({defined}) or no parent for the tenant root",
                )
            # Walk up: a cycle would make inheritance loop forever.
            seen = {name}
            current = self.state.management_groups[name].parent_name
            while current and current != root:
                if current in seen:
                    raise self.fail(
                        f"management_groups.{name}.parent",
                        "the parents form a cycle: expected a tree under the tenant root group",
                    )
                seen.add(current)
                current = self.state.management_groups[current].parent_name

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

    def build_subscriptions(self, subscriptions: dict[str, Any]) -> None:
        for key, spec in subscriptions.items():
            sub_id = (spec.get("id") or self.derive_id("subscription", key)).lower()
            sub = Subscription(
                subscription_id=sub_id,
                display_name=spec.get("display_name", key),
                management_group=self.management_group(
                    spec.get("management_group", "root"), f"subscriptions.{key}.management_group"
                ),
                state=spec.get("state", "Enabled"),
            )
            self.subscriptions[key] = sub
            self.state.subscriptions[sub_id] = sub
            for index, rg in enumerate(spec.get("resource_groups", [])):
                rg = {"name": rg} if isinstance(rg, str) else rg
                if (sub_id, rg["name"].lower()) in self.state.resource_groups:
                    raise self.fail(
                        f"subscriptions.{key}.resource_groups[{index}]",
                        f"resource group {rg['name']!r} is listed twice",
                    )
                self.state.resource_groups[(sub_id, rg["name"].lower())] = ResourceGroup(
                    subscription_id=sub_id,
                    name=rg["name"],
                    location=rg.get("location", "westeurope"),
                )

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

    def easy_auth(
        self, spec: dict[str, Any], cipp: dict[str, Any], field: str
    ) -> tuple[dict[str, Any], list[str]]:
        """authsettingsV2 `properties` as CIPP writes them, and the allowed tenants."""
        if "clients" in spec:
            client_keys = list(spec["clients"])
            client_fields = [f"{field}.clients[{i}]" for i in range(len(client_keys))]
        else:
            client_keys = [
                c["app"]
                for c in cipp.get("api_clients", [])
                if c.get("enabled", True) and c.get("saved_to_azure", False)
            ]
            client_fields = [f"cipp.api_clients[{i}].app" for i in range(len(client_keys))]
        client_ids: list[str] = []
        for key, client_field in zip(client_keys, client_fields):
            app = self.apps.get(key)
            if app is None:
                defined = ", ".join(self.apps) or "none"
                raise self.fail(
                    client_field,
                    f"unknown application {key!r}: expected a key defined under "
                    f"applications ({defined})",
                )
            client_ids.append(app.app_id)
        audiences = (
            [
                self.substitute(a, f"{field}.allowed_audiences[{i}]")
                for i, a in enumerate(spec["allowed_audiences"])
            ]
            if "allowed_audiences" in spec
            else [f"api://{cid}" for cid in client_ids]
        )
        issuer = self.substitute(
            spec.get("issuer", "https://sts.windows.net/{tenant_id}/v2.0"), f"{field}.issuer"
        )
        tenants = [
            self.substitute(t, f"{field}.allowed_tenants[{i}]")
            for i, t in enumerate(spec.get("allowed_tenants", ["{tenant_id}"]))
        ]
        registration: dict[str, Any] = {"openIdIssuer": issuer}
        if client_ids:
            registration["clientId"] = client_ids[0]
        properties: dict[str, Any] = {
            "platform": {"enabled": spec.get("enabled", True), "runtimeVersion": "~1"},
            "globalValidation": {
                "requireAuthentication": spec.get("require_authentication", True),
                "unauthenticatedClientAction": spec.get("unauthenticated_action", "Return401"),
            },
            "identityProviders": {
                "azureActiveDirectory": {
                    "enabled": True,
                    "registration": registration,
                    "login": {"disableWWWAuthenticate": False},
                    "validation": {
                        "jwtClaimChecks": {},
                        "allowedAudiences": audiences,
                        "defaultAuthorizationPolicy": {
                            "allowedPrincipals": {},
                            "allowedApplications": client_ids,
                        },
                    },
                },
            },
            "login": {
                "routes": {},
                "tokenStore": {
                    "enabled": False,
                    "tokenRefreshExtensionHours": 72.0,
                    "fileSystem": {},
                    "azureBlobStorage": {},
                },
                "preserveUrlFragmentsForLogins": False,
                "cookieExpiration": {"convention": "FixedTime", "timeToExpiration": "08:00:00"},
                "nonce": {"validateNonce": True, "nonceExpirationInterval": "00:05:00"},
            },
            "httpSettings": {
                "requireHttps": True,
                "routes": {"apiPrefix": "/.auth"},
                "forwardProxy": {"convention": "NoProxy"},
            },
        }
        return properties, tenants

    def build_cipp(self, spec: dict[str, Any]) -> None:
        fa = spec["function_app"]
        sub = self.subscription(fa["subscription"], "cipp.function_app.subscription")
        rg = self.resource_group(
            sub, fa["resource_group"], "cipp.function_app.resource_group", create=True
        )
        location = fa.get("location", rg.location)
        site = Site(
            subscription_id=sub.subscription_id,
            resource_group=rg.name,
            name=fa["name"],
            location=location,
        )
        identity = self.sps.get(FUNCTION_APP_IDENTITY_KEY)
        site.identity_principal_id = identity.id if identity else None
        site.app_settings = {
            "FUNCTIONS_EXTENSION_VERSION": "~4",
            "FUNCTIONS_WORKER_RUNTIME": "powershell",
        }
        self.state.cipp = CippInstance(
            generation=spec["generation"], version=spec["version"], function_app=fa["name"]
        )
        if "easy_auth" in fa:
            site.auth_settings_v2, tenants = self.easy_auth(
                fa["easy_auth"], spec, "cipp.function_app.easy_auth"
            )
            site.app_settings["WEBSITE_AUTH_AAD_ALLOWED_TENANTS"] = ",".join(tenants)
        site.app_settings.update(fa.get("app_settings", {}))
        self.state.sites[site.name.lower()] = site
        processor = spec.get("processor_app")
        if processor:
            if processor.lower() == site.name.lower():
                raise self.fail(
                    "cipp.processor_app", "expected a name different from the Function App's"
                )
            self.state.sites[processor.lower()] = Site(
                subscription_id=sub.subscription_id,
                resource_group=rg.name,
                name=processor,
                location=location,
                app_settings={
                    "FUNCTIONS_EXTENSION_VERSION": "~4",
                    "FUNCTIONS_WORKER_RUNTIME": "powershell",
                },
            )

        cipp = self.state.cipp
        cipp.processor_app = processor
        cipp.front_end_host = spec.get("front_end_host", f"cipp.{self.state.default_domain}")
        cipp.hosted = spec.get("hosted", False)
        cipp.api_activated = spec.get("api_activated", False)
        cipp.subscription_ended = spec.get("subscription_ended", False)
        cipp.custom_roles = list(spec.get("custom_roles", []))
        if "sam_user" in spec:
            cipp.sam_user_id = self.principal(
                spec["sam_user"], "cipp.sam_user", ("user",)
            ).object_id
        if "sam_app" in spec:
            app = self.apps.get(spec["sam_app"])
            if app is None:
                raise self.fail(
                    "cipp.sam_app",
                    f"unknown application {spec['sam_app']!r}: expected a key defined "
                    f"under applications ({', '.join(self.apps) or 'none defined'})",
                )
            cipp.sam_app_id = app.app_id
        for index, client in enumerate(spec.get("api_clients", [])):
            app = self.apps.get(client["app"])
            if app is None:
                raise self.fail(
                    f"cipp.api_clients[{index}].app",
                    f"unknown application {client['app']!r}: expected "
                    f"a key defined under applications ({', '.join(self.apps) or 'none defined'})",
                )
            cipp.api_clients.append(
                ApiClient(
                    app_id=app.app_id,
                    display_name=client.get("name", app.display_name),
                    enabled=client.get("enabled", True),
                    role=client.get("role", "readonly"),
                    ip_ranges=list(client.get("ip_ranges", [])),
                )
            )
        cipp.logs = self.build_logs(spec.get("logs", []))
        self.state.generation_hint = spec["generation"]

    def build_logs(self, logs: list[dict[str, Any]] | dict[str, Any]) -> list[LogEntry]:
        tenant = self.state.default_domain
        entries: list[LogEntry] = []
        if isinstance(logs, dict):
            rng = random.Random(f"{self.name}/logs")
            weights = [14, 10, 10, 10, 6, 6, 6, 4, 2]
            for n in range(logs["generate"]):
                api, message, severity = rng.choices(_LOG_SAMPLES, weights=weights)[0]
                entries.append(
                    LogEntry(
                        date_time=self.now - rng.uniform(60, 7 * DAY),
                        tenant=tenant,
                        api=api,
                        message=message,
                        user="CIPP",
                        severity=severity,
                        tenant_id=self.state.tenant_id,
                        row_key=self.derive_id("log", str(n)),
                    )
                )
        else:
            for n, spec in enumerate(logs):
                entries.append(
                    LogEntry(
                        date_time=self.now - spec.get("minutes_ago", 10 * (n + 1)) * 60.0,
                        tenant=spec.get("tenant", tenant),
                        api=spec.get("api", "CIPP"),
                        message=spec["message"],
                        user=spec.get("user", "CIPP"),
                        severity=spec.get("severity", "Info"),
                        log_data=spec.get("log_data", ""),
                        tenant_id=spec.get("tenant_id", self.state.tenant_id),
                        app_id=spec.get("app_id", ""),
                        ip=spec.get("ip", ""),
                        standard_info=spec.get("standard_info", ""),
                        row_key=self.derive_id("log", str(n)),
                    )
                )
        entries.sort(key=lambda e: e.date_time, reverse=True)  # CIPP answers newest first
        return entries

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
        rid = baseline.ARM_ROLE_IDS.get(role.strip().lower())
        if rid is None and role.lower() in self.state.arm_role_definitions:
            rid = role.lower()
        if rid is None:
            names = ", ".join(d.role_name for d in self.state.arm_role_definitions.values())
            raise self.fail(
                field,
                f"unknown Azure role {role!r}: expected one of {names} (or a role definition GUID)",
            )
        return rid

    def build_arm_role_assignments(self, entries: list[dict[str, Any]]) -> None:
        seen: set[tuple[str, str, str]] = set()
        for index, spec in enumerate(entries):
            field = f"arm_role_assignments[{index}]"
            principal = self.principal(spec["principal"], f"{field}.principal")
            role_id = self.arm_role_id(spec["role"], f"{field}.role")
            scope = self.arm_scope(spec["scope"], f"{field}.scope")
            marker = (principal.object_id, role_id, scope.lower())
            if marker in seen:
                raise self.fail(
                    field,
                    "this role is already assigned to this principal at this scope (ARM would "
                    "answer 409 RoleAssignmentExists)",
                )
            seen.add(marker)
            self.state.add_arm_role_assignment(
                ArmRoleAssignment(
                    name=(
                        spec.get("name")
                        or self.derive_id("arm_role_assignment", f"{index}/{spec['principal']}")
                    ).lower(),
                    scope=scope,
                    role_definition_id=role_id,
                    principal_id=principal.object_id,
                    principal_type=principal.arm_type,
                    created_on=self.now - 60 * DAY,
                )
            )

    def build_arm_role_eligibilities(self, entries: list[dict[str, Any]]) -> None:
        """Azure PIM eligibilities: what `roleEligibilityScheduleInstances` lists, never a role."""
        for index, spec in enumerate(entries):
            field = f"arm_role_eligibilities[{index}]"
            principal = self.principal(spec["principal"], f"{field}.principal")
            role_id = self.arm_role_id(spec["role"], f"{field}.role")
            scope = self.arm_scope(spec["scope"], f"{field}.scope")
            days = spec.get("expires_in_days", 365)
            eligibility = ArmRoleEligibility(
                name=(
                    spec.get("name")
                    or self.derive_id("arm_role_eligibility", f"{index}/{spec['principal']}")
                ).lower(),
                scope=scope,
                role_definition_id=role_id,
                principal_id=principal.object_id,
                principal_type=principal.arm_type,
                start_time=self.now - 30 * DAY,
                end_time=None if days is None else self.now + days * DAY,
                created_on=self.now - 30 * DAY,
            )
            self.state.arm_role_eligibilities[eligibility.name] = eligibility

    def build_identities(self, spec: dict[str, Any]) -> None:
        ids = self.state.identities
        cipp = self.state.cipp
        if "admin" in spec:
            ids.admin_user_id = self.principal(
                spec["admin"], "identities.admin", ("user",)
            ).object_id
        if "sam_user" in spec:
            ids.sam_user_id = self.principal(
                spec["sam_user"], "identities.sam_user", ("user",)
            ).object_id
        elif cipp is not None:
            ids.sam_user_id = cipp.sam_user_id
        if "sam_app" in spec:
            app = self.apps.get(spec["sam_app"])
            if app is None:
                raise self.fail(
                    "identities.sam_app",
                    f"unknown application {spec['sam_app']!r}: expected a key "
                    f"defined under applications ({', '.join(self.apps) or 'none defined'})",
                )
            ids.sam_app_id = app.app_id
        elif cipp is not None:
            ids.sam_app_id = cipp.sam_app_id
        if "subscription" in spec:
            ids.subscription_id = self.subscription(
                spec["subscription"], "identities.subscription"
            ).subscription_id
        elif cipp is not None:
            ids.subscription_id = self.state.sites[cipp.function_app.lower()].subscription_id
        if "api_client" in spec:
            app = self.apps.get(spec["api_client"])
            if app is None:
                raise self.fail(
                    "identities.api_client",
                    f"unknown application {spec['api_client']!r}: expected a "
                    f"key defined under applications ({', '.join(self.apps) or 'none defined'})",
                )
            ids.api_client_id = app.app_id
            if "api_client_secret" in spec:
                ids.api_client_secret = spec["api_client_secret"]
            else:
                valid = sorted(app.password_credentials, key=lambda c: c.end_time, reverse=True)
                if not valid:
                    raise self.fail(
                        "identities.api_client_secret",
                        f"application {spec['api_client']!r} has no "
                        "password_credentials: expected api_client_secret or a password credential",
                    )
                ids.api_client_secret = valid[0].secret_text
        elif "api_client_secret" in spec:
            raise self.fail(
                "identities.api_client_secret", "expected identities.api_client as well"
            )
        target = spec.get("api_url", "function_app")
        if target != "function_app" and cipp is None:
            raise self.fail(
                "identities.api_url", "expected a cipp section: the URL points at one of its hosts"
            )
        if target == "processor_app" and (cipp is None or not cipp.processor_app):
            raise self.fail(
                "identities.api_url",
                "expected cipp.processor_app to be set for api_url: processor_app",
            )
        ids.api_url_target = target

    def build_faults(self, entries: list[dict[str, Any]]) -> None:
        for index, spec in enumerate(entries):
            fault = Fault(**spec)
            try:
                validate_fault(fault)
            except ValueError as exc:
                raise self.fail(f"faults[{index}]", str(exc)) from None
            self.state.faults.append(fault)


def _merge(parent: Any, child: Any) -> Any:
    """Deep-merge `child` over `parent`: mappings merge key by key, a null value removes the
    key, anything else (lists included) replaces the parent's value."""
    if not isinstance(parent, dict) or not isinstance(child, dict):
        return child
    merged = dict(parent)
    for key, value in child.items():
        if value is None:
            merged.pop(key, None)
        elif key in merged:
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _load_document(
    name_or_path: str | Path, chain: tuple[str, ...] = (), base_dir: Path | None = None
) -> tuple[str, dict[str, Any], str]:
    """(label, merged document, default name); follows `extends:` to the parent scenario."""
    ref: str | Path = name_or_path
    if (
        base_dir is not None
        and isinstance(ref, str)
        and _looks_like_path(ref)
        and not Path(ref).is_absolute()
    ):
        ref = base_dir / ref
    label, text, default_name = _read_source(ref)
    doc = _parse(label, text)
    parent_ref = doc.pop("extends", None)
    if parent_ref is None:
        return label, doc, default_name
    if not isinstance(parent_ref, str) or not parent_ref.strip():
        raise ScenarioError(
            label,
            "extends",
            f"expected the name of a built-in scenario or a file path, got {_describe(parent_ref)}",
        )
    if "description" not in doc:
        raise ScenarioError(
            label,
            "description",
            "is required but missing (a scenario that extends another still describes itself)",
        )
    if label in chain:
        raise ScenarioError(
            label,
            "extends",
            "the scenarios extend each other in a cycle: " + " -> ".join([*chain, label]),
        )
    own_dir = Path(ref).parent if isinstance(ref, Path) or _looks_like_path(str(ref)) else None
    parent_label, parent_doc, _ = _load_document(parent_ref.strip(), (*chain, label), own_dir)
    parent_doc.pop("name", None)  # the child has its own name, hence its own ids
    return f"{label} (extends {parent_label})", _merge(parent_doc, doc), default_name


def load_scenario(name_or_path: str | Path) -> TenantState:
    """A fresh TenantState for a built-in scenario name or a scenario file path.

    Raises ScenarioError (one line: file, field, expectation) for any problem.
    """
    label, doc, default_name = _load_document(name_or_path)
    _validate(label, doc)
    name = str(doc.get("name") or default_name)
    return _Builder(label, name, doc).build()

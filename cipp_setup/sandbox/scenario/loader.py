"""Loading a scenario document into a fresh `TenantState`, section by section.

`SECTIONS` is the one list of what a scenario may hold beyond its tenant, in load order:
a section may refer only to keys that sections before it define. A new section of the
format is a loader function (resolver and the section's value in) and a row here, plus
its schema in ``scenario.schema.json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cipp_setup import wellknown
from cipp_setup.sandbox import baseline
from cipp_setup.sandbox.faults import validate_fault
from cipp_setup.sandbox.generator import grow
from cipp_setup.sandbox.scenario.ids import derived_id
from cipp_setup.sandbox.scenario.load_azure import (
    load_arm_role_assignments,
    load_arm_role_eligibilities,
    load_management_groups,
    load_subscriptions,
)
from cipp_setup.sandbox.scenario.load_cipp import load_cipp, load_function_app_identity
from cipp_setup.sandbox.scenario.load_consent import load_app_role_assignments, load_oauth2_grants
from cipp_setup.sandbox.scenario.load_directory import (
    load_application_details,
    load_applications,
    load_directory_roles,
    load_groups,
    load_service_principals,
    load_users,
)
from cipp_setup.sandbox.scenario.load_identities import load_identities
from cipp_setup.sandbox.scenario.resolve import Resolver
from cipp_setup.sandbox.scenario.source import load_document
from cipp_setup.sandbox.scenario.validation import validate
from cipp_setup.sandbox.state import AppManagementPolicy, Fault, Replication, TenantState

_FIRST_PARTY_OMIT = {
    "azure service management": wellknown.AZURE_SERVICE_MANAGEMENT_APP_ID,
}


def load_tenant(label: str, name: str, doc: dict[str, Any]) -> Resolver:
    """The baseline tenant the `tenant:` and `baseline:` sections describe."""
    tenant = doc["tenant"]
    tenant_id = tenant.get("id") or derived_id(name, "tenant", "tenant")
    domain = tenant["domain"].lower()
    display_name = tenant.get("display_name") or domain.split(".")[0].capitalize()
    state = baseline.baseline_state(
        tenant_id=tenant_id, default_domain=domain, display_name=display_name
    )
    state.scenario_name = name
    state.description = doc["description"].strip()
    # Enterprise applications → Consent and permissions → User consent settings.
    state.user_consent = tenant.get("user_consent", state.user_consent)
    for omitted in doc.get("baseline", {}).get("omit_service_principals", []):
        sp = state.service_principal_by_app_id(_FIRST_PARTY_OMIT[omitted.lower()])
        if sp is not None:
            state.remove_service_principal(sp.id)
    return Resolver(label, name, doc, state, state.clock.now())


def load_app_management_policy(ctx: Resolver, policy: dict[str, Any]) -> None:
    ctx.state.app_management_policy = AppManagementPolicy(
        password_addition_blocked=policy.get("password_addition_blocked", False),
        max_password_lifetime_days=policy.get("max_password_lifetime_days"),
    )


def load_faults(ctx: Resolver, entries: list[dict[str, Any]]) -> None:
    for index, spec in enumerate(entries):
        fault = Fault(**spec)
        try:
            validate_fault(fault)
        except ValueError as exc:
            raise ctx.fail(f"faults[{index}]", str(exc)) from None
        ctx.state.faults.append(fault)


def load_replication(ctx: Resolver, spec: dict[str, Any]) -> None:
    ctx.state.replication = Replication(**spec)


def load_device_code_auto_approve(ctx: Resolver, approve: bool) -> None:
    ctx.state.device_code_auto_approve = approve


def load_size(ctx: Resolver, size: dict[str, Any]) -> None:
    """Filler objects grown on the loaded tenant (after every section: they refer to none)."""
    try:
        grow(
            ctx.state,
            users=size.get("users", 0),
            role_assignments=size.get("role_assignments", 0),
            subscriptions=size.get("subscriptions", 0),
            seed=ctx.name,
        )
    except ValueError as exc:
        raise ctx.fail("size.role_assignments", f"{exc}: raise size.users") from None


@dataclass(frozen=True)
class Section:
    key: str
    load: Callable[[Resolver, Any], None]
    # Load even when the document leaves the section out (from an empty mapping): for a
    # section whose absence means defaults taken from other sections.
    always: bool = False


SECTIONS: tuple[Section, ...] = (
    Section("users", load_users),
    Section("applications", load_applications),  # ids, scopes, app roles
    Section("service_principals", load_service_principals),
    Section("management_groups", load_management_groups),
    Section("subscriptions", load_subscriptions),
    Section("cipp", load_function_app_identity),  # before anything names it
    Section("groups", load_groups),
    Section("applications", load_application_details),  # references
    Section("directory_roles", load_directory_roles),
    Section("oauth2_grants", load_oauth2_grants),
    Section("app_role_assignments", load_app_role_assignments),
    Section("app_management_policy", load_app_management_policy),
    Section("cipp", load_cipp),
    Section("arm_role_assignments", load_arm_role_assignments),
    Section("arm_role_eligibilities", load_arm_role_eligibilities),
    Section("identities", load_identities, always=True),
    Section("faults", load_faults),
    Section("replication", load_replication),
    Section("device_code_auto_approve", load_device_code_auto_approve),
)


def build_state(label: str, name: str, doc: dict[str, Any]) -> TenantState:
    """The tenant a validated document describes."""
    ctx = load_tenant(label, name, doc)
    for section in SECTIONS:
        if section.key in doc or section.always:
            section.load(ctx, doc.get(section.key, {}))
    ctx.state.reindex()
    if doc.get("size"):
        load_size(ctx, doc["size"])
    return ctx.state


def load_scenario(name_or_path: str | Path) -> TenantState:
    """A fresh TenantState for a built-in scenario name or a scenario file path.

    Raises ScenarioError (one line: file, field, expectation) for any problem.
    """
    label, doc, default_name = load_document(name_or_path)
    validate(label, doc)
    name = str(doc.get("name") or default_name)
    return build_state(label, name, doc)

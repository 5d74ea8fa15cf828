"""The appliers that write through Azure Resource Manager: role assignments, the
Function App's managed identity and its Easy Auth settings.

Same rules as `appliers_graph`: read first, write only what is missing, through
`journaled_write`; looked up by action kind in `cipp_setup.engine.actions.ACTIONS`.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

from cipp_setup.engine.fix_runtime import Applied, FixRuntime, journaled_write
from cipp_setup.engine.plan import ChangeStatus, PlannedChange
from cipp_setup.engine.writes import WriteRefused


async def apply_arm_role_assignment(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> Applied:
    """An Azure RBAC role assignment (the CIPP-SAM user's, or a managed identity's).

    ARM has no "find" that is cheaper than the PUT: a 409 RoleAssignmentExists is the
    already-present answer.
    """
    principal_id = params.get("principal_id")
    if not principal_id:
        raise WriteRefused("bad-request", "The Function App has no managed identity to give a role to.")
    return await journaled_write(
        rt, change, params,
        lambda: rt.writes.create_arm_role_assignment(
            str(params["arm_scope"]), str(params["role_definition_id"]), str(principal_id),
            str(params.get("principal_type", "User")),
        ),
        # 409 RoleAssignmentExists names no id: the existing one is read back, so an
        # earlier run's open intent for it can be closed (and revert can remove it).
        on_exists=lambda: rt.writes.find_arm_role_assignment(
            str(params["arm_scope"]), str(params["role_definition_id"]), str(principal_id)),
        applied_detail="role assignment created",
        present_detail="the role assignment already exists (409 RoleAssignmentExists)",
    )


async def apply_enable_identity(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> Applied:
    site_id = str(params["site_id"])
    writes = rt.current_writes()
    existing = await writes.get_site_identity(site_id)
    if existing:
        return Applied(ChangeStatus.ALREADY_PRESENT, existing, "the Function App already has a managed identity")
    return await journaled_write(rt, change, params, lambda: writes.enable_site_identity(site_id),
                                 applied_detail="system-assigned managed identity turned on")


def _add_missing(values: list[str], adding: list[str]) -> list[str]:
    """`values` with each of `adding` appended unless present (case-insensitively)."""
    merged = list(values)
    for value in adding:
        if value.lower() not in (x.lower() for x in merged):
            merged.append(value)
    return merged


def merged_easy_auth(properties: Mapping[str, Any], app_id: str, add_audiences: list[str],
                     add_applications: list[str], tenant_id: str,
                     require_authentication: bool = False) -> dict[str, Any]:
    """authsettingsV2 properties allowing the client, everything else kept as it was.

    Where the Microsoft provider was never configured, it is set up the way CIPP's Save to
    Azure sets it up (registration for this client, v1 issuer of the tenant, Return401).
    """
    settings: dict[str, Any] = copy.deepcopy(dict(properties))
    providers = settings.setdefault("identityProviders", {})
    aad = providers.get("azureActiveDirectory") or {}
    if not aad.get("registration", {}).get("clientId"):
        aad = {
            **aad, "enabled": True,
            "registration": {**(aad.get("registration") or {}), "clientId": app_id,
                             "openIdIssuer": f"https://sts.windows.net/{tenant_id}/v2.0"},
        }
        settings.setdefault("platform", {})["enabled"] = True
        settings.setdefault("globalValidation", {}).setdefault("unauthenticatedClientAction", "Return401")
        add_audiences = list(dict.fromkeys([f"api://{app_id}"] + add_audiences))
        add_applications = list(dict.fromkeys([app_id] + add_applications))
    aad["enabled"] = True
    settings.setdefault("platform", {})["enabled"] = True
    if require_authentication:
        settings.setdefault("globalValidation", {})["unauthenticatedClientAction"] = "Return401"
    validation = aad.setdefault("validation", {})
    validation["allowedAudiences"] = _add_missing(list(validation.get("allowedAudiences") or []), add_audiences)
    policy = validation.setdefault("defaultAuthorizationPolicy", {})
    policy["allowedApplications"] = _add_missing(list(policy.get("allowedApplications") or []), add_applications)
    providers["azureActiveDirectory"] = aad
    return settings


def _allowed(properties: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    aad = (properties.get("identityProviders") or {}).get("azureActiveDirectory") or {}
    validation = aad.get("validation") or {}
    return (list(validation.get("allowedAudiences") or []),
            list((validation.get("defaultAuthorizationPolicy") or {}).get("allowedApplications") or []))


async def apply_easy_auth(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> Applied:
    site_id = str(params["site_id"])
    app_id = str(params["app_id"]).lower()
    writes = rt.current_writes()
    current = await writes.get_easy_auth(site_id)
    updated = merged_easy_auth(current, app_id, list(params.get("add_audiences") or []),
                               list(params.get("add_applications") or []), rt.tenant_id,
                               bool(params.get("require_authentication")))
    if updated == current:
        return Applied(ChangeStatus.ALREADY_PRESENT, site_id, "Easy Auth already allows the client")
    audiences, applications = _allowed(current)

    async def write() -> str | None:
        await writes.set_easy_auth(site_id, updated)
        return site_id

    return await journaled_write(
        rt, change, {"site_id": site_id, "app_id": app_id}, write,
        previous={"allowedAudiences": audiences, "allowedApplications": applications},
        applied_detail="Easy Auth now allows the client; the Function App restarts (allow about a minute)",
    )

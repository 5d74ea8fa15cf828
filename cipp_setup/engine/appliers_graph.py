"""The appliers that write through Microsoft Graph: directory roles, service principals,
the application manifest, consent, identifier URIs and client secrets.

Each one reads the live state first and writes only what is missing (an applier run
twice changes nothing), and writes through `journaled_write`. They are looked up by
action kind in `cipp_setup.engine.actions.ACTIONS`, never called by name.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable, Mapping

from cipp_setup.engine import plan as p
from cipp_setup.engine.fix_runtime import Applied, FixRuntime, journaled_write, rra_summary
from cipp_setup.engine.plan import ChangeStatus, PlannedChange
from cipp_setup.engine.writes import (
    ACTIVATION_JUSTIFICATION,
    DEFAULT_ACTIVATION_DURATION,
    SECRET_DISPLAY_NAME,
    NewSecret,
    WriteRefused,
)

# A policy's maximum lifetime, less this margin, so clock skew cannot push it over.
_POLICY_MARGIN = timedelta(days=1)


# --- directory roles -------------------------------------------------------------------


async def _directory_role(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime,
                          write: Callable[[str, str, str], Awaitable[str]], *, found_detail: str,
                          applied_detail: str, present_detail: str) -> Applied:
    """An active directory role for a principal, made by `write` unless it is active."""
    args = (str(params["principal_id"]), str(params["role_definition_id"]), str(params["directory_scope_id"]))
    existing = await rt.writes.find_directory_role_assignment(*args)
    if existing:
        return Applied(ChangeStatus.ALREADY_PRESENT, existing, found_detail)
    return await journaled_write(
        rt, change, params, lambda: write(*args),
        # Graph answers a duplicate directory role assignment with a plain 400: whether
        # it was one is read from the tenant.
        on_exists=lambda: rt.writes.find_directory_role_assignment(*args),
        applied_detail=applied_detail, present_detail=present_detail,
    )


async def apply_directory_role_assignment(change: PlannedChange, params: Mapping[str, Any],
                                          rt: FixRuntime) -> Applied:
    return await _directory_role(change, params, rt, rt.writes.create_directory_role_assignment,
                                 found_detail="the assignment already exists",
                                 applied_detail="role assignment created", present_detail="already present")


async def apply_self_activation(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> Applied:
    async def activate(principal_id: str, role_definition_id: str, directory_scope_id: str) -> str:
        return await rt.writes.request_role_self_activation(
            principal_id, role_definition_id, directory_scope_id,
            justification=str(params.get("justification", ACTIVATION_JUSTIFICATION)),
            duration=str(params.get("duration", DEFAULT_ACTIVATION_DURATION)),
        )

    return await _directory_role(change, params, rt, activate, found_detail="the role is already active",
                                 applied_detail="activation requested", present_detail="the role is already active")


# --- applications and service principals ---------------------------------------------


async def apply_service_principal(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> Applied:
    app_id = str(params["app_id"])
    existing = await rt.writes.find_service_principal(app_id)
    if existing:
        return Applied(ChangeStatus.ALREADY_PRESENT, existing, "the service principal already exists")
    return await journaled_write(
        rt, change, params, lambda: rt.writes.create_service_principal(app_id),
        on_exists=lambda: rt.writes.find_service_principal(app_id),
        applied_detail="service principal created",
    )


async def _add_to_manifest(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime,
                           wanted: list[str], access_type: str, *, present_detail: str,
                           applied_detail: str) -> Applied:
    """Add permissions (`wanted` ids, of `access_type` Scope or Role) for one resource to
    the app's requiredResourceAccess. Read-modify-write on the live value, not the
    planning-time one: an entry added in the portal since the check ran must survive."""
    app_object_id = str(params["application_object_id"])
    resource_app_id = str(params["resource_app_id"]).lower()
    current = rra_summary(await rt.writes.get_required_resource_access(app_object_id))
    updated = [dict(e, resourceAccess=list(e["resourceAccess"])) for e in current]
    entry = next((e for e in updated if e["resourceAppId"].lower() == resource_app_id), None)
    present = set() if entry is None else {
        a["id"].lower() for a in entry["resourceAccess"] if a["type"] == access_type
    }
    adding = [w for w in wanted if w not in present]
    if not adding:
        return Applied(ChangeStatus.ALREADY_PRESENT, app_object_id, present_detail)
    if entry is None:
        entry = {"resourceAppId": resource_app_id, "resourceAccess": []}
        updated.append(entry)
    entry["resourceAccess"].extend({"id": w, "type": access_type} for w in adding)

    async def write() -> str | None:
        await rt.writes.set_required_resource_access(app_object_id, updated)
        return app_object_id

    async def landed() -> str | None:
        """The manifest read back by content: every permission added is there."""
        now = rra_summary(await rt.writes.get_required_resource_access(app_object_id))
        have = {a["id"].lower() for e in now if e["resourceAppId"].lower() == resource_app_id
                for a in e["resourceAccess"] if a["type"] == access_type}
        return app_object_id if all(w in have for w in adding) else None

    return await journaled_write(rt, change, params, write, previous=current, confirm=landed,
                                 applied_detail=applied_detail)


async def apply_required_resource_access(change: PlannedChange, params: Mapping[str, Any],
                                         rt: FixRuntime) -> Applied:
    """One delegated permission (Scope) in the manifest."""
    return await _add_to_manifest(change, params, rt, [str(params["permission_id"]).lower()], "Scope",
                                  present_detail="the permission is already in the manifest",
                                  applied_detail="permission added; existing entries kept")


async def apply_required_app_roles(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> Applied:
    """Application permissions (Role) in the manifest."""
    role_ids = [str(r).lower() for r in (params.get("app_role_ids") or [])]
    return await _add_to_manifest(change, params, rt, role_ids, "Role",
                                  present_detail="the permissions are already in the manifest",
                                  applied_detail="application permissions added; existing entries kept")


async def apply_identifier_uri(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> Applied:
    app_object_id = str(params["application_object_id"])
    uri = str(params["identifier_uri"])
    writes = rt.current_writes()
    current = await writes.get_identifier_uris(app_object_id)
    if uri.lower() in (u.lower() for u in current):
        return Applied(ChangeStatus.ALREADY_PRESENT, app_object_id, f"{uri} is already an identifier URI")

    async def write() -> str | None:
        await writes.set_identifier_uris(app_object_id, list(current) + [uri])
        return app_object_id

    async def landed() -> str | None:
        now = await writes.get_identifier_uris(app_object_id)
        return app_object_id if uri.lower() in (u.lower() for u in now) else None

    return await journaled_write(rt, change, params, write, previous=list(current), confirm=landed,
                                 applied_detail=f"{uri} added; existing URIs kept")


# --- consent -----------------------------------------------------------------------------


async def apply_grant(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> Applied:
    """A delegated consent: the tenant-wide grant extended when there is one, else created."""
    client_id = str(params["client_id"])
    resource_id = str(params["resource_id"])
    add_scope = str(params.get("add_scope", "user_impersonation"))
    consent_type = str(params.get("consent_type", "AllPrincipals"))
    grants = await rt.writes.list_oauth2_permission_grants(client_id, resource_id)
    tenant_wide = [g for g in grants if g.consent_type == "AllPrincipals"]
    if consent_type == "AllPrincipals" and tenant_wide:
        grant = tenant_wide[0]
        if add_scope in grant.scopes():
            return Applied(ChangeStatus.ALREADY_PRESENT, grant.id, "the consent already includes the scope")
        new_scope = " ".join(grant.scopes() + [add_scope])
        extend_change = replace(change, action=p.EXTEND_OAUTH2_PERMISSION_GRANT)

        async def extend() -> str | None:
            await rt.writes.update_oauth2_permission_grant_scope(grant.id, new_scope)
            return grant.id

        done = await journaled_write(rt, extend_change, dict(params, grant_id=grant.id), extend,
                                     previous={"grant_id": grant.id, "scope": grant.scope},
                                     applied_detail=f"consent extended to '{new_scope}'")
        return replace(done, actual=extend_change)
    return await journaled_write(
        rt, change, params,
        lambda: rt.writes.create_oauth2_permission_grant(client_id, resource_id, consent_type, add_scope, None),
        on_exists=lambda: _find_grant_id(rt, client_id, resource_id),
        applied_detail=f"consent granted for all users, scope '{add_scope}'",
    )


async def _find_grant_id(rt: FixRuntime, client_id: str, resource_id: str) -> str | None:
    grants = await rt.writes.list_oauth2_permission_grants(client_id, resource_id)
    return next((g.id for g in grants if g.consent_type == "AllPrincipals"), None)


async def _find_app_role_assignment(rt: FixRuntime, principal_id: str, resource_id: str,
                                    app_role_id: str) -> str | None:
    for grant in await rt.current_writes().list_app_role_assignments(principal_id):
        if grant.resource_id == resource_id and grant.app_role_id == app_role_id:
            return str(grant.id)
    return None


async def apply_app_role_assignment(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> Applied:
    """Admin consent of one application permission (an app role assignment)."""
    principal_id = str(params["principal_id"]).lower()
    resource_id = str(params["resource_id"]).lower()
    app_role_id = str(params["app_role_id"]).lower()
    existing = await _find_app_role_assignment(rt, principal_id, resource_id, app_role_id)
    if existing:
        return Applied(ChangeStatus.ALREADY_PRESENT, existing, "the permission is already consented")
    return await journaled_write(
        rt, change, params,
        lambda: rt.current_writes().create_app_role_assignment(principal_id, resource_id, app_role_id),
        # Graph answers a duplicate with a plain 400: whether it was one is read back.
        on_exists=lambda: _find_app_role_assignment(rt, principal_id, resource_id, app_role_id),
        applied_detail="admin consent granted",
    )


# --- client secrets ----------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def _secret_end(params: Mapping[str, Any], rt: FixRuntime) -> datetime | None:
    """The new secret's end: within the tenant's policy when it limits lifetimes, else
    Graph's default (no endDateTime sent), as CIPP's own API setup does."""
    max_days = params.get("max_lifetime_days")
    if not isinstance(max_days, int):
        reader = getattr(rt.writes, "password_policy", None)
        policy = await reader() if reader is not None else None
        max_days = getattr(policy, "max_lifetime_days", None)
        if policy is not None and getattr(policy, "addition_blocked", False):
            raise WriteRefused("bad-request", "The tenant's app management policy forbids adding client secrets "
                               "(Entra admin center → Enterprise applications → App management policies).",
                               code="CredentialTypeNotAllowedAsPerAppPolicy")
    if isinstance(max_days, int):
        return _now() + timedelta(days=max_days) - _POLICY_MARGIN
    return None


async def apply_client_secret(change: PlannedChange, params: Mapping[str, Any], rt: FixRuntime) -> Applied:
    """A new client secret, handed to `rt.on_new_secret` (shown once) and kept nowhere
    else: the journal records its keyId only."""
    app_object_id = str(params["application_object_id"])
    app_id = str(params["app_id"])
    if rt.on_new_secret is None:
        # A secret nobody sees is a credential nobody can use: do not create it.
        raise WriteRefused("cannot-show-secret", "Not created: a new secret is shown only once, on a terminal, "
                           "and this run has none. Run the fix again on a terminal.")
    writes = rt.current_writes()
    now = _now()
    expiries = await writes.get_password_expiries(app_object_id)
    valid = [e for e in expiries if e is None or e > now]
    if valid:
        return Applied(ChangeStatus.ALREADY_PRESENT, app_object_id, "the app already has a secret that is still valid")
    end = await _secret_end(params, rt)
    receiver = rt.on_new_secret
    created: dict[str, str] = {}

    async def write() -> str | None:
        password = await writes.add_password(app_object_id, str(params.get("display_name", SECRET_DISPLAY_NAME)), end)
        # Handed over before anything else can fail: the value exists nowhere else.
        receiver(NewSecret(app_id=app_id, key_id=password.key_id, value=password.secret,
                           expires=password.end_date_time))
        created["expires"] = password.end_date_time
        return str(password.key_id)

    # The journal's target is the application; its outcome records the new keyId only.
    journal_params = {k: v for k, v in params.items() if k in ("application_object_id", "app_id")}
    try:
        done = await journaled_write(rt, change, journal_params, write, applied_detail="new client secret added")
    except WriteRefused as exc:
        if exc.code == "CredentialInvalidLifetimeAsPerAppPolicy":
            raise WriteRefused("bad-request", "The tenant's app management policy limits how long a secret may "
                               "live, and cipp-setup could not read the limit (it needs Policy.Read.All).",
                               status=exc.status, code=exc.code) from None
        if exc.code == "CredentialTypeNotAllowedAsPerAppPolicy":
            raise WriteRefused("bad-request", "The tenant's app management policy forbids adding client secrets.",
                               status=exc.status, code=exc.code) from None
        raise
    expires = created.get("expires", "")
    return replace(done, detail=f"new client secret added (keyId {done.object_id}, expires {expires or '?'})")

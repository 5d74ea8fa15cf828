"""Did an earlier run's write land? The tenant says, for every write a fix makes.

A run killed or interrupted while a write was in flight leaves an intent without an
outcome. Before planning, `fix` and `revert` read each one back: the object by what names
it in the journal's target (a role assignment by principal, role and scope; a grant by
client and resource; an app role assignment by principal, resource and role; the site's
identity), the manifest by its content (the permissions the write added are there, which
they were not when it was planned: `previous` holds the manifest it replaced). Found: the
write landed (revert removes it). Not found: it did not. An action this module cannot read
back stays open and is reported with the command that settles it.
"""

from __future__ import annotations

from typing import Any

from cipp_setup.engine import plan as p
from cipp_setup.engine.fix_runtime import FixRuntime, rra_summary
from cipp_setup.engine.journal import JournalEntry


class CannotReadBack(Exception):
    """No read tells whether this action's write landed."""


def _permissions(rra: Any, resource_app_id: str, kind: str) -> set[str]:
    return {a["id"].lower() for e in rra_summary(list(rra or [])) if e["resourceAppId"].lower() == resource_app_id
            for a in e["resourceAccess"] if a["type"] == kind}


async def _manifest(entry: JournalEntry, rt: FixRuntime, kind: str) -> str | None:
    t = entry.target
    app_object_id, resource_app_id = str(t["application_object_id"]), str(t["resource_app_id"]).lower()
    now = _permissions(await rt.writes.get_required_resource_access(app_object_id), resource_app_id, kind)
    if t.get("permission_id"):
        return app_object_id if str(t["permission_id"]).lower() in now else None
    before = _permissions(entry.previous, resource_app_id, kind)
    return app_object_id if now - before else None


async def _grant(entry: JournalEntry, rt: FixRuntime) -> str | None:
    t = entry.target
    grants = await rt.writes.list_oauth2_permission_grants(str(t["client_id"]), str(t["resource_id"]))
    wanted = str(t.get("consent_type") or "AllPrincipals")
    if entry.action == p.EXTEND_OAUTH2_PERMISSION_GRANT:
        before = set(str((entry.previous or {}).get("scope") or "").split())
        return next((g.id for g in grants if g.id == t.get("grant_id") and set(g.scopes()) - before), None)
    return next((g.id for g in grants if g.consent_type == wanted), None)


async def _app_role_assignment(entry: JournalEntry, rt: FixRuntime) -> str | None:
    t = entry.target
    for grant in await rt.current_writes().list_app_role_assignments(str(t["principal_id"])):
        if grant.resource_id == t["resource_id"] and grant.app_role_id == t["app_role_id"]:
            return str(grant.id)
    return None


async def landed_object(entry: JournalEntry, rt: FixRuntime) -> str | None:
    """The object the write made or changed, when it landed; None when it did not.
    Raises CannotReadBack (or the read's WriteRefused / KeyError for an odd target)."""
    t = entry.target
    action = entry.action
    if action == p.CREATE_DIRECTORY_ROLE_ASSIGNMENT:
        return await rt.writes.find_directory_role_assignment(
            str(t["principal_id"]), str(t["role_definition_id"]), str(t.get("directory_scope_id", "/")))
    if action in (p.CREATE_ARM_ROLE_ASSIGNMENT, p.CREATE_MANAGED_IDENTITY_ROLE_ASSIGNMENT):
        return await rt.writes.find_arm_role_assignment(
            str(t["arm_scope"]), str(t["role_definition_id"]), str(t["principal_id"]))
    if action == p.ADD_REQUIRED_RESOURCE_ACCESS:
        return await _manifest(entry, rt, "Scope")
    if action == p.ADD_REQUIRED_APP_ROLES:
        return await _manifest(entry, rt, "Role")
    if action in (p.CREATE_OAUTH2_PERMISSION_GRANT, p.EXTEND_OAUTH2_PERMISSION_GRANT):
        return await _grant(entry, rt)
    if action == p.CREATE_APP_ROLE_ASSIGNMENT:
        return await _app_role_assignment(entry, rt)
    if action == p.ENABLE_MANAGED_IDENTITY:
        return await rt.current_writes().get_site_identity(str(t["site_id"]))
    raise CannotReadBack(action)


async def settled_landed_object(entry: JournalEntry, rt: FixRuntime) -> str | None:
    """`landed_object`, patient with replication: a write made moments ago may not be
    visible to the replica that answers the read (Graph's eventual consistency), so a
    miss on a recent intent is read again (backoff, shown as progress) until the reads
    have kept missing it for `gone_after_s`. Only then did it not land. Without this, a
    write that landed is journaled absent, sent again, and refused as a duplicate: the
    object is left behind with no record that revert could act on."""
    from cipp_setup.engine.fix_runtime import Progress
    from cipp_setup.engine.revert import is_recent

    found = await landed_object(entry, rt)
    if found or not is_recent(entry.at, rt.wait.replication_window_s):
        return found
    first_miss = rt.clock()
    attempt = 1
    while rt.clock() - first_miss < rt.wait.gone_after_s:
        delay = min(rt.wait.delay(attempt), max(0.5, rt.wait.gone_after_s - (rt.clock() - first_miss)))
        rt.progress(Progress(entry.check_id, p.service_of(entry.action), attempt, rt.wait.attempts))
        await rt.sleep(delay)
        attempt += 1
        found = await landed_object(entry, rt)
        if found:
            return found
    return None

"""Giving the temporary rights back: undo what the tool itself added, from the journal.

The journal is the only source of truth for "what cipp-setup created": an object the
tool found already present, or that a person made by hand, is never removed, and neither
is anything whose creation was interrupted before its outcome was recorded (that one is
reported for a person to check). By default only the temporary elevation is reverted —
the Global Administrator directory role assignment and the Contributor ARM role
assignment — because the consent and manifest changes are what keeps the CIPP API
working.

A revert is planned (`plan_revert`, pure over the journal), confirmed by the front end,
journaled like any write (its intent names the change it `reverts`), and re-verified: the
object is read back until it is gone (replication), and its check is re-run for the
report. An object already gone counts as done (`already-gone`).

Current CIPP (7.2+): the Contributor role `fix` gives the Function App's managed identity
(`create-managed-identity-role-assignment`) is NOT temporary — CIPP writes Easy Auth with
it every time API clients are saved — so it is not an elevation action and revert never
removes it; neither does it remove the Graph application permissions, identifier URIs,
service principals or secrets the current-generation fixes add.

The tool's own sign-in consent (engine/signin_consent.py: the grants the consent page
wrote for the tool's client) is offered when asked for (`include_consent`): the scopes
that consent added are taken out of the grant, and a grant left empty is deleted. It
comes last, since the removals before it may need the scopes it takes away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cipp_setup import wellknown as wk
from cipp_setup.engine import plan as p
from cipp_setup.engine.fix_runtime import Applied, FixRuntime, Progress
from cipp_setup.engine.fixes import refusal_detail, with_retries
from cipp_setup.engine.journal import ALREADY_GONE, APPLIED, FAILED, Journal, JournalEntry
from cipp_setup.engine.model import CheckResult
from cipp_setup.engine.plan import ChangeOutcome, ChangeStatus, FixPlan, PlanOutcome
from cipp_setup.engine.planning import ROLES_FOR_ARM_ASSIGNMENT, ROLES_FOR_DIRECTORY_ROLE_ASSIGNMENT
from cipp_setup.engine.signin_consent import (
    RECORD_SIGN_IN_CONSENT,
    SIGN_IN_CONSENT_CHECK,
    consent_records,
    scope_after_removal,
)
from cipp_setup.engine.writes import ARM_USER_IMPERSONATION, GRAPH_ROLE_WRITE, WriteRefused

# What "the temporary elevation" is: the creations revert undoes by default.
ELEVATION_ACTIONS: frozenset[str] = frozenset({p.CREATE_DIRECTORY_ROLE_ASSIGNMENT, p.CREATE_ARM_ROLE_ASSIGNMENT})
_UNDO_ACTION = {
    p.CREATE_DIRECTORY_ROLE_ASSIGNMENT: p.DELETE_DIRECTORY_ROLE_ASSIGNMENT,
    p.CREATE_ARM_ROLE_ASSIGNMENT: p.DELETE_ARM_ROLE_ASSIGNMENT,
    RECORD_SIGN_IN_CONSENT: p.REMOVE_SIGN_IN_CONSENT,
}
_ROLE_NAMES = {
    wk.GLOBAL_ADMINISTRATOR: "Global Administrator",
    wk.CLOUD_APPLICATION_ADMINISTRATOR: "Cloud Application Administrator",
    wk.CONTRIBUTOR: "Contributor",
    wk.OWNER: "Owner",
}


@dataclass(frozen=True)
class RevertPlan:
    """The removals to make, and journal entries a person must look at."""

    plans: tuple[FixPlan, ...]
    interrupted: tuple[JournalEntry, ...]


def reverted_change_ids(entries: list[JournalEntry]) -> set[str]:
    """Changes a completed revert has already undone."""
    return {
        e.reverts for e in entries
        if e.reverts and e.outcome in (APPLIED, ALREADY_GONE)
    }


def _removal(entry: JournalEntry) -> FixPlan:
    """The plan that deletes one role assignment the tool created. A directory role and
    an ARM role differ only in the API, where the assignment applies, who may delete it
    and the permission; the plan around them is the same."""
    role_id = str(entry.target.get("role_definition_id", ""))
    role = _ROLE_NAMES.get(role_id.lower(), f"role {role_id}")
    principal = entry.target.get("principal_id", "?")
    object_id = str(entry.object_id)
    params: dict[str, Any] = {"assignment_id": object_id, "principal_id": principal, "role_definition_id": role_id}
    notes: tuple[str, ...] = ()
    if entry.action == p.CREATE_DIRECTORY_ROLE_ASSIGNMENT:
        action = p.DELETE_DIRECTORY_ROLE_ASSIGNMENT
        api = f"Microsoft Graph DELETE /roleManagement/directory/roleAssignments/{object_id}"
        where, on = f"at {entry.target.get('directory_scope_id', '/')}", ""
        admin_role, permission = ROLES_FOR_DIRECTORY_ROLE_ASSIGNMENT, GRAPH_ROLE_WRITE
        notes = ("If you are signed in as this user, you give up this role yourself.",)
    else:
        action = p.DELETE_ARM_ROLE_ASSIGNMENT
        api = f"Azure Resource Manager DELETE {object_id}"
        where, on = f"on {entry.target.get('arm_scope', '?')}", " on the subscription"
        admin_role, permission = ROLES_FOR_ARM_ASSIGNMENT, ARM_USER_IMPERSONATION
        params["arm_scope"] = entry.target.get("arm_scope")
    change = p.PlannedChange(
        check_id=entry.check_id, action=action, api=api,
        target=f"{role} assignment of user {principal} {where}",
        before=f"{role} assigned (created by cipp-setup on {entry.at})", after="no such assignment",
        admin_role_needed=admin_role, grants_privilege=False, reversible=False,
        params=params, permission=permission, notes=notes,
    )
    return FixPlan(entry.check_id, f"Remove the {role} role cipp-setup gave user {principal}{on}", None, (change,))


def _consent_removals(entries: list[JournalEntry], undone: set[str]) -> list[FixPlan]:
    """One removal per grant the tool's sign-in consent wrote to, not yet reverted."""
    by_grant: dict[str, list[JournalEntry]] = {}
    for entry in consent_records(entries):
        if entry.change_id not in undone:
            by_grant.setdefault(str(entry.object_id).lower(), []).append(entry)
    plans: list[FixPlan] = []
    for records in by_grant.values():
        t = records[0].target
        scopes: list[str] = []
        for record in records:
            scopes += [s for s in record.target.get("added_scopes", []) if s.lower() not in {x.lower() for x in scopes}]
        created = any(r.target.get("created") for r in records)
        known = all(r.target.get("before_known") for r in records)
        who = "for the organization" if t.get("consent_type") == "AllPrincipals" else f"for user {t.get('principal_id')}"
        notes = [] if known else [
            "The first sign-in could not read the grants before its consent step: some of these "
            "scopes may have been consented earlier (by another tool using the same client)."]
        change = p.PlannedChange(
            check_id=SIGN_IN_CONSENT_CHECK, action=p.REMOVE_SIGN_IN_CONSENT,
            api=f"Microsoft Graph PATCH or DELETE /oauth2PermissionGrants/{t.get('grant_id')}",
            target=f"the consent {who} of client {t.get('client_app_id')} to {t.get('resource_app_id')}",
            before=" ".join(scopes) + f" (consented at cipp-setup's sign-in on {records[0].at})",
            after="without those scopes" + ("; the grant deleted when nothing is left" if created else ""),
            admin_role_needed="Cloud Application Administrator, Application Administrator or Global Administrator",
            grants_privilege=False, reversible=False,
            params={"grant_id": str(t.get("grant_id")), "client_id": str(t.get("client_id")),
                    "resource_id": str(t.get("resource_id")), "remove_scopes": scopes,
                    "reverts": [r.change_id for r in records]},
            permission="DelegatedPermissionGrant.ReadWrite.All",
            notes=tuple(notes + ["The next cipp-setup sign-in asks for this consent again."]),
        )
        plans.append(FixPlan(SIGN_IN_CONSENT_CHECK, "Remove what cipp-setup's sign-in consent added", None, (change,)))
    return plans


def plan_revert(journal: Journal, tenant_id: str, *,
                actions: frozenset[str] = ELEVATION_ACTIONS,
                include_consent: bool = False) -> tuple[RevertPlan, dict[str, str]]:
    """Removals for what this tool created in `tenant_id` and has not yet reverted.

    Returns the plan and, for each removal plan's change, the journal change id it
    reverts (keyed by the removed object's id). ARM removals come first: they do not
    depend on directory roles, while removing a Global Administrator role the signed-in
    admin holds could cost the rights the next removal needs.
    """
    entries = journal.entries(tenant_id)
    undone = reverted_change_ids(entries)
    candidates = [
        e for e in entries
        if e.action in actions and e.action in _UNDO_ACTION and e.action != RECORD_SIGN_IN_CONSENT
        and e.created_object and e.object_id
        and e.change_id not in undone
    ]
    # The same object created twice (it cannot be, but a hand-edited journal could say
    # so) is removed once.
    seen: set[str] = set()
    unique = []
    for e in candidates:
        if e.object_id and e.object_id.lower() not in seen:
            seen.add(e.object_id.lower())
            unique.append(e)
    unique.sort(key=lambda e: 0 if e.action == p.CREATE_ARM_ROLE_ASSIGNMENT else 1)
    reverts = {str(e.object_id): e.change_id for e in unique}
    interrupted = tuple(e for e in journal.interrupted(tenant_id) if e.action in actions)
    removals = [_removal(e) for e in unique]
    if include_consent:
        removals += _consent_removals(entries, undone)
    return RevertPlan(tuple(removals), interrupted), reverts


def is_recent(iso_time: str | None, window_s: float) -> bool:
    """Was `iso_time` (a journal timestamp, UTC) less than `window_s` ago? Unknown: yes."""
    from datetime import datetime, timezone

    if not iso_time:
        return True
    try:
        when = datetime.fromisoformat(iso_time.replace("Z", "+00:00"))
    except ValueError:
        return True
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (datetime.now(timezone.utc) - when).total_seconds() < window_s


async def _exists(rt: FixRuntime, change: p.PlannedChange) -> bool:
    object_id = str(change.params["assignment_id"])
    if change.action == p.DELETE_ARM_ROLE_ASSIGNMENT:
        return await rt.writes.arm_role_assignment_exists(object_id)
    return await rt.writes.directory_role_assignment_exists(object_id)


async def _wait_gone(rt: FixRuntime, change: p.PlannedChange) -> bool:
    """Read the object back until it is gone (a delete replicates too)."""
    started = rt.clock()
    attempt = 1
    while True:
        if not await _exists(rt, change):
            return True
        delay = rt.wait.delay(attempt)
        if attempt >= rt.wait.attempts or rt.clock() - started + delay > rt.wait.deadline_s:
            return False
        rt.progress(Progress(change.check_id, p.service_of(change.action), attempt, rt.wait.attempts))
        await rt.sleep(delay)
        attempt += 1


async def apply_removal(plan: FixPlan, reverts: str, rt: FixRuntime) -> PlanOutcome:
    """Remove one object the tool created; journaled with `reverts`; re-verified."""
    change = plan.changes[0]
    object_id = str(change.params["assignment_id"])

    created = next((e for e in rt.journal.entries(rt.tenant_id) if e.change_id == reverts), None)
    may_lag = created is not None and is_recent(created.outcome_at, rt.wait.replication_window_s)

    async def delete_once() -> bool:
        if change.action == p.DELETE_ARM_ROLE_ASSIGNMENT:
            return await rt.writes.delete_arm_role_assignment(object_id)
        return await rt.writes.delete_directory_role_assignment(object_id)

    async def delete_settled() -> bool:
        """Delete; a 404 on an object created moments ago is tried again (backoff) until
        the deletes have kept missing it for `gone_after_s`: only then is it gone."""
        first_miss: float | None = None
        attempt = 1
        while True:
            if await delete_once():
                return True
            now = rt.clock()
            first_miss = now if first_miss is None else first_miss
            if not may_lag or now - first_miss >= rt.wait.gone_after_s:
                return False
            delay = min(rt.wait.delay(attempt), max(0.5, rt.wait.gone_after_s - (now - first_miss)))
            rt.progress(Progress(change.check_id, p.service_of(change.action), attempt, rt.wait.attempts))
            await rt.sleep(delay)
            attempt += 1

    async def delete() -> Applied:
        change_id = rt.journal.record_intent(
            tenant_id=rt.tenant_id, check_id=change.check_id, action=change.action,
            target={k: v for k, v in sorted(change.params.items()) if k in p.TARGET_PARAMS},
            reverts=reverts,
        )
        try:
            removed = await delete_settled()
        except WriteRefused as exc:
            if exc.cause == "no-answer":
                # The DELETE may have landed: what the tenant shows now decides.
                try:
                    still_there = await _exists(rt, change)
                except WriteRefused:
                    raise exc from None  # unknown: the intent stays open, revert can run again
                if not still_there:
                    rt.journal.record_outcome(change_id, APPLIED, object_id=object_id)
                    return Applied(ChangeStatus.APPLIED, object_id, "removed (no answer came; read back: gone)")
            rt.journal.record_outcome(change_id, FAILED, error_cause=exc.cause, error_code=exc.code)
            raise
        rt.journal.record_outcome(change_id, APPLIED if removed else ALREADY_GONE, object_id=object_id)
        if removed:
            return Applied(ChangeStatus.APPLIED, object_id, "removed")
        return Applied(ChangeStatus.ALREADY_GONE, object_id, "already gone")

    try:
        applied = await with_retries(change, rt, delete)
    except WriteRefused as exc:
        return PlanOutcome(plan, (ChangeOutcome(change, ChangeStatus.FAILED, refusal_detail(change, exc),
                                                cause=exc.cause),))
    gone = await _wait_gone(rt, change)
    detail = applied.detail if gone else f"{applied.detail}, but it is still visible after the deadline"
    verified: CheckResult | None = await rt.verify(change.check_id)
    return PlanOutcome(plan, (ChangeOutcome(change, applied.status, detail, object_id=object_id),),
                       verified=verified, verify_attempts=1)


async def apply_consent_removal(plan: FixPlan, rt: FixRuntime) -> PlanOutcome:
    """Take the scopes the tool's sign-in consent added out of their grant (delete the
    grant when nothing is left); journaled against each consent record it reverts."""
    change = plan.changes[0]
    params = change.params
    grant_id = str(params["grant_id"])
    remove = [str(s) for s in params["remove_scopes"]]
    target = {"grant_id": grant_id, "client_id": params["client_id"], "resource_id": params["resource_id"]}
    intents = [rt.journal.record_intent(tenant_id=rt.tenant_id, check_id=change.check_id, action=change.action,
                                        target=target, reverts=str(r)) for r in params["reverts"]]

    def finish(status: str, **extra: str | None) -> None:
        for change_id in intents:
            rt.journal.record_outcome(change_id, status, **extra)

    try:
        grants = await rt.writes.list_oauth2_permission_grants(str(params["client_id"]), str(params["resource_id"]))
        grant = next((g for g in grants if g.id.lower() == grant_id.lower()), None)
        remaining = scope_after_removal(grant.scope, remove) if grant is not None else ""
        if grant is None or remaining == " ".join(grant.scopes()):
            finish(ALREADY_GONE, object_id=grant_id)
            return PlanOutcome(plan, (ChangeOutcome(change, ChangeStatus.ALREADY_GONE, "already gone",
                                                    object_id=grant_id),))
        if remaining:
            await rt.writes.update_oauth2_permission_grant_scope(grant_id, remaining)
            detail = f"removed {' '.join(remove)}; the grant keeps {remaining}"
        else:
            await rt.writes.delete_oauth2_permission_grant(grant_id)
            detail = "grant deleted (nothing else was left in it)"
    except WriteRefused as exc:
        finish(FAILED, error_cause=exc.cause, error_code=exc.code)
        return PlanOutcome(plan, (ChangeOutcome(change, ChangeStatus.FAILED, refusal_detail(change, exc),
                                                cause=exc.cause),))
    finish(APPLIED, object_id=grant_id)
    return PlanOutcome(plan, (ChangeOutcome(change, ChangeStatus.APPLIED, detail, object_id=grant_id),))

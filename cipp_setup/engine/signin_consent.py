"""The consent the tool's own sign-in causes: a change to the tenant, journaled and revertible.

When the admin signs in with the tool's client (Microsoft Graph Command Line Tools) and
Entra shows the consent page, accepting it writes an `oauth2PermissionGrant` from that
client to the resource (Microsoft Graph, Azure Service Management): a new grant, or new
scopes on an existing one. Nothing in the sign-in's answer says which, so the front end
reads the client's grants from Graph before the consent step (when a token to read them
exists already) and after it, and this module turns the two readings into journal
records. `revert` can then remove exactly what that consent added: scopes it added to an
existing grant are taken out of that grant, a grant it created is deleted.

When nothing could be read before (the very first sign-in: no token yet), the record says
so (`before_known: false`) and names only the scopes the tool asked for that the grant
now holds; revert then says that some of them may have been consented earlier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from cipp_setup.engine.journal import APPLIED, Journal, JournalEntry
from cipp_setup.engine.writes import Grant

# The journal's check id and action for a consent the sign-in caused (not a plan action:
# the admin made it on Entra's consent page; the tool records what Graph shows after).
SIGN_IN_CONSENT_CHECK = "sign-in-consent"
RECORD_SIGN_IN_CONSENT = "record-sign-in-consent"


@dataclass(frozen=True)
class ConsentChange:
    """What one consent step did to one grant, read back from Graph."""

    grant_id: str
    client_id: str  # the client's service principal (object id)
    resource_id: str  # the resource's service principal (object id)
    consent_type: str  # AllPrincipals (for the organization) or Principal (for one user)
    principal_id: str | None
    added: tuple[str, ...]  # the scopes this consent step added
    created: bool  # the grant did not exist before (delete it to undo)
    before_known: bool  # False: nothing could be read before the consent step
    previous_scope: str | None  # the grant's scope before, when known and it existed


def consent_changes(before: list[Grant] | None, after: list[Grant], asked: Iterable[str]) -> list[ConsentChange]:
    """The changes between two readings of a client's grants (`before` None: not read).

    With `before`, a grant is new or gained scopes; without it, a grant holding scopes the
    sign-in asked for is reported with those scopes, marked `before_known=False`."""
    wanted = {s.lower() for s in asked}
    old = {g.id: g for g in before or []}
    changes: list[ConsentChange] = []
    for grant in after:
        prior = old.get(grant.id)
        if before is None:
            added = tuple(s for s in grant.scopes() if s.lower() in wanted)
        else:
            had = {s.lower() for s in prior.scopes()} if prior else set()
            added = tuple(s for s in grant.scopes() if s.lower() not in had)
        if not added:
            continue
        changes.append(ConsentChange(
            grant_id=grant.id, client_id=grant.client_id, resource_id=grant.resource_id,
            consent_type=grant.consent_type, principal_id=grant.principal_id, added=added,
            created=before is not None and prior is None, before_known=before is not None,
            previous_scope=prior.scope if prior else None,
        ))
    return changes


def journal_consent(journal: Journal, tenant_id: str, changes: Iterable[ConsentChange], *,
                    client_app_id: str, resource_app_id: str) -> list[str]:
    """Journal each change as applied (read back: it is in the tenant). Returns change ids."""
    ids: list[str] = []
    for change in changes:
        change_id = journal.record_intent(
            tenant_id=tenant_id, check_id=SIGN_IN_CONSENT_CHECK, action=RECORD_SIGN_IN_CONSENT,
            target={
                "grant_id": change.grant_id, "client_id": change.client_id, "resource_id": change.resource_id,
                "consent_type": change.consent_type, "principal_id": change.principal_id,
                "client_app_id": client_app_id, "resource_app_id": resource_app_id,
                "added_scopes": list(change.added), "created": change.created,
                "before_known": change.before_known,
            },
            previous=change.previous_scope,
        )
        journal.record_outcome(change_id, APPLIED, object_id=change.grant_id)
        ids.append(change_id)
    return ids


def consent_records(entries: list[JournalEntry]) -> list[JournalEntry]:
    """The journaled sign-in consents (applied), oldest first."""
    return [e for e in entries if e.action == RECORD_SIGN_IN_CONSENT and e.outcome == APPLIED and e.object_id]


def scope_after_removal(current: str, remove: Iterable[str]) -> str:
    """A grant's scope string without `remove` (case-insensitive), order kept."""
    gone = {s.lower() for s in remove}
    return " ".join(s for s in current.split(" ") if s and s.lower() not in gone)

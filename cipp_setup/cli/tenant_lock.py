"""One run at a time changes a tenant: `fix` and `revert` take the tenant's journal lock
the same way, right after sign-in."""

from __future__ import annotations

from typing import Any

# How long a second run on the same tenant waits for the first (it says so at once).
LOCK_WAIT_S = 120.0


async def lock_tenant(session: Any, journal: Any, *, dry_run: bool, terminal: Any) -> Any:
    """The tenant's lock, held unless this is a dry run (which changes nothing). Taken
    before the journal is read, so an intent another run has in flight is never reported
    as "interrupted". If waiting fails or is interrupted, the session is closed first."""
    from cipp_setup.engine.journal import TenantLock

    lock = TenantLock(journal, session.tenant_id)
    try:
        if not dry_run:
            lock.acquire(LOCK_WAIT_S, lambda text: terminal.status(text, "dim"))
    except BaseException:
        await session.close()
        raise
    return lock

"""What applying a plan needs, and the one way an applier writes.

`FixRuntime` carries the write gateway (a `TenantWrites`, handed in by the front end),
the journal, the clock and a way to re-run a check. `journaled_write` brackets one write
with the journal's intent and outcome records and turns an "already exists" answer into
`already-present`: every applier in `appliers_graph` / `appliers_arm` writes through it,
so every applier is idempotent and journaled the same way.

Time is injected (`clock`, `sleep`) so tests never wait.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping

from cipp_setup.engine import plan as p
from cipp_setup.engine.journal import ALREADY_PRESENT, APPLIED, FAILED, Journal
from cipp_setup.engine.plan import ChangeStatus, PlannedChange
from cipp_setup.engine.result import CheckResult
from cipp_setup.engine.writes import CurrentWrites, TenantWrites, WriteRefused


@dataclass(frozen=True)
class Progress:
    """A wait the admin should see: "waiting for Entra ID to replicate… 3/12"."""

    check_id: str
    service: str  # "Entra ID" or "Azure Resource Manager"
    attempt: int
    of: int

    @property
    def text(self) -> str:
        return f"waiting for {self.service} to replicate… {self.attempt}/{self.of}"


@dataclass(frozen=True)
class WaitPolicy:
    """Backoff with a deadline, for replication and for transient service answers."""

    attempts: int = 12
    first_delay_s: float = 2.0
    factor: float = 1.6
    max_delay_s: float = 20.0
    deadline_s: float = 180.0
    # Revert: a 404 on an object the journal says this tool created within the last
    # `replication_window_s` may mean "not replicated yet" (Graph answers so for tens of
    # seconds); it counts as gone only once deletes have kept missing it for `gone_after_s`.
    replication_window_s: float = 900.0
    gone_after_s: float = 60.0

    def delay(self, attempt: int) -> float:
        """The wait after failed attempt number `attempt` (1-based)."""
        return min(self.max_delay_s, self.first_delay_s * self.factor ** (attempt - 1))


async def _real_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


Verifier = Callable[[str], Awaitable[CheckResult]]


@dataclass
class FixRuntime:
    """What applying needs: the write gateway, the journal, a way to re-run a check."""

    writes: TenantWrites
    journal: Journal
    tenant_id: str
    verify: Verifier
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = _real_sleep
    on_progress: Callable[[Progress], None] | None = None
    wait: WaitPolicy = field(default_factory=WaitPolicy)
    # Receives a client secret a fix created (`writes.NewSecret`) so the front end
    # can show it once; None: nobody can be shown one, so no secret is created.
    on_new_secret: Callable[[Any], None] | None = None

    def progress(self, event: Progress) -> None:
        if self.on_progress is not None:
            self.on_progress(event)

    def current_writes(self) -> CurrentWrites:
        """The writes of the current generation (the same gateway object, typed wider)."""
        return self.writes  # type: ignore[return-value]


@dataclass(frozen=True)
class Applied:
    status: ChangeStatus
    object_id: str | None
    detail: str
    # The change as actually made, when the live state called for a different action
    # than planned (an existing consent found at apply time is extended, not created).
    actual: PlannedChange | None = None


Applier = Callable[[PlannedChange, Mapping[str, Any], FixRuntime], Awaitable[Applied]]


class _Journaled:
    """One write bracketed by intent and outcome records."""

    def __init__(self, rt: FixRuntime, change: PlannedChange, params: Mapping[str, Any],
                 previous: Any = None) -> None:
        self.rt = rt
        target = {k: v for k, v in sorted(params.items()) if k in p.TARGET_PARAMS}
        self.target = target
        self.change_id = rt.journal.record_intent(
            tenant_id=rt.tenant_id, check_id=change.check_id, action=change.action,
            target=target, previous=previous,
        )

    def done(self, status: str, object_id: str | None = None) -> None:
        self.rt.journal.record_outcome(self.change_id, status, object_id=object_id)

    def failed(self, exc: WriteRefused) -> None:
        self.rt.journal.record_outcome(self.change_id, FAILED, error_cause=exc.cause, error_code=exc.code)


# A write whose answer never came (a timeout or reset after the request went out): it
# may have landed. Only reading the tenant back says which.
NO_ANSWER = "no-answer"
# ... and the read-back found it absent: it did not land, so it may be sent again.
NOT_LANDED = "not-landed"


class OutcomeUnknown(WriteRefused):
    """A write that may or may not have landed, and the read-back could not tell: the
    intent stays open in the journal; the message names the object and how to settle it."""

    def __init__(self, change: PlannedChange, target: Mapping[str, Any], detail: str) -> None:
        where = ", ".join(f"{k} {v}" for k, v in target.items())
        super().__init__(
            "outcome-unknown",
            f"{change.action} ({where}): no answer came ({detail}) and reading the tenant back did not "
            f"settle whether it landed. Run the same fix again: it reads the tenant, journals what it "
            f"finds and completes the change if it is missing.",
        )


async def _read_back(confirm: Callable[[], Awaitable[str | None]]) -> tuple[bool, str | None]:
    """(settled, object id): settled False when the read-back itself got no answer."""
    try:
        return True, await confirm()
    except WriteRefused:
        return False, None
    except Exception as exc:  # noqa: BLE001 - a read's ServiceFailure: the outcome stays unknown
        if getattr(exc, "cause", None) is not None:
            return False, None
        raise


async def journaled_write(
    rt: FixRuntime, change: PlannedChange, params: Mapping[str, Any],
    write: Callable[[], Awaitable[str | None]], *,
    previous: Any = None, on_exists: Callable[[], Awaitable[str | None]] | None = None,
    confirm: Callable[[], Awaitable[str | None]] | None = None,
    applied_detail: str = "", present_detail: str = "already present",
) -> Applied:
    """Journal, write, journal. 'Already exists' becomes already-present (object looked up).

    No answer to the write (`no-answer`): the outcome is what the tenant says after it,
    never a guess. `confirm` (default `on_exists`) reads it back: found → `applied`
    (this write made it); not found → `failed` (it did not land); the read-back got no
    answer either → the intent stays open and OutcomeUnknown says how to settle it."""
    entry = _Journaled(rt, change, params, previous)
    try:
        object_id = await write()
    except WriteRefused as exc:
        if exc.cause == NO_ANSWER:
            check = confirm or on_exists
            settled, found = (False, None) if check is None else await _read_back(check)
            if settled and found:
                entry.done(APPLIED, found)
                return Applied(ChangeStatus.APPLIED, found, f"{applied_detail} (no answer came; read back: it landed)")
            if settled:
                entry.failed(exc)
                # Known not to have landed: safe to send again (with_retries does).
                raise WriteRefused(NOT_LANDED, f"{exc.message} Read back: it did not land.",
                                   status=exc.status, code=exc.code) from None
            raise OutcomeUnknown(change, entry.target, exc.message) from None
        existing = None
        # Graph answers a duplicate directory role assignment with a plain 400 whose
        # code says nothing more; whether it was a duplicate is read from the tenant.
        if exc.cause in ("already-exists", "bad-request") and on_exists is not None:
            existing = await on_exists()
        if exc.cause == "already-exists" or existing:
            entry.done(ALREADY_PRESENT, existing)
            return Applied(ChangeStatus.ALREADY_PRESENT, existing, present_detail)
        entry.failed(exc)
        raise
    entry.done(APPLIED, object_id)
    return Applied(ChangeStatus.APPLIED, object_id, applied_detail)


def rra_summary(rra: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The requiredResourceAccess as read, every entry in order, ids as plain strings
    (journal `previous`, and the base of the read-modify-write): properties the tool
    does not know stay in their entries, so the write sends them back."""
    return [
        {**e, "resourceAppId": str(e.get("resourceAppId", "")),
         "resourceAccess": [{**a, "id": str(a.get("id", "")), "type": str(a.get("type", ""))}
                            for a in e.get("resourceAccess", []) or []]}
        for e in rra
    ]

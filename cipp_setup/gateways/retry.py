"""One retry rule for every service (Graph, ARM, App Service, the CIPP API, the identity
platform): 429/503/504 wait as Retry-After says, within a bound; idempotent reads are
tried again after a reset or a read timeout.

The SDKs' own retry loops are switched off (kiota `RetryHandlerOption(max_retries=0)`,
azure-core `retry_total=0`, msal has none) so that the wait goes through an injected
`sleep`: tests that throttle the sandbox finish instantly, and the bound is the same
everywhere.

A wait the service asks for that does not fit in the budget is not waited at all: the
call ends at once as `throttled` / `service-unavailable`, saying the wait asked for (a
`Retry-After: 120` must not keep a `check` silent for six minutes). Any wait longer than
`show_after_s` is announced through `on_wait` (the front end shows it; the engine and the
gateways never print).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, TypeVar

from cipp_setup.engine.model import TRANSIENT_CAUSES
from cipp_setup.engine.runner import ServiceFailure

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({429, 503, 504})


class Retryable(Exception):
    """Raised by a gateway operation for an answer worth retrying; `final` is raised
    instead when the budget is spent. `status` 0: no answer at all (a reset or read
    timeout of an idempotent request)."""

    def __init__(self, status: int, retry_after_s: float | None, final: Exception) -> None:
        super().__init__(str(final))
        self.status = status
        self.retry_after_s = retry_after_s
        self.final = final


@dataclass(frozen=True)
class RetryWait:
    """A wait about to happen, for the front end to show."""

    seconds: float
    attempt: int  # the attempt that will follow the wait (2, 3, ...)
    reason: str  # "429 Too Many Requests", "503", "no answer"
    what: str  # the final failure's message: which service and call


def _reason(status: int) -> str:
    if status == 429:
        return "429 Too Many Requests"
    return f"HTTP {status}" if status else "no answer"


@dataclass(frozen=True)
class RetryPolicy:
    """At most `max_attempts` tries; never waits longer than `max_wait_s` in one go, nor
    `budget_s` in total (a Retry-After beyond either ends the retries at once, naming the
    wait asked for). Answers without a Retry-After wait `default_wait_s`, doubling."""

    max_attempts: int = 4
    max_wait_s: float = 30.0
    budget_s: float = 45.0
    default_wait_s: float = 1.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)
    on_wait: Callable[[RetryWait], None] | None = None
    show_after_s: float = 3.0  # waits longer than this are announced through on_wait
    # No answer at all (reset, read timeout): one more try; a read timeout costs the
    # whole timeout each time, and a service that drops every request will not heal.
    max_no_answer_attempts: int = 2

    def with_on_wait(self, on_wait: Callable[[RetryWait], None] | None) -> RetryPolicy:
        from dataclasses import replace

        return replace(self, on_wait=on_wait)

    async def run(self, operation: Callable[[], Awaitable[T]]) -> T:
        waited = 0.0
        attempt = 1
        while True:
            try:
                return await operation()
            except Retryable as exc:
                wait = self._wait_before_next(exc, attempt, waited)
                attempt += 1
                waited += wait
                await self.sleep(wait)

    def _wait_before_next(self, exc: Retryable, attempt: int, waited: float) -> float:
        """The rule both loops share: how long to wait before attempt `attempt + 1` (the
        wait announced), or the final failure raised when the attempts or the budget are
        spent or the service asks for more than the budget."""
        backoff = self.default_wait_s * (2 ** (attempt - 1))
        wait = backoff if exc.retry_after_s is None else exc.retry_after_s
        if attempt >= (self.max_no_answer_attempts if exc.status == 0 else self.max_attempts):
            raise exc.final from None
        if wait > self.max_wait_s or waited + wait > self.budget_s:
            raise beyond_budget(exc.final, wait, self.budget_s - waited) from None
        self.announce(RetryWait(wait, attempt + 1, _reason(exc.status), str(exc.final)))
        return wait

    def announce(self, wait: RetryWait) -> None:
        if self.on_wait is not None and wait.seconds > self.show_after_s:
            self.on_wait(wait)

    def run_blocking(self, operation: Callable[[], T], *, sleep: Callable[[float], None] | None = None) -> T:
        """`run` for code that is already in a worker thread (msal's token requests):
        the same rule; the wait uses `sleep` (default: this policy's sleep run to
        completion on a private loop, so a test's clock-moving sleep applies here too)."""
        waited = 0.0
        attempt = 1
        while True:
            try:
                return operation()
            except Retryable as exc:
                wait = self._wait_before_next(exc, attempt, waited)
                attempt += 1
                waited += wait
                if sleep is not None:
                    sleep(wait)
                elif self.sleep is asyncio.sleep:
                    time.sleep(wait)
                else:
                    asyncio.run(_await(self.sleep(wait)))


async def _await(awaitable: Awaitable[None]) -> None:
    await awaitable


def beyond_budget(final: Exception, wait: float, left: float) -> Exception:
    """The final failure, saying the wait the service asked for and that it was not waited."""
    if isinstance(final, ServiceFailure):
        failure = ServiceFailure(
            final.cause,
            f"{final.message.rstrip('.')}, asking to wait {wait:.0f} s: more than the "
            f"{max(0.0, left):.0f} s left of the retry budget, so cipp-setup did not wait. "
            f"Try again in {_duration(wait)}.",
        )
        failure.retry_after_s = wait  # type: ignore[attr-defined]
        return failure
    return final


def _duration(seconds: float) -> str:
    if seconds >= 90:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds:.0f} s"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; dates are rare here)."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None


def is_transient(exc: BaseException) -> bool:
    """A failure that a later attempt may not see (throttling, an outage, no answer)."""
    return isinstance(exc, ServiceFailure) and exc.cause in TRANSIENT_CAUSES

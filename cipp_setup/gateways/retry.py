"""One retry rule for every gateway: 429/503/504 wait as Retry-After says, within a bound.

The SDKs' own retry loops are switched off (kiota `RetryHandlerOption(max_retries=0)`,
azure-core `retry_total=0`) so that the wait goes through an injected `sleep`: tests
that throttle the sandbox finish instantly, and the bound is the same for Graph and ARM.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({429, 503, 504})


class Retryable(Exception):
    """Raised by a gateway operation for an answer worth retrying; `final` is raised
    instead when the budget is spent."""

    def __init__(self, status: int, retry_after_s: float | None, final: Exception) -> None:
        super().__init__(str(final))
        self.status = status
        self.retry_after_s = retry_after_s
        self.final = final


@dataclass(frozen=True)
class RetryPolicy:
    """At most `max_attempts` tries; never waits longer than `max_wait_s` in one go, nor
    `budget_s` in total (a Retry-After beyond the budget ends the retries at once)."""

    max_attempts: int = 4
    max_wait_s: float = 30.0
    budget_s: float = 60.0
    default_wait_s: float = 1.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)

    async def run(self, operation: Callable[[], Awaitable[T]]) -> T:
        waited = 0.0
        attempt = 1
        while True:
            try:
                return await operation()
            except Retryable as exc:
                wait = self.default_wait_s if exc.retry_after_s is None else exc.retry_after_s
                if attempt >= self.max_attempts or wait > self.max_wait_s or waited + wait > self.budget_s:
                    raise exc.final from None
                attempt += 1
                waited += wait
                await self.sleep(wait)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form; dates are rare here)."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None

"""Shared by the fix / revert tests: a FixSession against a running sandbox, with every
wait (the fix engine's backoff and the gateways' Retry-After) moving the sandbox clock
instead of sleeping."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Awaitable, Callable, TypeVar

from cipp_setup.cloud import cloud_from_document
from cipp_setup.engine.context import CheckInputs
from cipp_setup.engine.diagnose import ConnectionOptions
from cipp_setup.engine.fix_session import FixSession, Timing
from cipp_setup.engine.fixes import Progress, WaitPolicy
from cipp_setup.engine.journal import Journal
from cipp_setup.engine.result import profile_of_version, version_numbers
from cipp_setup.gateways.retry import RetryPolicy
from cipp_setup.gateways.services import GatewayServices

T = TypeVar("T")


@dataclass
class SandboxTime:
    """Sleeping moves the sandbox clock; the engine's clock reads it."""

    sandbox: Any
    waits: list[float] = field(default_factory=list)

    def clock(self) -> float:
        return float(self.sandbox.state.clock.now())

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.sandbox.control.advance_clock(seconds)


def scenario_profile(sandbox: Any) -> tuple[Any, str] | None:
    """As a sandbox CLI run does: the scenario's CIPP version answers for the admin when the
    tenant does not tell who writes the API clients."""
    cipp = sandbox.state.cipp
    numbers = version_numbers(str(cipp.version)) if cipp is not None else None
    if numbers is None:
        return None
    return profile_of_version(numbers), f"the scenario runs CIPP {cipp.version}"


@dataclass
class Harness:
    sandbox: Any
    journal: Journal
    time: SandboxTime
    progress: list[Progress] = field(default_factory=list)

    def inputs(self, **overrides: Any) -> CheckInputs:
        ids = self.sandbox.identities_document()
        base = CheckInputs(
            tenant=ids["tenant_id"], sam_user=ids.get("sam_user_upn"),
            subscription_id=ids.get("subscription_id"), generation="legacy",
            profile_default=scenario_profile(self.sandbox),
        )
        return replace(base, **overrides)

    def connection(self) -> ConnectionOptions:
        cloud = cloud_from_document(self.sandbox.cloud_document(), "sandbox")
        return ConnectionOptions(
            services=GatewayServices(),
            cloud=cloud, auth="device-code", interactive=True, device_code_callback=lambda _m: None,
            retry=RetryPolicy(sleep=self.time.sleep),
        )

    async def open(self, *, wait: WaitPolicy | None = None, **overrides: Any) -> FixSession:
        return await FixSession.open(
            self.inputs(**overrides), self.connection(), journal=self.journal,
            timing=Timing(clock=self.time.clock, sleep=self.time.sleep, wait=wait or WaitPolicy()),
            on_progress=self.progress.append,
        )

    def run(self, body: Callable[[FixSession], Awaitable[T]], **overrides: Any) -> T:
        """Open a session, run `body`, close: one event loop, as the CLI does."""

        async def main() -> T:
            session = await self.open(**overrides)
            try:
                return await body(session)
            finally:
                await session.close()

        return asyncio.run(main())

    def writes_in_log(self) -> list[tuple[str, str, str, int]]:
        """(service, method, path, status) of every write request the sandbox saw."""
        return [
            (r.service, r.method, r.path, r.status) for r in self.sandbox.control.request_log()
            if r.method in ("POST", "PUT", "PATCH", "DELETE") and r.service in ("graph", "arm")
        ]


def harness(sandbox: Any, tmp_path: Path) -> Harness:
    return Harness(sandbox, Journal(tmp_path / "state" / "journal.jsonl"), SandboxTime(sandbox))


async def check_and_fix_all(session: FixSession) -> tuple[Any, list[Any], Any]:
    """check → plan → apply every plan → check: (before, outcomes, after)."""
    before = await session.check()
    outcomes = [await session.apply(plan) for plan in session.plans(before.results)]
    after = await session.check()
    return before, outcomes, after

"""Shared by the reliability tests: run the product's engine against a sandbox with
faults, with every retry wait recorded (and moving the sandbox clock) instead of slept."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field, replace
from typing import Any

from cipp_setup.cloud import cloud_from_document
from cipp_setup.engine.context import CheckInputs
from cipp_setup.engine.diagnose import ConnectionOptions, Diagnosis, run_diagnosis
from cipp_setup.engine.result import Secret
from cipp_setup.gateways.retry import RetryPolicy, RetryWait
from cipp_setup.gateways.services import GatewayServices


@dataclass
class ClockSleep:
    """The retry rule's sleep: records the wait and moves the sandbox clock."""

    sandbox: Any
    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.sandbox.control.advance_clock(seconds)


def inputs_for(sandbox: Any, **overrides: Any) -> CheckInputs:
    ids = sandbox.identities_document()
    secret = ids.get("api_client_secret")
    inputs = CheckInputs(
        tenant=ids["tenant_id"], sam_user=ids.get("sam_user_upn"),
        api_url=ids.get("api_url") if ids.get("api_client_id") else None,
        api_client_id=ids.get("api_client_id"),
        api_client_secret=Secret(secret) if secret else None,
        generation="legacy",
    )
    return replace(inputs, **overrides)


@dataclass
class Run:
    diagnosis: Diagnosis | None
    error: BaseException | None
    waits: list[float]
    shown: list[RetryWait]

    def statuses(self) -> dict[str, tuple[str, str | None]]:
        assert self.diagnosis is not None, self.error
        return {r.check_id: (r.status.value, r.cause) for r in self.diagnosis.report.results}

    def summary(self, check_id: str) -> str:
        assert self.diagnosis is not None, self.error
        result = self.diagnosis.report.result(check_id)
        assert result is not None
        return result.summary


def diagnose(sandbox: Any, *, only: frozenset[str] | None = None, api_timeout_s: float | None = None,
             **overrides: Any) -> Run:
    """`check` as the engine runs it: device-code sign-in approved by the sandbox."""
    sandbox.control.set_device_code_auto_approve(False)

    def approve(message: str) -> None:
        code = re.search(r"enter the code (\S+) to authenticate", message)
        assert code, message
        sandbox.control.approve_device_code(code.group(1))

    sleep = ClockSleep(sandbox)
    shown: list[RetryWait] = []
    connection = ConnectionOptions(
        cloud=cloud_from_document(sandbox.cloud_document(), "sandbox"),
        auth="device-code", interactive=True, device_code_callback=approve,
        retry=RetryPolicy(sleep=sleep, on_wait=shown.append),
        api_timeout_s=api_timeout_s, services=GatewayServices(),
    )
    try:
        diagnosis = asyncio.run(run_diagnosis(inputs_for(sandbox, **overrides), connection, only=only))
    except Exception as exc:  # noqa: BLE001 - the test looks at it
        return Run(None, exc, sleep.waits, shown)
    return Run(diagnosis, None, sleep.waits, shown)

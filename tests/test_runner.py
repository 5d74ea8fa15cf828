"""The engine's runner with fakes named for what they do (flutter doctor's style)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from cipp_setup.cloud import CLOUDS
from cipp_setup.engine.context import CheckContext, CheckInputs
from cipp_setup.engine.model import (
    Cause, Check, CheckResult, CheckSpec, Evidence, Message, Remediation, Severity, Status,
)
from cipp_setup.engine.runner import ServiceFailure, run_checks

ORDER: list[str] = []


def spec(check_id: str, *, depends_on: tuple[str, ...] = (), timeout_s: float = 5.0,
         required: bool = True) -> CheckSpec:
    return CheckSpec(
        id=check_id, title=f"{check_id} holds", severity=Severity.HIGH, required=required,
        remediation=Remediation("portal", "cli"), docs="docs",
        causes=(Cause("broken", "it is broken"),), depends_on=depends_on, timeout_s=timeout_s,
    )


class PassingCheck(Check):
    def __init__(self, check_id: str, delay: float = 0.0, **kwargs: object) -> None:
        self.spec = spec(check_id, **kwargs)  # type: ignore[misc,arg-type]
        self.delay = delay

    async def run(self, ctx: CheckContext) -> CheckResult:
        await asyncio.sleep(self.delay)
        ORDER.append(self.spec.id)
        return self.passed("fine")


class FailingCheck(PassingCheck):
    async def run(self, ctx: CheckContext) -> CheckResult:
        return self.failed("broken", "not fine")


class CrashingCheck(PassingCheck):
    async def run(self, ctx: CheckContext) -> CheckResult:
        raise ValueError("boom")


class ThrottledCheck(PassingCheck):
    async def run(self, ctx: CheckContext) -> CheckResult:
        raise ServiceFailure("throttled", "Graph kept answering 429.")


class StuckCheck(PassingCheck):
    async def run(self, ctx: CheckContext) -> CheckResult:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


def context(ignore: frozenset[str] = frozenset()) -> CheckContext:
    return CheckContext(inputs=CheckInputs(tenant="contoso.example", ignore=ignore),
                        cloud=CLOUDS["public"], gateways=None)


def run(checks: list[Check], ignore: frozenset[str] = frozenset()):  # type: ignore[no-untyped-def]
    return asyncio.run(run_checks(checks, context(ignore)))


def test_results_come_back_in_catalogue_order_although_they_finish_in_another() -> None:
    ORDER.clear()
    report = run([PassingCheck("slow", delay=0.05), PassingCheck("fast")])
    assert ORDER == ["fast", "slow"]
    assert [r.check_id for r in report.results] == ["slow", "fast"]
    assert report.ok


def test_independent_checks_run_concurrently() -> None:
    loop = asyncio.new_event_loop()
    try:
        started = loop.time()
        loop.run_until_complete(run_checks([PassingCheck(f"c{i}", delay=0.2) for i in range(5)], context()))
        assert loop.time() - started < 0.2 * 3  # five 0.2 s checks, far less than 1 s
    finally:
        loop.close()


def test_an_exception_becomes_an_error_result_and_the_others_go_on() -> None:
    report = run([CrashingCheck("crashes"), PassingCheck("fine")])
    crashed = report.result("crashes")
    assert crashed is not None and crashed.status is Status.ERROR
    assert crashed.cause == "internal-error" and "boom" in crashed.summary
    assert report.result("fine").status is Status.PASS  # type: ignore[union-attr]
    assert not report.ok


def test_a_service_failure_keeps_its_cause() -> None:
    result = run([ThrottledCheck("throttled")]).results[0]
    assert (result.status, result.cause) == (Status.ERROR, "throttled")


def test_a_stuck_check_times_out_as_an_error() -> None:
    result = run([StuckCheck("stuck", timeout_s=0.05)]).results[0]
    assert (result.status, result.cause) == (Status.ERROR, "timeout")


def test_a_check_whose_dependency_failed_is_skipped_naming_it() -> None:
    report = run([FailingCheck("first"), PassingCheck("second", depends_on=("first",))])
    second = report.result("second")
    assert second is not None and second.status is Status.SKIP
    assert "first" in second.summary


def test_a_dependency_filtered_away_counts_as_satisfied() -> None:
    report = run([PassingCheck("second", depends_on=("not-selected",))])
    assert report.results[0].status is Status.PASS


def test_ignore_demotes_a_failure_to_a_warning_and_says_so() -> None:
    report = run([FailingCheck("first")], ignore=frozenset({"first"}))
    result = report.results[0]
    assert result.status is Status.WARN and result.ignored
    assert any("--ignore" in m.text for m in result.messages)
    assert report.ok


def test_optional_check_failures_do_not_fail_the_run() -> None:
    report = run([FailingCheck("optional", required=False)])
    assert report.ok


def test_a_result_refuses_a_lone_message_or_evidence_where_a_tuple_belongs() -> None:
    good = CheckResult("x", Status.PASS, "fine")
    with pytest.raises(TypeError, match="messages"):
        replace(good, messages=Message("info", "not in a tuple"))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="evidence"):
        replace(good, evidence=Evidence("a", "b"))  # type: ignore[arg-type]


def test_an_undeclared_cause_fails_loudly() -> None:
    with pytest.raises(KeyError):
        PassingCheck("x").failed("not-a-declared-cause", "oops")


def test_shared_lookups_run_once_for_concurrent_callers_and_share_failures() -> None:
    calls: list[str] = []

    async def lookup() -> str:
        calls.append("x")
        await asyncio.sleep(0.01)
        return "answer"

    async def failing() -> str:
        calls.append("f")
        # A failure about the tenant is shared; a transient one is flown again
        # (tests/reliability/test_retry_policy.py).
        raise ServiceFailure("permission-denied", "may not read")

    async def scenario() -> None:
        ctx = context()
        answers = await asyncio.gather(*(ctx.shared("user", lookup) for _ in range(5)))
        assert answers == ["answer"] * 5
        for _ in range(2):
            with pytest.raises(ServiceFailure):
                await ctx.shared("broken", failing)
        ctx.forget("user")
        await ctx.shared("user", lookup)

    asyncio.run(scenario())
    assert calls == ["x", "f", "x"]

"""One retry rule for every service (issue 14): each test injects a sandbox fault, with the
`--fault` grammar of `sandbox serve`, that used to end in a wrong verdict or a silent wait."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cipp_setup.engine.context import CheckContext, CheckInputs
from cipp_setup.engine.runner import ServiceFailure
from cipp_setup.gateways.errors import SignInFailed
from cipp_setup.gateways.retry import Retryable, RetryPolicy, RetryWait
from cipp_setup.sandbox.faults import parse_fault_spec

from reliability.support import diagnose
from scenario_verdicts import documented

API_ONLY = frozenset({"api-token", "api-list-logs"})
GRAPH_CHECKS = ("sam-user-global-admin", "sam-app-azure-management-consent", "sam-user-subscription-contributor")
# What legacy-ready gets with no fault (its file says so; the activation rights still held
# warn): a fault within the retry budget must end in exactly this.
NO_FAULT = documented("legacy-ready")[0]


def fault(sandbox: Any, spec: str) -> None:
    sandbox.control.add_fault(parse_fault_spec(spec))


# --- the CIPP API ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["throttle", "unavailable"])
def test_a_transient_429_or_503_from_the_cipp_api_is_retried(sandbox_factory: Any, kind: str) -> None:
    sb = sandbox_factory("legacy-ready")
    fault(sb, f"{kind}:cipp:GET:/api/ListLogs:times=2:retry_after=2")
    run = diagnose(sb, only=API_ONLY)
    assert run.statuses()["api-list-logs"] == ("pass", None)
    assert run.waits == [2.0, 2.0]


@pytest.mark.parametrize(("kind", "cause"), [("throttle", "throttled"), ("unavailable", "service-unavailable")])
def test_a_persistent_429_or_503_from_the_cipp_api_is_an_honest_error(
    sandbox_factory: Any, kind: str, cause: str
) -> None:
    sb = sandbox_factory("legacy-ready")
    fault(sb, f"{kind}:cipp:GET:/api/ListLogs:retry_after=1")
    run = diagnose(sb, only=API_ONLY)
    assert run.statuses()["api-list-logs"] == ("error", cause)  # not a `fail` verdict


# --- the identity platform ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["throttle", "unavailable"])
def test_two_transient_identity_errors_do_not_end_api_token_in_internal_error(
    sandbox_factory: Any, kind: str
) -> None:
    sb = sandbox_factory("legacy-ready")
    fault(sb, f"{kind}:idp:*:*:times=2:retry_after=1")
    run = diagnose(sb, only=API_ONLY)
    assert run.statuses() == {"api-token": ("pass", None), "api-list-logs": ("pass", None)}
    assert run.waits == [1.0, 1.0]


def test_a_persistent_identity_429_is_throttling_not_a_tenant_name_problem(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    fault(sb, "throttle:idp:retry_after=2")
    run = diagnose(sb)
    assert isinstance(run.error, SignInFailed), run.error
    text = str(run.error)
    assert "429" in text and "tenant name" not in text.lower() and "ValueError" not in text
    # The API-only half of the run says the same, as an error with the right cause.
    api_run = diagnose(sb, only=API_ONLY)
    assert api_run.statuses()["api-token"] == ("error", "throttled")


def test_a_retry_after_beyond_the_budget_ends_at_once_naming_the_wait(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    fault(sb, "throttle:idp:retry_after=120")
    run = diagnose(sb)
    assert isinstance(run.error, SignInFailed), run.error
    assert "120 s" in str(run.error) and "did not wait" in str(run.error)
    assert run.waits == []  # nothing was waited out, silently or not


# --- Graph and ARM reads: resets and read timeouts ----------------------------------------


def test_a_reset_graph_read_is_retried_and_a_persistent_one_is_network_not_tls(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    fault(sb, "reset:graph:GET:/users/:times=1")
    assert {c: diagnose(sb).statuses()[c] for c in GRAPH_CHECKS} == {c: NO_FAULT[c] for c in GRAPH_CHECKS}
    sb.control.clear_faults()
    fault(sb, "reset:graph:GET")
    run = diagnose(sb)
    for check_id in GRAPH_CHECKS:
        assert run.statuses()[check_id] == ("error", "network")
        assert "TLS" not in run.summary(check_id), run.summary(check_id)


def test_one_slow_graph_answer_does_not_fail_the_shared_lookup(sandbox_factory: Any, monkeypatch: Any) -> None:
    import cipp_setup.gateways.graph as graph

    monkeypatch.setattr(graph, "GRAPH_TIMEOUT_S", 0.5)
    sb = sandbox_factory("legacy-ready")
    fault(sb, "slow:graph:GET:/users/:times=1:delay_ms=1500")
    run = diagnose(sb)
    assert {c: run.statuses()[c] for c in GRAPH_CHECKS} == {c: NO_FAULT[c] for c in GRAPH_CHECKS}


def test_a_persistent_read_timeout_is_timeout_not_network(sandbox_factory: Any, monkeypatch: Any) -> None:
    import cipp_setup.gateways.arm as arm

    monkeypatch.setattr(arm, "ARM_READ_TIMEOUT_S", 0.5)
    sb = sandbox_factory("legacy-ready")
    fault(sb, "slow:arm:GET:delay_ms=1200")
    run = diagnose(sb, only=frozenset({"sam-user-subscription-contributor"}))
    assert run.statuses()["sam-user-subscription-contributor"] == ("error", "timeout")


# --- the rule itself ----------------------------------------------------------------------


def test_waits_longer_than_a_few_seconds_are_shown_and_short_ones_are_not(sandbox_factory: Any) -> None:
    sb = sandbox_factory("legacy-ready")
    fault(sb, "throttle:graph:GET:/users/:times=1:retry_after=7")
    fault(sb, "throttle:arm:GET:times=1:retry_after=2")
    run = diagnose(sb)
    assert run.statuses()["sam-user-global-admin"] == NO_FAULT["sam-user-global-admin"]
    assert sorted(run.waits) == [2.0, 7.0]
    assert [w.seconds for w in run.shown] == [7.0] and run.shown[0].reason == "429 Too Many Requests"


def test_the_budget_bounds_the_total_wait() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def always_throttled() -> None:
        raise Retryable(429, 20.0, ServiceFailure("throttled", "Graph kept answering 429."))

    policy = RetryPolicy(sleep=sleep, budget_s=45.0)
    with pytest.raises(ServiceFailure) as raised:
        asyncio.run(policy.run(always_throttled))
    assert waits == [20.0, 20.0]  # a third 20 s would pass the 45 s budget
    assert raised.value.cause == "throttled" and "20 s" in raised.value.message


def test_a_shared_lookup_that_failed_transiently_is_flown_again() -> None:
    calls: list[str] = []

    async def flaky() -> str:
        calls.append("try")
        await asyncio.sleep(0)
        if len(calls) == 1:
            raise ServiceFailure("timeout", "Graph did not answer in time.")
        return "user"

    async def scenario() -> list[str]:
        ctx = CheckContext(inputs=CheckInputs(tenant="t"), cloud=None, gateways=None)  # type: ignore[arg-type]
        return list(await asyncio.gather(*(ctx.shared("sam-user", flaky) for _ in range(3))))

    assert asyncio.run(scenario()) == ["user"] * 3
    assert calls == ["try", "try"]  # one new flight for all three waiters


def test_the_wait_line_is_ascii_and_names_the_attempt() -> None:
    from cipp_setup.cli.check_cmd import retry_wait_line

    line = retry_wait_line(RetryWait(20.0, 2, "429 Too Many Requests", "Microsoft Graph kept answering 429."))
    assert line.isascii() and "20 s" in line and "attempt 2" in line

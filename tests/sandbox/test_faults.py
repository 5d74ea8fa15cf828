"""Faults: latency, throttle, unavailable, reset, slow; matching, counting, spec parsing."""

from __future__ import annotations

import httpx
import pytest

from cipp_setup.sandbox.faults import parse_fault_spec, plan_faults
from cipp_setup.sandbox.runtime import MissingService
from cipp_setup.sandbox.state import Fault
from cipp_setup.sandbox.transport import SERVICE_NAMES

from .fakes import client_for, fake_sandbox, url

# --- spec parsing ----------------------------------------------------------------------


def test_parse_fault_spec_full_form():
    fault = parse_fault_spec("throttle:graph:GET:/users:times=2:retry_after=1")
    assert fault == Fault(kind="throttle", service="graph", method="GET", path="/users", times=2, retry_after=1)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("unavailable:arm", Fault(kind="unavailable", service="arm")),
        ("reset", Fault(kind="reset")),
        ("latency:*:ms=200", Fault(kind="latency", delay_ms=200)),
        ("slow:graph:post:/addPassword$:delay_ms=50", Fault(kind="slow", service="graph", method="POST",
                                                            path="/addPassword$", delay_ms=50)),
        ("reset:cipp::/api/ListLogs:times=1", Fault(kind="reset", service="cipp", path="/api/ListLogs", times=1)),
        ("THROTTLE:IDP:*:*:retry_after=0", Fault(kind="throttle", service="idp", retry_after=0)),
    ],
)
def test_parse_fault_spec_short_forms(spec, expected):
    assert parse_fault_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty fault spec"),
        ("explode:graph", "unknown fault kind 'explode'"),
        ("throttle:mail", "unknown service 'mail'"),
        ("throttle:graph:GET:/users(:times=1", "bad path regular expression"),
        ("throttle:graph:times=two", "times needs a whole number"),
        ("throttle:graph:times=0", "times must be 1 or more"),
        ("latency:graph", "needs delay_ms=N"),
        ("throttle:graph:times=1:GET", "comes after an option"),
        ("throttle:graph:GET:/a:/b", "too many fields"),
        ("throttle:graph:G-T", "bad HTTP method"),
    ],
)
def test_bad_fault_specs_give_one_line_errors(spec, message):
    with pytest.raises(ValueError, match=message) as caught:
        parse_fault_spec(spec)
    assert "\n" not in str(caught.value)


def test_plan_matches_by_service_method_and_path_and_counts_hits():
    throttle = Fault(kind="throttle", service="graph", method="GET", path=r"^/v1\.0/users", times=2)
    latency = Fault(kind="latency", delay_ms=5)
    faults = [latency, throttle, Fault(kind="latency", service="graph", delay_ms=7)]
    assert plan_faults(faults, "arm", "GET", "/v1.0/users").action is None
    assert plan_faults(faults, "graph", "POST", "/v1.0/users").action is None
    assert plan_faults(faults, "graph", "GET", "/v1.0/groups").action is None
    first = plan_faults(faults, "graph", "GET", "/v1.0/users/abc")
    assert first.action is throttle and first.delay_ms == 12
    assert plan_faults(faults, "graph", "GET", "/v1.0/users").action is throttle
    assert plan_faults(faults, "graph", "GET", "/v1.0/users").action is None  # times=2 used up
    assert throttle.hits == 2 and latency.hits == 6


# --- faults on the wire (fake services carrying the real services' names) --------------


def _get(sandbox, service, path="/probe"):
    with client_for(sandbox) as client:
        return client.get(url(sandbox, service, path))


def test_throttle_answers_429_with_retry_after_and_each_service_error_shape(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    sandbox.control.add_fault(Fault(kind="throttle", retry_after=3))
    responses = {name: _get(sandbox, name) for name in SERVICE_NAMES}
    assert {r.status_code for r in responses.values()} == {429}
    assert {r.headers["Retry-After"] for r in responses.values()} == {"3"}

    graph = responses["graph"].json()["error"]
    assert graph["code"] == "TooManyRequests"
    assert graph["innerError"]["status"] == "429"
    assert set(graph["innerError"]) >= {"date", "request-id", "client-request-id", "code", "message"}
    arm = responses["arm"].json()["error"]
    assert arm["code"] == "TooManyRequests" and arm["message"]
    idp = responses["idp"].json()
    assert idp["error"] == "temporarily_unavailable"
    assert idp["error_description"].startswith(f"AADSTS{idp['error_codes'][0]}: ")
    assert set(idp) >= {"error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"}
    for name in ("cipp", "frontend", "processor"):
        assert responses[name].headers["Content-Type"].startswith("text/plain")
        assert responses[name].text == "Too Many Requests"
    # The service never saw a throttled request.
    assert all(service.handled == 0 for service in sandbox.services.values())


def test_unavailable_answers_503_with_retry_after(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    sandbox.control.add_fault(Fault(kind="unavailable", service="arm", retry_after=7))
    arm = _get(sandbox, "arm")
    assert arm.status_code == 503 and arm.headers["Retry-After"] == "7"
    assert arm.json()["error"]["code"] == "ServiceUnavailable"
    assert _get(sandbox, "graph").status_code == 200
    graph_fault = Fault(kind="unavailable", service="graph")
    sandbox.control.add_fault(graph_fault)
    assert _get(sandbox, "graph").json()["error"]["code"] == "serviceNotAvailable"


def test_times_limits_a_fault_then_requests_go_through(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    fault = sandbox.control.add_fault(parse_fault_spec("throttle:graph:GET:/users:times=2:retry_after=0"))
    with client_for(sandbox) as client:
        statuses = [client.get(url(sandbox, "graph", "/v1.0/users")).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]
    assert fault.hits == 2
    assert [r.status for r in sandbox.control.request_log()] == [429, 429, 200]


def test_reset_drops_the_connection_without_an_answer(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    sandbox.control.add_fault(Fault(kind="reset", service="cipp", times=1))
    with client_for(sandbox) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.get(url(sandbox, "cipp", "/api/ListLogs"))
        assert client.get(url(sandbox, "cipp", "/api/ListLogs")).status_code == 200
    assert [r.status for r in sandbox.control.request_log()] == [0, 200]
    assert sandbox.services["cipp"].handled == 1


def test_latency_delays_before_the_service_and_slow_after_it(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    sandbox.control.add_fault(Fault(kind="latency", service="graph", delay_ms=40))
    sandbox.control.add_fault(Fault(kind="slow", service="arm", delay_ms=40))
    assert _get(sandbox, "graph").status_code == 200
    assert _get(sandbox, "arm").status_code == 200
    assert _get(sandbox, "idp").status_code == 200
    graph, arm, _idp = sandbox.control.request_log()
    assert graph.latency_ms >= 40 and arm.latency_ms >= 40
    assert sandbox.services["arm"].handled == 1  # slow: the service did its work


def test_a_slow_request_does_not_hold_the_state_lock(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    sandbox.control.add_fault(Fault(kind="slow", service="arm", delay_ms=300))
    with client_for(sandbox) as client:
        import threading

        slow = threading.Thread(target=lambda: client.get(url(sandbox, "arm", "/slow")))
        slow.start()
        # While the ARM answer waits, another service is answered and the lock is free.
        assert client.get(url(sandbox, "graph", "/quick")).status_code == 200
        assert sandbox.state.lock.acquire(timeout=0.2)
        sandbox.state.lock.release()
        slow.join()


def test_global_latency_applies_to_every_service(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory, latency_ms=25)
    for name in SERVICE_NAMES:
        assert _get(sandbox, name).status_code == 200
    assert all(r.latency_ms >= 25 for r in sandbox.control.request_log())
    sandbox.control.set_latency_ms(0)
    assert sandbox.transport.latency_ms == 0


# --- faults on the real services (when their modules exist) ---------------------------

_REAL_PROBES = {
    "idp": "/{tenant}/v2.0/.well-known/openid-configuration",
    "graph": "/v1.0/organization",
    "arm": "/subscriptions",
    "cipp": "/api/PublicPing",
    "frontend": "/",
    "processor": "/api/PublicPing",
}


@pytest.fixture
def real_sandbox(sandbox_factory):
    """The real services over a bare tenant (the baseline every scenario starts from)."""
    from cipp_setup.sandbox import baseline

    state = baseline.baseline_state(tenant_id="11111111-2222-3333-4444-555555555555",
                                    default_domain="contoso.example", display_name="Contoso")
    return sandbox_factory(state)


@pytest.mark.parametrize("service", SERVICE_NAMES)
@pytest.mark.parametrize("kind", ["latency", "throttle", "unavailable", "reset", "slow"])
def test_each_fault_kind_on_each_real_service(real_sandbox, service, kind):
    assert not isinstance(real_sandbox.services[service], MissingService)
    fault = Fault(kind=kind, service=service, times=1, retry_after=2,
                  delay_ms=30 if kind in ("latency", "slow") else 0)
    real_sandbox.control.add_fault(fault)
    path = _REAL_PROBES[service].format(tenant=real_sandbox.state.tenant_id)
    with client_for(real_sandbox) as client:
        if kind == "reset":
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                client.get(url(real_sandbox, service, path))
        else:
            response = client.get(url(real_sandbox, service, path))
            if kind in ("throttle", "unavailable"):
                assert response.status_code == (429 if kind == "throttle" else 503)
                assert response.headers["Retry-After"] == "2"
            else:
                assert response.status_code not in (429, 500, 503)
        again = client.get(url(real_sandbox, service, path))  # times=1: back to normal
    assert again.status_code not in (429, 500, 503)
    first = real_sandbox.control.request_log()[0]
    assert fault.hits == 1 and first.service == service and first.path == path
    if kind in ("latency", "slow"):
        assert first.latency_ms >= 30
    assert not real_sandbox.service_errors

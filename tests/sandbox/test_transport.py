"""The sandbox transport: TLS with a per-run CA, request parsing, keep-alive, the request log."""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
from pathlib import Path

import httpx
import pytest

from cipp_setup.sandbox.runtime import Sandbox
from cipp_setup.sandbox.transport import SERVICE_NAMES

from .fakes import EchoService, client_for, fake_factories, fake_sandbox, small_state, url


def test_every_service_answers_over_tls_trusting_only_the_run_ca(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    with client_for(sandbox) as client:
        for name in SERVICE_NAMES:
            response = client.get(url(sandbox, name, "/hello"))
            assert response.status_code == 200
            assert response.json()["service"] == name
    ports = {getattr(sandbox.urls, name).rsplit(":", 1)[1] for name in SERVICE_NAMES}
    assert len(ports) == 6, "each service has its own port, so it owns the root path"
    assert all(getattr(sandbox.urls, n).startswith("https://127.0.0.1:") for n in SERVICE_NAMES)


def test_a_client_without_the_ca_is_refused_and_the_server_keeps_serving(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    with httpx.Client(verify=ssl.create_default_context(), trust_env=False, timeout=10) as untrusting:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            untrusting.get(url(sandbox, "graph", "/hello"))
    with client_for(sandbox) as client:
        assert client.get(url(sandbox, "graph", "/hello")).status_code == 200


def test_the_certificate_names_localhost_too(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    with client_for(sandbox) as client:
        localhost_url = sandbox.urls.arm.replace("127.0.0.1", "localhost") + "/x"
        assert client.get(localhost_url).status_code == 200


def test_connections_are_kept_alive_across_requests(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    port = int(sandbox.urls.graph.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=sandbox.ca_file)
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=10)
    try:
        sockets = []
        for i in range(3):
            connection.request("POST", f"/v1.0/items/{i}", body=f'{{"n": {i}}}'.encode(),
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            payload = json.loads(response.read())
            assert response.status == 200
            assert response.getheader("Content-Length") == str(len(json.dumps(payload, separators=(",", ":"))))
            assert not response.will_close
            assert payload["body"] == f'{{"n": {i}}}'
            sockets.append(connection.sock)
        assert sockets[0] is sockets[1] is sockets[2], "all three requests used one connection"
    finally:
        connection.close()


def test_request_parsing_decodes_path_and_query_and_keeps_headers(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    with client_for(sandbox) as client:
        response = client.get(
            url(sandbox, "cipp", "/api/List%20Logs/caf%C3%A9?tenantFilter=a%40b.com&x=1&x=2&empty="),
            headers={"X-Forwarded-For": "203.0.113.9, 10.0.0.1"},
        )
    payload = response.json()
    assert payload["path"] == "/api/List Logs/café"
    assert payload["raw_path"] == "/api/List%20Logs/caf%C3%A9?tenantFilter=a%40b.com&x=1&x=2&empty="
    assert payload["query"] == {"tenantFilter": "a@b.com", "x": "1", "empty": ""}
    assert payload["client_ip"] == "127.0.0.1"
    # X-Forwarded-For is data for the CIPP service to judge, not something the transport trusts.
    assert payload["x_forwarded_for"] == "203.0.113.9, 10.0.0.1"
    assert response.headers["X-Echo"] == "1"


def test_chunked_request_bodies_are_read(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)

    def chunks():
        yield b"grant_type=client_"
        yield b"credentials&scope=x"

    with client_for(sandbox) as client:
        response = client.post(url(sandbox, "idp", "/t/oauth2/v2.0/token"), content=chunks(),
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.json()["body"] == "grant_type=client_credentials&scope=x"
    assert response.json()["content_type"] == "application/x-www-form-urlencoded"


def test_head_answers_headers_without_a_body(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    with client_for(sandbox) as client:
        head = client.head(url(sandbox, "frontend", "/"))
        get = client.get(url(sandbox, "frontend", "/"))
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) > 0
    assert get.status_code == 200


def test_a_service_exception_is_a_500_in_the_service_shape_and_the_server_survives(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    with client_for(sandbox) as client:
        crash = client.get(url(sandbox, "graph", "/crash"))
        after = client.get(url(sandbox, "graph", "/fine"))
        arm_crash = client.get(url(sandbox, "arm", "/crash"))
    assert crash.status_code == 500
    error = crash.json()["error"]
    assert error["code"] == "generalException"
    assert "RuntimeError" in error["message"]
    assert set(error["innerError"]) >= {"date", "request-id", "client-request-id"}
    assert arm_crash.json()["error"]["code"] == "InternalServerError"
    assert after.status_code == 200
    assert any("the fake service fell over" in tb for tb in sandbox.service_errors)


def test_the_request_log_records_each_request_without_its_query(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    with client_for(sandbox) as client:
        client.get(url(sandbox, "graph", "/secure/me?client_secret=s3cr3t"),
                   headers={"Authorization": "Bearer good-token"})
        client.get(url(sandbox, "graph", "/secure/me"))
        client.post(url(sandbox, "arm", "/subscriptions?api-version=2022-12-01"), json={"password": "p"})
    log = sandbox.control.request_log()
    assert [(r.service, r.method, r.path, r.status, r.caller) for r in log] == [
        ("graph", "GET", "/secure/me", 200, "caller-oid-1"),
        ("graph", "GET", "/secure/me", 401, None),
        ("arm", "POST", "/subscriptions", 200, None),
    ]
    assert all(r.latency_ms >= 0 for r in log)
    assert all(abs(r.at - sandbox.state.clock.now()) < 60 for r in log)
    assert "s3cr3t" not in repr(log)
    assert sandbox.state.request_count == 3


def test_a_service_asking_for_a_reset_gets_one(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    with client_for(sandbox) as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            client.get(url(sandbox, "cipp", "/reset-me"))
    assert sandbox.control.request_log()[-1].status == 0


def test_a_base_port_puts_the_services_on_consecutive_ports(sandbox_factory):
    base = _free_port_range(6)
    sandbox = sandbox_factory(small_state(), service_factories=fake_factories(), port=base)
    assert [int(getattr(sandbox.urls, n).rsplit(":", 1)[1]) for n in SERVICE_NAMES] == list(range(base, base + 6))


def test_stop_closes_the_ports_and_removes_the_ca_file():
    sandbox = Sandbox(small_state(), service_factories=fake_factories()).start()
    ca_file, port = sandbox.ca_file, int(sandbox.urls.graph.rsplit(":", 1)[1])
    with client_for(sandbox) as client:  # leave a kept-alive connection open
        assert client.get(url(sandbox, "graph", "/x")).status_code == 200
        sandbox.stop()
    assert not os.path.exists(ca_file)
    assert not Path(ca_file).parent.exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    assert not sandbox.running


def test_a_sandbox_with_real_module_fallbacks_still_starts(sandbox_factory):
    # Fakes replace only the graph service; the others are the real ones or the 501 fallback.
    sandbox = sandbox_factory(small_state(), service_factories={"graph": lambda s, t, u: EchoService("graph")})
    assert set(sandbox.services) == set(SERVICE_NAMES)
    with client_for(sandbox) as client:
        assert client.get(url(sandbox, "graph", "/x")).json()["service"] == "graph"


def _free_port_range(count: int) -> int:
    """A base port with `count` free ports after it (best effort; retried a few times)."""
    for _ in range(20):
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        base = probe.getsockname()[1]
        probe.close()
        if base + count >= 65535:
            continue
        held = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                s.bind(("127.0.0.1", port))
                held.append(s)
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
        return base
    pytest.skip("no run of free ports found")

"""The control interface (in process and over HTTPS), the ready file, the clock, the network guard."""

from __future__ import annotations

import json
import os
import socket
import stat
import sys
import threading
import time

import httpx
import pytest

from cipp_setup.sandbox.control import KEY_HEADER, RemoteControl, SandboxControlError
from cipp_setup.sandbox.runtime import serve_forever
from cipp_setup.sandbox.state import CippInstance, Fault, Identities, User

from .fakes import client_for, fake_factories, fake_sandbox, small_state, url

# --- over HTTPS --------------------------------------------------------------------------


def _control_post(sandbox, action, body=None, key=None):
    headers = {} if key is None else {KEY_HEADER: key}
    with client_for(sandbox) as client:
        return client.post(f"{sandbox.urls.idp}/_sandbox/control/{action}", json=body or {}, headers=headers)


def test_control_over_https_needs_the_key(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    missing = _control_post(sandbox, "advance_clock", {"seconds": 60})
    wrong = _control_post(sandbox, "advance_clock", {"seconds": 60}, key="not-the-key")
    assert missing.status_code == wrong.status_code == 403
    assert missing.json()["error"]["code"] == "Forbidden"
    before = sandbox.state.clock.now()
    right = _control_post(sandbox, "advance_clock", {"seconds": 3600}, key=sandbox.control.key)
    assert right.status_code == 200
    assert right.json()["result"] >= before + 3600
    assert sandbox.state.clock.now() >= before + 3600


def test_control_over_https_rejects_unknown_actions_and_bad_arguments(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    key = sandbox.control.key
    assert _control_post(sandbox, "format_disk", key=key).status_code == 404
    assert _control_post(sandbox, "unknown", key="wrong").status_code == 403  # no probing without the key
    bad = _control_post(sandbox, "advance_clock", {"minutes": 5}, key=key)
    assert bad.status_code == 400 and "advance_clock" in bad.json()["error"]["message"]
    bad_fault = _control_post(sandbox, "add_fault", {"spec": "explode:graph"}, key=key)
    assert bad_fault.status_code == 400 and "unknown fault kind" in bad_fault.json()["error"]["message"]
    with client_for(sandbox) as client:
        get = client.get(f"{sandbox.urls.idp}/_sandbox/control/request_log", headers={KEY_HEADER: key})
    assert get.status_code == 405


def test_control_calls_are_not_counted_faulted_or_logged(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    sandbox.control.add_fault(Fault(kind="throttle", service="idp"))
    assert _control_post(sandbox, "request_log", key=sandbox.control.key).status_code == 200
    assert sandbox.state.request_count == 0
    assert sandbox.control.request_log() == []
    assert sandbox.services["idp"].handled == 0  # the identity platform never saw it


def test_remote_control_drives_every_action(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    with RemoteControl(sandbox.ready_document()) as remote:
        remote.set_device_code_auto_approve(False)
        assert sandbox.state.device_code_auto_approve is False
        assert remote.pending_device_codes() == ["ABCD-EFGH"]
        assert remote.approve_device_code(upn="admin@contoso.example") == "ABCD-EFGH"
        assert sandbox.services["idp"].approvals == [(None, "admin@contoso.example")]
        assert remote.pending_device_codes() == []
        with pytest.raises(SandboxControlError) as missing:
            remote.approve_device_code(user_code="WXYZ-0000")
        assert missing.value.status == 400 and "no pending device code" in missing.value.message

        fault = remote.add_fault("throttle:graph:GET:/users:times=1")
        assert fault.kind == "throttle" and fault.times == 1
        remote.add_fault(Fault(kind="unavailable", service="arm", retry_after=4))
        assert [f.kind for f in remote.faults()] == ["throttle", "unavailable"]
        with client_for(sandbox) as client:
            assert client.get(url(sandbox, "graph", "/users")).status_code == 429
            assert client.get(url(sandbox, "graph", "/users?secret=x")).status_code == 200
        assert remote.faults()[0].hits == 1
        remote.clear_faults()
        assert sandbox.state.faults == []

        log = remote.request_log()
        assert [(r.service, r.path, r.status) for r in log] == [("graph", "/users", 429), ("graph", "/users", 200)]
        remote.clear_request_log()
        assert remote.request_log() == []

        replication = remote.set_replication(graph_seconds=30, arm_principal_requests=2)
        assert replication.graph_seconds == 30.0 and replication.arm_principal_requests == 2
        assert sandbox.state.replication.arm_principal_requests == 2
        with pytest.raises(SandboxControlError, match="unknown replication setting"):
            remote.set_replication(dns_seconds=1)

        remote.set_latency_ms(5)
        assert sandbox.transport.latency_ms == 5
        now = remote.advance_clock(120)
        assert now == pytest.approx(sandbox.state.clock.now(), abs=5)


# --- in process -------------------------------------------------------------------------


def test_the_clock_moves_without_sleeping_and_the_log_uses_it(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    start = sandbox.state.clock.now()
    sandbox.control.advance_clock(86_400 * 365)
    with client_for(sandbox) as client:
        client.get(url(sandbox, "graph", "/x"))
    assert sandbox.control.request_log()[0].at >= start + 86_400 * 365
    with pytest.raises(ValueError, match="only moves forward"):
        sandbox.control.advance_clock(-1)


def test_in_process_cipp_actions_delegate_to_cipp_actions(sandbox_factory):
    sandbox = sandbox_factory("legacy-fresh")
    from cipp_setup.sandbox.cipp_actions import CippActionError

    # legacy-fresh lacks all three prerequisites: CIPP refuses, with its own message.
    with pytest.raises(CippActionError):
        sandbox.control.activate_legacy_api()
    with RemoteControl(sandbox.ready_document()) as remote:
        with pytest.raises(SandboxControlError) as refused:
            remote.activate_legacy_api()
    assert refused.value.status == 409 and refused.value.code == "CippActionError"


def test_add_fault_validates(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    with pytest.raises(ValueError, match="needs delay_ms"):
        sandbox.control.add_fault(Fault(kind="slow"))
    assert sandbox.state.faults == []


# --- ready file ---------------------------------------------------------------------------


def _state_with_people():
    state = small_state()
    admin = User(id="a0000000-0000-0000-0000-000000000001", user_principal_name="admin@contoso.example",
                 display_name="Admin")
    sam = User(id="a0000000-0000-0000-0000-000000000002", user_principal_name="cipp-sam@contoso.example",
               display_name="CIPP SAM")
    state.add_user(admin)
    state.add_user(sam)
    state.identities = Identities(admin_user_id=admin.id, sam_user_id=sam.id,
                                  sam_app_id="b0000000-0000-0000-0000-000000000001",
                                  subscription_id="c0000000-0000-0000-0000-000000000001")
    return state


def test_ready_file_content_and_mode(sandbox_factory, tmp_path):
    sandbox = sandbox_factory(_state_with_people(), service_factories=fake_factories())
    path = sandbox.write_ready_file(tmp_path / "run" / "ready.json")
    document = json.loads(path.read_text())
    assert document["cloud"] == {
        "name": "sandbox",
        "authority_host": sandbox.urls.idp,
        "graph_url": sandbox.urls.graph,
        "arm_url": sandbox.urls.arm,
        "graph_resource": "https://graph.microsoft.com",
        "arm_resource": "https://management.azure.com/",
        "ca_file": sandbox.ca_file,
    }
    assert document["identities"] == {
        "tenant_id": "11111111-2222-3333-4444-555555555555",
        "admin_upn": "admin@contoso.example",
        "sam_user_upn": "cipp-sam@contoso.example",
        "sam_app_id": "b0000000-0000-0000-0000-000000000001",
        "subscription_id": "c0000000-0000-0000-0000-000000000001",
    }  # no CIPP instance in this state: no api_url, no API client
    assert document["control"] == {"url": f"{sandbox.urls.idp}/_sandbox/control", "key": sandbox.control.key}
    assert len(sandbox.control.key) >= 32
    if sys.platform != "win32":
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["ready.json"]  # no temporary left behind


@pytest.mark.parametrize(("target", "service"), [
    ("function_app", "cipp"), ("front_end", "frontend"), ("processor_app", "processor")])
def test_the_api_url_is_the_host_the_scenario_gave_the_admin(sandbox_factory, target, service):
    state = _state_with_people()
    state.cipp = CippInstance(generation="current", version="8.0.0", function_app="cippabcde",
                              processor_app="cippabcde-proc")
    state.identities.api_url_target = target
    sandbox = sandbox_factory(state, service_factories=fake_factories())
    identities = sandbox.ready_document()["identities"]
    assert identities["api_url"] == getattr(sandbox.urls, service)
    assert identities["frontend_url"] == sandbox.urls.frontend
    assert identities["processor_url"] == sandbox.urls.processor


def test_ready_document_of_a_real_scenario_names_the_cipp_urls(sandbox):
    identities = sandbox.ready_document()["identities"]
    assert identities["api_url"] == sandbox.urls.cipp
    assert identities["frontend_url"] == sandbox.urls.frontend
    assert {"tenant_id", "admin_upn", "sam_user_upn", "api_client_id", "api_client_secret"} <= set(identities)
    assert identities["admin_upn"] != identities["sam_user_upn"]


def test_serve_forever_writes_the_ready_file_and_removes_it_on_stop(tmp_path, monkeypatch):
    from cipp_setup.sandbox import runtime

    class FakeServicesSandbox(runtime.Sandbox):  # the real runtime, with fake services
        def __init__(self, state, **kwargs):
            super().__init__(state, service_factories=fake_factories(), **kwargs)

    monkeypatch.setattr(runtime, "Sandbox", FakeServicesSandbox)
    ready = tmp_path / "ready.json"
    stop = threading.Event()
    seen = []
    server = threading.Thread(target=serve_forever, args=(small_state(),), kwargs={
        "ready_file": ready, "stop_event": stop, "on_ready": seen.append,
        "faults": [Fault(kind="throttle", service="graph", times=1)]})
    server.start()
    try:
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        document = json.loads(ready.read_text())
        with RemoteControl(document) as remote:
            assert [f.kind for f in remote.faults()] == ["throttle"]
        assert seen[0].running
    finally:
        stop.set()
        server.join(timeout=10)
    assert not ready.exists()
    assert not seen[0].running


# --- the network guard ----------------------------------------------------------------------


# conftest.RealNetworkAccessError, a RuntimeError (not an OSError, so retry loops don't hide it).
RealNetworkAccessError = RuntimeError


def test_the_network_guard_blocks_non_loopback_connections():
    with pytest.raises(RealNetworkAccessError, match="tests must never contact a real Microsoft host") as caught:
        socket.create_connection(("192.0.2.10", 443), timeout=1)
    assert type(caught.value).__name__ == "RealNetworkAccessError"
    with pytest.raises(RealNetworkAccessError):
        socket.getaddrinfo("login.microsoftonline.com", 443)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(RealNetworkAccessError):
            sock.connect(("8.8.8.8", 53))
    finally:
        sock.close()
    with pytest.raises(RealNetworkAccessError):
        httpx.get("https://graph.microsoft.com/v1.0/me", timeout=1)


def test_the_network_guard_lets_loopback_through(sandbox_factory):
    sandbox = fake_sandbox(sandbox_factory)
    port = int(sandbox.urls.graph.rsplit(":", 1)[1])
    for host in ("127.0.0.1", "localhost"):
        socket.create_connection((host, port), timeout=2).close()


# --- with the real identity platform ----------------------------------------------------------


def test_a_person_approves_a_device_code_through_the_remote_control(sandbox):
    from cipp_setup import wellknown

    sandbox.control.set_device_code_auto_approve(False)
    tenant = sandbox.state.tenant_id
    base = f"{sandbox.urls.idp}/{tenant}/oauth2/v2.0"
    grant = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
             "client_id": wellknown.TOOL_PUBLIC_CLIENT_ID}
    with client_for(sandbox) as client, RemoteControl(sandbox.ready_document()) as remote:
        started = client.post(f"{base}/devicecode", data={
            "client_id": wellknown.TOOL_PUBLIC_CLIENT_ID,
            "scope": "openid profile offline_access"})
        assert started.status_code == 200
        code = started.json()
        pending = client.post(f"{base}/token", data={**grant, "device_code": code["device_code"]})
        assert pending.json()["error"] == "authorization_pending"

        assert remote.pending_device_codes() == [code["user_code"]]
        assert remote.approve_device_code(user_code=code["user_code"]) == code["user_code"]
        token = client.post(f"{base}/token", data={**grant, "device_code": code["device_code"]})
    assert token.status_code == 200, token.text
    assert token.json()["token_type"] == "Bearer"
    # Token requests carry secrets in their bodies, never in the log.
    assert all("?" not in r.path for r in sandbox.control.request_log())

"""Proxies, custom CAs, unreachable hosts and sovereign clouds, end to end through `check`.

A real forward proxy runs on loopback in a thread (`ConnectProxy`): it answers
`CONNECT host:port` by tunnelling to that address (loopback only: the network guard
would refuse anything else) or, in "refuse" mode, with 403, and records every target.
Every service the tool calls (identity platform, Graph, ARM, the CIPP API) must go
through it when HTTPS_PROXY says so, and around it when NO_PROXY says so.

Runs against a sandbox started here and described by a cloud file (`--cloud FILE`), so the
test knows every service's port; the identities are passed as flags.
"""

from __future__ import annotations

import json
import os
import select
import socket
import socketserver
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from cipp_setup.cli.main import main
from cipp_setup.sandbox.runtime import Sandbox
from scenario_verdicts import documented_statuses

SERVICES = ("idp", "graph", "arm", "cipp")
# legacy-ready's verdicts with nothing in the way (its file documents them): what every
# proxy, CA and cloud variant below must get too.
READY = documented_statuses("legacy-ready")
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
                   "NO_PROXY", "no_proxy")
TUNNEL_IDLE_S = 10.0  # a tunnel with no traffic for this long is closed (bounds the threads)


# --- a small CONNECT proxy ----------------------------------------------------------------


class ConnectProxy:
    """A forward proxy on 127.0.0.1 that records CONNECT targets; "tunnel" or "refuse"."""

    def __init__(self, mode: str = "tunnel") -> None:
        self.mode = mode
        self.targets: list[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = TUNNEL_IDLE_S

            def handle(self) -> None:
                request_line = self.rfile.readline(8192).decode("latin-1").strip()
                while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass  # headers (Host, Proxy-Authorization, ...)
                method, _, rest = request_line.partition(" ")
                target = rest.split(" ", 1)[0]
                with proxy._lock:
                    proxy.targets.append(target)
                if method.upper() != "CONNECT":
                    self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                    return
                if proxy.mode == "refuse":
                    self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                host, _, port = target.rpartition(":")
                try:
                    upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=TUNNEL_IDLE_S)
                except OSError:
                    self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                    return
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
                _pipe(self.connection, upstream)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            block_on_close = False

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def seen(self) -> set[str]:
        with self._lock:
            return set(self.targets)


def _pipe(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes or nothing moves for TUNNEL_IDLE_S."""
    sockets = [client, upstream]
    try:
        while True:
            readable, _, _ = select.select(sockets, [], [], TUNNEL_IDLE_S)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)
    except OSError:
        return
    finally:
        upstream.close()


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- running check against a sandbox described by a cloud file ---------------------------


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*PROXY_VARIABLES, "CIPP_API_CLIENT_SECRET", "CI", "GITHUB_ACTIONS", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def legacy_ready(sandbox_factory: Any) -> Sandbox:
    return sandbox_factory("legacy-ready")


def _netloc(url: str) -> str:
    return urlsplit(url).netloc


def _write_cloud(sandbox: Sandbox, path: Path, *, with_ca: bool = True, **overrides: str) -> Path:
    document = dict(sandbox.cloud_document())
    if not with_ca:
        document.pop("ca_file")
    document.update(overrides)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _run_check(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    sandbox: Sandbox,
    cloud_file: Path,
    *extra: str,
) -> tuple[int, dict[str, Any], str]:
    """`check --cloud FILE --json` with the scenario's identities as flags."""
    ids = sandbox.identities_document()
    monkeypatch.setenv("CIPP_API_CLIENT_SECRET", ids["api_client_secret"])
    argv = [
        "check", "--cloud", str(cloud_file), "--auth", "device-code", "--json",
        "--tenant", ids["tenant_id"], "--sam-user", ids["sam_user_upn"], "--sam-app", ids["sam_app_id"],
        "--subscription", ids["subscription_id"], "--api-url", ids["api_url"],
        "--api-client-id", ids["api_client_id"], "--generation", "legacy", *extra,
    ]
    code = main(argv)
    captured = capsys.readouterr()
    return code, (json.loads(captured.out) if captured.out.strip() else {}), captured.err


def _results(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in report.get("checks", [])}


def _statuses(report: dict[str, Any]) -> dict[str, str]:
    return {check_id: r["status"] for check_id, r in _results(report).items()}


def _error_message(err: str) -> str:
    return next((line for line in err.splitlines() if line.startswith("cipp-setup: error")), err)


# --- proxies ------------------------------------------------------------------------------


def test_every_service_goes_through_the_https_proxy(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, legacy_ready: Sandbox, tmp_path: Path
) -> None:
    cloud_file = _write_cloud(legacy_ready, tmp_path / "cloud.json")
    with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        code, report, err = _run_check(capsys, monkeypatch, legacy_ready, cloud_file)
    assert code == 0, err
    assert _statuses(report) == READY
    urls = legacy_ready.urls
    expected = {_netloc(getattr(urls, name)) for name in SERVICES}
    assert proxy.seen() == expected  # the identity platform, Graph, ARM and the CIPP API; nothing else
    # ... and the sandbox saw every service called (the tunnels really carried the traffic).
    with legacy_ready.state.lock:
        services = {record.service for record in legacy_ready.state.request_log}
    assert set(SERVICES) <= services


def test_lower_case_https_proxy_is_honoured_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, legacy_ready: Sandbox, tmp_path: Path
) -> None:
    cloud_file = _write_cloud(legacy_ready, tmp_path / "cloud.json")
    with ConnectProxy() as proxy:
        monkeypatch.setenv("https_proxy", proxy.url)
        code, _, err = _run_check(capsys, monkeypatch, legacy_ready, cloud_file, "--only", "api-token")
    assert code == 0, err
    assert _netloc(legacy_ready.urls.idp) in proxy.seen()


def test_no_proxy_sends_loopback_around_the_proxy(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, legacy_ready: Sandbox, tmp_path: Path
) -> None:
    # The proxy variable points at a port nobody listens on: the run can only pass if
    # NO_PROXY really sends every request directly.
    cloud_file = _write_cloud(legacy_ready, tmp_path / "cloud.json")
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.0/8")
    code, report, err = _run_check(capsys, monkeypatch, legacy_ready, cloud_file)
    assert code == 0, err
    assert _statuses(report) == READY


def test_a_refusing_proxy_fails_each_service_naming_host_and_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, legacy_ready: Sandbox, tmp_path: Path
) -> None:
    # Sign-in goes around the proxy (NO_PROXY names the identity platform's port); Graph,
    # ARM and the CIPP API meet a proxy that answers 403 to CONNECT.
    cloud_file = _write_cloud(legacy_ready, tmp_path / "cloud.json")
    urls = legacy_ready.urls
    with ConnectProxy(mode="refuse") as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", _netloc(urls.idp))
        code, report, err = _run_check(capsys, monkeypatch, legacy_ready, cloud_file)
    assert code == 1, err
    results = _results(report)
    errors = {check_id: r for check_id, r in results.items() if r["status"] == "error"}
    assert {"sam-user-global-admin", "sam-user-subscription-contributor", "api-list-logs"} <= set(errors)
    hosts = {
        "sam-user-global-admin": _netloc(urls.graph),
        "sam-user-subscription-contributor": _netloc(urls.arm),
        "api-list-logs": _netloc(urls.cipp),
    }
    for check_id, host in hosts.items():
        result = errors[check_id]
        assert result["cause"] == "network"
        assert host in result["summary"], result["summary"]
        assert "HTTPS_PROXY" in result["summary"] and proxy.url in result["summary"]
    assert results["api-token"]["status"] == "pass"  # the token came from the identity platform directly


def test_a_refusing_proxy_at_sign_in_exits_4_naming_the_identity_platform(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, legacy_ready: Sandbox, tmp_path: Path
) -> None:
    cloud_file = _write_cloud(legacy_ready, tmp_path / "cloud.json")
    with ConnectProxy(mode="refuse") as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        code, report, err = _run_check(capsys, monkeypatch, legacy_ready, cloud_file)
    assert code == 4
    message = _error_message(err)
    assert _netloc(legacy_ready.urls.idp) in message and "HTTPS_PROXY" in message
    assert report["error"]["code"] == "sign-in-failed"


def test_proxy_credentials_never_appear_in_messages(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, legacy_ready: Sandbox, tmp_path: Path
) -> None:
    cloud_file = _write_cloud(legacy_ready, tmp_path / "cloud.json")
    with ConnectProxy(mode="refuse") as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url.replace("http://", "http://alice:hunter2-canary@"))
        code, report, err = _run_check(capsys, monkeypatch, legacy_ready, cloud_file)
    assert code == 4
    assert proxy.url in err
    assert "hunter2-canary" not in err and "hunter2-canary" not in json.dumps(report)


def test_a_malformed_proxy_variable_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "socks5://127.0.0.1:1080")
    code = main(["check", "--sandbox", "legacy-ready"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and "HTTPS_PROXY" in err and "http://" in err


# --- trust ----------------------------------------------------------------------------------


def test_ca_bundle_adds_the_inspecting_ca(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, legacy_ready: Sandbox, tmp_path: Path
) -> None:
    # The cloud file names no CA: the sandbox's CA plays a TLS-inspecting proxy's, given
    # only through --ca-bundle, on top of the default roots.
    cloud_file = _write_cloud(legacy_ready, tmp_path / "cloud.json", with_ca=False)
    with ConnectProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        code, report, err = _run_check(capsys, monkeypatch, legacy_ready, cloud_file,
                                       "--ca-bundle", legacy_ready.ca_file)
    assert code == 0, err
    assert _statuses(report) == READY
    assert len(proxy.seen()) == len(SERVICES)


def test_without_the_ca_bundle_sign_in_names_the_host_and_suggests_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, legacy_ready: Sandbox, tmp_path: Path
) -> None:
    cloud_file = _write_cloud(legacy_ready, tmp_path / "cloud.json", with_ca=False)
    code, report, err = _run_check(capsys, monkeypatch, legacy_ready, cloud_file)
    assert code == 4
    message = _error_message(err)
    assert _netloc(legacy_ready.urls.idp) in message
    assert "CERTIFICATE_VERIFY_FAILED" in message and "--ca-bundle" in message
    assert report["error"]["code"] == "sign-in-failed"


def test_untrusted_api_host_is_a_tls_error_suggesting_ca_bundle(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sandbox_factory: Any,
    legacy_ready: Sandbox, tmp_path: Path,
) -> None:
    # The API URL points at a second sandbox, whose CA nobody trusts: the identity
    # platform, Graph and ARM pass, ListLogs cannot verify the API host.
    other = sandbox_factory("legacy-ready")
    cloud_file = _write_cloud(legacy_ready, tmp_path / "cloud.json")
    code, report, err = _run_check(capsys, monkeypatch, legacy_ready, cloud_file,
                                   "--api-url", other.urls.cipp, "--only", "api-list-logs")
    assert code == 1, err
    result = _results(report)["api-list-logs"]
    assert (result["status"], result["cause"]) == ("error", "tls")
    assert _netloc(other.urls.cipp) in result["summary"] and "--ca-bundle" in result["summary"]


def test_environment_ca_variables_do_not_replace_the_sandbox_trust(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import certifi

    system_bundle = "/etc/ssl/certs/ca-certificates.crt"
    bundle = system_bundle if os.path.isfile(system_bundle) else certifi.where()
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        monkeypatch.setenv(name, bundle)
    code = main(["check", "--sandbox", "legacy-ready", "--ca-bundle", bundle, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert {r["id"]: r["status"] for r in json.loads(captured.out)["checks"]} == READY


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "cannot read"), ("not a certificate\n", "PEM"),
     ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "no usable CA certificate")],
)
def test_a_bad_ca_bundle_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_text(content, encoding="ascii")
    code = main(["check", "--sandbox", "legacy-ready", "--ca-bundle", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and "--ca-bundle" in err and expected in err


# --- unreachable hosts --------------------------------------------------------------------


def test_closed_ports_are_network_errors_naming_each_host(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, legacy_ready: Sandbox, tmp_path: Path
) -> None:
    graph_port, arm_port, api_port = _closed_port(), _closed_port(), _closed_port()
    cloud_file = _write_cloud(legacy_ready, tmp_path / "cloud.json",
                              graph_url=f"https://127.0.0.1:{graph_port}", arm_url=f"https://127.0.0.1:{arm_port}")
    code, report, err = _run_check(capsys, monkeypatch, legacy_ready, cloud_file,
                                   "--api-url", f"https://127.0.0.1:{api_port}")
    assert code == 1, err
    results = _results(report)
    for check_id, port in (("sam-user-global-admin", graph_port),
                           ("sam-user-subscription-contributor", arm_port), ("api-list-logs", api_port)):
        result = results[check_id]
        assert (result["status"], result["cause"]) == ("error", "network"), result
        assert f"127.0.0.1:{port}" in result["summary"] and "refused" in result["summary"]


def test_unreachable_identity_platform_exits_4_naming_it(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, legacy_ready: Sandbox, tmp_path: Path
) -> None:
    port = _closed_port()
    cloud_file = _write_cloud(legacy_ready, tmp_path / "cloud.json", authority_host=f"https://127.0.0.1:{port}")
    code, _, err = _run_check(capsys, monkeypatch, legacy_ready, cloud_file)
    assert code == 4
    message = _error_message(err)
    assert f"127.0.0.1:{port}" in message and "refused" in message


# --- sovereign clouds ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cloud", "authority"),
    [("usgov", "login.microsoftonline.us:443"), ("china", "login.chinacloudapi.cn:443")],
)
def test_named_sovereign_cloud_signs_in_at_its_own_host(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, cloud: str, authority: str
) -> None:
    # Through a proxy that refuses every CONNECT, nothing leaves the machine, and the
    # proxy records where the tool tried to go: that cloud's sign-in host, nowhere else.
    with ConnectProxy(mode="refuse") as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        code = main(["check", "--cloud", cloud, "--tenant", "contoso.example", "--auth", "device-code"])
    err = capsys.readouterr().err
    assert code == 4
    assert proxy.seen() == {authority}
    assert authority.split(":")[0] in _error_message(err)


def test_sandbox_posing_as_usgov_gets_usgov_token_audiences(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cipp_setup.sandbox.tokens import TokenAuthority

    audiences: list[str] = []
    issue = TokenAuthority.issue

    def recording_issue(self: TokenAuthority, claims: dict[str, Any]) -> str:
        audiences.append(str(claims.get("aud")))
        return issue(self, claims)

    monkeypatch.setattr(TokenAuthority, "issue", recording_issue)
    code = main(["check", "--sandbox", "legacy-ready", "--sandbox-cloud", "usgov", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert {r["id"]: r["status"] for r in json.loads(captured.out)["checks"]} == READY
    assert "https://graph.microsoft.us" in audiences
    assert "https://management.usgovcloudapi.net" in {a.rstrip("/") for a in audiences}
    assert not any("graph.microsoft.com" in a or "management.azure.com" in a for a in audiences)


def test_sandbox_posing_as_usgov_refuses_public_cloud_resources(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, sandbox_factory: Any, tmp_path: Path
) -> None:
    # A product that asked for graph.microsoft.com in US Government would be refused there.
    sandbox = sandbox_factory("legacy-ready", pose_as="usgov")
    assert sandbox.cloud_document()["graph_resource"] == "https://graph.microsoft.us"
    assert sandbox.cloud_document()["arm_resource"] == "https://management.usgovcloudapi.net/"
    cloud_file = _write_cloud(sandbox, tmp_path / "cloud.json", graph_resource="https://graph.microsoft.com",
                              arm_resource="https://management.azure.com/")
    code, _, err = _run_check(capsys, monkeypatch, sandbox, cloud_file)
    assert code == 4
    assert "AADSTS500011" in err  # the resource principal was not found in the tenant


def test_sandbox_posing_as_china_via_serve_ready_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`sandbox serve --pose-as china` writes China's resource URIs into the ready file,
    and a run with that ready file as --cloud passes."""
    from cipp_setup.sandbox import runtime
    from cipp_setup.sandbox.scenario import load_scenario

    ready = tmp_path / "ready.json"
    stop = threading.Event()
    started = threading.Event()
    serving: list[Sandbox] = []

    def on_ready(sandbox: Sandbox) -> None:
        serving.append(sandbox)
        started.set()

    thread = threading.Thread(target=runtime.serve_forever, args=(load_scenario("legacy-ready"),),
                              kwargs={"ready_file": ready, "on_ready": on_ready, "stop_event": stop,
                                      "pose_as": "china"}, daemon=True)
    thread.start()
    try:
        assert started.wait(30)
        cloud = json.loads(ready.read_text())["cloud"]
        assert cloud["graph_resource"] == "https://microsoftgraph.chinacloudapi.cn"
        assert cloud["arm_resource"] == "https://management.chinacloudapi.cn/"
        code, report, err = _run_check(capsys, monkeypatch, serving[0], ready)
        assert code == 0, err
        assert _statuses(report) == READY
    finally:
        stop.set()
        thread.join(timeout=10)


def test_sandbox_cloud_needs_a_sandbox(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check", "--cloud", "usgov", "--sandbox-cloud", "usgov", "--tenant", "contoso.example"])
    err = capsys.readouterr().err
    assert code == 2 and "--sandbox-cloud" in err


def test_serve_accepts_pose_as(capsys: pytest.CaptureFixture[str]) -> None:
    from cipp_setup.cli.main import build_parser

    args = build_parser().parse_args(["sandbox", "serve", "--scenario", "legacy-ready", "--pose-as", "usgov"])
    assert args.pose_as == "usgov"
    assert main(["sandbox", "serve", "--scenario", "legacy-ready", "--pose-as", "mars"]) == 2
    assert "--pose-as" in capsys.readouterr().err


# --- the transport decisions, unit by unit ------------------------------------------------


@pytest.mark.parametrize(
    ("url", "no_proxy", "bypass"),
    [
        ("https://graph.microsoft.us/v1.0", "", False),
        ("https://graph.microsoft.us/v1.0", "*", True),
        ("https://graph.microsoft.us/v1.0", "microsoft.us", True),  # a name matches its subdomains
        ("https://graph.microsoft.us/v1.0", ".microsoft.us", True),
        ("https://graph.microsoft.us/v1.0", "*.microsoft.us", True),
        ("https://notmicrosoft.us/", "microsoft.us", False),  # ... but not other names ending alike
        ("https://127.0.0.1:8443/", "127.0.0.0/8", True),  # CIDR
        ("https://127.0.0.1:8443/", "127.0.0.1:8443", True),  # host:port
        ("https://127.0.0.1:9443/", "127.0.0.1:8443", False),
        ("https://127.0.0.1:8443/", "localhost", False),  # no implicit loopback bypass
        ("https://[::1]:8443/", "::1", True),
        ("https://LOGIN.microsoftonline.us/x", "login.microsoftonline.us", True),
    ],
)
def test_no_proxy_semantics(url: str, no_proxy: str, bypass: bool) -> None:
    from cipp_setup.gateways.transport import ProxySettings

    settings = ProxySettings.from_environ({"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": no_proxy})
    assert (settings.proxy_for(url) is None) is bypass


def test_proxy_variables_precedence() -> None:
    from cipp_setup.gateways.transport import ProxySettings

    env = {"HTTPS_PROXY": "http://upper:1", "https_proxy": "http://lower:2", "HTTP_PROXY": "http://plain:3"}
    settings = ProxySettings.from_environ(env)
    assert settings.proxy_for("https://graph.microsoft.com/") == "http://lower:2"  # lower case wins
    assert settings.variable_for("https://graph.microsoft.com/") == "https_proxy"
    assert settings.proxy_for("http://example.com/") == "http://plain:3"  # HTTP_PROXY: http:// only
    only_all = ProxySettings.from_environ({"ALL_PROXY": "proxy.example:8080"})
    assert only_all.proxy_for("https://graph.microsoft.com/") == "http://proxy.example:8080"  # curl's default scheme
    assert ProxySettings.from_environ({}).proxy_for("https://graph.microsoft.com/") is None


def test_connection_failures_are_classified_by_type() -> None:
    import ssl as ssl_module

    import httpx

    from cipp_setup.gateways.transport import (
        classify_connection_failure,
        describe_connection_failure,
    )

    def wrapped(inner: BaseException) -> httpx.ConnectError:
        outer = httpx.ConnectError("boom", request=httpx.Request("GET", "https://graph.microsoft.us/v1.0/me"))
        outer.__cause__ = inner
        return outer

    dns = wrapped(socket.gaierror(-2, "Name or service not known"))
    assert classify_connection_failure(dns).kind == "dns"
    message = describe_connection_failure(dns, "Microsoft Graph")
    assert "graph.microsoft.us" in message and "DNS" in message and "HTTPS_PROXY" in message
    tls = wrapped(ssl_module.SSLCertVerificationError(1, "certificate verify failed"))
    assert classify_connection_failure(tls).kind == "tls"
    assert "--ca-bundle" in describe_connection_failure(tls, "Microsoft Graph")
    assert classify_connection_failure(wrapped(ConnectionRefusedError(111, "refused"))).kind == "refused"
    timeout = httpx.ConnectTimeout("timed out", request=httpx.Request("GET", "https://management.usgovcloudapi.net/"))
    assert "management.usgovcloudapi.net" in describe_connection_failure(timeout, "Azure Resource Manager")
    assert "timed out" in describe_connection_failure(timeout, "Azure Resource Manager")


def test_the_trust_file_adds_to_the_default_roots(tmp_path: Path) -> None:
    import certifi

    from cipp_setup.cloud import CLOUDS
    from cipp_setup.gateways.transport import ca_bundle_path, requests_session, ssl_context

    public = CLOUDS["public"]
    assert ca_bundle_path(public) == certifi.where()  # nothing to add: certifi's file itself
    import trustme

    ca = trustme.CA()
    pem = tmp_path / "proxy-ca.pem"
    ca.cert_pem.write_to_path(str(pem))
    cloud = public.with_ca_bundle(str(pem))
    bundle = Path(ca_bundle_path(cloud)).read_text()
    assert Path(certifi.where()).read_text().strip() in bundle and pem.read_text().strip() in bundle
    assert ca_bundle_path(cloud) == ca_bundle_path(cloud)  # written once per process
    assert ssl_context(cloud).verify_mode.name == "CERT_REQUIRED"
    session = requests_session(cloud)
    assert session.trust_env is False and session.verify == ca_bundle_path(cloud)


def test_usgov_and_china_tables_match_microsoft_docs() -> None:
    from cipp_setup.cloud import CLOUDS
    from cipp_setup.gateways.auth import graph_scopes

    usgov, china, dod = CLOUDS["usgov"], CLOUDS["china"], CLOUDS["usgov-dod"]
    assert (usgov.authority_host, usgov.graph_url, usgov.arm_url) == (
        "https://login.microsoftonline.us", "https://graph.microsoft.us", "https://management.usgovcloudapi.net")
    assert (china.authority_host, china.graph_url, china.arm_url) == (
        "https://login.chinacloudapi.cn", "https://microsoftgraph.chinacloudapi.cn", "https://management.chinacloudapi.cn")
    assert dod.graph_url == "https://dod-graph.microsoft.us" and dod.authority_host == usgov.authority_host
    assert usgov.arm_scope == "https://management.usgovcloudapi.net/.default"
    assert all(s.startswith("https://graph.microsoft.us/") for s in graph_scopes(usgov, "device-code"))
    assert graph_scopes(china, "client-secret") == ["https://microsoftgraph.chinacloudapi.cn/.default"]

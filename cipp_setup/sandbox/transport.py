"""The sandbox's wire: TLS on loopback, one HTTP server per emulated service.

Each service gets its own port on 127.0.0.1 so it owns the root path, as its real host
does (MSAL reads the tenant from the authority's first path segment, so the identity
platform cannot live under a prefix). TLS is not optional — msal and azure-identity
refuse plain http — so every run makes its own CA with trustme; clients trust it
through `ca_file`, never through process-wide environment variables.

For every request the handler:
1. parses it into an `http.Request` (percent-decoded path, first value of each query
   parameter, case-insensitive headers, body by Content-Length or chunked);
2. sends ``/_sandbox/...`` on the identity platform's port to the control handler
   (not counted, not faulted, not logged: reading the log must not change it);
3. under ``state.lock``: counts the request and decides its faults (`faults.py`);
4. outside the lock: waits for latency, answers throttle/unavailable/reset faults;
5. under ``state.lock``: calls ``service.handle`` (an exception becomes a 500 in the
   service's error shape; the server keeps running);
6. outside the lock: waits for a slow fault, writes the answer (always with
   Content-Length; HTTP/1.1 keep-alive so SDK connection pools reuse connections);
7. appends a `RequestRecord` with the path *without* its query string, so secrets
   passed in a query never reach the log.
"""

from __future__ import annotations

import shutil
import socket
import socketserver
import ssl
import struct
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

import trustme

from cipp_setup.sandbox import faults as fault_rules
from cipp_setup.sandbox.http import Headers, Request, Response, SandboxUrls, Service
from cipp_setup.sandbox.state import RequestRecord, TenantState

SERVICE_NAMES = fault_rules.SERVICE_NAMES
CONTROL_PREFIX = "/_sandbox/"
LOOPBACK = "127.0.0.1"
# Status recorded for a request whose connection was reset: it never got an answer.
STATUS_RESET = 0
_IDLE_TIMEOUT_S = 120.0  # an idle keep-alive connection is closed after this long
_HANDSHAKE_TIMEOUT_S = 10.0

ControlHandler = Callable[[Request], Response]


class TlsMaterial:
    """A CA made for this run and a server certificate for 127.0.0.1 and localhost."""

    def __init__(self) -> None:
        self.ca = trustme.CA(organization_name="cipp-setup sandbox")
        self._cert = self.ca.issue_cert("127.0.0.1", "localhost", "::1")
        self._dir = Path(tempfile.mkdtemp(prefix="cipp-sandbox-ca-"))
        self.ca_file = str(self._dir / "sandbox-ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_file)
        self.server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(self.server_context)

    def client_context(self) -> ssl.SSLContext:
        """An SSL context for a client that trusts this run's CA (and nothing else)."""
        return ssl.create_default_context(cafile=self.ca_file)

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


class ServiceServer(ThreadingHTTPServer):
    """One service's HTTPS server. The TLS handshake happens in the connection's thread."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, transport: Transport, service_name: str, port: int) -> None:
        self.transport = transport
        self.service_name = service_name
        self.service: Service | None = None
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((LOOPBACK, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS look-up that can
        # hang on a machine without a resolver; the name is never used here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = LOOPBACK, self.server_address[1]

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def finish_request(self, request: Any, client_address: Any) -> None:
        raw: socket.socket = request
        try:
            raw.settimeout(_HANDSHAKE_TIMEOUT_S)
            conn = self.transport.tls.server_context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            # A client that does not trust the CA aborts the handshake: nothing to serve.
            raw.close()
            return
        with self._connections_lock:
            self._connections.add(conn)
        try:
            _Handler(conn, client_address, self)
        except (OSError, ssl.SSLError):
            pass  # the client went away mid-request
        finally:
            with self._connections_lock:
                self._connections.discard(conn)
            conn.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # quiet: socketserver would print a traceback to stderr

    def close_connections(self) -> None:
        """Close keep-alive connections still open, so their threads end."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Transport:
    """The six servers, the TLS material, and the request pipeline they share."""

    def __init__(self, state: TenantState, *, latency_ms: int = 0, port: int = 0) -> None:
        self.state = state
        self.latency_ms = latency_ms
        self.base_port = port
        self.tls = TlsMaterial()
        self.servers: dict[str, ServiceServer] = {}
        self.control_handler: ControlHandler | None = None
        # Tracebacks of service exceptions (the 500s), for whoever debugs a test.
        self.service_errors: list[str] = []
        self.urls: SandboxUrls | None = None
        self._threads: list[threading.Thread] = []

    @property
    def ca_file(self) -> str:
        return self.tls.ca_file

    def bind(self) -> SandboxUrls:
        """Open the six listening sockets (ports known from here on) and return their URLs."""
        try:
            for offset, name in enumerate(SERVICE_NAMES):
                port = self.base_port + offset if self.base_port else 0
                self.servers[name] = ServiceServer(self, name, port)
        except OSError:
            self._close_servers()
            raise
        ports = {name: server.port for name, server in self.servers.items()}
        self.urls = SandboxUrls(**{name: f"https://{LOOPBACK}:{port}" for name, port in ports.items()})
        return self.urls

    def attach(self, services: Mapping[str, Service]) -> None:
        for name, service in services.items():
            self.servers[name].service = service

    def start(self) -> None:
        for name, server in self.servers.items():
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05},
                name=f"sandbox-{name}", daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        if self._threads:
            # shutdown() waits up to a poll interval for its loop; wait for all six at once.
            stoppers = [threading.Thread(target=server.shutdown) for server in self.servers.values()]
            for stopper in stoppers:
                stopper.start()
            for stopper in stoppers:
                stopper.join()
        for server in self.servers.values():
            server.close_connections()
        self._close_servers()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()
        self.tls.close()

    def _close_servers(self) -> None:
        for server in self.servers.values():
            server.server_close()

    # --- the request pipeline -----------------------------------------------------------

    def record(self, service: str, request: Request, status: int, started: float, at: float) -> None:
        record = RequestRecord(
            service=service,
            method=request.method,
            path=request.path,
            status=status,
            latency_ms=round((time.perf_counter() - started) * 1000.0, 3),
            caller=request.caller,
            at=at,
        )
        with self.state.lock:
            self.state.request_log.append(record)

    def call_service(self, service_name: str, service: Service | None, request: Request) -> Response:
        """Run the service with the state lock held; a crash becomes its own 500."""
        state = self.state
        with state.lock:
            try:
                if service is None:
                    raise RuntimeError(f"no service attached to the {service_name} server")
                return service.handle(request)
            except Exception as exc:  # noqa: BLE001 - one bad handler must not kill the server
                self.service_errors.append(traceback.format_exc())
                return fault_rules.error_response(
                    service_name, 500, state.clock.now(),
                    detail=f"The sandbox {service_name} service failed: {type(exc).__name__}: {exc}",
                    authority_host=self.urls.idp if self.urls else "",
                )


class _BadRequest(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: SDK connection pools reuse connections
    server_version = "sandbox"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    timeout = _IDLE_TIMEOUT_S
    server: ServiceServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: no access log on stderr

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _dispatch(self) -> None:
        started = time.perf_counter()
        server = self.server
        transport = server.transport
        state = transport.state
        try:
            request = self._read_request()
        except _BadRequest as exc:
            self.close_connection = True
            self._write(Response(400, str(exc).encode(), {"Content-Type": "text/plain; charset=utf-8"}))
            return

        if server.service_name == "idp" and request.path.startswith(CONTROL_PREFIX):
            handler = transport.control_handler
            if handler is None:
                self._write(Response(404, b'{"error":"no control interface"}',
                                     {"Content-Type": "application/json"}))
            else:
                self._write(handler(request))
            return

        with state.lock:
            state.request_count += 1
            at = state.clock.now()
            plan = fault_rules.plan_faults(state.faults, server.service_name, request.method, request.path)
        # Delays are waited without the lock so other requests keep flowing.
        delay_ms = plan.delay_ms + max(0, transport.latency_ms)
        if delay_ms:
            time.sleep(delay_ms / 1000.0)

        action = plan.action
        if action is not None and action.kind == "reset":
            transport.record(server.service_name, request, STATUS_RESET, started, at)
            self._reset()
            return
        if action is not None and action.kind in ("throttle", "unavailable"):
            response = fault_rules.fault_response(
                server.service_name, action, at,
                authority_host=transport.urls.idp if transport.urls else "",
            )
        else:
            response = transport.call_service(server.service_name, server.service, request)
            if action is not None and action.kind == "slow":
                time.sleep(max(0, action.delay_ms) / 1000.0)

        if response.reset_connection:
            transport.record(server.service_name, request, STATUS_RESET, started, at)
            self._reset()
            return
        # Recorded before the answer leaves, so a client that has its answer always
        # finds the request in the log (tests and benchmarks read it right after).
        transport.record(server.service_name, request, response.status, started, at)
        self._write(response)

    def _read_request(self) -> Request:
        target = self.path
        raw_path, _, query_string = target.partition("?")
        query = {k: v[0] for k, v in parse_qs(query_string, keep_blank_values=True).items()}
        headers = Headers()
        for key, value in self.headers.items():
            headers[key] = value
        return Request(
            method=self.command,
            path=unquote(raw_path),
            raw_path=target,
            query=query,
            headers=headers,
            body=self._read_body(),
            client_ip=self.client_address[0],
        )

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            raise _BadRequest(f"bad Content-Length {length_text!r}") from None
        if length < 0:
            raise _BadRequest("negative Content-Length")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size_line = self.rfile.readline(65537).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                raise _BadRequest("bad chunk size") from None
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(3)  # the CRLF after each chunk

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        has_type = False
        for key, value in response.headers.items():
            lower = key.lower()
            if lower in ("content-length", "connection", "transfer-encoding"):
                continue  # the transport owns framing
            has_type = has_type or lower == "content-type"
            self.send_header(key, value)
        if response.body and not has_type:
            self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and response.body:
            self.wfile.write(response.body)

    def _reset(self) -> None:
        """Drop the connection without an answer: SO_LINGER 0 makes close() send a TCP RST."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.connection.close()

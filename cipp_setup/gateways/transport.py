"""The one place that decides how every HTTP client of the tool reaches the network.

NOTE FOR EVERY GATEWAY (and any new one, e.g. over azure-mgmt-web): never build an HTTP
client or pass `connection_verify`/`verify`/`proxies` yourself. Use

- `azure_client_kwargs(cloud, connection_timeout=..., read_timeout=...)` for azure-core
  clients (azure-mgmt-*, and azure-identity credentials): `Client(cred, ..., **kwargs)`;
- `requests_session(cloud, timeout=...)` for msal's `http_client`;
- `httpx_client_kwargs(cloud)` for an `httpx.AsyncClient(**kwargs, timeout=...)` (kiota /
  msgraph, the CIPP API), or `ssl_context(cloud)` when only an SSLContext is needed;
- `describe_connection_failure(exc, service, url)` for the message of a `network` error.

Trust. What is trusted is certifi's roots (the roots requests, azure-core and httpx 0.28
each use by default, so every client trusts the same set) PLUS the cloud's own CA
(`Cloud.ca_file`, the sandbox's) PLUS `--ca-bundle FILE` (`Cloud.ca_bundle`, a
TLS-inspecting proxy's CA). Added, never replacing: a proxy's CA alone would break every
host the proxy does not intercept. httpx gets an `SSLContext` built from one PEM file that
holds all three; requests and azure-core take a *path*, so that same combined file is
written once per process to a private temporary directory (removed at exit) and its path
given to them. (truststore would also bring the OS store, but needs a process-wide
injection for requests; a file is explicit, per client, and the same for every SDK.)
Environment variables REQUESTS_CA_BUNDLE / SSL_CERT_FILE / CURL_CA_BUNDLE are not read:
the requests Session has `trust_env = False`, azure-core gets that Session and an explicit
`connection_verify`, httpx gets `trust_env=False`. Verification is never switched off:
nothing here accepts `verify=False`.

Proxies. HTTPS_PROXY / HTTP_PROXY / ALL_PROXY / NO_PROXY (lower case wins over upper
case, as in curl and Python's urllib) are read here, once per client, and applied by our
own code for every request, so each SDK follows the same rule: the requests Session sets
`proxies=` per request (a Session with `trust_env=False` would otherwise ignore the
environment entirely), httpx gets a transport that routes each request to a direct or a
proxied pool. No implicit bypass for loopback: like curl and requests, only NO_PROXY
decides, so 127.0.0.1 goes through the proxy unless NO_PROXY names it.
"""

from __future__ import annotations

import atexit
import functools
import ipaddress
import os
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from cipp_setup.engine.runner import ServiceFailure

# Defined with the CA-bundle check (cipp_setup/trust.py) so cloud files can use them
# without importing the transport; re-exported here for every other caller.
from cipp_setup.trust import TransportConfigError as TransportConfigError
from cipp_setup.trust import validate_ca_bundle as validate_ca_bundle

if TYPE_CHECKING:
    import httpx
    import requests

    from cipp_setup.cloud import Cloud
    from cipp_setup.gateways.retry import RetryPolicy

PROXY_SCHEMES = ("http", "https")


class IdentityPlatformUnavailable(ServiceFailure):
    """The identity platform kept answering 429/503/504 beyond the retry budget."""

    def __init__(self, cause: str, message: str, status: int) -> None:
        super().__init__(cause, message)
        self.status = status


# --- proxies ---------------------------------------------------------------------------


def _env(environ: Mapping[str, str], name: str) -> str | None:
    """Lower case first (curl, urllib), then upper case; empty means unset."""
    for key in (name.lower(), name.upper()):
        value = environ.get(key)
        if value is not None and value.strip():
            return value.strip()
    return None


def _env_name(environ: Mapping[str, str], name: str) -> str:
    return name.lower() if (environ.get(name.lower()) or "").strip() else name.upper()


def redact_proxy(url: str) -> str:
    """A proxy URL without its user name and password (they never appear in messages)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _parse_proxy(value: str, variable: str) -> str:
    text = value if "://" in value else f"http://{value}"  # curl's default scheme
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise TransportConfigError(
            f"{variable}: expected a proxy URL such as http://proxy.example.com:3128, got {redact_proxy(value)!r}"
        ) from None
    if parts.scheme.lower() not in PROXY_SCHEMES or not parts.hostname:
        raise TransportConfigError(
            f"{variable}: expected an http:// or https:// proxy URL such as http://proxy.example.com:3128, "
            f"got {redact_proxy(value)!r}"
        )
    return text


@dataclass(frozen=True)
class ProxySettings:
    """Which proxy (if any) a request to a URL goes through."""

    https_proxy: str | None = None
    http_proxy: str | None = None
    no_proxy: tuple[str, ...] = ()
    https_variable: str = "HTTPS_PROXY"  # the variable the HTTPS proxy came from, for messages
    http_variable: str = "HTTP_PROXY"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ProxySettings:
        env = os.environ if environ is None else environ
        all_proxy = _env(env, "ALL_PROXY")
        https = _env(env, "HTTPS_PROXY")
        http = _env(env, "HTTP_PROXY")
        # The variable to name in messages: the one in effect, else the one to set.
        https_var = _env_name(env, "ALL_PROXY") if all_proxy and not https else _env_name(env, "HTTPS_PROXY")
        http_var = _env_name(env, "ALL_PROXY") if all_proxy and not http else _env_name(env, "HTTP_PROXY")
        https = https or all_proxy
        http = http or all_proxy
        no_proxy = tuple(
            entry.strip().lower() for entry in (_env(env, "NO_PROXY") or "").replace(" ", ",").split(",")
            if entry.strip()
        )
        return cls(
            https_proxy=_parse_proxy(https, https_var) if https else None,
            http_proxy=_parse_proxy(http, http_var) if http else None,
            no_proxy=no_proxy,
            https_variable=https_var,
            http_variable=http_var,
        )

    def proxy_for(self, url: str) -> str | None:
        """The proxy URL for `url`, or None to connect directly."""
        parts = urlsplit(url)
        proxy = self.https_proxy if parts.scheme.lower() == "https" else self.http_proxy
        if proxy is None or bypasses_proxy(parts.hostname or "", parts.port, self.no_proxy, parts.scheme):
            return None
        return proxy

    def variable_for(self, url: str) -> str:
        return self.https_variable if urlsplit(url).scheme.lower() == "https" else self.http_variable


def bypasses_proxy(host: str, port: int | None, no_proxy: tuple[str, ...], scheme: str = "https") -> bool:
    """NO_PROXY as curl and requests read it: `*` for every host; a name matches itself and
    its subdomains (a leading `.` or `*.` is ignored); an IP address or CIDR block matches
    addresses in it; `name:port` matches that port only."""
    host = host.strip("[]").lower().rstrip(".")
    if not host:
        return False
    effective_port = port or (443 if scheme.lower() == "https" else 80)
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in no_proxy:
        if entry == "*":
            return True
        name, entry_port = entry, None
        if entry.startswith("["):  # [::1]:8080
            name, _, rest = entry[1:].partition("]")
            entry_port = rest[1:] if rest.startswith(":") else None
        elif entry.count(":") == 1:
            name, entry_port = entry.split(":")
        if entry_port and entry_port.isdigit() and int(entry_port) != effective_port:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = name.lstrip("*").lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def proxy_settings() -> ProxySettings:
    """The environment's proxy settings; raises TransportConfigError for a malformed one."""
    return ProxySettings.from_environ()


# --- trust -----------------------------------------------------------------------------


_bundle_lock = threading.Lock()
_bundle_dir: str | None = None
_bundles: dict[tuple[str, ...], str] = {}


def _extra_ca_files(cloud: Cloud) -> tuple[str, ...]:
    files = [cloud.ca_file, getattr(cloud, "ca_bundle", None)]
    return tuple(dict.fromkeys(str(f) for f in files if f))


def _remove_bundle_dir() -> None:
    if _bundle_dir is not None:
        shutil.rmtree(_bundle_dir, ignore_errors=True)


def ca_bundle_path(cloud: Cloud) -> str:
    """The PEM file every client of `cloud` verifies servers against: certifi's roots plus
    the cloud's CA and `--ca-bundle`, written once per process (certifi's own file when
    there is nothing to add)."""
    import certifi

    extras = _extra_ca_files(cloud)
    if not extras:
        return certifi.where()
    global _bundle_dir
    with _bundle_lock:
        path = _bundles.get(extras)
        if path is not None and Path(path).is_file():
            return path
        if _bundle_dir is None:
            _bundle_dir = tempfile.mkdtemp(prefix="cipp-setup-ca-")  # 0700: only this user
            atexit.register(_remove_bundle_dir)
        parts = [Path(certifi.where()).read_text(encoding="ascii", errors="replace")]
        for extra in extras:
            parts.append(f"\n# added for this run: {extra}\n")
            parts.append(Path(extra).read_text(encoding="ascii", errors="replace"))
        fd, path = tempfile.mkstemp(prefix="trust-", suffix=".pem", dir=_bundle_dir)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write("\n".join(parts) + "\n")
        _bundles[extras] = path
        return path


@functools.lru_cache(maxsize=8)
def ssl_context(cloud: Cloud) -> ssl.SSLContext:
    """An SSLContext that verifies against `ca_bundle_path(cloud)` (hostname checks on).

    One per cloud and process: loading the roots costs ~17 ms, paid on the critical path
    each time a client was built; a context is safe to share between clients."""
    return ssl.create_default_context(cafile=ca_bundle_path(cloud))


# --- clients ---------------------------------------------------------------------------


def requests_session(
    cloud: Cloud, *, timeout: float | None = None, retry: RetryPolicy | None = None
) -> requests.Session:
    """A requests Session for msal (and azure-core): the run's trust and proxies, a default
    timeout, and nothing from the environment (`trust_env = False`).

    With `retry` (the identity platform's sessions: msal and azure-identity have no retry
    of their own once azure-core's is off), every request follows the one retry rule:
    429/503/504 wait as Retry-After says within the budget, a reset or read timeout is
    tried again (token and discovery requests are safe to repeat), and a wait beyond the
    budget raises `ServiceFailure` at once instead of being slept through."""
    import requests

    settings = proxy_settings()
    bundle = ca_bundle_path(cloud)

    class RoutedSession(requests.Session):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
            if timeout is not None and kwargs.get("timeout") is None:
                kwargs["timeout"] = timeout
            if not kwargs.get("proxies"):
                proxy = settings.proxy_for(url)
                kwargs["proxies"] = {"https": proxy, "http": proxy} if proxy else {}
            if kwargs.get("verify") in (None, True):  # an explicit path (azure-core's) is ours too
                kwargs["verify"] = bundle
            if retry is None:
                return super().request(method, url, *args, **kwargs)
            send = super().request
            response: requests.Response = retry.run_blocking(
                lambda: _identity_attempt(send, method, url, args, kwargs)
            )
            return response

    session = RoutedSession()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`; proxies are ours
    session.verify = bundle
    return session


def _identity_attempt(send: Any, method: str, url: str, args: Any, kwargs: Any) -> Any:
    """One request to the identity platform, as the retry rule sees it."""
    import requests

    from cipp_setup.gateways.retry import RETRYABLE_STATUSES, Retryable, parse_retry_after

    host = urlsplit(url).netloc
    try:
        response = send(method, url, *args, **kwargs)
    except (requests.ConnectionError, requests.Timeout) as exc:
        kind = classify_connection_failure(exc).kind
        if kind in ("reset", "timeout") and not isinstance(exc, requests.ConnectTimeout):
            raise Retryable(0, None, exc) from None
        raise
    if response.status_code in RETRYABLE_STATUSES:
        what = "429 Too Many Requests" if response.status_code == 429 else f"{response.status_code} (unavailable)"
        cause = "throttled" if response.status_code == 429 else "service-unavailable"
        final = IdentityPlatformUnavailable(
            cause, f"The identity platform ({host}) kept answering {what}.", response.status_code
        )
        raise Retryable(response.status_code, parse_retry_after(response.headers.get("Retry-After")), final)
    return response


def identity_failure(exc: BaseException) -> ServiceFailure | None:
    """The identity platform's throttling or outage inside an SDK's exception (msal and
    azure-identity wrap what the session raised), else None."""
    for item in _chain(exc):
        if isinstance(item, IdentityPlatformUnavailable):
            return item
    return None


def azure_client_kwargs(
    cloud: Cloud,
    *,
    connection_timeout: float | None = None,
    read_timeout: float | None = None,
    retry: RetryPolicy | None = None,
) -> dict[str, Any]:
    """Keyword arguments for any azure-core based client (azure-mgmt-*, azure-identity):
    a RequestsTransport over `requests_session(cloud)` that owns (and closes) it. `retry`:
    see `requests_session` (the identity platform's credentials only: ARM and App Service
    clients are retried by their gateways)."""
    from azure.core.pipeline.transport import RequestsTransport

    options: dict[str, Any] = {"connection_verify": ca_bundle_path(cloud)}
    if connection_timeout is not None:
        options["connection_timeout"] = connection_timeout
    if read_timeout is not None:
        options["read_timeout"] = read_timeout
    transport = RequestsTransport(session=requests_session(cloud, retry=retry), session_owner=True, **options)
    return {"transport": transport, "connection_verify": options["connection_verify"]}


def httpx_client_kwargs(cloud: Cloud) -> dict[str, Any]:
    """Keyword arguments for `httpx.AsyncClient`: a transport routing each request directly
    or through the proxy NO_PROXY allows, verifying with `ssl_context(cloud)`."""
    context = ssl_context(cloud)
    return {"transport": _routing_transport(context, proxy_settings()), "trust_env": False}


_routing_class: type | None = None


def _routing_transport(context: ssl.SSLContext, settings: ProxySettings) -> Any:
    """httpx transport: one pool for direct connections, one per proxy, chosen per request.
    The class is built on first use so importing this module does not import httpx."""
    global _routing_class
    if _routing_class is None:
        import httpx

        class ProxyRoutingTransport(httpx.AsyncBaseTransport):
            def __init__(self, context: ssl.SSLContext, settings: ProxySettings) -> None:
                self._context = context
                self._settings = settings
                self._direct = httpx.AsyncHTTPTransport(verify=context, trust_env=False)
                self._proxied: dict[str, httpx.AsyncHTTPTransport] = {}

            def _transport_for(self, url: str) -> httpx.AsyncHTTPTransport:
                proxy = self._settings.proxy_for(url)
                if proxy is None:
                    return self._direct
                transport = self._proxied.get(proxy)
                if transport is None:
                    # An https:// proxy is itself verified with the same trust (its
                    # certificate may come from the --ca-bundle CA); http:// takes none.
                    tls_to_proxy = proxy.lower().startswith("https://")
                    transport = httpx.AsyncHTTPTransport(
                        verify=self._context, trust_env=False,
                        proxy=httpx.Proxy(proxy, ssl_context=self._context if tls_to_proxy else None),
                    )
                    self._proxied[proxy] = transport
                return transport

            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                return await self._transport_for(str(request.url)).handle_async_request(request)

            async def aclose(self) -> None:
                for transport in (self._direct, *self._proxied.values()):
                    await transport.aclose()

        _routing_class = ProxyRoutingTransport
    return _routing_class(context, settings)


# --- what a failed connection means ----------------------------------------------------


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps: causes, contexts, urllib3 `reason`s,
    azure-core `inner_exception`s and exceptions passed as arguments."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for attr in ("__cause__", "__context__", "reason", "inner_exception", "exc_value"):
            value = getattr(current, attr, None)
            if isinstance(value, BaseException):
                stack.append(value)
        for arg in getattr(current, "args", ()):
            if isinstance(arg, BaseException):
                stack.append(arg)


def failing_url(exc: BaseException) -> str | None:
    """The URL of the request that failed, when the exception carries one (httpx and
    requests exceptions keep their request)."""
    for item in _chain(exc):
        try:
            request = getattr(item, "request", None)
        except RuntimeError:  # httpx: "The .request property has not been set."
            request = None
        url = getattr(request, "url", None)
        if url:
            return str(url)
    return None


# Exceptions that mean "the request was sent (or being sent) and no answer came".
_READ_FAILURES = frozenset({"ReadError", "RemoteProtocolError", "WriteError", "ProtocolError", "RemoteDisconnected"})
# What the TLS layer raises when the peer closes or resets an established connection.
_TLS_DROPS = (ssl.SSLWantReadError, ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)


@dataclass(frozen=True)
class ConnectionFailure:
    kind: str  # dns, refused, timeout, tls, proxy, reset, other
    detail: str


def classify_connection_failure(exc: BaseException) -> ConnectionFailure:
    """What went wrong below HTTP, from the exception types (not their wording)."""
    names = [type(item).__name__ for item in _chain(exc)]
    # The connection was up and the answer never came (httpx ReadError, urllib3's
    # "Connection aborted"): whatever the TLS layer says, the peer dropped it.
    while_reading = any(name in _READ_FAILURES for name in names)
    for item in _chain(exc):
        if isinstance(item, ssl.SSLCertVerificationError):
            detail = getattr(item, "verify_message", None) or getattr(item, "reason", None)
            return ConnectionFailure("tls", str(detail or "certificate verify failed"))
        if isinstance(item, ssl.SSLError):
            if while_reading and isinstance(item, _TLS_DROPS):
                return ConnectionFailure("reset", "the connection was dropped before an answer")
            return ConnectionFailure("tls-handshake", str(getattr(item, "reason", None) or _first_line(item)))
    proxy_errors = [item for item in _chain(exc) if "ProxyError" in type(item).__name__]
    if proxy_errors:
        # urllib3 wraps the proxy's answer as OSError("Tunnel connection failed: 403 ...");
        # prefer that short reason over the wrappers' long texts.
        for item in _chain(exc):
            text = _first_line(item)
            if isinstance(item, OSError) and text.startswith("Tunnel connection failed:"):
                return ConnectionFailure("proxy", text.split(":", 1)[1].strip())
        return ConnectionFailure("proxy", min((_first_line(i) for i in proxy_errors), key=len))
    for item in _chain(exc):
        if isinstance(item, socket.gaierror) or type(item).__name__ == "NameResolutionError":
            return ConnectionFailure("dns", _first_line(item))
        if isinstance(item, ConnectionRefusedError):
            return ConnectionFailure("refused", _first_line(item))
    if any("Timeout" in name for name in names) or any(isinstance(i, TimeoutError) for i in _chain(exc)):
        return ConnectionFailure("timeout", "")
    for item in _chain(exc):
        if isinstance(item, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
            return ConnectionFailure("reset", _first_line(item))
    return ConnectionFailure("other", _first_line(exc) or type(exc).__name__)


def connection_failure(exc: BaseException, service: str, url: str | None = None) -> ServiceFailure:
    """A failure below HTTP as the engine's cause, told apart truthfully: `timeout` (no
    answer in time), `tls` (certificate or handshake), else `network` (reset, refused,
    DNS, proxy); the message names the service and host (`describe_connection_failure`)."""
    kind = classify_connection_failure(exc).kind
    cause = {"timeout": "timeout", "tls": "tls", "tls-handshake": "tls"}.get(kind, "network")
    return ServiceFailure(cause, describe_connection_failure(exc, service, url))


def is_retryable_read_failure(exc: BaseException) -> bool:
    """Worth trying an idempotent read again: the connection was reset or the answer did
    not come in time (a refused connection, DNS or TLS failure will not heal in seconds)."""
    return classify_connection_failure(exc).kind in ("reset", "timeout")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def is_connection_failure(exc: BaseException) -> bool:
    """Did the request fail before any HTTP answer (DNS, TCP, TLS, proxy)?"""
    for item in _chain(exc):
        if isinstance(item, (ConnectionError, socket.gaierror, TimeoutError, ssl.SSLError)):
            return True
        if isinstance(item, OSError) and _first_line(item).startswith("Tunnel connection failed"):
            return True
        name = type(item).__name__
        if name in ("ProxyError", "ConnectError", "ConnectTimeout", "NameResolutionError",
                    "NewConnectionError", "ServiceRequestError", "ConnectionError"):
            return True
    return False


def identity_platform_unreachable(exc: BaseException) -> str | None:
    """For a token request that got no answer (azure-identity wraps it in a
    ClientAuthenticationError without a response): the message naming the host, else None."""
    if getattr(exc, "response", None) is None and is_connection_failure(exc):
        return describe_connection_failure(exc, "The identity platform")
    return None


def describe_connection_failure(exc: BaseException, service: str, url: str | None = None) -> str:
    """One sentence naming the service, the host, what failed, and what to try."""
    target = failing_url(exc) or url or ""
    parts = urlsplit(target) if target else None
    host = (parts.hostname or "") if parts else ""
    port = parts.port if parts else None
    where = f"{host}:{port}" if host and port else host or "the service"
    settings: ProxySettings | None
    try:
        settings = proxy_settings()
    except TransportConfigError:
        settings = None
    proxy = settings.proxy_for(target) if settings and target else None
    variable = settings.variable_for(target) if settings and target else "HTTPS_PROXY"
    failure = classify_connection_failure(exc)
    via = f" through the proxy {redact_proxy(proxy)}" if proxy else ""
    lead = f"{service} ({where}) could not be reached{via}"
    if failure.kind == "tls":
        return (
            f"{lead}: its TLS certificate could not be verified (CERTIFICATE_VERIFY_FAILED: "
            f"{failure.detail}). If a proxy inspects TLS on this network, pass its CA "
            f"certificate with --ca-bundle FILE; TLS verification is never turned off."
        )
    if failure.kind == "tls-handshake":
        return f"{lead}: the TLS handshake failed ({failure.detail}). Check that {where} is the right address."
    if proxy and failure.kind in ("proxy", "refused", "dns", "reset"):
        return (
            f"{lead}: the proxy failed or refused the connection ({failure.detail or failure.kind}). "
            f"Check {variable} (or add {host} to NO_PROXY if it should be reached directly)."
        )
    if failure.kind == "dns":
        hint = "" if proxy else f" If this network only reaches the internet through a proxy, set {variable}."
        return f"{lead}: the name {host} does not resolve (DNS).{hint} Check the address and your DNS."
    if failure.kind == "refused":
        return f"{lead}: the connection was refused. Check the address and port, and any firewall."
    if failure.kind == "timeout" and any("ReadTimeout" in type(i).__name__ for i in _chain(exc)):
        return f"{service} ({where}) did not answer in time{via}. Try again; if it persists, check the service's status."
    if failure.kind == "timeout":
        return (
            f"{lead}: the connection timed out. Check the network and firewall"
            + (f", or {variable}." if not proxy else f", and the proxy in {variable}.")
        )
    if failure.kind == "proxy":
        return f"{lead}: {failure.detail}. Check {variable} and NO_PROXY."
    if failure.kind == "reset":
        return f"{lead}: the connection was closed unexpectedly ({failure.detail}). Try again; check any proxy or firewall."
    return f"{lead} ({failure.detail})."

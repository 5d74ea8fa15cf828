"""The CIPP API as a client sees it: a client-credentials token, then `GET /api/ListLogs`.

Token: msal `ConfidentialClientApplication`, one per (authority, tenant, client id,
secret) and reused, since each object fetches the tenant's discovery document once.
Standalone msal has no network timeout, so its `http_client` is a requests Session whose
requests get one (`TOKEN_TIMEOUT_S`); the Session comes from `gateways/transport.py`
(`trust_env = False`, the run's CA bundle and proxies). The token's claims are decoded for display only; the token
itself is held in a `Secret` and never shown.

ListLogs: httpx, redirects **not** followed (a 302 to `/.auth/login/...` is the answer
that tells a front-end URL apart), with `LIST_LOGS_TIMEOUT_S` = 60 s: a Function App on
the consumption plan that was idle starts cold, which can take tens of seconds.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from cipp_setup.cloud import Cloud
from cipp_setup.engine.result import Secret
from cipp_setup.engine.runner import ServiceFailure
from cipp_setup.gateways.auth import _is_public_authority, decode_claims
from cipp_setup.gateways.errors import failure_for_status
from cipp_setup.gateways.retry import RETRYABLE_STATUSES, Retryable, RetryPolicy, parse_retry_after
from cipp_setup.gateways.threads import in_thread

if TYPE_CHECKING:
    import requests

TOKEN_TIMEOUT_S = 30.0
# Documented: allows for a cold Function App (consumption plan), which can take tens of
# seconds to answer its first request after being idle.
LIST_LOGS_TIMEOUT_S = 60.0
MAX_BODY_BYTES = 2_000_000


def normalise_api_url(text: str) -> str:
    """`--api-url` as `https://host[:port]`: accepts a trailing slash or `/api`; rejects
    `http://` and anything malformed with a one-line ValueError naming what was expected."""
    value = (text or "").strip()
    expected = "expected the Function App URL, like https://cipp-xxxxx.azurewebsites.net"
    if not value:
        raise ValueError(f"--api-url is empty: {expected}")
    if value.lower().startswith("http://"):
        raise ValueError(f"--api-url must use https:// (got {value}): the CIPP API only answers over HTTPS")
    if not value.lower().startswith("https://"):
        raise ValueError(f"--api-url {value!r} is not a URL: {expected}")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(f"--api-url {value!r} is malformed: {expected}") from None
    host = (parts.hostname or "").lower()
    if parts.username or parts.password or parts.query or parts.fragment or not host:
        raise ValueError(f"--api-url {value!r} is malformed: {expected}")
    if not _valid_host(host):
        raise ValueError(f"--api-url {value!r} has an invalid host name: {expected}")
    path = parts.path.rstrip("/")
    if path.lower() not in ("", "/api"):
        raise ValueError(
            f"--api-url {value!r} has a path ({parts.path}): give the base URL only, {expected}"
        )
    return f"https://{host}" + (f":{port}" if port else "")


def _valid_host(host: str) -> bool:
    from cipp_setup.cloud import is_valid_host

    return is_valid_host(host)


# --- token ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenClaims:
    """What a token says about itself, for display (never the token)."""

    aud: str
    tid: str
    appid: str
    ver: str
    exp: int | None
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiToken:
    access_token: Secret
    claims: TokenClaims


class TokenRefused(Exception):
    """The identity platform refused the token request; `code` is the AADSTS number."""

    def __init__(self, code: str | None, error: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.error = error
        self.description = description


class _TimeoutSession:
    """Factory for msal's requests Session: the run's trust, proxies and a default timeout
    (gateways/transport.py), recording each answer's status."""

    @staticmethod
    def create(cloud: Cloud, recorder: threading.local, retry: RetryPolicy | None = None) -> requests.Session:
        from cipp_setup.gateways.transport import requests_session

        # The identity platform's one retry rule (429/503/504, resets, read timeouts)
        # applies inside the session, under msal, for discovery and token requests alike.
        session = requests_session(cloud, timeout=TOKEN_TIMEOUT_S, retry=retry or RetryPolicy())
        send = session.request

        def request(method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
            recorder.url = url
            response = send(method, url, *args, **kwargs)
            recorder.status = response.status_code  # why a request failed, when msal hides it
            return response

        session.request = request  # type: ignore[method-assign,assignment]
        return session


class ApiTokenClient:
    """Client-credentials tokens for API clients; one msal application per client, reused."""

    def __init__(self, cloud: Cloud, retry: RetryPolicy | None = None) -> None:
        self._cloud = cloud
        self._retry = retry
        self._apps: dict[tuple[str, str, Secret], Any] = {}
        self._lock = threading.Lock()
        self._last = threading.local()
        self.request_count = 0

    def _app(self, tenant: str, client_id: str, secret: Secret) -> Any:
        import msal

        key = (tenant.lower(), client_id.lower(), secret)
        with self._lock:
            app = self._apps.get(key)
            if app is None:
                app = msal.ConfidentialClientApplication(
                    client_id,
                    client_credential=secret.reveal(),
                    authority=f"{self._cloud.authority_host.rstrip('/')}/{tenant}",
                    instance_discovery=_is_public_authority(self._cloud),
                    http_client=_TimeoutSession.create(self._cloud, self._last, self._retry),
                )
                self._apps[key] = app
            return app

    def _acquire(self, tenant: str, client_id: str, secret: Secret) -> ApiToken:
        import requests

        self._last.status = None
        self._last.url = None
        authority = self._cloud.authority_host
        try:
            app = self._app(tenant, client_id, secret)
            result = app.acquire_token_for_client([f"api://{client_id}/.default"])
        except requests.ReadTimeout:
            host = urlsplit(getattr(self._last, "url", None) or authority).netloc
            raise ServiceFailure(
                "timeout", f"The identity platform ({host}) did not answer the token request in time."
            ) from None
        except requests.ConnectionError as exc:  # DNS, refused, TLS, proxy, connect timeout
            from cipp_setup.gateways.transport import connection_failure

            where = getattr(self._last, "url", None) or authority
            raise connection_failure(exc, "The identity platform", where) from None
        except ValueError:
            # msal raises ValueError when the tenant's discovery document cannot be read
            # (an unknown tenant answers 400 AADSTS90002 there; any other status is the
            # service failing, not the tenant name).
            status = getattr(self._last, "status", None)
            if status == 400:
                raise TokenRefused("90002", "invalid_tenant", "Tenant not found.") from None
            host = urlsplit(getattr(self._last, "url", None) or authority).netloc
            raise ServiceFailure(
                "service-unavailable",
                f"The identity platform ({host}) answered HTTP {status} to the tenant's discovery request.",
            ) from None
        status = getattr(self._last, "status", None)
        if "access_token" not in result:
            if status == 429:
                raise ServiceFailure("throttled", "The identity platform answered 429 Too Many Requests to the token request.")
            if status is not None and status >= 500:
                raise ServiceFailure("service-unavailable", f"The identity platform answered {status} to the token request.")
            codes = result.get("error_codes") or []
            code = str(codes[0]) if codes else None
            description = str(result.get("error_description") or result.get("error") or "")
            first = description.splitlines()[0] if description else ""
            raise TokenRefused(code, str(result.get("error") or ""), first)
        claims = decode_claims(result["access_token"])
        roles = claims.get("roles")
        return ApiToken(
            access_token=Secret(result["access_token"]),
            claims=TokenClaims(
                aud=str(claims.get("aud", "")), tid=str(claims.get("tid", "")),
                appid=str(claims.get("appid") or claims.get("azp") or ""),
                ver=str(claims.get("ver", "")),
                exp=int(claims["exp"]) if isinstance(claims.get("exp"), (int, float)) else None,
                roles=tuple(roles) if isinstance(roles, list) else (),
            ),
        )

    async def token(self, tenant: str, client_id: str, secret: Secret) -> ApiToken:
        """A token for `api://{client_id}/.default`. Raises TokenRefused or ServiceFailure."""
        self.request_count += 1
        return await in_thread(self._acquire, tenant, client_id, secret)


# --- ListLogs ------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiAnswer:
    """What the API host answered, as facts; the check says what they mean."""

    url: str
    status: int
    content_type: str
    location: str | None
    text: str  # the body, decoded, cut at MAX_BODY_BYTES
    latency_ms: float
    json: Any = None
    is_json: bool = False


class ApiTimeout(Exception):
    def __init__(self, url: str, seconds: float) -> None:
        super().__init__(f"{url} did not answer within {seconds:.0f} s")
        self.url = url
        self.seconds = seconds


class ApiClient:
    """Calls to the CIPP API host with a bearer token."""

    def __init__(
        self, cloud: Cloud, *, timeout_s: float = LIST_LOGS_TIMEOUT_S, retry: RetryPolicy | None = None
    ) -> None:
        self._cloud = cloud
        self._timeout_s = timeout_s
        self._retry = retry or RetryPolicy()
        self._http: Any = None
        self.request_count = 0

    def _client(self) -> Any:
        if self._http is None:
            import httpx

            from cipp_setup.gateways.transport import httpx_client_kwargs

            self._http = httpx.AsyncClient(  # trust and proxies: gateways/transport.py
                timeout=httpx.Timeout(self._timeout_s, connect=15.0),
                follow_redirects=False,
                **httpx_client_kwargs(self._cloud),
            )
        return self._http

    async def get(self, api_url: str, endpoint: str, token: ApiToken, params: dict[str, str] | None = None) -> ApiAnswer:
        import json

        import httpx

        url = f"{api_url.rstrip('/')}/api/{endpoint}"
        headers = {"Authorization": f"Bearer {token.access_token.reveal()}", "Accept": "application/json"}
        client = self._client()

        async def attempt() -> tuple[Any, float]:
            from cipp_setup.gateways.transport import connection_failure, is_retryable_read_failure

            started = time.perf_counter()
            self.request_count += 1
            try:
                response = await client.get(url, headers=headers, params=params)
            except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout):
                # A GET: safe to send again (a cold Function App may answer the second).
                raise Retryable(0, None, ApiTimeout(url, self._timeout_s)) from None
            except httpx.TransportError as exc:  # DNS, refused, TLS, proxy, connect timeout, reset
                failure = connection_failure(exc, "The CIPP API", url)
                if is_retryable_read_failure(exc):
                    raise Retryable(0, None, failure) from None
                raise failure from None
            if response.status_code in RETRYABLE_STATUSES:
                await response.aread()
                raise Retryable(
                    response.status_code, parse_retry_after(response.headers.get("retry-after")),
                    failure_for_status(response.status_code, "The CIPP API", f"GET /api/{endpoint}"),
                )
            return response, (time.perf_counter() - started) * 1000

        response, latency = await self._retry.run(attempt)
        body = response.content[:MAX_BODY_BYTES]
        text = body.decode(response.encoding or "utf-8", errors="replace")
        content_type = response.headers.get("content-type", "")
        parsed: Any = None
        is_json = False
        try:
            parsed = json.loads(text) if text.strip() else None
            is_json = bool(text.strip())
        except ValueError:
            pass
        return ApiAnswer(
            url=url, status=response.status_code, content_type=content_type,
            location=response.headers.get("location"), text=text, latency_ms=latency,
            json=parsed, is_json=is_json,
        )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()


class CippApiGateway:
    """Both halves of an API call: the token client and the HTTP client."""

    def __init__(
        self, cloud: Cloud, *, timeout_s: float = LIST_LOGS_TIMEOUT_S, retry: RetryPolicy | None = None
    ) -> None:
        self.cloud = cloud
        self._retry = retry
        self.tokens = ApiTokenClient(cloud, retry)
        self.http = ApiClient(cloud, timeout_s=timeout_s, retry=retry)

    def renew_tokens(self) -> None:
        """A fresh token client: msal remembers an identity platform's 400 for 60 s."""
        self.tokens = ApiTokenClient(self.cloud, self._retry)

    async def token(self, tenant: str, client_id: str, secret: Secret) -> ApiToken:
        return await self.tokens.token(tenant, client_id, secret)

    async def get(self, api_url: str, endpoint: str, token: ApiToken, params: dict[str, str] | None = None) -> ApiAnswer:
        return await self.http.get(api_url, endpoint, token, params)

    @property
    def request_count(self) -> int:
        return self.tokens.request_count + self.http.request_count

    async def close(self) -> None:
        await self.http.close()

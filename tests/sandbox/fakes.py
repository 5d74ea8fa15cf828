"""Small stand-in services for testing the transport, faults and control on their own."""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from cipp_setup.sandbox.http import Request, Response, SandboxUrls, json_response
from cipp_setup.sandbox.runtime import Sandbox, ServiceFactory
from cipp_setup.sandbox.state import TenantState
from cipp_setup.sandbox.transport import SERVICE_NAMES


class EchoService:
    """Answers 200 with what it received; counts the requests it handled."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.handled = 0

    def handle(self, request: Request) -> Response:
        self.handled += 1
        if request.path == "/crash":
            raise RuntimeError("the fake service fell over")
        if request.path == "/reset-me":
            return Response(status=200, reset_connection=True)
        if request.path.startswith("/secure"):
            token = request.bearer_token()
            if token != "good-token":
                return json_response(401, {"error": {"code": "InvalidAuthenticationToken"}})
            request.caller = "caller-oid-1"
        return json_response(200, {
            "service": self.name,
            "method": request.method,
            "path": request.path,
            "raw_path": request.raw_path,
            "query": request.query,
            "body": request.body.decode("utf-8", "replace"),
            "client_ip": request.client_ip,
            "x_forwarded_for": request.headers.get("x-forwarded-for"),
            "content_type": request.headers.get("CONTENT-TYPE"),
        }, headers={"X-Echo": "1"})


class FakeIdentityPlatform(EchoService):
    """An echoing identity platform with the real one's device code control methods."""

    def __init__(self) -> None:
        super().__init__("idp")
        self.pending = ["ABCD-EFGH"]
        self.approvals: list[tuple[str | None, str | None]] = []

    def pending_device_codes(self) -> list[str]:
        return list(self.pending)

    def approve_device_code(self, user_code: str | None = None, user_id: str | None = None, *,
                            upn: str | None = None) -> str:
        code = user_code or (self.pending[-1] if self.pending else None)
        if code not in self.pending:
            raise ValueError(f"no pending device code sign-in has the code {user_code!r}")
        self.pending.remove(code)
        self.approvals.append((user_code, upn))
        return code


def fake_factories() -> dict[str, ServiceFactory]:
    factories: dict[str, ServiceFactory] = {
        name: (lambda _s, _t, _u, n=name: EchoService(n)) for name in SERVICE_NAMES
    }
    factories["idp"] = lambda _s, _t, _u: FakeIdentityPlatform()
    return factories


def small_state() -> TenantState:
    state = TenantState(tenant_id="11111111-2222-3333-4444-555555555555", default_domain="contoso.example")
    state.reindex()
    return state


def fake_sandbox(sandbox_factory: Any, **kwargs: Any) -> Sandbox:
    sandbox: Sandbox = sandbox_factory(small_state(), service_factories=fake_factories(), **kwargs)
    return sandbox


def client_for(sandbox: Sandbox, **kwargs: Any) -> httpx.Client:
    """An httpx client trusting only this sandbox's CA, ignoring proxy/CA env variables."""
    context = ssl.create_default_context(cafile=sandbox.ca_file)
    return httpx.Client(verify=context, trust_env=False, timeout=10, **kwargs)


def url(sandbox: Sandbox, service: str, path: str) -> str:
    urls: SandboxUrls = sandbox.urls
    return getattr(urls, service) + path

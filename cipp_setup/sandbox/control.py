"""The sandbox's one control interface: what a person (or a test) does to the sandbox.

Approving a device code, the admin's clicks in CIPP (activate the legacy API, create an
API client, save to Azure), moving the clock, faults, replication lag, latency and the
request log all go through `SandboxControl`:

- in process: ``sandbox.control.advance_clock(3600)``;
- over HTTPS for a served sandbox: ``POST {idp}/_sandbox/control/{action}`` with a JSON
  object of the method's keyword arguments and the header ``X-Sandbox-Key`` (the random
  key in the ready file). Answers ``200 {"result": ...}``; a wrong or missing key 403; an
  unknown action 404; bad arguments 400; a CIPP action that fails as CIPP would 409 with
  ``{"error": {"code": "CippActionError", "message": ...}}``. `RemoteControl` is the
  client for it.

``/_sandbox/`` is a path no Microsoft or CIPP service uses; the transport routes it on the
identity platform's port before the service sees the request, so the emulated services
know nothing about it, and control calls are neither counted, faulted nor logged.
"""

from __future__ import annotations

import dataclasses
import hmac
import importlib
import json
import secrets
import ssl
from collections.abc import Callable, Mapping
from typing import Any

from cipp_setup.sandbox import faults as fault_rules
from cipp_setup.sandbox.http import Request, Response, SandboxUrls, Service, json_response
from cipp_setup.sandbox.state import Fault, Replication, RequestRecord, TenantState

CONTROL_PATH = "/_sandbox/control"
KEY_HEADER = "X-Sandbox-Key"


class SandboxControlError(Exception):
    """A control call that the served sandbox refused (RemoteControl's error)."""

    def __init__(self, status: int, code: str, message: str, reason: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.reason = reason or message  # a CippActionError's underlying error


class _LatencySetting:
    """Where the sandbox-wide latency lives (the transport); a plain holder before start."""

    latency_ms: int = 0


class SandboxControl:
    """In-process control of a sandbox. Every method takes the state lock it needs."""

    def __init__(
        self,
        state: TenantState,
        *,
        services: Mapping[str, Service] | None = None,
        latency: Any = None,
        tokens: Any = None,
        urls: SandboxUrls | None = None,
        key: str | None = None,
    ) -> None:
        self.state = state
        self.services: Mapping[str, Service] = services or {}
        self.tokens = tokens
        self.urls = urls
        # Any object with a writable `latency_ms` (the Transport once the sandbox runs).
        self._latency = latency if latency is not None else _LatencySetting()
        self.key = key or secrets.token_urlsafe(32)

    def bind(self, *, services: Mapping[str, Service], latency: Any, tokens: Any, urls: SandboxUrls) -> None:
        """Attach the running services, transport, token authority and URLs (done on start)."""
        self.services = services
        self._latency = latency
        self.tokens = tokens
        self.urls = urls

    # --- people ----------------------------------------------------------------------

    def approve_device_code(self, user_code: str | None = None, upn: str | None = None) -> Any:
        """Approve a pending device code sign-in, as `upn` (default: the scenario's admin).

        `user_code` picks the sign-in (default: the only / oldest pending one).
        """
        idp = self.services.get("idp")
        approve = getattr(idp, "approve_device_code", None)
        if approve is None:
            raise RuntimeError("the identity platform service is not running")
        with self.state.lock:
            return approve(user_code=user_code, upn=upn)

    def pending_device_codes(self) -> list[str]:
        """User codes of device-code sign-ins waiting for approval, oldest first."""
        idp = self.services.get("idp")
        pending = getattr(idp, "pending_device_codes", None)
        if pending is None:
            raise RuntimeError("the identity platform service is not running")
        with self.state.lock:
            return list(pending())

    def set_device_code_auto_approve(self, enabled: bool) -> None:
        with self.state.lock:
            self.state.device_code_auto_approve = bool(enabled)

    # --- consent pages ---------------------------------------------------------------

    def pending_consents(self) -> list[dict[str, Any]]:
        """Device-code sign-ins whose consent page waits for an answer (user code, client,
        scopes asked, user), oldest first. Pages wait only under `set_consent_response("pending")`."""
        with self.state.lock:
            return list(self._idp("pending_consents")())

    def answer_consent(self, answer: str, user_code: str | None = None) -> str:
        """Answer a waiting consent page: "organization", "self" or "decline"."""
        with self.state.lock:
            return str(self._idp("answer_consent")(answer=answer, user_code=user_code))

    def set_consent_response(self, response: str) -> None:
        """What the person at every later consent page does: "auto" (as the signed-in user
        would: for the organization when they may, else for themselves when allowed),
        "organization", "self", "decline", or "pending" (wait for answer_consent)."""
        from cipp_setup.sandbox.idp import CONSENT_RESPONSES

        if response not in CONSENT_RESPONSES:
            raise ValueError(f"response must be one of {', '.join(CONSENT_RESPONSES)}, got {response!r}")
        with self.state.lock:
            self.state.consent_response = response

    def set_user_consent(self, setting: str) -> None:
        """The tenant's user consent setting: "allow", "verified-low-impact" or "none"."""
        from cipp_setup.sandbox.consent import USER_CONSENT_SETTINGS

        if setting not in USER_CONSENT_SETTINGS:
            raise ValueError(f"setting must be one of {', '.join(USER_CONSENT_SETTINGS)}, got {setting!r}")
        with self.state.lock:
            self.state.user_consent = setting

    def _idp(self, method: str) -> Any:
        found = getattr(self.services.get("idp"), method, None)
        if found is None:
            raise RuntimeError("the identity platform service is not running")
        return found

    def fail_sign_ins(self, code: int, times: int = 1) -> None:
        """The next `times` delegated sign-ins fail with AADSTS`code` (Conditional Access
        53003, MFA 50076 / 50079, not in tenant 50020, bad password 50126)."""
        idp = self.services.get("idp")
        fail = getattr(idp, "fail_sign_ins", None)
        if fail is None:
            raise RuntimeError("the identity platform service is not running")
        fail(int(code), int(times))

    def activate_legacy_api(self) -> dict[str, Any]:
        """The admin's click on "activate the CIPP-API extension" in a legacy CIPP."""
        return dict(self._cipp_action("activate_legacy_api"))

    def create_api_client(
        self, display_name: str, role: str | None = "readonly", ip_ranges: list[str] | None = None
    ) -> dict[str, Any]:
        """The admin creating an API client in a current CIPP (CIPP-API settings page)."""
        return dict(self._cipp_action(
            "create_api_client", display_name=display_name, role=role, ip_ranges=list(ip_ranges or [])
        ))

    def save_to_azure(self) -> Any:
        """The admin's "save to Azure" after creating API clients in a current CIPP."""
        return self._cipp_action("save_to_azure")

    def _cipp_action(self, name: str, **kwargs: Any) -> Any:
        if self.urls is None:
            raise RuntimeError("CIPP actions need a running sandbox (its token authority and URLs)")
        actions = importlib.import_module("cipp_setup.sandbox.cipp_actions")
        action: Callable[..., Any] = getattr(actions, name)
        with self.state.lock:
            return action(self.state, self.tokens, self.urls, **kwargs)

    # --- the Entra admin center -------------------------------------------------------

    def add_and_consent_permission(self, client_app_id: str, resource_app_id: str, scope: str) -> dict[str, Any]:
        """An admin in the Entra admin center: App registrations → (the client) → API
        permissions → Add a permission → (the resource) → Delegated `scope`, then "Grant
        admin consent for (tenant)". The manifest gains the scope and an AllPrincipals
        grant holds it (extended when one exists)."""
        from cipp_setup.sandbox.consent import record_grant
        from cipp_setup.sandbox.state import RequiredResourceAccess, ResourceAccess

        with self.state.lock:
            app = self.state.application_by_app_id(client_app_id)
            client_sp = self.state.service_principal_by_app_id(client_app_id)
            resource_sp = self.state.service_principal_by_app_id(resource_app_id)
            if app is None or client_sp is None:
                raise LookupError(f"no application with appId {client_app_id} (and its service principal)")
            if resource_sp is None:
                raise LookupError(f"no service principal for the resource appId {resource_app_id}")
            exposed = next((p for p in resource_sp.oauth2_permission_scopes if p.value.lower() == scope.lower()), None)
            if exposed is None:
                raise LookupError(f"{resource_sp.display_name} exposes no delegated permission {scope!r}")
            entry = next((r for r in app.required_resource_access
                          if r.resource_app_id.lower() == resource_app_id.lower()), None)
            if entry is None:
                entry = RequiredResourceAccess(resource_app_id=resource_sp.app_id)
                app.required_resource_access.append(entry)
            if not any(a.id == exposed.id for a in entry.resource_access):
                entry.resource_access.append(ResourceAccess(id=exposed.id, type="Scope"))
            grant = record_grant(self.state, client_sp, resource_sp, [exposed.value], None)
            return {"grant_id": grant.id, "scope": grant.scope}

    # --- time, faults, replication, latency -----------------------------------------

    def advance_clock(self, seconds: float) -> float:
        """Move the sandbox clock forward; returns the new sandbox time."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self.state.clock.advance(float(seconds))
        return self.state.clock.now()

    def add_fault(self, fault: Fault) -> Fault:
        fault_rules.validate_fault(fault)
        with self.state.lock:
            self.state.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.state.lock:
            self.state.faults.clear()

    def faults(self) -> list[Fault]:
        with self.state.lock:
            return [dataclasses.replace(f) for f in self.state.faults]

    def set_replication(self, **fields: float) -> Replication:
        """Set replication lag, e.g. ``set_replication(graph_seconds=30, arm_principal_requests=3)``."""
        known = {f.name for f in dataclasses.fields(Replication)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ValueError(f"unknown replication setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        with self.state.lock:
            for name, value in fields.items():
                current = getattr(self.state.replication, name)
                setattr(self.state.replication, name, type(current)(value))
            return dataclasses.replace(self.state.replication)

    def set_latency_ms(self, ms: int) -> None:
        """Latency added to every request of every service (for benchmarks)."""
        if ms < 0:
            raise ValueError("latency cannot be negative")
        self._latency.latency_ms = int(ms)

    # --- request log -----------------------------------------------------------------

    def request_log(self) -> list[RequestRecord]:
        with self.state.lock:
            return list(self.state.request_log)

    def clear_request_log(self) -> None:
        with self.state.lock:
            self.state.request_log.clear()

    # --- over HTTPS ------------------------------------------------------------------

    def handle_http(self, request: Request) -> Response:
        """Answer ``POST /_sandbox/control/{action}`` (the transport routes it here)."""
        presented = request.headers.get(KEY_HEADER) or ""
        if not hmac.compare_digest(presented.encode(), self.key.encode()):
            return _error(403, "Forbidden", f"missing or wrong {KEY_HEADER} header")
        prefix = CONTROL_PATH + "/"
        action_name = request.path[len(prefix):] if request.path.startswith(prefix) else ""
        action = _HTTP_ACTIONS.get(action_name.replace("-", "_"))
        if action is None:
            return _error(404, "NotFound", f"no control action {request.path!r}; "
                                            f"known: {', '.join(sorted(_HTTP_ACTIONS))}")
        if request.method != "POST":
            return _error(405, "MethodNotAllowed", "control actions are called with POST")
        try:
            args = request.json() if request.body else {}
        except (ValueError, UnicodeDecodeError):
            return _error(400, "BadRequest", "the body must be a JSON object")
        if not isinstance(args, dict):
            return _error(400, "BadRequest", "the body must be a JSON object")
        try:
            result = action(self, args)
        except TypeError as exc:
            return _error(400, "BadRequest", f"bad arguments for {action_name}: {exc}")
        except (ValueError, LookupError) as exc:
            return _error(400, "BadRequest", str(exc))
        except Exception as exc:  # noqa: BLE001 - report, don't crash the server
            if type(exc).__name__ == "CippActionError":
                # CIPP's page text, and the underlying error CIPP logs.
                return _error(409, "CippActionError", str(exc), reason=str(getattr(exc, "reason", exc)))
            return _error(500, type(exc).__name__, str(exc))
        return json_response(200, {"result": _jsonable(result)})


def _error(status: int, code: str, message: str, **extra: str) -> Response:
    return json_response(status, {"error": {"code": code, "message": message, **extra}})


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _fault_from_args(args: dict[str, Any]) -> Fault:
    if "spec" in args:
        return fault_rules.parse_fault_spec(str(args["spec"]))
    fields = {f.name for f in dataclasses.fields(Fault)} - {"hits"}
    unknown = sorted(set(args) - fields)
    if unknown:
        raise ValueError(f"unknown fault field(s) {', '.join(unknown)}")
    return Fault(**args)


_HTTP_ACTIONS: dict[str, Callable[[SandboxControl, dict[str, Any]], Any]] = {
    "approve_device_code": lambda c, a: c.approve_device_code(**a),
    "pending_device_codes": lambda c, a: c.pending_device_codes(**a),
    "set_device_code_auto_approve": lambda c, a: c.set_device_code_auto_approve(**a),
    "fail_sign_ins": lambda c, a: c.fail_sign_ins(**a),
    "pending_consents": lambda c, a: c.pending_consents(**a),
    "answer_consent": lambda c, a: c.answer_consent(**a),
    "set_consent_response": lambda c, a: c.set_consent_response(**a),
    "set_user_consent": lambda c, a: c.set_user_consent(**a),
    "activate_legacy_api": lambda c, a: c.activate_legacy_api(**a),
    "create_api_client": lambda c, a: c.create_api_client(**a),
    "save_to_azure": lambda c, a: c.save_to_azure(**a),
    "add_and_consent_permission": lambda c, a: c.add_and_consent_permission(**a),
    "advance_clock": lambda c, a: c.advance_clock(**a),
    "add_fault": lambda c, a: c.add_fault(_fault_from_args(a)),
    "clear_faults": lambda c, a: c.clear_faults(**a),
    "faults": lambda c, a: c.faults(**a),
    "set_replication": lambda c, a: c.set_replication(**a),
    "set_latency_ms": lambda c, a: c.set_latency_ms(**a),
    "request_log": lambda c, a: c.request_log(**a),
    "clear_request_log": lambda c, a: c.clear_request_log(**a),
}


class RemoteControl:
    """The same control interface, for a served sandbox, from its ready document.

    Trusts only the sandbox's CA and ignores proxy/CA environment variables.
    """

    def __init__(self, ready_document: Mapping[str, Any], *, timeout: float = 30.0) -> None:
        import httpx  # lazily: the in-process control needs no HTTP client

        control = ready_document["control"]
        self.url: str = control["url"].rstrip("/")
        self._key: str = control["key"]
        context = ssl.create_default_context(cafile=ready_document["cloud"]["ca_file"])
        self._client = httpx.Client(verify=context, trust_env=False, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RemoteControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def call(self, action: str, **args: Any) -> Any:
        """POST one action; returns its result or raises SandboxControlError."""
        response = self._client.post(
            f"{self.url}/{action}", content=json.dumps(args), headers={KEY_HEADER: self._key,
                                                                      "Content-Type": "application/json"}
        )
        try:
            payload = response.json()
        except ValueError:
            payload = {}
        if response.status_code != 200:
            error = payload.get("error", {}) if isinstance(payload, dict) else {}
            raise SandboxControlError(response.status_code, str(error.get("code", "Error")),
                                      str(error.get("message", response.text)), error.get("reason"))
        return payload.get("result")

    def approve_device_code(self, user_code: str | None = None, upn: str | None = None) -> Any:
        return self.call("approve_device_code", user_code=user_code, upn=upn)

    def pending_device_codes(self) -> list[str]:
        return list(self.call("pending_device_codes"))

    def set_device_code_auto_approve(self, enabled: bool) -> None:
        self.call("set_device_code_auto_approve", enabled=enabled)

    def pending_consents(self) -> list[dict[str, Any]]:
        return list(self.call("pending_consents"))

    def answer_consent(self, answer: str, user_code: str | None = None) -> str:
        return str(self.call("answer_consent", answer=answer, user_code=user_code))

    def set_consent_response(self, response: str) -> None:
        self.call("set_consent_response", response=response)

    def set_user_consent(self, setting: str) -> None:
        self.call("set_user_consent", setting=setting)

    def fail_sign_ins(self, code: int, times: int = 1) -> None:
        self.call("fail_sign_ins", code=code, times=times)

    def activate_legacy_api(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("activate_legacy_api")
        return result

    def create_api_client(
        self, display_name: str, role: str | None = "readonly", ip_ranges: list[str] | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            "create_api_client", display_name=display_name, role=role, ip_ranges=ip_ranges
        )
        return result

    def save_to_azure(self) -> Any:
        return self.call("save_to_azure")

    def add_and_consent_permission(self, client_app_id: str, resource_app_id: str, scope: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("add_and_consent_permission", client_app_id=client_app_id,
                                           resource_app_id=resource_app_id, scope=scope)
        return result

    def advance_clock(self, seconds: float) -> float:
        return float(self.call("advance_clock", seconds=seconds))

    def add_fault(self, fault: Fault | str) -> Fault:
        args = {"spec": fault} if isinstance(fault, str) else {
            k: v for k, v in dataclasses.asdict(fault).items() if k != "hits"}
        return Fault(**self.call("add_fault", **args))

    def clear_faults(self) -> None:
        self.call("clear_faults")

    def faults(self) -> list[Fault]:
        return [Fault(**f) for f in self.call("faults")]

    def set_replication(self, **fields: float) -> Replication:
        return Replication(**self.call("set_replication", **fields))

    def set_latency_ms(self, ms: int) -> None:
        self.call("set_latency_ms", ms=ms)

    def request_log(self) -> list[RequestRecord]:
        return [RequestRecord(**r) for r in self.call("request_log")]

    def clear_request_log(self) -> None:
        self.call("clear_request_log")

"""Faults the sandbox transport injects: latency, throttling, outages, resets, slow answers.

A `Fault` (see `state.py`) matches a request by service, method and a regular expression
searched in the percent-decoded path. The transport asks `plan_faults` what to do with
each request while it holds the state lock, then acts outside the lock:

- ``latency``: wait ``delay_ms`` *before* the service sees the request (several latency
  faults that match add up, and the sandbox-wide ``--latency-ms`` is added on top).
- ``throttle``: answer 429 with ``Retry-After`` and the service's own error body; the
  service never sees the request.
- ``unavailable``: the same with 503.
- ``reset``: close the connection without answering (TCP reset).
- ``slow``: the service handles the request (its writes happen), then the answer waits
  ``delay_ms`` — the case of a client that times out on a call that did succeed.

Only the first matching fault of the last four kinds applies to a request; every
matching latency fault applies. ``times`` limits how many requests a fault hits; its
``hits`` counter is kept on the Fault so tests can read it.

Error bodies follow each real service: Graph's ``{"error": {"code", "message",
"innerError"}}``, ARM's ``{"error": {"code", "message"}}``, the identity platform's
AADSTS envelope, and plain text for the CIPP hosts (App Service answers those itself).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cipp_setup.sandbox.http import Response
from cipp_setup.sandbox.state import Fault, FaultKind

SERVICE_NAMES: tuple[str, ...] = ("idp", "graph", "arm", "cipp", "frontend", "processor")
FAULT_KINDS: tuple[FaultKind, ...] = ("latency", "throttle", "unavailable", "reset", "slow")
# The hosts of a CIPP instance are App Service / Static Web Apps: their own errors are text.
_CIPP_HOSTS = frozenset({"cipp", "frontend", "processor"})


@dataclass
class FaultPlan:
    """What the transport does to one request."""

    delay_ms: int = 0  # sum of matching latency faults: waited before the service runs
    action: Fault | None = None  # the throttle / unavailable / reset / slow fault, if any


def fault_matches(fault: Fault, service: str, method: str, path: str) -> bool:
    if fault.times is not None and fault.hits >= fault.times:
        return False
    if fault.service not in ("*", "") and fault.service.lower() != service.lower():
        return False
    if fault.method not in ("*", "") and fault.method.upper() != method.upper():
        return False
    return not fault.path or re.search(fault.path, path) is not None


def plan_faults(faults: list[Fault], service: str, method: str, path: str) -> FaultPlan:
    """Decide the faults for one request and count their hits. Call with the state lock held."""
    plan = FaultPlan()
    for fault in faults:
        if not fault_matches(fault, service, method, path):
            continue
        if fault.kind == "latency":
            plan.delay_ms += max(0, fault.delay_ms)
            fault.hits += 1
        elif plan.action is None:
            plan.action = fault
            fault.hits += 1
    return plan


def validate_fault(fault: Fault) -> Fault:
    """Raise ValueError (one line) if a fault could never work; return it otherwise."""
    if fault.kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {fault.kind!r}; expected one of {', '.join(FAULT_KINDS)}")
    if fault.service not in ("*", "") and fault.service.lower() not in SERVICE_NAMES:
        raise ValueError(
            f"unknown service {fault.service!r}; expected * or one of {', '.join(SERVICE_NAMES)}"
        )
    if fault.method not in ("*", "") and not fault.method.isalpha():
        raise ValueError(f"bad HTTP method {fault.method!r}")
    try:
        re.compile(fault.path)
    except re.error as exc:
        raise ValueError(f"bad path regular expression {fault.path!r}: {exc}") from None
    if fault.times is not None and fault.times < 1:
        raise ValueError(f"times must be 1 or more, got {fault.times}")
    if fault.kind in ("latency", "slow") and fault.delay_ms <= 0:
        raise ValueError(f"a {fault.kind} fault needs delay_ms=N (milliseconds, more than 0)")
    if fault.retry_after < 0:
        raise ValueError(f"retry_after must be 0 or more, got {fault.retry_after}")
    return fault


_OPTION_KEYS = {"times": "times", "retry_after": "retry_after", "delay_ms": "delay_ms", "ms": "delay_ms"}
_OPTION = re.compile(r"^(times|retry_after|delay_ms|ms)=(.*)$")


def parse_fault_spec(text: str) -> Fault:
    """Parse a fault given on the command line (``--fault SPEC``).

    Grammar::

        SPEC    := KIND [":" SERVICE [":" METHOD [":" PATH]]] {":" OPTION}
        KIND    := latency | throttle | unavailable | reset | slow
        SERVICE := * | idp | graph | arm | cipp | frontend | processor   (default *)
        METHOD  := * | GET | POST | PUT | PATCH | DELETE | ...           (default *)
        PATH    := a regular expression searched in the request path      (default: any)
        OPTION  := times=N | retry_after=SECONDS | delay_ms=MS | ms=MS

    Positional fields may be left empty or ``*`` to mean "any"; options may follow any
    positional field. Examples::

        throttle:graph:GET:/users:times=2:retry_after=1
        unavailable:arm
        reset:cipp:*:/api/ListLogs:times=1
        latency:*:ms=200
        slow:graph:POST:/addPassword$:delay_ms=5000

    A PATH containing ``:`` is not expressible here (use a scenario file). Raises
    ValueError with a one-line message for a bad spec.
    """
    spec = text.strip()
    if not spec:
        raise ValueError("empty fault spec; expected KIND[:SERVICE[:METHOD[:PATH]]][:times=N]...")
    positional: list[str] = []
    options: dict[str, int] = {}
    for part in spec.split(":"):
        option = _OPTION.match(part)
        if option:
            key = _OPTION_KEYS[option.group(1)]
            try:
                options[key] = int(option.group(2))
            except ValueError:
                raise ValueError(
                    f"fault spec {spec!r}: {option.group(1)} needs a whole number, got {option.group(2)!r}"
                ) from None
        elif options:
            raise ValueError(f"fault spec {spec!r}: {part!r} comes after an option; options go last")
        else:
            positional.append(part)
    if len(positional) > 4:
        raise ValueError(
            f"fault spec {spec!r}: too many fields; expected KIND[:SERVICE[:METHOD[:PATH]]] then options"
        )
    kind, service, method, path = positional + [""] * (4 - len(positional))
    service, method = service or "*", method or "*"
    path = "" if path == "*" else path
    fault = Fault(
        kind=kind.lower(),  # type: ignore[arg-type]  # validated just below
        service=service.lower(),
        method=method.upper(),
        path=path,
        times=options.get("times"),
        delay_ms=options.get("delay_ms", 0),
        retry_after=options.get("retry_after", 1),
    )
    try:
        return validate_fault(fault)
    except ValueError as exc:
        raise ValueError(f"fault spec {spec!r}: {exc}") from None


# --- error bodies -------------------------------------------------------------------------


def _utc(now: float, fmt: str) -> str:
    return time.strftime(fmt, time.gmtime(now))


def _graph_error(status: int, code: str, message: str, now: float) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    inner: dict[str, Any] = {
        "date": _utc(now, "%Y-%m-%dT%H:%M:%S"),
        "request-id": request_id,
        "client-request-id": request_id,
    }
    if status == 429:
        # The throttling sample in Graph's docs adds these three to innerError.
        inner.update({"code": "429", "message": "Please retry after", "status": "429"})
    return {"error": {"code": code, "message": message, "innerError": inner}}


def _idp_error(error: str, aadsts: int, message: str, now: float, authority_host: str) -> dict[str, Any]:
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    timestamp = _utc(now, "%Y-%m-%d %H:%M:%SZ")
    return {
        "error": error,
        "error_description": (
            f"AADSTS{aadsts}: {message}\r\nTrace ID: {trace_id}\r\n"
            f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}"
        ),
        "error_codes": [aadsts],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{authority_host}/error?code={aadsts}",
    }


# (graph code, arm code, idp (error, AADSTS, text), message) per status the transport makes.
_GRAPH_CODES = {429: "TooManyRequests", 503: "serviceNotAvailable", 500: "generalException"}
_GRAPH_MESSAGES = {
    429: "Please retry again later.",
    503: "The service is currently unavailable. Please retry later.",
    500: "An internal server error occurred.",
}
_ARM_CODES = {429: "TooManyRequests", 503: "ServiceUnavailable", 500: "InternalServerError"}
_ARM_MESSAGES = {
    429: "The request is being throttled as the limit has been reached for this operation type. "
    "Please retry after the time given in the Retry-After header.",
    503: "The service is temporarily unavailable. Please try again later.",
    500: "The server encountered an internal error. Please retry the request.",
}
_IDP_ERRORS = {
    429: ("temporarily_unavailable", 90055, "TenantThrottlingError - There are too many incoming requests."),
    503: ("temporarily_unavailable", 90033, "A transient error has occurred. Please try again."),
    500: ("server_error", 50000, "TokenIssuanceError - There's an issue with the sign-in service."),
}
_TEXT = {429: "Too Many Requests", 503: "Service Unavailable", 500: "Internal Server Error"}


def error_response(
    service: str,
    status: int,
    now: float,
    *,
    detail: str | None = None,
    authority_host: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    """An error the transport itself produces (429, 503, 500) in `service`'s own shape.

    `detail` replaces the standard message (used for a service exception's 500).
    """
    extra = dict(headers or {})
    payload: Any
    if service == "graph":
        payload = _graph_error(status, _GRAPH_CODES.get(status, "generalException"),
                               detail or _GRAPH_MESSAGES.get(status, "Error."), now)
        extra.setdefault("request-id", payload["error"]["innerError"]["request-id"])
    elif service == "arm":
        payload = {"error": {"code": _ARM_CODES.get(status, "InternalServerError"),
                             "message": detail or _ARM_MESSAGES.get(status, "Error.")}}
        request_id = str(uuid.uuid4())
        extra.setdefault("x-ms-request-id", request_id)
        extra.setdefault("x-ms-correlation-request-id", request_id)
    elif service == "idp":
        error, code, text = _IDP_ERRORS.get(status, _IDP_ERRORS[500])
        payload = _idp_error(error, code, detail or text, now, authority_host)
    elif service in _CIPP_HOSTS and status != 500:
        body = (detail or _TEXT.get(status, "Error")).encode("utf-8")
        extra.setdefault("Content-Type", "text/plain; charset=utf-8")
        return Response(status=status, body=body, headers=extra)
    else:
        # Unknown services (test fakes) and a CIPP host's crash: a plain JSON error.
        payload = {"error": {"code": _ARM_CODES.get(status, "InternalServerError"),
                             "message": detail or _TEXT.get(status, "Error")}}
    extra.setdefault("Content-Type", "application/json; charset=utf-8")
    return Response(status=status, body=json.dumps(payload, separators=(",", ":")).encode(), headers=extra)


def fault_response(service: str, fault: Fault, now: float, *, authority_host: str = "") -> Response:
    """The answer a throttle (429) or unavailable (503) fault gives instead of the service."""
    status = 429 if fault.kind == "throttle" else 503
    return error_response(
        service, status, now,
        authority_host=authority_host,
        headers={"Retry-After": str(fault.retry_after)},
    )

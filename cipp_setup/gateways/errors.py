"""The project's own exceptions for what a Microsoft service (or CIPP) answered.

Gateways translate SDK exceptions into these, classified by HTTP status and the
service's error code, never by message text. Checks catch the ones they can explain
(`NotFound`, `PermissionDenied`) and let the rest reach the runner, which turns a
`ServiceFailure` into an `error` result with its cause.
"""

from __future__ import annotations

from cipp_setup.engine.runner import ServiceFailure


class NotFound(Exception):
    """The object asked for does not exist (Graph 404 Request_ResourceNotFound, ARM 404)."""

    def __init__(self, what: str, code: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.code = code


class PermissionDenied(ServiceFailure):
    """The signed-in admin may not read this (Graph 403, ARM 403 AuthorizationFailed)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__("permission-denied", message)
        self.code = code


class TokenRefused(PermissionDenied):
    """No token for a service: the identity platform refused the token request (a
    sign-in problem; after a 401 it means the saved sign-in is stale)."""


class BadRequest(ServiceFailure):
    """The service rejected the request as malformed (a filter it does not support, ...).

    Surfaces as an `internal-error`: our request was wrong, not the tenant.
    """

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__("internal-error", message)
        self.code = code


class SignInRequired(Exception):
    """No usable sign-in, and the run may not prompt (exit code 4)."""


class SignInFailed(Exception):
    """The identity platform refused the sign-in; `code` is the AADSTS number when known."""

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"AADSTS{self.code}: {self.message}" if self.code else self.message


def failure_for_status(status: int, service: str, detail: str = "") -> ServiceFailure:
    """The engine cause for an answer that means "could not get an answer"."""
    suffix = f" ({detail})" if detail else ""
    if status == 429:
        return ServiceFailure("throttled", f"{service} kept answering 429 Too Many Requests{suffix}.")
    if status in (502, 503, 504):
        return ServiceFailure(
            "service-unavailable", f"{service} kept answering {status} (unavailable){suffix}."
        )
    return ServiceFailure("internal-error", f"{service} answered HTTP {status}{suffix}.")

"""A token the service refused is a stale sign-in, not a missing Azure role.

A 401 from Graph or ARM (`InvalidAuthenticationToken`, `ExpiredAuthenticationToken`)
means the bearer token itself was not accepted: revoked, signed by a key the service no
longer trusts, or issued by another instance that shares the tenant id (seen: a saved
sign-in against one served sandbox handed ARM a cached token from an earlier one, and
the check blamed the admin's Azure role). A 403 is the RBAC answer; a 401 never is.

So a gateway that gets a 401 drops the token and asks for a fresh one, once:

- `RenewableCredential.renew(scope)` makes the next token request for that scope skip
  every cache. azure-identity has no "force refresh"; what it has is the claims
  challenge, which msal answers from the refresh token, never from the access-token
  cache (and which the identity platform honours: a token with `nbf` at or after the
  time asked for). The SDK clients keep their own copy of the token (azure-core's
  bearer policy, our async adapter), so the gateway also drops those.
- a second 401, or a fresh token that cannot be had, ends as `sign-in-expired`:
  "sign in again", never `permission-denied`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from cipp_setup.engine.runner import ServiceFailure

T = TypeVar("T")

SIGN_IN_EXPIRED = "sign-in-expired"


class TokenRejected(Exception):
    """The service answered 401: the token was not accepted (see the module doc)."""

    def __init__(self, service: str, what: str, label: str) -> None:
        super().__init__(f"{service} did not accept the sign-in's token reading {what} ({label})")
        self.service = service
        self.what = what
        self.label = label


def fresh_token_claims(now: float | None = None) -> str:
    """A claims request msal cannot answer from its access-token cache: a token not
    valid before now (the shape of a CAE claims challenge)."""
    moment = int(time.time() if now is None else now)
    return json.dumps({"access_token": {"nbf": {"essential": True, "value": str(moment)}}},
                      separators=(",", ":"))


def sign_in_again(rejected: TokenRejected, *, refreshed: bool) -> ServiceFailure:
    """The failure after the one fresh try: the saved sign-in is stale."""
    how = ("and refused the fresh one too" if refreshed else
           "and no fresh token could be had (the sign-in no longer refreshes)")
    return ServiceFailure(
        SIGN_IN_EXPIRED,
        f"{rejected.service} did not accept the sign-in's token reading {rejected.what} "
        f"({rejected.label}), {how}. Sign in again ('cipp-setup login', or 'az login' with "
        f"--auth azure-cli) and re-run.",
    )


class RenewableCredential:
    """The session's credential, able to skip its caches once per scope after a 401.

    Every other call passes straight through, so the sign-in's serialisation
    (signin_cache.SerializedCredential) and its record stay in charge."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._renew: set[str] = set()
        self.renewals = 0  # fresh tokens asked for after a 401 (for tests and -v)
        # azure-core asks get_token_info of any credential that has it; azure-identity
        # before 1.18 has none, so the wrapper offers it only where the inner one does.
        if hasattr(inner, "get_token_info"):
            self.get_token_info = self._get_token_info

    @property
    def inner(self) -> Any:
        return self._inner

    def renew(self, *scopes: str) -> None:
        with self._lock:
            self._renew.update(scopes)

    def _claims_for(self, scopes: tuple[str, ...], kwargs: dict[str, Any]) -> None:
        with self._lock:
            due = [s for s in scopes if s in self._renew]
            for scope in due:
                self._renew.discard(scope)
        if due and not kwargs.get("claims"):
            self.renewals += 1
            kwargs["claims"] = fresh_token_claims()

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        self._claims_for(scopes, kwargs)
        return self._inner.get_token(*scopes, **kwargs)

    def _get_token_info(self, *scopes: str, options: Any = None) -> Any:
        merged = dict(options or {})
        self._claims_for(scopes, merged)
        return self._inner.get_token_info(*scopes, options=merged or options)

    def close(self) -> None:
        self._inner.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def once_more_on_rejection(
    operation: Callable[[], Awaitable[T]], *, credential: Any, scopes: Sequence[str],
    drop_cached: Callable[[], None],
) -> T:
    """Run `operation` (the retrying call); on TokenRejected drop the token (the
    credential's caches for `scopes`, the clients' copies through `drop_cached`) and run
    it once more. A second rejection, or a fresh token the identity platform refuses, is
    `sign-in-expired`; a transient failure stays what it is."""
    from cipp_setup.gateways.errors import TokenRefused

    try:
        return await operation()
    except TokenRejected as first:
        if not isinstance(credential, RenewableCredential):
            raise sign_in_again(first, refreshed=False) from None
        credential.renew(*scopes)
        drop_cached()
        try:
            return await operation()
        except TokenRejected as second:
            raise sign_in_again(second, refreshed=True) from None
        except TokenRefused:
            raise sign_in_again(first, refreshed=False) from None

"""What a check gets to work with: the run's inputs, the service gateways, shared look-ups."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

from cipp_setup.engine.result import CheckResult, Generation, Profile, Secret, ServiceFailure

if TYPE_CHECKING:
    from cipp_setup.cloud import Cloud

T = TypeVar("T")

# A shared look-up that failed transiently is flown again once (each flight has the
# gateway's own retry budget inside it).
SHARED_ATTEMPTS = 2


@dataclass(frozen=True)
class CheckInputs:
    """What the user told us (flags, prompts, a profile), validated by the front end."""

    tenant: str  # tenant id or a verified domain
    sam_user: str | None = None  # UPN or object id; None → found in the tenant (checks/_lookups.py)
    # Why `sam_user` is this user, for every output: "--sam-user", or the wizard's question.
    sam_user_source: str = "--sam-user"
    sam_app_id: str | None = None  # appId; None → the application named CIPP-SAM
    subscription_id: str | None = None
    api_url: str | None = None  # normalised: https://host, no trailing slash, no /api
    api_client_id: str | None = None
    api_client_secret: Secret | None = None
    generation: Generation | None = None  # None: decided from evidence (auto)
    # Auto, when the tenant shows neither generation: this one, and why (a sandbox run
    # takes its scenario's generation, as it takes the scenario's other identities).
    generation_default: tuple[Generation, str] | None = None
    # The CIPP version the admin gave (--cipp-version, or read in CIPP and typed in the
    # wizard): it decides the profile. None: decided from the tenant and GetVersion.
    cipp_version: str | None = None
    # The decided profile (set by the engine once the evidence says; None: unknown).
    # Profile-dependent fixes plan only when this is set, never on a guess.
    profile: Profile | None = None
    # A sandbox run: the scenario's version answers when the tenant shows none, as its
    # generation does.
    profile_default: tuple[Profile, str] | None = None
    # The CIPP Function App: a name or a Microsoft.Web/sites resource id; None → derived
    # from api_url's {name}.azurewebsites.net host (current-generation checks).
    function_app: str | None = None
    ignore: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SignedInAdmin:
    object_id: str
    user_principal_name: str
    tenant_id: str
    # "user" for a person; "app" when a service principal signed in (--auth client-secret),
    # which cannot stand in for the CIPP-SAM user.
    kind: str = "user"
    # Why this sign-in's token cannot use Graph's PIM and role-management endpoints (the
    # Azure CLI's: 403 PermissionScopeNotGranted), known before any request; None: it can.
    role_management_blocked: str | None = None


@dataclass
class CheckContext:
    """Per-run state shared by the checks. Built by the front end, used by the engine.

    `gateways` is whatever object the front end wired up (see cipp_setup.gateways); the
    engine itself does not care. `shared()` lets concurrent checks share one look-up
    (resolving the CIPP-SAM user, say) instead of each sending the same request.
    """

    inputs: CheckInputs
    cloud: Cloud
    gateways: Any
    admin: SignedInAdmin | None = None
    results: dict[str, CheckResult] = field(default_factory=dict)
    _shared: dict[str, asyncio.Future[Any]] = field(default_factory=dict)

    async def shared(self, key: str, factory: Callable[[], Awaitable[T]]) -> T:
        """Run `factory` once per key per run; concurrent callers await the same answer.

        An answer, or a failure that says something about the tenant, is shared: every
        check that needed the look-up sees it. A transient failure (throttled, outage,
        no answer in time: the gateway's retry budget was spent) is not kept: the flight
        is forgotten, and each waiter asks once more, together (one new flight), so one
        slow answer does not become every check's `network` error.
        """
        for attempt in range(1, SHARED_ATTEMPTS + 1):
            future = self._shared.get(key)
            if future is None:
                future = asyncio.get_running_loop().create_future()
                self._shared[key] = future
                try:
                    future.set_result(await factory())
                except BaseException as exc:  # noqa: BLE001 - handed to every waiter
                    if isinstance(exc, ServiceFailure) and exc.transient and self._shared.get(key) is future:
                        del self._shared[key]
                    future.set_exception(exc)
            try:
                return await asyncio.shield(future)
            except ServiceFailure as exc:
                if not exc.transient or attempt == SHARED_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def forget(self, key_prefix: str = "") -> None:
        """Drop shared look-ups (after a fix changed the tenant, re-checks must re-read)."""
        for key in [k for k in self._shared if k.startswith(key_prefix)]:
            del self._shared[key]

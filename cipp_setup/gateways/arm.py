"""Azure Resource Manager, through azure-mgmt-authorization and the subscriptions client.

The ARM SDKs are synchronous: each call runs in a worker thread (gateways/threads.py: a daemon thread that never holds Ctrl-C's exit) so
the event loop keeps the Graph requests going meanwhile. azure-core's own retries are
off (`retry_total=0`); `RetryPolicy` retries 429/503/504 as Retry-After says, with an
injectable sleep. Role assignments are only ever read with a filter:
`atScope() and assignedTo('{objectId}')` at one scope — never the full list.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from cipp_setup.cloud import Cloud
from cipp_setup.engine.runner import ServiceFailure
from cipp_setup.gateways.errors import BadRequest, NotFound, PermissionDenied, failure_for_status
from cipp_setup.gateways.retry import RETRYABLE_STATUSES, Retryable, RetryPolicy, parse_retry_after
from cipp_setup.gateways.stale_token import TokenRejected, once_more_on_rejection
from cipp_setup.gateways.threads import in_thread

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

T = TypeVar("T")

ARM_CONNECT_TIMEOUT_S = 15
ARM_READ_TIMEOUT_S = 60


@dataclass(frozen=True)
class SubscriptionInfo:
    id: str
    display_name: str
    state: str


@dataclass(frozen=True)
class ArmRoleAssignment:
    id: str
    scope: str
    role_definition_id: str  # the GUID at the end of the definition's resource id
    principal_id: str
    principal_type: str


@dataclass(frozen=True)
class ArmRolePermissions:
    """What a role definition allows (control-plane actions only)."""

    role_definition_id: str
    role_name: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]


@dataclass(frozen=True)
class ArmRoleEligibility:
    scope: str
    role_definition_id: str
    principal_id: str
    end: datetime | None


def role_guid(definition_id: str | None) -> str:
    return (definition_id or "").rstrip("/").rsplit("/", 1)[-1].lower()


def _state(value: Any) -> str:
    """The SDK's SubscriptionState enum (or a plain string) as ARM spells it: "Enabled"."""
    return str(getattr(value, "value", value) or "")


def subscription_scope(subscription_id: str) -> str:
    return f"/subscriptions/{subscription_id}"


def arm_client_kwargs(cloud: Cloud, scope: str | None = None) -> dict[str, Any]:
    """Keyword arguments for every azure-mgmt client (authorization, subscriptions, web):
    the cloud's ARM endpoint and token scope, our retries instead of azure-core's, and the
    run's trust and proxies (gateways/transport.py) with ARM's timeouts."""
    from cipp_setup.gateways.transport import azure_client_kwargs

    return {
        "base_url": cloud.arm_url,
        "credential_scopes": [scope or cloud.arm_scope],
        "retry_total": 0,
        **azure_client_kwargs(
            cloud, connection_timeout=ARM_CONNECT_TIMEOUT_S, read_timeout=ARM_READ_TIMEOUT_S
        ),
    }


class ArmGateway:
    def __init__(
        self,
        cloud: Cloud,
        credential: TokenCredential,
        retry: RetryPolicy | None = None,
        scope: str | None = None,
    ) -> None:
        self._cloud = cloud
        # The token scope: the sign-in's (gateways/auth.arm_scope), `.default` by default.
        self._scope = scope or cloud.arm_scope
        self._credential = credential
        self._retry = retry or RetryPolicy()
        self._token_ready: asyncio.Task[Any] | None = None
        self._clients: dict[str, Any] = {}
        self._retired: dict[str, Any] = {}  # clients holding a refused token, closed at close()
        self.request_count = 0

    def _drop_cached_tokens(self) -> None:
        """After a 401: the clients' bearer policies keep the refused token until it
        expires, so new clients are made (the old ones may still be in use in a worker
        thread: they are closed with the rest)."""
        retire_clients(self._clients, self._retired)

    def _client_kwargs(self) -> dict[str, Any]:
        return arm_client_kwargs(self._cloud, self._scope)

    def _authorization(self, subscription_id: str) -> Any:
        key = f"authz:{subscription_id}"
        if key not in self._clients:
            from azure.mgmt.authorization import AuthorizationManagementClient

            self._clients[key] = AuthorizationManagementClient(
                self._credential, subscription_id, **self._client_kwargs()
            )
        return self._clients[key]

    def _subscriptions(self) -> Any:
        if "subs" not in self._clients:
            from azure.mgmt.resource.subscriptions import SubscriptionClient

            self._clients["subs"] = SubscriptionClient(self._credential, **self._client_kwargs())
        return self._clients["subs"]

    def prefetch_token(self) -> None:
        """Start getting the ARM token now (one refresh-token round trip), so it overlaps
        with the first Graph reads instead of delaying the first ARM request."""
        if self._token_ready is None:
            from cipp_setup.gateways.auth import USE_CAE

            self._token_ready = asyncio.create_task(
                in_thread(self._credential.get_token, self._scope, enable_cae=USE_CAE)
            )

    async def _call(self, what: str, blocking: Callable[[], T]) -> T:
        if self._token_ready is not None:
            try:
                await asyncio.shield(self._token_ready)
            except Exception as exc:  # noqa: BLE001 - reported as the ARM call's failure
                raise self._classify(what, exc) from None

        async def attempt() -> T:
            self.request_count += 1
            try:
                return await in_thread(blocking)
            except Exception as exc:  # noqa: BLE001 - classified below
                raise self._classify(what, exc) from None

        return await once_more_on_rejection(
            lambda: self._retry.run(attempt), credential=self._credential, scopes=(self._scope,),
            drop_cached=self._drop_cached_tokens,
        )

    @staticmethod
    def _classify(what: str, exc: Exception) -> Exception:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        if isinstance(exc, ClientAuthenticationError) and _from_token_request(exc):
            from cipp_setup.gateways.graph import token_failure

            return token_failure(exc, "Azure Resource Manager")
        if isinstance(exc, HttpResponseError):
            status = exc.status_code or 0
            code = getattr(exc.error, "code", None) if exc.error is not None else None
            if status in RETRYABLE_STATUSES:
                headers = getattr(exc.response, "headers", None) or {}
                retry_after = parse_retry_after(headers.get("Retry-After"))
                return Retryable(
                    status, retry_after, failure_for_status(status, "Azure Resource Manager", what)
                )
            if status == 404:
                return NotFound(what, code)
            if status == 401:  # the token, not the admin's role (stale_token.py)
                return TokenRejected("Azure Resource Manager", what, f"401 {code or ''}".strip())
            if status == 403:
                return PermissionDenied(
                    f"Azure Resource Manager refused to read {what} ({status} {code or ''}).".replace(" )", ")"),
                    code,
                )
            if status == 400:
                return BadRequest(f"Azure Resource Manager rejected the request for {what} ({code}).", code)
            if status >= 500:
                return ServiceFailure(
                    "service-unavailable", f"Azure Resource Manager failed reading {what} (HTTP {status})."
                )
            return ServiceFailure("internal-error", f"Azure Resource Manager answered {status} reading {what}.")
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
            from cipp_setup.gateways.transport import (
                connection_failure,
                is_connection_failure,
                is_retryable_read_failure,
            )

            if isinstance(exc, ServiceRequestError) or is_connection_failure(exc):
                failure = connection_failure(exc, "Azure Resource Manager")
            else:
                failure = ServiceFailure(
                    "network", f"Azure Resource Manager did not answer reading {what} ({type(exc).__name__})."
                )
            # Every call here is a read: a reset or a read timeout is worth another try.
            if isinstance(exc, ServiceResponseError) or is_retryable_read_failure(exc):
                return Retryable(0, None, failure)
            return failure
        from cipp_setup.gateways.transport import identity_failure

        return identity_failure(exc) or exc

    # ----- subscriptions -----

    async def get_subscription(self, subscription_id: str) -> SubscriptionInfo:
        """Raises NotFound when it does not exist or the admin cannot see it."""
        sub = await self._call(
            f"subscription {subscription_id}", lambda: self._subscriptions().subscriptions.get(subscription_id)
        )
        return SubscriptionInfo(str(sub.subscription_id), sub.display_name or "", _state(sub.state))

    async def visible_subscriptions(self, limit: int = 50) -> list[SubscriptionInfo]:
        """The subscriptions the admin can see: the first page only (enough to say "the only
        one" or to list the candidates), never the whole list of a large estate."""

        def first_page() -> list[Any]:
            pages = self._subscriptions().subscriptions.list().by_page()
            return list(next(pages, []))[:limit]

        subs = await self._call("the subscriptions you can see", first_page)
        return [SubscriptionInfo(str(s.subscription_id), s.display_name or "", _state(s.state)) for s in subs]

    # ----- role assignments -----

    async def role_assignments_at(self, scope: str, principal_id: str, subscription_id: str) -> list[ArmRoleAssignment]:
        """Assignments that apply at `scope` (made there or above it) to the principal or
        its groups: `atScope() and assignedTo('{id}')`."""
        flt = f"atScope() and assignedTo('{principal_id}')"

        def read() -> list[Any]:
            return list(self._authorization(subscription_id).role_assignments.list_for_scope(scope, filter=flt))

        items = await self._call(f"role assignments at {scope}", read)
        return [
            ArmRoleAssignment(
                id=str(a.id), scope=str(a.scope or ""), role_definition_id=role_guid(a.role_definition_id),
                principal_id=str(a.principal_id or "").lower(), principal_type=str(a.principal_type or ""),
            )
            for a in items
        ]

    async def role_eligibilities_for(self, scope: str, principal_id: str, subscription_id: str) -> list[ArmRoleEligibility]:
        """PIM for Azure resources: eligibilities of the principal (and its groups)."""
        flt = f"assignedTo('{principal_id}')"

        def read() -> list[Any]:
            ops = self._authorization(subscription_id).role_eligibility_schedule_instances
            return list(ops.list_for_scope(scope, filter=flt))

        items = await self._call(f"PIM eligibilities at {scope}", read)
        return [
            ArmRoleEligibility(
                scope=str(e.scope or ""), role_definition_id=role_guid(e.role_definition_id),
                principal_id=str(e.principal_id or "").lower(), end=e.end_date_time,
            )
            for e in items
        ]

    async def role_definition(self, scope: str, role_definition_id: str, subscription_id: str) -> ArmRolePermissions:
        """One role definition by its GUID, read at `scope`. Raises NotFound."""

        def read() -> Any:
            return self._authorization(subscription_id).role_definitions.get(scope, role_definition_id)

        rd = await self._call(f"role definition {role_definition_id}", read)
        actions: list[str] = []
        not_actions: list[str] = []
        for permission in rd.permissions or ():
            actions.extend(permission.actions or ())
            not_actions.extend(permission.not_actions or ())
        return ArmRolePermissions(role_guid(rd.id or role_definition_id), str(rd.role_name or ""),
                                  tuple(actions), tuple(not_actions))

    async def close(self) -> None:
        await close_clients(self._clients)
        await close_clients(self._retired)


def _from_token_request(exc: Exception) -> bool:
    """azure-identity's failure getting a token (no answer, or the identity platform's
    own error) rather than ARM's 401, which azure-core also raises as
    ClientAuthenticationError."""
    response = getattr(exc, "response", None)
    if response is None:
        return True
    request = getattr(response, "request", None)
    return "/oauth2/" in str(getattr(request, "url", ""))


def retire_clients(clients: dict[str, Any], retired: dict[str, Any]) -> None:
    """Move `clients` aside (to be closed later) so the next call builds new ones."""
    for key in list(clients):
        client = clients.pop(key, None)
        if client is not None:
            retired[f"{key}#{len(retired)}"] = client


def _close_each(clients: list[Any]) -> None:
    for client in clients:
        try:
            client.close()
        except Exception:  # noqa: BLE001 - shutting down: one client's failure must not keep the others open
            pass


async def close_clients(clients: dict[str, Any]) -> None:
    """Close SDK clients safely against concurrent use and cancellation: a worker thread
    may still be creating one (a check cancelled by Ctrl-C), so the dict is snapshotted
    and emptied first, and the closing thread is shielded from the caller's cancel."""
    snapshot = list(clients.values())
    clients.clear()
    if snapshot:
        await asyncio.shield(in_thread(_close_each, snapshot))

"""Azure Resource Manager writes for the fixes: role assignments, through
azure-mgmt-authorization.

`ArmWrites` extends the read gateway (`ArmGateway`) to reuse its client construction
(cloud base URL, CA, credential scopes, azure-core retries off, timeouts) and its token
prefetch; only the error classification differs, because a refused write must name the
role it needs instead of saying "could not read". ARM's only delegated permission is
`user_impersonation`, which is what the read token already carries.

Classified by status and ARM error code: 409 `RoleAssignmentExists` → already-exists;
400 `PrincipalNotFound` → principal-not-found (replication: retried by the fix engine);
403 `AuthorizationFailed` → permission-denied; 429/503/504 → retried by `RetryPolicy`.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Callable, TypeVar

from cipp_setup.engine.writes import WriteRefused
from cipp_setup.gateways.arm import ArmGateway
from cipp_setup.gateways.retry import RETRYABLE_STATUSES, Retryable, parse_retry_after
from cipp_setup.gateways.threads import in_thread

T = TypeVar("T")


def classify_arm_write(what: str, exc: Exception) -> Exception:
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(exc, ClientAuthenticationError) and exc.response is None:
        from cipp_setup.gateways.auth import translate_auth_error

        return WriteRefused("sign-in-required", f"No Azure Resource Manager token: {translate_auth_error(exc)}")
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        code = getattr(exc.error, "code", None) if exc.error is not None else None
        label = f"{status} {code}" if code else str(status)
        if status in RETRYABLE_STATUSES:
            headers = exc.response.headers if exc.response is not None else {}  # type: ignore[attr-defined]
            retry_after = parse_retry_after(headers.get("Retry-After"))
            cause = "throttled" if status == 429 else "service-unavailable"
            final = WriteRefused(cause, f"Azure Resource Manager kept answering {status} while {what}.",
                                 status=status, code=code, retry_after_s=retry_after)
            return Retryable(status, retry_after, final)
        if code == "RoleAssignmentExists" or status == 409:
            return WriteRefused("already-exists", f"Azure Resource Manager: already exists ({label}).",
                                status=status, code=code)
        if code == "PrincipalNotFound":
            return WriteRefused("principal-not-found",
                                f"Azure Resource Manager does not see the principal yet ({label}).",
                                status=status, code=code)
        if status == 401:  # the token was not accepted: a stale sign-in, not a missing role
            return WriteRefused("sign-in-required", f"Azure Resource Manager did not accept the sign-in's token while "
                                f"{what} ({label}): sign in again ('cipp-setup login --for fix').",
                                status=status, code=code)
        if status == 403:
            return WriteRefused("permission-denied", f"Azure Resource Manager refused {what} ({label}).",
                                status=status, code=code)
        if status == 404:
            return WriteRefused("not-found", f"Azure Resource Manager found nothing while {what} ({label}).",
                                status=status, code=code)
        if status >= 500:
            return WriteRefused("service-unavailable", f"Azure Resource Manager failed while {what} ({label}).",
                                status=status, code=code)
        return WriteRefused("bad-request", f"Azure Resource Manager rejected {what} ({label}).",
                            status=status, code=code)
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        from cipp_setup.gateways.transport import describe_connection_failure

        # ServiceResponseError: the request went out and no answer came (a read timeout,
        # a reset) — it may have landed ("no-answer": the engine reads the tenant back).
        cause = "no-answer" if isinstance(exc, ServiceResponseError) else "network"
        return WriteRefused(cause, f"While {what}: "
                            + describe_connection_failure(exc, "Azure Resource Manager"))
    return exc


def subscription_of(scope: str) -> str:
    parts = scope.strip("/").split("/")
    if len(parts) >= 2 and parts[0].lower() == "subscriptions":
        return parts[1]
    raise ValueError(f"not a subscription scope: {scope}")


class ArmWrites(ArmGateway):
    """The ARM half of `TenantWrites`."""

    async def _write(self, what: str, blocking: Callable[[], T]) -> T:
        if self._token_ready is not None:
            try:
                await asyncio.shield(self._token_ready)
            except Exception as exc:  # noqa: BLE001 - reported as this write's failure
                raise classify_arm_write(what, exc) from None

        async def attempt() -> T:
            self.request_count += 1
            try:
                return await in_thread(blocking)
            except Exception as exc:  # noqa: BLE001 - classified below
                raise classify_arm_write(what, exc) from None

        return await self._retry.run(attempt)

    async def create_arm_role_assignment(
        self, scope: str, role_definition_id: str, principal_id: str, principal_type: str
    ) -> str:
        from azure.mgmt.authorization.models import RoleAssignmentCreateParameters

        subscription_id = subscription_of(scope)
        definition = f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role_definition_id}"
        # principalType tells ARM not to wait for the directory to confirm the principal,
        # which avoids most PrincipalNotFound answers for a principal created moments ago.
        # (mypy resolves the model of the oldest API version; the client uses 2022-04-01)
        parameters = RoleAssignmentCreateParameters(  # type: ignore[call-arg]
            role_definition_id=definition, principal_id=principal_id, principal_type=principal_type,
        )
        # One name per change, reused on every retry: a PUT of the same name is idempotent.
        name = str(uuid.uuid4())

        def create() -> Any:
            return self._authorization(subscription_id).role_assignments.create(scope, name, parameters)

        try:
            created = await self._write("creating the role assignment", create)
        except WriteRefused as exc:
            if exc.cause != "no-answer":
                raise
            # No answer to the PUT: the assignment's name is ours alone, so reading it by
            # name says whether this PUT landed.
            def read_back() -> Any:
                return self._authorization(subscription_id).role_assignments.get(scope, name)

            try:
                created = await self._write("reading the role assignment back", read_back)
            except WriteRefused as again:
                if again.cause == "not-found":
                    raise WriteRefused("not-landed", f"{exc.message} Read back by name: it did not land.",
                                       status=exc.status, code=exc.code) from None
                raise exc from None
        return str(created.id)

    async def delete_arm_role_assignment(self, assignment_id: str) -> bool:
        subscription_id = subscription_of(assignment_id)

        def delete() -> Any:
            return self._authorization(subscription_id).role_assignments.delete_by_id(assignment_id)

        try:
            removed = await self._write("removing the role assignment", delete)
        except WriteRefused as exc:
            if exc.cause == "not-found":
                return False
            raise
        # ARM answers 204 with no body when there was nothing to delete.
        return removed is not None

    async def find_arm_role_assignment(self, scope: str, role_definition_id: str, principal_id: str) -> str | None:
        """The id of the assignment of this role to this principal made exactly at `scope`
        (a 409 RoleAssignmentExists names none), or None."""
        subscription_id = subscription_of(scope)
        flt = f"assignedTo('{principal_id}')"

        def read() -> list[Any]:
            return list(self._authorization(subscription_id).role_assignments.list_for_scope(scope, filter=flt))

        for a in await self._write("reading the role assignments back", read):
            if (str(a.principal_id or "").lower() == principal_id.lower()
                    and str(a.scope or "").lower().rstrip("/") == scope.lower().rstrip("/")
                    and str(a.role_definition_id or "").lower().rstrip("/").endswith(role_definition_id.lower())):
                return str(a.id)
        return None

    async def arm_role_assignment_exists(self, assignment_id: str) -> bool:
        subscription_id = subscription_of(assignment_id)

        def get() -> Any:
            return self._authorization(subscription_id).role_assignments.get_by_id(assignment_id)

        try:
            await self._write("reading the role assignment", get)
        except WriteRefused as exc:
            if exc.cause == "not-found":
                return False
            raise
        return True

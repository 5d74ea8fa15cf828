"""The one entry point the front ends call to diagnose a tenant: sign in if needed,
wire the gateways, run the checks, hand back a `Diagnosis`.

Sign-in happens only when a selected check talks to Graph or ARM; an API-only run
(`--only api-token api-list-logs`) needs no admin. Sign-in errors (`SignInRequired`,
`SignInFailed` from cipp_setup.gateways.errors) propagate to the front end, which maps
them to exit code 4 and 1.

Request depth (round trips that must happen one after another), per check, after sign-in:
sam-user-global-admin 1, sam-app-azure-management-consent 2 (3 if the CIPP-SAM service
principal's name differs from the app's), sam-user-subscription-contributor 1 with
--subscription and an object id, else 2 (3 when failing: the PIM read), api-token 2
(msal discovery, token), api-list-logs 1 after api-token. Checks run concurrently, and
the ARM token is fetched while the first Graph reads are in flight.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from cipp_setup.cloud import Cloud
from cipp_setup.engine.context import CheckContext, CheckInputs, SignedInAdmin
from cipp_setup.engine.model import CheckResult, CheckSpec, Generation, Secret
from cipp_setup.engine.runner import RunReport, run_checks
from cipp_setup.gateways.retry import RetryPolicy

if TYPE_CHECKING:
    from cipp_setup.gateways.auth import AdminSession

ADMIN_SERVICES = frozenset({"graph", "arm"})


@dataclass(frozen=True)
class ConnectionOptions:
    cloud: Cloud
    auth: str  # device-code | browser | azure-cli | client-secret
    interactive: bool  # False: never prompt; no cached sign-in → SignInRequired
    device_code_callback: Callable[[str], None]  # shows the device-code message (stderr)
    client_id: str | None = None  # --auth client-secret: the service principal's app id
    client_secret: Secret | None = None
    # Not for users: tests inject an instant sleep; benchmarks read request counts.
    retry: RetryPolicy | None = None
    api_timeout_s: float | None = None


@dataclass(frozen=True)
class Diagnosis:
    tenant_id: str
    admin: SignedInAdmin | None
    generation: str
    report: RunReport
    specs: tuple[CheckSpec, ...]
    request_count: int = 0  # requests the gateways sent (retries included)


def _generation(inputs: CheckInputs) -> Generation:
    # Only the legacy catalogue exists so far; `auto` (None) will decide from evidence
    # once the current-generation checks arrive (issue 5).
    return inputs.generation or "legacy"


async def run_diagnosis(
    inputs: CheckInputs,
    connection: ConnectionOptions,
    *,
    only: frozenset[str] | None = None,
    on_signed_in: Callable[[SignedInAdmin], None] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    session: AdminSession | None = None,
) -> Diagnosis:
    """Run the checks. Pass `session` to reuse a sign-in (the wizard diagnoses several
    times with one sign-in); without it, sign-in happens here when a check needs it."""
    from cipp_setup.checks import checks_for, get_check
    from cipp_setup.gateways import Gateways

    generation = _generation(inputs)
    checks = checks_for(generation)
    if only is not None:
        for check_id in only:
            get_check(check_id)  # KeyError for an unknown id: the front end validated already
        checks = tuple(c for c in checks if c.spec.id in only)

    needs = frozenset().union(*(c.spec.services for c in checks)) if checks else frozenset()
    if session is None and needs & ADMIN_SERVICES:
        from cipp_setup.gateways.auth import sign_in

        session = await asyncio.to_thread(
            sign_in, cloud=connection.cloud, tenant=inputs.tenant, auth=connection.auth,
            interactive=connection.interactive, device_code_callback=connection.device_code_callback,
            client_id=connection.client_id, client_secret=connection.client_secret,
        )
        if on_signed_in is not None:
            on_signed_in(session.admin)

    gateways = Gateways.build(
        connection.cloud, session, retry=connection.retry, api_timeout_s=connection.api_timeout_s
    )
    try:
        if "arm" in needs and gateways.arm is not None:
            gateways.arm.prefetch_token()
        ctx = CheckContext(
            inputs=inputs, cloud=connection.cloud, gateways=gateways,
            admin=session.admin if session else None,
        )
        report = await run_checks(checks, ctx, on_result=on_result)
    finally:
        await gateways.close()

    tenant_id = session.admin.tenant_id if session else ""
    token = report.result("api-token")
    if not tenant_id and token is not None:
        tenant_id = str(token.facts.get("tid") or "")
    return Diagnosis(
        tenant_id=tenant_id or inputs.tenant,
        admin=session.admin if session else None,
        generation=generation,
        report=report,
        specs=tuple(c.spec for c in checks),
        request_count=gateways.request_count,
    )

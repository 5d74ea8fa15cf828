"""The one entry point the front ends call to diagnose a tenant: sign in if needed,
wire the gateways, run the checks, hand back a `Diagnosis`.

Sign-in happens only when a selected check talks to Graph or ARM; an API-only run
(`--only api-token api-list-logs`) needs no admin. Sign-in errors (`SignInRequired`,
`SignInFailed` from cipp_setup.gateways.errors) propagate to the front end, which maps
them to exit code 4 and 1.

Request depth (round trips that must happen one after another), per check, after sign-in:
sam-user-global-admin 2 (the user and their groups, then the Global Administrator
assignments and eligibilities of exactly those principals),
sam-app-azure-management-consent 2 (3 if the CIPP-SAM service principal's name differs
from the app's), sam-user-subscription-contributor 1 with --subscription and an object
id, else 2 (3 when failing: the PIM read); the ARM token's refresh overlaps the first
Graph reads. api-token 2 (msal discovery, token) and api-list-logs 1 after it: in a
legacy run these two start before the admin's sign-in finishes, since they need none. Current generation:
sam-app-graph-application-permissions 2 (app and SPs, then app role assignments),
function-app-managed-identity 2 with a resource id (site, then role assignments; +1 per
non-built-in role read), api-client-app 1, api-easy-auth 1 (authsettingsV2 and app
settings at once), api-token 2 (its Easy Auth comparison shares api-easy-auth's read).
Checks run concurrently, and the ARM token is fetched while the first Graph reads are
in flight.

Generation: `inputs.generation` when given (or implied by --only); else, when the
selected checks differ between the generations, `detect_generation` (checks/_generation.py)
reads the tenant's evidence after sign-in (depth 2-3, through the shared look-ups the
current checks reuse) and `Diagnosis.generation_evidence` says what it found. No answer
→ `GenerationUndetermined` (the front end names --generation, or asks). The checks see
the decided generation in `ctx.inputs.generation`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Callable

from cipp_setup.engine.builtin import builtin_catalogue
from cipp_setup.engine.catalogue import Catalogue
from cipp_setup.engine.context import CheckContext, CheckInputs, SignedInAdmin
from cipp_setup.engine.fixes import plan_fix
from cipp_setup.engine.model import Check, CheckResult, CheckSpec, Generation, Status
from cipp_setup.engine.planning import PlanningError
from cipp_setup.engine.runner import RunReport, run_checks
from cipp_setup.engine.services import AdminSession, ConnectionOptions, ReadGateways

__all__ = [
    "ConnectionOptions", "Diagnosis", "GenerationUndetermined", "decide_generation", "fixed_generation",
    "open_admin_session", "run_diagnosis", "selected_checks", "with_fix_availability",
]

ADMIN_SERVICES = frozenset({"graph", "arm"})




@dataclass(frozen=True)
class Diagnosis:
    tenant_id: str
    admin: SignedInAdmin | None
    generation: str | None  # None: only checks both generations share ran (API-only, auto)
    report: RunReport
    specs: tuple[CheckSpec, ...]
    request_count: int = 0  # requests the gateways sent (retries included)
    # Why this generation: "you passed --generation current", or what auto found.
    generation_evidence: tuple[str, ...] = ()


class GenerationUndetermined(Exception):
    """--generation auto, and the tenant does not say legacy or current. The front end
    asks (wizard) or names --generation (check, exit 2). `evidence` is what was found."""

    def __init__(self, evidence: tuple[str, ...]) -> None:
        super().__init__(
            "--generation: the tenant does not show whether CIPP is legacy (7.1 and older) or "
            "current (7.2+, API clients); pass --generation legacy or --generation current"
        )
        self.evidence = evidence


def fixed_generation(inputs: CheckInputs, only: frozenset[str] | None,
                     catalogue: Catalogue | None = None) -> tuple[Generation | None, tuple[str, ...]]:
    """The generation when no tenant evidence is needed: given, or implied by --only
    (checks of one generation only). (None, ()) → auto must ask the tenant."""
    if inputs.generation is not None:
        return inputs.generation, (f"--generation {inputs.generation} was given.",)
    if only:
        known = builtin_catalogue(catalogue)
        common = frozenset.intersection(*(known.get(i).spec.generations for i in only))
        if len(common) == 1:
            (generation,) = tuple(common)
            return generation, (f"--only selects checks of the {generation} generation only.",)
    return None, ()


async def open_admin_session(connection: ConnectionOptions, tenant: str) -> AdminSession:
    """Sign the admin in (SignInRequired / SignInFailed propagate to the front end)."""
    return await connection.services.sign_in(connection, tenant)


def _read_gateways(connection: ConnectionOptions, session: AdminSession | None) -> ReadGateways:
    return connection.services.read_gateways(connection.cloud, session, retry=connection.retry,
                                             api_timeout_s=connection.api_timeout_s)


async def decide_generation(ctx: CheckContext) -> tuple[Generation, tuple[str, ...]]:
    """--generation auto: what the tenant shows; else the run's default; else ask the user
    (GenerationUndetermined). Used by every front end, so they all decide alike."""
    from cipp_setup.checks import detect_generation

    verdict = await detect_generation(ctx)
    if verdict.generation is not None:
        return verdict.generation, verdict.evidence
    if ctx.inputs.generation_default is not None:
        generation, why = ctx.inputs.generation_default
        return generation, verdict.evidence + (why,)
    raise GenerationUndetermined(verdict.evidence)


API_ONLY = frozenset({"api"})


def _merged(checks: tuple[Check, ...], *reports: RunReport) -> RunReport:
    """Reports of disjoint check sets as one, in catalogue order."""
    by_id = {r.check_id: r for report in reports for r in report.results}
    return RunReport(
        tuple(by_id[c.spec.id] for c in checks),
        frozenset(c.spec.id for c in checks if c.spec.required),
    )


async def _abandon(task: asyncio.Task[RunReport] | None, gateways: ReadGateways | None) -> None:
    """Stop early checks whose run is failing anyway (sign-in refused, interrupted)."""
    if task is not None and not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    if gateways is not None:
        await gateways.close()


def with_fix_availability(report: RunReport, ctx: CheckContext, catalogue: Catalogue | None = None) -> RunReport:
    """Mark each failure `fix_available` exactly when `cipp-setup fix` has an applicable
    plan for it (the planners are pure: no request is sent). A check that has a fixer can
    still fail in a way no tool can fix (a user that does not exist), so this is decided
    per result, not per check."""
    from dataclasses import replace as _replace

    def available(result: CheckResult) -> bool:
        try:
            plan = plan_fix(result, ctx, catalogue)
        except PlanningError:
            return False
        return plan is not None and plan.applicable

    results = tuple(
        _replace(r, fix_available=available(r)) if r.status is Status.FAIL else _replace(r, fix_available=False)
        for r in report.results
    )
    return _replace(report, results=results)


def selected_checks(catalogue: Catalogue, generation: Generation | None,
                    only: frozenset[str] | None) -> tuple[Check, ...]:
    """The checks to run; with generation None, those both generations share."""
    if generation is None:
        checks = catalogue.shared()
    else:
        checks = catalogue.for_generation(generation)
    if only is not None:
        checks = tuple(c for c in checks if c.spec.id in only)
    return checks


async def run_diagnosis(
    inputs: CheckInputs,
    connection: ConnectionOptions,
    *,
    only: frozenset[str] | None = None,
    on_signed_in: Callable[[SignedInAdmin], None] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
    session: AdminSession | None = None,
    catalogue: Catalogue | None = None,
) -> Diagnosis:
    """Run the checks of `catalogue` (the built-in ones when None). Pass `session` to
    reuse a sign-in (the wizard diagnoses several times with one sign-in); without it,
    sign-in happens here when a check needs it."""
    known = builtin_catalogue(catalogue)
    if only is not None:
        for check_id in only:
            known.get(check_id)  # KeyError for an unknown id: the front end validated already
    generation, evidence = fixed_generation(inputs, only, known)
    # Auto is needed only when the selection differs between the generations.
    must_detect = generation is None and (
        {c.spec.id for c in selected_checks(known, "legacy", only)}
        != {c.spec.id for c in selected_checks(known, "current", only)}
    )
    candidates = known.checks if must_detect else selected_checks(known, generation, only)
    if must_detect and only is not None:
        candidates = tuple(c for c in known if c.spec.id in only)

    # Detection reads Graph and ARM: sign in whenever it must run.
    needs = frozenset().union(*(c.spec.services for c in candidates)) if candidates else frozenset()
    if must_detect:
        needs = needs | ADMIN_SERVICES

    # The API checks of a legacy run need no admin: start them now rather than after the
    # admin's sign-in, so the run costs its dependency depth, not the sum of two chains.
    early: tuple[Check, ...] = ()
    early_task: asyncio.Task[RunReport] | None = None
    early_gateways: ReadGateways | None = None
    if generation == "legacy" and session is None and needs & ADMIN_SERVICES:
        early = tuple(c for c in selected_checks(known, generation, only) if c.spec.services <= API_ONLY)
    if early:
        early_gateways = _read_gateways(connection, None)
        early_ctx = CheckContext(
            inputs=replace(inputs, generation=generation), cloud=connection.cloud, gateways=early_gateways
        )
        early_task = asyncio.ensure_future(run_checks(early, early_ctx, on_result=on_result))

    try:
        if session is None and needs & ADMIN_SERVICES:
            session = await open_admin_session(connection, inputs.tenant)
            if on_signed_in is not None:
                on_signed_in(session.admin)
    except BaseException:
        await _abandon(early_task, early_gateways)
        raise

    gateways = _read_gateways(connection, session)
    try:
        if "arm" in needs:
            gateways.prefetch_arm_token()
        ctx = CheckContext(
            inputs=inputs, cloud=connection.cloud, gateways=gateways,
            admin=session.admin if session else None,
        )
        if must_detect:
            generation, evidence = await decide_generation(ctx)
        # The checks read the decided generation (api-token compares with Easy Auth for current).
        ctx.inputs = replace(inputs, generation=generation)
        checks = selected_checks(known, generation, only)
        report = await run_checks(tuple(c for c in checks if c not in early), ctx, on_result=on_result)
        if early_task is not None:
            report = _merged(checks, report, await early_task)
        report = with_fix_availability(report, ctx, known)
    except BaseException:
        await _abandon(early_task, None)
        raise
    finally:
        await gateways.close()
        if early_gateways is not None:
            await early_gateways.close()

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
        generation_evidence=evidence,
    )

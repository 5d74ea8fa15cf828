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

Profile (current generation: API clients written by the CIPP-SAM user, 7.2-7.3, or by the
CIPP-SAM app, 7.4+): `--cipp-version`, else `detect_profile` (GetVersion, the tenant's
evidence), else the sandbox scenario's version. It is decided while the checks run (it
adds no round trip before them); then the checks of the other profile are dropped. When
nothing decides it, the profile-dependent checks stay in the report, their failures shown
as warnings with cause `cipp-version-unknown` (not counted), and no fix is planned for
them: the two Graph application permissions are never planned on a guess.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from cipp_setup.engine.builtin import builtin_catalogue
from cipp_setup.engine.catalogue import Catalogue
from cipp_setup.engine.context import CheckContext, CheckInputs, SignedInAdmin
from cipp_setup.engine.fixes import plan_fix
from cipp_setup.engine.lifecycle import apply_lifecycle, grants_from_journal
from cipp_setup.engine.model import Check, CheckResult, CheckSpec, Generation, Message, Profile, Status
from cipp_setup.engine.result import CURRENT_PROFILES, PROFILE_LABELS, generation_of_profile, profile_of_version, version_numbers
from cipp_setup.engine.planning import PlanningError
from cipp_setup.engine.runner import RunReport, run_checks
from cipp_setup.engine.services import AdminSession, ConnectionOptions, ReadGateways

if TYPE_CHECKING:
    from cipp_setup.engine.journal import Journal

__all__ = [
    "ConnectionOptions", "Diagnosis", "GenerationUndetermined", "decide_generation", "decide_profile",
    "fixed_generation", "open_admin_session", "profile_dependent", "run_diagnosis", "selected_checks",
    "settle_profile", "with_fix_availability",
]

ADMIN_SERVICES = frozenset({"graph", "arm"})
_Found = TypeVar("_Found")




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
    # Who writes the API clients (legacy, clients-by-user, clients-by-app); None: unknown.
    profile: str | None = None
    profile_evidence: tuple[str, ...] = ()
    # Checks whose verdict depends on the profile, when it is unknown (reported, not counted).
    profile_dependent: tuple[str, ...] = ()


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
    numbers = version_numbers(inputs.cipp_version or "")
    if numbers is not None:
        generation = generation_of_profile(profile_of_version(numbers))
        return generation, (f"--cipp-version {inputs.cipp_version} is a {generation} version.",)
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
    found = _or_default(verdict.generation, verdict.evidence, ctx.inputs.generation_default)
    if found is None:
        raise GenerationUndetermined(verdict.evidence)
    return found


def _or_default(found: _Found | None, evidence: tuple[str, ...],
                default: tuple[_Found, str] | None) -> tuple[_Found, tuple[str, ...]] | None:
    """What the evidence found, else the run's default and why (a sandbox's scenario), else None."""
    if found is not None:
        return found, evidence
    if default is not None:
        return default[0], evidence + (default[1],)
    return None


API_ONLY = frozenset({"api"})


def profile_dependent(check: Check) -> bool:
    """A current-generation check that applies to one of the two current profiles only."""
    return "current" in check.spec.generations and not CURRENT_PROFILES <= check.spec.profiles


async def decide_profile(ctx: CheckContext, generation: Generation | None) -> tuple[Profile | None, tuple[str, ...]]:
    """The profile: legacy for the legacy generation; for current the given version, else
    GetVersion and the tenant's evidence, else the run's default (a sandbox scenario)."""
    if generation == "legacy":
        return "legacy", ()
    if generation is None:
        return None, ()
    from cipp_setup.checks import detect_profile

    verdict = await detect_profile(ctx)
    found = _or_default(verdict.profile, verdict.evidence, ctx.inputs.profile_default)
    if found is not None:
        return found
    return None, verdict.evidence + (
        "Nothing shows whether this CIPP writes API clients as the CIPP-SAM user (7.2-7.3) or as the "
        "CIPP-SAM app (7.4+): pass --cipp-version.",
    )


def _needed_on(check: Check) -> str:
    return " or ".join(PROFILE_LABELS[p] for p in sorted(check.spec.profiles & CURRENT_PROFILES))


def _version_unknown(result: CheckResult, check: Check) -> CheckResult:
    """A profile-dependent failure while the version is unknown: shown, not counted."""
    if result.status not in (Status.FAIL, Status.ERROR):
        return result
    cause = check.spec.cause("cipp-version-unknown")
    note = Message(
        "info",
        f"Needed only on {_needed_on(check)}. If this instance is one: {result.cause or 'failed'} — "
        f"{result.summary}",
    )
    return replace(
        result, status=Status.WARN, cause=cause.code,
        summary=f"Depends on the CIPP version (needed only on {_needed_on(check)}): {result.summary}",
        messages=result.messages + (note,), fix_available=False, remediation=cause.remediation,
        facts={**dict(result.facts), "cause_if_needed": result.cause},
    )


def settle_profile(report: RunReport, checks: tuple[Check, ...],
                   profile: Profile | None) -> tuple[RunReport, tuple[Check, ...], tuple[str, ...]]:
    """The report once the profile is known: the other profile's checks dropped. Unknown:
    the profile-dependent checks kept, their failures as `cipp-version-unknown` warnings.
    Returns (report, checks, the ids of the profile-dependent checks left undecided)."""
    if profile is not None:
        kept = tuple(c for c in checks if profile in c.spec.profiles)
        ids = {c.spec.id for c in kept}
        return (RunReport(tuple(r for r in report.results if r.check_id in ids), report.required & ids),
                kept, ())
    dependent = {c.spec.id: c for c in checks if profile_dependent(c)}
    if not dependent:
        return report, checks, ()
    results = tuple(_version_unknown(r, dependent[r.check_id]) if r.check_id in dependent else r
                    for r in report.results)
    return RunReport(results, report.required), checks, tuple(dependent)


def _merged(checks: tuple[Check, ...], *reports: RunReport) -> RunReport:
    """Reports of disjoint check sets as one, in catalogue order."""
    by_id = {r.check_id: r for report in reports for r in report.results}
    return RunReport(
        tuple(by_id[c.spec.id] for c in checks),
        frozenset(c.spec.id for c in checks if c.spec.required),
    )


async def _abandon(task: asyncio.Task[Any] | None, gateways: ReadGateways | None) -> None:
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
    journal: Journal | None = None,
) -> Diagnosis:
    """Run the checks of `catalogue` (the built-in ones when None). Pass `session` to
    reuse a sign-in (the wizard diagnoses several times with one sign-in); without it,
    sign-in happens here when a check needs it. `journal` (read only) tells the
    lifecycle which temporary rights cipp-setup granted and gave back (engine/lifecycle.py)."""
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
        profile: Profile | None = "legacy" if generation == "legacy" else None
        profile_task: asyncio.Task[tuple[Profile | None, tuple[str, ...]]] | None = None
        if generation == "current" and any(profile_dependent(c) for c in checks):
            # Decided beside the checks (GetVersion waits for the client's token, which
            # api-token asks for anyway): no round trip is added before them.
            profile_task = asyncio.ensure_future(decide_profile(ctx, generation))
        try:
            report = await run_checks(tuple(c for c in checks if c not in early), ctx, on_result=on_result)
        except BaseException:
            await _abandon(profile_task, None)
            raise
        if early_task is not None:
            report = _merged(checks, report, await early_task)
        profile_evidence: tuple[str, ...] = ()
        undecided: tuple[str, ...] = ()
        if profile_task is not None:
            profile, profile_evidence = await profile_task
            report, checks, undecided = settle_profile(report, checks, profile)
        ctx.inputs = replace(ctx.inputs, profile=profile)
        # After activation, the activation-time prerequisites read "not needed any more".
        tenant_for_journal = session.admin.tenant_id if session else inputs.tenant
        report = apply_lifecycle(report, checks, ctx, grants_from_journal(journal, tenant_for_journal))
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
        profile=profile,
        profile_evidence=profile_evidence,
        profile_dependent=undecided,
    )

"""The wizard's steps: small async functions over one `WizardState`.

Order: welcome → hosted or self-hosted → tenant → sign in → CIPP generation → CIPP-SAM
user, app, subscription → checks (each shown as it completes) → for each failure, the
plan and a question → apply and re-verify → activate the API in CIPP (or, hosted: what
to send the helpdesk) → verify with api-token and api-list-logs → give the temporary
rights back → summary.

The steps call engine functions only (sign-in, look-ups, `FixSession`, `run_diagnosis`);
they never touch an SDK. Every question goes through `Screen`, and every question has a
flag: a value already in `WizardAnswers` is used without asking. A step that ends the
wizard early sets `state.stopped` (the summary still runs). Ctrl-C propagates as
KeyboardInterrupt; the command reports what this run changed from the journal.

Both CIPP generations: `decide_generation` uses the engine's auto-detection (the
evidence `run_diagnosis` hands back as `Diagnosis.generation_evidence`), says which
generation it found and why, and asks when the tenant does not tell. For legacy CIPP
(7.1 and older) the prerequisites are the CIPP-SAM user's rights and the activation is
Settings → Extensions → CIPP-API; for current CIPP (7.2+) they are the CIPP-SAM app's
Graph application permissions and the Function App identity's Contributor role, and the
activation is creating an API client (Integrations → CIPP-API → API Clients → Add, then
Save to Azure). `checks_for_run` picks that generation's prerequisites.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from cipp_setup.engine.model import CheckResult, Secret, Status
from cipp_setup.wizard.prompts import Option, Screen

if TYPE_CHECKING:
    from cipp_setup.engine.context import SignedInAdmin
    from cipp_setup.engine.diagnose import ConnectionOptions, Diagnosis
    from cipp_setup.engine.fix_session import FixSession, Timing
    from cipp_setup.engine.journal import Journal
    from cipp_setup.engine.lookups import Candidates, TenantLookups
    from cipp_setup.engine.plan import PlanOutcome
    from cipp_setup.engine.runner import RunReport
    from cipp_setup.gateways.auth import AdminSession

HOSTED = "hosted"
SELF_HOSTED = "self-hosted"
HOSTINGS = (SELF_HOSTED, HOSTED)

GLOBAL_ADMIN = "sam-user-global-admin"
CONSENT = "sam-app-azure-management-consent"
CONTRIBUTOR = "sam-user-subscription-contributor"
GRAPH_APP_PERMISSIONS = "sam-app-graph-application-permissions"
IDENTITY_CONTRIBUTOR = "function-app-managed-identity"
API_CHECKS = frozenset({"api-token", "api-list-logs"})
LEGACY, CURRENT = "legacy", "current"
# What the legacy activation needs. Hosted: CIPP's Azure resources belong to the
# helpdesk, so the subscription right is theirs to hold, not the client's.
PREREQUISITES = {SELF_HOSTED: (GLOBAL_ADMIN, CONSENT, CONTRIBUTOR), HOSTED: (GLOBAL_ADMIN, CONSENT)}
# What creating an API client needs (current CIPP). Hosted: the Function App is the
# hosting provider's, and so is its identity.
CURRENT_PREREQUISITES = {SELF_HOSTED: (GRAPH_APP_PERMISSIONS, IDENTITY_CONTRIBUTOR), HOSTED: (GRAPH_APP_PERMISSIONS,)}
# The checks whose evidence auto-detection needs run beside it (one of each generation).
_DETECTION_CHECKS = frozenset({GRAPH_APP_PERMISSIONS, GLOBAL_ADMIN})

# API check causes that right after an activation mean "not there yet", not "wrong":
# the new app, its secret and identifier URI replicate; saving Easy Auth restarts the app.
PROPAGATING_CAUSES = {
    "app-not-found": "the new API app to replicate",
    "invalid-secret": "the new API secret to replicate",
    "identifier-uri-missing": "the API app's identifier URI to replicate",
    "easy-auth-rejected": "the Function App to restart with the new settings",
    "client-not-saved-to-azure": "the Function App to restart with the saved API clients",
}

SEARCH = "\x00search"  # picker entries that are not values
ENTER = "\x00enter"


@dataclass
class WizardAnswers:
    """What the flags said; None means "ask" (or, without a terminal, the flag is missing)."""

    hosting: str | None = None
    tenant: str | None = None
    sam_user: str | None = None
    sam_app: str | None = None
    subscription: str | None = None
    cipp_url: str | None = None
    api_url: str | None = None
    api_client_id: str | None = None
    api_client_secret: Secret | None = None
    generation: str | None = None  # "legacy" or "current"; None = auto (detected, else asked)
    function_app: str | None = None  # current CIPP: the Function App's name or resource id
    # The answer to "which CIPP?" when the tenant does not tell (`demo --yes`: the scenario's).
    generation_if_unknown: str | None = None
    apply_fixes: bool | None = None  # True --yes, False --dry-run, None ask per fix
    revert: bool | None = None  # True --revert (or --yes), False --keep-rights


@dataclass
class WizardEnv:
    """Where the wizard runs: the screen, the endpoints, the journal, the clock."""

    screen: Screen
    connection: ConnectionOptions
    journal: Journal
    timing: Timing
    can_prompt: bool = True
    # Sandbox only: the scenario's values, offered as the defaults of the questions...
    suggestions: Mapping[str, str] = field(default_factory=dict)
    # ...and the admin's click on "activate" in CIPP, performed for them (legacy), or
    # creating an API client and saving it to Azure (current): {client_id, client_secret,
    # api_url}.
    activate_in_cipp: Callable[[], Mapping[str, Any]] | None = None
    create_api_client: Callable[[], Mapping[str, Any]] | None = None
    sandbox_name: str | None = None
    open_lookups: Callable[[AdminSession], TenantLookups] | None = None


@dataclass
class WizardState:
    answers: WizardAnswers
    hosting: str | None = None
    tenant: str | None = None
    session: AdminSession | None = None
    generation: str = "legacy"
    generation_reason: str = ""
    generation_evidence: tuple[str, ...] = ()
    function_app: str | None = None
    sam_user: str | None = None
    sam_app_id: str | None = None
    subscription_id: str | None = None
    cipp_url: str | None = None
    api_url: str | None = None
    api_client_id: str | None = None
    api_client_secret: Secret | None = None
    api_from_activation: bool = False
    fix_session: FixSession | None = None
    first_report: RunReport | None = None
    fix_outcomes: list[PlanOutcome] = field(default_factory=list)
    api_diagnosis: Diagnosis | None = None
    revert_outcomes: list[PlanOutcome] = field(default_factory=list)
    rights_kept: bool = False
    stopped: str | None = None  # why the wizard ended before the API answered

    @property
    def admin(self) -> SignedInAdmin | None:
        return self.session.admin if self.session is not None else None

    @property
    def api_verified(self) -> bool:
        return self.api_diagnosis is not None and self.api_diagnosis.report.ok


Step = Callable[[WizardState, WizardEnv], Awaitable[None]]


# --- the steps --------------------------------------------------------------------------


async def welcome(state: WizardState, env: WizardEnv) -> None:
    s = env.screen
    s.heading("cipp-setup: get the CIPP API answering")
    if env.sandbox_name:
        s.say(f"Sandbox: an offline stand-in tenant (scenario '{env.sandbox_name}'); nothing real is touched.", "yellow")
    s.say("What will happen:")
    for line in (
        "1. You say how CIPP is hosted and which tenant it manages, and sign in to that tenant.",
        "2. cipp-setup tells which CIPP generation it finds (legacy 7.1 or current 7.2+), and why.",
        "3. You pick the CIPP-SAM app (and user) and where CIPP runs; it checks the prerequisites.",
        "4. For each one that fails it shows exactly what it would change, and asks first.",
        "5. You enable the API in CIPP; cipp-setup verifies that it answers (ListLogs).",
        "6. It offers to give back any temporary rights it added. Every change is journaled.",
    ):
        s.say("  " + line)
    s.say("Press Ctrl-C at any time to stop; cipp-setup then says what it changed so far.", "dim")


async def choose_hosting(state: WizardState, env: WizardEnv) -> None:
    if state.answers.hosting:
        state.hosting = state.answers.hosting
    else:
        env.screen.heading("Where does your CIPP run?")
        state.hosting = await env.screen.select(
            "How is your CIPP hosted?",
            [
                Option(SELF_HOSTED, "Self-hosted", "deployed in your own Azure subscription"),
                Option(HOSTED, "Hosted by CyberDrain", "a cipp.app subscription"),
            ],
            default=SELF_HOSTED,
        )
    if state.hosting == HOSTED:
        env.screen.say(
            "Hosted CIPP: the API is enabled by the CIPP helpdesk, not in your own Azure. "
            "cipp-setup checks and fixes what your tenant must provide (the CIPP-SAM user's "
            "Global Administrator role and the CIPP-SAM app's consent), then tells you what "
            "to send the helpdesk.", "yellow",
        )


def _tenant_problem(value: str) -> str | None:
    from cipp_setup.cli.options import UsageError, parse_tenant

    try:
        parse_tenant(value, "tenant")
    except UsageError:
        return "a tenant id (GUID) or a domain such as contoso.onmicrosoft.com"
    return None


async def ask_tenant(state: WizardState, env: WizardEnv) -> None:
    """Always an explicit tenant, asked before sign-in (MFA in the wrong tenant otherwise)."""
    if state.answers.tenant:
        state.tenant = state.answers.tenant
        return
    from cipp_setup.cli.options import parse_tenant

    env.screen.heading("Tenant")
    answer = await env.screen.text(
        "Which tenant does CIPP manage? (tenant id or domain)",
        default=env.suggestions.get("tenant", ""), validate=_tenant_problem,
    )
    state.tenant = parse_tenant(answer)


def _sign_in_method_reason(auth: str, sandbox: bool) -> str:
    if sandbox:
        return "device code (the sandbox approves it as the scenario's admin)"
    return {
        "device-code": "device code (no browser can open on this machine; use any browser, on any device)",
        "browser": "your browser",
        "azure-cli": "your Azure CLI sign-in",
        "client-secret": "a service principal (AZURE_CLIENT_ID / AZURE_CLIENT_SECRET)",
    }.get(auth, auth)


async def sign_in(state: WizardState, env: WizardEnv) -> None:
    from cipp_setup.gateways.auth import sign_in as engine_sign_in
    from cipp_setup.render.text import signed_in_line

    c = env.connection
    assert state.tenant is not None
    env.screen.heading("Sign in")
    env.screen.say(f"Signing in to {state.tenant} with {_sign_in_method_reason(c.auth, env.sandbox_name is not None)}.")
    with env.screen.busy("Waiting for the sign-in…"):
        state.session = await asyncio.to_thread(
            engine_sign_in, cloud=c.cloud, tenant=state.tenant, auth=c.auth, interactive=c.interactive,
            device_code_callback=c.device_code_callback, client_id=c.client_id,
            client_secret=c.client_secret,
        )
    admin = state.session.admin
    env.screen.lines([signed_in_line(admin.user_principal_name, admin.tenant_id, state.tenant)])
    if admin.kind != "user":
        env.screen.say("Signed in as an application: it cannot stand in for the CIPP-SAM user.", "yellow")


GENERATION_NAMES = {
    LEGACY: "legacy CIPP (7.1 and older: Settings → Extensions → CIPP-API)",
    CURRENT: "current CIPP (7.2 and later: API clients)",
}


async def detect_generation(state: WizardState, env: WizardEnv) -> tuple[str | None, tuple[str, ...]]:
    """The engine's auto-detection: (generation or None when the tenant does not tell, evidence)."""
    from cipp_setup.engine.context import CheckInputs
    from cipp_setup.engine.diagnose import GenerationUndetermined, run_diagnosis

    assert state.tenant is not None
    inputs = CheckInputs(
        tenant=state.tenant, sam_app_id=state.answers.sam_app,
        api_url=state.answers.api_url or env.suggestions.get("api_url"),
        api_client_id=state.answers.api_client_id,
        function_app=state.answers.function_app or env.suggestions.get("function_app"),
    )
    try:
        diagnosis = await run_diagnosis(inputs, env.connection, only=_DETECTION_CHECKS, session=state.session)
    except GenerationUndetermined as exc:
        return None, tuple(exc.evidence)
    return diagnosis.generation, tuple(diagnosis.generation_evidence)


async def decide_generation(state: WizardState, env: WizardEnv) -> None:
    """Legacy or current: from --generation, else from the tenant's evidence (said), else asked."""
    s = env.screen
    given = state.answers.generation
    if given in (LEGACY, CURRENT):
        state.generation, state.generation_reason = given, f"you passed --generation {given}"
        s.say(f"CIPP generation: {GENERATION_NAMES[given]} — {state.generation_reason}.", "dim")
        return
    s.heading("Which CIPP generation?")
    with s.busy("Looking at the tenant for signs of legacy or current CIPP…"):
        found, evidence = await detect_generation(state, env)
    state.generation_evidence = evidence
    if found in (LEGACY, CURRENT):
        state.generation = found
        state.generation_reason = "found in the tenant"
        s.say(f"Found {GENERATION_NAMES[found]}, because:", "bold")
        for line in evidence:
            s.say(f"  - {line}", "dim")
        return
    s.say("cipp-setup cannot tell from the tenant whether this CIPP is legacy or current:", "yellow")
    for line in evidence:
        s.say(f"  - {line}", "dim")
    s.say("Current CIPP shows Integrations → CIPP-API → API Clients; legacy CIPP shows Settings → "
          "Extensions → CIPP-API with a single Enable switch.", "dim")
    default = env.suggestions.get("generation") or CURRENT  # most instances today are current
    if state.answers.generation_if_unknown in (LEGACY, CURRENT):
        state.generation = state.answers.generation_if_unknown
        state.generation_reason = "the tenant did not tell; the default answer was taken"
        s.say(f"Taking {GENERATION_NAMES[state.generation]}, the default answer.", "dim")
        return
    state.generation = await s.select(
        "Which CIPP do you run?",
        [Option(CURRENT, "Current (7.2 or later)", "API Clients under Integrations → CIPP-API"),
         Option(LEGACY, "Legacy (7.1 or earlier)", "Settings → Extensions → CIPP-API")],
        default=default,
    )
    state.generation_reason = "you said so; the tenant did not tell"


def _options(candidates: Candidates) -> list[Option]:
    return [Option(c.value, c.title, c.hint) for c in candidates.items]


def _say_suggestion(screen: Screen, candidates: Candidates) -> None:
    title = next((c.title for c in candidates.items if c.value == candidates.default), candidates.default)
    screen.say(f"Suggested: {title} ({candidates.why}).", "dim")


def _guid_problem(value: str) -> str | None:
    from cipp_setup.cli.options import is_guid

    return None if is_guid(value.strip()) else "a GUID such as 00000000-0000-0000-0000-000000000000"


async def _with_lookups(state: WizardState, env: WizardEnv, use: Callable[[TenantLookups], Awaitable[None]]) -> None:
    from cipp_setup.gateways.services import open_lookups

    assert state.session is not None
    opener = env.open_lookups or (lambda session: open_lookups(session, env.connection.retry))
    lookups = opener(state.session)
    try:
        await use(lookups)
    finally:
        await lookups.close()


async def pick_sam_user(state: WizardState, env: WizardEnv, lookups: TenantLookups) -> None:
    if state.generation == CURRENT:
        return  # current CIPP writes API clients as the CIPP-SAM app: no user's rights matter
    if state.answers.sam_user:
        state.sam_user = state.answers.sam_user
        return
    s = env.screen
    s.heading("The CIPP-SAM user")
    s.say("The account CIPP's SAM wizard signed in with: the activation runs as this user.", "dim")
    with s.busy("Looking for users named CIPP…"):
        found = await lookups.sam_user_candidates(state.admin, env.suggestions.get("sam_user"))
    candidates = found
    while True:
        options = _options(candidates) + [Option(SEARCH, "Search for another user…", "by name or UPN")]
        if candidates.default and candidates.why:
            _say_suggestion(s, candidates)
        choice = await s.select("Which user is the CIPP-SAM user?", options, default=candidates.default)
        if choice != SEARCH:
            state.sam_user = choice
            return
        prefix = await s.text(
            "Search users whose UPN or name starts with:",
            validate=lambda v: None if v.strip() else "type the first letters of the UPN or name",
        )
        with s.busy(f"Searching for '{prefix}'…"):
            candidates = await lookups.search_users(prefix)
        if not candidates:
            s.say(f"No user's UPN or name starts with '{prefix}'.", "yellow")
            candidates = found


async def pick_sam_app(state: WizardState, env: WizardEnv, lookups: TenantLookups) -> None:
    if state.answers.sam_app:
        state.sam_app_id = state.answers.sam_app
        return
    state.sam_app_id = await _pick_from_tenant(
        env, heading="The CIPP-SAM application", busy="Looking for applications named CIPP…",
        find=lambda: lookups.sam_app_candidates(env.suggestions.get("sam_app")),
        nothing="No app registration's name starts with CIPP.",
        question="Which application is CIPP-SAM?", other="Enter an application (client) id…",
        other_question="Application (client) id of CIPP-SAM:",
    )


async def pick_subscription(state: WizardState, env: WizardEnv, lookups: TenantLookups) -> None:
    if state.hosting != SELF_HOSTED or state.generation == CURRENT:
        return  # current CIPP: the Function App is asked for instead
    if state.answers.subscription:
        state.subscription_id = state.answers.subscription
        return
    state.subscription_id = await _pick_from_tenant(
        env, heading="The subscription hosting CIPP", busy="Reading the subscriptions you can see…",
        find=lambda: lookups.subscription_candidates(env.suggestions.get("subscription")),
        nothing="You cannot see any subscription (you may need to elevate access first).",
        question="Which subscription hosts CIPP's Function App?", other="Enter a subscription id…",
        other_question="Subscription id:",
    )


async def _pick_from_tenant(
    env: WizardEnv, *, heading: str, busy: str, find: Callable[[], Awaitable[Candidates]],
    nothing: str, question: str, other: str, other_question: str,
) -> str:
    """A list read from the tenant (the suggestion said first), plus "enter an id"."""
    s = env.screen
    s.heading(heading)
    with s.busy(busy):
        candidates = await find()
    if not candidates:
        s.say(nothing, "yellow")
    elif candidates.default and candidates.why:
        _say_suggestion(s, candidates)
    options = _options(candidates) + [Option(ENTER, other)]
    choice = await s.select(question, options, default=candidates.default)
    if choice == ENTER:
        choice = (await s.text(other_question, validate=_guid_problem)).lower()
    return str(choice)


def _function_app_problem(value: str) -> str | None:
    from cipp_setup.cli.options import UsageError, parse_function_app

    try:
        parse_function_app(value, "Function App")
    except UsageError:
        return "the Function App's name (NAME in NAME.azurewebsites.net) or its resource id"
    return None


async def pick_function_app(state: WizardState, env: WizardEnv) -> None:
    """Current CIPP, self-hosted: the Function App whose identity writes Easy Auth."""
    if state.generation != CURRENT or state.hosting != SELF_HOSTED:
        return
    if state.answers.function_app:
        state.function_app = state.answers.function_app
        return
    from cipp_setup.cli.options import parse_function_app

    s = env.screen
    s.heading("The CIPP Function App")
    s.say("The Function App that runs CIPP's API (https://NAME.azurewebsites.net): its managed "
          "identity saves the API clients to Azure.", "dim")
    answer = await s.text("Function App name (or its resource id):", default=env.suggestions.get("function_app", ""),
                          validate=_function_app_problem)
    state.function_app = parse_function_app(answer)


async def pick_identities(state: WizardState, env: WizardEnv) -> None:
    async def use(lookups: TenantLookups) -> None:
        await pick_sam_user(state, env, lookups)
        await pick_sam_app(state, env, lookups)
        await pick_subscription(state, env, lookups)

    current = state.generation == CURRENT
    if (state.answers.sam_app and (current or state.answers.sam_user)
            and (state.hosting == HOSTED or current or state.answers.subscription)):
        await use(_NO_LOOKUPS)  # everything came from flags: no reads needed
    else:
        await _with_lookups(state, env, use)
    await pick_function_app(state, env)


class _NoLookups:
    """Stands in when every identity came from a flag (nothing is looked up)."""

    async def close(self) -> None:
        return None


_NO_LOOKUPS: Any = _NoLookups()


def checks_for_run(state: WizardState) -> tuple[Any, ...]:
    from cipp_setup.checks import checks_for

    table = CURRENT_PREREQUISITES if state.generation == CURRENT else PREREQUISITES
    wanted = table[state.hosting or SELF_HOSTED]
    return tuple(c for c in checks_for(state.generation) if c.spec.id in wanted)


def _progress_sink(env: WizardEnv) -> Callable[[Any], None]:
    def on_progress(event: Any) -> None:
        env.screen.progress(event.text)

    return on_progress


def _result_lines(result: CheckResult, env: WizardEnv) -> list[Any]:
    from cipp_setup.render.text import INDENT, result_lines

    lines = result_lines(result, None, marks=env.screen.marks)
    return [lines[0]] + [ln for ln in lines[1:] if ln and ln[0][0].startswith(f"{INDENT}Cause")]


async def run_checks(state: WizardState, env: WizardEnv) -> None:
    from cipp_setup.engine.context import CheckInputs
    from cipp_setup.engine.fix_session import FixSession
    from cipp_setup.gateways import Gateways
    from cipp_setup.render.plans import interrupted_lines

    assert state.session is not None and state.tenant is not None
    s = env.screen
    s.heading("Checking the prerequisites")
    inputs = CheckInputs(
        tenant=state.tenant, sam_user=state.sam_user, sam_app_id=state.sam_app_id,
        subscription_id=state.subscription_id, generation=state.generation,  # type: ignore[arg-type]
        function_app=state.function_app,
    )
    gateways = Gateways.build(env.connection.cloud, state.session, retry=env.connection.retry)
    state.fix_session = FixSession(
        inputs=inputs, connection=env.connection, session=state.session, gateways=gateways,
        checks=checks_for_run(state), journal=env.journal, timing=env.timing,
        on_progress=_progress_sink(env),
    )
    interrupted = state.fix_session.interrupted()
    if interrupted:
        s.lines(interrupted_lines(interrupted))
    with s.busy("Running the checks…"):
        def on_result(result: CheckResult) -> None:
            s.lines(_result_lines(result, env))

        state.first_report = await state.fix_session.check(on_result=on_result)


def _passes(result: CheckResult | None) -> bool:
    return result is not None and result.status in (Status.PASS, Status.WARN)


def prerequisites_now(state: WizardState) -> dict[str, bool]:
    """Each prerequisite: does it pass now (at the start, or verified after its fix)?"""
    assert state.first_report is not None
    fixed = {o.plan.check_id for o in state.fix_outcomes if o.passes}
    return {r.check_id: _passes(r) or r.check_id in fixed for r in state.first_report.results}


async def fix_failures(state: WizardState, env: WizardEnv) -> None:
    from cipp_setup.engine.plan import declined_outcome, planned_outcome
    from cipp_setup.render.plans import outcome_lines, plan_lines

    assert state.fix_session is not None and state.first_report is not None
    s = env.screen
    plans = state.fix_session.plans(state.first_report.results)
    if not plans:
        if all(prerequisites_now(state).values()):
            s.say("Every prerequisite holds: nothing to fix.", "green")
        else:
            s.say("Nothing failing here can be fixed automatically; see the checks above.", "yellow")
        return
    s.heading(f"Fixes ({len(plans)})")
    for number, plan in enumerate(plans, 1):
        s.say()
        s.lines(plan_lines(plan, s.marks, heading=f"Fix {number}/{len(plans)}"))
        if not plan.applicable:
            outcome = await state.fix_session.apply(plan)  # reports it skipped, with who must act
        elif state.answers.apply_fixes is False:
            outcome = planned_outcome(plan)
        else:
            yes = state.answers.apply_fixes is True or await s.confirm(
                f"Apply fix {number}/{len(plans)} ({plan.check_id})?", default=True
            )
            if not yes:
                outcome = declined_outcome(plan)
            else:
                with s.busy(f"Applying: {plan.title}…"):
                    outcome = await state.fix_session.apply(plan)
        state.fix_outcomes.append(outcome)
        if outcome.declined:
            s.say("    Declined: nothing was changed for this check.", "yellow")
        else:
            s.lines(outcome_lines(outcome, s.marks))


async def hosted_handoff(state: WizardState, env: WizardEnv) -> None:
    """Hosted legacy CIPP: what the helpdesk needs; continue only if they already sent the API
    details. (Current CIPP: hosted admins create API clients themselves.)"""
    if state.hosting != HOSTED or state.generation == CURRENT:
        return
    from cipp_setup.cli.options import parse_api_url

    s = env.screen
    state.cipp_url = state.answers.cipp_url
    if state.cipp_url is None:
        s.heading("Your CIPP")
        state.cipp_url = parse_api_url(await s.text(
            "Your CIPP's address (the URL you open CIPP at):",
            default=env.suggestions.get("cipp_url", ""), validate=_api_url_problem,
        ))
    ready = all(prerequisites_now(state).values())
    s.heading("Send this to the CIPP helpdesk")
    s.lines(helpdesk_lines(state))
    if not ready:
        s.say("Fix the failing prerequisites first (see above): the helpdesk's activation would fail.", "yellow")
    if state.answers.api_client_id or state.answers.api_url:
        return  # the details came by flag: the helpdesk already answered; verify them
    answered = env.can_prompt and await s.confirm(
        "Has the helpdesk already enabled the API and sent you its client id and secret?", default=False
    )
    if not answered:
        state.stopped = "waiting for the CIPP helpdesk to enable the API"


def helpdesk_lines(state: WizardState) -> list[Any]:
    admin = state.admin
    results = {r.check_id: r for r in (state.first_report.results if state.first_report else ())}
    now = prerequisites_now(state) if state.first_report else {}
    lines: list[Any] = [
        (("    Tenant: ", "dim"), (f"{state.tenant} ({admin.tenant_id})" if admin else str(state.tenant), "bold")),
        (("    CIPP-SAM user: ", "dim"), (str(state.sam_user or "the signed-in admin"), "bold")),
        (("    CIPP URL: ", "dim"), (str(state.cipp_url or "?"), "bold")),
    ]
    for check_id, ok in now.items():
        verdict = "passes" if ok else f"fails ({results[check_id].cause})"
        lines.append(((f"    {check_id}: ", "dim"), (verdict, "green" if ok else "bold red")))
    lines.append(((("    Ask them to enable the CIPP-API extension for your instance; they send back the "
                   "API URL, client id and secret."), ""),))
    return lines


def _api_url_problem(value: str) -> str | None:
    from cipp_setup.cli.options import UsageError, parse_api_url

    try:
        parse_api_url(value, "URL")
    except UsageError as exc:
        return str(exc).split(": ", 1)[-1]
    return None


async def _ask_secret(env: WizardEnv) -> Secret:
    from cipp_setup.cli.options import is_guid

    s = env.screen
    while True:
        value = await s.secret(
            "Application secret (hidden; paste the Value, not the ID):",
            validate=lambda v: None if v.strip() else "paste the secret's value",
        )
        if not is_guid(value):
            return Secret(value)
        s.say("That looks like the secret's ID (a GUID), not its value (AADSTS7000215 follows).", "yellow")
        if await s.confirm("Use it anyway?", default=False):
            return Secret(value)


async def activate_api(state: WizardState, env: WizardEnv) -> None:
    """Self-hosted: the admin activates the API in CIPP and hands over what CIPP shows."""
    if state.stopped:
        return
    a = state.answers
    s = env.screen
    if state.generation == CURRENT:
        await create_api_client(state, env)
        return
    if state.hosting == HOSTED:
        if a.api_client_id and a.api_url and a.api_client_secret:
            state.api_client_id, state.api_url, state.api_client_secret = a.api_client_id, a.api_url, a.api_client_secret
            return
        await _ask_api_details(state, env)
        return
    failing = [cid for cid, ok in prerequisites_now(state).items() if not ok]
    s.heading("Activate the API in CIPP")
    if failing:
        s.say(f"Activation in CIPP would fail while these do not pass: {', '.join(failing)}.", "yellow")
        if not env.can_prompt or not await s.confirm("Continue to the activation anyway?", default=False):
            state.stopped = "a prerequisite still fails: " + ", ".join(failing)
            return
    if a.api_client_id and a.api_url and a.api_client_secret:
        state.api_client_id, state.api_url, state.api_client_secret = a.api_client_id, a.api_url, a.api_client_secret
        s.say("Using the API details you passed (--api-client-id, --api-url, secret).", "dim")
        return
    s.say("In CIPP: Settings → Extensions → CIPP-API → enable it and Save. CIPP shows the API URL, "
          "the Application ID and the Application Secret once: copy all three.")
    if env.activate_in_cipp is not None:
        await _activate_in_sandbox(state, env)
        return
    if not await s.confirm("Have you activated it and copied the three values?", default=True):
        state.stopped = "the API was not activated in CIPP yet"
        return
    await _ask_api_details(state, env)


API_CLIENT_STEPS = (
    "In CIPP: Integrations → CIPP-API → API Clients → Add API Client: give it a name, pick a "
    "role (readonly is enough for ListLogs), tick Enabled and Submit. Copy the Client ID and the "
    "secret (shown once). Then Save to Azure: CIPP writes the Function App's authentication "
    "settings and restarts it — allow about a minute."
)


async def create_api_client(state: WizardState, env: WizardEnv) -> None:
    """Current CIPP: the admin creates an API client in CIPP and saves it to Azure."""
    a, s = state.answers, env.screen
    failing = [cid for cid, ok in prerequisites_now(state).items() if not ok]
    s.heading("Create an API client in CIPP")
    if failing:
        s.say(f"Creating or saving the API client in CIPP would fail while these do not pass: "
              f"{', '.join(failing)}.", "yellow")
        if not env.can_prompt or not await s.confirm("Continue to the API client anyway?", default=False):
            state.stopped = "a prerequisite still fails: " + ", ".join(failing)
            return
    if a.api_client_id and a.api_url and a.api_client_secret:
        state.api_client_id, state.api_url, state.api_client_secret = a.api_client_id, a.api_url, a.api_client_secret
        s.say("Using the API details you passed (--api-client-id, --api-url, secret).", "dim")
        return
    s.say(API_CLIENT_STEPS)
    if env.create_api_client is not None:
        await _create_client_in_sandbox(state, env)
        return
    if not await s.confirm("Have you created and saved the client, and copied its id and secret?", default=True):
        state.stopped = "no API client was created in CIPP yet"
        return
    await _ask_api_details(state, env)


async def _sandbox_click(
    state: WizardState, env: WizardEnv, click: Callable[[], Any], *, intro: str, busy: str, refused: str
) -> dict[str, Any] | None:
    """Perform the admin's click in the sandbox's CIPP and take the details CIPP shows
    (the secret is registered for scrubbing before anything is printed)."""
    from cipp_setup.cli.options import parse_api_url

    s = env.screen
    s.say(intro, "yellow")
    with s.busy(busy):
        try:
            shown: dict[str, Any] = await asyncio.to_thread(click)
        except Exception as exc:  # noqa: BLE001 - CIPP's own failure text, shown as CIPP shows it
            reason = getattr(exc, "reason", None) or str(exc)
            s.say(f"CIPP answered: {reason}", "bold red")
            state.stopped = refused
            return None
    secret = str(shown["client_secret"])
    s.add_secret(secret)
    state.api_client_id = str(shown["client_id"]).lower()
    state.api_client_secret = Secret(secret)
    state.api_url = parse_api_url(str(shown["api_url"]))
    state.api_from_activation = True
    return shown


async def _create_client_in_sandbox(state: WizardState, env: WizardEnv) -> None:
    assert env.create_api_client is not None
    shown = await _sandbox_click(
        state, env, env.create_api_client,
        intro="Sandbox: cipp-setup clicks Add, then Save to Azure, as the admin would.",
        busy="Creating the API client and saving it to Azure…",
        refused="CIPP could not create the API client or save it to Azure",
    )
    if shown is None:
        return
    env.screen.lines([
        (("    API client: ", "dim"), (str(shown.get("display_name") or state.api_client_id), "bold")),
        (("    Client ID: ", "dim"), (state.api_client_id or "", "bold")),
        (("    Secret: ", "dim"), ("******** (kept out of every screen and log)", "")),
        (("    API URL: ", "dim"), (state.api_url or "", "bold")),
        (("    Save to Azure: ", "dim"), (str(shown.get("saved") or "done"), "")),
    ])


async def _ask_api_details(state: WizardState, env: WizardEnv) -> None:
    from cipp_setup.cli.options import parse_api_url

    a, s = state.answers, env.screen
    state.api_client_id = a.api_client_id or (
        await s.text("Application (client) id:", validate=_guid_problem)
    ).lower()
    state.api_client_secret = a.api_client_secret or await _ask_secret(env)
    state.api_url = a.api_url or parse_api_url(await s.text(
        "API URL (the Function App's https:// address):",
        default=env.suggestions.get("api_url", ""), validate=_api_url_problem,
    ))


async def _activate_in_sandbox(state: WizardState, env: WizardEnv) -> None:
    assert env.activate_in_cipp is not None
    shown = await _sandbox_click(
        state, env, env.activate_in_cipp,
        intro="Sandbox: cipp-setup clicks it for you, as the admin would.",
        busy="Activating the CIPP-API extension…",
        refused="CIPP refused to activate the API",
    )
    if shown is None:
        return
    env.screen.lines([
        (("    API URL: ", "dim"), (state.api_url or "", "bold")),
        (("    Application ID: ", "dim"), (state.api_client_id or "", "bold")),
        (("    Application Secret: ", "dim"), ("******** (kept out of every screen and log)", "")),
    ])


async def verify_api(state: WizardState, env: WizardEnv) -> None:
    """api-token then api-list-logs, waiting (with progress) while a fresh activation settles."""
    if state.stopped or not (state.api_client_id and state.api_url):
        return
    from cipp_setup.engine.context import CheckInputs
    from cipp_setup.engine.diagnose import run_diagnosis
    assert state.tenant is not None
    s = env.screen
    s.heading("Verifying the API")
    inputs = CheckInputs(
        tenant=(state.admin.tenant_id if state.admin else state.tenant), api_url=state.api_url,
        api_client_id=state.api_client_id, api_client_secret=state.api_client_secret,
        generation=state.generation,  # type: ignore[arg-type]
        function_app=state.function_app,
    )
    wait = env.timing.wait
    started = env.timing.clock()
    attempt = 1
    with s.busy("Asking for a token and calling ListLogs…"):
        while True:
            diagnosis = await run_diagnosis(inputs, env.connection, only=API_CHECKS, session=state.session)
            waiting_for = _propagating(diagnosis.report.results)
            delay = wait.delay(attempt)
            if (diagnosis.report.ok or waiting_for is None or attempt >= wait.attempts
                    or env.timing.clock() - started + delay > wait.deadline_s):
                break
            env.screen.progress(f"waiting for {waiting_for}… {attempt}/{wait.attempts}")
            await env.timing.sleep(delay)
            attempt += 1
    state.api_diagnosis = diagnosis
    for result in diagnosis.report.results:
        s.lines(_result_lines(result, env))
    if not diagnosis.report.ok:
        state.stopped = "the API did not answer"


def _propagating(results: tuple[CheckResult, ...]) -> str | None:
    for result in results:
        if result.status.is_problem and result.cause in PROPAGATING_CAUSES:
            return PROPAGATING_CAUSES[result.cause]
    return None


async def offer_revert(state: WizardState, env: WizardEnv) -> None:
    """Once the API answered, the activation-time rights can go (the API keeps working)."""
    if not state.api_verified or state.fix_session is None:
        return
    from cipp_setup.render.plans import outcome_lines, plan_lines

    s = env.screen
    plan, reverts = state.fix_session.revert_plan()
    if not plan.plans:
        return
    s.heading("Give the temporary rights back")
    s.say("CIPP needed these only while activating; the API keeps answering without them.")
    for removal in plan.plans:
        s.lines(plan_lines(removal, s.marks, heading="Revert"))
    decision = state.answers.revert
    if decision is None:
        decision = await s.confirm("Remove these temporary rights now?", default=True)
    if not decision:
        state.rights_kept = True
        s.say("Kept. Remove them later with: cipp-setup revert", "dim")
        return
    for removal in plan.plans:
        with s.busy(f"{removal.title}…"):
            outcome = await state.fix_session.revert(removal, reverts)
        state.revert_outcomes.append(outcome)
        # The check failing again is the point of a revert: show the change, not "not verified".
        s.lines(outcome_lines(replace(outcome, verified=None), s.marks))


# --- the summary ----------------------------------------------------------------------------


def summary_lines(state: WizardState, env: WizardEnv) -> list[Any]:
    from cipp_setup.engine.plan import ChangeStatus

    marks = env.screen.marks
    admin = state.admin
    lines: list[Any] = [(), (("Summary", "bold"),)]

    def row(label: str, value: str, style: str = "") -> None:
        lines.append(((f"  {label}: ", "dim"), (value, style)))

    if admin is not None:
        row("Tenant", f"{state.tenant} ({admin.tenant_id}), signed in as {admin.user_principal_name}")
    row("CIPP", f"{state.hosting or '?'}, {state.generation} generation ({state.generation_reason or 'assumed'})")
    if state.function_app:
        row("Function App", state.function_app)
    if state.generation == CURRENT and state.sam_app_id:
        row("CIPP-SAM", f"app {state.sam_app_id}")
    elif state.sam_user or state.sam_app_id:
        row("CIPP-SAM", f"user {state.sam_user or '?'}, app {state.sam_app_id or '?'}")
    if state.subscription_id:
        row("Subscription", state.subscription_id)
    outcomes = {o.plan.check_id: o for o in state.fix_outcomes}
    if state.first_report is not None:
        lines.append((("  Checked:", "dim"),))
        for result in state.first_report.results:
            outcome = outcomes.get(result.check_id)
            if _passes(result):
                text, mark, style = "passed", marks.passed, "green"
            elif outcome is not None and outcome.passes:
                text, mark, style = f"was {result.status.value}, fixed", marks.passed, "green"
            elif outcome is not None and outcome.declined:
                text, mark, style = f"{result.status.value}; fix declined", marks.failed, "bold red"
            else:
                text, mark, style = f"{result.status.value} ({result.cause})", marks.for_status(result.status), "bold red"
            lines.append(((f"    {mark} ", style), (result.check_id, "bold"), (f": {text}", "")))
    changed = [c for o in state.fix_outcomes for c in o.changes if c.status is ChangeStatus.APPLIED]
    removed = [c for o in state.revert_outcomes for c in o.changes if c.status is ChangeStatus.APPLIED]
    lines.append((("  Changed:", "dim"),))
    if not changed and not removed:
        lines.append((("    nothing", ""),))
    for c in changed:
        lines.append((("    + ", "green"), (f"{c.change.action}: {c.change.target}", "")))
    for c in removed:
        lines.append((("    - ", "yellow"), (f"{c.change.action}: {c.change.target}", "")))
    if state.rights_kept:
        lines.append((("    The temporary rights stay; remove them with: cipp-setup revert", "yellow"),))
    if state.api_diagnosis is not None:
        for result in state.api_diagnosis.report.results:
            lines.append(((f"  {marks.for_status(result.status)} ", "green" if _passes(result) else "bold red"),
                          (result.check_id, "bold"), (f": {result.summary}", "")))
    if changed or removed:
        row("Journal", str(env.journal.path))
    if state.api_verified:
        lines.append((("  The CIPP API answers. ", "bold green"),
                      ((f"Check it again any time: cipp-setup check --tenant {state.tenant} "
                       f"--generation {state.generation} --api-url {state.api_url} "
                       f"--api-client-id {state.api_client_id} "
                       f"(the secret in $CIPP_API_CLIENT_SECRET)"), "")))
    else:
        lines.append((("  Not done yet: ", "bold yellow"), (state.stopped or "the API was not verified", "")))
    return lines


# --- the driver -----------------------------------------------------------------------------

STEPS: tuple[Step, ...] = (  # activate_api creates an API client for current CIPP
    welcome, choose_hosting, ask_tenant, sign_in, decide_generation, pick_identities,
    run_checks, fix_failures, hosted_handoff, activate_api, verify_api, offer_revert,
)


async def run_wizard(state: WizardState, env: WizardEnv, steps: tuple[Step, ...] = STEPS) -> int:
    """Run every step, then the summary. 0 when the API answered, 1 otherwise."""
    try:
        for step in steps:
            await step(state, env)
    finally:
        if state.fix_session is not None:
            await state.fix_session.close()
    env.screen.summary(summary_lines(state, env))
    return 0 if state.api_verified else 1


def changes_so_far(journal: Journal) -> list[str]:
    """What this run wrote (from its own journal records), for an interrupted wizard."""
    lines = []
    for entry in journal.entries():
        if entry.run_id != journal.run_id:
            continue
        ids = ", ".join(f"{k} {v}" for k, v in entry.target.items())
        what = f"{entry.action} for {entry.check_id} ({ids})"
        if entry.interrupted:
            lines.append(f"maybe: {what}: interrupted before its outcome was recorded; verify it")
        elif entry.outcome in ("applied", "already-gone"):
            lines.append(f"{entry.outcome}: {what}")
    return lines

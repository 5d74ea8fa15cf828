"""What the wizard knows: the flags' answers, where it runs, and what its steps found.

Every step reads `WizardState` and `WizardEnv` and writes its own answer into the state by
assignment (never by appending to what an earlier run of it left), so a step can run
again and replace its answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cipp_setup.engine.model import CheckResult, Secret, Status

if TYPE_CHECKING:
    from cipp_setup.engine.context import SignedInAdmin
    from cipp_setup.engine.diagnose import ConnectionOptions, Diagnosis
    from cipp_setup.engine.fix_session import FixSession, Timing
    from cipp_setup.engine.journal import Journal
    from cipp_setup.engine.lookups import TenantLookups
    from cipp_setup.engine.plan import PlanOutcome
    from cipp_setup.engine.runner import RunReport
    from cipp_setup.gateways.auth import AdminSession
    from cipp_setup.wizard.prompts import Screen

HOSTED = "hosted"
SELF_HOSTED = "self-hosted"
HOSTINGS = (SELF_HOSTED, HOSTED)

GLOBAL_ADMIN = "sam-user-global-admin"
CONSENT = "sam-app-azure-management-consent"
CONTRIBUTOR = "sam-user-subscription-contributor"
GRAPH_APP_PERMISSIONS = "sam-app-graph-application-permissions"
USER_APP_REGISTRATION = "sam-user-app-registration"
IDENTITY_CONTRIBUTOR = "function-app-managed-identity"
API_CHECKS = frozenset({"api-token", "api-list-logs"})
LEGACY, CURRENT = "legacy", "current"
# What the legacy activation needs. Hosted: CIPP's Azure resources belong to the
# helpdesk, so the subscription right is theirs to hold, not the client's.
PREREQUISITES = {SELF_HOSTED: (GLOBAL_ADMIN, CONSENT, CONTRIBUTOR), HOSTED: (GLOBAL_ADMIN, CONSENT)}
# What creating an API client needs (current CIPP, 7.4+: the CIPP-SAM app writes them).
# Hosted: the Function App is the hosting provider's, and so is its identity.
CURRENT_PREREQUISITES = {SELF_HOSTED: (GRAPH_APP_PERMISSIONS, IDENTITY_CONTRIBUTOR), HOSTED: (GRAPH_APP_PERMISSIONS,)}
# CIPP 7.2-7.3: the CIPP-SAM user's delegated token writes the clients.
USER_WRITES_PREREQUISITES = {SELF_HOSTED: (USER_APP_REGISTRATION, IDENTITY_CONTRIBUTOR), HOSTED: (USER_APP_REGISTRATION,)}
CLIENTS_BY_USER, CLIENTS_BY_APP = "clients-by-user", "clients-by-app"


def prerequisite_table(generation: str, profile: str | None) -> dict[str, tuple[str, ...]]:
    """The prerequisites of a generation and profile (current with an unknown profile: both
    profiles' checks, which then report that they depend on the version)."""
    if generation != CURRENT:
        return PREREQUISITES
    if profile == CLIENTS_BY_USER:
        return USER_WRITES_PREREQUISITES
    if profile == CLIENTS_BY_APP:
        return CURRENT_PREREQUISITES
    return {h: (USER_APP_REGISTRATION,) + CURRENT_PREREQUISITES[h] for h in CURRENT_PREREQUISITES}


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
    cipp_version: str | None = None  # --cipp-version: decides who writes the API clients
    # The answer to "which version?" when nothing tells (`demo --yes`: the scenario's profile).
    profile_if_unknown: str | None = None
    apply_fixes: bool | None = None  # True --yes, False --dry-run, None ask per fix
    revert: bool | None = None  # True --revert (or --yes), False --keep-rights
    # The answers taken from an earlier run that stopped (wizard/resume.py), by field name.
    resumed: set[str] = field(default_factory=set)


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
    # The demo's typist (wizard/typist.py): given what CIPP showed, it queues what a person
    # types at the next prompts; the details are then asked, not taken from the click.
    type_details: Callable[[Mapping[str, Any]], None] | None = None
    sandbox_name: str | None = None
    # Plans in full (-v); by default one line per change, so the question stays on a
    # 24-row screen.
    verbose: bool = False
    open_lookups: Callable[[AdminSession], TenantLookups] | None = None
    # Where the run's progress is kept for a later run to resume (None: a sandbox run,
    # whose tenant dies with it).
    progress: Path | None = None
    # The command line for a subcommand with the run's options as they stand (the front
    # end knows the flags and the shell): a printed command works as pasted.
    command_for: Callable[..., str] | None = None


@dataclass
class WizardState:
    """What the steps answered, grouped by the step that answers it (in the order they run)."""

    answers: WizardAnswers
    # choose_hosting, ask_tenant, sign_in
    hosting: str | None = None
    tenant: str | None = None
    session: AdminSession | None = None
    signed_in_to: str | None = None  # the tenant `session` is for (going back keeps it when unchanged)
    # decide_generation
    generation: str = "legacy"
    generation_reason: str = ""
    generation_evidence: tuple[str, ...] = ()
    # current: who writes the API clients (clients-by-user 7.2-7.3, clients-by-app 7.4+),
    # None while unknown; and why
    profile: str | None = None
    profile_reason: str = ""
    # pick_identities
    sam_user: str | None = None
    sam_user_why: str = ""  # why this user, for every output ("--sam-user", your answer)
    sam_app_id: str | None = None
    subscription_id: str | None = None
    function_app: str | None = None
    # run_checks, fix_failures (and the session both use, closed when the wizard ends)
    first_report: RunReport | None = None
    fix_outcomes: list[PlanOutcome] = field(default_factory=list)
    fix_session: FixSession | None = None
    # hosted_handoff, activate_api
    cipp_url: str | None = None
    api_client_id: str | None = None
    api_client_secret: Secret | None = None
    api_url: str | None = None
    api_from_activation: bool = False
    # verify_api, offer_revert
    api_diagnosis: Diagnosis | None = None
    revert_outcomes: list[PlanOutcome] = field(default_factory=list)
    rights_kept: bool = False
    # offer_profile: the name the API details were saved under (`verify --profile NAME`)
    saved_profile: str | None = None
    stopped: str | None = None  # why the wizard ended before the API answered (any step)

    @property
    def admin(self) -> SignedInAdmin | None:
        return self.session.admin if self.session is not None else None

    @property
    def api_verified(self) -> bool:
        return self.api_diagnosis is not None and self.api_diagnosis.report.ok


# One step of the wizard: reads what the flags and earlier steps answered, asks what is
# still open, and assigns its own answer into the state.
Step = Callable[[WizardState, WizardEnv], Awaitable[None]]


def passes(result: CheckResult | None) -> bool:
    return result is not None and result.status in (Status.PASS, Status.WARN)


def prerequisites_now(state: WizardState) -> dict[str, bool]:
    """Each prerequisite: does it pass now (at the start, or verified after its fix)?"""
    assert state.first_report is not None
    fixed = {o.plan.check_id for o in state.fix_outcomes if o.passes}
    return {r.check_id: passes(r) or r.check_id in fixed for r in state.first_report.results}

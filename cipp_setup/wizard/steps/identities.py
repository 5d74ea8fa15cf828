"""Who and where: the CIPP-SAM user and app, the subscription or the Function App.

Each is taken from its flag when given; otherwise picked from what the tenant holds
(read once, through one `TenantLookups`, opened only when something is to be asked).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from cipp_setup.cli.options import parse_function_app
from cipp_setup.wizard.ask import (
    SEARCH,
    TenantPick,
    candidate_options,
    function_app_problem,
    pick_from_tenant,
    say_suggestion,
)
from cipp_setup.wizard.prompts import Option
from cipp_setup.wizard.state import CURRENT, HOSTED, SELF_HOSTED, WizardEnv, WizardState

if TYPE_CHECKING:
    from cipp_setup.engine.lookups import TenantLookups


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
    if state.generation == CURRENT and state.profile != "clients-by-user":
        state.sam_user, state.sam_user_why = None, ""
        return  # CIPP 7.4+ writes API clients as the CIPP-SAM app: no user's rights matter
    if state.answers.sam_user:
        state.sam_user, state.sam_user_why = state.answers.sam_user, "--sam-user"
        return
    s = env.screen
    s.heading("The CIPP-SAM user")
    s.say("The account CIPP's SAM wizard signed in with: " + (
        "CIPP 7.2-7.3 create API clients as this user." if state.generation == CURRENT
        else "the activation runs as this user."), "dim")
    with s.busy("Looking for users named CIPP…"):
        found = await lookups.sam_user_candidates(state.admin, env.suggestions.get("sam_user"))
    candidates = found
    while True:
        search = [Option(SEARCH, "Search for another user…", "by name or UPN")]
        # Without evidence nothing is preselected, and Enter must not land on an account
        # (the signed-in admin is listed): searching comes first then.
        options = (candidate_options(candidates) + search) if candidates.default else (search + candidate_options(candidates))
        if candidates.default and candidates.why:
            say_suggestion(s, candidates)
        elif not candidates.default:
            s.say("No single account is named like CIPP's SAM account: pick the account CIPP's SAM setup "
                  "signed in with (CIPP → Settings → Super Admin → SAM setup shows it).", "yellow")
        choice = await s.select("Which user is the CIPP-SAM user?", options, default=candidates.default)
        if choice != SEARCH:
            state.sam_user = choice
            suggested = candidates.default is not None and choice.lower() == candidates.default.lower()
            state.sam_user_why = "your answer in the wizard" + (f" (suggested: {candidates.why})" if suggested
                                                                  and candidates.why else "")
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


SAM_APP = TenantPick(
    heading="The CIPP-SAM application", busy="Looking for applications named CIPP…",
    find=lambda lookups, suggested: lookups.sam_app_candidates(suggested), suggestion="sam_app",
    nothing="No app registration's name starts with CIPP.", question="Which application is CIPP-SAM?",
    other="Enter an application (client) id…", other_question="Application (client) id of CIPP-SAM:",
)

SUBSCRIPTION = TenantPick(
    heading="The subscription hosting CIPP", busy="Reading the subscriptions you can see…",
    find=lambda lookups, suggested: lookups.subscription_candidates(suggested), suggestion="subscription",
    nothing="You cannot see any subscription (you may need to elevate access first).",
    question="Which subscription hosts CIPP's Function App?",
    other="Enter a subscription id…", other_question="Subscription id:",
)


async def pick_sam_app(state: WizardState, env: WizardEnv, lookups: TenantLookups) -> None:
    state.sam_app_id = state.answers.sam_app or await pick_from_tenant(env, SAM_APP, lookups)


async def pick_subscription(state: WizardState, env: WizardEnv, lookups: TenantLookups) -> None:
    if state.hosting != SELF_HOSTED or state.generation == CURRENT:
        state.subscription_id = None
        return  # current CIPP: the Function App is asked for instead
    state.subscription_id = state.answers.subscription or await pick_from_tenant(env, SUBSCRIPTION, lookups)


async def pick_function_app(state: WizardState, env: WizardEnv) -> None:
    """Current CIPP, self-hosted: the Function App whose identity writes Easy Auth."""
    if state.generation != CURRENT or state.hosting != SELF_HOSTED:
        state.function_app = None
        return
    if state.answers.function_app:
        state.function_app = state.answers.function_app
        return
    s = env.screen
    s.heading("The CIPP Function App")
    s.say("The Function App that runs CIPP's API (https://NAME.azurewebsites.net): its managed "
          "identity saves the API clients to Azure.", "dim")
    answer = await s.text("Function App name (or its resource id):", default=env.suggestions.get("function_app", ""),
                          validate=function_app_problem)
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

"""Legacy or current CIPP: from the flag, else from the tenant's evidence, else asked. For
current CIPP also who writes the API clients — the CIPP-SAM user (7.2-7.3) or app (7.4+):
from --cipp-version, else GetVersion and the tenant's evidence, else asked (never guessed:
the 7.4+ path consents two tenant-wide application permissions)."""

from __future__ import annotations

from typing import Any

from cipp_setup.wizard.prompts import Option
from cipp_setup.wizard.state import (
    CLIENTS_BY_APP,
    CLIENTS_BY_USER,
    CURRENT,
    GLOBAL_ADMIN,
    GRAPH_APP_PERMISSIONS,
    LEGACY,
    WizardEnv,
    WizardState,
)

# The checks whose evidence auto-detection needs run beside it (one of each generation).
_DETECTION_CHECKS = frozenset({GRAPH_APP_PERMISSIONS, GLOBAL_ADMIN})


GENERATION_NAMES = {
    LEGACY: "legacy CIPP (7.1 and older: Settings → Extensions → CIPP-API)",
    CURRENT: "current CIPP (7.2 and later: API clients)",
}


PROFILE_NAMES = {
    CLIENTS_BY_USER: "CIPP 7.2 or 7.3: the CIPP-SAM user creates the API clients",
    CLIENTS_BY_APP: "CIPP 7.4 or later: the CIPP-SAM app creates the API clients",
}


def _detection_inputs(state: WizardState, env: WizardEnv, generation: str | None) -> Any:
    from cipp_setup.engine.context import CheckInputs

    assert state.tenant is not None
    return CheckInputs(
        tenant=state.tenant, sam_app_id=state.answers.sam_app,
        api_url=state.answers.api_url or env.suggestions.get("api_url"),
        api_client_id=state.answers.api_client_id,
        api_client_secret=state.answers.api_client_secret if state.answers.api_client_id else None,
        function_app=state.answers.function_app or env.suggestions.get("function_app"),
        generation=generation,  # type: ignore[arg-type]
        cipp_version=state.answers.cipp_version,
    )


async def detect_generation(state: WizardState, env: WizardEnv) -> tuple[str | None, tuple[str, ...]]:
    """The engine's auto-detection: (generation or None when the tenant does not tell, evidence)."""
    from cipp_setup.engine.diagnose import GenerationUndetermined, run_diagnosis

    try:
        diagnosis = await run_diagnosis(_detection_inputs(state, env, None), env.connection,
                                        only=_DETECTION_CHECKS, session=state.session)
    except GenerationUndetermined as exc:
        return None, tuple(exc.evidence)
    if diagnosis.generation == CURRENT:
        state.profile, state.profile_reason = diagnosis.profile, " ".join(diagnosis.profile_evidence)
    return diagnosis.generation, tuple(diagnosis.generation_evidence)


async def decide_profile(state: WizardState, env: WizardEnv, *, detected: bool) -> None:
    """Current CIPP: who writes the API clients; the evidence, else asked, else stopped."""
    s = env.screen
    if not detected:
        from cipp_setup.engine.diagnose import run_diagnosis

        with s.busy("Looking for the CIPP version (GetVersion, the tenant's API clients)…"):
            diagnosis = await run_diagnosis(_detection_inputs(state, env, CURRENT), env.connection,
                                            only=frozenset({GRAPH_APP_PERMISSIONS}), session=state.session)
        state.profile, state.profile_reason = diagnosis.profile, " ".join(diagnosis.profile_evidence)
    if state.profile in PROFILE_NAMES:
        s.say(f"{PROFILE_NAMES[state.profile]} — {state.profile_reason}", "dim")
        return
    s.say("cipp-setup cannot tell whether this CIPP is 7.2-7.3 or 7.4 and later, and they need different "
          "rights (7.4+ needs two tenant-wide Graph application permissions; 7.2-7.3 a role for the "
          "CIPP-SAM user). CIPP shows its version at the bottom of its menu.", "yellow")
    fallback = state.answers.profile_if_unknown
    if fallback in PROFILE_NAMES:
        state.profile, state.profile_reason = fallback, "the version was not found; the default answer was taken"
        s.say(f"Taking {PROFILE_NAMES[fallback]}, the default answer.", "dim")
        return
    if not env.can_prompt:
        state.stopped = "the CIPP version is unknown: run again with --cipp-version VERSION (CIPP shows it in its menu)"
        return
    state.profile = await s.select(
        "Which CIPP version do you run?",
        [Option(CLIENTS_BY_APP, "7.4 or later", "the CIPP-SAM app creates API clients (most instances today)"),
         Option(CLIENTS_BY_USER, "7.2 or 7.3", "the CIPP-SAM user creates API clients")],
        default=env.suggestions.get("profile") or CLIENTS_BY_APP,
    )
    state.profile_reason = "you said so; nothing else told"


async def decide_generation(state: WizardState, env: WizardEnv) -> None:
    """Legacy or current: from --generation, else from the tenant's evidence (said), else asked."""
    s = env.screen
    given = state.answers.generation
    state.profile, state.profile_reason = None, ""
    if given in (LEGACY, CURRENT):
        reason = "the earlier run found it" if "generation" in state.answers.resumed else f"you passed --generation {given}"
        state.generation, state.generation_reason = given, reason
        state.generation_evidence = ()
        s.say(f"CIPP generation: {GENERATION_NAMES[given]} — {state.generation_reason}.", "dim")
        if given == CURRENT:
            await decide_profile(state, env, detected=False)
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
        if found == CURRENT:
            await decide_profile(state, env, detected=True)
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
        if state.generation == CURRENT:
            await decide_profile(state, env, detected=False)
        return
    state.generation = await s.select(
        "Which CIPP do you run?",
        [Option(CURRENT, "Current (7.2 or later)", "API Clients under Integrations → CIPP-API"),
         Option(LEGACY, "Legacy (7.1 or earlier)", "Settings → Extensions → CIPP-API")],
        default=default,
    )
    state.generation_reason = "you said so; the tenant did not tell"
    if state.generation == CURRENT:
        await decide_profile(state, env, detected=False)

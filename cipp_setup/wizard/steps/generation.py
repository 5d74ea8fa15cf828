"""Legacy or current CIPP: from the flag, else from the tenant's evidence, else asked."""

from __future__ import annotations

from cipp_setup.wizard.prompts import Option
from cipp_setup.wizard.state import (
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
        reason = "the earlier run found it" if "generation" in state.answers.resumed else f"you passed --generation {given}"
        state.generation, state.generation_reason = given, reason
        state.generation_evidence = ()
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

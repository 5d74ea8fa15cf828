"""The wizard's ways forward when a step fails: the cause in a sentence, what fixes it,
and a retry of that step that keeps every other answer.

- The API did not answer: re-enter the URL (the front end or the processor app pasted),
  re-paste the secret (wrong, or its ID), re-enter the client id, or check again after
  fixing it by hand; the default is the one the cause points at.
- A prerequisite still fails (a fix declined, or one only a person can apply): check
  again after fixing it by hand, continue anyway, or stop.
- The CIPP-SAM app was not found: pick it again.

Each returns True when the step should run again. Without a terminal nobody can answer,
so each returns False at once and the wizard ends with what is in place.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cipp_setup.engine.model import CheckResult
from cipp_setup.wizard.prompts import Option

if TYPE_CHECKING:
    from cipp_setup.wizard.state import WizardEnv, WizardState

URL, SECRET, CLIENT, RECHECK, CONTINUE, STOP, APP, BACK = (
    "url", "secret", "client", "recheck", "continue", "stop", "app", "back")
# Last in every menu, so the ways forward come first.
_BACK = Option(BACK, "Change an earlier answer…", "the tenant, CIPP-SAM, the subscription…")

# Which answer a cause points at.
_URL_CAUSES = frozenset({"front-end-url", "processor-app-url", "endpoint-not-found", "not-json", "network", "timeout"})
_SECRET_CAUSES = frozenset({"invalid-secret", "secret-id-pasted", "secret-expired", "secret-missing"})
_CLIENT_CAUSES = frozenset({"app-not-found", "identifier-uri-missing", "tenant-not-found"})


def first_problem(results: tuple[CheckResult, ...]) -> CheckResult | None:
    return next((r for r in results if r.status.is_problem), None)


def _explain(env: WizardEnv, result: CheckResult) -> None:
    """The cause in a sentence and what fixes it (the cause's own remediation, filled)."""
    from cipp_setup.checks import REGISTRY

    s = env.screen
    spec = next((c.spec for c in REGISTRY if c.spec.id == result.check_id), None)
    meaning = ""
    if spec is not None and result.cause:
        try:
            meaning = spec.cause(result.cause).meaning
        except KeyError:
            meaning = ""
    s.say(f"Why: {result.summary}" + (f" ({meaning})" if meaning and meaning != result.summary else ""), "yellow")
    remediation = result.remediation or (spec.remediation_for(result.cause) if spec is not None else None)
    if remediation is not None:
        if remediation.steps:
            s.say(f"What fixes it: {remediation.steps}")
        elif remediation.portal:
            s.say(f"What fixes it: {remediation.portal}")


def _default_for(cause: str | None) -> str:
    if cause in _URL_CAUSES:
        return URL
    if cause in _SECRET_CAUSES:
        return SECRET
    if cause in _CLIENT_CAUSES:
        return CLIENT
    return RECHECK


async def recover_api(state: WizardState, env: WizardEnv, results: tuple[CheckResult, ...]) -> bool:
    """After a failed verification; True: verify again with the corrected answer."""
    from cipp_setup.cli.options import parse_api_url
    from cipp_setup.wizard import ask

    problem = first_problem(results)
    if problem is None or not env.can_prompt:
        return False
    s = env.screen
    _explain(env, problem)
    options = [
        Option(URL, "Re-enter the API URL", f"now {state.api_url}"),
        Option(SECRET, "Re-paste the secret", "the Value, not the Secret ID"),
        Option(CLIENT, "Re-enter the client id", f"now {state.api_client_id}"),
        Option(RECHECK, "Check again", "after fixing it by hand"),
        Option(STOP, "Stop here", "the summary says what is in place and how to give it back"),
        _BACK,
    ]
    choice = await s.select("What now?", options, default=_default_for(problem.cause))
    if choice == BACK:
        await _go_back(state, env)
    if choice == URL:
        state.api_url = parse_api_url(await s.text(
            "API URL (the Function App's https:// address, not the CIPP front end):",
            validate=ask.api_url_problem,
        ))
    elif choice == SECRET:
        state.api_client_secret = await ask.ask_secret(env)
    elif choice == CLIENT:
        state.api_client_id = (await s.text("Application (client) id:", validate=ask.guid_problem)).strip().lower()
    return choice != STOP


async def recover_prerequisites(state: WizardState, env: WizardEnv, failing: list[str]) -> str:
    """A prerequisite still fails before the activation: RECHECK (after fixing it by hand),
    CONTINUE anyway, or STOP. Without a terminal: STOP."""
    if not env.can_prompt:
        return STOP
    s = env.screen
    results = {r.check_id: r for r in (state.first_report.results if state.first_report else ())}
    for check_id in failing:
        if check_id in results:
            _explain(env, results[check_id])
    choice = await s.select(
        "What now?",
        [Option(RECHECK, "Check again", "after fixing it by hand: the portal path or command above"),
         Option(CONTINUE, "Continue anyway", "the activation in CIPP will likely fail"),
         Option(STOP, "Stop here", "the summary says what is in place and how to give it back"),
         _BACK],
        default=RECHECK,
    )
    if choice == BACK:
        await _go_back(state, env)
    return choice


async def _go_back(state: WizardState, env: WizardEnv) -> None:
    """Raises GoBack: the flow runs again from the step of the chosen answer."""
    from cipp_setup.wizard.resume import choose_earlier

    await choose_earlier(state, env)


async def recheck(state: WizardState, env: WizardEnv) -> None:
    """Run the prerequisites' checks again; a check that now passes counts as fixed."""
    assert state.fix_session is not None
    with env.screen.busy("Checking again…"):
        report = await state.fix_session.check()
    for result in report.results:
        env.screen.lines(_result_line(result, env))
    state.first_report = report


def _result_line(result: CheckResult, env: WizardEnv) -> list[Any]:
    from cipp_setup.wizard.ask import result_lines

    return result_lines(result, env)


async def recover_sam_app(state: WizardState, env: WizardEnv) -> bool:
    """The CIPP-SAM app was not found (a wrong id typed or passed): pick it again."""
    if not env.can_prompt:
        return False
    from cipp_setup.wizard.steps import identities

    results = state.first_report.results if state.first_report else ()
    problem = next((r for r in results if r.cause in ("app-not-found", "app-ambiguous")), None)
    if problem is None:
        return False
    _explain(env, problem)
    choice = await env.screen.select(
        "What now?",
        [Option(APP, "Pick the CIPP-SAM app again", f"now {state.sam_app_id}"),
         Option(STOP, "Stop here", "nothing was changed yet")],
        default=APP,
    )
    if choice != APP:
        return False
    state.answers.sam_app = None

    async def use(lookups: Any) -> None:
        await identities.pick_sam_app(state, env, lookups)

    await identities._with_lookups(state, env, use)
    return True


async def go_on_despite(state: WizardState, env: WizardEnv, failing: list[str], *, would_fail: str, question: str) -> bool:
    """True when every prerequisite passes, or the admin fixed it by hand and it passes when
    checked again, or they chose to continue anyway; False (the wizard stops) otherwise.
    (`question` is kept for the callers' wording; the choice is a menu now.)"""
    from cipp_setup.wizard.state import prerequisites_now

    while failing:
        env.screen.say(f"{would_fail} while these do not pass: {', '.join(failing)}.", "yellow")
        choice = await recover_prerequisites(state, env, failing)
        if choice == CONTINUE:
            return True
        if choice != RECHECK:
            state.stopped = "a prerequisite still fails: " + ", ".join(failing)
            return False
        await recheck(state, env)
        failing = [cid for cid, ok in prerequisites_now(state).items() if not ok]
    return True

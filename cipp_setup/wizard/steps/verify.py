"""Verifying the API: api-token then api-list-logs, waiting while a fresh activation settles."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cipp_setup.engine.model import CheckResult
from cipp_setup.wizard.ask import result_lines
from cipp_setup.wizard.state import API_CHECKS, WizardEnv, WizardState

if TYPE_CHECKING:
    from cipp_setup.engine.diagnose import Diagnosis

# API check causes that right after an activation mean "not there yet", not "wrong":
# the new app, its secret and identifier URI replicate; saving Easy Auth restarts the app.
PROPAGATING_CAUSES = {
    "app-not-found": "the new API app to replicate",
    "invalid-secret": "the new API secret to replicate",
    "identifier-uri-missing": "the API app's identifier URI to replicate",
    "easy-auth-rejected": "the Function App to restart with the new settings",
    "client-not-saved-to-azure": "the Function App to restart with the saved API clients",
}


async def verify_api(state: WizardState, env: WizardEnv) -> None:
    """api-token then api-list-logs, waiting (with progress) while a fresh activation settles."""
    if state.stopped or not (state.api_client_id and state.api_url):
        return
    from dataclasses import replace

    from cipp_setup.engine.context import CheckInputs
    from cipp_setup.wizard.recovery import recover_api

    assert state.tenant is not None
    s = env.screen
    s.heading("Verifying the API")
    inputs = CheckInputs(
        tenant=(state.admin.tenant_id if state.admin else state.tenant), api_url=state.api_url,
        api_client_id=state.api_client_id, api_client_secret=state.api_client_secret,
        generation=state.generation,  # type: ignore[arg-type]
        function_app=state.function_app,
    )
    while True:
        diagnosis = await _verify_once(state, env, replace(
            inputs, api_url=state.api_url, api_client_id=state.api_client_id,
            api_client_secret=state.api_client_secret))
        state.api_diagnosis = diagnosis
        for result in diagnosis.report.results:
            s.lines(result_lines(result, env))
        if diagnosis.report.ok:
            return
        # A wrong URL, secret or id is asked again; the other answers stay as they are.
        if not await recover_api(state, env, diagnosis.report.results):
            state.stopped = "the API did not answer"
            return


async def _verify_once(state: WizardState, env: WizardEnv, inputs: Any) -> Diagnosis:
    """One verification, waiting (with progress) while a fresh activation settles."""
    from cipp_setup.engine.diagnose import run_diagnosis

    wait = env.timing.wait
    started = env.timing.clock()
    attempt = 1
    with env.screen.busy("Asking for a token and calling ListLogs…"):
        while True:
            diagnosis = await run_diagnosis(inputs, env.connection, only=API_CHECKS, session=state.session)
            waiting_for = _propagating(diagnosis.report.results, typed=not state.api_from_activation)
            delay = wait.delay(attempt)
            if (diagnosis.report.ok or waiting_for is None or attempt >= wait.attempts
                    or env.timing.clock() - started + delay > wait.deadline_s):
                return diagnosis
            env.screen.progress(f"waiting for {waiting_for}… {attempt}/{wait.attempts}")
            await env.timing.sleep(delay)
            attempt += 1


def _propagating(results: tuple[CheckResult, ...], *, typed: bool = False) -> str | None:
    """What a failure right after an activation waits for; None: it is no such failure.
    A secret the admin typed that is refused is said at once (a typo is likelier than
    replication, and "Check again" is one key away), not after minutes of waiting."""
    for result in results:
        if typed and result.cause == "invalid-secret":
            return None
        if result.status.is_problem and result.cause in PROPAGATING_CAUSES:
            return PROPAGATING_CAUSES[result.cause]
    return None

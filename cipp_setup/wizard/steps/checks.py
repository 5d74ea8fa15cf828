"""The prerequisites: checked once (each shown as it completes), then a fix offered for each failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cipp_setup.engine.model import CheckResult
from cipp_setup.wizard.ask import result_lines
from cipp_setup.wizard.state import (
    SELF_HOSTED,
    WizardEnv,
    WizardState,
    prerequisite_table,
    prerequisites_now,
)


def checks_for_run(state: WizardState) -> tuple[Any, ...]:
    from cipp_setup.checks import checks_for

    wanted = prerequisite_table(state.generation, state.profile)[state.hosting or SELF_HOSTED]
    return tuple(c for c in checks_for(state.generation) if c.spec.id in wanted)


def _progress_sink(env: WizardEnv) -> Callable[[Any], None]:
    def on_progress(event: Any) -> None:
        env.screen.progress(event.text)

    return on_progress


async def run_checks(state: WizardState, env: WizardEnv) -> None:
    from cipp_setup.engine.context import CheckInputs
    from cipp_setup.engine.fix_session import FixSession
    from cipp_setup.gateways import Gateways
    from cipp_setup.render.plans import interrupted_lines

    assert state.session is not None and state.tenant is not None
    if state.fix_session is not None:  # run again: the new session replaces the old one
        await state.fix_session.close()
    s = env.screen
    s.heading("Checking the prerequisites")
    inputs = CheckInputs(
        tenant=state.tenant, sam_user=state.sam_user, sam_user_source=state.sam_user_why or "--sam-user",
        sam_app_id=state.sam_app_id,
        subscription_id=state.subscription_id, generation=state.generation,  # type: ignore[arg-type]
        function_app=state.function_app, profile=state.profile,  # type: ignore[arg-type]
        cipp_version=state.answers.cipp_version,
    )
    gateways = Gateways.build(env.connection.cloud, state.session, retry=env.connection.retry)
    state.fix_session = FixSession(
        inputs=inputs, connection=env.connection, session=state.session, gateways=gateways,
        checks=checks_for_run(state), journal=env.journal, timing=env.timing,
        on_progress=_progress_sink(env), profile=state.profile,
    )
    # The sign-in's consent page, if Entra showed one, changed the tenant: journaled.
    await state.fix_session.record_sign_in_consent()
    interrupted = state.fix_session.interrupted()
    if interrupted:
        s.lines(interrupted_lines(interrupted))
    with s.busy("Running the checks…"):
        def on_result(result: CheckResult) -> None:
            s.lines(result_lines(result, env))

        state.first_report = await state.fix_session.check(on_result=on_result)
    from cipp_setup.wizard.recovery import recover_sam_app

    if await recover_sam_app(state, env):
        # Another CIPP-SAM app: the checks start over with it (the other answers stay).
        await run_checks(state, env)




async def fix_failures(state: WizardState, env: WizardEnv) -> None:
    from cipp_setup.engine.plan import declined_outcome, planned_outcome
    from cipp_setup.render.plans import outcome_lines, plan_lines

    assert state.fix_session is not None and state.first_report is not None
    s = env.screen
    state.fix_outcomes = []
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
        s.lines(plan_lines(plan, s.marks, heading=f"Fix {number}/{len(plans)}", detailed=env.verbose))
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

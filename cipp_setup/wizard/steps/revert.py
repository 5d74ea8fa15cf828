"""Giving the temporary rights back once the API answers (it keeps answering without them)."""

from __future__ import annotations

from dataclasses import replace

from cipp_setup.wizard.state import WizardEnv, WizardState


async def offer_revert(state: WizardState, env: WizardEnv) -> None:
    """Once the API answered, the activation-time rights can go (the API keeps working)."""
    if not state.api_verified or state.fix_session is None:
        return
    from cipp_setup.render.plans import outcome_lines, plan_lines

    s = env.screen
    state.revert_outcomes, state.rights_kept = [], False
    plan, reverts = state.fix_session.revert_plan()
    if not plan.plans:
        return
    s.heading("Give the temporary rights back")
    s.say("CIPP needed these only while activating; the API keeps answering without them.")
    for removal in plan.plans:
        s.lines(plan_lines(removal, s.marks, heading="Revert", detailed=env.verbose))
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

"""The wizard: its steps in order, run over one `WizardState`, then the summary.

Order: welcome → hosted or self-hosted → tenant → sign in → CIPP generation → CIPP-SAM
user, app, subscription → checks (each shown as it completes) → for each failure, the
plan and a question → apply and re-verify → activate the API in CIPP (or, hosted: what
to send the helpdesk) → verify with api-token and api-list-logs → give the temporary
rights back → summary.

Each step is one function in `wizard/steps/` (its module says which); the question
patterns they share are in `wizard/ask.py`, what they read and write in `wizard/state.py`.
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

from typing import TYPE_CHECKING

from cipp_setup.wizard.state import (
    HOSTED,
    PREREQUISITES,
    Step,
    WizardAnswers,
    WizardEnv,
    WizardState,
)
from cipp_setup.wizard.steps.activation import activate_api
from cipp_setup.wizard.steps.checks import checks_for_run, fix_failures, run_checks
from cipp_setup.wizard.steps.generation import decide_generation
from cipp_setup.wizard.steps.handoff import hosted_handoff
from cipp_setup.wizard.steps.identities import pick_identities
from cipp_setup.wizard.steps.intro import choose_hosting, welcome
from cipp_setup.wizard.steps.profile import offer_profile
from cipp_setup.wizard.steps.revert import offer_revert
from cipp_setup.wizard.steps.tenant import ask_tenant, sign_in
from cipp_setup.wizard.resume import GoBack, first_step_of, go_back, offer_resume
from cipp_setup.wizard.resume import clear as clear_progress
from cipp_setup.wizard.resume import save as save_progress
from cipp_setup.wizard.steps.verify import verify_api
from cipp_setup.wizard.summary import summary_lines

if TYPE_CHECKING:
    from cipp_setup.engine.journal import Journal

__all__ = [
    "HOSTED",
    "PREREQUISITES",
    "STEPS",
    "WizardAnswers",
    "WizardEnv",
    "WizardState",
    "changes_so_far",
    "checks_for_run",
    "run_wizard",
]

STEPS: tuple[Step, ...] = (  # activate_api creates an API client for current CIPP
    welcome, offer_resume, choose_hosting, ask_tenant, sign_in, decide_generation, pick_identities,
    run_checks, fix_failures, hosted_handoff, activate_api, verify_api, offer_revert, offer_profile,
)


async def run_wizard(state: WizardState, env: WizardEnv, steps: tuple[Step, ...] = STEPS) -> int:
    """Run every step, then the summary. 0 when the API answered, 1 otherwise.

    Before each step, where the run is goes to the progress file (a later run resumes from
    it); a recovery's "change an earlier answer" runs the steps again from the one that
    asks it. A run that ends with the API answering leaves no progress behind."""
    index = 0
    resumable = offer_resume not in steps  # progress is written once an earlier run's was read
    try:
        while index < len(steps):
            step = steps[index]
            if env.progress is not None and resumable:
                save_progress(env.progress, state, step.__name__)
            resumable = resumable or step is offer_resume
            try:
                await step(state, env)
            except GoBack as back:
                go_back(state, back)
                env.screen.say(f"Back to {back.earlier.title.lower()}; every other answer stays.", "dim")
                index = first_step_of(steps, back.step)
                continue
            index += 1
    finally:
        if state.fix_session is not None:
            await state.fix_session.close()
    if env.progress is not None and state.api_verified:
        clear_progress(env.progress)
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

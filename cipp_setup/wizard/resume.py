"""Carrying on where an earlier wizard run stopped, and going back to an earlier answer.

Before each step the wizard writes where it is and what was answered so far (never a
secret: the secret stays in this run's memory only) next to the journal, in
`wizard-progress.json`. A run that ends with the API answering removes it; a run that
stopped, failed or was interrupted leaves it, and the next run says it is resuming and
from which step, and takes the earlier answers instead of asking them again. The checks
always run again: what was fixed meanwhile passes, and nothing is applied twice.

Going back: a recovery menu offers "Change an earlier answer…"; the chosen answer is
forgotten (its flag too) and the wizard runs again from the step that asks it, keeping
every other answer (and the secret) as it was.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cipp_setup.wizard.prompts import Option

if TYPE_CHECKING:
    from cipp_setup.wizard.state import WizardAnswers, WizardEnv, WizardState

PROGRESS_FILE_NAME = "wizard-progress.json"
RESUME, FRESH = "resume", "fresh"

# What each step does, in the words "it stopped at …" uses.
STEP_WORDS = {
    "welcome": "the start", "choose_hosting": "how CIPP is hosted", "ask_tenant": "the partner tenant",
    "sign_in": "signing in", "decide_generation": "the CIPP generation",
    "pick_identities": "picking the CIPP-SAM user, app and subscription", "run_checks": "the checks",
    "fix_failures": "the fixes", "hosted_handoff": "what to send the helpdesk",
    "activate_api": "the activation in CIPP", "verify_api": "verifying the API",
    "offer_revert": "giving the temporary rights back", "offer_profile": "keeping the API details",
}

# The answers a later run may take over (the state's field → the answers' field).
_KEPT = {
    "hosting": "hosting", "tenant": "tenant", "generation": "generation", "sam_user": "sam_user",
    "sam_app_id": "sam_app", "subscription_id": "subscription", "function_app": "function_app",
    "cipp_url": "cipp_url", "api_url": "api_url", "api_client_id": "api_client_id",
}


@dataclass(frozen=True)
class Progress:
    """Where an earlier run was, and what it had answered (no secret)."""

    step: str
    updated: str
    answers: dict[str, str]

    @property
    def where(self) -> str:
        return STEP_WORDS.get(self.step, self.step)


def progress_path(journal_path: Path) -> Path:
    return journal_path.parent / PROGRESS_FILE_NAME


def save(path: Path, state: WizardState, step: str) -> None:
    """Where the run is now (atomically; a progress file that cannot be written only costs
    the next run its resume, so it is never an error)."""
    answers = {key: str(value) for key, value in ((f, getattr(state, f)) for f in _KEPT) if value}
    if state.generation_reason == "assumed" or not state.generation_reason:
        answers.pop("generation", None)  # only a generation that was decided is worth keeping
    document = {"step": step, "updated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "answers": answers}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".progress-", dir=str(path.parent))
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle)
        os.replace(tmp, path)
    except OSError:
        return


def load(path: Path) -> Progress | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        answers = {str(k): str(v) for k, v in dict(document.get("answers") or {}).items() if k in _KEPT}
        return Progress(step=str(document["step"]), updated=str(document.get("updated", "")), answers=answers)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # unreadable: start fresh, as if there were none


def clear(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        return


def _conflicts(progress: Progress, answers: WizardAnswers) -> list[str]:
    """The flags of this run that contradict the earlier run's answers."""
    return [f"--{_KEPT[key].replace('_', '-')}" for key, value in progress.answers.items()
            if getattr(answers, _KEPT[key]) not in (None, value)]


async def offer_resume(state: WizardState, env: WizardEnv) -> None:
    """An earlier run stopped: say so and from where, and take its answers (asked first,
    when someone can answer)."""
    if env.progress is None:
        return
    progress = load(env.progress)
    if progress is None or not progress.answers:
        return  # nothing was answered yet: nothing to carry on from
    s = env.screen
    kept = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in progress.answers.items() if k in ("tenant", "sam_user", "sam_app_id"))
    conflicts = _conflicts(progress, state.answers)
    if conflicts:
        s.say(f"An earlier run ({progress.updated}) stopped at {progress.where}; this one is for other answers "
              f"({', '.join(conflicts)}), so it starts from the beginning.", "dim")
        return
    s.say(f"Resuming the run of {progress.updated}: it stopped at {progress.where}"
          + (f" ({kept})." if kept else "."), "bold")
    if env.can_prompt:
        choice = await s.select("Carry on from there?", [
            Option(RESUME, "Resume", "keep its answers; the checks run again and skip what is done"),
            Option(FRESH, "Start over", "ask everything again"),
        ], default=RESUME)
        if choice != RESUME:
            clear(env.progress)
            return
    for key, value in progress.answers.items():
        if getattr(state.answers, _KEPT[key]) is None:
            setattr(state.answers, _KEPT[key], value)
            state.answers.resumed.add(_KEPT[key])
    s.say("The checks run again: what was fixed meanwhile passes, and nothing is applied twice. "
          "The secret was never saved: paste it again when asked.", "dim")


# --- going back to an earlier answer ------------------------------------------------------


class GoBack(Exception):
    """Raised by a recovery: forget `earlier`'s answers and run the wizard again from its step."""

    def __init__(self, earlier: Earlier) -> None:
        super().__init__(earlier.step)
        self.earlier = earlier
        self.step = earlier.step


@dataclass(frozen=True)
class Earlier:
    """An answer to change: its title, the step that asks it, and the state's fields it
    forgets (a new tenant also forgets what was picked in the old one)."""

    title: str
    step: str
    fields: tuple[str, ...]
    applies: Callable[[WizardState], bool] = lambda state: True


def go_back(state: WizardState, back: GoBack) -> None:
    """Every answer given so far is kept (as if its flag had been passed), then the chosen
    ones are forgotten, with their flags: only they are asked again."""
    answers = state.answers
    for field_name, answer_name in _KEPT.items():
        value = getattr(state, field_name)
        if field_name == "generation" and not state.generation_reason:
            continue  # not decided yet
        if value and getattr(answers, answer_name) is None:
            setattr(answers, answer_name, value)
    for field_name in back.earlier.fields:
        setattr(answers, _KEPT[field_name], None)
        answers.resumed.discard(_KEPT[field_name])
        if field_name == "generation":
            answers.generation_if_unknown = None
        else:
            setattr(state, field_name, None)
    state.stopped = None


def _legacy(state: WizardState) -> bool:
    return state.generation != "current"


_PICKED = ("sam_user", "sam_app_id", "subscription_id", "function_app")
EARLIER = (
    Earlier("How CIPP is hosted", "choose_hosting", ("hosting",)),
    Earlier("The partner tenant (signs in again)", "ask_tenant", ("tenant", "generation", *_PICKED)),
    Earlier("The CIPP generation", "decide_generation", ("generation", *_PICKED)),
    Earlier("The CIPP-SAM user", "pick_identities", ("sam_user",), _legacy),
    Earlier("The CIPP-SAM application", "pick_identities", ("sam_app_id",)),
    Earlier("The subscription", "pick_identities", ("subscription_id",),
            lambda state: _legacy(state) and state.hosting != "hosted"),
    Earlier("The Function App", "pick_identities", ("function_app",), lambda state: not _legacy(state)),
)


async def choose_earlier(state: WizardState, env: WizardEnv) -> None:
    """Which earlier answer to change; raises GoBack (the flow runs again from its step)."""
    options = [Option(str(i), e.title, _now(state, e)) for i, e in enumerate(EARLIER) if e.applies(state)]
    raise GoBack(EARLIER[int(await env.screen.select("Which answer?", options))])


def _now(state: WizardState, earlier: Earlier) -> str:
    value = getattr(state, earlier.fields[0], None)
    return f"now {value}" if value else ""


def first_step_of(steps: tuple[Any, ...], name: str) -> int:
    return next(i for i, step in enumerate(steps) if step.__name__ == name)

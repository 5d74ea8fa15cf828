"""Getting the API's details from CIPP: the admin activates the API (legacy CIPP) or
creates an API client and saves it to Azure (current CIPP), and hands over what CIPP
shows. In the sandbox, cipp-setup performs the admin's clicks.

Both generations follow one pattern (`in_cipp`): every prerequisite passes or the admin
chooses to go on; the flags' details are taken when all were given; else the admin is
told what to do in CIPP and asked for what it shows. `InCipp` holds what differs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cipp_setup.cli.options import parse_api_url
from cipp_setup.engine.model import Secret
from cipp_setup.gateways.threads import in_thread
from cipp_setup.wizard.ask import ask_api_details, given_api_details
from cipp_setup.wizard.recovery import go_on_despite
from cipp_setup.wizard.state import CURRENT, HOSTED, WizardEnv, WizardState, prerequisites_now

_SECRET_SHOWN = ("******** (kept out of every screen and log)", "")

API_CLIENT_STEPS = (
    "In CIPP: Integrations → CIPP-API → API Clients → Add API Client: give it a name, pick a "
    "role (readonly is enough for ListLogs), tick Enabled and Submit. Copy the Client ID and the "
    "secret (shown once). Then Save to Azure: CIPP writes the Function App's authentication "
    "settings and restarts it — allow about a minute."
)


@dataclass(frozen=True)
class SandboxClick:
    """The admin's click in CIPP that the sandbox performs, in the wizard's words."""

    intro: str
    busy: str
    refused: str  # why the wizard stops when CIPP refuses
    # The details CIPP showed, as the wizard repeats them (the secret masked).
    shown_lines: Callable[[WizardState, Mapping[str, Any]], list[Any]]


@dataclass(frozen=True)
class InCipp:
    """What the admin does in CIPP for the API's details, in the wizard's words."""

    heading: str
    sandbox: SandboxClick
    would_fail: str  # "... would fail while these do not pass: ..."
    go_on: str  # the question when a prerequisite fails
    instructions: str
    done: str  # the question once the admin has done it
    not_done: str  # why the wizard stops when they have not


def _activation_shown(state: WizardState, shown: Mapping[str, Any]) -> list[Any]:
    return [
        (("    API URL: ", "dim"), (state.api_url or "", "bold")),
        (("    Application ID: ", "dim"), (state.api_client_id or "", "bold")),
        (("    Application Secret: ", "dim"), _SECRET_SHOWN),
    ]


def _api_client_shown(state: WizardState, shown: Mapping[str, Any]) -> list[Any]:
    return [
        (("    API client: ", "dim"), (str(shown.get("display_name") or state.api_client_id), "bold")),
        (("    Client ID: ", "dim"), (state.api_client_id or "", "bold")),
        (("    Secret: ", "dim"), _SECRET_SHOWN),
        (("    API URL: ", "dim"), (state.api_url or "", "bold")),
        (("    Save to Azure: ", "dim"), (str(shown.get("saved") or "done"), "")),
    ]


_ACTIVATE_CLICK = SandboxClick(
    intro="Sandbox: cipp-setup clicks it for you, as the admin would.", busy="Activating the CIPP-API extension…",
    refused="CIPP refused to activate the API", shown_lines=_activation_shown,
)

_ADD_AND_SAVE_CLICK = SandboxClick(
    intro="Sandbox: cipp-setup clicks Add, then Save to Azure, as the admin would.",
    busy="Creating the API client and saving it to Azure…",
    refused="CIPP could not create the API client or save it to Azure", shown_lines=_api_client_shown,
)

ACTIVATE_LEGACY_API = InCipp(
    heading="Activate the API in CIPP", sandbox=_ACTIVATE_CLICK,
    would_fail="Activation in CIPP would fail", go_on="Continue to the activation anyway?",
    instructions=("In CIPP: Settings → Extensions → CIPP-API → enable it and Save. CIPP shows the API URL, "
                  "the Application ID and the Application Secret once: copy all three."),
    done="Have you activated it and copied the three values?", not_done="the API was not activated in CIPP yet",
)

CREATE_API_CLIENT = InCipp(
    heading="Create an API client in CIPP", sandbox=_ADD_AND_SAVE_CLICK,
    would_fail="Creating or saving the API client in CIPP would fail", go_on="Continue to the API client anyway?",
    instructions=API_CLIENT_STEPS,
    done="Have you created and saved the client, and copied its id and secret?",
    not_done="no API client was created in CIPP yet",
)


async def activate_api(state: WizardState, env: WizardEnv) -> None:
    """The API's details: from CIPP (self-hosted, or any current CIPP), or from the helpdesk (hosted legacy)."""
    if state.stopped:
        return
    if state.generation == CURRENT:
        await in_cipp(state, env, CREATE_API_CLIENT, env.create_api_client)
    elif state.hosting == HOSTED:
        if not given_api_details(state):
            await ask_api_details(state, env)
    else:
        await in_cipp(state, env, ACTIVATE_LEGACY_API, env.activate_in_cipp)


async def in_cipp(
    state: WizardState, env: WizardEnv, how: InCipp, sandbox_click: Callable[[], Mapping[str, Any]] | None
) -> None:
    """The admin acts in CIPP (or the sandbox clicks for them) and hands over what CIPP shows."""
    s = env.screen
    failing = [cid for cid, ok in prerequisites_now(state).items() if not ok]
    s.heading(how.heading)
    if not await go_on_despite(state, env, failing, would_fail=how.would_fail, question=how.go_on):
        return
    if given_api_details(state):
        s.say("Using the API details you passed (--api-client-id, --api-url, secret).", "dim")
        return
    s.say(how.instructions)
    if sandbox_click is not None:
        shown = await _sandbox_click(state, env, sandbox_click, how)
        if shown is not None:
            s.lines(how.sandbox.shown_lines(state, shown))
            if env.type_details is not None:
                # The demo: copied from CIPP into the prompts, as a person would (typed
                # visibly, one mistake included); what the click returned is not used.
                s.say("Now copy them into cipp-setup, as you would: the demo pastes each one (watch the secret).", "yellow")
                env.type_details(shown)
                state.api_client_id = state.api_url = state.api_client_secret = None
                await ask_api_details(state, env)
        return
    if not await s.confirm(how.done, default=True):
        state.stopped = how.not_done
        return
    await ask_api_details(state, env)


async def _sandbox_click(
    state: WizardState, env: WizardEnv, click: Callable[[], Mapping[str, Any]], how: InCipp
) -> Mapping[str, Any] | None:
    """Perform the admin's click in the sandbox's CIPP and take the details CIPP shows
    (the secret is registered for scrubbing before anything is printed)."""
    s = env.screen
    s.say(how.sandbox.intro, "yellow")
    with s.busy(how.sandbox.busy):
        try:
            shown = await in_thread(click)
        except Exception as exc:  # noqa: BLE001 - CIPP's own failure text, shown as CIPP shows it
            reason = getattr(exc, "reason", None) or str(exc)
            s.say(f"CIPP answered: {reason}", "bold red")
            state.stopped = how.sandbox.refused
            return None
    secret = str(shown["client_secret"])
    s.add_secret(secret)
    state.api_client_id = str(shown["client_id"]).lower()
    state.api_client_secret = Secret(secret)
    state.api_url = parse_api_url(str(shown["api_url"]))
    state.api_from_activation = True
    return shown

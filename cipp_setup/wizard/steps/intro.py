"""The first steps: what will happen, and how CIPP is hosted."""

from __future__ import annotations

from cipp_setup.wizard.prompts import Option
from cipp_setup.wizard.state import HOSTED, SELF_HOSTED, WizardEnv, WizardState


async def welcome(state: WizardState, env: WizardEnv) -> None:
    s = env.screen
    s.heading("cipp-setup: get the CIPP API answering")
    if env.sandbox_name:
        s.say(f"Sandbox: an offline stand-in tenant (scenario '{env.sandbox_name}'); nothing real is touched.", "yellow")
    s.say("What will happen:")
    for line in (
        "1. You say how CIPP is hosted and which tenant it manages, and sign in to that tenant.",
        "2. cipp-setup tells which CIPP generation it finds (legacy 7.1 or current 7.2+), and why.",
        "3. You pick the CIPP-SAM app (and user) and where CIPP runs; it checks the prerequisites.",
        "4. For each one that fails it shows exactly what it would change, and asks first.",
        "5. You enable the API in CIPP; cipp-setup verifies that it answers (ListLogs).",
        "6. It offers to give back any temporary rights it added. Every change is journaled.",
    ):
        s.say("  " + line)
    s.say("Press Ctrl-C at any time to stop; cipp-setup then says what it changed so far.", "dim")


async def choose_hosting(state: WizardState, env: WizardEnv) -> None:
    if state.answers.hosting:
        state.hosting = state.answers.hosting
    else:
        env.screen.heading("Where does your CIPP run?")
        state.hosting = await env.screen.select(
            "How is your CIPP hosted?",
            [
                Option(SELF_HOSTED, "Self-hosted", "deployed in your own Azure subscription"),
                Option(HOSTED, "Hosted by CyberDrain", "a cipp.app subscription"),
            ],
            default=SELF_HOSTED,
        )
    if state.hosting == HOSTED:
        env.screen.say(
            "Hosted CIPP: the API is enabled by the CIPP helpdesk, not in your own Azure. "
            "cipp-setup checks and fixes what your tenant must provide (the CIPP-SAM user's "
            "Global Administrator role and the CIPP-SAM app's consent), then tells you what "
            "to send the helpdesk.", "yellow",
        )

"""Hosted legacy CIPP: what to send the CIPP helpdesk, who enables the API."""

from __future__ import annotations

from typing import Any

from cipp_setup.cli.options import parse_api_url
from cipp_setup.wizard.ask import api_url_problem
from cipp_setup.wizard.state import CURRENT, HOSTED, WizardEnv, WizardState, prerequisites_now


async def hosted_handoff(state: WizardState, env: WizardEnv) -> None:
    """Hosted legacy CIPP: what the helpdesk needs; continue only if they already sent the API
    details. (Current CIPP: hosted admins create API clients themselves.)"""
    if state.hosting != HOSTED or state.generation == CURRENT:
        state.cipp_url = None
        return
    s = env.screen
    state.cipp_url = state.answers.cipp_url
    if state.cipp_url is None:
        s.heading("Your CIPP")
        state.cipp_url = parse_api_url(await s.text(
            "Your CIPP's address (the URL you open CIPP at):",
            default=env.suggestions.get("cipp_url", ""), validate=api_url_problem,
        ))
    ready = all(prerequisites_now(state).values())
    s.heading("Send this to the CIPP helpdesk")
    s.lines(helpdesk_lines(state))
    if not ready:
        s.say("Fix the failing prerequisites first (see above): the helpdesk's activation would fail.", "yellow")
    if state.answers.api_client_id or state.answers.api_url:
        return  # the details came by flag: the helpdesk already answered; verify them
    answered = env.can_prompt and await s.confirm(
        "Has the helpdesk already enabled the API and sent you its client id and secret?", default=False
    )
    if not answered:
        state.stopped = "waiting for the CIPP helpdesk to enable the API"


def helpdesk_lines(state: WizardState) -> list[Any]:
    admin = state.admin
    results = {r.check_id: r for r in (state.first_report.results if state.first_report else ())}
    now = prerequisites_now(state) if state.first_report else {}
    lines: list[Any] = [
        (("    Tenant: ", "dim"), (f"{state.tenant} ({admin.tenant_id})" if admin else str(state.tenant), "bold")),
        (("    CIPP-SAM user: ", "dim"), (str(state.sam_user or "not named (current CIPP: no user's rights matter)"),
                                       "bold")),
        (("    CIPP URL: ", "dim"), (str(state.cipp_url or "?"), "bold")),
    ]
    for check_id, ok in now.items():
        verdict = "passes" if ok else f"fails ({results[check_id].cause})"
        lines.append(((f"    {check_id}: ", "dim"), (verdict, "green" if ok else "bold red")))
    lines.append(((("    Ask them to enable the CIPP-API extension for your instance; they send back the "
                   "API URL, client id and secret."), ""),))
    lines.append((("    Once they have: ", "bold"), ("the Global Administrator role cipp-setup gave the CIPP-SAM user is "
                                                   "no longer needed; the command at the end gives it back.", "")))
    return lines

"""Keeping the API details: the wizard holds the secret CIPP showed once."""

from __future__ import annotations

from typing import Any

from cipp_setup.wizard.state import WizardEnv, WizardState


async def offer_profile(state: WizardState, env: WizardEnv) -> None:
    """Offer to keep the API details as a profile (the secret in the OS keyring), and name
    `verify --profile` to re-check."""
    if not state.api_verified or not env.can_prompt or env.sandbox_name:
        return  # a sandbox's API dies with it; nobody to ask without a terminal
    from cipp_setup import profiles

    s = env.screen
    s.heading("Keep the API details")
    if not await s.confirm("Save the API URL, client id and secret (in the OS keyring) as a profile?", default=True):
        s.say("Not saved. The secret is only in this run's memory and is gone when it ends.", "dim")
        return
    name = (await s.text("Profile name:", default="cipp", validate=lambda v: _name_problem(v, profiles))).strip()
    assert state.tenant and state.api_url and state.api_client_id and state.api_client_secret
    try:
        profiles.add_profile(profiles.Profile(name, state.tenant, state.api_url, state.api_client_id),
                             state.api_client_secret.reveal(), replace=True, allow_file=False)
    except profiles.ProfileError as exc:
        s.say(f"Not saved: {exc}", "yellow")
        return
    state.saved_profile = name
    s.say(f"Saved as profile '{name}'. Check the API again any time: cipp-setup verify --profile {name}", "green")


def _name_problem(value: str, profiles: Any) -> str | None:
    try:
        profiles.validate_name(value.strip())
    except profiles.ProfileError as exc:
        return str(exc)
    return None

"""Which tenant, and signing in to it."""

from __future__ import annotations

from cipp_setup.cli.options import parse_tenant
from cipp_setup.gateways.threads import in_thread
from cipp_setup.wizard.ask import tenant_problem
from cipp_setup.wizard.state import WizardEnv, WizardState


async def ask_tenant(state: WizardState, env: WizardEnv) -> None:
    """Always an explicit tenant, asked before sign-in (MFA in the wrong tenant otherwise)."""
    if state.answers.tenant:
        state.tenant = state.answers.tenant
        return
    env.screen.heading("Tenant")
    env.screen.say("Your partner tenant: the one CIPP itself runs in, where the CIPP-SAM app and user "
                   "live (not one of the client tenants CIPP manages).", "dim")
    answer = await env.screen.text(
        "Your partner tenant (tenant id or domain):",
        default=env.suggestions.get("tenant", ""), validate=tenant_problem,
    )
    state.tenant = parse_tenant(answer)


def _sign_in_method_reason(auth: str, sandbox: bool) -> str:
    if sandbox:
        return "device code (the sandbox approves it as the scenario's admin)"
    return {
        "device-code": "device code (no browser can open on this machine; use any browser, on any device)",
        "browser": "your browser",
        "azure-cli": "your Azure CLI sign-in",
        "client-secret": "a service principal (AZURE_CLIENT_ID / AZURE_CLIENT_SECRET)",
    }.get(auth, auth)


async def sign_in(state: WizardState, env: WizardEnv) -> None:
    from cipp_setup.gateways.auth import consent_notice
    from cipp_setup.gateways.auth import sign_in as engine_sign_in
    from cipp_setup.render.text import signed_in_line

    c = env.connection
    assert state.tenant is not None
    if state.session is not None and state.signed_in_to == state.tenant:
        return  # back to an earlier answer, same tenant: the sign-in holds
    env.screen.heading("Sign in")
    env.screen.say(f"Signing in to {state.tenant} with {_sign_in_method_reason(c.auth, env.sandbox_name is not None)}.")
    # The wizard goes on to fix: one sign-in asks the read and the write permissions, so
    # the consent step comes once, here, said before it comes.
    notice = consent_notice(c.cloud, c.auth, for_fix=True)
    if notice and c.interactive:
        env.screen.say(notice, "dim")
        remove = (env.command_for(state, "revert", "--remove-consent") if env.command_for is not None
                  else "cipp-setup revert --remove-consent")
        env.screen.say("    " + remove, "nowrap")
    with env.screen.busy("Waiting for the sign-in…"):
        state.session = await in_thread(
            engine_sign_in, cloud=c.cloud, tenant=state.tenant, auth=c.auth, interactive=c.interactive,
            device_code_callback=c.device_code_callback, client_id=c.client_id,
            client_secret=c.client_secret, for_fix=True,
        )
    state.signed_in_to = state.tenant
    admin = state.session.admin
    env.screen.lines([signed_in_line(admin.user_principal_name, admin.tenant_id, state.tenant)])
    if admin.kind != "user":
        env.screen.say("Signed in as an application: it cannot stand in for the CIPP-SAM user.", "yellow")

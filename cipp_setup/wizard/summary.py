"""The wizard's last screen: what it found, changed and verified, and what is left to do."""

from __future__ import annotations

from typing import Any

from cipp_setup.wizard.state import CURRENT, WizardEnv, WizardState, passes


def summary_lines(state: WizardState, env: WizardEnv) -> list[Any]:
    from cipp_setup.engine.plan import ChangeStatus

    marks = env.screen.marks
    admin = state.admin
    lines: list[Any] = [(), (("Summary", "bold"),)]

    def row(label: str, value: str, style: str = "") -> None:
        lines.append(((f"  {label}: ", "dim"), (value, style)))

    if admin is not None:
        row("Tenant", f"{state.tenant} ({admin.tenant_id}), signed in as {admin.user_principal_name}")
    row("CIPP", f"{state.hosting or '?'}, {state.generation} generation ({state.generation_reason or 'assumed'})")
    if state.generation == CURRENT:
        from cipp_setup.engine.result import PROFILE_LABELS

        row("CIPP version", PROFILE_LABELS.get(state.profile or "", "unknown (the version-dependent checks were not counted)"))
    if state.function_app:
        row("Function App", state.function_app)
    if state.generation == CURRENT and state.sam_app_id and state.profile != "clients-by-user":
        row("CIPP-SAM", f"app {state.sam_app_id}")
    elif state.sam_user or state.sam_app_id:
        row("CIPP-SAM", f"user {state.sam_user or '?'}, app {state.sam_app_id or '?'}")
        if state.sam_user and state.sam_user_why:
            row("CIPP-SAM user from", state.sam_user_why)
    if state.subscription_id:
        row("Subscription", state.subscription_id)
    outcomes = {o.plan.check_id: o for o in state.fix_outcomes}
    if state.first_report is not None:
        lines.append((("  Checked:", "dim"),))
        for result in state.first_report.results:
            outcome = outcomes.get(result.check_id)
            if passes(result):
                text, mark, style = "passed", marks.passed, "green"
            elif outcome is not None and outcome.passes:
                text, mark, style = f"was {result.status.value}, fixed", marks.passed, "green"
            elif outcome is not None and outcome.declined:
                text, mark, style = f"{result.status.value}; fix declined", marks.failed, "bold red"
            else:
                text, mark, style = f"{result.status.value} ({result.cause})", marks.for_status(result.status), "bold red"
            lines.append(((f"    {mark} ", style), (result.check_id, "bold"), (f": {text}", "")))
    changed = [c for o in state.fix_outcomes for c in o.changes if c.status is ChangeStatus.APPLIED]
    removed = [c for o in state.revert_outcomes for c in o.changes if c.status is ChangeStatus.APPLIED]
    lines.append((("  Changed:", "dim"),))
    if not changed and not removed:
        lines.append((("    nothing", ""),))
    for c in changed:
        lines.append((("    + ", "green"), (f"{c.change.action}: {c.change.target}", "")))
    for c in removed:
        lines.append((("    - ", "yellow"), (f"{c.change.action}: {c.change.target}", "")))
    if state.rights_kept:
        lines.append((("    The temporary rights stay; remove them with: cipp-setup revert", "yellow"),))
    if state.api_diagnosis is not None:
        for result in state.api_diagnosis.report.results:
            lines.append(((f"  {marks.for_status(result.status)} ", "green" if passes(result) else "bold red"),
                          (result.check_id, "bold"), (f": {result.summary}", "")))
    if changed or removed:
        row("Journal", str(env.journal.path))
    if state.api_verified and env.sandbox_name:
        # The sandbox's addresses die with it: point at what works after it ends.
        lines.append((("  The CIPP API answers. ", "bold green"),
                      ("That was the sandbox, gone when this ends. For your tenant: ", ""),
                      ("cipp-setup wizard", "bold nowrap"), ("; to watch it again: ", ""),
                      ("cipp-setup demo", "bold nowrap")))
    elif state.api_verified and state.saved_profile:
        lines.append((("  The CIPP API answers. ", "bold green"), ("Check it again any time: ", ""),
                      (f"cipp-setup verify --profile {state.saved_profile}", "nowrap")))
    elif state.api_verified:
        from cipp_setup.shell import env as env_var

        lines.append((("  The CIPP API answers. ", "bold green"), ("Check it again any time: ", ""),
                      ((f"cipp-setup verify --tenant {state.tenant} --generation {state.generation} "
                        f"--api-url {state.api_url} --api-client-id {state.api_client_id}"), "nowrap"),
                      (f" (the secret in {env_var('CIPP_API_CLIENT_SECRET')})", "")))
    else:
        lines.append((("  Not done yet: ", "bold yellow"), (state.stopped or "the API was not verified", "")))
    return lines

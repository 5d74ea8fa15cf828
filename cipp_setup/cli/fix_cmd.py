"""`cipp-setup fix`: show the plan for every failing check, ask, apply, re-verify.

- on a terminal: each plan is shown and confirmed on its own (questionary, unsafe_ask);
- `--yes`: every applicable plan is applied without asking;
- `--dry-run`: the plans are shown and nothing is written (no write permission asked);
- not a terminal and neither flag: exit 2 naming --yes, before any sign-in.

`--json` writes the common envelope with a `changes` list ({check_id, action, status}
with status planned / applied / already-present / failed / skipped) followed by the
`checks` as re-run after the fixes. Every write is journaled (see `cipp-setup revert`).
Exit 0 when every required check passes afterwards and no change failed; 1 otherwise.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cipp_setup.cli.options import (
    EXIT_CHECKS_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SIGN_IN_REQUIRED,
    UsageError,
    add_cipp_options,
    add_connection_options,
    add_output_options,
)

if TYPE_CHECKING:
    from cipp_setup.cli.check_cmd import PreparedRun
    from cipp_setup.cli.inputs import RunInputs
    from cipp_setup.cli.sandbox_session import Target
    from cipp_setup.cli.terminal import Terminal
    from cipp_setup.engine.fix_session import FixSession
    from cipp_setup.engine.plan import FixPlan, PlanOutcome

NAME = "fix"


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        NAME,
        help="fix failing checks: show each change, ask, apply, re-verify (journaled)",
        description=(
            "Run the checks, show exactly what would change for every failing check that "
            "can be fixed (API, object, before and after, the admin role it needs), ask "
            "per fix, apply it, and re-run the check until it passes. Every write is "
            "recorded in the change journal; 'cipp-setup revert' gives the temporary "
            "rights back."
        ),
        epilog=(
            "Without a terminal, pass --yes (apply everything) or --dry-run (show only). "
            "Exit codes: 0 every required check passes afterwards, 1 a check still fails or "
            "a change failed, 2 usage error, 3 internal error, 4 sign-in required, 130 interrupted."
        ),
    )
    add_connection_options(parser)
    add_cipp_options(parser)
    decide = parser.add_argument_group("applying")
    decide.add_argument("--yes", "-y", action="store_true", help="apply every fix without asking")
    decide.add_argument("--dry-run", action="store_true", help="show the fixes; change nothing")
    decide.add_argument(
        "--write-easy-auth", action="store_true",
        help="current CIPP: write the Function App's Easy Auth settings through Azure Resource Manager "
        "instead of explaining CIPP's 'Save to Azure' (restarts the app; CIPP's API Clients table "
        "should agree, or its next save undoes it)",
    )
    decide.add_argument(
        "--only", nargs="+", action="extend", metavar="ID", default=None,
        help="check and fix only these checks",
    )
    add_output_options(parser)
    return parser


def require_decision(run_inputs: RunInputs, terminal: Terminal) -> None:
    """--yes / --dry-run / a terminal to ask on: one of them, decided before any sign-in."""
    applying = run_inputs.applying
    if applying.yes and applying.dry_run:
        raise UsageError("--yes and --dry-run: expected one of them, not both")
    if not applying.yes and not applying.dry_run and not terminal.can_prompt():
        raise UsageError(
            "not running interactively: pass --yes to apply the changes without asking "
            "(or --dry-run to only show them)"
        )


def prepare(run_inputs: RunInputs, terminal: Terminal, target: Target) -> PreparedRun:
    """CheckInputs and ConnectionOptions from the common options, exactly as `check` reads them."""
    from cipp_setup.cli.check_cmd import build_run, validate_early

    return build_run(terminal, target, validate_early(run_inputs, terminal))


def consent_notice_for(connection: Any, *, for_fix: bool) -> str | None:
    """What the sign-in's consent step will ask (which app, permissions, for whom)."""
    from cipp_setup.gateways.auth import consent_notice

    return consent_notice(connection.cloud, connection.auth, for_fix=for_fix)


async def ask(question: str, terminal: Terminal, *, default: bool = False) -> bool:
    """A yes/no question on the terminal (stderr/tty even when stdout is redirected)."""
    import questionary
    from prompt_toolkit.output import create_output

    output = create_output(stdout=terminal.stderr, always_prefer_tty=True)  # type: ignore[arg-type]
    answer = await questionary.confirm(question, default=default, output=output).unsafe_ask_async()
    return bool(answer)


def run(run_inputs: RunInputs, terminal: Terminal) -> int:
    require_decision(run_inputs, terminal)
    from cipp_setup.cli.check_cmd import selected_ids
    from cipp_setup.cli.sandbox_session import open_target

    with open_target(run_inputs) as target:
        prepared = prepare(run_inputs, terminal, target)
        only, _ = selected_ids(prepared.run)
        return _run_fix(prepared.run, terminal, target, prepared.inputs, prepared.connection, only)


def _run_fix(run_inputs: RunInputs, terminal: Terminal, target: Target, inputs: Any,
             connection: Any, only: frozenset[str] | None) -> int:
    import asyncio

    from cipp_setup.engine.fix_session import FixSession
    from cipp_setup.cli.tenant_lock import lock_tenant
    from cipp_setup.engine.journal import Journal
    from cipp_setup.engine.plan import declined_outcome, planned_outcome
    from cipp_setup.engine.diagnose import GenerationUndetermined
    from cipp_setup.gateways.errors import SignInFailed, SignInRequired
    from cipp_setup.render import plans as render_plans
    from cipp_setup.cli.options import EXIT_USAGE
    from cipp_setup.render.text import report_lines, sam_user_lines, sam_user_undecided, signed_in_line

    from cipp_setup.cli.suggested import run_options
    from cipp_setup.render.text import NOWRAP

    marks = terminal.marks()
    applying = run_inputs.applying
    outcomes: list[PlanOutcome] = []
    state: dict[str, Any] = {}
    journal = Journal()
    journal.preflight()  # an unusable journal: one line, before anything is signed in or changed

    def options() -> Any:
        """The run's options, with the generation the session decided."""
        session_inputs = getattr(state.get("session"), "inputs", None)
        return run_options(run_inputs, inputs, generation=getattr(session_inputs, "generation", None),
                           environ=terminal.environ)

    def on_progress(event: Any) -> None:
        terminal.status(event.text, "dim")

    from dataclasses import replace

    if not applying.dry_run:
        # fix will apply: the interactive sign-in asks the write permissions too, so their
        # consent is the same step (said first), never a second sign-in before applying.
        connection = replace(connection, sign_in_for="fix")
    notice = consent_notice_for(connection, for_fix=not applying.dry_run)
    if notice and connection.interactive:
        terminal.status(notice, "dim")
        terminal.status("    " + options().command("revert", "--remove-consent"), NOWRAP)

    def _naming_revert(report: Any) -> Any:
        """Each temporary right still held after the activation names the exact revert."""
        from cipp_setup.engine.lifecycle import with_revert_command

        return replace(report, results=with_revert_command(report.results, options().command("revert")))

    async def main() -> int:
        session = await FixSession.open(
            inputs, connection, journal=journal, only=only, on_progress=on_progress,
            catalogue=run_inputs.catalogue,
            on_signed_in=lambda admin: terminal.report(
                [signed_in_line(admin.user_principal_name, admin.tenant_id), ()]),
        )
        state["session"] = session
        lock = await lock_tenant(session, journal, dry_run=applying.dry_run, terminal=terminal)
        if not applying.dry_run:
            await session.record_sign_in_consent()  # the consent is a change: journaled
        # Current generation: a new client secret is shown once, on the terminal only.
        session.write_easy_auth = applying.write_easy_auth
        if terminal.can_show_secret():
            def show_new_secret(new: Any) -> None:
                terminal.show_secret_once(render_plans.new_secret_lines(new), new.value.reveal())

            session.on_new_secret = show_new_secret
        try:
            # A dry run only reads and reports; a real one first reads earlier runs'
            # unconfirmed writes back, so the journal says what the tenant shows.
            settled, interrupted = ([], session.interrupted()) if applying.dry_run else await session.settle_interrupted()
            if settled:
                terminal.status(f"Read back {len(settled)} change(s) an earlier run left unconfirmed; "
                                "the journal now records what the tenant shows.", "dim")
            if interrupted:
                terminal.write_lines(render_plans.interrupted_lines(interrupted), terminal.stderr)
            with terminal.progress("Running checks…"):
                before = _naming_revert(await session.check())
            specs = {c.spec.id: c.spec for c in session.checks}
            terminal.report(sam_user_lines(before.results))
            terminal.report(report_lines(before.results, specs, before.required, marks=marks))
            undecided = sam_user_undecided(before.results)
            if undecided is not None:
                # A fix for an account nobody named could elevate the wrong one: ask first.
                state["before"] = before
                terminal.error(f"error: {undecided.summary} Nothing was changed.")
                return EXIT_USAGE
            plans = session.plans(before.results)
            state["before"] = before
            if not plans:
                terminal.report([(("Nothing to fix automatically.", "bold"),)])
            if not applying.dry_run and any(p.applicable for p in plans):
                # Once, up front: a missing write permission stops here, before any change.
                with terminal.progress("Signing in for the write permissions…"):
                    await session.obtain_write_permissions()
            for plan in plans:
                terminal.report([()] + render_plans.plan_lines(plan, marks))
                outcome = await _decide_and_apply(plan, session, terminal)
                outcomes.append(outcome)
                terminal.report(render_plans.outcome_lines(outcome, marks))
            if applying.dry_run or not plans:
                after = before
            else:
                with terminal.progress("Re-running the checks…"):
                    after = _naming_revert(await session.check())
                terminal.report([(), (("After the fixes:", "bold"),)])
                terminal.report(report_lines(after.results, specs, after.required, marks=marks))
            state["after"] = after
            journal_note = f"Changes are journaled in {session.journal.path}"
            if any(o.applied for o in outcomes):
                session.journal.record_run(tenant_id=session.admin.tenant_id, options=options().values)
                terminal.status(journal_note + "; this gives the temporary rights back:")
                terminal.status("    " + options().command("revert"), NOWRAP)
            failed = any(o.failed for o in outcomes)
            return EXIT_OK if after.ok and not failed else EXIT_CHECKS_FAILED
        finally:
            lock.release()
            await session.close()

    async def _decide_and_apply(plan: FixPlan, session: FixSession, terminal: Terminal) -> PlanOutcome:
        if applying.dry_run:
            return planned_outcome(plan)
        if plan.applicable and not applying.yes:
            if not await ask(f"Apply this fix for {plan.check_id}?", terminal):
                return declined_outcome(plan)
        with terminal.progress(f"Applying the fix for {plan.check_id}…"):
            return await session.apply(plan)

    code: int
    error: tuple[str, str] | None = None
    try:
        code = asyncio.run(main())
    except SignInRequired as exc:
        code, error = EXIT_SIGN_IN_REQUIRED, ("sign-in-required", f"sign-in required: {exc}")
    except SignInFailed as exc:
        code, error = EXIT_SIGN_IN_REQUIRED, ("sign-in-failed", f"sign-in failed: {exc}")
    except GenerationUndetermined as exc:
        from cipp_setup.cli.options import EXIT_USAGE

        code, error = EXIT_USAGE, ("generation-undetermined", str(exc))
    except KeyboardInterrupt:
        from cipp_setup.engine.journal import interrupted_run_message

        # Told from the journal: every change that landed, and the one in flight that
        # may have. A cancel is the admin's choice, not an error (exit 130).
        code, error = EXIT_INTERRUPTED, ("interrupted", interrupted_run_message(journal, "changed"))
        terminal.status(error[1], "bold")
    if error is not None and code != EXIT_INTERRUPTED:
        terminal.error(error[1])
    if code == EXIT_INTERRUPTED and any(o.applied for o in outcomes):
        _say_what_is_in_place(terminal, state, options())
    if run_inputs.output.json:
        _emit_json(terminal, run_inputs, target, state, outcomes, code, error)
    from cipp_setup.cli import report_output

    from cipp_setup.cli.options import EXIT_USAGE

    written = report_output.write_reports(run_inputs, terminal, report_output.fix_data(
        run_inputs=run_inputs, cloud=target.cloud.name, state=state, outcomes=outcomes, exit_code=code, error=error),
        options())
    return code if written else (code or EXIT_USAGE)  # the report asked for is missing: never exit 0


def _say_what_is_in_place(terminal: Terminal, state: dict[str, Any], options: Any) -> None:
    """After Ctrl-C: the temporary rights still in place, by name, and the command that gives
    them back; or, when nothing applied is temporary, that the changes stay by design."""
    from cipp_setup.cli.suggested import known_names, still_in_place
    from cipp_setup.render.text import NOWRAP

    session = state.get("session")
    if session is None:
        return
    before = state.get("before")
    in_place = still_in_place(session.journal, session.admin.tenant_id,
                              known_names(session.admin, before.results if before is not None else ()))
    if not in_place:
        terminal.status("Nothing temporary was added: what was changed stays, as CIPP needs it "
                        "('cipp-setup revert' leaves it).")
        return
    session.journal.record_run(tenant_id=session.admin.tenant_id, options=options.values)
    terminal.status("Still in place, added by cipp-setup:", "bold yellow")
    for item in in_place:
        terminal.status(f"  - {item}")
    terminal.status("This gives back what was changed so far:")
    terminal.status("    " + options.command("revert"), NOWRAP)


def _emit_json(terminal: Terminal, run_inputs: RunInputs, target: Target, state: dict[str, Any],
               outcomes: list[PlanOutcome], code: int, error: tuple[str, str] | None,
               command: str = NAME) -> None:
    from cipp_setup.render import json_report
    from cipp_setup.render.plans import change_entries

    session = state.get("session")
    report = state.get("after")
    specs = {c.spec.id: c.spec for c in session.checks} if session is not None else {}
    admin = session.admin if session is not None else None
    envelope = json_report.build_envelope(
        command=command, exit_code=code,
        results=report.results if report is not None else (),
        specs=specs, required=report.required if report is not None else frozenset(),
        tenant_id=admin.tenant_id if admin else run_inputs.identities.tenant,
        generation=(session.inputs.generation if session is not None
                    else run_inputs.generation if run_inputs.generation != "auto" else None),
        generation_evidence=session.generation_evidence if session is not None else (),
        signed_in=admin.user_principal_name if admin else None,
        cloud=target.cloud.name,
        error=json_report.RunError(*error) if error else None,
        secrets=terminal.secrets,
    )
    # `changes` comes before `checks`: what was done, then the state it left.
    ordered: dict[str, Any] = {}
    for key, value in envelope.items():
        if key == "checks":
            ordered["changes"] = json_report._scrub(change_entries(outcomes), terminal.secrets)
            if session is not None:
                ordered["journal"] = str(session.journal.path)
        ordered[key] = value
    terminal.machine(json_report.dumps(ordered))

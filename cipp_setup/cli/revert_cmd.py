"""`cipp-setup revert`: give back the temporary rights cipp-setup itself added.

Reads the change journal for the tenant and removes, after confirmation, the Global
Administrator directory role assignment and the Contributor ARM role assignment that
`fix` created — never anything the tool did not create (an assignment it found already
present, or one made by hand, stays). Each removal is journaled and re-verified; an
object already gone counts as done. Interrupted changes found in the journal are
reported for a person to check.

Same flags as `fix`: `--yes`, `--dry-run`, `--json`, and the common sign-in options.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from cipp_setup.cli.fix_cmd import _emit_json, ask, prepare, require_decision
from cipp_setup.cli.options import (
    EXIT_CHECKS_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SIGN_IN_REQUIRED,
    add_cipp_options,
    add_connection_options,
    add_output_options,
)

if TYPE_CHECKING:
    from cipp_setup.cli.inputs import RunInputs
    from cipp_setup.cli.sandbox_session import Target
    from cipp_setup.cli.terminal import Terminal
    from cipp_setup.engine.plan import PlanOutcome

NAME = "revert"


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        NAME,
        help="remove the temporary Global Administrator and Contributor rights cipp-setup added",
        description=(
            "Undo the temporary elevation cipp-setup fix made: the Global Administrator "
            "role assignment and the Contributor role assignment recorded in the change "
            "journal as created by cipp-setup. Nothing the tool did not create is removed."
        ),
        epilog=(
            "Without a terminal, pass --yes (remove without asking) or --dry-run (show only). "
            "Exit codes: 0 done (or nothing to do), 1 a removal failed, 2 usage error, "
            "3 internal error, 4 sign-in required, 130 interrupted."
        ),
    )
    add_connection_options(parser)
    add_cipp_options(parser)
    decide = parser.add_argument_group("applying")
    decide.add_argument("--yes", "-y", action="store_true", help="remove without asking")
    decide.add_argument("--dry-run", action="store_true", help="show what would be removed; change nothing")
    decide.add_argument(
        "--remove-consent", action="store_true",
        help="also remove what cipp-setup's own sign-in consent added (the journaled grant of "
        "Microsoft Graph Command Line Tools); asked on a terminal without --yes")
    add_output_options(parser)
    return parser


def run(run_inputs: RunInputs, terminal: Terminal) -> int:
    require_decision(run_inputs, terminal)
    from cipp_setup.cli.suggested import fill_from_journal
    from cipp_setup.cli.sandbox_session import open_target
    from cipp_setup.engine.journal import Journal

    given = run_inputs.identities.tenant
    journal = Journal()
    run_inputs, tenant = fill_from_journal(run_inputs, journal)
    if tenant and not given:
        terminal.status(f"The journal records temporary rights in tenant {tenant}: using that run's options.", "dim")
    if not tenant and not given and not run_inputs.connection.sandbox and journal.run_options():
        # Runs are recorded, none left a temporary right: pasted `revert --yes` has
        # nothing to do, which is a success, not a missing --tenant.
        terminal.report([(("Nothing to revert: the journal records no temporary rights cipp-setup "
                           "created that are still in place.", "bold"),)])
        return 0

    with open_target(run_inputs) as target:
        prepared = prepare(run_inputs, terminal, target)
        return _run_revert(prepared.run, terminal, target, prepared.inputs, prepared.connection)


def _run_revert(run_inputs: RunInputs, terminal: Terminal, target: Target, inputs: Any, connection: Any) -> int:
    import asyncio

    from cipp_setup.engine.fix_session import FixSession
    from cipp_setup.cli.tenant_lock import lock_tenant
    from cipp_setup.engine.journal import Journal
    from cipp_setup.engine.plan import declined_outcome, planned_outcome
    from cipp_setup.engine.diagnose import GenerationUndetermined
    from cipp_setup.gateways.errors import SignInFailed, SignInRequired
    from cipp_setup.render import plans as render_plans
    from cipp_setup.render.text import result_lines, sam_user_lines, signed_in_line

    marks = terminal.marks()
    applying = run_inputs.applying
    outcomes: list[PlanOutcome] = []
    state: dict[str, Any] = {}
    journal = Journal()
    journal.preflight()  # an unusable journal: one line, before anything is signed in or changed

    async def main() -> int:
        session = await FixSession.open(
            inputs, connection, journal=journal, catalogue=run_inputs.catalogue,
            on_progress=lambda event: terminal.status(event.text, "dim"),
            on_signed_in=lambda admin: terminal.report(
                [signed_in_line(admin.user_principal_name, admin.tenant_id), ()]),
        )
        state["session"] = session
        lock = await lock_tenant(session, journal, dry_run=applying.dry_run, terminal=terminal)
        try:
            await session.settle_interrupted()  # an earlier run's unconfirmed write, read back first
            if not applying.dry_run:
                await session.record_sign_in_consent()  # this sign-in's own consent, if any
            # The tool's own consent is offered on a terminal (asked like every removal) or
            # with --remove-consent; `--yes` alone keeps it and says how to remove it.
            offer_consent = applying.remove_consent or (not applying.yes and not applying.dry_run)
            plan, reverts = session.revert_plan(include_consent=offer_consent)
            if not offer_consent and session.revert_plan(include_consent=True)[0].plans != plan.plans:
                from cipp_setup.cli.suggested import run_options

                # The printed command carries this run's options, so it works when pasted.
                remove = run_options(run_inputs, inputs, environ=terminal.environ).command("revert", "--remove-consent")
                terminal.status("cipp-setup's own sign-in consent stays (the next run needs it); "
                                f"'{remove}' removes it.", "dim")
            if journal.damaged_lines:
                terminal.status(
                    f"The journal {journal.path} has {journal.damaged_lines} damaged line(s), skipped: "
                    "revert works from the readable records.", "dim")
            if plan.interrupted:
                terminal.write_lines(render_plans.interrupted_lines(plan.interrupted), terminal.stderr)
                terminal.status("cipp-setup did not record creating these, so revert leaves them alone.")
            if not plan.plans:
                terminal.report([(("Nothing to revert: the journal records no temporary rights "
                                   "cipp-setup created in this tenant that are still in place.", "bold"),)])
            for removal in plan.plans:
                terminal.report([()] + render_plans.plan_lines(removal, marks, heading="Revert"))
                if applying.dry_run:
                    outcome = planned_outcome(removal)
                elif not applying.yes and not await ask("Remove it?", terminal):
                    outcome = declined_outcome(removal)
                else:
                    with terminal.progress("Removing…"):
                        outcome = await session.revert(removal, reverts)
                outcomes.append(outcome)
                # The check failing again is the point of a revert: show the change, not
                # "not verified" in red.
                terminal.report(render_plans.outcome_lines(replace(outcome, verified=None), marks))
            with terminal.progress("Re-running the checks…"):
                after = await session.check()
            state["after"] = after
            specs = {c.spec.id: c.spec for c in session.checks}
            given_back = {o.plan.check_id for o in outcomes if o.applied and not o.failed}
            terminal.report([(), (("After the revert:", "bold"),)])
            terminal.report(sam_user_lines(after.results))
            for result in after.results:
                if result.check_id in given_back and result.status.is_problem:
                    terminal.report([((marks.passed, "green"), (" ", ""), (result.check_id, "bold"),
                                      (": given back, as intended (the CIPP API keeps answering without it): ", ""),
                                      (result.summary, "dim"))])
                else:
                    terminal.report(result_lines(result, specs.get(result.check_id), marks=marks))
            if given_back:
                terminal.report([(), (("Done: the temporary rights are gone.", "bold green"),)])
            return EXIT_CHECKS_FAILED if any(o.failed for o in outcomes) else EXIT_OK
        finally:
            lock.release()
            await session.close()

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
        code, error = EXIT_INTERRUPTED, ("interrupted", interrupted_run_message(journal, "removed"))
        terminal.status(error[1], "bold")
    if error is not None and code != EXIT_INTERRUPTED:
        terminal.error(error[1])
    if run_inputs.output.json:
        _emit_json(terminal, run_inputs, target, state, outcomes, code, error, command=NAME)
    return code

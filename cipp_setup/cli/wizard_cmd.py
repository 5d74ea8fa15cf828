"""`cipp-setup wizard` (and `cipp-setup` alone on a terminal): the guided setup.

Every question has a flag, and a value given by a flag is not asked. Without a terminal
(or with --non-interactive, or in CI) the wizard starts only when the flags answer every
question; otherwise it exits 2 naming the missing flags, before any sign-in. Ctrl-C at
any step exits 130 and says what this run changed (from its journal records).

Exit codes: 0 the CIPP API answered (token and ListLogs); 1 it did not (yet); 2 usage /
cannot prompt; 3 internal error; 4 sign-in impossible; 130 interrupted.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cipp_setup.shell import env
from cipp_setup.cli.options import (
    EXIT_INTERRUPTED,
    EXIT_SIGN_IN_REQUIRED,
    EXIT_USAGE,
    UsageError,
    add_cipp_options,
    add_connection_options,
    validated,
)

if TYPE_CHECKING:
    from cipp_setup.cli.inputs import RunInputs
    from cipp_setup.cli.sandbox_session import Target
    from cipp_setup.cli.terminal import Terminal
    from cipp_setup.engine.journal import Journal
    from cipp_setup.wizard.flow import WizardAnswers
    from cipp_setup.wizard.prompts import Prompter

NAME = "wizard"
HOSTING_CHOICES = ("self-hosted", "hosted")
MINTTY_HINT = (
    "this terminal cannot show interactive prompts (Git Bash / mintty): run cipp-setup in "
    "Windows Terminal or PowerShell, or pass every answer as a flag with --non-interactive"
)


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        NAME,
        help="guided setup: check, fix, activate and verify the CIPP API step by step",
        description=(
            "Walk through enabling the CIPP API: sign in, pick the CIPP-SAM user, app and "
            "subscription, run the checks, fix what fails (after showing each change), "
            "activate the API in CIPP, verify it answers, and give the temporary rights back."
        ),
        epilog=(
            "Every question has a flag; without a terminal all of them are needed. The API "
            "client secret comes from $CIPP_API_CLIENT_SECRET, --client-secret-stdin or a "
            "hidden prompt, never an argument. Exit codes: 0 the API answered, 1 it did not, "
            "2 usage error / cannot prompt, 3 internal error, 4 sign-in required, 130 interrupted."
        ),
    )
    add_connection_options(parser)
    add_cipp_options(parser)
    add_wizard_options(parser)
    from cipp_setup.cli.options import add_report_options  # --report DIR, --redact-ids

    add_report_options(parser.add_argument_group("report"))
    return parser


def _https_url(value: str, option: str) -> str:
    from cipp_setup.cli.options import parse_api_url

    return parse_api_url(value, option)


def add_wizard_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("answers to the wizard's questions")
    group.add_argument("--hosting", choices=HOSTING_CHOICES, default=None,
                       help="how CIPP is hosted: in your own Azure, or by CyberDrain")
    group.add_argument("--cipp-url", type=validated("--cipp-url", _https_url), metavar="URL",
                       help="hosted: the address you open CIPP at (for the helpdesk)")
    group.add_argument("--yes", "-y", action="store_true",
                       help="apply every fix and give the temporary rights back, without asking")
    group.add_argument("--dry-run", action="store_true", help="show the fixes but apply none")
    keep = group.add_mutually_exclusive_group()
    keep.add_argument("--revert", action="store_true", default=None,
                      help="once the API answers, remove the temporary rights cipp-setup added")
    keep.add_argument("--keep-rights", action="store_true",
                      help="keep the temporary rights (remove them later with 'cipp-setup revert')")
    group.add_argument("-v", "--verbose", action="store_true",
                       help="show each fix's plan in full (API call, before and after, the role it needs)")


def run(run_inputs: RunInputs, terminal: Terminal, *, prompter: Prompter | None = None) -> int:
    return launch(run_inputs, terminal, prompter=prompter)


# --- shared by `wizard` and `demo` ------------------------------------------------------


def answers_from_inputs(run_inputs: RunInputs, secret: str | None, generation: str | None) -> WizardAnswers:
    from cipp_setup.engine.model import Secret
    from cipp_setup.wizard.flow import WizardAnswers

    applying, ids = run_inputs.applying, run_inputs.identities
    revert: bool | None = None
    if applying.keep_rights:
        revert = False
    elif applying.revert or applying.yes:
        revert = True
    apply_fixes: bool | None = True if applying.yes else (False if applying.dry_run else None)
    return WizardAnswers(
        hosting=run_inputs.options.hosting, tenant=ids.tenant, sam_user=ids.sam_user,
        sam_app=ids.sam_app, subscription=ids.subscription, cipp_url=run_inputs.options.cipp_url,
        api_url=ids.api_url, api_client_id=ids.api_client_id,
        api_client_secret=Secret(secret) if secret else None, generation=generation,
        apply_fixes=apply_fixes, revert=revert, function_app=ids.function_app,
        cipp_version=run_inputs.cipp_version,
    )


def missing_flags(answers: WizardAnswers, *, sandbox: bool) -> list[str]:
    """The flags a run without a terminal lacks: one per question that would be asked."""
    missing: list[str] = []
    if answers.hosting is None:
        missing.append("--hosting")
    if answers.tenant is None:
        missing.append("--tenant")
    if answers.sam_user is None:
        missing.append("--sam-user")
    if answers.sam_app is None:
        missing.append("--sam-app")
    hosted = answers.hosting == "hosted"
    if not hosted and answers.subscription is None:
        missing.append("--subscription")
    if answers.apply_fixes is None:
        missing.append("--yes (or --dry-run)")
    if hosted and answers.cipp_url is None:
        missing.append("--cipp-url")
    if not hosted and not sandbox:
        if answers.api_client_id is None:
            missing.append("--api-client-id")
        if answers.api_url is None:
            missing.append("--api-url")
        if answers.api_client_secret is None:
            missing.append(f"{env('CIPP_API_CLIENT_SECRET')} (or --client-secret-stdin)")
    return missing


def suggestions_for(target: Target) -> dict[str, str]:
    """A sandbox scenario's values, offered as the defaults of the questions."""
    ids: Mapping[str, str] = target.identities
    sandbox: Any = target.sandbox
    domain = getattr(getattr(sandbox, "state", None), "default_domain", None)
    out = {
        "tenant": domain or ids.get("tenant_id", ""),
        "sam_user": ids.get("sam_user_upn", ""),
        "sam_app": ids.get("sam_app_id", ""),
        "subscription": ids.get("subscription_id", ""),
        "api_url": ids.get("api_url", ""),
        "cipp_url": ids.get("frontend_url", ""),
        "function_app": ids.get("function_app_id", ""),
        # The scenario's generation: the default answer when the tenant does not tell.
        "generation": str(getattr(getattr(getattr(sandbox, "state", None), "cipp", None), "generation", "") or ""),
        # Its version decides who writes the API clients, as the admin reading it in CIPP would.
        "profile": _scenario_profile_name(sandbox),
    }
    return {k: v for k, v in out.items() if v}


def _scenario_profile_name(sandbox: Any) -> str:
    cipp = getattr(getattr(sandbox, "state", None), "cipp", None)
    if cipp is None or cipp.generation != "current":
        return ""
    from cipp_setup.engine.result import profile_of_version, version_numbers

    numbers = version_numbers(str(cipp.version))
    return profile_of_version(numbers) if numbers else ""


class NoPrompter:
    """Used when nobody can answer: a question reaching it is a bug in the flag check."""

    def _refuse(self, message: str) -> Any:
        raise UsageError(f"cannot ask {message!r}: not running interactively (pass its flag)")

    async def select(self, message: str, options: Sequence[Any], default: str | None = None) -> str:
        return self._refuse(message)  # type: ignore[no-any-return]

    async def autocomplete(self, message: str, options: Sequence[Any], default: str | None = None) -> str:
        return self._refuse(message)  # type: ignore[no-any-return]

    async def confirm(self, message: str, default: bool = True) -> bool:
        return self._refuse(message)  # type: ignore[no-any-return]

    async def text(self, message: str, default: str = "", validate: Any = None) -> str:
        return self._refuse(message)  # type: ignore[no-any-return]

    async def secret(self, message: str, validate: Any = None) -> str:
        return self._refuse(message)  # type: ignore[no-any-return]


def throwaway_journal() -> Journal:
    """A sandbox run's journal: its own file in a new temporary directory (created on the
    first write), so sandbox tenants never mix with the journal of real runs."""
    import tempfile
    import uuid
    from pathlib import Path

    from cipp_setup.engine.journal import JOURNAL_FILE_NAME, Journal

    folder = Path(tempfile.gettempdir()) / f"cipp-setup-sandbox-{uuid.uuid4().hex[:8]}"
    return Journal(folder / JOURNAL_FILE_NAME)


@functools.cache
def _no_console_error() -> type[BaseException]:
    """prompt_toolkit's error for a terminal without a Windows console buffer (mintty)."""
    try:
        from prompt_toolkit.output.win32 import NoConsoleScreenBufferError  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - not importable off Windows on some Pythons
        class NoConsoleScreenBufferError(Exception):  # type: ignore[no-redef]
            """Placeholder: never raised where the real one cannot be imported."""

    error: type[BaseException] = NoConsoleScreenBufferError
    return error


def launch(
    run_inputs: RunInputs,
    terminal: Terminal,
    *,
    prompter: Prompter | None = None,
    demo: bool = False,
    journal: Journal | None = None,
    prepare_sandbox: Callable[[Any], None] | None = None,
    secret_id_of: Callable[[Any, str], str] | None = None,
) -> int:
    """Validate, open the target, gate prompting, run the flow; map the outcome to an exit code.
    `secret_id_of` (the demo, on a terminal): the API details are pasted into the prompts by
    the demo's typist, the Secret ID this gives (sandbox, client id) first, by mistake."""
    from cipp_setup.cli import check_cmd
    from cipp_setup.cli.sandbox_session import open_target

    if run_inputs.applying.yes and run_inputs.applying.dry_run:
        raise UsageError("--yes and --dry-run: expected one of them, not both")
    early = check_cmd.validate_early(run_inputs, terminal)
    generation, secret, run_inputs = early.generation, early.secret, early.run

    with open_target(run_inputs) as target:
        if prepare_sandbox is not None and target.sandbox is not None:
            prepare_sandbox(target.sandbox)
        answers = answers_from_inputs(run_inputs, secret, generation)
        suggestions = suggestions_for(target) if target.is_sandbox else {}
        if demo and run_inputs.applying.yes:
            _answer_from_scenario(answers, suggestions)
        # A sandbox's version answers "which version?" as its generation answers auto-detection
        # in `check` (the scenario stands in for the admin reading it in CIPP).
        answers.profile_if_unknown = suggestions.get("profile") or None
        can_prompt = terminal.can_prompt() and not run_inputs.connection.non_interactive
        missing = missing_flags(answers, sandbox=target.is_sandbox)
        if missing and not can_prompt:
            raise UsageError(
                "cannot ask questions here (no terminal, --non-interactive or CI): pass "
                + ", ".join(missing)
                + (" — or run 'cipp-setup demo --yes'" if demo else " — or use 'cipp-setup check' / 'cipp-setup fix --yes'")
            )
        if answers.revert is None and not can_prompt:
            answers.revert = False  # nobody to ask: keep them, and say how to remove them
        return _run_flow(
            run_inputs, terminal, target, answers, suggestions,
            prompter=prompter if can_prompt else NoPrompter(), can_prompt=can_prompt, demo=demo,
            journal=journal, auth_client=(early.auth_client_id, early.auth_client_secret),
            secret_id_of=secret_id_of if can_prompt and target.sandbox is not None else None,
        )


def _wizard_options(run_inputs: RunInputs, state: Any, terminal: Terminal) -> Any:
    """The options the wizard's run amounts to, for the commands it prints."""
    from cipp_setup.cli.suggested import run_options

    generation = state.generation if state.generation in ("legacy", "current") else None
    return run_options(run_inputs, generation=generation, environ=terminal.environ).with_values(**{
        "--tenant": state.tenant, "--sam-user": state.sam_user, "--sam-app": state.sam_app_id,
        "--subscription": state.subscription_id, "--function-app": state.function_app,
    })


def _say_what_is_in_place(terminal: Terminal, state: Any, env: Any, options: Any, sandbox: bool) -> bool:
    """What this tenant still holds from cipp-setup (by name) and the command that gives it
    back; the run's options are journaled so `revert` needs none of them. False: nothing."""
    from cipp_setup.cli.suggested import known_names, still_in_place
    from cipp_setup.render.text import NOWRAP

    admin = state.admin
    if admin is None:
        return False
    results = state.first_report.results if state.first_report is not None else ()
    in_place = still_in_place(env.journal, admin.tenant_id, known_names(admin, results, state.sam_user))
    if not in_place:
        return False
    env.journal.record_run(tenant_id=admin.tenant_id, options=options.values)
    terminal.status("Still in place, added by cipp-setup:", "bold yellow")
    for item in in_place:
        terminal.status(f"  - {item}")
    terminal.status("This gives it back (run it once the API answers, or now to undo):")
    terminal.status("    " + options.command("revert"), NOWRAP)
    if sandbox:
        terminal.status("(An in-process sandbox forgets its tenant when the wizard ends: there, nothing outlives it.)", "dim")
    return True


def sandbox_api_client(sandbox: Any) -> dict[str, Any]:
    """Current CIPP in the sandbox: Integrations → CIPP-API → API Clients → Add, then Save
    to Azure, as the admin would click them. CippActionError carries CIPP's page text."""
    created = sandbox.control.create_api_client("cipp-setup", role="readonly")
    saved = sandbox.control.save_to_azure()
    api_url = sandbox.identities_document().get("api_url")
    return {**created, "api_url": api_url, "saved": (saved or {}).get("message") if isinstance(saved, dict) else None}


def _answer_from_scenario(answers: WizardAnswers, suggestions: Mapping[str, str]) -> None:
    """`demo --yes`: every question answered the way pressing Enter would."""
    answers.hosting = answers.hosting or "self-hosted"
    answers.tenant = answers.tenant or suggestions.get("tenant")
    answers.sam_user = answers.sam_user or suggestions.get("sam_user")
    answers.sam_app = answers.sam_app or suggestions.get("sam_app")
    answers.subscription = answers.subscription or suggestions.get("subscription")
    answers.function_app = answers.function_app or suggestions.get("function_app")
    answers.generation_if_unknown = suggestions.get("generation") or None
    if answers.apply_fixes is None:
        answers.apply_fixes = True


def _run_flow(
    run_inputs: RunInputs,
    terminal: Terminal,
    target: Target,
    answers: WizardAnswers,
    suggestions: Mapping[str, str],
    *,
    prompter: Prompter | None,
    can_prompt: bool,
    demo: bool,
    journal: Journal | None,
    auth_client: tuple[str | None, str | None],
    secret_id_of: Callable[[Any, str], str] | None = None,
) -> int:
    import asyncio

    from cipp_setup.cli import check_cmd
    from cipp_setup.engine.diagnose import ConnectionOptions
    from cipp_setup.engine.fix_session import Timing
    from cipp_setup.engine.journal import Journal
    from cipp_setup.engine.model import Secret
    from cipp_setup.gateways.errors import SignInFailed, SignInRequired
    from cipp_setup.gateways.services import GatewayServices
    from cipp_setup.wizard.flow import WizardEnv, WizardState, changes_so_far, run_wizard
    from cipp_setup.wizard.prompts import QuestionaryPrompter, Screen

    no_console = _no_console_error()
    try:
        prompter = prompter or QuestionaryPrompter.for_terminal(terminal)
    except no_console:
        raise UsageError(MINTTY_HINT) from None
    sandbox: Any = target.sandbox
    type_details = None
    if secret_id_of is not None and isinstance(prompter, QuestionaryPrompter):
        from cipp_setup.wizard.typist import Typist

        typist = Typist(prompter)
        prompter = typist
        find_secret_id = secret_id_of

        def type_details(shown: Mapping[str, Any]) -> None:
            typist.script_from({**shown, "secret_id": find_secret_id(sandbox, str(shown["client_id"]))})
    screen = Screen(terminal, prompter)
    connection = ConnectionOptions(
        services=GatewayServices(),
        cloud=target.cloud,
        auth=check_cmd.auth_mode(run_inputs, target),
        # The demo's sandbox approves its own device codes: `demo --yes --non-interactive`
        # waits for nobody, as its help says.
        interactive=check_cmd.sign_in_may_wait(run_inputs, target, terminal) or (demo and target.is_sandbox),
        device_code_callback=lambda message: screen.say(
            message + (" (the sandbox approves it automatically)" if target.is_sandbox else ""), "bold"
        ),
        client_id=auth_client[0],
        client_secret=Secret(auth_client[1]) if auth_client[1] else None,
    )
    timing = Timing()
    if sandbox is not None:
        # Waiting for the sandbox's replication means moving its clock, not sleeping.
        async def sandbox_sleep(seconds: float) -> None:
            sandbox.control.advance_clock(seconds)

        timing = Timing(clock=sandbox.state.clock.now, sleep=sandbox_sleep)
    if journal is None:
        journal = throwaway_journal() if sandbox is not None else Journal()
    from cipp_setup.wizard.resume import progress_path
    env = WizardEnv(
        screen=screen, connection=connection, journal=journal, timing=timing,
        can_prompt=can_prompt, suggestions=suggestions,
        activate_in_cipp=sandbox.control.activate_legacy_api if sandbox is not None else None,
        create_api_client=functools.partial(sandbox_api_client, sandbox) if sandbox is not None else None,
        type_details=type_details,
        sandbox_name=target.scenario, verbose=run_inputs.output.verbose,
        # A sandbox in this process dies with the run: nothing to resume.
        progress=progress_path(journal.path) if sandbox is None else None,
        command_for=lambda st, *words: _wizard_options(run_inputs, st, terminal).command(*words),
    )
    state = WizardState(answers=answers)
    try:
        code = asyncio.run(run_wizard(state, env))
        from cipp_setup.cli import report_output

        options = _wizard_options(run_inputs, state, terminal)
        if code != 0:
            _say_what_is_in_place(terminal, state, env, options, target.is_sandbox)
        report_output.write_reports(run_inputs, terminal, report_output.wizard_data(
            state=state, journal=env.journal, cloud=target.cloud.name, exit_code=code,
            catalogue=run_inputs.catalogue), options)
        return code
    except KeyboardInterrupt:
        screen.stop_spinner()
        changed = changes_so_far(env.journal)
        if not changed:
            terminal.status("Stopped (Ctrl-C): nothing was changed in the tenant.")
            return EXIT_INTERRUPTED
        terminal.status("Stopped (Ctrl-C).", "bold")
        if not _say_what_is_in_place(terminal, state, env, _wizard_options(run_inputs, state, terminal), target.is_sandbox):
            for line in changed:  # nothing left to give back: say what was done
                terminal.status(f"  {line}")
        terminal.status(f"Journal: {env.journal.path}. Run the wizard again to carry on: it re-checks "
                        "and skips what is already done.", "dim")
        return EXIT_INTERRUPTED
    except SignInRequired as exc:
        terminal.error(f"sign-in required: {exc}")
        return EXIT_SIGN_IN_REQUIRED
    except SignInFailed as exc:
        terminal.error(f"sign-in failed: {exc}")
        return EXIT_SIGN_IN_REQUIRED
    except no_console:
        terminal.error(MINTTY_HINT)
        return EXIT_USAGE

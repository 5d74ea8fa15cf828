"""`cipp-setup check`: the read-only diagnosis, rendered for people and for machines.

Order of business: validate every input (exit 2 before any network), open the target
(cloud or sandbox), sign in and show "Signed in as X in tenant Y" before any check, run
the checks, report them in catalogue order, exit 0 / 1. Sign-in impossible → 4.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from cipp_setup.shell import env
from cipp_setup.cli.options import (
    EXIT_CHECKS_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SIGN_IN_REQUIRED,
    UsageError,
    add_cipp_options,
    add_connection_options,
    add_output_options,
    parse_check_ids,
    read_api_client_secret,
)

if TYPE_CHECKING:
    from cipp_setup.cli.inputs import RunInputs
    from cipp_setup.cli.sandbox_session import Target
    from cipp_setup.cli.terminal import Terminal
    from cipp_setup.engine.context import CheckInputs
    from cipp_setup.engine.catalogue import Catalogue
    from cipp_setup.engine.diagnose import ConnectionOptions
    from cipp_setup.engine.model import CheckResult, CheckSpec, Generation, Profile
    from cipp_setup.gateways.retry import RetryWait

NAME = "check"
# Environment variables for --auth client-secret (azure-identity's EnvironmentCredential names).
AUTH_CLIENT_ID_ENV = "AZURE_CLIENT_ID"
AUTH_CLIENT_SECRET_ENV = "AZURE_CLIENT_SECRET"


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        NAME,
        help="check the tenant's CIPP API prerequisites and the API itself (read-only)",
        description=(
            "Check, without changing anything, that the tenant meets the CIPP API's "
            "prerequisites and that the API answers. Safe to re-run at any time."
        ),
        epilog=(
            "The API client secret is read from $CIPP_API_CLIENT_SECRET or, with "
            "--client-secret-stdin, from stdin; never from an argument. "
            "Exit codes: 0 every required check passed (warnings allowed) or is not needed "
            "any more, 1 a required "
            "check failed, 2 usage error, 3 internal error, 4 sign-in required, 130 interrupted."
        ),
    )
    add_connection_options(parser)
    add_cipp_options(parser)
    selection = parser.add_argument_group("which checks")
    selection.add_argument(
        "--only", nargs="+", action="extend", metavar="ID", default=None,
        help="run only these checks (ids from 'cipp-setup explain')",
    )
    selection.add_argument(
        "--ignore", nargs="+", action="extend", metavar="ID", default=None,
        help="report these checks' failures as warnings that do not fail the run",
    )
    add_output_options(parser)
    return parser


def _registry_specs(catalogue: Catalogue | None = None) -> list[CheckSpec]:
    """The specs of the run's catalogue (the built-in one when None)."""
    from cipp_setup.engine.builtin import builtin_catalogue

    return [check.spec for check in builtin_catalogue(catalogue)]


def _specs_by_id(specs: Any) -> dict[str, CheckSpec]:
    if isinstance(specs, Mapping):
        return dict(specs)
    result: dict[str, CheckSpec] = {}
    for entry in specs or ():
        spec = getattr(entry, "spec", entry)
        result[spec.id] = spec
    return result


def generation_from_flag(value: str) -> str | None:
    """--generation: legacy or current, or None for auto (decided from the tenant)."""
    return None if value == "auto" else value


def auth_mode(run_inputs: RunInputs, target: Target) -> str:
    if run_inputs.connection.auth:
        return str(run_inputs.connection.auth)
    if target.is_sandbox:
        return "device-code"  # the sandbox approves device codes as the scenario's admin
    from cipp_setup.gateways.auth import default_interactive_mode

    return default_interactive_mode()


def sign_in_may_wait(run_inputs: RunInputs, target: Target, terminal: Terminal) -> bool:
    """May sign-in wait for a person (device code, browser)? Not with --non-interactive, and
    not in CI against a real tenant, where nobody would ever enter the code. A device code
    needs no TTY (the code goes to stderr), so this is not the prompting gate."""
    from cipp_setup.cli.terminal import running_in_ci

    if run_inputs.connection.non_interactive:
        return False
    return target.is_sandbox or not running_in_ci(terminal.environ)


class EarlyInputs(NamedTuple):
    """What is validated before any endpoint is opened (no sandbox, no network yet). A
    NamedTuple, not a dataclass: `check --help` imports this module, and dataclasses
    brings inspect and ast to every start."""

    generation: str | None
    secret: str | None  # the API client secret, from $CIPP_API_CLIENT_SECRET or stdin
    auth_client_id: str | None  # --auth client-secret: the admin service principal
    auth_client_secret: str | None
    run: RunInputs  # the run's inputs with the saved profile's API details filled in


def validate_early(run_inputs: RunInputs, terminal: Terminal) -> EarlyInputs:
    """Generation, secrets and sign-in environment; every secret is registered for scrubbing."""
    generation = generation_from_flag(run_inputs.generation or "auto")
    version = run_inputs.cipp_version
    if version and generation is not None:
        from cipp_setup.engine.result import generation_of_profile, profile_of_version, version_numbers

        numbers = version_numbers(version)
        implied = generation_of_profile(profile_of_version(numbers)) if numbers else None
        if implied is not None and implied != generation:
            raise UsageError(
                f"--cipp-version {version} is a {implied} version, but --generation {generation} was given: "
                "pass one of them"
            )
    secret = read_api_client_secret(run_inputs.connection.client_secret_stdin, dict(terminal.environ))
    if secret:
        terminal.add_secret(secret)
    # Saved API details (--profile NAME, or the default profile): defaults for the flags
    # left empty, and the saved secret when no other was given. Every command passes here.
    from cipp_setup.cli.profile_cmd import apply_profile

    run_inputs, secret = apply_profile(run_inputs, terminal, secret)
    auth_client_id: str | None = None
    auth_client_secret: str | None = None
    if run_inputs.connection.auth == "client-secret":
        from cipp_setup.cli.options import parse_guid, parse_secret

        auth_client_id = terminal.environ.get(AUTH_CLIENT_ID_ENV)
        raw_secret = terminal.environ.get(AUTH_CLIENT_SECRET_ENV)
        if not auth_client_id or raw_secret is None:
            raise UsageError(
                f"--auth client-secret: expected {env(AUTH_CLIENT_ID_ENV)} and {env(AUTH_CLIENT_SECRET_ENV)} "
                "in the environment"
            )
        auth_client_id = parse_guid(f"{env(AUTH_CLIENT_ID_ENV)}", auth_client_id)
        auth_client_secret = parse_secret(raw_secret, f"{env(AUTH_CLIENT_SECRET_ENV)}")
        terminal.add_secret(auth_client_secret)
    return EarlyInputs(generation, secret, auth_client_id, auth_client_secret, run_inputs)


class PreparedRun(NamedTuple):
    """The run's inputs as the target completed them, and the engine's two values."""

    run: RunInputs
    inputs: CheckInputs
    connection: ConnectionOptions


def build_run(
    terminal: Terminal,
    target: Target,
    early: EarlyInputs,
    *,
    ignore: frozenset[str] = frozenset(),
) -> PreparedRun:
    """The engine's CheckInputs and ConnectionOptions for this run (from `early.run`),
    shared by every command that diagnoses a tenant (check, fix, revert, verify).

    In a sandbox the scenario's identities fill the options left empty (and the user is
    told which), and its API client secret is used when the API client is the scenario's.
    """
    from cipp_setup.cli.sandbox_session import apply_identity_defaults
    from cipp_setup.engine.context import CheckInputs
    from cipp_setup.engine.diagnose import ConnectionOptions
    from cipp_setup.engine.model import Secret
    from cipp_setup.gateways.retry import RetryPolicy
    from cipp_setup.gateways.services import GatewayServices

    secret = early.secret
    run_inputs = early.run
    if target.is_sandbox:
        run_inputs, filled = apply_identity_defaults(run_inputs, target.identities)
        if filled:
            names = ", ".join("--" + dest.replace("_", "-") for dest in filled)
            terminal.status(f"Sandbox '{target.scenario}': using the scenario's values for {names}.", "dim")
        default_secret = target.default_secret()
        if secret is None and default_secret and run_inputs.identities.api_client_id == target.identities.get("api_client_id"):
            secret = default_secret
            terminal.add_secret(secret)
    ids = run_inputs.identities
    if ids.tenant is None:
        raise UsageError(
            "--tenant: expected a tenant id (GUID) or a domain such as contoso.onmicrosoft.com "
            "(required: the tool always signs in to an explicit tenant)"
        )
    inputs = CheckInputs(
        tenant=ids.tenant,
        sam_user=ids.sam_user,
        sam_app_id=ids.sam_app,
        subscription_id=ids.subscription,
        api_url=ids.api_url,
        api_client_id=ids.api_client_id,
        function_app=ids.function_app,
        api_client_secret=Secret(secret) if secret else None,
        generation=early.generation,  # type: ignore[arg-type]
        generation_default=_scenario_generation(target),
        cipp_version=run_inputs.cipp_version,
        profile_default=_scenario_profile(target),
        ignore=ignore,
    )
    sandbox_note = " (the sandbox approves it automatically)" if target.is_sandbox else ""
    connection = ConnectionOptions(
        services=GatewayServices(),
        cloud=target.cloud,
        auth=auth_mode(run_inputs, target),
        interactive=sign_in_may_wait(run_inputs, target, terminal),
        device_code_callback=lambda message: terminal.status(message + sandbox_note, "bold"),
        client_id=early.auth_client_id,
        client_secret=Secret(early.auth_client_secret) if early.auth_client_secret else None,
        retry=RetryPolicy(on_wait=lambda wait: terminal.status(retry_wait_line(wait), "dim")),
    )
    return PreparedRun(run_inputs, inputs, connection)


def retry_wait_line(wait: RetryWait) -> str:
    """A wait the retry rule is about to make, for stderr (so no run waits silently)."""
    return (
        f"Waiting {wait.seconds:.0f} s before attempt {wait.attempt} ({wait.reason}; "
        f"{wait.what.rstrip('.')})."
    )


def _scenario_generation(target: Target) -> tuple[Generation, str] | None:
    """In a sandbox the scenario stands in for the admin, who knows which CIPP they run:
    its generation answers auto-detection when the tenant itself shows neither."""
    state = getattr(target.sandbox, "state", None)
    cipp = getattr(state, "cipp", None)
    if cipp is None:
        return None
    return cipp.generation, (
        f"The tenant shows neither; the sandbox scenario '{target.scenario}' is a {cipp.generation} instance."
    )


def _scenario_profile(target: Target) -> tuple[Profile, str] | None:
    """In a sandbox the scenario's version answers, as the admin reading it in CIPP would,
    when neither the tenant nor GetVersion decides who writes the API clients."""
    state = getattr(target.sandbox, "state", None)
    cipp = getattr(state, "cipp", None)
    if cipp is None or cipp.generation != "current":
        return None
    from cipp_setup.engine.result import PROFILE_LABELS, profile_of_version, version_numbers

    numbers = version_numbers(str(cipp.version))
    if numbers is None:
        return None
    profile = profile_of_version(numbers)
    return profile, (
        f"The tenant does not tell; the sandbox scenario '{target.scenario}' runs CIPP {cipp.version}: "
        f"{PROFILE_LABELS[profile]}."
    )


def run(run_inputs: RunInputs, terminal: Terminal) -> int:
    # Everything that can be wrong with the input is found before any sign-in.
    early = validate_early(run_inputs, terminal)
    from cipp_setup.cli.sandbox_session import open_target

    with open_target(early.run) as target:
        # Ids are checked after the target opens so a bad --cloud is reported first; the
        # sandbox start this may waste is a few milliseconds.
        only, ignore = selected_ids(early.run)
        prepared = build_run(terminal, target, early, ignore=ignore or frozenset())
        return _diagnose(prepared.run, terminal, target, prepared.inputs, prepared.connection, only=only)


def selected_ids(run_inputs: RunInputs) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    """--only and --ignore, each id checked against the run's catalogue (None: not given)."""
    known = known_check_ids(run_inputs.catalogue)
    typed = run_inputs.options
    only = parse_check_ids(typed.only, "--only", known) if typed.only is not None else None
    ignore = parse_check_ids(typed.ignore, "--ignore", known) if typed.ignore is not None else None
    return only, ignore


def _diagnose(
    run_inputs: RunInputs,
    terminal: Terminal,
    target: Target,
    inputs: CheckInputs,
    connection: ConnectionOptions,
    *,
    only: frozenset[str] | None,
) -> int:
    import asyncio

    from cipp_setup.cli import report_output
    from cipp_setup.engine.context import SignedInAdmin
    from cipp_setup.engine.diagnose import GenerationUndetermined, run_diagnosis
    from cipp_setup.gateways.errors import SignInFailed, SignInRequired
    from cipp_setup.render import json_report
    from cipp_setup.render.text import (
        generation_lines,
        profile_lines,
        report_lines,
        sam_user_lines,
        sam_user_undecided,
        signed_in_line,
    )

    generation = inputs.generation
    signed_in: list[SignedInAdmin] = []

    def emit_error(code: int, error_code: str, message: str) -> int:
        terminal.error(message)
        if run_inputs.output.json:
            envelope = json_report.build_envelope(
                command=NAME, exit_code=code, tenant_id=run_inputs.identities.tenant,
                generation=generation, signed_in=signed_in[0].user_principal_name if signed_in else None,
                cloud=target.cloud.name, error=json_report.RunError(error_code, message),
                secrets=terminal.secrets,
            )
            terminal.machine(json_report.dumps(envelope))
        report_output.write_reports(run_inputs, terminal, report_output.check_data(
            command=NAME, exit_code=code, run_inputs=run_inputs, cloud=target.cloud.name, error=(error_code, message),
            signed_in=signed_in[0].user_principal_name if signed_in else None))
        return code

    with terminal.progress("Signing in…") as progress:
        done: list[CheckResult] = []

        def on_signed_in(admin: SignedInAdmin) -> None:
            signed_in.append(admin)
            tenant = run_inputs.identities.tenant
            hint = tenant if tenant != admin.tenant_id else None
            terminal.report([signed_in_line(admin.user_principal_name, admin.tenant_id, hint), ()])
            progress.update("Running checks…")

        def on_result(result: CheckResult) -> None:
            done.append(result)
            progress.update(f"Running checks… {len(done)} done (latest: {result.check_id})")

        try:
            diagnosis = asyncio.run(
                run_diagnosis(
                    inputs, connection, only=only, on_signed_in=on_signed_in, on_result=on_result,
                    catalogue=run_inputs.catalogue,
                    journal=_journal_to_read(),
                )
            )
        except SignInRequired as exc:
            return emit_error(EXIT_SIGN_IN_REQUIRED, "sign-in-required", f"sign-in required: {exc}")
        except SignInFailed as exc:
            return emit_error(EXIT_SIGN_IN_REQUIRED, "sign-in-failed", f"sign-in failed: {exc}")
        except KeyboardInterrupt:
            return emit_error(EXIT_INTERRUPTED, "interrupted", "interrupted; nothing was changed (check is read-only)")
        except GenerationUndetermined as exc:
            if run_inputs.output.verbose:
                terminal.report(generation_lines(None, exc.evidence))
            from cipp_setup.cli.options import EXIT_USAGE

            return emit_error(EXIT_USAGE, "generation-undetermined", str(exc))

    from cipp_setup.cli.suggested import run_options

    options = run_options(run_inputs, inputs, generation=getattr(diagnosis, "generation", None),
                          environ=terminal.environ)
    diagnosis = _with_revert_command(diagnosis, options.command("revert"))
    report = diagnosis.report
    specs = _specs_by_id(getattr(diagnosis, "specs", None) or _registry_specs(run_inputs.catalogue))
    if not signed_in and diagnosis.admin is not None:  # the engine signed in without telling us
        terminal.report([signed_in_line(diagnosis.admin.user_principal_name, diagnosis.admin.tenant_id), ()])
    verbose = run_inputs.output.verbose
    from cipp_setup.cli.commands import fix_command

    terminal.report(generation_lines(diagnosis.generation, diagnosis.generation_evidence))
    terminal.report(profile_lines(getattr(diagnosis, "profile", None), getattr(diagnosis, "profile_evidence", ()),
                                  getattr(diagnosis, "profile_dependent", ())))
    terminal.report(sam_user_lines(report.results))
    terminal.report(
        report_lines(
            report.results, specs, report.required,
            verbose=verbose, marks=terminal.marks(),
            fix_command=options.command("fix") if fix_command() else None,
        )
    )
    exit_code = EXIT_OK if report.ok else EXIT_CHECKS_FAILED
    undecided = sam_user_undecided(report.results)
    if undecided is not None:
        # Testing someone else would give a verdict about the wrong account: ask instead.
        from cipp_setup.cli.options import EXIT_USAGE

        exit_code = EXIT_USAGE
        terminal.error(f"error: {undecided.summary}")
    if run_inputs.output.json:
        admin = diagnosis.admin
        envelope = json_report.build_envelope(
            command=NAME,
            exit_code=exit_code,
            results=report.results,
            specs=specs,
            required=report.required,
            tenant_id=getattr(diagnosis, "tenant_id", None) or (admin.tenant_id if admin else run_inputs.identities.tenant),
            generation=getattr(diagnosis, "generation", None) or generation,
            generation_evidence=getattr(diagnosis, "generation_evidence", ()),
            profile=getattr(diagnosis, "profile", None) if getattr(diagnosis, "generation", None) == "current" else None,
            profile_evidence=getattr(diagnosis, "profile_evidence", ()),
            profile_dependent=getattr(diagnosis, "profile_dependent", ()),
            signed_in=admin.user_principal_name if admin else None,
            cloud=target.cloud.name,
            secrets=terminal.secrets,
        )
        terminal.machine(json_report.dumps(envelope))
    written = report_output.write_reports(run_inputs, terminal, report_output.check_data(
        command=NAME, exit_code=exit_code, run_inputs=run_inputs, cloud=target.cloud.name, diagnosis=diagnosis, specs=specs),
        options)
    if not written:
        from cipp_setup.cli.options import EXIT_USAGE

        return exit_code or EXIT_USAGE  # the report asked for is missing: never exit 0
    return exit_code


def _journal_to_read() -> Any:
    """The journal, read only: which temporary rights cipp-setup granted and gave back
    (check never writes it, and a missing one is simply empty)."""
    from cipp_setup.engine.journal import Journal

    return Journal()


def _with_revert_command(diagnosis: Any, command: str) -> Any:
    """The diagnosis with each still-held temporary right naming the exact revert command."""
    from dataclasses import replace

    from cipp_setup.engine.lifecycle import with_revert_command

    report = diagnosis.report
    return replace(diagnosis, report=replace(report, results=with_revert_command(report.results, command)))


def known_check_ids(catalogue: Catalogue | None = None) -> Sequence[str]:
    """For other commands' --only/--ignore validation (fix shares it)."""
    return [spec.id for spec in _registry_specs(catalogue)]


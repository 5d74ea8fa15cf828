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
    from cipp_setup.cli.sandbox_session import Target
    from cipp_setup.cli.terminal import Terminal
    from cipp_setup.engine.context import CheckInputs
    from cipp_setup.engine.diagnose import ConnectionOptions
    from cipp_setup.engine.model import CheckResult, CheckSpec, Generation
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
            "Exit codes: 0 every required check passed (warnings allowed), 1 a required "
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


def _registry_specs() -> list[CheckSpec]:
    from cipp_setup.checks import REGISTRY

    return [getattr(entry, "spec", entry) for entry in REGISTRY]


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


def auth_mode(args: argparse.Namespace, target: Target) -> str:
    if args.auth:
        return str(args.auth)
    if target.is_sandbox:
        return "device-code"  # the sandbox approves device codes as the scenario's admin
    from cipp_setup.gateways.auth import default_interactive_mode

    return default_interactive_mode()


def sign_in_may_wait(args: argparse.Namespace, target: Target, terminal: Terminal) -> bool:
    """May sign-in wait for a person (device code, browser)? Not with --non-interactive, and
    not in CI against a real tenant, where nobody would ever enter the code. A device code
    needs no TTY (the code goes to stderr), so this is not the prompting gate."""
    from cipp_setup.cli.terminal import running_in_ci

    if args.non_interactive:
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


def validate_early(args: argparse.Namespace, terminal: Terminal) -> EarlyInputs:
    """Generation, secrets and sign-in environment; every secret is registered for scrubbing."""
    generation = generation_from_flag(args.generation)
    secret = read_api_client_secret(getattr(args, "client_secret_stdin", False), dict(terminal.environ))
    if secret:
        terminal.add_secret(secret)
    # Saved API details (--profile NAME, or the default profile): defaults for the flags
    # left empty, and the saved secret when no other was given. Every command passes here.
    from cipp_setup.cli.profile_cmd import apply_profile

    secret = apply_profile(args, terminal, secret)
    auth_client_id: str | None = None
    auth_client_secret: str | None = None
    if args.auth == "client-secret":
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
    return EarlyInputs(generation, secret, auth_client_id, auth_client_secret)


def build_run(
    args: argparse.Namespace,
    terminal: Terminal,
    target: Target,
    early: EarlyInputs,
    *,
    ignore: frozenset[str] = frozenset(),
) -> tuple[CheckInputs, ConnectionOptions]:
    """The engine's CheckInputs and ConnectionOptions for this run, shared by every
    command that diagnoses a tenant (check, fix, wizard, verify).

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
    if target.is_sandbox:
        filled = apply_identity_defaults(args, target.identities)
        if filled:
            names = ", ".join("--" + dest.replace("_", "-") for dest in filled)
            terminal.status(f"Sandbox '{target.scenario}': using the scenario's values for {names}.", "dim")
        default_secret = target.default_secret()
        if secret is None and default_secret and args.api_client_id == target.identities.get("api_client_id"):
            secret = default_secret
            terminal.add_secret(secret)
    if args.tenant is None:
        raise UsageError(
            "--tenant: expected a tenant id (GUID) or a domain such as contoso.onmicrosoft.com "
            "(required: the tool always signs in to an explicit tenant)"
        )
    inputs = CheckInputs(
        tenant=args.tenant,
        sam_user=args.sam_user,
        sam_app_id=args.sam_app,
        subscription_id=args.subscription,
        api_url=args.api_url,
        api_client_id=args.api_client_id,
        function_app=getattr(args, "function_app", None),
        api_client_secret=Secret(secret) if secret else None,
        generation=early.generation,  # type: ignore[arg-type]
        generation_default=_scenario_generation(target),
        ignore=ignore,
    )
    sandbox_note = " (the sandbox approves it automatically)" if target.is_sandbox else ""
    connection = ConnectionOptions(
        services=GatewayServices(),
        cloud=target.cloud,
        auth=auth_mode(args, target),
        interactive=sign_in_may_wait(args, target, terminal),
        device_code_callback=lambda message: terminal.status(message + sandbox_note, "bold"),
        client_id=early.auth_client_id,
        client_secret=Secret(early.auth_client_secret) if early.auth_client_secret else None,
        retry=RetryPolicy(on_wait=lambda wait: terminal.status(retry_wait_line(wait), "dim")),
    )
    return inputs, connection


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


def run(args: argparse.Namespace, terminal: Terminal) -> int:
    # Everything that can be wrong with the input is found before any sign-in.
    early = validate_early(args, terminal)
    from cipp_setup.cli.sandbox_session import open_target

    with open_target(args) as target:
        # Ids are checked after the target opens so a bad --cloud is reported first; the
        # sandbox start this may waste is a few milliseconds.
        known = known_check_ids()
        only = parse_check_ids(args.only, "--only", known) if args.only is not None else None
        ignore = (
            parse_check_ids(args.ignore, "--ignore", known) if args.ignore is not None else frozenset()
        )
        inputs, connection = build_run(args, terminal, target, early, ignore=ignore)
        return _diagnose(args, terminal, target, inputs, connection, only=only)


def _diagnose(
    args: argparse.Namespace,
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
        report_lines,
        sam_user_lines,
        sam_user_undecided,
        signed_in_line,
    )

    generation = inputs.generation
    signed_in: list[SignedInAdmin] = []

    def emit_error(code: int, error_code: str, message: str) -> int:
        terminal.error(message)
        if args.json:
            envelope = json_report.build_envelope(
                command=NAME, exit_code=code, tenant_id=args.tenant,
                generation=generation, signed_in=signed_in[0].user_principal_name if signed_in else None,
                cloud=target.cloud.name, error=json_report.RunError(error_code, message),
                secrets=terminal.secrets,
            )
            terminal.machine(json_report.dumps(envelope))
        report_output.write_reports(args, terminal, report_output.check_data(
            command=NAME, exit_code=code, args=args, cloud=target.cloud.name, error=(error_code, message),
            signed_in=signed_in[0].user_principal_name if signed_in else None))
        return code

    with terminal.progress("Signing in…") as progress:
        done: list[CheckResult] = []

        def on_signed_in(admin: SignedInAdmin) -> None:
            signed_in.append(admin)
            hint = args.tenant if args.tenant != admin.tenant_id else None
            terminal.report([signed_in_line(admin.user_principal_name, admin.tenant_id, hint), ()])
            progress.update("Running checks…")

        def on_result(result: CheckResult) -> None:
            done.append(result)
            progress.update(f"Running checks… {len(done)} done (latest: {result.check_id})")

        try:
            diagnosis = asyncio.run(
                run_diagnosis(
                    inputs, connection, only=only, on_signed_in=on_signed_in, on_result=on_result,
                )
            )
        except SignInRequired as exc:
            return emit_error(EXIT_SIGN_IN_REQUIRED, "sign-in-required", f"sign-in required: {exc}")
        except SignInFailed as exc:
            return emit_error(EXIT_SIGN_IN_REQUIRED, "sign-in-failed", f"sign-in failed: {exc}")
        except KeyboardInterrupt:
            return emit_error(EXIT_INTERRUPTED, "interrupted", "interrupted; nothing was changed (check is read-only)")
        except GenerationUndetermined as exc:
            if args.verbose:
                terminal.report(generation_lines(None, exc.evidence))
            from cipp_setup.cli.options import EXIT_USAGE

            return emit_error(EXIT_USAGE, "generation-undetermined", str(exc))

    report = diagnosis.report
    specs = _specs_by_id(getattr(diagnosis, "specs", None) or _registry_specs())
    if not signed_in and diagnosis.admin is not None:  # the engine signed in without telling us
        terminal.report([signed_in_line(diagnosis.admin.user_principal_name, diagnosis.admin.tenant_id), ()])
    verbose = bool(args.verbose)
    from cipp_setup.cli.commands import fix_command
    from cipp_setup.cli.suggested import run_options

    terminal.report(generation_lines(diagnosis.generation, diagnosis.generation_evidence))
    terminal.report(sam_user_lines(report.results))

    options = run_options(args, inputs, generation=getattr(diagnosis, "generation", None), environ=terminal.environ)
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
    if args.json:
        admin = diagnosis.admin
        envelope = json_report.build_envelope(
            command=NAME,
            exit_code=exit_code,
            results=report.results,
            specs=specs,
            required=report.required,
            tenant_id=getattr(diagnosis, "tenant_id", None) or (admin.tenant_id if admin else args.tenant),
            generation=getattr(diagnosis, "generation", None) or generation,
            generation_evidence=getattr(diagnosis, "generation_evidence", ()),
            signed_in=admin.user_principal_name if admin else None,
            cloud=target.cloud.name,
            secrets=terminal.secrets,
        )
        terminal.machine(json_report.dumps(envelope))
    written = report_output.write_reports(args, terminal, report_output.check_data(
        command=NAME, exit_code=exit_code, args=args, cloud=target.cloud.name, diagnosis=diagnosis, specs=specs),
        options)
    if not written:
        from cipp_setup.cli.options import EXIT_USAGE

        return exit_code or EXIT_USAGE  # the report asked for is missing: never exit 0
    return exit_code


def known_check_ids() -> Sequence[str]:
    """For other commands' --only/--ignore validation (fix will share it)."""
    return [spec.id for spec in _registry_specs()]


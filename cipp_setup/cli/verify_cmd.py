"""`cipp-setup verify`: does the saved CIPP API client still work? Token, then ListLogs.

For the admin whose integration stopped answering: one short command, no admin sign-in
(the two API checks need only the API client's own credentials), exit 0 when both
pass and 1 when not. The details come from `--profile NAME` (or the default profile),
or the same flags `check` takes; with `--sandbox NAME` the scenario fills what is missing.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cipp_setup.shell import env
from cipp_setup.cli.options import (
    EXIT_CHECKS_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SIGN_IN_REQUIRED,
    EXIT_USAGE,
    SECRET_ENV,
    UsageError,
    add_cipp_options,
    add_connection_options,
)

if TYPE_CHECKING:
    from cipp_setup.cli.inputs import RunInputs
    from cipp_setup.cli.sandbox_session import Target
    from cipp_setup.cli.terminal import Terminal
    from cipp_setup.engine.context import CheckInputs
    from cipp_setup.engine.diagnose import ConnectionOptions

NAME = "verify"
API_CHECKS = frozenset({"api-token", "api-list-logs"})


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        NAME,
        help="check that a saved CIPP API client still gets a token and reads ListLogs",
        description=(
            "Check the CIPP API itself, as an integration uses it: a token for the API client, "
            "then GET /api/ListLogs. No admin sign-in. Use --profile NAME for saved details."
        ),
        epilog=(
            f"The secret comes from the profile, {env(SECRET_ENV)} or --client-secret-stdin. "
            "Exit codes: 0 the API answers, 1 it does not, 2 usage error, 3 internal error, "
            "130 interrupted."
        ),
    )
    add_connection_options(parser)
    add_cipp_options(parser)
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true",
                        help="write a versioned JSON report to stdout; human output goes to stderr")
    output.add_argument("-v", "--verbose", action="store_true", help="show evidence and informational messages")
    return parser


def _require_api_details(run_inputs: RunInputs, inputs: CheckInputs) -> None:
    """Everything verify needs is known before any request goes out (exit 2 otherwise)."""
    from cipp_setup.cli.profile_cmd import profile_secret_problem

    missing = [flag for flag, value in (("--api-url", inputs.api_url), ("--api-client-id", inputs.api_client_id))
               if not value]
    if missing:
        raise UsageError(
            f"verify: expected the API details: {', '.join(missing)} missing (save them once with "
            "'cipp-setup profile add NAME ...' and pass --profile NAME)"
        )
    if inputs.api_client_secret is None:
        problem = profile_secret_problem(run_inputs)
        prefix = f"{problem}: " if problem else ""
        raise UsageError(
            f"verify: {prefix}expected the API client secret in {env(SECRET_ENV)} or on stdin with "
            "--client-secret-stdin (or saved with 'cipp-setup profile add --replace')"
        )


def run(run_inputs: RunInputs, terminal: Terminal) -> int:
    from cipp_setup.cli.check_cmd import build_run, validate_early
    from cipp_setup.cli.sandbox_session import open_target

    early = validate_early(run_inputs, terminal)  # applies --profile NAME or the default profile
    if early.run.identities.tenant is None and not early.run.connection.sandbox:
        raise UsageError(
            "verify: expected --profile NAME (see 'cipp-setup profile list') or --tenant, --api-url "
            f"and --api-client-id with {env(SECRET_ENV)}"
        )
    with open_target(early.run) as target:
        prepared = build_run(terminal, target, early)
        _require_api_details(prepared.run, prepared.inputs)
        return _verify(prepared.run, terminal, target, prepared.inputs, prepared.connection)


def _verify(
    run_inputs: RunInputs, terminal: Terminal, target: Target, inputs: CheckInputs,
    connection: ConnectionOptions,
) -> int:
    import asyncio

    from cipp_setup.engine.diagnose import GenerationUndetermined, run_diagnosis
    from cipp_setup.gateways.errors import SignInFailed, SignInRequired
    from cipp_setup.render import json_report
    from cipp_setup.render.text import report_lines

    def emit(code: int, error: json_report.RunError | None = None, diagnosis: Any = None) -> int:
        if error is not None:
            terminal.error(error.message)
        if run_inputs.output.json:
            report = diagnosis.report if diagnosis is not None else None
            envelope = json_report.build_envelope(
                command=NAME, exit_code=code,
                results=report.results if report else (),
                specs={s.id: s for s in diagnosis.specs} if diagnosis is not None else None,
                required=report.required if report else frozenset(),
                tenant_id=(diagnosis.tenant_id if diagnosis is not None else None) or inputs.tenant,
                generation=diagnosis.generation if diagnosis is not None else inputs.generation,
                signed_in=None, cloud=target.cloud.name, error=error, secrets=terminal.secrets,
            )
            terminal.machine(json_report.dumps(envelope))
        return code

    terminal.status(f"Verifying the CIPP API at {inputs.api_url} as client {inputs.api_client_id}…", "dim")
    try:
        with terminal.progress("Asking for a token and reading ListLogs…"):
            diagnosis = asyncio.run(run_diagnosis(inputs, connection, only=API_CHECKS,
                                                  catalogue=run_inputs.catalogue))
    except (SignInRequired, SignInFailed) as exc:  # not expected: the API checks sign no admin in
        return emit(EXIT_SIGN_IN_REQUIRED, json_report.RunError("sign-in-required", f"sign-in required: {exc}"))
    except GenerationUndetermined as exc:  # only if the two generations' API checks differ
        return emit(EXIT_USAGE, json_report.RunError("generation-undetermined", str(exc)))
    except KeyboardInterrupt:
        return emit(EXIT_INTERRUPTED, json_report.RunError("interrupted", "interrupted; nothing was changed"))
    report = diagnosis.report
    specs = {spec.id: spec for spec in diagnosis.specs}
    terminal.report(report_lines(report.results, specs, report.required,
                                 verbose=run_inputs.output.verbose, marks=terminal.marks()))
    return emit(EXIT_OK if report.ok else EXIT_CHECKS_FAILED, diagnosis=diagnosis)

"""`cipp-setup demo`: the wizard against an in-process sandbox tenant (`legacy-fresh`).

The tenant starts broken (no prerequisite holds, the API was never activated). Every
question's default leads forward, so pressing Enter at each one goes from there to
ListLogs answering; the "activate in CIPP" click is performed by the sandbox. With
`--scenario current-fresh` it is a current CIPP (7.2+): the wizard says it cannot tell the
generation and asks (Enter: current), and the sandbox creates the API client and saves it
to Azure, as the admin would in Integrations → CIPP-API → API Clients. `--yes`
runs it unattended: no question at all, no terminal needed (CI=true works, stdin may be
closed) — it is what the README's Quick start runs.

On a terminal (without `--yes`) the demo also shows the step most likely to go wrong:
after the click in CIPP it types the client id, the secret and the API URL into the
prompts as a person would, pasting the secret's ID once by mistake so the wizard catches
it (`--no-type`: the details are taken from the click).

The demo shows replication as it happens in a real tenant: the sandbox hides new
directory objects for a few (sandbox-clock) seconds, and waiting moves that clock
instead of sleeping. Its journal is a throwaway file in a new temporary directory, so
the demo never mixes with the journal of real runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cipp_setup.cli.options import CliParser

if TYPE_CHECKING:
    from cipp_setup.cli.inputs import RunInputs
    from cipp_setup.cli.terminal import Terminal
    from cipp_setup.wizard.prompts import Prompter

NAME = "demo"
DEFAULT_SCENARIO = "legacy-fresh"
# Sandbox-clock seconds a new directory object stays invisible: enough for the admin to
# see "waiting for Entra ID to replicate… 1/12", as in a real tenant.
DEMO_REPLICATION_S = 5.0


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        NAME,
        help="try the wizard on an offline sandbox tenant (nothing real is touched)",
        description=(
            "Run the guided setup against a sandbox tenant in this process: from a tenant "
            "where no prerequisite holds to the CIPP API answering. Press Enter at every "
            "question, or pass --yes to watch it run unattended."
        ),
    )
    parser.add_argument("--yes", "-y", action="store_true",
                        help="answer every question with its default; runs without a terminal")
    parser.add_argument("--keep-rights", action="store_true",
                        help="keep the temporary rights at the end instead of removing them")
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO, metavar="NAME|FILE",
                        help=f"the sandbox scenario (default: {DEFAULT_SCENARIO})")
    parser.add_argument("--non-interactive", action="store_true",
                        help="never prompt (needs --yes)")
    parser.add_argument("--type", action=argparse.BooleanOptionalAction, default=None, dest="type_details",
                        help="type the client id, secret and URL into the prompts visibly, as you would "
                             "(one secret ID pasted by mistake and caught); the default on a terminal "
                             "without --yes. --no-type: take them from CIPP's click directly")
    return parser


def wizard_inputs(demo: RunInputs) -> RunInputs:
    """The wizard's inputs for a demo run: the sandbox, and nothing else preset (parsed by
    the wizard's own options, so every default is the wizard's)."""
    from dataclasses import replace

    from cipp_setup.cli.inputs import from_namespace
    from cipp_setup.cli.options import add_cipp_options, add_connection_options
    from cipp_setup.cli.wizard_cmd import add_wizard_options

    parser = CliParser(prog="cipp-setup demo")
    add_connection_options(parser)
    add_cipp_options(parser)
    add_wizard_options(parser)
    argv = ["--sandbox", str(demo.options.scenario)]
    if demo.applying.yes:
        argv.append("--yes")
    if demo.applying.keep_rights:
        argv.append("--keep-rights")
    if demo.connection.non_interactive:
        argv.append("--non-interactive")
    # No words of its own: the commands the demo prints repeat only --sandbox (and the
    # generation), as a sandbox run's do.
    return replace(from_namespace(parser.parse_args(argv), catalogue=demo.catalogue), command="wizard")


def _slow_replication(sandbox: Any) -> None:
    sandbox.control.set_replication(graph_seconds=DEMO_REPLICATION_S)


def secret_id_of(sandbox: Any, client_id: str) -> str:
    """The Secret ID the Entra admin center lists beside the secret CIPP just created
    (what the demo pastes by mistake)."""
    app = sandbox.state.application_by_app_id(client_id)
    credentials = list(getattr(app, "password_credentials", None) or [])
    return str(credentials[-1].key_id) if credentials else "00000000-0000-0000-0000-000000000000"


def run(run_inputs: RunInputs, terminal: Terminal, *, prompter: Prompter | None = None) -> int:
    from cipp_setup.cli.wizard_cmd import launch

    typing = run_inputs.options.type_details
    if typing is None:
        typing = not run_inputs.applying.yes  # on a terminal, unless unattended
    return launch(wizard_inputs(run_inputs), terminal, prompter=prompter, demo=True, prepare_sandbox=_slow_replication,
                  secret_id_of=secret_id_of if typing else None)

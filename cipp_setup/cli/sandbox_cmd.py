"""`cipp-setup sandbox serve|list`: the sandbox tenant as a command.

`serve` runs a scenario on loopback in the foreground until Ctrl-C or SIGTERM and, once
every port listens, writes the ready file (cloud endpoints, CA, identities, control URL
and key) that `--cloud FILE` and tests read. `list` names the built-in scenarios.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cipp_setup.cli.options import EXIT_OK, SANDBOX_CLOUDS, UsageError, usage_error

if TYPE_CHECKING:
    from cipp_setup.cli.inputs import RunInputs
    from cipp_setup.cli.terminal import Terminal

NAME = "sandbox"


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise usage_error("--port", "a port number from 0 to 65535 (0: any free port)", value) from None
    if not 0 <= port <= 65535:
        raise usage_error("--port", "a port number from 0 to 65535 (0: any free port)", value)
    return port


def _latency(value: str) -> int:
    try:
        latency = int(value)
    except ValueError:
        raise usage_error("--latency-ms", "a whole number of milliseconds, 0 or more", value) from None
    if latency < 0:
        raise usage_error("--latency-ms", "a whole number of milliseconds, 0 or more", value)
    return latency


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        NAME,
        help="run or list sandbox tenants (an offline stand-in for Entra ID, Graph, ARM and CIPP)",
        description="The sandbox tenant: a faithful offline stand-in for the Microsoft "
        "services and a CIPP instance, served on 127.0.0.1.",
    )
    actions = parser.add_subparsers(dest="sandbox_command", metavar="ACTION", parser_class=type(parser))
    serve = actions.add_parser(
        "serve",
        help="serve a scenario until interrupted",
        description="Serve a sandbox scenario on 127.0.0.1 until Ctrl-C. Once listening, "
        "write the ready file (JSON: cloud endpoints and CA, identities, control URL and key); "
        "pass it to other commands as --cloud FILE.",
    )
    serve.add_argument("--scenario", required=True, metavar="NAME|FILE",
                       help="a built-in scenario (see 'cipp-setup sandbox list') or a scenario file")
    serve.add_argument("--port", type=_port, default=0,
                       help="first port to listen on (default 0: any free ports)")
    serve.add_argument("--latency-ms", type=_latency, default=0, metavar="N",
                       help="add N ms to every request")
    serve.add_argument("--pose-as", choices=SANDBOX_CLOUDS, default=None, metavar="CLOUD",
                       help="answer as this Microsoft cloud: accept and issue its Graph and ARM "
                       f"resource URIs, and name them in the ready file ({', '.join(SANDBOX_CLOUDS)})")
    serve.add_argument("--ready-file", metavar="PATH", default=None,
                       help="where to write the ready file once listening")
    serve.add_argument("--fault", action="append", default=[], metavar="SPEC",
                       help="inject a fault, KIND[:SERVICE[:METHOD[:PATH]]][:times=N][:retry_after=S][:delay_ms=MS] "
                       "(e.g. throttle:graph:GET:/users:times=2); repeatable")
    actions.add_parser("list", help="list the built-in scenarios", description="List the built-in scenarios.")
    return parser


def run(run_inputs: RunInputs, terminal: Terminal) -> int:
    if run_inputs.options.action == "list":
        return _list(terminal)
    if run_inputs.options.action == "serve":
        return _serve(run_inputs, terminal)
    raise UsageError("sandbox: expected an action, one of serve, list (see 'cipp-setup sandbox --help')")


def _list(terminal: Terminal) -> int:
    from cipp_setup.render.text import text_line
    from cipp_setup.sandbox.scenario import list_scenarios

    entries = [(str(name), str(description)) for name, description in _scenario_entries(list_scenarios())]
    width = max((len(name) for name, _ in entries), default=0)
    terminal.report([((name.ljust(width), "bold"), (f"  {description}", "")) for name, description in entries]
                    or [text_line("No built-in scenarios.")])
    return EXIT_OK


def _scenario_entries(listing: Any) -> list[tuple[str, str]]:
    """list_scenarios() may give (name, description) pairs, a mapping, or objects."""
    if isinstance(listing, dict):
        return list(listing.items())
    entries = []
    for item in listing:
        if isinstance(item, (tuple, list)):
            entries.append((item[0], item[1]))
        else:
            entries.append((item.name, getattr(item, "description", "")))
    return entries


def _serve(run_inputs: RunInputs, terminal: Terminal) -> int:
    from cipp_setup.cli.sandbox_session import load_scenario_state
    from cipp_setup.sandbox.faults import parse_fault_spec
    from cipp_setup.sandbox.runtime import Sandbox, serve_forever

    serve = run_inputs.options  # serve's own options: scenario, port, faults…
    faults = []
    for spec in serve.faults:
        try:
            faults.append(parse_fault_spec(spec))
        except ValueError as exc:
            raise UsageError(f"--fault: {str(exc).splitlines()[0]}") from None
    state = load_scenario_state(str(serve.scenario), "--scenario")

    def on_ready(sandbox: Sandbox) -> None:
        urls = sandbox.urls
        lines = [
            f"Sandbox '{serve.scenario}' is listening on 127.0.0.1 (Ctrl-C to stop)"
            + (f", posing as the {serve.pose_as} cloud." if serve.pose_as else "."),
            f"  identity platform: {urls.idp}",
            f"  Microsoft Graph:   {urls.graph}",
            f"  Azure Resource Manager: {urls.arm}",
            f"  CIPP Function App: {urls.cipp}",
            f"  CA certificate:    {sandbox.ca_file}",
        ]
        if serve.ready_file:
            lines.append(f"Ready file: {serve.ready_file} (use it as --cloud {serve.ready_file})")
        for line in lines:
            terminal.status(line)

    try:
        serve_forever(
            state,  # type: ignore[arg-type]
            port=serve.port,
            latency_ms=serve.latency_ms,
            ready_file=serve.ready_file,
            faults=faults,
            on_ready=on_ready,
            pose_as=serve.pose_as,
        )
    except OSError as exc:
        # A port in use or an unwritable ready file is the user's to fix, not a crash.
        raise UsageError(f"sandbox serve: cannot start: {exc.strerror or exc}") from None
    terminal.status("Sandbox stopped.")
    return EXIT_OK

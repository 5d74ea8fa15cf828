"""`cipp-setup explain [ID]`: a check's docs, causes and remediation; without ID, the catalogue."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cipp_setup.cli.options import EXIT_OK, usage_error

if TYPE_CHECKING:
    from cipp_setup.cli.inputs import RunInputs
    from cipp_setup.cli.terminal import Terminal

NAME = "explain"


def register(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        NAME,
        help="explain a check: what it verifies, why it can fail, and how to fix it",
        description="Print a check's documentation, its causes and how to fix it. "
        "Without an id, list every check.",
    )
    parser.add_argument("check_id", nargs="?", metavar="ID", help="a check id, e.g. sam-user-global-admin")
    return parser


def run(run_inputs: RunInputs, terminal: Terminal) -> int:
    from cipp_setup.render.text import catalogue_lines, explain_lines

    specs = [check.spec for check in run_inputs.checks()]
    check_id = run_inputs.options.check_id
    if check_id is None:
        terminal.report(catalogue_lines(specs))
        return EXIT_OK
    by_id = {spec.id: spec for spec in specs}
    spec = by_id.get(check_id.strip())
    if spec is None:
        raise usage_error("explain ID", f"a check id, one of {', '.join(by_id)}", check_id)
    from cipp_setup.cli.commands import fix_command

    terminal.report(explain_lines(spec, marks=terminal.marks(), fix_command=fix_command()))
    return EXIT_OK

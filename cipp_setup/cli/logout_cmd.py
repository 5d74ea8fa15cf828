"""`cipp-setup logout`: one module per command (main.COMMANDS); the code lives with login."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from cipp_setup.cli import login_cmd

if TYPE_CHECKING:
    from cipp_setup.cli.inputs import RunInputs
    from cipp_setup.cli.terminal import Terminal


def register(subparsers: Any) -> argparse.ArgumentParser:
    return login_cmd.register_logout(subparsers)


def run(run_inputs: RunInputs, terminal: Terminal) -> int:
    return login_cmd.run_logout(run_inputs, terminal)

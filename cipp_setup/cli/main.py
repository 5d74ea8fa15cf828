"""`cipp-setup` entry point: parse, dispatch to one small command module, map outcomes to exit codes.

Each command is a module in `cipp_setup.cli` listed in COMMANDS with two functions:
`register(subparsers) -> argparse.ArgumentParser` (stdlib only: `--help` builds every
parser) and `run(inputs, terminal) -> int` (imports its heavy stacks inside), where
`inputs` is the run's `RunInputs` (cipp_setup/cli/inputs.py), built from the parsed
words here, once. Common options come from `cipp_setup.cli.options` so they mean the
same on every command.

Exit codes: 0 ok (or not needed any more); 1 a required check failed; 2 usage error / bad input / cannot prompt;
3 internal error; 4 sign-in required and not possible; 130 interrupted.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from cipp_setup import __version__
from cipp_setup.cli.commands import COMMANDS, SUMMARIES, fix_command
from cipp_setup.cli.options import (
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    PROG,
    CliParser,
    UsageError,
)
from cipp_setup.cli.terminal import Terminal

if TYPE_CHECKING:
    from cipp_setup.engine.catalogue import Catalogue

__all__ = ["COMMANDS", "build_parser", "fix_command", "main"]


def _command_module(name: str) -> ModuleType:
    return importlib.import_module(f"cipp_setup.cli.{COMMANDS[name]}")


def build_parser(full: Collection[str] | None = None) -> CliParser:
    """The whole command line. `full`: the commands whose own parser is built (None: all);
    the others are listed by name and summary only, which is all `--help` shows of them."""
    parser = CliParser(
        prog=PROG,
        description=(
            "Check and prepare a Microsoft 365 tenant so the CIPP API can be enabled, "
            "verify that the API answers, and diagnose why it stopped."
        ),
        epilog=(
            "exit codes: 0 ok, 1 a required check failed, 2 usage error, 3 internal error, "
            "4 sign-in required, 130 interrupted"
        ),
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CliParser)
    for name in COMMANDS:
        if full is None or name in full:
            _command_module(name).register(subparsers)
        else:
            subparsers.add_parser(name, help=SUMMARIES[name])
    return parser


def invoked_command(argv: Sequence[str]) -> str | None:
    """The command `argv` names: its first word (the top-level options take no value)."""
    first = next((token for token in argv if not token.startswith("-")), None)
    return first if first in COMMANDS else None


def _silence_library_logging() -> None:
    """SDKs (azure-identity, msal) log failures as WARNING; with no handler configured
    Python's last-resort handler prints them, raw and multi-line, on stderr. The CLI
    reports every failure itself in one line, so library logging goes nowhere."""
    import logging

    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.NullHandler())


def _write_crash_log(exc: BaseException, secrets: Sequence[str]) -> str | None:
    """Keep the traceback for a bug report, out of the user's console. Returns the path."""
    import tempfile
    import traceback

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    try:
        fd, path = tempfile.mkstemp(prefix=CRASH_LOG_PREFIX, suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"{PROG} {__version__} on Python {sys.version.split()[0]}\n{text}")
    except OSError:
        return None
    prune_crash_logs(Path(path).parent)
    return path


CRASH_LOG_PREFIX = "cipp-setup-crash-"
MAX_CRASH_LOGS = 5


def prune_crash_logs(folder: Path, keep: int = MAX_CRASH_LOGS) -> None:
    """Keep the newest `keep` crash logs of this user; remove the older ones."""
    try:
        logs = [p for p in folder.glob(f"{CRASH_LOG_PREFIX}*.log") if p.is_file() and p.stat().st_uid == _uid()]
        logs.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
    except OSError:
        return
    for old in logs[keep:]:
        try:
            old.unlink()
        except OSError:
            pass


def _uid() -> int:
    getuid = getattr(os, "getuid", None)  # Windows: the temp folder is per user anyway
    return getuid() if getuid is not None else 0


def _is_bad_state_file(exc: BaseException) -> bool:
    """A state file the run cannot use (its message names the file and what to do)."""
    from cipp_setup.engine.journal import JournalUnusable, RunInProgress

    return isinstance(exc, (JournalUnusable, RunInProgress))


def _silence_lost_stdout() -> None:
    """stdout's reader went away (or it was closed): point it at the null device so the
    interpreter's final flush does not print "Exception ignored ... BrokenPipeError" and
    change the exit code."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        if sys.stdout is not None:
            try:
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError):
                pass
        sys.stdout = open(devnull, "w")  # noqa: SIM115 - lives until the process exits
    except OSError:
        pass


def main(argv: Sequence[str] | None = None, *, catalogue: Catalogue | None = None) -> int:
    """Run one command. `catalogue`: the checks the run knows (None: the built-in ones);
    a test hands in its own to see a check it defines go through every output."""
    terminal = Terminal()
    try:
        words = list(sys.argv[1:] if argv is None else argv)
        # Only the invoked command's parser is built: its module alone is imported.
        invoked = invoked_command(words)
        parser = build_parser(full=() if invoked is None else (invoked,))
        args, extra = parser.parse_known_args(words)
        if extra:
            # Name the command whose --help lists the valid options, not the top level.
            where = f"{PROG} {args.command}" if getattr(args, "command", None) else PROG
            first = extra[0]
            what = f"unknown option {first.split('=')[0]}" if first.startswith("-") else f"unexpected argument {first!r}"
            raise UsageError(f"{what} (see '{where} --help')")
        if args.command is None and terminal.can_prompt() and "wizard" in COMMANDS:
            args = build_parser(full=("wizard",)).parse_args(["wizard"])  # `cipp-setup` alone on a terminal
        if args.command is None:
            raise UsageError(
                f"missing command: expected one of {', '.join(COMMANDS)} (see '{PROG} --help')"
            )
        from cipp_setup.cli.inputs import from_namespace

        # The Namespace ends here: the command gets one typed value (with the words, which
        # reports record as the command line that produced them).
        inputs = from_namespace(args, words, catalogue=catalogue)
        terminal = Terminal(json_mode=inputs.output.json, non_interactive=inputs.connection.non_interactive)
        _silence_library_logging()
        code: int = _command_module(args.command).run(inputs, terminal)
        if terminal.output_lost:
            _silence_lost_stdout()
        return code
    except UsageError as exc:
        terminal.error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        terminal.status("Interrupted.")
        return EXIT_INTERRUPTED
    except SystemExit as exc:  # argparse's --help / --version
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_USAGE)
    except BrokenPipeError:
        # `cipp-setup check | head` outside the Terminal (which survives it itself): the
        # reader went away; nothing more to say.
        _silence_lost_stdout()
        return EXIT_INTERNAL
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, log file
        if _is_bad_state_file(exc):
            terminal.error(str(exc))
            return EXIT_USAGE
        path = _write_crash_log(exc, terminal.secrets)
        where = f"; the details are in {path}" if path else ""
        terminal.error(
            f"internal error ({type(exc).__name__}){where}. Please report it: this is a bug in {PROG}."
        )
        return EXIT_INTERNAL


def entry_point() -> None:
    raise SystemExit(main())


if __name__ == "__main__":
    entry_point()

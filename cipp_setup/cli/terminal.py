"""The one module that writes to the terminal (pre-commit's rule: all writes in one place).

Streams: machine output (`--json`) alone on stdout; the human report on stdout, or on
stderr when `--json` is given; status, progress, sign-in prompts and errors on stderr.

Colour: honours NO_COLOR, FORCE_COLOR / CLICOLOR_FORCE and TERM=dumb. Without colour the
lines are written as plain text and rich is never imported, which keeps runs without a
terminal (CI, pipes, tests) cheap and their output byte-for-byte predictable. A spinner
is shown only on a terminal; anything it says is also written as a plain line when not.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from cipp_setup.render.text import Line, Marks

CI_VARIABLES = (
    "CI", "GITHUB_ACTIONS", "TF_BUILD", "GITLAB_CI", "JENKINS_URL", "BUILDKITE",
    "CIRCLECI", "TEAMCITY_VERSION", "BITBUCKET_BUILD_NUMBER", "CODEBUILD_BUILD_ID",
)


def _isatty(stream: IO[str] | None) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (ValueError, OSError):  # closed or detached stream
        return False


def running_in_ci(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name) for name in CI_VARIABLES)


def colour_wanted(stream: IO[str] | None, environ: Mapping[str, str]) -> bool:
    """no-color.org: NO_COLOR wins; FORCE_COLOR/CLICOLOR_FORCE force; TERM=dumb disables."""
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR") or environ.get("CLICOLOR_FORCE") not in (None, "", "0"):
        return True
    if environ.get("TERM") == "dumb":
        return False
    return _isatty(stream)


# Glyphs the renderers and messages use, as ASCII: what a cp1252 or ascii stream gets.
_ASCII_GLYPHS = {
    "\u2192": "->", "\u2190": "<-", "\u2713": "v", "\u2717": "x", "\u2026": "...",
    "\u2014": "-", "\u2013": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
    "\u2022": "*", "\u00d7": "x", "\u2264": "<=", "\u2265": ">=", "\u2260": "!=",
}


def ascii_fallback(text: str, encoding: str | None) -> str:
    """`text` with every character `encoding` cannot take replaced: known glyphs by
    their ASCII look-alikes, anything else by '?'."""
    target = encoding or "ascii"
    out = []
    for char in text:
        try:
            char.encode(target)
            out.append(char)
        except (UnicodeEncodeError, LookupError):
            out.append(_ASCII_GLYPHS.get(char, "?"))
    return "".join(out)


def _encodes_all(stream: IO[str], lines: Iterable[Line]) -> bool:
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        "".join(chunk for line in lines for chunk, _ in line).encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class Terminal:
    """Where every byte for the user goes. Commands get one; nothing else prints."""

    def __init__(
        self,
        *,
        json_mode: bool = False,
        non_interactive: bool = False,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        stdin: IO[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self.stdin = stdin if stdin is not None else sys.stdin
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.json_mode = json_mode
        self.non_interactive = non_interactive
        self.report_stream = self.stderr if json_mode else self.stdout
        self._consoles: dict[int, Console] = {}
        self._lost: set[int] = set()  # streams that went away (closed, broken pipe)
        self.output_lost = False
        # Secret values known to this run: scrubbed from every byte written (defence in
        # depth; renderers never receive secrets in the first place).
        self.secrets: list[str] = []
        self._spinning = False

    def add_secret(self, value: str) -> None:
        if value and value not in self.secrets:
            self.secrets.append(value)

    def can_show_secret(self) -> bool:
        """A new secret may be shown only where a person reads it: stderr on a terminal
        (never a pipe or a file a CI system keeps as a log)."""
        return self.is_terminal(self.stderr)

    def show_secret_once(self, lines: Iterable[Line], value: str) -> bool:
        """Write `lines` (which carry `value`) to the terminal, then scrub `value` from
        every later byte. Returns False, writing nothing, when stderr is no terminal."""
        if not value or not self.can_show_secret():
            return False
        if value in self.secrets:  # already registered: it was shown (or is a known secret)
            return False
        self.write_lines(lines, self.stderr)
        self.add_secret(value)
        return True

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "********")
        return text

    # --- capabilities --------------------------------------------------------------

    def can_prompt(self) -> bool:
        """The one gate for prompting (gh CanPrompt): a person is there and may be asked."""
        if self.non_interactive or running_in_ci(self.environ):
            return False
        return _isatty(self.stdin) and _isatty(self.stderr)

    def is_terminal(self, stream: IO[str] | None = None) -> bool:
        return _isatty(stream if stream is not None else self.stderr)

    def marks(self, stream: IO[str] | None = None) -> Marks:
        from cipp_setup.render.text import ASCII_MARKS, marks_for_encoding

        target = stream if stream is not None else self.report_stream
        if self.environ.get("TERM") == "dumb" and not getattr(target, "encoding", None):
            return ASCII_MARKS
        return marks_for_encoding(getattr(target, "encoding", None) or "utf-8")

    # --- writing ---------------------------------------------------------------------

    def _console(self, stream: IO[str]) -> Console:
        console = self._consoles.get(id(stream))
        if console is None:
            from rich.console import Console  # lazily: --help and plain runs never need it

            console = Console(
                file=stream, force_terminal=True, no_color=False, highlight=False,
                soft_wrap=True, emoji=False, markup=False,
            )
            self._consoles[id(stream)] = console
        return console

    def width(self, stream: IO[str] | None = None) -> int | None:
        """The terminal's width in columns when `stream` is a terminal (COLUMNS wins)."""
        target = stream if stream is not None else self.report_stream
        if not _isatty(target):
            return None
        columns = self.environ.get("COLUMNS", "")
        if columns.isdigit() and int(columns) > 0:
            return int(columns)
        try:
            return os.get_terminal_size(target.fileno()).columns
        except (OSError, ValueError, AttributeError):
            return None

    def _write(self, target: IO[str] | None, text: str) -> None:
        """Write to a stream that may not take every character (cp1252 or ascii when the
        output is redirected on Windows) or may be gone (closed, a reader that left: `check
        --json | true`). Glyphs fall back to ASCII; a lost stream is remembered and the
        run goes on to its verdict (the exit code still says it), never to a crash."""
        if target is None or id(target) in self._lost:
            self.output_lost = self.output_lost or target is None
            return
        try:
            try:
                target.write(text)
            except UnicodeEncodeError:
                target.write(ascii_fallback(text, getattr(target, "encoding", None)))
            target.flush()
        except (BrokenPipeError, ValueError, OSError):  # ValueError: I/O on a closed file
            self._lost.add(id(target))
            self.output_lost = True

    def write_lines(self, lines: Iterable[Line], stream: IO[str] | None = None) -> None:
        from cipp_setup.render.text import plain, strip_nowrap, wrap_lines

        target = stream if stream is not None else self.report_stream
        lines = [tuple((self._scrub(chunk), style) for chunk, style in line) for line in lines]
        width = self.width(target) if target is not None else None
        if width is not None:
            # On a terminal, break at spaces ourselves: the terminal would break mid-word.
            lines = wrap_lines(lines, width)
        lines = [tuple((chunk, strip_nowrap(style)) for chunk, style in line) for line in lines]
        if target is None or not colour_wanted(target, self.environ) or not _encodes_all(target, lines):
            self._write(target, plain(lines))
            return
        from rich.text import Text

        try:
            console = self._console(target)
            for line in lines:
                text = Text()
                for chunk, style in line:
                    text.append(chunk, style=style or None)
                console.print(text)
            target.flush()
        except (BrokenPipeError, ValueError, OSError):
            self._lost.add(id(target))
            self.output_lost = True

    def report(self, lines: Iterable[Line]) -> None:
        """The human report: stdout, or stderr when stdout carries JSON."""
        if self._spinning and self.is_terminal(self.report_stream):
            # Both streams are the same screen: print through the spinner's console so
            # the line lands above the spinner instead of being glued to its text.
            self.write_lines(lines, self.stderr)
            return
        self.write_lines(lines, self.report_stream)

    def status(self, text: str, style: str = "") -> None:
        """A status line for the human on stderr (sign-in, device code, notes)."""
        self.write_lines([((text, style),)], self.stderr)

    def machine(self, text: str) -> None:
        """Machine output (JSON) — the only thing ever written to stdout in --json mode.
        A stream that cannot take every character gets the same JSON with \\u escapes."""
        text = self._scrub(text)
        encoding = getattr(self.stdout, "encoding", None) or "utf-8"
        try:
            text.encode(encoding)
        except (UnicodeEncodeError, LookupError):
            import json

            try:
                text = json.dumps(json.loads(text), indent=2, ensure_ascii=True) + "\n"
            except ValueError:
                text = ascii_fallback(text, "ascii")
        self._write(self.stdout, text)

    def error(self, message: str) -> None:
        """One line: `cipp-setup: error: ...`. Never a traceback."""
        first_line = message.strip().splitlines()[0] if message.strip() else "unknown error"
        self.write_lines([(("cipp-setup: error: ", "bold red"), (first_line, ""))], self.stderr)

    @contextmanager
    def progress(self, text: str) -> Iterator[ProgressHandle]:
        """A spinner on stderr when it is a terminal; nothing at all otherwise.

        Callers must not prompt inside it (a questionary prompt is hidden by the spinner).
        """
        if not self.is_terminal(self.stderr) or not colour_wanted(self.stderr, self.environ):
            yield ProgressHandle(None)
            return
        console = self._console(self.stderr)
        with console.status(text) as live:
            self._spinning = True
            try:
                yield ProgressHandle(live)
            finally:
                self._spinning = False


class ProgressHandle:
    """Update a running spinner's text; a no-op when there is no spinner."""

    def __init__(self, live: Any) -> None:
        self._live = live

    def update(self, text: str) -> None:
        if self._live is not None:
            self._live.update(text)

    def stop(self) -> None:
        """Take the spinner off the screen now (before a prompt, which it would hide);
        later updates are ignored. Leaving the `progress` block stays safe."""
        if self._live is not None:
            self._live.stop()
            self._live = None

    @property
    def active(self) -> bool:
        return self._live is not None

"""The wizard's questions, and the screen they share with its narrative.

- Every question goes through `questionary` with `unsafe_ask_async`: Ctrl-C raises
  `KeyboardInterrupt` (handled once, at the top, by the command), and end of input
  (Ctrl-D, a pipe that ran dry) is reported as `PromptCancelled`, a KeyboardInterrupt.
- `Prompter` is the seam tests replace: `QuestionaryPrompter()` with no input/output
  uses the current prompt_toolkit app session, so a test runs the wizard inside
  `create_app_session(input=create_pipe_input(), output=DummyOutput())` with the keys
  sent up front; `QuestionaryPrompter.for_terminal(terminal)` is the real one, whose
  output is a terminal even when stdout is redirected.
- `Screen` is what the flow talks to: narrative lines (stderr, through `Terminal`), a
  spinner for waits, and the questions — the spinner is stopped before every question,
  because a questionary prompt drawn under a live rich spinner is hidden by it.
- Autocomplete accepts only one of its choices: questionary returns whatever was typed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol, TextIO, cast

if TYPE_CHECKING:
    from cipp_setup.cli.terminal import ProgressHandle, Terminal
    from cipp_setup.render.text import Line

# Questions go to a select list up to this many options, to an autocomplete beyond it.
SELECT_LIMIT = 12

Validator = Callable[[str], "str | None"]  # the error to show, or None when the value is fine


class PromptCancelled(KeyboardInterrupt):
    """The admin ended the input (Ctrl-D) instead of answering: treated like Ctrl-C."""


@dataclass(frozen=True)
class Option:
    """One answer to pick: `value` is returned, `title` shown, `hint` shown dimmed after it."""

    value: str
    title: str
    hint: str = ""

    @property
    def label(self) -> str:
        return f"{self.title} ({self.hint})" if self.hint else self.title


class Prompter(Protocol):
    """Asks one question and returns the answer; raises KeyboardInterrupt when cancelled."""

    async def select(self, message: str, options: Sequence[Option], default: str | None = None) -> str: ...

    async def autocomplete(self, message: str, options: Sequence[Option], default: str | None = None) -> str: ...

    async def confirm(self, message: str, default: bool = True) -> bool: ...

    async def text(self, message: str, default: str = "", validate: Validator | None = None) -> str: ...

    async def secret(self, message: str, validate: Validator | None = None) -> str: ...


def _questionary_validator(validate: Validator | None) -> Any:
    if validate is None:
        return None

    def check(value: str) -> bool | str:
        problem = validate(value)
        return True if problem is None else problem

    return check


def autocomplete_validator(options: Sequence[Option]) -> Validator:
    """Accept only one of the options' labels (case-insensitive), as typed or completed."""
    labels = {o.label.lower() for o in options}

    def check(value: str) -> str | None:
        if value.strip().lower() in labels:
            return None
        return "pick one of the listed entries (type to filter, Tab to complete)"

    return check


def option_for_label(options: Sequence[Option], label: str) -> Option:
    wanted = label.strip().lower()
    for option in options:
        if option.label.lower() == wanted:
            return option
    raise ValueError(f"{label!r} is not one of the choices")


class QuestionaryPrompter:
    """The real prompts. `input`/`output` None: the current prompt_toolkit app session's."""

    def __init__(self, *, input: Any = None, output: Any = None) -> None:
        self._io: dict[str, Any] = {}
        if input is not None:
            self._io["input"] = input
        if output is not None:
            self._io["output"] = output

    @classmethod
    def for_terminal(cls, terminal: Terminal) -> QuestionaryPrompter:
        """Prompts on the terminal: stderr when it is one (where the narrative is), else
        stdout; never a redirected file. Input from the terminal, not a pipe."""
        from prompt_toolkit.input import create_input
        from prompt_toolkit.output import create_output

        stream: IO[str] = terminal.stderr
        for candidate in (terminal.stderr, terminal.stdout):
            if terminal.is_terminal(candidate):
                stream = candidate
                break
        return cls(input=create_input(always_prefer_tty=True), output=create_output(stdout=cast(TextIO, stream)))

    def with_input(self, input: Any) -> QuestionaryPrompter:
        """The same prompts drawn on the same output, reading keys from `input` (the demo's
        typist feeds a pipe)."""
        return QuestionaryPrompter(input=input, output=self._io.get("output"))

    async def _ask(self, question: Any) -> Any:
        try:
            return await question.unsafe_ask_async()
        except EOFError:
            raise PromptCancelled() from None

    async def select(self, message: str, options: Sequence[Option], default: str | None = None) -> str:
        import questionary

        choices = [questionary.Choice(title=o.label, value=o.value) for o in options]
        chosen = next((c for c in choices if c.value == default), None)
        answer = await self._ask(questionary.select(
            message, choices=choices, default=chosen, use_shortcuts=False, **self._io,
        ))
        return str(answer)

    async def autocomplete(self, message: str, options: Sequence[Option], default: str | None = None) -> str:
        import questionary

        default_label = next((o.label for o in options if o.value == default), "")
        answer = await self._ask(questionary.autocomplete(
            message, choices=[o.label for o in options], default=default_label,
            validate=_questionary_validator(autocomplete_validator(options)), **self._io,
        ))
        return option_for_label(options, str(answer)).value

    async def confirm(self, message: str, default: bool = True) -> bool:
        import questionary

        return bool(await self._ask(questionary.confirm(message, default=default, **self._io)))

    async def text(self, message: str, default: str = "", validate: Validator | None = None) -> str:
        import questionary

        answer = await self._ask(questionary.text(
            message, default=default, validate=_questionary_validator(validate), **self._io,
        ))
        return str(answer).strip()

    async def secret(self, message: str, validate: Validator | None = None) -> str:
        import questionary

        answer = await self._ask(questionary.password(
            message, validate=_questionary_validator(validate), **self._io,
        ))
        return str(answer).strip()


class Screen:
    """The wizard's terminal: narrative on stderr, the summary on stdout, questions, spinner."""

    def __init__(self, terminal: Terminal, prompter: Prompter) -> None:
        self.terminal = terminal
        self.prompter = prompter
        self._spinner: ProgressHandle | None = None
        self.marks = terminal.marks(terminal.stderr)

    # --- narrative --------------------------------------------------------------------

    def say(self, text: str = "", style: str = "") -> None:
        self.terminal.write_lines([((text, style),)] if text else [()], self.terminal.stderr)

    def lines(self, lines: Sequence[Line]) -> None:
        self.terminal.write_lines(lines, self.terminal.stderr)

    def heading(self, text: str) -> None:
        self.terminal.write_lines([(), ((text, "bold cyan"),)], self.terminal.stderr)

    def summary(self, lines: Sequence[Line]) -> None:
        """The closing summary: the one part that goes to stdout, so it can be kept."""
        self.stop_spinner()
        self.terminal.write_lines(lines, self.terminal.stdout)

    def add_secret(self, value: str) -> None:
        self.terminal.add_secret(value)

    # --- waiting ----------------------------------------------------------------------

    @contextmanager
    def busy(self, text: str) -> Iterator[ProgressHandle]:
        """A spinner while the engine works. Off a terminal the spinner shows nothing, so
        the step is written as a plain line instead."""
        with self.terminal.progress(text) as handle:
            if not handle.active:
                self.say(text, "dim")
            self._spinner = handle
            try:
                yield handle
            finally:
                self._spinner = None

    def progress(self, text: str) -> None:
        """A wait the admin should see ("waiting for Entra ID to replicate… 3/12"): the
        spinner's text on a terminal, a plain line otherwise."""
        if self._spinner is not None and self._spinner.active:
            self._spinner.update(text)
        else:
            self.say(text, "dim")

    def stop_spinner(self) -> None:
        if self._spinner is not None:
            self._spinner.stop()
            self._spinner = None

    # --- questions (the spinner always stops first) -------------------------------------

    async def select(self, message: str, options: Sequence[Option], default: str | None = None) -> str:
        self.stop_spinner()
        if len(options) > SELECT_LIMIT:
            return await self.prompter.autocomplete(message, options, default)
        return await self.prompter.select(message, options, default)

    async def confirm(self, message: str, default: bool = True) -> bool:
        self.stop_spinner()
        return await self.prompter.confirm(message, default)

    async def text(self, message: str, default: str = "", validate: Validator | None = None) -> str:
        self.stop_spinner()
        return await self.prompter.text(message, default, validate)

    async def secret(self, message: str, validate: Validator | None = None) -> str:
        self.stop_spinner()
        value = await self.prompter.secret(message, validate)
        self.add_secret(value)  # scrubbed from every byte the terminal writes from now on
        return value

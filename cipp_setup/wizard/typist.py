"""The demo's typist: it types at the wizard's prompts what a person would, visibly.

`cipp-setup demo` on a terminal shows the step most likely to go wrong: copying the
client id, the secret and the API URL from CIPP into the wizard. After the sandbox's click
in CIPP, `Typist.script_from` queues what a person types — the client id, then the
secret's ID pasted by mistake (the column beside the value in the Entra admin center),
"no" when the wizard catches it, the secret's value, the URL — and each queued answer is
typed key by key into the real prompt (a prompt_toolkit pipe: the value pasted, as a person
pastes what they copied, a beat to read it, then Enter; the prompt drawn on the terminal
as usual). Questions it has no answer queued for go to the
person at the keyboard.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cipp_setup.wizard.prompts import Option, QuestionaryPrompter, Validator

# A beat between pasting a value and pressing Enter, so it can be read.
PAUSE_S = 0.4
CLEAR_LINE = "\x15"  # Ctrl-U: what is prefilled goes first, as a person would select and overwrite it


@dataclass(frozen=True)
class Typed:
    """One answer the typist gives: at the question starting with `question`, these keys."""

    question: str
    keys: str
    enter: bool = True


class Typist:
    """A Prompter: queued answers typed visibly, every other question to the person."""

    def __init__(self, inner: QuestionaryPrompter, *, pause: float = PAUSE_S) -> None:
        self.inner = inner
        self.pause = pause
        self.queue: deque[Typed] = deque()

    def script_from(self, shown: Mapping[str, Any]) -> None:
        """What a person types after CIPP showed `shown` (client_id, client_secret, api_url,
        and secret_id: the Secret ID column, pasted once by mistake)."""
        self.queue.extend([
            Typed("Application (client) id", CLEAR_LINE + str(shown["client_id"])),
            Typed("Application secret", str(shown["secret_id"])),
            Typed("Use it anyway?", "n", enter=False),
            Typed("Application secret", str(shown["client_secret"])),
            Typed("API URL", CLEAR_LINE + str(shown["api_url"])),
        ])

    def _next_for(self, message: str) -> Typed | None:
        if self.queue and message.startswith(self.queue[0].question):
            return self.queue.popleft()
        return None

    async def _typed(self, typed: Typed, ask: Any) -> Any:
        """Run the question on a pipe fed as a person would (drawn on the real terminal)."""
        from prompt_toolkit.input import create_pipe_input

        with create_pipe_input() as pipe:
            prompter = self.inner.with_input(pipe)

            async def type_keys() -> None:
                pipe.send_text(typed.keys)  # one paste: no half-typed value to complain about
                await asyncio.sleep(self.pause)
                if typed.enter:
                    pipe.send_text("\r")

            typing = asyncio.ensure_future(type_keys())
            try:
                return await ask(prompter)
            finally:
                typing.cancel()

    async def select(self, message: str, options: Sequence[Option], default: str | None = None) -> str:
        return await self.inner.select(message, options, default)

    async def autocomplete(self, message: str, options: Sequence[Option], default: str | None = None) -> str:
        return await self.inner.autocomplete(message, options, default)

    async def confirm(self, message: str, default: bool = True) -> bool:
        typed = self._next_for(message)
        if typed is None:
            return await self.inner.confirm(message, default)
        return bool(await self._typed(typed, lambda p: p.confirm(message, default)))

    async def text(self, message: str, default: str = "", validate: Validator | None = None) -> str:
        typed = self._next_for(message)
        if typed is None:
            return await self.inner.text(message, default, validate)
        return str(await self._typed(typed, lambda p: p.text(message, default, validate)))

    async def secret(self, message: str, validate: Validator | None = None) -> str:
        typed = self._next_for(message)
        if typed is None:
            return await self.inner.secret(message, validate)
        return str(await self._typed(typed, lambda p: p.secret(message, validate)))

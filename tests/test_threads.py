"""gateways/threads.py: blocking SDK calls run off the event loop without holding the exit.

asyncio's default executor is joined when `asyncio.run` ends, so a call blocked in a socket
read (an ARM PUT whose answer never comes) held an interrupted `fix` for the SDK's whole
read timeout. These tests are structural: the blocked call is an Event nobody sets until
the run has ended.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from cipp_setup.gateways.threads import in_thread

WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


def test_a_cancelled_call_does_not_hold_the_run_while_it_is_still_blocked() -> None:
    release = threading.Event()
    started = threading.Event()

    def blocked() -> str:
        started.set()
        release.wait()
        return "late"

    async def main() -> None:
        task = asyncio.ensure_future(in_thread(blocked))
        while not started.is_set():
            await asyncio.sleep(0.01)
        task.cancel()  # what Ctrl-C does to the awaiting coroutine
        with pytest.raises(asyncio.CancelledError):
            await task

    ended = threading.Event()

    def run() -> None:
        asyncio.run(main())
        ended.set()

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    # A guard against a hang, not a timing: with asyncio.to_thread the run never ends
    # while the call is blocked.
    assert ended.wait(60), "asyncio.run waited for the blocked call"
    assert not release.is_set()  # the run ended while the call was still blocked
    release.set()  # the late answer finds the loop closed and is dropped quietly


def test_results_exceptions_and_context_variables_come_through() -> None:
    def whoami(suffix: str) -> str:
        return WHO.get() + suffix

    def broken() -> None:
        raise LookupError("from the thread")

    async def main() -> str:
        WHO.set("admin")
        with pytest.raises(LookupError, match="from the thread"):
            await in_thread(broken)
        return await in_thread(whoami, "@contoso")

    assert asyncio.run(main()) == "admin@contoso"

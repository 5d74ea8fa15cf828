"""Blocking SDK calls off the event loop, on threads that never hold the exit.

`asyncio.to_thread` uses the loop's default executor, and `asyncio.run` joins that
executor's threads when it ends — also after Ctrl-C. A thread blocked in an SDK's socket
read (an ARM PUT whose answer has not come) then holds the interrupted run for the whole
read timeout (60 s) before the interruption message appears. A cancelled call's result
is of no use to anyone, so each call here runs on its own daemon thread: the awaiting
coroutine is cancelled at once, the journal says what may have landed, and the process
exits; the thread dies with it. The call's context variables are carried over, as
`to_thread` does.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def in_thread(func: Callable[..., T], /, *args: object, **kwargs: object) -> T:
    """Run `func(*args, **kwargs)` on a daemon thread and await its result."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():  # the awaiting coroutine was cancelled meanwhile
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def work() -> None:
        try:
            result = context.run(func, *args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine as is
            outcome: tuple[T | None, BaseException | None] = (None, exc)
        else:
            outcome = (result, None)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the loop has closed: the run ended (interrupted) before this call did
            pass

    threading.Thread(target=work, name=f"cipp-setup:{getattr(func, '__name__', 'call')}", daemon=True).start()
    return await future

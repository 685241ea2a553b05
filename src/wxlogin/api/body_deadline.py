"""How long a client may take to send a request body, enforced by one watchman for all requests.

A client that sends its headers and then trickles (or withholds) the body would otherwise hold
a request, its task and its buffer for as long as it likes; enough of them and the workers are
full. Each body read is registered with its deadline; a single task wakes once a second,
cancels the reads that are past it, and the read answers 408 ``body_timeout``.

Why not ``asyncio.timeout`` around each read: under uvloop it costs about 11 µs per request (a
timer armed and cancelled, measured on this project's 2-core box; ``loop.call_later`` about
5 µs), on the login path, for a body that nearly always arrives with the headers. A
registration here is ``current_task()``, an attribute read, a dict store and a dict pop
(0.6-1.3 µs in all, measured: docs/performance.md). The price is precision: a read is cut off
between ``timeout`` and ``timeout`` + 2 ticks (1 s each).
"""

from __future__ import annotations

import asyncio
import math
from typing import Final

from wxlogin.api.errors import BodyReadTimeout

__all__ = ["DEFAULT_BODY_TIMEOUT", "BodyDeadlines"]

DEFAULT_BODY_TIMEOUT: Final = 15.0
_TICK: Final = 1.0


class BodyDeadlines:
    """The body reads in progress in this process and the moment each must be done by."""

    def __init__(self, timeout: float = DEFAULT_BODY_TIMEOUT, *, tick: float = _TICK) -> None:
        if timeout <= 0:
            raise ValueError("the body read timeout must be positive")
        self.timeout = timeout
        self._tick = tick
        # Deadlines are counted in the watchman's ticks, not read from a clock: registering a
        # read is then an attribute read and a dict store. One tick more than the timeout
        # holds, so a read registered just before a tick still gets its whole time.
        self._span = math.ceil(timeout / tick) + 1
        self._ticks = 0
        self._reads: dict[asyncio.Task[object], int] = {}
        self._cut: set[asyncio.Task[object]] = set()
        self._watchman: asyncio.Task[None] | None = None

    def begin(self) -> asyncio.Task[object] | None:
        """A body read starts; hand what this returns to ``cancelled`` and ``end``. Plain
        calls, not a context manager: one of those would cost more than the rest together."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - always inside a task under an ASGI server
            return None
        self._reads[task] = self._ticks + self._span
        if self._watchman is None:
            self._watchman = task.get_loop().create_task(self._watch())
        return task

    def cancelled(self, task: asyncio.Task[object] | None) -> None:
        """In the read's ``except CancelledError``: when the cancellation was the deadline's,
        it is taken back and ``BodyReadTimeout`` raised instead; otherwise this returns and
        the caller re-raises (a shutdown, a client gone)."""
        if task is None or task not in self._cut:
            return
        self._cut.discard(task)
        task.uncancel()
        raise BodyReadTimeout(f"the request body did not arrive within {self.timeout:g} seconds")

    def end(self, task: asyncio.Task[object] | None) -> None:
        """The read is over, whichever way."""
        if task is not None:
            self._reads.pop(task, None)

    async def _watch(self) -> None:
        """Tick while reads are registered; end when there are none, so an idle process keeps
        no task (a new read starts another, and the count of ticks goes on from here)."""
        try:
            while self._reads:
                await asyncio.sleep(self._tick)
                self._ticks += 1
                for task, due in list(self._reads.items()):
                    if due <= self._ticks and task not in self._cut:
                        del self._reads[task]
                        self._cut.add(task)
                        task.cancel()
        finally:
            self._watchman = None

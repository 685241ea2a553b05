"""Group commit on the event loop: calls that arrive while a batch is in flight go together.

``Batcher.submit(item)`` queues one unit of work and returns its result once the batch that
carried it has committed. Nothing waits for a timer: the first unit starts a batch on the next
turn of the event loop (so every caller of that turn joins it); units that arrive while a batch
is in flight wait for it and then leave together, up to ``max_size`` at a time. So a unit's
wait is bounded by the batch in flight plus its own, and an idle server answers a lone request
with no added delay.

The runner (``run``) gets the items in arrival order and returns one outcome per item, a value
or an exception; an exception raised by the runner itself fails every unit of that batch.

Each batch's size and the time from its start to its commit are observed under ``kind``
(``wxlogin_store_batch_size``, ``wxlogin_store_batch_duration_seconds``): per batch, not per
unit, so a unit pays a share of two observations.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from wxlogin.metrics import STORE_BATCH_SECONDS, STORE_BATCH_SIZE

__all__ = ["Batcher"]

P = TypeVar("P")
R = TypeVar("R")


class Batcher(Generic[P, R]):
    def __init__(
        self,
        run: Callable[[Sequence[P]], Awaitable[Sequence[R | BaseException]]],
        *,
        max_size: int,
        max_in_flight: int = 1,
        kind: str = "write",
    ) -> None:
        if max_size < 1 or max_in_flight < 1:
            raise ValueError("max_size and max_in_flight must be at least 1")
        self._run = run
        self._max_size = max_size
        self._max_in_flight = max_in_flight
        self._pending: deque[tuple[P, asyncio.Future[R]]] = deque()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._start_scheduled = False
        self._sizes = STORE_BATCH_SIZE.labels(kind)
        self._seconds = STORE_BATCH_SECONDS.labels(kind)

    async def submit(self, item: P) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if not self._start_scheduled and len(self._in_flight) < self._max_in_flight:
            self._start_scheduled = True
            loop.call_soon(self._start)
        return await future

    def _start(self) -> None:
        self._start_scheduled = False
        while self._pending and len(self._in_flight) < self._max_in_flight:
            count = min(self._max_size, len(self._pending))
            batch = [self._pending.popleft() for _ in range(count)]
            task = asyncio.get_running_loop().create_task(self._flush(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if self._pending:
            self._start()

    async def _flush(self, batch: list[tuple[P, asyncio.Future[R]]]) -> None:
        started = time.perf_counter()
        try:
            outcomes: Sequence[R | BaseException] = await self._run([item for item, _ in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError("a batch runner returned the wrong number of outcomes")
        except BaseException as error:
            outcomes = [error] * len(batch)
            if isinstance(error, asyncio.CancelledError):
                for _, future in batch:
                    future.cancel()
                raise
        self._seconds.observe(time.perf_counter() - started)
        self._sizes.observe(len(batch))
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():
                continue  # its caller gave up (cancelled); the work stands
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    async def drain(self) -> None:
        """Wait until every submitted unit has been answered (graceful shutdown)."""
        while self._in_flight or self._pending:
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)
            elif self._pending:
                self._start()

"""A cache whose time can be moved: a fake clock for MemoryCache, real (tiny) sleeps for Redis."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from wxlogin.cache.base import Cache
from wxlogin.cache.memory import MemoryCache

# Short enough to keep the Redis run fast, long enough to be well above Redis's 1 ms
# resolution and scheduling jitter.
TTL = 0.05


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class TimedCache:
    cache: Cache
    clock: FakeClock | None  # None: real time (Redis)

    async def advance(self, seconds: float) -> None:
        if self.clock is not None:
            self.clock.now += seconds
        else:
            await asyncio.sleep(seconds)


@pytest.fixture
def timed(cache: Cache) -> TimedCache:
    if isinstance(cache, MemoryCache):
        clock = FakeClock()
        return TimedCache(MemoryCache(clock=clock), clock)
    return TimedCache(cache, None)

"""Redis first; while Redis is unreachable, this process's memory.

What wxlogin keeps in Redis is coordination, not data: rate-limit counters, the cached
access_token and its refresh lock, revocation keys (the database has every revocation too),
recently seen WeChat Pay signatures. Losing Redis for a while should make those per process,
not stop logins. So every key operation goes to Redis and, when Redis fails, to a
``MemoryCache`` instead; the cache is then **degraded** (``/readyz`` says so) until Redis
answers again. What that means while it lasts:

* rate limits count per process (a client spreading over N processes gets N times the limit);
* each process fetches and keeps its own access_token (harmless with ``stable_token``, the
  default; with the plain endpoint a fetch supersedes the others' tokens, and each process
  recovers from 40001 by itself);
* a logout reaches other processes through the database poll (``RevocationSync``), within
  seconds, instead of through Redis at once;
* the named lock is per process.

While Redis is down, one operation at a time probes it (at most every ``retry_every``
seconds); the others go straight to memory, so a Redis that hangs rather than refuses costs
one request a timeout per probe, not every request. Nothing written to memory is copied to
Redis when it returns: every value here expires on its own, and stale ones are harmless
(an access_token WeChat no longer takes is refetched on 40001/42001).

Publish, subscribe and scan are Redis's alone (there is no one to tell in one process): they
raise ``NotReady`` while Redis is down, and their callers fall back by themselves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Final, TypeVar

from wxlogin.cache.base import Subscription
from wxlogin.cache.memory import MemoryCache
from wxlogin.cache.redis import RedisCache
from wxlogin.errors import NotReady

__all__ = ["FallbackCache"]

_log = logging.getLogger("wxlogin.cache")

T = TypeVar("T")
RETRY_EVERY: Final = 1.0


class FallbackCache:
    """``Cache`` and ``Broadcast`` over a ``RedisCache``, with memory while Redis is down."""

    def __init__(
        self,
        redis: RedisCache,
        *,
        clock: Callable[[], float] = time.monotonic,
        retry_every: float = RETRY_EVERY,
    ) -> None:
        self.redis = redis
        self.local = MemoryCache(clock=clock)
        self._clock = clock
        self._retry_every = retry_every
        # 0.0 while Redis answers, so the hot path pays one truth test; else when to probe.
        self._down_until = 0.0
        self._probing = False

    def __repr__(self) -> str:
        return f"FallbackCache({self.redis!r}, degraded={self.degraded})"

    @property
    def degraded(self) -> bool:
        """True while Redis is taken to be down and memory stands in for it."""
        return self._down_until != 0.0

    async def _either(
        self, redis: Callable[[], Awaitable[T]], local: Callable[[], Awaitable[T]]
    ) -> T:
        if self._down_until:
            if self._probing or self._clock() < self._down_until:
                return await local()
            self._probing = True
        try:
            result = await redis()
        except NotReady as exc:
            self._went_down(exc)
            return await local()
        finally:
            self._probing = False
        self._back_up()
        return result

    def _back_up(self) -> None:
        if self._down_until:
            self._down_until = 0.0
            _log.warning("Redis answers again; the shared cache is back in use")

    def _went_down(self, exc: NotReady) -> None:
        if not self._down_until:
            _log.warning(
                "Redis is unreachable (%s): rate limits, the access_token and locks are per "
                "process until it is back",
                exc.message,
            )
        self._down_until = self._clock() + self._retry_every

    # ------------------------------------------------------------------ key operations

    async def get(self, key: str) -> bytes | None:
        return await self._either(lambda: self.redis.get(key), lambda: self.local.get(key))

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        await self._either(
            lambda: self.redis.set(key, value, ttl=ttl),
            lambda: self.local.set(key, value, ttl=ttl),
        )

    async def set_if_absent(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        return await self._either(
            lambda: self.redis.set_if_absent(key, value, ttl=ttl),
            lambda: self.local.set_if_absent(key, value, ttl=ttl),
        )

    async def compare_and_set(
        self, key: str, expected: bytes | None, value: bytes, *, ttl: float | None = None
    ) -> bool:
        return await self._either(
            lambda: self.redis.compare_and_set(key, expected, value, ttl=ttl),
            lambda: self.local.compare_and_set(key, expected, value, ttl=ttl),
        )

    async def delete(self, key: str) -> None:
        await self._either(lambda: self.redis.delete(key), lambda: self.local.delete(key))

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        return await self._either(
            lambda: self.redis.delete_if_equals(key, value),
            lambda: self.local.delete_if_equals(key, value),
        )

    async def incr(self, key: str, *, ttl: float) -> int:
        return await self._either(
            lambda: self.redis.incr(key, ttl=ttl), lambda: self.local.incr(key, ttl=ttl)
        )

    def lock(self, name: str, *, ttl: float, wait: float) -> AbstractAsyncContextManager[bool]:
        return self._lock(name, ttl=ttl, wait=wait)

    @asynccontextmanager
    async def _lock(self, name: str, *, ttl: float, wait: float) -> AsyncIterator[bool]:
        async with AsyncExitStack() as stack:
            held: bool | None = None
            if not self._down_until or (not self._probing and self._clock() >= self._down_until):
                try:
                    held = await stack.enter_async_context(
                        self.redis.lock(name, ttl=ttl, wait=wait)
                    )
                except NotReady as exc:
                    self._went_down(exc)
                else:
                    self._back_up()
            if held is None:
                held = await stack.enter_async_context(self.local.lock(name, ttl=ttl, wait=wait))
            yield held

    # ------------------------------------------------------------------ broadcast (Redis only)

    async def publish(self, channel: str, message: bytes) -> None:
        await self.redis.publish(channel, message)

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        return self.redis.subscribe(channel)

    def scan(self, prefix: str) -> AsyncIterator[str]:
        return self.redis.scan(prefix)

    # ------------------------------------------------------------------ lifecycle

    async def ping(self) -> bool:
        """True when Redis answers (and then the cache is no longer degraded)."""
        if await self.redis.ping():
            self._back_up()
            return True
        if not self._down_until:
            self._went_down(NotReady("Redis PING failed"))
        return False

    async def aclose(self) -> None:
        await self.redis.aclose()
        await self.local.aclose()

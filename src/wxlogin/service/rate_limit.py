"""Fixed-window rate limits on a shared ``Cache`` (so all workers count together)."""

from __future__ import annotations

import time
from collections.abc import Callable

from wxlogin.cache.base import Cache
from wxlogin.errors import Throttled

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(
        self, cache: Cache, *, window: float = 60.0, clock: Callable[[], float] = time.time
    ) -> None:
        self._cache = cache
        self._window = window
        self._clock = clock

    async def hit(self, scope: str, key: str, *, limit: int) -> None:
        """Count one event; raise ``Throttled`` (with Retry-After) past ``limit`` per window."""
        if limit <= 0:
            return
        now = self._clock()
        window = int(now // self._window)
        count = await self._cache.incr(f"rl:{scope}:{key}:{window}", ttl=self._window + 1)
        if count > limit:
            retry_after = max(1.0, (window + 1) * self._window - now)
            raise Throttled(f"too many {scope} attempts; retry later", retry_after=retry_after)

"""An in-process ``Cache``: the embedded default, and the reference for the contract."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

__all__ = ["MemoryCache"]

_SWEEP_EVERY = 1024  # writes between sweeps of expired keys, so memory stays bounded


class MemoryCache:
    """Dict-backed cache with expiry on an injectable clock. Not shared across processes."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._data: dict[str, tuple[bytes, float | None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._writes = 0

    def _live(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if expires_at is not None and expires_at <= self._clock():
            del self._data[key]
            return None
        return value

    def _store(self, key: str, value: bytes, ttl: float | None) -> None:
        self._data[key] = (value, None if ttl is None else self._clock() + ttl)
        self._writes += 1
        if self._writes % _SWEEP_EVERY == 0:
            now = self._clock()
            expired = [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]
            for stale in expired:
                del self._data[stale]

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        self._store(key, value, ttl)

    async def set_if_absent(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        if self._live(key) is not None:
            return False
        self._store(key, value, ttl)
        return True

    async def compare_and_set(
        self, key: str, expected: bytes | None, value: bytes, *, ttl: float | None = None
    ) -> bool:
        if self._live(key) != expected:
            return False
        self._store(key, value, ttl)
        return True

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        if self._live(key) != value:
            return False
        del self._data[key]
        return True

    async def incr(self, key: str, *, ttl: float) -> int:
        current = self._live(key)
        if current is None:
            self._store(key, b"1", ttl)
            return 1
        count = int(current) + 1
        _, expires_at = self._data[key]
        self._data[key] = (str(count).encode(), expires_at)
        return count

    @asynccontextmanager
    async def lock(self, name: str, *, ttl: float, wait: float) -> AsyncIterator[bool]:
        # In one process an asyncio.Lock is exact; ttl only matters across processes.
        lock = self._locks.setdefault(name, asyncio.Lock())
        try:
            await asyncio.wait_for(lock.acquire(), timeout=wait)
        except TimeoutError:
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._data.clear()

"""What wxlogin asks of a shared cache: a few atomic key operations and a named lock.

Two implementations: ``MemoryCache`` (one process; the embedded default) and ``RedisCache``
(several processes and machines). Both honour the same contract, and the same test suite runs
against each (``tests/cache``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol, runtime_checkable

__all__ = ["Broadcast", "Cache", "Subscription"]


@runtime_checkable
class Cache(Protocol):
    """Atomic key/value operations with per-key expiry (``ttl`` in seconds)."""

    async def get(self, key: str) -> bytes | None:
        """The value, or ``None`` when missing or expired."""
        ...

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        """Store ``value``; ``ttl=None`` keeps it until deleted."""
        ...

    async def set_if_absent(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        """Store only when ``key`` is missing; True when this call stored it."""
        ...

    async def compare_and_set(
        self, key: str, expected: bytes | None, value: bytes, *, ttl: float | None = None
    ) -> bool:
        """Store ``value`` only while ``key`` still holds ``expected`` (``None``: is missing);
        True when this call stored it.

        The fencing check of a refresh done under a lock: if the lock ran out and someone
        else stored a newer value meanwhile, the late writer does not overwrite it.
        """
        ...

    async def delete(self, key: str) -> None: ...

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        """Delete ``key`` only while it still holds ``value`` (compare-and-delete).

        This is how a token that failed is expired without throwing away a newer one another
        process stored meanwhile.
        """
        ...

    async def incr(self, key: str, *, ttl: float) -> int:
        """Add one and return the new count; the expiry is set when the key is created."""
        ...

    def lock(self, name: str, *, ttl: float, wait: float) -> AbstractAsyncContextManager[bool]:
        """Hold the lock ``name`` for at most ``ttl`` seconds.

        Waits up to ``wait`` seconds for it and yields True when held; yields False when the
        wait ran out, so a caller can decide to go ahead rather than fail (a lock here only
        saves duplicate work, it never guards correctness).
        """
        ...

    async def ping(self) -> bool:
        """True when the backing store answers (readiness probes)."""
        ...

    async def aclose(self) -> None: ...


class Subscription(Protocol):
    async def next(self) -> bytes:
        """The next message; raises ``NotReady`` when the connection is lost (subscribe again,
        and catch up from the cache: what was published meanwhile is gone)."""
        ...


@runtime_checkable
class Broadcast(Protocol):
    """What a cache shared by several processes adds: messages to all of them, and a scan.

    ``RedisCache`` has it; ``MemoryCache`` (one process) has no one to tell.
    """

    async def publish(self, channel: str, message: bytes) -> None: ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        """Listen on ``channel``. Once entered, every later ``publish`` is delivered."""
        ...

    def scan(self, prefix: str) -> AsyncIterator[str]:
        """The keys that start with ``prefix`` (unordered; for catching up, not hot paths)."""
        ...

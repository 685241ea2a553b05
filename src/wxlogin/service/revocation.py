"""Which sessions are revoked, answered without touching the database.

Access tokens are verified on every request with no DB round trip, so a logout must reach
every worker through the shared cache: a key per revoked session, kept as long as an access
token issued before the revocation can live.

With Redis, each process also keeps a **mirror** of the revoked sessions in memory, so that
checking a token costs a dict lookup rather than a round trip to Redis (about 100 µs of CPU,
more than the rest of a cached verification together). A revocation is written to Redis and
published on a channel; every process listens and adds what it hears. A process that is not
in step — starting, or reconnecting after the subscription broke — asks Redis key by key, as
it always did, until it has subscribed again and read every revocation key (subscribe first,
then read, so nothing published in between is missed).

``RevocationSync`` polls the sessions table every few seconds (one indexed query, off the
request path) and adds what it finds to the mirror. Without Redis that is how workers learn
each other's revocations; with Redis it is what keeps them learning while Redis is down (the
feed is broken, the mirror is not in step, and the keys are asked of a cache that has fallen
back to memory: ``cache/fallback.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from wxlogin.cache.base import Broadcast, Cache
from wxlogin.errors import NotReady, WxLoginError
from wxlogin.store.repository import Store

__all__ = ["RevocationList", "RevocationSync"]

_log = logging.getLogger("wxlogin.service")

# Re-read well before the newest revocation seen: `revoked_at` is stamped by the revoking
# process's clock before its write waits for the database (SQLite's busy timeout alone is 10 s),
# so a later commit can carry an earlier time. Revoking twice is harmless; missing one is not.
_OVERLAP = timedelta(seconds=60)
_KEY = "revoked:"
_CHANNEL = "revocations"
_SWEEP_AT = 4096
_RETRY_FIRST = 0.5
_RETRY_MAX = 15.0


class RevocationList:
    def __init__(
        self, cache: Cache, *, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._cache = cache
        self.ttl = ttl
        self._clock = clock
        self._broadcast = cache if isinstance(cache, Broadcast) else None
        # session id -> when it stops mattering (clock time); only used with a broadcast.
        self._mirror: dict[str, float] = {}
        self._in_step = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def in_step(self) -> bool:
        """True while the mirror holds every revocation (checks need no round trip)."""
        return self._in_step.is_set()

    async def wait_in_step(self) -> None:
        await self._in_step.wait()

    async def revoke(self, session_id: str) -> None:
        self.remember(session_id)
        await self._cache.set(_KEY + session_id, b"1", ttl=self.ttl)
        if self._broadcast is None:
            return
        try:
            await self._broadcast.publish(_CHANNEL, session_id.encode())
        except NotReady as exc:
            # The revocation is in the database: other processes poll it (RevocationSync).
            _log.warning("could not announce a revocation through Redis (%s)", exc.code)

    async def is_revoked(self, session_id: str) -> bool:
        until = self._mirror.get(session_id)
        if until is not None and until > self._clock():
            return True
        if self._in_step.is_set():
            return False
        return await self._cache.get(_KEY + session_id) is not None

    def remember(self, session_id: str) -> None:
        """Add a revocation to this process's mirror only (one read from the database)."""
        self._remember(session_id)

    def _remember(self, session_id: str) -> None:
        now = self._clock()
        if len(self._mirror) >= _SWEEP_AT and len(self._mirror) % _SWEEP_AT == 0:
            # Bounded: what has expired goes (a logout storm grows it only for one ttl).
            self._mirror = {sid: until for sid, until in self._mirror.items() if until > now}
        self._mirror[session_id] = now + self.ttl

    # ------------------------------------------------------------------ the listener

    def start(self) -> None:
        if self._broadcast is not None and self._listener is None:
            self._stopping = False
            self._listener = asyncio.create_task(self._listen(), name="wxlogin-revocations")

    async def stop(self) -> None:
        task, self._listener = self._listener, None
        if task is not None:
            self._stopping = True
            # redis-py can swallow a cancellation that lands on its own read timeout and read
            # on: ask again until the task has really ended.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.2)
            if not task.cancelled() and task.exception() is not None:
                _log.warning("the revocation feed ended with %r", task.exception())
        self._in_step.clear()

    async def _listen(self) -> None:
        assert self._broadcast is not None
        pause = _RETRY_FIRST
        while not self._stopping:
            try:
                async with self._broadcast.subscribe(_CHANNEL) as subscription:
                    async for key in self._broadcast.scan(_KEY):
                        self._remember(key[len(_KEY) :])
                    self._in_step.set()
                    pause = _RETRY_FIRST
                    while not self._stopping:
                        self._remember((await subscription.next()).decode())
            except WxLoginError as exc:
                _log.warning("revocation feed from Redis interrupted (%s); retrying", exc.code)
            except Exception:
                _log.exception("unexpected error in the revocation feed; retrying")
            # Until the feed is back, every check asks Redis: slower, never wrong.
            self._in_step.clear()
            if self._stopping:
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, _RETRY_MAX)


class RevocationSync:
    """Copies revocations recorded in the database into this process's revocation list."""

    def __init__(
        self,
        store: Store,
        revocations: RevocationList,
        *,
        interval: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._revocations = revocations
        self._interval = interval
        self._clock = clock
        # Revocations older than an access token's life cannot matter any more.
        self._since = datetime.fromtimestamp(clock(), UTC) - timedelta(seconds=revocations.ttl)
        self._task: asyncio.Task[None] | None = None

    async def sync_once(self) -> int:
        """One pass; returns how many revocations it saw."""
        started = datetime.fromtimestamp(self._clock(), UTC)
        rows = await self._store.revoked_since(self._since)
        for session_id, _ in rows:
            self._revocations.remember(session_id)
        if rows:
            # Never move past our own clock: a host whose clock runs ahead must not make us
            # skip revocations that other hosts stamp later with an earlier time.
            newest = min(rows[-1][1], started)
            self._since = max(self._since, newest - _OVERLAP)
        return len(rows)

    async def _run(self) -> None:
        while True:
            try:
                await self.sync_once()
            except WxLoginError as exc:
                _log.warning("could not read revocations from the database: %s", exc.code)
            except Exception:
                # Whatever went wrong, keep polling: a dead poller would silently stop logouts
                # from reaching this worker.
                _log.exception("unexpected error while reading revocations; will retry")
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="wxlogin-revocation-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

"""Which sessions are revoked, answered without touching the database.

Access tokens are verified on every request with no DB round trip, so a logout must reach
every worker through the shared cache: a key per revoked session, kept as long as an access
token issued before the revocation can live.

When the cache is private to one process (no Redis), ``RevocationSync`` lets each worker learn
the others' revocations by polling the sessions table every few seconds: one indexed query,
off the request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from wxlogin.cache.base import Cache
from wxlogin.errors import WxLoginError
from wxlogin.store.repository import Store

__all__ = ["RevocationList", "RevocationSync"]

_log = logging.getLogger("wxlogin.service")

# Re-read well before the newest revocation seen: `revoked_at` is stamped by the revoking
# process's clock before its write waits for the database (SQLite's busy timeout alone is 10 s),
# so a later commit can carry an earlier time. Revoking twice is harmless; missing one is not.
_OVERLAP = timedelta(seconds=60)


class RevocationList:
    def __init__(self, cache: Cache, *, ttl: float) -> None:
        self._cache = cache
        self.ttl = ttl

    async def revoke(self, session_id: str) -> None:
        await self._cache.set(f"revoked:{session_id}", b"1", ttl=self.ttl)

    async def is_revoked(self, session_id: str) -> bool:
        return await self._cache.get(f"revoked:{session_id}") is not None


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
            await self._revocations.revoke(session_id)
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

"""The access_token cache: one fetch at a time, shared across processes through a ``Cache``.

Why it is shaped like this (see shared/wechat-api.md): every fetch can supersede the token
other servers are using, so fetching must be rare and coordinated.

* Tokens are refreshed ``margin`` seconds before they expire, so callers never hold one that
  dies mid-request.
* Within a process a burst of callers shares one in-flight refresh — its token *or its
  error*, so a failing upstream sees one attempt, not one per waiting caller; after a failure
  callers get the same error for a short cooldown. Across processes the cache's named lock
  (Redis, with an expiry) does the same job, and the cache is re-read under it.
* Fencing: the lock expires, so a refresher that outlived it (a slow WeChat) may no longer
  hold it. Its token is stored only if the cache still holds what it read under the lock
  (compare-and-set); if another refresher stored one meanwhile, that one wins and is used.
* When a call fails with 40001/42001 the caller expires the token *only if the cache still
  holds that same token* (compare-and-delete), so a fresh token another process stored
  meanwhile survives.
* If a refresh fails while the cached token is still valid, the cached one is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson

from wxlogin.cache.base import Cache
from wxlogin.errors import UpstreamError, WeChatError

_log = logging.getLogger("wxlogin.wechat")


@dataclass(frozen=True, slots=True)
class CachedToken:
    token: str = field(repr=False)
    expires_at: float
    refresh_at: float
    raw: bytes = field(repr=False)  # the exact cached bytes, for compare-and-delete

    @classmethod
    def decode(cls, raw: bytes) -> CachedToken | None:
        try:
            data = orjson.loads(raw)
            return cls(str(data["t"]), float(data["e"]), float(data["r"]), raw)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None  # an unreadable entry is treated as a miss and overwritten


FetchToken = Callable[[], Awaitable[tuple[str, int]]]


def _fresh(error: BaseException) -> BaseException:
    """A copy of a shared error for one caller: its own traceback, no frames of the others."""
    return copy.copy(error).with_traceback(None)


# After a failed refresh, callers get that failure for this long instead of each trying again.
FAILURE_COOLDOWN = 1.0


class AccessTokenCache:
    def __init__(
        self,
        *,
        key: str,
        store: Cache,
        fetch: FetchToken,
        clock: Callable[[], float],
        margin: float,
        lock_ttl: float,
    ) -> None:
        self._key = key
        self._store = store
        self._fetch = fetch
        self._clock = clock
        self._margin = margin
        self._lock_ttl = lock_ttl
        self._inflight: asyncio.Future[str] | None = None
        self._failure: tuple[float, BaseException] | None = None  # (until, error)

    async def _load(self) -> CachedToken | None:
        return (await self._read())[1]

    async def _read(self) -> tuple[bytes | None, CachedToken | None]:
        raw = await self._store.get(self._key)
        return raw, CachedToken.decode(raw) if raw is not None else None

    async def get(self) -> str:
        cached = await self._load()
        if cached is not None and self._clock() < cached.refresh_at:
            return cached.token
        if self._failure is not None:
            until, error = self._failure
            # A clock stepped back (NTP, a restored VM) must not stretch the cooldown.
            if 0 <= until - self._clock() <= FAILURE_COOLDOWN:
                raise _fresh(error)
            self._failure = None
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._refresh_once())
            self._inflight.add_done_callback(self._settled)
        try:
            # Shielded: one caller giving up must not cancel the refresh the others wait for.
            return await asyncio.shield(self._inflight)
        except (UpstreamError, WeChatError) as exc:
            raise _fresh(exc) from None

    def _settled(self, future: asyncio.Future[str]) -> None:
        self._inflight = None
        error = None if future.cancelled() else future.exception()
        if error is not None:
            self._failure = (self._clock() + FAILURE_COOLDOWN, error)

    async def _refresh_once(self) -> str:
        async with self._store.lock(self._key + ":lock", ttl=self._lock_ttl, wait=self._lock_ttl):
            # Whether or not the wait ran out, re-read: another process may have refreshed.
            raw, cached = await self._read()
            if cached is not None and self._clock() < cached.refresh_at:
                return cached.token
            return await self._refresh(raw, cached)

    async def _refresh(self, seen: bytes | None, cached: CachedToken | None) -> str:
        try:
            token, expires_in = await self._fetch()
        except (UpstreamError, WeChatError) as exc:
            if cached is not None and self._clock() < cached.expires_at:
                _log.warning("access_token refresh failed (%s); using the cached token", exc.code)
                return cached.token
            raise
        now = self._clock()
        # Refresh `margin` early, but never so early that a short-lived token is refetched at once.
        early = min(self._margin, expires_in / 2)
        raw = orjson.dumps({"t": token, "e": now + expires_in, "r": now + expires_in - early})
        if not await self._store.compare_and_set(
            self._key, seen, raw, ttl=max(float(expires_in), 1.0)
        ):
            # Fenced out: our lock ran out while WeChat answered and another refresher stored
            # a token meanwhile. Everybody else uses that one now; so do we.
            newer = await self._load()
            if newer is not None and self._clock() < newer.expires_at:
                _log.info("another process stored a newer access_token; using that one")
                return newer.token
        _log.info("fetched a new access_token (expires in %ss)", expires_in)
        return token

    async def aclose(self) -> None:
        """Stop a refresh still in flight (at shut-down)."""
        if self._inflight is not None:
            self._inflight.cancel()
            with contextlib.suppress(asyncio.CancelledError, UpstreamError, WeChatError):
                await self._inflight

    async def expire(self, failed_token: str) -> None:
        """Forget ``failed_token`` if it is still the cached one."""
        cached = await self._load()
        if cached is not None and cached.token == failed_token:
            await self._store.delete_if_equals(self._key, cached.raw)

"""A ``Cache`` on Redis, shared by every process and machine that points at it.

Same contract as ``MemoryCache`` (``tests/cache`` runs against both). Compare-and-delete,
compare-and-set, counter-with-expiry and lock release are Lua scripts, so each is one atomic
step on the server. Every Redis failure becomes ``wxlogin.errors.NotReady`` here; messages name the
operation, never a key or a value.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from wxlogin.errors import NotReady

__all__ = ["RedisCache"]

_log = logging.getLogger("wxlogin.cache")

T = TypeVar("T")

# Delete KEYS[1] only while it still holds ARGV[1]; also releases a lock we hold.
_DELETE_IF_EQUALS: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""
# SET KEYS[1] = ARGV[3] (expiring in ARGV[4] ms, none when empty) only while it holds ARGV[2]
# (ARGV[1] = '1') or is missing (ARGV[1] = '0').
_COMPARE_AND_SET: Final = """
local current = redis.call('GET', KEYS[1])
if (ARGV[1] == '0' and current == false) or (ARGV[1] == '1' and current == ARGV[2]) then
    if ARGV[4] == '' then
        redis.call('SET', KEYS[1], ARGV[3])
    else
        redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
    end
    return 1
end
return 0
"""
# INCR, and set the expiry (ARGV[1] ms) only when this INCR created the key, so a window
# that started earlier is not extended by later hits.
_INCR_WITH_EXPIRY: Final = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return count
"""

# A subscription reads in steps of this long, and pings when it heard nothing for
# _PUBSUB_PING_EVERY: a connection that died silently (no RST) is noticed within a few steps.
_PUBSUB_STEP: Final = 1.0
_PUBSUB_PING_EVERY: Final = 10.0
_SCAN_COUNT: Final = 1000
_LOCK_POLL_FIRST: Final = 0.005
_LOCK_POLL_MAX: Final = 0.1
_CONNECT_TIMEOUT: Final = 5.0
_SOCKET_TIMEOUT: Final = 5.0


def _ms(ttl: float) -> int:
    # Redis wants whole milliseconds > 0; a ttl under 1 ms still expires almost at once.
    return max(1, math.ceil(ttl * 1000))


class RedisCache:
    """``Cache`` over ``redis.asyncio``; every key is prefixed with ``prefix``.

    Pass a URL (the cache owns the client and closes it in ``aclose``) or an existing
    ``redis.asyncio.Redis`` (left open: its owner closes it).
    """

    def __init__(self, url_or_client: str | aioredis.Redis, *, prefix: str = "wxlogin:") -> None:
        if isinstance(url_or_client, str):
            self._client: aioredis.Redis = aioredis.Redis.from_url(
                url_or_client,
                socket_connect_timeout=_CONNECT_TIMEOUT,
                socket_timeout=_SOCKET_TIMEOUT,
            )
            self._owns_client = True
        else:
            self._client = url_or_client
            self._owns_client = False
        self._prefix = prefix
        self._delete_if_equals = self._client.register_script(_DELETE_IF_EQUALS)
        self._incr = self._client.register_script(_INCR_WITH_EXPIRY)
        self._compare_and_set = self._client.register_script(_COMPARE_AND_SET)

    def __repr__(self) -> str:
        return f"RedisCache(prefix={self._prefix!r})"

    @property
    def prefix(self) -> str:
        return self._prefix

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def _call(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except RedisError as exc:
            raise NotReady(f"Redis {operation} failed ({type(exc).__name__})") from exc
        except OSError as exc:
            raise NotReady(
                f"Redis {operation} failed ({exc.strerror or type(exc).__name__})"
            ) from exc

    # ------------------------------------------------------------------ key operations

    async def get(self, key: str) -> bytes | None:
        value: Any = await self._call("GET", lambda: self._client.get(self._key(key)))
        return None if value is None else bytes(value)

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        px = None if ttl is None else _ms(ttl)
        await self._call("SET", lambda: self._client.set(self._key(key), value, px=px))

    async def set_if_absent(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        px = None if ttl is None else _ms(ttl)
        stored = await self._call(
            "SET NX", lambda: self._client.set(self._key(key), value, px=px, nx=True)
        )
        return bool(stored)

    async def compare_and_set(
        self, key: str, expected: bytes | None, value: bytes, *, ttl: float | None = None
    ) -> bool:
        args = [
            b"0" if expected is None else b"1",
            expected or b"",
            value,
            b"" if ttl is None else str(_ms(ttl)).encode(),
        ]
        stored = await self._call(
            "compare-and-set", lambda: self._compare_and_set(keys=[self._key(key)], args=args)
        )
        return bool(stored)

    async def delete(self, key: str) -> None:
        await self._call("DEL", lambda: self._client.delete(self._key(key)))

    async def delete_if_equals(self, key: str, value: bytes) -> bool:
        deleted = await self._call(
            "compare-and-delete",
            lambda: self._delete_if_equals(keys=[self._key(key)], args=[value]),
        )
        return bool(deleted)

    async def incr(self, key: str, *, ttl: float) -> int:
        count = await self._call("INCR", lambda: self._incr(keys=[self._key(key)], args=[_ms(ttl)]))
        return int(count)

    # ------------------------------------------------------------------ lock

    @asynccontextmanager
    async def lock(self, name: str, *, ttl: float, wait: float) -> AsyncIterator[bool]:
        """SET NX PX with a random token; polled with growing, jittered pauses up to ``wait``.

        Released only while it still holds our token, so a holder that outlived ``ttl`` never
        frees a lock someone else has taken since.
        """
        key = self._key("lock:" + name)
        token = secrets.token_bytes(16)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        pause = _LOCK_POLL_FIRST
        while True:
            acquired = await self._call(
                "lock", lambda: self._client.set(key, token, px=_ms(ttl), nx=True)
            )
            if acquired:
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                yield False
                return
            await asyncio.sleep(min(remaining, pause * random.uniform(0.5, 1.0)))  # noqa: S311
            pause = min(pause * 2, _LOCK_POLL_MAX)
        try:
            yield True
        finally:
            try:
                await self._delete_if_equals(keys=[key], args=[token])
            except (RedisError, OSError) as exc:
                # Raising here would hide the body's own exception; the ttl frees the lock.
                _log.warning(
                    "could not release a Redis lock (%s); it expires by itself",
                    type(exc).__name__,
                )

    # ------------------------------------------------------------------ broadcast

    async def publish(self, channel: str, message: bytes) -> None:
        await self._call("PUBLISH", lambda: self._client.publish(self._key(channel), message))

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[_Subscription]:
        pubsub = self._client.pubsub()
        try:
            await self._call("SUBSCRIBE", lambda: pubsub.subscribe(self._key(channel)))
            subscription = _Subscription(pubsub, self._call)
            # SUBSCRIBE is in effect once Redis confirms it: only then are later publishes
            # sure to reach us.
            await subscription.confirmed()
            yield subscription
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py

    async def scan(self, prefix: str) -> AsyncIterator[str]:
        start = len(self._prefix)
        pattern = self._key(prefix) + "*"

        def page(cursor: int) -> Callable[[], Awaitable[tuple[int, list[Any]]]]:
            return lambda: self._client.scan(cursor=cursor, match=pattern, count=_SCAN_COUNT)

        cursor = 0
        while True:
            cursor, keys = await self._call("SCAN", page(cursor))
            for key in keys:
                text = key.decode() if isinstance(key, bytes) else str(key)
                yield text[start:]
            if not cursor:
                return

    # ------------------------------------------------------------------ lifecycle

    async def ping(self) -> bool:
        try:
            return bool(await self._client.ping())
        except (RedisError, OSError):
            return False

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


class _Subscription:
    """Messages of one channel, read with a timeout so a dead connection is noticed."""

    def __init__(self, pubsub: Any, call: Callable[[str, Callable[[], Awaitable[Any]]], Any]):
        self._pubsub = pubsub
        self._call = call
        self._last_heard = asyncio.get_running_loop().time()
        self._pinged = False

    async def confirmed(self) -> None:
        deadline = self._last_heard + _CONNECT_TIMEOUT
        while asyncio.get_running_loop().time() < deadline:
            message = await self._read(ignore_subscribe_messages=False)
            if message is not None and message.get("type") == "subscribe":
                return
        raise NotReady("Redis SUBSCRIBE was not confirmed in time")

    async def next(self) -> bytes:
        while True:
            message = await self._read(ignore_subscribe_messages=True)
            loop_time = asyncio.get_running_loop().time()
            if message is not None:
                self._last_heard, self._pinged = loop_time, False
                if message.get("type") == "message":
                    return bytes(message["data"])
                continue  # a PONG, or a confirmation
            silent = loop_time - self._last_heard
            if silent >= 2 * _PUBSUB_PING_EVERY and self._pinged:
                raise NotReady("the Redis subscription stopped answering")
            if silent >= _PUBSUB_PING_EVERY and not self._pinged:
                await self._call("PING", lambda: self._pubsub.ping())
                self._pinged = True

    async def _read(self, *, ignore_subscribe_messages: bool) -> dict[str, Any] | None:
        message: dict[str, Any] | None = await self._call(
            "pub/sub read",
            lambda: self._pubsub.get_message(
                ignore_subscribe_messages=ignore_subscribe_messages, timeout=_PUBSUB_STEP
            ),
        )
        return message

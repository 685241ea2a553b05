"""What only the Redis cache has: the lock's ttl, key prefixes, and errors mapped to NotReady."""

from __future__ import annotations

import asyncio
import secrets

import pytest
import redis.asyncio as aioredis

from tests.cache.conftest import TTL
from tests.conftest import TEST_REDIS_URL
from wxlogin.cache.base import Cache
from wxlogin.cache.redis import RedisCache
from wxlogin.errors import NotReady

needs_redis = pytest.mark.skipif(TEST_REDIS_URL is None, reason="WXLOGIN_TEST_REDIS_URL not set")

UNREACHABLE = "redis://127.0.0.1:1/0"


async def test_unreachable_redis_is_not_ready() -> None:
    cache = RedisCache(UNREACHABLE)
    try:
        assert await cache.ping() is False
        for call in (
            cache.get("k"),
            cache.set("k", b"v"),
            cache.set_if_absent("k", b"v"),
            cache.delete("k"),
            cache.delete_if_equals("k", b"v"),
            cache.incr("k", ttl=1),
        ):
            with pytest.raises(NotReady) as caught:
                await call
            assert caught.value.retryable
            assert "Redis" in caught.value.message
        with pytest.raises(NotReady):
            async with cache.lock("l", ttl=1, wait=0):
                pass
    finally:
        await cache.aclose()


def test_repr_shows_no_url_or_password() -> None:
    cache = RedisCache("redis://:hunter2@127.0.0.1:1/0", prefix="app:")
    assert "hunter2" not in repr(cache)
    assert repr(cache) == "RedisCache(prefix='app:')"


@needs_redis
async def test_keys_are_prefixed_and_isolated(cache: Cache) -> None:
    assert isinstance(cache, RedisCache)
    assert TEST_REDIS_URL is not None
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    other = RedisCache(client, prefix=f"wxlogin-test:{secrets.token_hex(6)}:")
    try:
        await cache.set("k", b"mine")
        assert await other.get("k") is None
        assert await client.get(cache.prefix + "k") == b"mine"
    finally:
        await other.aclose()  # does not close a client it was given
        assert await client.ping()
        await client.aclose()


@needs_redis
async def test_lock_expires_after_ttl_and_late_release_keeps_the_new_holder(
    cache: Cache,
) -> None:
    first_in = asyncio.Event()
    first_may_leave = asyncio.Event()

    async def slow_holder() -> None:
        async with cache.lock("crashy", ttl=TTL, wait=1) as held:
            assert held is True
            first_in.set()
            await first_may_leave.wait()  # outlives its ttl

    task = asyncio.create_task(slow_holder())
    await first_in.wait()
    async with cache.lock("crashy", ttl=5, wait=1) as held:
        assert held is True  # the first holder's ttl ran out
        first_may_leave.set()
        await task  # its release must not delete our lock...
        async with cache.lock("crashy", ttl=5, wait=TTL) as third:
            assert third is False  # ...so the lock is still ours

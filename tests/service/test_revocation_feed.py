"""With Redis, every process mirrors the revoked sessions: checks cost no round trip.

Two ``RevocationList``s on one Redis prefix play two workers. Run in the PostgreSQL + Redis
pass (skipped without Redis, where the list is the in-memory cache itself).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from tests.conftest import TEST_REDIS_URL
from tests.support import eventually
from wxlogin.cache.memory import MemoryCache
from wxlogin.cache.redis import RedisCache
from wxlogin.service.revocation import RevocationList

needs_redis = pytest.mark.skipif(TEST_REDIS_URL is None, reason="WXLOGIN_TEST_REDIS_URL not set")

TTL = 900.0


class CountingCache(RedisCache):
    """A RedisCache that counts the GETs the revocation list sends."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        super().__init__(client, prefix=prefix)
        self.gets = 0

    async def get(self, key: str) -> bytes | None:
        self.gets += 1
        return await super().get(key)


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    if TEST_REDIS_URL is None:
        pytest.skip("WXLOGIN_TEST_REDIS_URL not set")
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def workers(redis_client: aioredis.Redis) -> AsyncIterator[Callable[[], RevocationList]]:
    """Make revocation lists sharing one fresh prefix; all are stopped and cleaned after."""
    prefix = f"wxlogin-test:{secrets.token_hex(6)}:"
    made: list[RevocationList] = []

    def make() -> RevocationList:
        revocations = RevocationList(CountingCache(redis_client, prefix), ttl=TTL)
        made.append(revocations)
        return revocations

    yield make
    for revocations in made:
        await revocations.stop()
    stale = [key async for key in redis_client.scan_iter(match=f"{prefix}*")]
    if stale:
        await redis_client.delete(*stale)


def gets(revocations: RevocationList) -> int:
    cache = revocations._cache
    assert isinstance(cache, CountingCache)
    return cache.gets


@needs_redis
async def test_a_revocation_reaches_the_other_worker_and_checks_need_no_round_trip(
    workers: Callable[[], RevocationList],
) -> None:
    a, b = workers(), workers()
    a.start()
    b.start()
    await asyncio.wait_for(asyncio.gather(a.wait_in_step(), b.wait_in_step()), 5)
    await a.revoke("session-1")
    await eventually(
        lambda: "session-1" in b._mirror, "the revocation to reach worker b", timeout=5.0
    )
    before = gets(b)
    assert await b.is_revoked("session-1") is True
    assert await b.is_revoked("session-2") is False
    assert gets(b) == before  # answered from memory both times
    assert await a.is_revoked("session-1") is True


@needs_redis
async def test_a_worker_that_starts_later_learns_earlier_revocations(
    workers: Callable[[], RevocationList],
) -> None:
    a = workers()
    await a.revoke("revoked-before-b-started")  # a's feed is not even running
    b = workers()
    assert await b.is_revoked("revoked-before-b-started") is True  # not in step: asks Redis
    b.start()
    await asyncio.wait_for(b.wait_in_step(), 5)
    before = gets(b)
    assert await b.is_revoked("revoked-before-b-started") is True
    assert gets(b) == before


@needs_redis
async def test_a_broken_feed_falls_back_to_redis_and_catches_up(
    workers: Callable[[], RevocationList], redis_client: aioredis.Redis
) -> None:
    a, b = workers(), workers()
    b.start()
    await asyncio.wait_for(b.wait_in_step(), 5)
    # Cut b's subscription as a network failure or a Redis restart would.
    await redis_client.client_kill_filter(_type="pubsub")
    await eventually(lambda: not b.in_step, "worker b to notice its feed broke", timeout=5.0)
    await a.revoke("revoked-while-b-was-deaf")
    before = gets(b)
    assert await b.is_revoked("revoked-while-b-was-deaf") is True  # asked Redis meanwhile
    assert gets(b) == before + 1
    await asyncio.wait_for(b.wait_in_step(), 10)  # resubscribed and read the keys again
    before = gets(b)
    assert await b.is_revoked("revoked-while-b-was-deaf") is True
    assert gets(b) == before


@needs_redis
async def test_mirrored_revocations_expire_with_the_tokens_they_guard(
    redis_client: aioredis.Redis,
) -> None:
    now = [1000.0]
    prefix = f"wxlogin-test:{secrets.token_hex(6)}:"
    revocations = RevocationList(CountingCache(redis_client, prefix), ttl=60, clock=lambda: now[0])
    revocations.start()
    try:
        await asyncio.wait_for(revocations.wait_in_step(), 5)
        await revocations.revoke("s")
        assert await revocations.is_revoked("s") is True
        now[0] += 61  # no access token issued before the revocation is still valid
        assert await revocations.is_revoked("s") is False
    finally:
        await revocations.stop()
        stale = [key async for key in redis_client.scan_iter(match=f"{prefix}*")]
        if stale:
            await redis_client.delete(*stale)


class SwallowingFeed(MemoryCache):
    """A broadcast whose subscription, like redis-py's reader, once turns our cancellation into
    its own read timeout and reads on."""

    def __init__(self) -> None:
        super().__init__()
        self.swallowed = 0

    async def publish(self, channel: str, message: bytes) -> None:
        return None

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[SwallowingFeed]:
        yield self

    async def scan(self, prefix: str) -> AsyncIterator[str]:
        nothing: tuple[str, ...] = ()
        for key in nothing:
            yield key

    async def next(self) -> bytes:
        while True:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                if self.swallowed:
                    raise
                self.swallowed += 1  # as if the read had timed out: go on reading


async def test_stop_ends_the_feed_even_when_a_cancellation_is_swallowed() -> None:
    feed = SwallowingFeed()
    revocations = RevocationList(feed, ttl=TTL)
    revocations.start()
    await asyncio.wait_for(revocations.wait_in_step(), 5)
    stopping = asyncio.create_task(revocations.stop())
    done, _ = await asyncio.wait({stopping}, timeout=5)  # not wait_for: it would cancel again
    assert stopping in done, "stop() hung on the swallowed cancellation"
    assert feed.swallowed == 1
    assert not revocations.in_step

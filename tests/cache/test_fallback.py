"""``FallbackCache``: Redis while it answers, this process's memory while it does not.

The rules on a scripted Redis (no sockets, so each step is exact), then the real thing: a
private ``redis-server`` behind a proxy that the test cuts and restores.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.netfaults import TcpProxy, private_redis
from wxlogin.cache.base import Broadcast, Cache
from wxlogin.cache.fallback import FallbackCache
from wxlogin.cache.redis import RedisCache
from wxlogin.errors import NotReady


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class ScriptedRedis(RedisCache):
    """A RedisCache whose every operation answers from a dict while ``up``, or fails as an
    unreachable Redis does (``NotReady``); ``hold`` makes calls wait until released."""

    def __init__(self) -> None:
        super().__init__("redis://127.0.0.1:1/0")  # never connected: every call is replaced
        self.up = True
        self.calls = 0
        self.data: dict[str, bytes] = {}
        self.hold: asyncio.Event | None = None

    async def _step(self) -> None:
        self.calls += 1
        if self.hold is not None:
            await self.hold.wait()
        if not self.up:
            raise NotReady("Redis GET failed (ConnectionError)")

    async def get(self, key: str) -> bytes | None:
        await self._step()
        return self.data.get(key)

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        await self._step()
        self.data[key] = value

    async def incr(self, key: str, *, ttl: float) -> int:
        await self._step()
        count = int(self.data.get(key, b"0")) + 1
        self.data[key] = b"%d" % count
        return count

    async def ping(self) -> bool:
        self.calls += 1
        return self.up


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def redis() -> ScriptedRedis:
    return ScriptedRedis()


def test_it_is_a_cache_and_a_broadcast(redis: ScriptedRedis) -> None:
    cache = FallbackCache(redis)
    assert isinstance(cache, Cache) and isinstance(cache, Broadcast)


async def test_memory_stands_in_while_redis_is_down_and_redis_is_back_after(
    redis: ScriptedRedis, clock: Clock
) -> None:
    cache = FallbackCache(redis, clock=clock, retry_every=1.0)
    await cache.set("k", b"in redis")
    assert redis.data == {"k": b"in redis"} and not cache.degraded
    redis.up = False
    assert await cache.get("k") is None  # memory knows nothing of it: a miss, not an error
    assert cache.degraded
    calls = redis.calls
    assert [await cache.incr("rl", ttl=60) for _ in range(3)] == [1, 2, 3]  # counted in memory
    assert redis.calls == calls  # no call went to Redis before the retry moment
    assert await cache.ping() is False
    redis.up = True
    clock.now += 1.0
    assert await cache.get("k") == b"in redis"  # the first call after the moment probes
    assert not cache.degraded
    assert await cache.incr("rl", ttl=60) == 1  # Redis's own count again


async def test_one_probe_at_a_time_while_down(redis: ScriptedRedis, clock: Clock) -> None:
    cache = FallbackCache(redis, clock=clock, retry_every=1.0)
    redis.up = False
    await cache.get("k")
    clock.now += 1.0
    redis.hold = asyncio.Event()  # the probe hangs, as a blackholed Redis would
    probe = asyncio.create_task(cache.get("k"))
    await asyncio.sleep(0)
    calls = redis.calls
    assert [await cache.incr("n", ttl=60) for _ in range(5)] == [1, 2, 3, 4, 5]
    assert redis.calls == calls  # everyone else went straight to memory meanwhile
    redis.hold.set()
    assert await probe is None
    assert cache.degraded  # the probe failed: down for another second


async def test_a_ping_that_answers_ends_the_degraded_state(
    redis: ScriptedRedis, clock: Clock
) -> None:
    cache = FallbackCache(redis, clock=clock)
    redis.up = False
    assert await cache.ping() is False
    assert cache.degraded
    redis.up = True
    assert await cache.ping() is True
    assert not cache.degraded


async def test_the_lock_falls_back_to_this_process(clock: Clock) -> None:
    cache = FallbackCache(RedisCache("redis://127.0.0.1:1/0"), clock=clock)
    try:
        async with cache.lock("refresh", ttl=5, wait=1) as held:
            assert held is True
            assert cache.degraded
            async with cache.lock("refresh", ttl=5, wait=0.01) as second:
                assert second is False  # still exclusive within the process
        with pytest.raises(NotReady):
            await cache.publish("channel", b"x")  # no one to tell without Redis
    finally:
        await cache.aclose()


# --------------------------------------------------------------------------- a real Redis


@pytest.fixture
def proxied_redis(tmp_path: Path) -> Iterator[tuple[TcpProxy, int]]:
    with private_redis(tmp_path) as port:
        proxy = TcpProxy("127.0.0.1", port)
        try:
            yield proxy, port
        finally:
            proxy.cut()


@pytest.mark.socket
async def test_a_real_redis_cut_and_restored(proxied_redis: tuple[TcpProxy, int]) -> None:
    proxy, port = proxied_redis
    direct = aioredis.Redis(port=port)
    cache = FallbackCache(RedisCache(f"redis://127.0.0.1:{proxy.port}/0"), retry_every=0.05)
    try:
        await cache.set("k", b"v")
        assert await direct.get("wxlogin:k") == b"v"
        proxy.cut()
        assert await cache.incr("n", ttl=60) == 1  # refused at once, answered from memory
        assert cache.degraded and await cache.ping() is False
        await cache.set("k", b"during")  # memory only
        assert await direct.get("wxlogin:k") == b"v"
        proxy.restore()
        deadline = asyncio.get_running_loop().time() + 10
        while await cache.get("k") != b"v":  # Redis's value, not memory's
            assert asyncio.get_running_loop().time() < deadline, "Redis never came back"
            await asyncio.sleep(0.05)
        assert not cache.degraded
        assert await cache.incr("n", ttl=60) == 1  # Redis's own counter from here on
        assert await direct.get("wxlogin:n") == b"1"
    finally:
        await cache.aclose()
        await direct.aclose()

"""The ``Cache`` contract, run against whichever backend the suite uses (memory or Redis)."""

from __future__ import annotations

import asyncio

import pytest

from tests.cache.conftest import TTL, TimedCache
from wxlogin.cache.base import Cache

BINARY = bytes(range(256))  # NULs and non-UTF-8 bytes must survive


async def test_implements_the_protocol(cache: Cache) -> None:
    assert isinstance(cache, Cache)
    assert await cache.ping() is True


async def test_get_set_delete(cache: Cache) -> None:
    assert await cache.get("k") is None
    await cache.set("k", b"v1")
    assert await cache.get("k") == b"v1"
    await cache.set("k", BINARY)
    assert await cache.get("k") == BINARY
    await cache.delete("k")
    assert await cache.get("k") is None
    await cache.delete("k")  # deleting a missing key is fine


async def test_set_expires(timed: TimedCache) -> None:
    cache = timed.cache
    await cache.set("short", b"v", ttl=TTL)
    await cache.set("forever", b"v")
    assert await cache.get("short") == b"v"
    await timed.advance(TTL * 1.6)
    assert await cache.get("short") is None
    assert await cache.get("forever") == b"v"


async def test_set_replaces_the_expiry(timed: TimedCache) -> None:
    cache = timed.cache
    await cache.set("k", b"old", ttl=TTL)
    await cache.set("k", b"new")  # no ttl: kept until deleted
    await timed.advance(TTL * 1.6)
    assert await cache.get("k") == b"new"


async def test_set_if_absent(timed: TimedCache) -> None:
    cache = timed.cache
    assert await cache.set_if_absent("k", b"first", ttl=TTL) is True
    assert await cache.set_if_absent("k", b"second", ttl=TTL) is False
    assert await cache.get("k") == b"first"
    await timed.advance(TTL * 1.6)
    assert await cache.set_if_absent("k", b"third") is True  # expired counts as absent
    assert await cache.get("k") == b"third"


async def test_set_if_absent_race_has_one_winner(cache: Cache) -> None:
    results = await asyncio.gather(*(cache.set_if_absent("race", b"%d" % i) for i in range(20)))
    assert results.count(True) == 1
    winner = results.index(True)
    assert await cache.get("race") == b"%d" % winner


async def test_delete_if_equals(cache: Cache) -> None:
    await cache.set("token", b"A")
    assert await cache.delete_if_equals("token", b"B") is False
    assert await cache.get("token") == b"A"  # a newer value survives
    assert await cache.delete_if_equals("token", b"A") is True
    assert await cache.get("token") is None
    assert await cache.delete_if_equals("token", b"A") is False  # missing


async def test_delete_if_equals_on_expired_value(timed: TimedCache) -> None:
    await timed.cache.set("token", b"A", ttl=TTL)
    await timed.advance(TTL * 1.6)
    assert await timed.cache.delete_if_equals("token", b"A") is False


async def test_compare_and_set(timed: TimedCache) -> None:
    cache = timed.cache
    assert await cache.compare_and_set("token", None, b"A", ttl=TTL) is True  # was missing
    assert await cache.compare_and_set("token", None, b"B") is False  # no longer missing
    assert await cache.compare_and_set("token", b"B", BINARY) is False  # holds A, not B
    assert await cache.get("token") == b"A"
    assert await cache.compare_and_set("token", b"A", BINARY, ttl=TTL) is True
    assert await cache.get("token") == BINARY
    await timed.advance(TTL * 1.6)
    assert await cache.get("token") is None  # the ttl of the write that won
    assert await cache.compare_and_set("token", BINARY, b"C") is False  # expired: missing
    assert await cache.compare_and_set("token", None, b"C") is True
    await timed.advance(TTL * 1.6)
    assert await cache.get("token") == b"C"  # no ttl: kept


async def test_compare_and_set_race_has_one_winner(cache: Cache) -> None:
    results = await asyncio.gather(
        *(cache.compare_and_set("fenced", None, b"%d" % i) for i in range(20))
    )
    assert results.count(True) == 1
    assert await cache.get("fenced") == b"%d" % results.index(True)


async def test_incr_counts(cache: Cache) -> None:
    assert [await cache.incr("n", ttl=60) for _ in range(3)] == [1, 2, 3]
    assert await cache.get("n") == b"3"
    counts = await asyncio.gather(*(cache.incr("burst", ttl=60) for _ in range(50)))
    assert sorted(counts) == list(range(1, 51))  # atomic: no count given twice


async def test_incr_sets_expiry_only_on_creation(timed: TimedCache) -> None:
    cache = timed.cache
    assert await cache.incr("window", ttl=TTL * 2) == 1
    await timed.advance(TTL * 1.2)
    # A later hit must not extend the window that started with the first one.
    assert await cache.incr("window", ttl=TTL * 2) == 2
    await timed.advance(TTL * 1.2)
    assert await cache.get("window") is None
    assert await cache.incr("window", ttl=TTL * 2) == 1  # a new window


async def test_lock_is_exclusive(cache: Cache) -> None:
    inside = 0
    most = 0
    order: list[int] = []

    async def worker(n: int) -> None:
        nonlocal inside, most
        async with cache.lock("shared", ttl=5, wait=5) as held:
            assert held is True
            inside += 1
            most = max(most, inside)
            order.append(n)
            await asyncio.sleep(0)  # give the others every chance to barge in
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(worker(n) for n in range(5)))
    assert most == 1
    assert sorted(order) == list(range(5))


async def test_lock_wait_timeout_yields_false(cache: Cache) -> None:
    holder_in = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with cache.lock("busy", ttl=5, wait=1) as held:
            assert held is True
            holder_in.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await holder_in.wait()
    async with cache.lock("busy", ttl=5, wait=TTL) as held:
        assert held is False  # gave up after `wait`
    async with cache.lock("other-name", ttl=5, wait=TTL) as held:
        assert held is True  # locks are per name
    release.set()
    await task
    async with cache.lock("busy", ttl=5, wait=1) as held:
        assert held is True  # released on exit


async def test_waiter_gets_the_lock_when_it_is_released(cache: Cache) -> None:
    holder_in, let_go = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with cache.lock("handover", ttl=5, wait=1):
            holder_in.set()
            await let_go.wait()

    async def waiter() -> bool:
        async with cache.lock("handover", ttl=5, wait=5) as held:
            assert task.done()  # only after the holder let go
            return held

    task = asyncio.create_task(holder())
    await holder_in.wait()
    waiting = asyncio.create_task(waiter())
    # Something not happening can only be watched for a while: the waiter is still waiting.
    done, _ = await asyncio.wait({waiting}, timeout=TTL)
    assert not done
    let_go.set()
    assert await waiting is True
    await task


async def test_lock_released_when_the_body_raises(cache: Cache) -> None:
    async def fail_inside() -> None:
        async with cache.lock("boom", ttl=5, wait=1) as held:
            assert held is True
            raise RuntimeError("body failed")

    with pytest.raises(RuntimeError):
        await fail_inside()
    async with cache.lock("boom", ttl=5, wait=TTL) as held:
        assert held is True

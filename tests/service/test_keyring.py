"""Signing keys in the database: created once, sealed, imported, rotated, followed.

Several ``KeyRing``s on one database play several processes (each with a ``Store`` of its
own, so each has its own connections). Runs on SQLite and, in the PostgreSQL + Redis pass, on
PostgreSQL; the Redis announcement test needs Redis.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import jwt
import pytest
import redis.asyncio as aioredis

from tests.conftest import TEST_REDIS_URL
from tests.support import eventually
from wxlogin.cache.redis import RedisCache
from wxlogin.errors import ConfigurationError
from wxlogin.service.keyring import KeyRing
from wxlogin.service.sealing import SigningKeySealer
from wxlogin.store.repository import Store
from wxlogin.tokens import AccessTokens, SigningKey, SigningKeys

SECRET = bytes(range(32))
START = 1_700_000_000.0
KEEP_FOR = 930.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[Callable[[], Awaitable[Store]]]:
    """Open more stores (processes) on this test's database; all closed afterwards."""
    opened: list[Store] = []

    async def make() -> Store:
        store = Store.from_url(database_url)
        opened.append(store)
        await store.migrate()
        return store

    yield make
    for store in opened:
        await store.aclose()


def tokens_of(ring: KeyRing | SigningKeys, clock: Clock) -> AccessTokens:
    keys = ring.keys if isinstance(ring, KeyRing) else ring
    return AccessTokens(
        keys, issuer="https://x", audience="wxlogin", ttl=900, leeway=30, clock=clock
    )


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


async def test_the_first_key_is_made_once_sealed_and_kept(
    stores: Callable[[], Awaitable[Store]], clock: Clock
) -> None:
    store = await stores()
    ring = await KeyRing.open(store, SECRET, clock=clock)
    (key,) = ring.keys.keys
    (row,) = await store.signing_keys.all()
    assert row.kid == key.kid
    assert key.private_bytes() not in row.private_key_sealed  # sealed, not in clear
    assert SigningKeySealer(SECRET).open(row.private_key_sealed, kid=row.kid) == key.private_bytes()
    assert row.private_key_sealed.hex() not in repr(row)
    again = await KeyRing.open(await stores(), SECRET, clock=clock)  # a restart, or a peer
    assert again.keys.jwks() == ring.keys.jwks()
    token = tokens_of(ring, clock).issue(user_id="u", session_id="s", appid="a").token
    assert tokens_of(again, clock).verify(token).user_id == "u"


async def test_processes_starting_together_agree_on_one_key(
    stores: Callable[[], Awaitable[Store]], clock: Clock
) -> None:
    opened = [await stores() for _ in range(4)]
    rings = await asyncio.gather(*(KeyRing.open(s, SECRET, clock=clock) for s in opened))
    assert len({ring.keys.active_kid for ring in rings}) == 1
    assert len(await opened[0].signing_keys.all()) == 1


async def test_another_encryption_key_stops_start_up_with_one_clear_line(
    stores: Callable[[], Awaitable[Store]], clock: Clock
) -> None:
    await KeyRing.open(await stores(), SECRET, clock=clock)
    other = os.urandom(32)
    with pytest.raises(ConfigurationError) as caught:
        await KeyRing.open(await stores(), other, clock=clock)
    assert "WXLOGIN_SESSION_KEY_ENCRYPTION_KEY" in caught.value.message
    assert other.hex() not in caught.value.message and SECRET.hex() not in caught.value.message


async def test_keys_of_a_legacy_keys_json_are_imported_once(
    stores: Callable[[], Awaitable[Store]], clock: Clock, tmp_path: Path
) -> None:
    old, current = SigningKey.generate(START - 5000), SigningKey.generate(START - 100)
    entries = [
        {
            "kid": key.kid,
            "private_key": base64.b64encode(key.private_bytes()).decode(),
            "created_at": key.created_at,
            "retired_at": retired,
        }
        for key, retired in ((old, START - 100), (current, None))
    ]
    (tmp_path / "keys.json").write_text(json.dumps({"keys": entries}))
    store = await stores()
    ring = await KeyRing.open(store, SECRET, data_dir=tmp_path, clock=clock)
    assert set(ring.keys.kids) == {old.kid, current.kid}
    assert ring.keys.active_kid == current.kid  # tokens keep their kid across the upgrade
    legacy = tokens_of(SigningKeys([old], clock=clock), clock).issue(
        user_id="u", session_id="s", appid="a"
    )
    assert tokens_of(ring, clock).verify(legacy.token).user_id == "u"
    # The table is the truth from now on: another file is not read.
    (tmp_path / "keys.json").write_text(json.dumps({"keys": entries[:1]}))
    again = await KeyRing.open(await stores(), SECRET, data_dir=tmp_path, clock=clock)
    assert set(again.keys.kids) == {old.kid, current.kid}


async def test_a_rotation_elsewhere_is_learnt_then_signs_at_its_time(
    stores: Callable[[], Awaitable[Store]], clock: Clock
) -> None:
    a = await KeyRing.open(await stores(), SECRET, clock=clock)
    b = await KeyRing.open(await stores(), SECRET, clock=clock)  # `wxlogin keys rotate`
    first = a.keys.active_kid
    old_token = tokens_of(a, clock).issue(user_id="u", session_id="s", appid="a").token
    fresh = await b.rotate(keep_for=KEEP_FOR, activate_in=30)
    assert await a.refresh() is True  # what the poll or the Redis announcement does
    assert await a.refresh() is False
    assert set(a.keys.kids) == {first, fresh.kid}
    assert kid_of(tokens_of(a, clock).issue(user_id="u", session_id="s", appid="a").token) == first
    clock.now += 30
    for ring in (a, b):
        token = tokens_of(ring, clock).issue(user_id="u", session_id="s", appid="a").token
        assert kid_of(token) == fresh.kid
        assert tokens_of(a if ring is b else b, clock).verify(token).user_id == "u"
        assert tokens_of(ring, clock).verify(old_token).user_id == "u"
    # keep_for after the old key retired, the next rotation drops it from the JWKS.
    clock.now += KEEP_FOR + 1
    newest = await b.rotate(keep_for=KEEP_FOR, activate_in=30)
    await a.refresh()
    assert set(a.keys.kids) == {fresh.kid, newest.kid}
    assert first not in [k["kid"] for k in a.keys.jwks()["keys"]]


async def test_concurrent_rotations_lose_none(
    stores: Callable[[], Awaitable[Store]], clock: Clock
) -> None:
    rings = [await KeyRing.open(await stores(), SECRET, clock=clock) for _ in range(3)]
    first = rings[0].keys.active_kid
    made = await asyncio.gather(*(r.rotate(keep_for=KEEP_FOR, activate_in=30) for r in rings))
    rows = await (await stores()).signing_keys.all()
    assert {row.kid for row in rows} == {first, *(key.kid for key in made)}
    assert sum(row.retired_at is None for row in rows) == 1


async def test_the_poll_follows_rotations_without_redis(
    stores: Callable[[], Awaitable[Store]], clock: Clock
) -> None:
    follower = await KeyRing.open(await stores(), SECRET, clock=clock, poll_every=0.05)
    rotator = await KeyRing.open(await stores(), SECRET, clock=clock)
    follower.start()
    try:
        fresh = await rotator.rotate(keep_for=KEEP_FOR, activate_in=30)
        await eventually(lambda: fresh.kid in follower.keys.kids, "the poll to find the key")
    finally:
        await follower.stop()


async def test_an_unknown_kid_makes_the_ring_look(
    stores: Callable[[], Awaitable[Store]], clock: Clock
) -> None:
    follower = await KeyRing.open(await stores(), SECRET, clock=clock, poll_every=3600)
    rotator = await KeyRing.open(await stores(), SECRET, clock=clock)
    verifier = tokens_of(follower, clock)
    verifier.on_unknown_kid = follower.unknown_kid
    fresh = await rotator.rotate(keep_for=KEEP_FOR, activate_in=0)
    token = tokens_of(rotator, clock).issue(user_id="u", session_id="s", appid="a").token
    with pytest.raises(Exception, match="unknown key"):
        verifier.verify(token)
    await eventually(lambda: fresh.kid in follower.keys.kids, "the look the unknown kid asked for")
    assert verifier.verify(token).user_id == "u"
    await follower.stop()


@pytest.mark.skipif(TEST_REDIS_URL is None, reason="WXLOGIN_TEST_REDIS_URL not set")
async def test_a_rotation_is_announced_through_redis_at_once(
    stores: Callable[[], Awaitable[Store]], clock: Clock
) -> None:
    assert TEST_REDIS_URL is not None
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    prefix = f"wxlogin-test:{secrets.token_hex(6)}:"
    follower_cache = RedisCache(client, prefix=prefix)
    follower = await KeyRing.open(
        await stores(), SECRET, cache=follower_cache, clock=clock, poll_every=3600
    )
    rotator = await KeyRing.open(
        await stores(), SECRET, cache=RedisCache(client, prefix=prefix), clock=clock
    )
    follower.start()
    try:
        await _subscribed(client, prefix)  # an announcement before that would be missed
        fresh = await rotator.rotate(keep_for=KEEP_FOR, activate_in=30)
        await eventually(lambda: fresh.kid in follower.keys.kids, "the announcement", timeout=5.0)
    finally:
        await follower.stop()
        await client.aclose()


async def _subscribed(client: aioredis.Redis, prefix: str) -> None:
    channel = f"{prefix}signing-keys"
    deadline = asyncio.get_running_loop().time() + 5
    while asyncio.get_running_loop().time() < deadline:
        counts = await client.pubsub_numsub(channel)
        if counts and counts[0][1] >= 1:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the follower never subscribed")

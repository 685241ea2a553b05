"""The service's own parts: session_key sealing, the rate limiter, the revocation list.

The rate limiter and revocation list run on the suite's cache (memory, or Redis in the
PostgreSQL + Redis run).
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

import pytest

from wxlogin.cache.base import Cache
from wxlogin.errors import ConfigurationError, NoSessionKey, Throttled
from wxlogin.service.rate_limit import RateLimiter
from wxlogin.service.revocation import RevocationList, RevocationSync
from wxlogin.service.sealing import SessionKeySealer
from wxlogin.store.repository import Store

KEY = "tiihtNczf5v6AKRyjwEUhQ=="


def test_sealed_session_keys_open_only_for_their_identity() -> None:
    sealer = SessionKeySealer(os.urandom(32))
    sealed = sealer.seal(KEY, appid="wxa", openid="o-alice")
    assert KEY.encode() not in sealed
    assert sealer.open(sealed, appid="wxa", openid="o-alice") == KEY
    assert sealer.seal(KEY, appid="wxa", openid="o-alice") != sealed  # fresh nonce each time
    for appid, openid in (("wxa", "o-bob"), ("wxb", "o-alice"), ("wxao", "-alice")):
        with pytest.raises(NoSessionKey):
            sealer.open(sealed, appid=appid, openid=openid)
    with pytest.raises(NoSessionKey):
        SessionKeySealer(os.urandom(32)).open(sealed, appid="wxa", openid="o-alice")
    with pytest.raises(NoSessionKey):
        sealer.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), appid="wxa", openid="o-alice")


def test_sealer_wants_a_32_byte_key_and_hides_it() -> None:
    with pytest.raises(ConfigurationError):
        SessionKeySealer(b"short")
    key = os.urandom(32)
    assert key.hex() not in repr(SessionKeySealer(key))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_rate_limit_window_and_retry_after(cache: Cache) -> None:
    clock = Clock()
    clock.now = 60 * 1000 + 45  # 45 s into a window
    limiter = RateLimiter(cache, window=60, clock=clock)
    for _ in range(3):
        await limiter.hit("login-ip", "203.0.113.7", limit=3)
    with pytest.raises(Throttled) as info:
        await limiter.hit("login-ip", "203.0.113.7", limit=3)
    assert info.value.retry_after == pytest.approx(15)
    await limiter.hit("login-ip", "198.51.100.1", limit=3)  # another key has its own budget
    clock.now += 15  # next window
    await limiter.hit("login-ip", "203.0.113.7", limit=3)


async def test_a_zero_limit_means_unlimited(cache: Cache) -> None:
    limiter = RateLimiter(cache, clock=time.time)
    for _ in range(20):
        await limiter.hit("login-app", "wxa", limit=0)


async def test_revocation_list(cache: Cache) -> None:
    revocations = RevocationList(cache, ttl=60)
    assert not await revocations.is_revoked("s1")
    await revocations.revoke("s1")
    assert await revocations.is_revoked("s1")
    assert not await revocations.is_revoked("s2")


async def test_the_poller_is_not_blinded_by_a_clock_running_ahead(
    store: Store, cache: Cache, utc_now: datetime
) -> None:
    # Another host, its clock a minute fast, revokes session A; ours, on time, revokes B
    # afterwards. B's earlier timestamp must still be seen.
    for sid in ("sess-a", "sess-b"):
        await store.login(
            appid="wxa",
            openid=f"o-{sid}",
            unionid=None,
            session_id=sid,
            session_key_enc=b"sealed",
            refresh_hash=sid.encode(),
            expires_at=utc_now + timedelta(days=1),
            now=utc_now,
        )
    revocations = RevocationList(cache, ttl=900)
    sync = RevocationSync(store, revocations, clock=utc_now.timestamp)
    await store.revoke_session("sess-a", reason="logout", now=utc_now + timedelta(seconds=60))
    assert await sync.sync_once() == 1
    await store.revoke_session("sess-b", reason="logout", now=utc_now + timedelta(seconds=1))
    await sync.sync_once()
    assert await revocations.is_revoked("sess-a")
    assert await revocations.is_revoked("sess-b")

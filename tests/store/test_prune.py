"""Pruning: what is past its life goes, what is alive is untouched (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import asyncpg
import pytest

from tests.store.conftest import APP_A, Login, new_hash
from wxlogin.store.prune import PruneCounts, PruneCutoffs
from wxlogin.store.records import PayEventOutcome, RotateOutcome, SendOutcome
from wxlogin.store.repository import Store
from wxlogin.store.target import parse_target

DAY = timedelta(days=1)


def cutoffs(now: datetime) -> PruneCutoffs:
    """As the defaults would have it: sessions 7 days, spent tokens 30, the rest 90."""
    return PruneCutoffs(
        sessions=now - 7 * DAY,
        spent_refresh_tokens=now - 30 * DAY,
        pay_events=now - 90 * DAY,
        message_sends=now - 90 * DAY,
    )


async def rotate(store: Store, login: Login, session_id: str, now: datetime) -> None:
    fresh = new_hash()
    result = await store.rotate_refresh(
        session_id=session_id,
        presented_hash=login.refresh_hashes[session_id],
        new_hash=fresh,
        expires_at=now + 30 * DAY,
        now=now,
    )
    assert result.outcome is RotateOutcome.ROTATED
    login.refresh_hashes[session_id] = fresh


async def session_ids(store: Store) -> set[str]:
    async def work(tx: object) -> set[str]:
        rows = await tx.all("SELECT id FROM sessions")  # type: ignore[attr-defined]
        return {row["id"] for row in rows}

    return await store._backend.read(work)


async def spent_tokens(store: Store) -> int:
    async def work(tx: object) -> int:
        row = await tx.one("SELECT count(*) AS n FROM used_refresh_tokens")  # type: ignore[attr-defined]
        return int(row["n"])

    return await store._backend.read(work)


async def test_sessions_past_their_life_go_and_live_ones_stay(
    store: Store, login: Login, utc_now: datetime
) -> None:
    now = utc_now
    # Expired 31 days ago (logged in 61 days ago, never refreshed), with two spent tokens.
    old = []
    for n in range(5):
        await login(APP_A, f"o-old-{n}", now=now - 61 * DAY)
        old.append(login.last_session_id)
    await rotate(store, login, old[0], now - 60 * DAY)
    await rotate(store, login, old[0], now - 59 * DAY)
    # Revoked 8 days ago: past the 7-day retention.
    await login(APP_A, "o-revoked-long-ago", now=now - 10 * DAY)
    revoked_old = login.last_session_id
    assert await store.revoke_session(revoked_old, reason="logout", now=now - 8 * DAY)
    # Revoked yesterday, and expired yesterday: still kept (within the retention).
    await login(APP_A, "o-revoked-lately", now=now - 2 * DAY)
    revoked_lately = login.last_session_id
    assert await store.revoke_session(revoked_lately, reason="logout", now=now - DAY)
    await login(APP_A, "o-expired-lately", now=now - 31 * DAY)
    expired_lately = login.last_session_id
    # Alive: one logged in now, one alive for weeks with a token spent 40 days ago (gone)
    # and one spent 12 days ago (kept: presenting it again is still caught as reuse).
    await login(APP_A, "o-alive", now=now)
    alive = login.last_session_id
    await login(APP_A, "o-alive-long", now=now - 50 * DAY)
    alive_long = login.last_session_id
    await rotate(store, login, alive_long, now - 40 * DAY)
    spent_lately = login.refresh_hashes[alive_long]
    await rotate(store, login, alive_long, now - 12 * DAY)

    expected = PruneCounts(sessions=6, spent_refresh_tokens=3)
    assert await store.maintenance.count(cutoffs(now)) == expected
    assert await store.maintenance.prune(cutoffs(now), batch=2) == expected  # batch by batch
    assert await session_ids(store) == {revoked_lately, expired_lately, alive, alive_long}
    assert await spent_tokens(store) == 1
    assert await store.maintenance.count(cutoffs(now)) == PruneCounts()
    assert await store.maintenance.prune(cutoffs(now)) == PruneCounts()

    # The live sessions are whole: they still refresh, and reuse of the token kept is caught.
    users = await store.list_users(limit=100)
    assert len(users) == 10  # users are never pruned, only their dead sessions
    for session_id in (alive, alive_long):
        await rotate(store, login, session_id, now)
    reused = await store.rotate_refresh(
        session_id=alive_long,
        presented_hash=spent_lately,
        new_hash=new_hash(),
        expires_at=now + 30 * DAY,
        now=now,
    )
    assert reused.outcome is RotateOutcome.REUSED


async def test_old_callbacks_and_message_records_go(
    store: Store, login: Login, utc_now: datetime
) -> None:
    now = utc_now
    user = (await login(APP_A, "o-someone", now=now)).user
    for n, days in enumerate((120, 91, 89, 1)):
        assert await store.orders.record_event(
            f"evt-{n}",
            event_type="TRANSACTION.SUCCESS",
            reference=f"order-{n}",
            outcome=PayEventOutcome.APPLIED,
            received_at=now - days * DAY,
        )
        await store.record_message_send(
            user_id=user.id,
            appid=APP_A,
            template_id="tmpl",
            keywords=["thing1"],
            outcome=SendOutcome.SENT,
            now=now - days * DAY,
        )
    expected = PruneCounts(pay_events=2, message_sends=2)
    assert await store.maintenance.count(cutoffs(now)) == expected
    assert await store.maintenance.prune(cutoffs(now)) == expected
    kept = await store.list_message_sends(limit=10)
    assert sorted(send.sent_at for send in kept) == [now - 89 * DAY, now - DAY]
    # A callback kept is still recognised as a duplicate.
    assert not await store.orders.record_event(
        "evt-2",
        event_type="TRANSACTION.SUCCESS",
        reference="order-2",
        outcome=PayEventOutcome.APPLIED,
        received_at=now,
    )


async def test_naive_cutoffs_are_refused(store: Store) -> None:
    naive = datetime(2026, 1, 1)
    with pytest.raises(ValueError, match="aware"):
        await store.maintenance.prune(PruneCutoffs(naive, naive, naive, naive))


async def test_one_pruner_at_a_time_on_postgresql(
    store: Store, login: Login, utc_now: datetime, database_url: str
) -> None:
    if store.dialect != "postgresql":
        pytest.skip("SQLite has one process, whose write lock serializes every batch")
    await login(APP_A, "o-old", now=utc_now - 61 * DAY)
    target = parse_target(database_url)
    other = await asyncpg.connect(target.dsn, server_settings=dict(target.server_settings))
    try:
        # Another process's pruner holds the lock (the same one a prune takes).
        await other.execute(
            "SELECT pg_advisory_lock(hashtext(current_schema() || ':wxlogin-prune'))"
        )
        assert await store.maintenance.prune(cutoffs(utc_now)) is None
        assert len(await session_ids(store)) == 1  # nothing was done
        await other.execute(
            "SELECT pg_advisory_unlock(hashtext(current_schema() || ':wxlogin-prune'))"
        )
        assert await store.maintenance.prune(cutoffs(utc_now)) == PruneCounts(sessions=1)
        # Two at once: one works, the other finds the lock taken or nothing left; never both.
        await login(APP_A, "o-old-2", now=utc_now - 61 * DAY)
        results = await asyncio.gather(
            store.maintenance.prune(cutoffs(utc_now)), store.maintenance.prune(cutoffs(utc_now))
        )
        assert sum(r.sessions for r in results if r is not None) == 1
    finally:
        await other.close()

"""Group commit: logins share transactions, and one that fails takes none of its neighbours.

Run on both backends. On SQLite the test holds the database's write lock while the logins
queue up, so the writer thread is forced to take them as one batch; on PostgreSQL logins
submitted in one turn of the event loop go out in one call of the batch function anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.store.conftest import APP_A, APP_B, Login, new_hash
from tests.support import sqlite_write_lock
from wxlogin.errors import WxLoginError
from wxlogin.store import LoginResult, Store
from wxlogin.store.records import new_id
from wxlogin.store.tables import identities, sessions, users
from wxlogin.store.target import parse_target


@contextlib.asynccontextmanager
async def writes_held(store: Store, database_url: str) -> AsyncIterator[None]:
    """While inside, nothing the store writes can commit; on leaving, everything queued goes."""
    if store.dialect != "sqlite":
        yield  # PostgreSQL: one event-loop turn already makes one batch
        return
    with sqlite_write_lock(parse_target(database_url).sqlite_path):
        yield


async def test_a_failing_login_leaves_its_batch_neighbours_intact(
    store: Store, login: Login, db: AsyncEngine, database_url: str
) -> None:
    await login(APP_A, "already-here")
    taken = login.last_session_id  # a second session with this id breaks the primary key
    batches_before = store.stats.batches
    async with writes_held(store, database_url):
        healthy = [asyncio.create_task(login(APP_B, f"neighbour-{n}")) for n in range(6)]
        failing = asyncio.create_task(login(APP_A, "already-here", session_id=taken))
        healthy += [asyncio.create_task(login(APP_B, f"neighbour-{n}")) for n in range(6, 12)]
        await asyncio.sleep(0)  # one turn: every task has handed its unit to the store
    results = await asyncio.gather(*healthy)
    with pytest.raises(WxLoginError, match="the database could not complete the request"):
        await failing

    # At most two transactions carried the 13 units (the writer may have taken the first
    # one before the rest queued up), so the failing unit shared its transaction.
    assert store.stats.batches - batches_before <= 2
    assert all(isinstance(result, LoginResult) for result in results)
    async with db.connect() as conn:
        neighbours = (
            await conn.execute(
                select(func.count()).select_from(sessions).where(sessions.c.appid == APP_B)
            )
        ).scalar_one()
        survivors = (await conn.execute(select(func.count()).select_from(identities))).scalar_one()
    assert neighbours == 12  # every neighbour's session committed
    assert survivors == 13  # and their identities, next to the first login's


async def test_fifty_concurrent_first_logins_of_one_user_in_two_processes(
    database_url: str, db: AsyncEngine, utc_now: datetime
) -> None:
    """Two stores (two worker processes' worth) race to create the same new user.

    One user results, every login gets a session, and no transaction deadlocked on the way
    (counted by the stores, not timed)."""
    workers = [Store.from_url(database_url) for _ in range(2)]
    await workers[0].migrate()
    try:

        async def first_login(store: Store) -> LoginResult:
            return await store.login(
                appid=APP_A,
                openid="the-new-user",
                unionid="the-union",
                session_id=new_id(16),
                session_key_enc=b"sealed",
                refresh_hash=new_hash(),
                expires_at=utc_now + timedelta(days=1),
                now=utc_now,
            )

        results = await asyncio.gather(*(first_login(workers[n % 2]) for n in range(50)))
        assert len({result.user.id for result in results}) == 1
        assert sum(result.new_user for result in results) == 1
        assert [store.stats.deadlock_retries for store in workers] == [0, 0]
        async with db.connect() as conn:
            assert (await conn.execute(select(func.count()).select_from(users))).scalar_one() == 1
            count = (await conn.execute(select(func.count()).select_from(sessions))).scalar_one()
        assert count == 50
    finally:
        for store in workers:
            await store.aclose()


def test_ids_never_begin_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter(["-starts-with-dash", "_underscore-is-fine"])
    monkeypatch.setattr("wxlogin.store.records.secrets.token_urlsafe", lambda n: next(draws))
    assert new_id(12) == "_underscore-is-fine"


def test_ids_are_long_and_distinct() -> None:
    ids = {new_id(12) for _ in range(5000)}
    assert len(ids) == 5000
    assert all(len(value) == 16 and not value.startswith("-") for value in ids)

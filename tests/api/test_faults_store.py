"""The fault matrix of ``POST /auth/refresh``: it never calls WeChat, so its faults are the
database's — real ones, made on the real backend of the run.

* SQLite: another process holds the write lock past the store's wait; a table the rotation
  writes is gone (a schema behind the code).
* PostgreSQL: a lock held past ``lock_timeout``; a statement past ``statement_timeout``; the
  request's own connection killed while it waits; every idle connection of the pool killed;
  a table or the batch function gone.

Each must answer a documented error (503 ``not_ready``: worth retrying), change no row — the
presented refresh token is not spent, so the client keeps its session — and, once the fault
is gone, the very same refresh token works.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

import wxlogin.store.sqlite
from tests.api.conftest import Harness
from tests.api.fault_support import Verdict, snapshots
from tests.support import eventually, sqlite_write_lock
from wxlogin.store.target import parse_target

TABLES = ("sessions", "used_refresh_tokens")
ROUTE = ("POST", "/auth/refresh")


def _with_settings(url: str, **settings: str) -> str:
    """``url`` with ``-c name=value`` server settings added to its ``options``."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    extra = " ".join(f"-c{name}={value}" for name, value in settings.items())
    query["options"] = f"{query.get('options', '')} {extra}".strip()
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


async def _pg(database_url: str) -> asyncpg.Connection[asyncpg.Record]:
    target = parse_target(database_url)
    conn: asyncpg.Connection[asyncpg.Record] = await asyncpg.connect(
        target.dsn, server_settings=dict(target.server_settings), timeout=5
    )
    return conn


@contextlib.asynccontextmanager
async def _pg_lock(database_url: str, table: str = "sessions") -> AsyncIterator[None]:
    """Another client holds ``table`` (a migration would) until the block ends."""
    conn = await _pg(database_url)
    try:
        async with conn.transaction():
            await conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            yield
    finally:
        await conn.close()


async def _renamed(database_url: str, kind: str, name: str, new: str) -> None:
    statement = f"ALTER {kind} {name} RENAME TO {new}"
    if database_url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(parse_target(database_url).sqlite_path)) as db:
            db.execute(statement)
        return
    conn = await _pg(database_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


class Refresher:
    """One user's refresh token, and the checks around one fault."""

    def __init__(self, h: Harness, db: AsyncEngine, verdict: Verdict) -> None:
        self.h, self.db, self.verdict = h, db, verdict
        self.token = ""

    async def start(self) -> None:
        self.token = (await self.h.login(f"refresher-{secrets.token_hex(3)}"))["refresh_token"]

    async def post(self) -> Any:
        return await self.h.http.post("/auth/refresh", json={"refresh_token": self.token})

    @contextlib.asynccontextmanager
    async def fault(self, name: str) -> AsyncIterator[Callable[[Any], None]]:
        """Inside: the fault is on; hand the answer to the callable. After: it is off, and
        the same token must work."""
        async with snapshots(self.db) as rows:
            before = await rows(TABLES)
            answers: list[Any] = []
            yield answers.append
            (response,) = answers
            got = self.verdict.error(name, response, *ROUTE)
            self.verdict.expect(name, got == (503, "not_ready"), f"answered {got}")
            self.verdict.unchanged(name, before, await rows(TABLES))
        again = await self.post()
        self.verdict.expect(name, again.status_code == 200, f"then {again.status_code}")
        if again.status_code == 200:
            self.token = again.json()["refresh_token"]


async def test_refresh_under_database_faults(
    harness_factory: Callable[..., Any],
    database_url: str,
    db: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first: Harness = await harness_factory()
    verdict = Verdict((await first.http.get("/openapi.json")).json())
    if database_url.startswith("sqlite"):
        # The store waits this long for another process's write lock (10 s in production).
        monkeypatch.setattr(wxlogin.store.sqlite, "LOCK_WAIT_MS", 200)
        r = Refresher(first, db, verdict)
        await r.start()
        await _sqlite_faults(r, database_url)
    else:
        r = Refresher(first, db, verdict)
        await r.start()
        await _postgresql_faults(r, harness_factory, database_url)
    await _missing(r, database_url)
    verdict.assert_clean()
    assert verdict.tried >= 2


async def _sqlite_faults(r: Refresher, database_url: str) -> None:
    async with r.fault("the write lock held by another process") as answer:
        with sqlite_write_lock(parse_target(database_url).sqlite_path):
            answer(await r.post())


async def _missing(r: Refresher, database_url: str) -> None:
    """The schema behind the code (a migration not run, a table dropped by hand)."""
    async with r.fault("a table the rotation writes is gone") as answer:
        await _renamed(database_url, "TABLE", "used_refresh_tokens", "used_gone")
        answer(await r.post())
        await _renamed(database_url, "TABLE", "used_gone", "used_refresh_tokens")
    if database_url.startswith("sqlite"):
        return
    async with r.fault("the batch function is gone") as answer:
        await _renamed(database_url, "FUNCTION", "wxlogin_rotate_batch", "rotate_gone")
        answer(await r.post())
        await _renamed(database_url, "FUNCTION", "rotate_gone", "wxlogin_rotate_batch")


async def _postgresql_faults(
    r: Refresher, harness_factory: Callable[..., Any], database_url: str
) -> None:
    waits = {"lock_timeout": "200ms", "statement_timeout": "0"}
    r.h = await harness_factory(database_url=_with_settings(database_url, **waits))
    async with r.fault("a lock held past lock_timeout") as answer, _pg_lock(database_url):
        answer(await r.post())
    waits = {"lock_timeout": "0", "statement_timeout": "200ms"}
    r.h = await harness_factory(database_url=_with_settings(database_url, **waits))
    async with r.fault("a statement past statement_timeout") as answer, _pg_lock(database_url):
        answer(await r.post())

    name = f"wxt-{secrets.token_hex(4)}"  # to find this app's connections, and only them
    r.h = await harness_factory(database_url=_with_settings(database_url, application_name=name))
    monitor = await _pg(database_url)
    mine = "SELECT pid FROM pg_stat_activity WHERE application_name = $1"
    kill = f"SELECT pg_terminate_backend(pid) FROM ({mine}) AS them"

    async def waiting() -> bool:
        return bool(await monitor.fetch(mine + " AND wait_event_type = 'Lock'", name))

    try:
        async with (
            r.fault("its connection killed while it waits") as answer,
            _pg_lock(database_url),
        ):
            request = asyncio.ensure_future(r.post())
            await eventually(waiting, "the refresh to wait for the lock")
            await monitor.execute(kill, name)
            answer(await request)
        # Every idle connection of the pool killed: the next request may notice on its own
        # connection (503) or be given a fresh one (200); either, never a 500.
        await monitor.execute(kill, name)
        response = await r.post()
        r.verdict.error("idle connections killed", response, *ROUTE)
        if response.status_code == 200:
            r.token = response.json()["refresh_token"]
        else:
            r.verdict.expect("idle connections killed", response.status_code == 503, "not 503")
            r.verdict.expect("then", (await r.post()).status_code == 200, "the token lost")
    finally:
        await monitor.close()

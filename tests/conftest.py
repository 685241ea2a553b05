"""Fixtures shared by the whole suite: the database and cache backends, and a UTC ``now``.

By default tests run on a fresh SQLite file and a ``MemoryCache``. Set
``WXLOGIN_TEST_DATABASE_URL`` (a PostgreSQL URL) and/or ``WXLOGIN_TEST_REDIS_URL`` to run the
same tests on PostgreSQL and Redis:

* PostgreSQL: each test gets its own empty schema (``CREATE SCHEMA wxt_<random>``), reached
  through a URL whose ``options=-csearch_path=...`` points every connection at it; the schema
  is dropped afterwards. Anything built from ``database_url`` (a ``Store``, an app, the CLI) is
  isolated without knowing about it.
* Redis: each test gets a ``RedisCache`` with a unique key prefix; its keys are deleted
  afterwards.

Every test runs with no ``WXLOGIN_*`` variable in its environment (``_no_wxlogin_env``), so
a developer's shell never changes a test's outcome. The two backend choices above are read
once, when this module is imported, before any test clears them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from wxlogin.cache.base import Cache
from wxlogin.cache.memory import MemoryCache
from wxlogin.cache.redis import RedisCache
from wxlogin.config import normalize_database_url, redact_url
from wxlogin.store.migrate import migration_engine
from wxlogin.store.repository import Store
from wxlogin.store.target import parse_target

# Read at import (collection), before ``_no_wxlogin_env`` clears them for each test: tests
# and fixtures take the backends from these constants, never from ``os.environ``.
TEST_DATABASE_URL = os.environ.get("WXLOGIN_TEST_DATABASE_URL") or None
TEST_REDIS_URL = os.environ.get("WXLOGIN_TEST_REDIS_URL") or None


@pytest.fixture(autouse=True)
def _no_wxlogin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every ``WXLOGIN_*`` variable for the test (restored afterwards).

    ``WXLOGIN_TEST_*`` goes too: the backend choice was captured above at import, and a
    process a test starts with a copy of ``os.environ`` then inherits no setting at all. A
    test that wants a setting sets it with ``monkeypatch.setenv``.
    """
    for name in list(os.environ):
        if name.startswith("WXLOGIN_"):
            monkeypatch.delenv(name)


def pytest_report_header(config: pytest.Config) -> list[str]:
    storage = f"PostgreSQL ({redact_url(TEST_DATABASE_URL)})" if TEST_DATABASE_URL else "SQLite"
    cache = f"Redis ({redact_url(TEST_REDIS_URL)})" if TEST_REDIS_URL else "memory"
    return [f"storage backend: {storage}; cache backend: {cache}"]


def _with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}', safe='')}"


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database for this test (not migrated)."""
    if TEST_DATABASE_URL is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'wxlogin.db'}"
        return
    base = normalize_database_url(TEST_DATABASE_URL)
    schema = f"wxt_{secrets.token_hex(6)}"
    admin = create_async_engine(base, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield _with_search_path(base, schema)
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        await admin.dispose()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A migrated ``Store`` on this test's database, closed afterwards."""
    opened = Store.from_url(database_url)
    try:
        await opened.migrate()
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
async def cache() -> AsyncIterator[Cache]:
    """A ``MemoryCache``, or a ``RedisCache`` under a unique prefix (cleaned afterwards)."""
    if TEST_REDIS_URL is None:
        memory = MemoryCache()
        yield memory
        await memory.aclose()
        return
    prefix = f"wxlogin-test:{secrets.token_hex(6)}:"
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    try:
        yield RedisCache(client, prefix=prefix)
        stale = [key async for key in client.scan_iter(match=f"{prefix}*", count=500)]
        if stale:
            await client.delete(*stale)
    finally:
        await client.aclose()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A SQLAlchemy engine on this test's database, to look at (or tamper with) rows behind
    the store's back. The store itself does not use SQLAlchemy at run time."""
    target = parse_target(database_url)
    engine = (
        create_async_engine(f"sqlite+aiosqlite:///{target.sqlite_path}", poolclass=NullPool)
        if target.backend == "sqlite"
        else migration_engine(target)
    )
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def utc_now() -> datetime:
    """A fixed, aware UTC ``now`` for the test (the store takes ``now`` from its caller)."""
    return datetime.now(UTC)

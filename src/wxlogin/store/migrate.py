"""Alembic, configured in code: no alembic.ini, works from an installed package.

The schema is the one place SQLAlchemy is still used: ``tables.py`` describes it and Alembic
migrates it, through a connection opened for the purpose and closed after — SQLite's own
``sqlite3`` driver (in a worker thread), or asyncpg on PostgreSQL. Nothing at run time goes
through SQLAlchemy.

Concurrency: Alembic keeps its state in process-wide globals, so in-process migrations run one
at a time (a lock); across processes, SQLite's ``BEGIN IMMEDIATE`` and PostgreSQL's advisory
lock make the second migrator wait and then find the work done.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, event, text
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from wxlogin.errors import WxLoginError
from wxlogin.store.failures import map_db_error
from wxlogin.store.tables import metadata
from wxlogin.store.target import DatabaseTarget

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "head_revision",
    "migration_engine",
    "read_revision",
    "run_upgrade",
    "schema_differences",
    "sqlite_engine",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Advisory lock key held while migrating PostgreSQL, so two workers never migrate at once.
_MIGRATION_LOCK_KEY: Final = 0x77786C6F67696E  # "wxlogin"
SQLITE_BUSY_TIMEOUT_MS: Final = 10_000
PG_CONNECT_TIMEOUT: Final = 5.0
_ALEMBIC = threading.Lock()
T = TypeVar("T")


def alembic_config(url: str | None = None) -> Config:
    """An Alembic ``Config`` pointing at the packaged migrations (``url`` for the CLI tool)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolation: a literal % must be doubled.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of wxlogin."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Migrate the database behind ``connection`` (already in a transaction) to ``revision``."""
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    return MigrationContext.configure(connection).get_current_revision()


def schema_differences(connection: Connection) -> list[Any]:
    """What Alembic autogenerate would change to make the database match ``tables.py``."""
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


# ------------------------------------------------------------------ engines for migrating


def sqlite_engine(url: str) -> Engine:
    """A sync SQLAlchemy engine on SQLite whose transactions take the write lock up front."""
    engine = create_sync_engine(url, poolclass=NullPool, hide_parameters=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module (it would defer it, and skip it for DDL).
        dbapi_connection.isolation_level = None
        # busy_timeout first: switching a fresh file to WAL takes a lock, and several
        # processes migrating at once must wait for it rather than fail "database is locked".
        for pragma in (
            f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
        ):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def migration_engine(target: DatabaseTarget) -> AsyncEngine:
    """An async SQLAlchemy engine on PostgreSQL (asyncpg), opened for one migration."""
    connect_args: dict[str, Any] = {"timeout": PG_CONNECT_TIMEOUT}
    if target.server_settings:
        connect_args["server_settings"] = dict(target.server_settings)
    return create_async_engine(
        target.migration_url, poolclass=NullPool, hide_parameters=True, connect_args=connect_args
    )


async def run_upgrade(target: DatabaseTarget) -> None:
    """Bring ``target`` to the newest revision; a wxlogin error on failure."""
    try:
        if target.backend == "sqlite":
            await asyncio.to_thread(_sqlite_upgrade, target.migration_url)
            return
        engine = migration_engine(target)
        try:
            async with engine.begin() as conn:
                # Workers starting together: one migrates, the rest wait and find it done.
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
                await conn.run_sync(upgrade)
        finally:
            await engine.dispose()
    except (DBAPIError, OSError) as error:
        raise _mapped(error, target) from error


async def read_revision(target: DatabaseTarget) -> str | None:
    """The revision ``target`` is at, or None before the first migration."""
    try:
        if target.backend == "sqlite":
            return await asyncio.to_thread(_sqlite_revision, target.migration_url)
        engine = migration_engine(target)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(current_revision)
        finally:
            await engine.dispose()
    except (DBAPIError, OSError) as error:
        raise _mapped(error, target) from error


def _sqlite_upgrade(url: str) -> None:
    def attempt() -> None:
        engine = sqlite_engine(url)
        try:
            with _ALEMBIC, engine.begin() as conn:
                upgrade(conn)
        finally:
            engine.dispose()

    _while_locked(attempt)


def _sqlite_revision(url: str) -> str | None:
    def attempt() -> str | None:
        engine = sqlite_engine(url)
        try:
            with engine.connect() as conn:
                return current_revision(conn)
        finally:
            engine.dispose()

    return _while_locked(attempt)


def _while_locked(attempt: Callable[[], T]) -> T:
    """Run ``attempt`` again while another process holds SQLite's locks.

    The busy timeout covers most waits, but not all: when two connections would each wait for
    the other (one switching a fresh file to WAL while another reads it), SQLite answers
    "database is locked" at once rather than deadlock. Starting over is then the fix.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            return attempt()
        except OperationalError as error:
            text = str(error.orig).lower()
            if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                raise
        time.sleep(random.uniform(0.02, 0.1))  # noqa: S311 - jitter, not a secret


def _mapped(error: BaseException, target: DatabaseTarget) -> WxLoginError:
    original = error.orig if isinstance(error, DBAPIError) and error.orig is not None else error
    return map_db_error(original, where=target.display)

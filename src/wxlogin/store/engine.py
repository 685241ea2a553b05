"""Engines tuned per backend, and the one place database errors become wxlogin errors.

SQLite (the embedded default): WAL so readers never wait for the writer, ``synchronous=NORMAL``
(durable at checkpoints, fast commits), a busy timeout, foreign keys on. SQLite has a single
writer, so write transactions start with ``BEGIN IMMEDIATE`` (they queue for the write lock up
front instead of failing with "database is locked" when upgrading a read lock); the ``Store``
also serialises its own writers in-process so they queue on an ``asyncio.Lock`` rather than in
SQLite's sleeping busy handler.

PostgreSQL: asyncpg with a modest pool and no pre-ping (a dead connection fails one request
and is replaced; pinging would add a round trip to every checkout on the login path). A
libpq-style ``options=-csearch_path=...`` query parameter is honoured, so a URL can point at
one schema (tests use a schema per test).
"""

from __future__ import annotations

import shlex
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final, TypeAlias

import aiosqlite
from sqlalchemy import event, exc
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from wxlogin.config import ensure_private_dir, normalize_database_url, redact_url
from wxlogin.errors import ConfigurationError, NotReady, WxLoginError

__all__ = [
    "AUTOCOMMIT_READ_OPTION",
    "WRITE_OPTION",
    "create_engine",
    "describe_url",
    "map_db_error",
]

# Execution option marking an engine whose transactions write (SQLite: BEGIN IMMEDIATE).
WRITE_OPTION: Final = "wxlogin_write"
# Execution option for reads that need no transaction (SQLite: no BEGIN at all, each
# statement is atomic on its own; saves three round trips to aiosqlite's thread).
AUTOCOMMIT_READ_OPTION: Final = "wxlogin_autocommit_read"
SQLITE_BUSY_TIMEOUT_MS: Final = 10_000
PG_POOL_SIZE: Final = 10
PG_MAX_OVERFLOW: Final = 20
PG_CONNECT_TIMEOUT: Final = 5.0


def create_engine(url: str) -> AsyncEngine:
    """An ``AsyncEngine`` for a ``sqlite+aiosqlite`` or ``postgresql+asyncpg`` URL."""
    parsed = make_url(normalize_database_url(url))
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        return _postgresql_engine(parsed)
    raise ConfigurationError(
        f"database_url: unsupported database {backend!r} (use sqlite or postgresql)"
    )


def describe_url(url: str | URL) -> str:
    """The URL with its password masked, for messages and CLI output."""
    text = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
    return redact_url(text)


def _sqlite_engine(url: URL) -> AsyncEngine:
    database = url.database or ""
    if database in ("", ":memory:") or "mode=memory" in str(url.query):
        raise ConfigurationError(
            "database_url: in-memory SQLite is not supported (every pooled connection would "
            "see its own empty database); use a file"
        )
    if not database.startswith("file:"):
        ensure_private_dir(Path(database).expanduser().resolve().parent)
    engine = create_async_engine(url, hide_parameters=True, module=_ONE_HOP_AIOSQLITE)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 module (it would defer it and skip it for DDL);
        # the "begin" hook below emits the right kind.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get(WRITE_OPTION, False):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif not options.get(AUTOCOMMIT_READ_OPTION, False):
            connection.exec_driver_sql("BEGIN")

    return engine


# ------------------------------------------------------------------ aiosqlite, one hop each
#
# aiosqlite runs every call on the connection's own thread and SQLAlchemy's adapter makes four
# calls per statement (cursor, execute, fetchall, close): four thread round trips, ~100 us of
# event-loop CPU each. The adapter below runs a whole statement (cursor, execute, fetch every
# row, close) as one call on that thread, and skips COMMIT/ROLLBACK round trips when SQLite has
# no transaction open (sqlite3 would do nothing then anyway: the pool's reset-on-return and the
# end of an autocommit read). It relies on ``aiosqlite.Connection._execute``/``_conn``, as
# SQLAlchemy's own adapter does (``_tx``/``_conn``); aiosqlite is pinned in pyproject.toml.


# description, rows (None when the statement returns none), rowcount, lastrowid
_Outcome: TypeAlias = tuple[Any, list[Any] | None, int, int | None]


def _run_statement(
    conn: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> _Outcome:
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class _StatementResult:
    """What is left of a sqlite3 cursor after ``_run_statement``: its attributes."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self) -> None:
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1


class _OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def _make_new_cursor(self, connection: Any) -> Any:
        return _StatementResult()

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor

    async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
            run: Callable[..., Awaitable[_Outcome]] = connection._execute
            description, rows, rowcount, lastrowid = await run(
                _run_statement, connection._conn, operation, parameters, many
            )
        state: _StatementResult = self._cursor  # type: ignore[assignment]
        state.description = description
        state.rowcount = rowcount
        state.lastrowid = lastrowid
        self._rows = deque(rows) if rows is not None else deque()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._run(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._run(operation, seq_of_parameters, True)

    async def _async_soft_close(self) -> None:
        return None  # the sqlite3 cursor is already closed; the rows are kept

    def close(self) -> None:
        self._rows.clear()

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None

    def nextset(self) -> None:
        return None


class _OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    _cursor_cls = _OneHopCursor

    def _in_transaction(self) -> bool:
        # sqlite3_get_autocommit(): a flag read, as aiosqlite's own ``in_transaction`` does
        # from the event loop; the connection is checked out, so its thread is idle here.
        connection = self._connection._connection
        return connection is not None and connection.in_transaction

    def rollback(self) -> None:
        if self._in_transaction():
            super().rollback()

    def commit(self) -> None:
        if self._in_transaction():
            super().commit()


class _OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        return _OneHopConnection(self, adapted._connection)


_ONE_HOP_AIOSQLITE: Final = _OneHopDBAPI(aiosqlite, sqlite3)


def _postgresql_engine(url: URL) -> AsyncEngine:
    query = dict(url.query)
    server_settings: dict[str, str] = {}
    options = query.pop("options", None)
    if options is not None:
        server_settings.update(_parse_pg_options(options if isinstance(options, str) else ""))
    connect_args: dict[str, Any] = {"timeout": PG_CONNECT_TIMEOUT}
    if server_settings:
        connect_args["server_settings"] = server_settings
    return create_async_engine(
        url.set(query=query),
        hide_parameters=True,
        pool_size=PG_POOL_SIZE,
        max_overflow=PG_MAX_OVERFLOW,
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args=connect_args,
    )


def _parse_pg_options(options: str) -> dict[str, str]:
    """``-c name=value`` pairs of a libpq ``options`` string, as asyncpg server settings."""
    settings: dict[str, str] = {}
    words = shlex.split(options)
    index = 0
    while index < len(words):
        word = words[index]
        if word == "-c" and index + 1 < len(words):
            index += 1
            word = words[index]
        elif word.startswith("-c") or word.startswith("--"):
            word = word[2:]
        else:
            raise ConfigurationError("database_url: only -c name=value is supported in options")
        name, sep, value = word.partition("=")
        if not sep:
            raise ConfigurationError("database_url: options must be -c name=value")
        settings[name.replace("-", "_")] = value
        index += 1
    return settings


# --------------------------------------------------------------------------- errors

# SQLite's words, and PostgreSQL's SQLSTATEs (undefined_table, undefined_column), for a
# database that was never migrated or is behind.
_MISSING_SCHEMA_TEXT = ("no such table", "no such column")
_MISSING_SCHEMA_SQLSTATES = frozenset({"42P01", "42703"})


def map_db_error(error: BaseException, *, url: str) -> WxLoginError:
    """The wxlogin error for a database failure.

    Unreachable, locked or unmigrated databases are ``NotReady`` (503, retryable); anything
    else is an internal error. The message names the database (password masked) and the
    driver's exception class, never the statement's parameters: the engine is created with
    ``hide_parameters`` too, so chained exceptions do not carry them either.
    """
    where = describe_url(url)
    if isinstance(error, exc.TimeoutError):
        return NotReady(f"no free database connection to {where} (pool exhausted)")
    if isinstance(error, OSError):
        return NotReady(f"cannot connect to the database at {where} ({_os_reason(error)})")
    if isinstance(error, exc.DBAPIError):
        original = error.orig
        kind = type(original).__name__ if original is not None else type(error).__name__
        text = str(original).lower() if original is not None else ""
        sqlstate = getattr(original, "sqlstate", None)
        if sqlstate in _MISSING_SCHEMA_SQLSTATES or any(m in text for m in _MISSING_SCHEMA_TEXT):
            return NotReady(
                f"the database at {where} has no wxlogin schema or an old one; "
                "run `wxlogin db upgrade`"
            )
        if "locked" in text or "busy" in text:
            return NotReady(f"the SQLite database at {where} stayed locked by another writer")
        if isinstance(original, OSError):
            return NotReady(f"cannot connect to the database at {where} ({_os_reason(original)})")
        if isinstance(error, (exc.OperationalError, exc.InterfaceError)) or (
            error.connection_invalidated
        ):
            return NotReady(f"the database at {where} is unavailable ({kind})")
        return WxLoginError(f"database error from {where} ({kind})")
    return WxLoginError(f"database error from {where} ({type(error).__name__})")


def _os_reason(error: OSError) -> str:
    return error.strerror or type(error).__name__

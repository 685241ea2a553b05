"""Alembic environment for wxlogin.

Normally Alembic is driven by ``wxlogin.store.migrate``, which hands over an open (sync-facing)
connection in ``config.attributes["connection"]``: the migration runs inside the caller's
transaction, on the caller's engine with its SQLite pragmas and locks, and no alembic.ini is
needed. Run as the ``alembic`` command instead (``sqlalchemy.url`` set in an ini file), it
makes its own engine (sqlite3, or asyncpg driven with ``asyncio.run``).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from wxlogin.store.migrate import migration_engine, sqlite_engine
from wxlogin.store.tables import metadata
from wxlogin.store.target import parse_target

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        # SQLite can only ALTER a few things; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def run_with_connection(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


def _run_on_url(url: str) -> None:
    target = parse_target(url)
    if target.backend == "sqlite":
        engine = sqlite_engine(target.migration_url)
        try:
            with engine.begin() as connection:
                run_with_connection(connection)
        finally:
            engine.dispose()
    else:
        asyncio.run(_run_async(migration_engine(target)))


async def _run_async(engine: AsyncEngine) -> None:
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_with_connection)
    finally:
        await engine.dispose()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (shared := config.attributes.get("connection")) is not None:
    run_with_connection(shared)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url, or run migrations with `wxlogin db upgrade`")
    _run_on_url(url)

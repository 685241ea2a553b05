"""Migrations build exactly tables.py, run idempotently, and work without an alembic.ini."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from wxlogin.store import migrate as migrations
from wxlogin.store.repository import Store
from wxlogin.store.tables import metadata
from wxlogin.store.target import parse_target


async def test_migrated_schema_matches_tables(store: Store, db: AsyncEngine) -> None:
    async with db.connect() as conn:
        differences = await conn.run_sync(migrations.schema_differences)
    assert differences == []


async def test_an_empty_database_differs_from_tables(database_url: str, db: AsyncEngine) -> None:
    """The comparison above can fail: on an unmigrated database it reports every table."""
    store = Store.from_url(database_url)
    try:
        async with db.connect() as conn:
            differences = await conn.run_sync(migrations.schema_differences)
    finally:
        await store.aclose()
    added = {diff[1].name for diff in differences if diff[0] == "add_table"}
    assert added == set(metadata.tables)


async def test_migrate_is_idempotent_and_reports_the_revision(
    database_url: str, db: AsyncEngine
) -> None:
    store = Store.from_url(database_url)
    try:
        assert await store.current_revision() is None
        await store.migrate()
        head = migrations.head_revision()
        assert await store.current_revision() == head == "0007"  # the newest one shipped
        await store.migrate()
        assert await store.current_revision() == head
        async with db.connect() as conn:
            tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert tables == {*metadata.tables, "alembic_version"}
    finally:
        await store.aclose()


async def test_concurrent_migrations(database_url: str) -> None:
    """Workers starting together each run migrate(); one does the work, none fails."""
    stores = [Store.from_url(database_url) for _ in range(3)]
    try:
        await asyncio.gather(*(s.migrate() for s in stores))
        assert {await s.current_revision() for s in stores} == {migrations.head_revision()}
    finally:
        for s in stores:
            await s.aclose()


async def test_downgrade_removes_everything(store: Store, db: AsyncEngine) -> None:
    async with db.begin() as conn:
        await conn.run_sync(lambda sync: _downgrade(sync))
        tables = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert tables <= {"alembic_version"}


def _downgrade(connection: object) -> None:
    from alembic import command

    config = migrations.alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, "base")


def test_migrations_are_packaged_without_an_ini() -> None:
    assert (migrations.MIGRATIONS_DIR / "env.py").is_file()
    assert (migrations.MIGRATIONS_DIR / "script.py.mako").is_file()
    assert not list(migrations.MIGRATIONS_DIR.glob("*.ini"))


def test_alembic_command_line_tool_works_with_the_env(tmp_path: Path) -> None:
    """The packaged env.py also serves developers running `alembic` with their own ini."""
    db = tmp_path / "cli.db"
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        "[alembic]\n"
        f"script_location = {migrations.MIGRATIONS_DIR}\n"
        f"sqlalchemy.url = sqlite+aiosqlite:///{db}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "head"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    current = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ini), "current"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert migrations.head_revision() in current.stdout


def test_several_processes_migrating_a_fresh_database_at_once(database_url: str) -> None:
    """Workers of several machines (or a restart storm) all run `db upgrade` on one new
    database: one migrates, the others wait and find it done; none fails.

    On SQLite the switch of a fresh file to WAL needs a lock. The test holds an exclusive lock
    on a fresh (rollback-journal) file while the processes start, so each of them meets a
    locked database: they must wait for it (still running after 3 s), not fail "database is
    locked".
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("WXLOGIN_")}
    env["WXLOGIN_DATABASE_URL"] = database_url
    target = parse_target(database_url)
    blocker = None
    if target.backend == "sqlite":
        blocker = sqlite3.connect(target.sqlite_path, isolation_level=None)
        blocker.execute("CREATE TABLE fresh_file_marker (x)")  # a real, non-WAL file
        blocker.execute("BEGIN EXCLUSIVE")
    try:
        processes = [
            subprocess.Popen(
                [sys.executable, "-m", "wxlogin.cli", "db", "upgrade"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(6)
        ]
        if blocker is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                processes[0].wait(timeout=3)
            gave_up = [p.returncode for p in processes if p.poll() is not None]
            assert not gave_up, "a migrator gave up on the locked database instead of waiting"
    finally:
        if blocker is not None:
            blocker.execute("COMMIT")
            blocker.close()
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert migrations.head_revision() in out

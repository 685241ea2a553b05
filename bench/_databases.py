"""The databases behind wxlogin in the side-by-side bench: a throwaway PostgreSQL schema, an
empty Redis db, and counting what a run stored (so the numbers are of durable logins)."""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
from pathlib import Path
from typing import Any

from _loadgen import run_loop

PG_CONNECT_TIMEOUT_S = 5.0
REDIS_DBS = range(15, 0, -1)  # db 0 is the test suite's (it uses key prefixes there)


def _dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _pg_fetch(url: str, *statements: str) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(_dsn(url), timeout=PG_CONNECT_TIMEOUT_S)
    try:
        return [await conn.fetchval(statement) for statement in statements]
    finally:
        await conn.close()


def pg_version(url: str) -> str | None:
    """The server's version string, or None when it cannot be reached."""
    try:
        return str(run_loop(_pg_fetch(url, "SHOW server_version"))[0])
    except Exception:  # unreachable, refused, no such database: all mean 'not here'
        return None


class PgSchema:
    """A fresh schema in the bench database, for one wxlogin contender; dropped on close."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = f"bench_{secrets.token_hex(6)}"
        run_loop(_pg_fetch(url, f'CREATE SCHEMA "{self.name}"'))

    def service_url(self) -> str:
        # wxlogin honours libpq's options=-csearch_path=... (tests use it the same way).
        return f"{self.url}?options=-csearch_path%3D{self.name}"

    def counts(self) -> tuple[int, int]:
        users, sessions = run_loop(
            _pg_fetch(
                self.url,
                f'SELECT count(*) FROM "{self.name}".users',
                f'SELECT count(*) FROM "{self.name}".sessions',
            )
        )
        return int(users), int(sessions)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            run_loop(_pg_fetch(self.url, f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))


def sqlite_counts(path: Path) -> tuple[int, int]:
    # Read-only, next to the running service: WAL lets a reader in while it writes.
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        users = db.execute("SELECT count(*) FROM users").fetchone()[0]
        sessions = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
    return int(users), int(sessions)


class RedisDb:
    """An empty Redis database (the highest-numbered one found empty), emptied again on close.

    wxlogin has no setting for its key prefix, so a database of its own keeps the bench's keys
    apart from the test suite's (db 0, under random prefixes).
    """

    def __init__(self, base_url: str) -> None:
        import redis

        self.base_url = base_url.rstrip("/")
        self.version = ""
        for db in REDIS_DBS:
            client = redis.Redis.from_url(f"{self.base_url}/{db}", socket_timeout=5)
            if client.dbsize() == 0:
                self.db, self.client = db, client
                self.version = str(client.info("server").get("redis_version", ""))
                return
            client.close()
        raise RuntimeError("no empty Redis database (1-15) to use")

    def service_url(self) -> str:
        return f"{self.base_url}/{self.db}"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            keys = list(self.client.scan_iter(count=1000))
            for start in range(0, len(keys), 1000):
                self.client.delete(*keys[start : start + 1000])
        self.client.close()


def redis_reachable(base_url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(base_url.rstrip("/") + "/0", socket_timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (OSError, redis.RedisError):
        return False

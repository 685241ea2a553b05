"""Helpers for the tests that run real processes and sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import asyncpg
import pytest

from wxlogin.store.target import parse_target

# The PostgreSQL the suites use: the one named for the backend pass, else the local default.
POSTGRES_URL = (
    os.environ.get("WXLOGIN_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
)


def run_wxlogin(
    *args: str, env: dict[str, str] | None = None, cwd: Path | str | None = None
) -> subprocess.CompletedProcess[str]:
    """The ``wxlogin`` command as a real process, its output captured (a minute at most)."""
    return subprocess.run(
        [sys.executable, "-m", "wxlogin.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def spawn(
    args: list[str],
    log: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    append: bool = False,
    start_new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``args`` with stdout and stderr going to the file ``log``. The child holds its own
    descriptor of the file; this process closes its handle at once, rather than leaving an
    open file to the garbage collector (a ResourceWarning, an error in this suite)."""
    with log.open("ab" if append else "wb") as out:
        return subprocess.Popen(
            args,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=start_new_session,
        )


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any ``WXLOGIN_*`` setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WXLOGIN_")}
    return env | settings


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process, then wait for all (20 s each, then kill): a clean shutdown first,
    so that their logs and databases are whole when the test reads them."""
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], bool],
    what: str,
    *,
    timeout: float = 30.0,
    ignore: tuple[type[BaseException], ...] = (),
) -> None:
    """Poll ``check`` every 0.1 s until it is true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ignore:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def eventually(
    check: Callable[[], object],
    what: str,
    *,
    timeout: float = 10.0,
    ignore: tuple[type[BaseException], ...] = (),
) -> None:
    """Await ``check()`` (plain or a coroutine) every 20 ms until it is true, for what happens
    out of the test's sight (a message through Redis, a background task, a server coming
    back); fail naming ``what`` after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            outcome = check()
            if asyncio.iscoroutine(outcome):
                outcome = await outcome
            if outcome:
                return
        except ignore:
            pass
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.contextmanager
def sqlite_write_lock(path: str) -> Iterator[None]:
    """Hold SQLite's write lock, as another process writing would, until the block ends."""
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        yield
        blocker.execute("COMMIT")
    finally:
        blocker.close()


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A database URL whose connections see a fresh, empty schema; the schema is dropped after.

    For tests that need PostgreSQL whatever backend the run is on (several worker processes
    need it). Skips when PostgreSQL does not answer, except under CI, where that fails.
    """
    dsn = parse_target(POSTGRES_URL).dsn
    schema = f"wxt_{secrets.token_hex(6)}"

    async def run(statement: str) -> None:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    try:
        asyncio.run(run(f'CREATE SCHEMA "{schema}"'))
    except (OSError, asyncpg.PostgresError) as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL is not reachable ({type(error).__name__})")
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}', safe='')}"
    finally:
        asyncio.run(run(f'DROP SCHEMA "{schema}" CASCADE'))

"""Kill -9 in the middle of batches: no login that was answered 200 is lost.

A real ``wxlogin serve`` (SQLite with one process; PostgreSQL with two workers) takes logins
from 32 concurrent clients; once enough have been answered, the whole process group gets
SIGKILL while requests are in flight. Every session whose tokens reached a client must then
be in the database: the store answers a login only after the transaction that carried it
has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx2
import pytest

from tests import support
from tests.support import free_port, postgres_schema
from wxlogin.store.target import parse_target

pytestmark = pytest.mark.socket

APPID = "wx1234567890abcdef"
SECRET = "durability-secret-0123456789"
CLIENTS = 32
ANSWERED_BEFORE_KILL = 200


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'wxlogin.db'}"
    else:
        with postgres_schema() as url:
            yield url


def start(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "wxlogin.cli", *args],
        env=env,
        cwd=cwd,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the kill reaches every worker
    )


def stop(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)


async def hammer(
    api: str, codes: list[str], service: subprocess.Popen[bytes]
) -> tuple[set[str], int]:
    """Log in with every code from CLIENTS tasks; SIGKILL the service mid-stream.

    Returns the session ids of the logins answered 200, and how many requests were in flight
    when the kill was sent.
    """
    answered: set[str] = set()
    in_flight = 0
    in_flight_at_kill = -1
    queue = list(reversed(codes))

    async def client(http: httpx2.AsyncClient) -> None:
        nonlocal in_flight, in_flight_at_kill
        while queue and in_flight_at_kill < 0:
            code = queue.pop()
            in_flight += 1
            try:
                response = await http.post(f"{api}/auth/login", json={"code": code})
            except httpx2.TransportError:
                return  # the server is gone
            finally:
                in_flight -= 1
            if response.status_code == 200:
                # The refresh token is "<session id>.<secret>".
                answered.add(response.json()["refresh_token"].partition(".")[0])
            if len(answered) >= ANSWERED_BEFORE_KILL and in_flight_at_kill < 0:
                in_flight_at_kill = in_flight
                os.killpg(service.pid, signal.SIGKILL)

    limits = httpx2.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx2.AsyncClient(timeout=30, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(CLIENTS)))
    return answered, in_flight_at_kill


async def stored_sessions(database_url: str) -> set[str]:
    target = parse_target(database_url)
    if target.backend == "sqlite":
        with contextlib.closing(sqlite3.connect(target.sqlite_path)) as conn:
            return {row[0] for row in conn.execute("SELECT id FROM sessions")}
    conn = await asyncpg.connect(
        target.dsn, server_settings=dict(target.server_settings), timeout=5
    )
    try:
        return {row["id"] for row in await conn.fetch("SELECT id FROM sessions")}
    finally:
        await conn.close()


async def test_sigkill_mid_batch_loses_no_answered_login(database_url: str, tmp_path: Path) -> None:
    sim_port, api_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WXLOGIN_")} | {
        "WXLOGIN_APPS": f"{APPID}:{SECRET}",
        "WXLOGIN_DATA_DIR": str(tmp_path / "data"),
        "WXLOGIN_DATABASE_URL": database_url,
        "WXLOGIN_WECHAT_BASE_URL": f"http://127.0.0.1:{sim_port}",
        "WXLOGIN_LOGIN_RATE_LIMIT_PER_IP": "0",
        "WXLOGIN_LOGIN_RATE_LIMIT_PER_APP": "0",
        "WXLOGIN_SESSION_KEY_ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    }
    workers = "1" if database_url.startswith("sqlite") else "2"
    sim = start(
        ["simulate", "--port", str(sim_port), "--app", f"{APPID}:{SECRET}"],
        env,
        tmp_path,
        tmp_path / "sim.log",
    )
    service = start(
        ["serve", "--port", str(api_port), "--workers", workers],
        env,
        tmp_path,
        tmp_path / "serve.log",
    )
    sim_url, api = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{api_port}"
    try:
        ignore = (httpx2.TransportError,)
        support.wait_until(
            lambda: httpx2.get(f"{sim_url}/__sim/health").is_success, "simulator", ignore=ignore
        )
        support.wait_until(
            lambda: httpx2.get(f"{api}/readyz").is_success, "wxlogin serve", ignore=ignore
        )
        with httpx2.Client(base_url=sim_url) as http:
            codes = [
                http.post("/__sim/login", json={"appid": APPID, "user": f"u{n}"}).json()["code"]
                for n in range(3 * ANSWERED_BEFORE_KILL)
            ]
        answered, in_flight_at_kill = await hammer(api, codes, service)
    finally:
        stop(service, signal.SIGKILL)
        stop(sim, signal.SIGTERM)

    assert len(answered) >= ANSWERED_BEFORE_KILL
    assert in_flight_at_kill > 0, "the kill must land while logins are being processed"
    stored = await stored_sessions(database_url)
    lost = answered - stored
    assert not lost, f"{len(lost)} logins answered 200 are not in the database"

"""Kill -9 in the middle of batches: no login or refresh that was answered is lost.

A real ``wxlogin serve`` (SQLite with one process; PostgreSQL with two workers) takes logins
and refreshes from 32 concurrent clients; once enough logins have been answered, the whole
process group gets SIGKILL while requests are in flight. Then:

* every session whose tokens reached a client is in the database (the store answers only
  after the transaction that carried the request has committed);
* on SQLite the file passes ``PRAGMA integrity_check`` and ``foreign_key_check``;
* ``wxlogin serve`` starts again on the same database, and every client's latest refresh
  token works there — including a refresh that committed but whose answer the kill swallowed,
  which the client retries inside the grace window — and a new login succeeds.
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
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx2
import pytest

from tests import support
from tests.support import free_port, postgres_schema, spawn
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
    return spawn(
        [sys.executable, "-m", "wxlogin.cli", *args],
        log,
        env=env,
        cwd=cwd,
        append=True,
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


@dataclass
class Load:
    """What the clients were told: each session's latest refresh token, and the kill."""

    latest: dict[str, str] = field(default_factory=dict)  # session id -> refresh token
    refreshed: int = 0
    in_flight: int = 0
    in_flight_at_kill: int = -1


async def hammer(api: str, codes: list[str], service: subprocess.Popen[bytes]) -> Load:
    """CLIENTS tasks log in with the codes, each refreshing what it was given once; SIGKILL
    the service once ANSWERED_BEFORE_KILL logins have been answered."""
    load = Load()
    queue = list(reversed(codes))

    async def post(http: httpx2.AsyncClient, path: str, body: dict[str, str]) -> httpx2.Response:
        load.in_flight += 1
        try:
            return await http.post(f"{api}{path}", json=body)
        finally:
            load.in_flight -= 1

    async def client(http: httpx2.AsyncClient) -> None:
        while queue and load.in_flight_at_kill < 0:
            try:
                response = await post(http, "/auth/login", {"code": queue.pop()})
                if response.status_code != 200:
                    continue
                token = response.json()["refresh_token"]
                session = token.partition(".")[0]  # a refresh token is "<session id>.<secret>"
                load.latest[session] = token
                if len(load.latest) >= ANSWERED_BEFORE_KILL and load.in_flight_at_kill < 0:
                    load.in_flight_at_kill = load.in_flight
                    os.killpg(service.pid, signal.SIGKILL)
                    return
                response = await post(http, "/auth/refresh", {"refresh_token": token})
                if response.status_code == 200:
                    load.latest[session] = response.json()["refresh_token"]
                    load.refreshed += 1
            except httpx2.TransportError:
                return  # the server is gone

    limits = httpx2.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx2.AsyncClient(timeout=30, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(CLIENTS)))
    return load


async def stored_sessions(database_url: str) -> set[str]:
    target = parse_target(database_url)
    if target.backend == "sqlite":
        with contextlib.closing(sqlite3.connect(target.sqlite_path)) as db:
            return {row[0] for row in db.execute("SELECT id FROM sessions")}
    conn = await asyncpg.connect(
        target.dsn, server_settings=dict(target.server_settings), timeout=5
    )
    try:
        return {row["id"] for row in await conn.fetch("SELECT id FROM sessions")}
    finally:
        await conn.close()


def sqlite_checks(database_url: str) -> tuple[list[str], list[tuple[object, ...]]]:
    """``PRAGMA integrity_check`` (``["ok"]`` when whole) and ``foreign_key_check`` (empty)."""
    with contextlib.closing(sqlite3.connect(parse_target(database_url).sqlite_path)) as db:
        integrity = [str(row[0]) for row in db.execute("PRAGMA integrity_check")]
        dangling = [tuple(row) for row in db.execute("PRAGMA foreign_key_check")]
    return integrity, dangling


async def test_sigkill_mid_batch_loses_nothing_answered(database_url: str, tmp_path: Path) -> None:
    sim_port, api_port = free_port(), free_port()
    env = support.clean_env(
        WXLOGIN_APPS=f"{APPID}:{SECRET}",
        WXLOGIN_DATA_DIR=str(tmp_path / "data"),
        WXLOGIN_DATABASE_URL=database_url,
        WXLOGIN_WECHAT_BASE_URL=f"http://127.0.0.1:{sim_port}",
        WXLOGIN_LOGIN_RATE_LIMIT_PER_IP="0",
        WXLOGIN_LOGIN_RATE_LIMIT_PER_APP="0",
        WXLOGIN_SESSION_KEY_ENCRYPTION_KEY="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        # A refresh the kill cut off after its commit is retried after the restart: inside
        # the window it gets the same successor. The longest window, so a slow restart on a
        # busy machine cannot turn that retry into a reuse.
        WXLOGIN_REFRESH_REUSE_GRACE="300",
    )
    sqlite = database_url.startswith("sqlite")
    serve = ["serve", "--port", str(api_port), "--workers", "1" if sqlite else "2"]
    sim = start(
        ["simulate", "--port", str(sim_port), "--app", f"{APPID}:{SECRET}"],
        env,
        tmp_path,
        tmp_path / "sim.log",
    )
    service = start(serve, env, tmp_path, tmp_path / "serve.log")
    sim_url, api = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{api_port}"

    def ready(url: str, what: str) -> None:
        support.wait_until(
            lambda: httpx2.get(url).is_success, what, ignore=(httpx2.TransportError,)
        )

    try:
        ready(f"{sim_url}/__sim/health", "the simulator")
        ready(f"{api}/readyz", "wxlogin serve")
        with httpx2.Client(base_url=sim_url) as http:
            codes = [
                http.post("/__sim/login", json={"appid": APPID, "user": f"u{n}"}).json()["code"]
                for n in range(2 * ANSWERED_BEFORE_KILL + 1)
            ]
        last_code = codes.pop()
        load = await hammer(api, codes, service)
        stop(service, signal.SIGKILL)

        assert len(load.latest) >= ANSWERED_BEFORE_KILL
        assert load.in_flight_at_kill > 0, "the kill must land while requests are in flight"
        assert load.refreshed > 0, "refreshes must be part of the load"
        lost = set(load.latest) - await stored_sessions(database_url)
        assert not lost, f"{len(lost)} logins answered 200 are not in the database"
        if sqlite:
            assert sqlite_checks(database_url) == (["ok"], [])

        # Up again on the same database (one worker is enough to answer, and starts sooner):
        # what every client holds still works.
        service = start([*serve[:-1], "1"], env, tmp_path, tmp_path / "serve.log")
        ready(f"{api}/readyz", "wxlogin serve, restarted")
        async with httpx2.AsyncClient(base_url=api, timeout=30) as client:
            answers = await asyncio.gather(
                *(
                    client.post("/auth/refresh", json={"refresh_token": t})
                    for t in load.latest.values()
                )
            )
            refused = [a.json()["error"]["code"] for a in answers if a.status_code != 200]
            assert not refused, f"{len(refused)} clients lost their session: {set(refused)}"
            fresh = await client.post("/auth/login", json={"code": last_code})
            assert fresh.status_code == 200, fresh.text
    finally:
        stop(service, signal.SIGTERM)
        stop(sim, signal.SIGTERM)
    if sqlite:
        assert sqlite_checks(database_url) == (["ok"], [])

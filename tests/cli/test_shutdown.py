"""Graceful shutdown: SIGTERM while logins are in flight finishes them, and their writes.

The simulator holds 24 code2Session answers for 1.5 s, so the test knows they are all inside
``wxlogin serve`` (counted by the simulator) when SIGTERM arrives. Every one of them must
still be answered 200, its session committed (the open write batches drain before the store
closes), and the process must end on its own: no request cut off, nothing half-written.
On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx2
import pytest

from tests.fleet import APPID, fleet, fleet_env
from tests.support import postgres_schema, wait_until
from wxlogin.store.target import parse_target

pytestmark = pytest.mark.socket

IN_FLIGHT = 24


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'wxlogin.db'}"
    else:
        with postgres_schema() as url:
            yield url


async def stored_sessions(database_url: str) -> set[str]:
    target = parse_target(database_url)
    if target.backend == "sqlite":
        with contextlib.closing(sqlite3.connect(target.sqlite_path)) as conn:
            return {row[0] for row in conn.execute("SELECT id FROM sessions")}
    pg = await asyncpg.connect(target.dsn, server_settings=dict(target.server_settings))
    try:
        return {row["id"] for row in await pg.fetch("SELECT id FROM sessions")}
    finally:
        await pg.close()


async def test_sigterm_finishes_the_logins_in_flight(database_url: str, tmp_path: Path) -> None:
    env = fleet_env(tmp_path, database_url, None)
    with fleet(env, tmp_path) as running:
        running.start_simulator()
        running.start_services(1)
        (api,) = running.apis
        sim = running.sim_url
        async with httpx2.AsyncClient(timeout=30) as http:
            codes = [
                (
                    await http.post(f"{sim}/__sim/login", json={"appid": APPID, "user": f"s{n}"})
                ).json()["code"]
                for n in range(IN_FLIGHT)
            ]
            await http.post(
                f"{sim}/__sim/faults",
                json={"path": "/sns/jscode2session", "delay_ms": 1500, "times": IN_FLIGHT},
            )
            logins = [
                asyncio.create_task(http.post(f"{api}/auth/login", json={"code": code}))
                for code in codes
            ]

            def inside() -> bool:
                state = httpx2.get(f"{sim}/__sim/state").json()
                return int(state["requests"].get("/sns/jscode2session", 0)) >= IN_FLIGHT

            await asyncio.to_thread(wait_until, inside, "every login to reach WeChat")
            running.kill("api0", signal.SIGTERM)
            answers = await asyncio.gather(*logins)
            status = await asyncio.to_thread(running.procs["api0"].wait, 30)

    assert [a.status_code for a in answers] == [200] * IN_FLIGHT
    # On its own, within the wait: uvicorn finishes the shutdown, then raises the SIGTERM it
    # caught again, so a supervisor sees the process end by the signal it sent (which systemd
    # counts as a clean stop).
    assert status in (0, -signal.SIGTERM)
    answered = {a.json()["refresh_token"].partition(".")[0] for a in answers}
    assert answered <= await stored_sessions(database_url)

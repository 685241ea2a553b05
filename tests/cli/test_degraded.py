"""Issue 11, acceptance 3: Redis and PostgreSQL go away under load, and come back.

Two ``wxlogin serve`` processes reach PostgreSQL (the machine's, a fresh schema) and a
private ``redis-server`` through ``TcpProxy``s that the test cuts — every connection closed,
new ones refused, as when a server stops — and restores. Logins run 16 at a time throughout.

* Redis cut: every login is still answered 200, a phone binding still gets its access_token
  (per process now), ``/readyz`` answers 200 ``degraded``; restored: ``ready`` again, without
  a restart.
* PostgreSQL cut: logins answer 503 ``not_ready`` with the neutral sentence (nothing about
  where the database is), ``/readyz`` 503, ``/healthz`` 200, no process dies; restored: logins
  are answered 200 again, without a restart.
* Afterwards: no answer but 200 and those 503s, 503s only while PostgreSQL was away, every
  login answered 200 in the database, no traceback in any log.

About 30-45 s.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx2
import pytest

from tests.fleet import APPID, Fleet, fleet, fleet_env
from tests.netfaults import TcpProxy, private_redis
from tests.support import POSTGRES_URL, eventually, postgres_schema
from wxlogin.store.target import parse_target

pytestmark = pytest.mark.socket

CONCURRENCY = 16


@pytest.fixture
def schema_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


class Load:
    """Logins, CONCURRENCY at a time, spread over the services, until ``stop``."""

    def __init__(self, running: Fleet) -> None:
        self.running = running
        self.answers: list[tuple[float, int, str]] = []  # (when, status, error code)
        self.sessions: set[str] = set()
        self.stopping = False
        self._counter = itertools.count()

    def since(self, moment: float) -> list[tuple[float, int, str]]:
        return [answer for answer in self.answers if answer[0] >= moment]

    async def run(self) -> None:
        limits = httpx2.Limits(max_connections=2 * CONCURRENCY)
        async with httpx2.AsyncClient(timeout=30, limits=limits) as http:
            await asyncio.gather(*(self._worker(http) for _ in range(CONCURRENCY)))

    async def _worker(self, http: httpx2.AsyncClient) -> None:
        while not self.stopping:
            n = next(self._counter)
            api = self.running.apis[n % len(self.running.apis)]
            code = await http.post(
                f"{self.running.sim_url}/__sim/login", json={"appid": APPID, "user": f"d{n}"}
            )
            response = await http.post(f"{api}/auth/login", json={"code": code.json()["code"]})
            error = ""
            if response.status_code == 200:
                self.sessions.add(response.json()["refresh_token"].partition(".")[0])
            else:
                error = response.json()["error"]["code"]
                assert response.json()["error"]["message"] == (
                    "the database is not available right now; retry later"
                ), response.text
                assert "127.0.0.1" not in response.text and "postgres" not in response.text
            self.answers.append((time.monotonic(), response.status_code, error))
            await asyncio.sleep(0)


async def until(check: Callable[[], object], what: str) -> None:
    """``eventually``, with the patience and the tolerance a server coming back needs."""
    await eventually(check, what, timeout=30.0, ignore=(httpx2.TransportError,))


def through(url: str, port: int) -> str:
    """``url`` with its host and port replaced by 127.0.0.1:``port`` (the proxy)."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


async def test_redis_and_postgresql_go_away_and_come_back(schema_url: str, tmp_path: Path) -> None:
    real = urlsplit(POSTGRES_URL)
    pg_proxy = TcpProxy(real.hostname or "127.0.0.1", real.port or 5432)
    proxied_db = through(schema_url, pg_proxy.port)
    with private_redis(tmp_path) as redis_port:
        redis_proxy = TcpProxy("127.0.0.1", redis_port)
        env = fleet_env(tmp_path, proxied_db, f"redis://127.0.0.1:{redis_proxy.port}/0")
        try:
            with fleet(env, tmp_path) as running:
                running.start_simulator()
                running.start_services(2)
                await exercise(running, redis_proxy, pg_proxy, schema_url)
                logs = [running.log(name) for name in running.procs]
        finally:
            redis_proxy.cut()
            pg_proxy.cut()
    for log in logs:
        assert not errors_in(log), errors_in(log)[:3]


def errors_in(log: str) -> list[str]:
    """Lines of a log (JSON lines or text) that report an error or an unhandled exception.
    Warnings pass, tracebacks included: asyncpg's pool warns with one each time it fails to
    reconnect, which is what it should do while the database is away."""
    found = []
    for line in log.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            bad = record.get("level") in ("ERROR", "CRITICAL")
        else:
            bad = " ERROR " in line or " CRITICAL " in line
        if bad or "Exception in ASGI application" in line:
            found.append(line)
    return found


async def exercise(
    running: Fleet, redis_proxy: TcpProxy, pg_proxy: TcpProxy, schema_url: str
) -> None:
    load = Load(running)
    driver = asyncio.create_task(load.run())
    async with httpx2.AsyncClient(timeout=10) as http:

        async def readiness(api: str) -> tuple[int, str]:
            response = await http.get(f"{api}/readyz")
            body = response.json()
            return response.status_code, body.get("status") or body["error"]["code"]

        async def everywhere(expected: tuple[int, str]) -> bool:
            return all([await readiness(api) == expected for api in running.apis])

        async def answered_since(moment: float, status: int, count: int) -> bool:
            return sum(1 for a in load.since(moment) if a[1] == status) >= count

        async def phone_bound(api: str, user: str) -> None:
            sim = running.sim_url
            code = await http.post(f"{sim}/__sim/login", json={"appid": APPID, "user": user})
            login = await http.post(f"{api}/auth/login", json={"code": code.json()["code"]})
            token = login.json()["access_token"]
            phone = await http.post(f"{sim}/__sim/phone-code", json={"appid": APPID, "user": user})
            bound = await http.post(
                f"{api}/me/phone",
                json={"code": phone.json()["code"]},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert bound.status_code == 200, bound.text

        try:
            start = time.monotonic()
            await until(lambda: answered_since(start, 200, 100), "logins to flow")

            # ------------------------------------------------------------ Redis away
            redis_proxy.cut()
            cut = time.monotonic()
            await until(lambda: everywhere((200, "degraded")), "/readyz to say degraded")
            await until(lambda: answered_since(cut, 200, 200), "logins while Redis is away")
            for n, api in enumerate(running.apis):  # the access_token, fetched per process
                await phone_bound(api, f"phone-without-redis-{n}")
            redis_proxy.restore()
            await until(lambda: everywhere((200, "ready")), "/readyz to say ready again")
            back = time.monotonic()
            await until(lambda: answered_since(back, 200, 100), "logins with Redis back")

            # ------------------------------------------------------------ PostgreSQL away
            pg_proxy.cut()
            db_cut = time.monotonic()
            await until(lambda: answered_since(db_cut, 503, 20), "logins to be refused (503)")
            await until(lambda: everywhere((503, "not_ready")), "/readyz to say not_ready")
            for api in running.apis:
                assert (await http.get(f"{api}/healthz")).status_code == 200
            pg_proxy.restore()
            await until(lambda: everywhere((200, "ready")), "/readyz ready after PostgreSQL")
            db_back = time.monotonic()
            await until(lambda: answered_since(db_back, 200, 100), "logins after PostgreSQL")
            for n, api in enumerate(running.apis):
                await phone_bound(api, f"phone-after-{n}")
        finally:
            load.stopping = True
            await driver
        assert all(running.alive(f"api{n}") for n in range(2))

    statuses = {status for _, status, _ in load.answers}
    assert statuses == {200, 503}
    refused = [when for when, status, _ in load.answers if status == 503]
    assert {code for _, status, code in load.answers if status == 503} == {"not_ready"}
    assert db_cut <= min(refused) and max(refused) <= db_back  # only while it was away
    assert all(status == 200 for when, status, _ in load.answers if cut <= when < db_cut)
    stored = await stored_sessions(schema_url)  # straight to PostgreSQL, not via the proxy
    missing = load.sessions - stored
    assert not missing, f"{len(missing)} logins answered 200 are not in the database"


async def stored_sessions(database_url: str) -> set[str]:
    target = parse_target(database_url)
    conn = await asyncpg.connect(target.dsn, server_settings=dict(target.server_settings))
    try:
        return {row["id"] for row in await conn.fetch("SELECT id FROM sessions")}
    finally:
        await conn.close()

"""Issue 11, acceptance 1 and 2: three ``wxlogin serve`` processes on PostgreSQL + Redis.

Three services (each its own process and port, as on three machines) share a fresh
PostgreSQL schema and a private ``redis-server``; one ``wxlogin simulate`` plays WeChat, with
the plain ``/cgi-bin/token`` endpoint and no grace for a superseded token, so that a second
fetch by any process would turn into 40001s at once.

1. 2,000 users each log in at one service, bind their phone (the current button: the
   access_token is needed) at the next and read ``/me`` at the third, 32 at a time. Twice the
   simulator's clock jumps two hours ahead, expiring the access_token. Afterwards: not one
   40001, exactly one token fetch per expiry (plus the first), every user in PostgreSQL with
   the phone, every token verified by a service that did not issue it.
2. SIGKILL of one service in the middle of the logins: no login answered 200 is missing from
   the database, and the other two keep answering.
3. ``wxlogin keys rotate`` while the services run: every one publishes the new key within
   seconds (Redis), signs with it once it activates, and verifies the others' tokens.

About 40-70 s in all on a 2-core machine.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx2
import jwt
import pytest

from tests.fleet import APPID, Fleet, fleet, fleet_env
from tests.netfaults import private_redis
from tests.support import postgres_schema, wait_until
from wxlogin.store.target import parse_target

pytestmark = pytest.mark.socket

USERS = 2000
CONCURRENCY = 32


@pytest.fixture
def database_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with private_redis(tmp_path) as port:
        yield f"redis://127.0.0.1:{port}/0"


async def rows(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    target = parse_target(database_url)
    conn = await asyncpg.connect(target.dsn, server_settings=dict(target.server_settings))
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_three_services_share_one_token_keys_and_database(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = fleet_env(tmp_path, database_url, redis_url, WXLOGIN_WECHAT_TOKEN_ENDPOINT="plain")
    with fleet(env, tmp_path) as running:
        running.start_simulator("superseded_token_grace=0")
        running.start_services(3)
        result = await drive(running)
        state = httpx2.get(f"{running.sim_url}/__sim/state").json()
        alive = [running.alive(f"api{n}") for n in range(3)]

    assert alive == [True, True, True]
    assert result.failures == [], result.failures[:5]
    assert len(result.users) == USERS
    assert result.cross_verified == USERS  # each /me at a service that did not issue the token
    # The access_token: one fetch at first use and one after each of the two expiries, never
    # a token superseded under another process's feet.
    assert state["token_fetches"]["token"] == 3
    assert "40001" not in state["access_token_refusals"]
    assert state["access_token_refusals"].get("42001", 0) >= 2  # each expiry was really met
    stored = await rows(
        database_url,
        "SELECT count(*) AS n FROM users WHERE id = ANY($1::text[]) AND phone IS NOT NULL",
        list(result.users),
    )
    assert stored[0]["n"] == USERS


class Result:
    def __init__(self) -> None:
        self.users: set[str] = set()
        self.failures: list[str] = []
        self.cross_verified = 0


async def drive(running: Fleet) -> Result:
    """USERS journeys (login, phone, /me at three different services), CONCURRENCY at a time;
    at a third and two thirds of the way the simulated clock jumps 7200 s, between journeys
    (so that no wx.login or phone code in flight expires with it)."""
    result = Result()
    numbers = iter(range(USERS))
    open_gate = asyncio.Event()
    open_gate.set()
    in_flight = 0
    done = 0
    drained = asyncio.Event()  # set whenever no journey is on its way
    drained.set()
    expiries = [USERS // 3, 2 * USERS // 3]

    async def journey(http: httpx2.AsyncClient, n: int) -> None:
        user = f"u{n}"
        login_at, phone_at, me_at = (running.apis[(n + k) % 3] for k in range(3))
        sim = running.sim_url
        code = (await http.post(f"{sim}/__sim/login", json={"appid": APPID, "user": user})).json()
        login = await http.post(f"{login_at}/auth/login", json={"code": code["code"]})
        if login.status_code != 200:
            result.failures.append(f"login {user}: {login.status_code} {login.text}")
            return
        body = login.json()
        token = body["access_token"]
        phone_code = await http.post(f"{sim}/__sim/phone-code", json={"appid": APPID, "user": user})
        phone = await http.post(
            f"{phone_at}/me/phone", json={"code": phone_code.json()["code"]}, headers=bearer(token)
        )
        if phone.status_code != 200 or not phone.json()["phone"]:
            result.failures.append(f"phone {user}: {phone.status_code} {phone.text}")
            return
        me = await http.get(f"{me_at}/me", headers=bearer(token))
        if me.status_code != 200:
            result.failures.append(f"me {user}: {me.status_code} {me.text}")
            return
        result.cross_verified += 1
        result.users.add(body["user"]["id"])

    async def worker(http: httpx2.AsyncClient) -> None:
        nonlocal in_flight, done
        while True:
            await open_gate.wait()
            n = next(numbers, None)
            if n is None:
                return
            in_flight += 1
            drained.clear()
            try:
                await journey(http, n)
            finally:
                in_flight -= 1
                done += 1
                if not in_flight:
                    drained.set()
            if expiries and done >= expiries[0] and open_gate.is_set():
                expiries.pop(0)
                open_gate.clear()
                await drained.wait()
                await http.post(f"{running.sim_url}/__sim/clock", json={"advance": 7200})
                open_gate.set()

    limits = httpx2.Limits(
        max_connections=4 * CONCURRENCY, max_keepalive_connections=4 * CONCURRENCY
    )
    async with httpx2.AsyncClient(timeout=30, limits=limits) as http:
        await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))
    assert not expiries, "the run ended before both expiries"
    return result


async def test_a_service_killed_mid_load_loses_no_answered_login(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = fleet_env(tmp_path, database_url, redis_url)
    with fleet(env, tmp_path) as running:
        running.start_simulator()
        running.start_services(3)
        answered: set[str] = set()
        after_kill = {api: 0 for api in running.apis}
        refused_by_the_dead = 0
        killed = asyncio.Event()
        victim = running.apis[1]
        counter = itertools.count()

        async def worker(http: httpx2.AsyncClient) -> None:
            nonlocal refused_by_the_dead
            while sum(after_kill.values()) < 600:
                n = next(counter)
                api = running.apis[n % 3]
                if killed.is_set() and api == victim:
                    api = running.apis[(n % 2) * 2]  # the load moves to the two left
                code = await http.post(
                    f"{running.sim_url}/__sim/login", json={"appid": APPID, "user": f"k{n}"}
                )
                try:
                    response = await http.post(
                        f"{api}/auth/login", json={"code": code.json()["code"]}
                    )
                except httpx2.TransportError:
                    assert api == victim, f"{api} failed a request"
                    refused_by_the_dead += 1
                    continue
                assert response.status_code == 200, response.text
                answered.add(response.json()["refresh_token"].partition(".")[0])
                if killed.is_set():
                    after_kill[api] += 1
                elif len(answered) >= 300:
                    killed.set()
                    running.kill("api1")

        limits = httpx2.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        async with httpx2.AsyncClient(timeout=30, limits=limits) as http:
            await asyncio.gather(*(worker(http) for _ in range(CONCURRENCY)))
        running.procs["api1"].wait(timeout=20)
        survivors = [running.alive("api0"), running.alive("api2")]

    assert survivors == [True, True]
    assert refused_by_the_dead > 0, "the kill must land while requests are on their way"
    assert after_kill[running.apis[0]] > 200 and after_kill[running.apis[2]] > 200
    stored = {row["id"] for row in await rows(database_url, "SELECT id FROM sessions")}
    missing = answered - stored
    assert not missing, f"{len(missing)} logins answered 200 are not in PostgreSQL"


async def test_keys_rotate_reaches_every_running_service(
    database_url: str, redis_url: str, tmp_path: Path
) -> None:
    env = fleet_env(tmp_path, database_url, redis_url)
    with fleet(env, tmp_path) as running:
        running.start_simulator()
        running.start_services(2)
        with httpx2.Client(timeout=10) as http:

            def login(api: str, user: str) -> str:
                code = http.post(
                    f"{running.sim_url}/__sim/login", json={"appid": APPID, "user": user}
                ).json()["code"]
                response = http.post(f"{api}/auth/login", json={"code": code})
                assert response.status_code == 200, response.text
                return str(response.json()["access_token"])

            def kids(api: str) -> set[str]:
                return {k["kid"] for k in http.get(f"{api}/.well-known/jwks.json").json()["keys"]}

            old_token = login(running.apis[0], "before")
            (old_kid,) = kids(running.apis[0])
            rotated = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "wxlogin.cli", "keys", "rotate", "--activate-in", "3"],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert rotated.returncode == 0, rotated.stderr
            new_kid = rotated.stdout.split("new signing key: ")[1].split()[0]
            for api in running.apis:  # published at once through Redis, not at the next poll
                wait_until(lambda api=api: new_kid in kids(api), f"{api} to publish", timeout=3)  # type: ignore[misc]
            for api in running.apis:
                wait_until(
                    lambda api=api: (
                        jwt.get_unverified_header(login(api, "after"))["kid"]  # type: ignore[misc]
                        == new_kid
                    ),
                    f"{api} to sign with the new key",
                    timeout=10,
                )
            for issuer, verifier in ((0, 1), (1, 0)):
                token = login(running.apis[issuer], f"cross{issuer}")
                assert jwt.get_unverified_header(token)["kid"] == new_kid
                me = http.get(f"{running.apis[verifier]}/me", headers=bearer(token))
                assert me.status_code == 200
                old = http.get(f"{running.apis[verifier]}/me", headers=bearer(old_token))
                assert old.status_code == 200  # the retired key still verifies
            assert all(kids(api) == {old_kid, new_kid} for api in running.apis)

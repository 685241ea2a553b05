"""Many requests at once in one event loop: no double spends, no duplicate tokens."""

from __future__ import annotations

import asyncio

import httpx2

from tests.simulator.support import APPID, errcode, exchange, stable_token
from wxlogin.simulator import Simulator
from wxlogin.wechat import protocol as wx


async def test_concurrent_logins_of_many_users(sim: Simulator, http: httpx2.AsyncClient) -> None:
    codes = [sim.login(APPID, f"user-{n}") for n in range(200)]
    results = await asyncio.gather(*(exchange(http, code) for code in codes))
    assert all(errcode(r) == 0 for r in results)
    assert len({r["openid"] for r in results}) == 200
    assert sim.state()["codes"] == {"issued": 200, "used": 200, "outstanding": 200}


async def test_a_code_sent_twenty_times_at_once_succeeds_once(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    code = sim.login(APPID, "alice")
    results = await asyncio.gather(*(exchange(http, code) for _ in range(20)))
    outcomes = sorted(errcode(r) for r in results)
    assert outcomes == [0] + [wx.ErrCode.CODE_USED] * 19


async def test_concurrent_stable_token_callers_share_one_token(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    results = await asyncio.gather(*(stable_token(http) for _ in range(50)))
    assert len({r["access_token"] for r in results}) == 1
    assert len(sim.world.tokens) == 1
    assert sim.state()["token_fetches"]["stable_token"] == 50

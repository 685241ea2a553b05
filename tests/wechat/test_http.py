"""The production transport over a real socket (the thing under test is the socket)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import uvicorn

from tests.support import free_port
from tests.wechat.conftest import APPID, SECRET, Sleeps
from wxlogin import errors
from wxlogin.simulator import Simulator
from wxlogin.wechat import WeChatClient

pytestmark = pytest.mark.socket


@pytest.fixture
async def served(sim: Simulator) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(sim.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.01)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


async def test_login_over_a_real_socket(served: str, sim: Simulator) -> None:
    async with WeChatClient(APPID, SECRET, base_url=served) as client:
        sessions = await asyncio.gather(
            *(client.code_to_session(sim.login(APPID, f"user{i}")) for i in range(20))
        )
        assert {s.openid for s in sessions} == {sim.openid(APPID, f"user{i}") for i in range(20)}
        token = await client.get_access_token()  # a POST with a JSON body
        assert token.startswith(tuple(f"{n}_" for n in range(10, 100)))
        code = sim.login(APPID, "alice")
        await client.code_to_session(code)
        with pytest.raises(errors.CodeUsed):
            await client.code_to_session(code)


async def test_a_dropped_connection_over_a_real_socket(served: str, sim: Simulator) -> None:
    async with WeChatClient(APPID, SECRET, base_url=served) as client:
        # aiohttp itself re-sends a GET once after a disconnect (see wechat/_http.py): one
        # drop is absorbed, the code still works because the dropped request never reached
        # the simulator's logic.
        sim.add_fault("/sns/jscode2session", drop=True)
        session = await client.code_to_session(sim.login(APPID, "alice"))
        assert session.openid == sim.openid(APPID, "alice")
        # Two drops in a row surface as "unavailable, may have been sent" — and our own
        # policy does not retry a login code after that.
        sim.add_fault("/sns/jscode2session", drop=True, times=2)
        with pytest.raises(errors.UpstreamUnavailable) as info:
            await client.code_to_session(sim.login(APPID, "alice"))
        assert info.value.request_sent


async def test_connection_refused_is_unsent_and_retried(sleeps: Sleeps) -> None:
    port = free_port()  # nothing listens there
    async with WeChatClient(
        APPID, SECRET, base_url=f"http://127.0.0.1:{port}", sleep=sleeps
    ) as client:
        with pytest.raises(errors.UpstreamUnavailable) as info:
            await client.code_to_session("a" * 32)
    assert info.value.request_sent is False
    assert len(sleeps.delays) == 2  # unsent: even a login code may be retried
    assert SECRET not in repr(info.value) and info.value.__cause__ is None

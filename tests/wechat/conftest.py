"""Fixtures: a simulator with two apps on one open account, and clients that never sleep."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import pytest

from wxlogin.simulator import Simulator
from wxlogin.wechat import HttpResponse, Transport, WeChatClient
from wxlogin.wechat.transport import HttpMethod

APPID = "wx1234567890abcdef"
SECRET = "s3cret-app-a-0123456789"
APPID_B = "wxfedcba0987654321"
SECRET_B = "s3cret-app-b-9876543210"


@dataclass
class RecordingTransport:
    """Counts requests per path on their way into another transport; ``sent`` is set once
    the first has gone out (a test awaits it rather than guessing how long that takes)."""

    inner: Transport
    calls: Counter[str] = field(default_factory=Counter)
    sent: asyncio.Event = field(default_factory=asyncio.Event)

    async def request(
        self,
        method: HttpMethod,
        url: str,
        *,
        params: Mapping[str, str],
        json_body: bytes | None,
        timeout: float,
    ) -> HttpResponse:
        path = "/" + url.split("://", 1)[-1].split("/", 1)[1]
        self.calls[path] += 1
        self.sent.set()
        return await self.inner.request(
            method, url, params=params, json_body=json_body, timeout=timeout
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Sleeps:
    delays: list[float] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def sim() -> Simulator:
    simulator = Simulator()
    simulator.register_app(APPID, SECRET, "acme")
    simulator.register_app(APPID_B, SECRET_B, "acme")
    return simulator


@pytest.fixture
def wire(sim: Simulator) -> RecordingTransport:
    return RecordingTransport(sim.transport)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(
    sim: Simulator, wire: RecordingTransport, sleeps: Sleeps
) -> AsyncIterator[WeChatClient]:
    async with WeChatClient(
        APPID, SECRET, transport=wire, clock=sim.clock.now, sleep=sleeps
    ) as wechat:
        yield wechat

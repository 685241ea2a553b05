"""``DemoFront`` as ``wxlogin dev`` builds it, in-process: the service app, the simulator
behind a ``SimulatorWitness`` (also as the service's WeChat), and the feed both write to."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from tests.api.conftest import APPID, ISSUER, make_settings
from wxlogin.api import WxLoginApp, create_app
from wxlogin.api.demo import DemoFront, EventFeed, SdkModule, SimulatorWitness
from wxlogin.cache.base import Cache
from wxlogin.simulator import Simulator
from wxlogin.wechat.transport import AsgiTransport

REPO = Path(__file__).resolve().parents[2]
SDK_DIR = REPO / "clients" / "miniprogram"


@dataclass
class Demo:
    http: httpx2.AsyncClient
    front: DemoFront
    app: WxLoginApp
    feed: EventFeed
    sim: Simulator

    async def events(self, after: int = 0) -> list[dict[str, Any]]:
        answer = await self.http.get("/demo/events", params={"after": str(after)})
        assert answer.status_code == 200, answer.text
        events: list[dict[str, Any]] = answer.json()["events"]
        return events


@contextlib.asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Run ``app``'s ASGI lifespan around the block, as a server would."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: Any) -> None:
        await outbox.put(dict(message))

    task = asyncio.create_task(app({"type": "lifespan"}, receive, send))
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    assert started["type"] == "lifespan.startup.complete", started
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        stopped = await outbox.get()
        assert stopped["type"] == "lifespan.shutdown.complete", stopped
        await task


@contextlib.asynccontextmanager
async def running_demo(
    sim: Simulator,
    database_url: str,
    cache: Cache,
    data_dir: Path,
    *,
    notify_template: str | None = None,
    **overrides: Any,
) -> AsyncIterator[Demo]:
    feed = EventFeed()
    witness = SimulatorWitness(sim.app, feed)
    settings = make_settings(database_url, data_dir, **overrides)
    app = create_app(settings, wechat_transport=AsgiTransport(witness), cache=cache)
    front = DemoFront(
        app,
        simulator=witness,
        feed=feed,
        appid=APPID,
        access_token_ttl=settings.access_token_ttl,
        public_url=ISSUER,
        sdk=SdkModule.locate(SDK_DIR),
        notify_template=notify_template,
    )
    async with (
        lifespan(front),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=front), base_url=ISSUER) as http,
    ):
        yield Demo(http, front, app, feed, sim)

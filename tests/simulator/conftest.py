"""A simulator on a frozen clock with three apps, and an HTTP client wired into it in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest

from tests.simulator.support import (
    APPID,
    APPID_B,
    APPID_SOLO,
    OPEN_ACCOUNT,
    SECRET,
    SECRET_B,
    SECRET_SOLO,
    T0,
)
from wxlogin.simulator import SimClock, Simulator, SimulatorConfig


@pytest.fixture
def config() -> SimulatorConfig:
    return SimulatorConfig()


@pytest.fixture
def sim(config: SimulatorConfig) -> Simulator:
    # A frozen source: only advance() moves time, so expiry boundaries are exact.
    simulator = Simulator(config, clock=SimClock(lambda: T0))
    simulator.register_app(APPID, SECRET, OPEN_ACCOUNT)
    simulator.register_app(APPID_B, SECRET_B, OPEN_ACCOUNT)
    simulator.register_app(APPID_SOLO, SECRET_SOLO)
    return simulator


@pytest.fixture
async def http(sim: Simulator) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=sim.app)
    async with httpx2.AsyncClient(transport=transport, base_url=sim.base_url) as client:
        yield client

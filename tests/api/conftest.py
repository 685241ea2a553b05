"""A wxlogin app wired to an in-process simulator, the suite's database and cache."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from wxlogin.api import WxLoginApp, create_app
from wxlogin.cache.base import Cache
from wxlogin.config import Settings
from wxlogin.crypto import encrypt_data
from wxlogin.service import LoginService
from wxlogin.simulator import Simulator

APPID = "wx1234567890abcdef"
SECRET = "app-a-secret-0123456789abcdef"
APPID_B = "wxfedcba0987654321"
SECRET_B = "app-b-secret-fedcba9876543210"
ISSUER = "http://wxlogin.test"


@dataclass
class Clock:
    """The service's clock; tests move it to expire tokens."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Harness:
    http: httpx2.AsyncClient
    sim: Simulator
    app: WxLoginApp
    settings: Settings
    clock: Clock
    session_keys: set[str] = field(default_factory=set)

    @property
    def service(self) -> LoginService:
        """The running service behind ``app`` (started by the fixture)."""
        service = self.app.service
        assert service is not None
        return service

    async def login(self, user: str, appid: str | None = APPID) -> dict[str, Any]:
        code = self.sim.login(appid or APPID, user)
        body: dict[str, Any] = {"code": code}
        if appid is not None:
            body["appid"] = appid
        response = await self.http.post("/auth/login", json=body)
        assert response.status_code == 200, response.text
        key = self.sim.session_key(appid or APPID, user)
        assert key is not None
        self.session_keys.add(key)
        result: dict[str, Any] = response.json()
        return result

    async def post_encrypted_phone(
        self, token: str, session_key: str, data: dict[str, Any], *, appid: str = APPID
    ) -> httpx2.Response:
        """The legacy phone button: ``data`` encrypted as WeChat would, posted to /me/phone."""
        encrypted, iv = encrypt_data(session_key, data, appid=appid)
        return await self.http.post(
            "/me/phone", json={"encrypted_data": encrypted, "iv": iv}, headers=bearer(token)
        )

    def private_key(self) -> tuple[str, Ed25519PrivateKey]:
        """The active signing key, as someone holding the database and its encryption key
        could open it."""
        return self.service.tokens.keys.signing_key()

    def forge(self, claims: dict[str, Any], **headers: Any) -> str:
        kid, key = self.private_key()
        return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid, **headers})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def profile_body(info: Mapping[str, Any]) -> dict[str, Any]:
    """The body of POST /me/profile/wechat from what wx.getUserInfo handed the phone."""
    return {
        "raw_data": info["rawData"],
        "signature": info["signature"],
        "encrypted_data": info["encryptedData"],
        "iv": info["iv"],
    }


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "apps": [{"appid": APPID, "secret": SECRET}, {"appid": APPID_B, "secret": SECRET_B}],
        "database_url": database_url,
        "data_dir": data_dir,
        "wechat_base_url": "https://api.weixin.qq.com",
        "wechat_timeout": 0.5,
        "public_url": ISSUER,
        "redis_url": None,
        "login_rate_limit_per_ip": 0,
        "login_rate_limit_per_app": 0,
    }
    return Settings(**(values | overrides))


HarnessFactory = Callable[..., Any]


@pytest.fixture
def sim() -> Simulator:
    simulator = Simulator()
    simulator.register_app(APPID, SECRET, "acme")
    simulator.register_app(APPID_B, SECRET_B, "acme")
    return simulator


@pytest.fixture
async def harness_factory(
    sim: Simulator, database_url: str, cache: Cache, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    """Build harnesses with settings overrides; all are shut down at the end of the test."""
    stack: list[tuple[WxLoginApp, Any, httpx2.AsyncClient]] = []

    async def build(
        *, own_cache: Cache | None = None, migrate: bool = True, **overrides: Any
    ) -> Harness:
        """``own_cache`` gives this app a cache of its own, like a worker without Redis;
        ``migrate=False`` starts it on a database it does not prepare (or cannot reach)."""
        url = overrides.pop("database_url", database_url)
        settings = make_settings(url, tmp_path / "data", **overrides)
        clock = Clock()
        app = create_app(
            settings,
            wechat_transport=sim.transport,
            cache=own_cache or cache,
            clock=clock,
            migrate=migrate,
        )
        lifespan = app.running()
        await lifespan.__aenter__()
        http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=ISSUER)
        stack.append((app, lifespan, http))
        return Harness(http, sim, app, settings, clock)

    yield build
    for _, lifespan, http in reversed(stack):
        await http.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def wx(harness_factory: Callable[..., Any]) -> Harness:
    harness: Harness = await harness_factory()
    return harness

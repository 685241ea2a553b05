"""The embedding example works: the host's route is protected by wxlogin's CurrentUser."""

from __future__ import annotations

from pathlib import Path

import httpx2

from examples.fastapi_embed.shop import create_shop
from tests.api.conftest import APPID, SECRET, make_settings
from wxlogin.simulator import Simulator


async def test_host_route_is_protected_by_current_user(tmp_path: Path) -> None:
    sim = Simulator()
    sim.register_app(APPID, SECRET)
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/shop.db", tmp_path / "data")
    shop = create_shop(settings, wechat_transport=sim.transport)
    async with shop.router.lifespan_context(shop):
        assert shop.state.orders == {}  # the host's own lifespan ran
        transport = httpx2.ASGITransport(app=shop)
        async with httpx2.AsyncClient(transport=transport, base_url="http://shop.test") as http:
            assert (await http.get("/")).json() == {"shop": "open"}
            anonymous = await http.get("/orders")
            assert anonymous.status_code == 401
            assert anonymous.json()["error"]["code"] == "unauthorized"
            login = await http.post(
                "/auth/login", json={"code": sim.login(APPID, "alice"), "appid": APPID}
            )
            assert login.status_code == 200
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            user_id = login.json()["user"]["id"]
            mine = await http.get("/orders", headers=headers)
            assert mine.json() == {"user_id": user_id, "appid": APPID, "orders": []}
            placed = await http.post("/orders", headers=headers)
            assert placed.json() == {"user_id": user_id, "deliver_to": None}
            assert (await http.get("/orders", headers=headers)).json()["orders"] == ["order-1"]
            forged = await http.get("/orders", headers={"Authorization": "Bearer x.y.z"})
            assert forged.status_code == 401
    assert shop.state.orders is None  # and shut down

"""The embedding example works: the host's route is protected by wxlogin's CurrentUser."""

from __future__ import annotations

from pathlib import Path

import httpx2
from openapi_spec_validator import validate

from examples.fastapi_embed.shop import create_shop
from tests.api.conftest import APPID, ISSUER, SECRET, make_settings
from tests.api.forms import content_type, file_part, form, image
from wxlogin.simulator import Simulator

JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}


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


async def test_the_host_gets_our_routes_errors_and_openapi(tmp_path: Path) -> None:
    sim = Simulator()
    sim.register_app(APPID, SECRET)
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/shop.db", tmp_path / "data")
    shop = create_shop(settings, wechat_transport=sim.transport)
    async with shop.router.lifespan_context(shop):
        transport = httpx2.ASGITransport(app=shop)
        async with httpx2.AsyncClient(transport=transport, base_url="http://shop.test") as http:
            spec = (await http.get("/openapi.json")).json()
            # Our routes go through the same lean handlers inside the host: same edges.
            wrong_method = await http.get("/auth/login")
            malformed = await http.post("/auth/login", content=b"{", headers=JSON)
            unknown_field = await http.post("/auth/login", json={"code": "c", "x": 1})
            form = await http.post("/auth/login", content=b"code=c", headers=FORM)
            huge = await http.post("/auth/refresh", content=b" " * (2 << 20), headers=JSON)
            missing = await http.get("/nope")  # the host's own 404, in our shape
    validate(spec)
    assert {"/", "/orders", "/auth/login", "/me", "/.well-known/jwks.json"} <= set(spec["paths"])
    # The host's CurrentUser routes and ours share one bearer scheme.
    assert spec["paths"]["/orders"]["get"]["security"] == [{"bearerAuth": []}]
    assert spec["paths"]["/me"]["get"]["security"] == [{"bearerAuth": []}]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    login_ref = spec["paths"]["/auth/login"]["post"]["requestBody"]["content"]["application/json"]
    assert login_ref["schema"]["$ref"] == "#/components/schemas/wxlogin.LoginRequest"
    assert "wxlogin.LoginRequest" in spec["components"]["schemas"]
    assert (wrong_method.status_code, wrong_method.headers["allow"]) == (405, "POST")
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    for response in (malformed, unknown_field):
        assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_request")
    assert "`x`" in unknown_field.json()["error"]["message"]
    assert (form.status_code, form.json()["error"]["code"]) == (415, "unsupported_media_type")
    assert (huge.status_code, huge.json()["error"]["code"]) == (413, "payload_too_large")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")


async def test_host_routes_before_start_up_say_not_ready(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/shop.db", tmp_path / "data")
    shop = create_shop(settings)  # no lifespan run: wxlogin has not started
    transport = httpx2.ASGITransport(app=shop)
    async with httpx2.AsyncClient(transport=transport, base_url="http://shop.test") as http:
        ours = await http.get("/me", headers={"Authorization": "Bearer x.y.z"})
        theirs = await http.get("/orders", headers={"Authorization": "Bearer x.y.z"})
    for response in (ours, theirs):
        assert (response.status_code, response.json()["error"]["code"]) == (503, "not_ready")


async def test_the_host_serves_avatar_uploads_and_files(tmp_path: Path) -> None:
    sim = Simulator()
    sim.register_app(APPID, SECRET)
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/shop.db", tmp_path / "data")
    shop = create_shop(settings, wechat_transport=sim.transport)
    png, jpeg = image("avatar.png"), image("avatar.jpg")
    async with shop.router.lifespan_context(shop):
        transport = httpx2.ASGITransport(app=shop)
        async with httpx2.AsyncClient(transport=transport, base_url=ISSUER) as http:
            login = await http.post(
                "/auth/login", json={"code": sim.login(APPID, "alice"), "appid": APPID}
            )
            headers = {
                "Authorization": f"Bearer {login.json()['access_token']}",
                "content-type": content_type(),
            }
            first = await http.post("/me/avatar", content=form(file_part(png)), headers=headers)
            second = await http.post("/me/avatar", content=form(file_part(jpeg)), headers=headers)
            old, new = first.json()["avatar_url"], second.json()["avatar_url"]
            served = await http.get(new)
            gone = await http.get(old)
            traversal = await http.get("/avatars/..%2F..%2Fshop.db")
            svg = await http.post(
                "/me/avatar", content=form(file_part(b"<svg></svg>")), headers=headers
            )
            huge = await http.post(
                "/me/avatar", content=form(file_part(png + b"\0" * (2 << 20))), headers=headers
            )
            anonymous = await http.post(
                "/me/avatar", content=form(file_part(png)), headers={"content-type": content_type()}
            )
            spec = (await http.get("/openapi.json")).json()
    assert first.status_code == second.status_code == 200
    assert new.startswith(f"{ISSUER}/avatars/") and new.endswith(".jpg")
    assert (served.status_code, served.content) == (200, jpeg)
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "not_found")
    assert [p.name for p in (tmp_path / "data" / "avatars").iterdir()] == [new.rsplit("/", 1)[1]]
    assert (traversal.status_code, traversal.json()["error"]["code"]) == (404, "not_found")
    assert (svg.status_code, svg.json()["error"]["code"]) == (415, "unsupported_image")
    assert (huge.status_code, huge.json()["error"]["code"]) == (413, "payload_too_large")
    assert anonymous.status_code == 401
    upload = spec["paths"]["/me/avatar"]["post"]["requestBody"]["content"]
    assert upload["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"
    assert "/avatars/{name}" in spec["paths"]
    validate(spec)

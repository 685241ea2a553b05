"""The control API under /__sim/: registration, the phone's side, clock, state, errors."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.simulator.support import APPID, SECRET, T0, exchange, plain_token, stable_token
from wxlogin.simulator import RegisteredApp, Simulator
from wxlogin.wechat import protocol as wx

_A = b'"appid": "wx1234567890abcdef"'


async def test_register_an_app_then_log_in(http: httpx2.AsyncClient) -> None:
    app: dict[str, Any] = {
        "appid": "wx2222222222222222",
        "secret": "new-secret",
        "open_account": None,
    }
    created = await http.post("/__sim/apps", json=app)
    assert created.status_code == 201
    assert created.headers["content-type"] == "application/json"
    assert created.json() == {"appid": "wx2222222222222222", "open_account": None}
    again = await http.post("/__sim/apps", json={**app, "open_account": "acme"})
    assert again.status_code == 200 and again.json()["open_account"] == "acme"
    code = (await http.post("/__sim/login", json={"appid": app["appid"], "user": "zoe"})).json()
    assert wx.LOGIN_CODE_RE.match(code["code"])
    data = await exchange(http, code["code"], appid=app["appid"], secret="new-secret")
    assert "unionid" in data


async def test_phone_code_route(http: httpx2.AsyncClient) -> None:
    response = await http.post(
        "/__sim/phone-code", json={"appid": APPID, "user": "alice", "phone": "13700000000"}
    )
    assert response.status_code == 200
    assert wx.PHONE_CODE_RE.match(response.json()["code"])


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        ("POST", "/__sim/login", b"{not json", 400, "JSON object"),
        ("POST", "/__sim/login", b"[]", 400, "JSON object"),
        ("POST", "/__sim/login", b'{"appid": "wx1234567890abcdef"}', 400, "user"),
        ("POST", "/__sim/login", b'{"appid": "wxnope", "user": "a"}', 404, "unknown app"),
        ("POST", "/__sim/login", b'{"appid": "wx1234567890abcdef", "user": ""}', 400, "user"),
        ("POST", "/__sim/login", b'{"appid": "wx1234567890abcdef", "usr": "a"}', 400, "usr"),
        ("POST", "/__sim/apps", b'{"appid": "wx 1", "secret": "s"}', 400, "appid"),
        ("POST", "/__sim/apps", b'{"appid": "wx1", "secret": ""}', 400, "secret"),
        ("POST", "/__sim/user-info", b'{"appid": "wx1234567890abcdef", "user": "x"}', 409, "login"),
        ("POST", "/__sim/phone-code", b"{" + _A + b', "user": "a", "phone": "12"}', 400, "phone"),
        ("POST", "/__sim/payments", b"{" + _A + b', "user": "a", "mch_id": "1"}', 400, "together"),
        ("POST", "/__sim/clock", b'{"advance": -1}', 400, "advance"),
        ("POST", "/__sim/clock", b'{"advance": "1"}', 400, "advance"),
        ("PATCH", "/__sim/users/alice", b'{"high_risk": "yes"}', 400, "high_risk"),
        ("DELETE", "/__sim/users/alice", b"", 405, "PATCH"),
        ("GET", "/__sim/login", b"", 405, "POST"),
        ("GET", "/__sim/nothing", b"", 404, "no control route"),
    ],
)  # fmt: skip
async def test_mistakes_get_a_clear_4xx(
    http: httpx2.AsyncClient, method: str, path: str, body: bytes, status: int, words: str
) -> None:
    response = await http.request(method, path, content=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert words in response.json()["error"]


async def test_unknown_wechat_paths_are_404(http: httpx2.AsyncClient) -> None:
    response = await http.get("/cgi-bin/nothing")
    assert response.status_code == 404


async def test_users_can_be_read_and_patched(sim: Simulator, http: httpx2.AsyncClient) -> None:
    sim.login(APPID, "alice")
    user = (await http.get("/__sim/users/alice")).json()
    assert user["apps"][APPID] == {
        "openid": sim.openid(APPID, "alice"),
        "unionid": sim.unionid(APPID, "alice"),
        "has_session_key": True,
    }
    patched = await http.patch(
        "/__sim/users/alice", json={"high_risk": True, "phone": "+1 5551234"}
    )
    assert patched.json()["high_risk"] is True
    assert (patched.json()["phone"], patched.json()["country_code"]) == ("+1 5551234", "1")
    odd = await http.get("/__sim/users/%E5%B0%8F%E6%98%8E%2Fa")  # any string names a person
    assert odd.json()["user"] == "小明/a"


async def test_the_clock_moves_forward(sim: Simulator, http: httpx2.AsyncClient) -> None:
    response = await http.post("/__sim/clock", json={"advance": 90.5})
    assert response.json() == {"now": T0 + 90.5}
    assert sim.clock() == T0 + 90.5
    with pytest.raises(ValueError, match="forward"):
        sim.advance(-1)


async def test_state_counts_but_never_shows_secrets(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    used = sim.login(APPID, "alice")
    sim.login(APPID, "bob")
    await exchange(http, used)
    await plain_token(http)
    await stable_token(http)
    await stable_token(http)
    response = await http.get("/__sim/state")
    assert response.status_code == 200
    state = response.json()
    assert state["now"] == T0
    app = next(a for a in state["apps"] if a["appid"] == APPID)
    assert app == {
        "appid": APPID,
        "open_account": "acme",
        "users": 2,
        "codes": {"issued": 2, "used": 1},
        "phone_codes": {"issued": 0, "used": 0},
        "token_fetches": {"token": 1, "stable_token": 2},
    }
    assert state["codes"]["issued"] == 2 and state["codes"]["used"] == 1
    assert state["token_fetches"] == {"token": 1, "stable_token": 2}
    assert {u["user"] for u in state["users"]} == {"alice", "bob"}
    assert state["requests"][wx.CODE2SESSION] == 1
    text = response.text
    assert SECRET not in text
    for user in ("alice", "bob"):
        key = sim.session_key(APPID, user)
        assert key is not None and key not in text
    assert used not in text


def test_reprs_hide_secrets(sim: Simulator) -> None:
    sim.login(APPID, "alice")
    key = sim.session_key(APPID, "alice")
    assert key is not None
    app = sim.register_app(APPID, SECRET, "acme")
    assert isinstance(app, RegisteredApp) and app.secret == SECRET
    world = sim.world
    member = world.people["alice"].members[APPID]
    texts = [
        repr(sim),
        repr(app),
        repr(world),
        repr(world.apps[APPID]),
        repr(member),
        repr(sim.app),
    ]
    for text in texts:
        assert SECRET not in text
        assert key not in text


async def test_the_simulator_itself_is_an_asgi_app(sim: Simulator) -> None:
    transport = httpx2.ASGITransport(app=sim)
    async with httpx2.AsyncClient(transport=transport, base_url=sim.base_url) as client:
        response = await client.get("/__sim/health")
    assert response.json() == {"ok": True}


async def test_reading_an_unknown_user_registers_nobody(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    user = (await http.get("/__sim/users/carol")).json()
    assert user["apps"] == {} and user["high_risk"] is False
    assert sim.state()["users"] == []

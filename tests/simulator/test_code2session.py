"""jscode2session: single-use codes bound to an app, expiry, quotas, blocked users, identities."""

from __future__ import annotations

import base64

import httpx2
import pytest

from tests.simulator.support import (
    APPID,
    APPID_B,
    APPID_SOLO,
    SECRET,
    SECRET_B,
    SECRET_SOLO,
    T0,
    errcode,
    exchange,
)
from wxlogin.simulator import SimClock, Simulator, SimulatorConfig
from wxlogin.wechat import protocol as wx


async def test_a_code_gives_openid_and_session_key_once(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    code = sim.login(APPID_SOLO, "alice")
    assert wx.LOGIN_CODE_RE.match(code)
    first = await exchange(http, code, appid=APPID_SOLO, secret=SECRET_SOLO)
    assert list(first) == ["session_key", "openid"]  # no unionid without an open account
    assert wx.OPENID_RE.match(first["openid"])
    assert len(first["session_key"]) == wx.SESSION_KEY_LENGTH
    assert len(base64.b64decode(first["session_key"], validate=True)) == 16
    again = await exchange(http, code, appid=APPID_SOLO, secret=SECRET_SOLO)
    assert errcode(again) == wx.ErrCode.CODE_USED
    assert again["errmsg"].startswith("code been used, rid: ")


async def test_an_app_on_an_open_account_also_gets_a_unionid(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    data = await exchange(http, sim.login(APPID, "alice"))
    assert list(data) == ["session_key", "openid", "unionid"]
    assert data["unionid"] == sim.unionid(APPID, "alice")
    assert wx.OPENID_RE.match(data["unionid"])


async def test_a_code_expires_after_five_minutes(sim: Simulator, http: httpx2.AsyncClient) -> None:
    almost = sim.login(APPID, "alice")
    expired = sim.login(APPID, "bob")
    sim.advance(wx.CODE_TTL - 1)
    assert "openid" in await exchange(http, almost)
    sim.advance(1)
    assert errcode(await exchange(http, expired)) == wx.ErrCode.INVALID_CODE


async def test_a_code_is_bound_to_its_app_and_a_refusal_does_not_consume_it(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    code = sim.login(APPID, "alice")
    other = await exchange(http, code, appid=APPID_B, secret=SECRET_B)
    assert errcode(other) == wx.ErrCode.INVALID_CODE
    assert (await exchange(http, code))["openid"] == sim.openid(APPID, "alice")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"appid": ""}, wx.ErrCode.APPID_MISSING),
        ({"secret": ""}, wx.ErrCode.APPSECRET_MISSING),
        ({"js_code": ""}, wx.ErrCode.CODE_MISSING),
        ({"grant_type": "client_credential"}, wx.ErrCode.INVALID_GRANT_TYPE),
        ({"appid": "wx9999999999999999"}, wx.ErrCode.INVALID_APPID),
        ({"secret": "not-the-secret"}, wx.ErrCode.INVALID_APPSECRET),
        ({"js_code": "x" * 32}, wx.ErrCode.INVALID_CODE),
        ({"js_code": "not a code at all"}, wx.ErrCode.INVALID_CODE),
    ],
)
async def test_bad_parameters_get_wechats_errcodes(
    sim: Simulator, http: httpx2.AsyncClient, params: dict[str, str], expected: int
) -> None:
    code = sim.login(APPID, "alice")
    query = {
        "appid": APPID,
        "secret": SECRET,
        "js_code": code,
        "grant_type": "authorization_code",
        **params,
    }
    response = await http.get(wx.CODE2SESSION, params=query)
    assert response.status_code == 200
    assert errcode(response.json()) == expected
    assert (await exchange(http, code))["openid"]  # none of these consumed the code


async def test_more_than_100_calls_a_minute_for_one_user_get_45011(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    limit = wx.CODE2SESSION_PER_USER_PER_MINUTE
    sim.advance(60 - T0 % 60)  # start at the top of a simulated minute
    codes = [sim.login(APPID, "alice") for _ in range(limit + 1)]
    for code in codes[:limit]:
        assert "openid" in await exchange(http, code)
    over = await exchange(http, codes[limit])
    assert errcode(over) == wx.ErrCode.MINUTE_QUOTA
    assert over["errmsg"].startswith(wx.ERRMSG[wx.ErrCode.MINUTE_QUOTA] + ", rid: ")
    # Per user: bob is unaffected, and the same user for another app neither.
    assert "openid" in await exchange(http, sim.login(APPID, "bob"))
    assert "openid" in await exchange(
        http, sim.login(APPID_B, "alice"), appid=APPID_B, secret=SECRET_B
    )
    sim.advance(60)  # next minute: the refused code was not consumed and now works
    assert "openid" in await exchange(http, codes[limit])


async def test_the_minute_quota_is_configurable() -> None:
    sim = Simulator(
        SimulatorConfig(code2session_per_user_per_minute=2), clock=SimClock(lambda: 0.0)
    )
    sim.register_app(APPID, SECRET)
    transport = httpx2.ASGITransport(app=sim.app)
    async with httpx2.AsyncClient(transport=transport, base_url=sim.base_url) as client:
        results = [await exchange(client, sim.login(APPID, "alice")) for _ in range(3)]
    assert [errcode(r) for r in results] == [0, 0, wx.ErrCode.MINUTE_QUOTA]


async def test_a_high_risk_user_is_blocked_with_40226(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    code = sim.login(APPID, "mallory")
    sim.set_user("mallory", high_risk=True)
    blocked = await exchange(http, code)
    assert errcode(blocked) == wx.ErrCode.CODE_BLOCKED
    assert blocked["errmsg"].startswith("code blocked, rid: ")
    response = await http.patch("/__sim/users/mallory", json={"high_risk": False})
    assert response.status_code == 200 and response.json()["high_risk"] is False
    assert "openid" in await exchange(http, code)


async def test_a_new_login_rotates_the_session_key_only_after_the_minimum_period(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    first = await exchange(http, sim.login(APPID, "alice"))
    sim.advance(299)
    second = await exchange(http, sim.login(APPID, "alice"))
    assert second["session_key"] == first["session_key"]
    sim.advance(1)  # now 300 s since the key was issued
    third = await exchange(http, sim.login(APPID, "alice"))
    assert third["session_key"] != first["session_key"]
    assert third["openid"] == first["openid"]
    assert sim.session_key(APPID, "alice") == third["session_key"]


async def test_the_rotation_period_is_configurable() -> None:
    sim = Simulator(SimulatorConfig(session_key_min_rotation=0), clock=SimClock(lambda: T0))
    sim.register_app(APPID, SECRET)
    sim.login(APPID, "alice")
    key = sim.session_key(APPID, "alice")
    sim.login(APPID, "alice")
    assert sim.session_key(APPID, "alice") != key


async def test_an_expired_session_key_is_replaced_at_the_next_login(sim: Simulator) -> None:
    sim.login(APPID, "alice")
    key = sim.session_key(APPID, "alice")
    sim.advance(sim.config.session_key_lifetime)
    assert sim.session_key(APPID, "alice") is None
    sim.login(APPID, "alice")
    assert sim.session_key(APPID, "alice") not in (None, key)


async def test_apps_on_one_open_account_share_a_unionid_but_not_openids(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    a = await exchange(http, sim.login(APPID, "alice"))
    b = await exchange(http, sim.login(APPID_B, "alice"), appid=APPID_B, secret=SECRET_B)
    solo = await exchange(
        http, sim.login(APPID_SOLO, "alice"), appid=APPID_SOLO, secret=SECRET_SOLO
    )
    assert a["unionid"] == b["unionid"]
    assert len({a["openid"], b["openid"], solo["openid"]}) == 3
    assert "unionid" not in solo
    bob = await exchange(http, sim.login(APPID, "bob"))
    assert bob["unionid"] != a["unionid"] and bob["openid"] != a["openid"]
    sim.register_app("wx1111111111111111", "other", open_account="another-company")
    assert sim.unionid("wx1111111111111111", "alice") not in (None, a["unionid"])


def test_identities_are_stable_across_simulators() -> None:
    one, two = Simulator(), Simulator()
    for sim in (one, two):
        sim.register_app(APPID, SECRET, "acme")
    assert one.openid(APPID, "alice") == two.openid(APPID, "alice")
    assert one.unionid(APPID, "alice") == two.unionid(APPID, "alice")
    salted = Simulator(SimulatorConfig(identity_salt="another"))
    salted.register_app(APPID, SECRET, "acme")
    assert salted.openid(APPID, "alice") != one.openid(APPID, "alice")


async def test_any_method_reads_the_query_string(sim: Simulator, http: httpx2.AsyncClient) -> None:
    params = {
        "appid": APPID,
        "secret": SECRET,
        "js_code": sim.login(APPID, "alice"),
        "grant_type": "authorization_code",
    }
    response = await http.post(wx.CODE2SESSION, params=params)
    assert response.headers["content-type"] == "text/plain"
    assert "openid" in response.json()

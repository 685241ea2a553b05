"""getuserphonenumber: 64-hex single-use codes bound to an app, and the user's phone."""

from __future__ import annotations

import re
from typing import Any

import httpx2
import pytest

from tests.simulator.support import APPID, APPID_B, SECRET_B, T0, errcode, token_of
from wxlogin.simulator import Simulator
from wxlogin.wechat import protocol as wx

HINT_RE = re.compile(
    r"^invalid code hint: \[[A-Za-z0-9]+\] rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$"
)


async def redeem(http: httpx2.AsyncClient, code: str, token: str) -> dict[str, Any]:
    response = await http.post(wx.PHONE_NUMBER, params={"access_token": token}, json={"code": code})
    assert response.status_code == 200
    assert response.headers["content-type"] == wx.JSON_CONTENT_TYPE
    data: dict[str, Any] = response.json()
    return data


async def test_a_phone_code_gives_the_number_once(sim: Simulator, http: httpx2.AsyncClient) -> None:
    code = sim.phone_code(APPID, "alice", phone="13800138000")
    assert wx.PHONE_CODE_RE.match(code)
    token = await token_of(http)
    sim.advance(7)
    data = await redeem(http, code, token)
    assert data == {
        "errcode": 0,
        "errmsg": "ok",
        "phone_info": {
            "phoneNumber": "13800138000",
            "purePhoneNumber": "13800138000",
            "countryCode": "86",  # a string, as WeChat really sends it
            "watermark": {"timestamp": int(T0) + 7, "appid": APPID},
        },
    }
    reused = await redeem(http, code, token)
    assert reused["errcode"] == wx.ErrCode.INVALID_CODE
    assert HINT_RE.match(reused["errmsg"]), reused["errmsg"]  # no comma before rid here


async def test_a_phone_code_expires_after_five_minutes(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    almost = sim.phone_code(APPID, "alice")
    expired = sim.phone_code(APPID, "bob")
    sim.advance(wx.PHONE_CODE_TTL - 1)
    token = await token_of(http)
    assert errcode(await redeem(http, almost, token)) == 0
    sim.advance(1)
    assert (await redeem(http, expired, token))["errcode"] == wx.ErrCode.INVALID_CODE


async def test_a_code_from_another_app_is_40013_and_stays_usable(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    code = sim.phone_code(APPID_B, "alice")
    other = await redeem(http, code, await token_of(http))
    assert errcode(other) == wx.ErrCode.INVALID_APPID
    assert errcode(await redeem(http, code, await token_of(http, APPID_B, SECRET_B))) == 0


async def test_unknown_and_missing_codes(sim: Simulator, http: httpx2.AsyncClient) -> None:
    token = await token_of(http)
    assert (await redeem(http, "0" * 64, token))["errcode"] == wx.ErrCode.INVALID_CODE
    bad = await http.post(wx.PHONE_NUMBER, params={"access_token": token}, json={})
    assert errcode(bad.json()) == wx.ErrCode.DATA_FORMAT_ERROR
    get = await http.get(wx.PHONE_NUMBER, params={"access_token": token})
    assert errcode(get.json()) == wx.ErrCode.REQUIRE_POST
    no_token = await http.post(wx.PHONE_NUMBER, json={"code": sim.phone_code(APPID, "alice")})
    assert errcode(no_token.json()) == wx.ErrCode.ACCESS_TOKEN_MISSING


async def test_the_default_phone_is_stable_and_can_be_changed(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    token = await token_of(http)
    first = (await redeem(http, sim.phone_code(APPID, "alice"), token))["phone_info"]
    second = (await redeem(http, sim.phone_code(APPID, "alice"), token))["phone_info"]
    assert first == second and re.fullmatch(r"138[0-9]{8}", first["phoneNumber"])
    response = await http.patch("/__sim/users/alice", json={"phone": "13912345678"})
    assert response.json()["phone"] == "13912345678"
    changed = (await redeem(http, sim.phone_code(APPID, "alice"), token))["phone_info"]
    assert changed["purePhoneNumber"] == "13912345678"


@pytest.mark.parametrize(
    ("given", "number", "pure", "country"),
    [
        ("+1 2025550123", "+1 2025550123", "2025550123", "1"),
        ("+852-91234567", "+852 91234567", "91234567", "852"),
        ("+8613800138000", "13800138000", "13800138000", "86"),
    ],
)
async def test_numbers_outside_mainland_china_carry_their_country_code(
    sim: Simulator, http: httpx2.AsyncClient, given: str, number: str, pure: str, country: str
) -> None:
    info = (await redeem(http, sim.phone_code(APPID, "alice", given), await token_of(http)))[
        "phone_info"
    ]
    assert (info["phoneNumber"], info["purePhoneNumber"], info["countryCode"]) == (
        number,
        pure,
        country,
    )

"""WeChat's answers are untrusted input: a wrong shape is a bad upstream answer (502), never a
500 further in, never stored.

Each case is a success body with one field bent out of WeChat's shape, served by the simulator
in place of the real answer.
"""

from __future__ import annotations

import orjson
import pytest

from tests.wechat.conftest import APPID
from wxlogin import errors
from wxlogin.simulator import Simulator
from wxlogin.wechat import WeChatClient
from wxlogin.wechat import protocol as wx

GOOD_OPENID = "o" + "A" * 27
GOOD_KEY = "tiihtNczf5v6AKRyjwEUhQ=="


def session_body(**fields: object) -> str:
    body: dict[str, object] = {"openid": GOOD_OPENID, "session_key": GOOD_KEY}
    body.update(fields)
    return orjson.dumps({k: v for k, v in body.items() if v is not ...}).decode()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"session_key": "ключ-не-ascii-сессии=="}, "session_key"),  # was a 500 in sealing
        ({"session_key": "c2hvcnQ="}, "session_key"),  # base64, but not of 16 bytes
        ({"session_key": 12345}, "session_key"),
        ({"unionid": {"id": "x"}}, "unionid"),  # was a 500 on PostgreSQL
        ({"unionid": ["u1"]}, "unionid"),
        ({"unionid": 7}, "unionid"),
        ({"unionid": True}, "unionid"),
        ({"openid": "o" * 100_000}, "openid"),  # was accepted and stored
        ({"openid": "o123\nX-Injected: 1"}, "openid"),
        ({"openid": None}, "openid"),
    ],
)
async def test_a_malformed_code2session_answer_is_a_bad_response(
    client: WeChatClient, sim: Simulator, fields: dict[str, object], field: str
) -> None:
    sim.add_fault(wx.CODE2SESSION, body=session_body(**fields))
    with pytest.raises(errors.BadUpstreamResponse, match=field) as caught:
        await client.code_to_session(sim.login(APPID, "alice"))
    assert caught.value.http_status == 502
    assert "ключ" not in caught.value.message and "o" * 100 not in caught.value.message


async def test_a_well_shaped_answer_still_passes(client: WeChatClient, sim: Simulator) -> None:
    sim.add_fault(wx.CODE2SESSION, body=session_body(unionid="", extra={"ignored": 1}))
    session = await client.code_to_session(sim.login(APPID, "alice"))
    assert (session.openid, session.unionid) == (GOOD_OPENID, None)


@pytest.mark.parametrize("errcode", ["true", '"40029"', "1.5", "{}"])
async def test_an_errcode_that_is_not_an_integer_is_a_bad_response(
    client: WeChatClient, sim: Simulator, errcode: str
) -> None:
    sim.add_fault(wx.CODE2SESSION, body=f'{{"errcode": {errcode}, "errmsg": "x"}}')
    with pytest.raises(errors.BadUpstreamResponse, match="errcode"):
        await client.code_to_session(sim.login(APPID, "alice"))


@pytest.mark.parametrize(
    "phone_info",
    [
        {"phoneNumber": "1" * 100_000, "purePhoneNumber": "138", "countryCode": "86"},
        {"phoneNumber": "13800138000", "purePhoneNumber": ["138"], "countryCode": "86"},
        {"phoneNumber": "13800138000", "purePhoneNumber": "13800138000", "countryCode": "8\n6"},
        {"phoneNumber": "<script>", "purePhoneNumber": "13800138000", "countryCode": "86"},
    ],
)
async def test_a_malformed_phone_answer_is_a_bad_response(
    client: WeChatClient, sim: Simulator, phone_info: dict[str, object]
) -> None:
    body = orjson.dumps({"errcode": 0, "errmsg": "ok", "phone_info": phone_info}).decode()
    sim.add_fault(wx.PHONE_NUMBER, body=body)
    with pytest.raises(errors.BadUpstreamResponse):
        await client.get_phone_number(sim.phone_code(APPID, "alice"))


async def test_a_numeric_country_code_is_tolerated(client: WeChatClient, sim: Simulator) -> None:
    info = {"phoneNumber": "13800138000", "purePhoneNumber": "13800138000", "countryCode": 86}
    body = orjson.dumps({"errcode": 0, "errmsg": "ok", "phone_info": info}).decode()
    sim.add_fault(wx.PHONE_NUMBER, body=body)
    phone = await client.get_phone_number(sim.phone_code(APPID, "alice"))
    assert phone.country_code == "86"


@pytest.mark.parametrize(
    "body",
    [
        '{"access_token": "x y", "expires_in": 7200}',
        '{"access_token": "ok-token", "expires_in": true}',
        '{"access_token": "ok-token", "expires_in": 99999999}',
    ],
)
async def test_a_malformed_token_answer_is_a_bad_response(
    client: WeChatClient, sim: Simulator, body: str
) -> None:
    sim.add_fault(wx.STABLE_TOKEN, body=body, times=3)  # the token fetch retries transient faults
    with pytest.raises(errors.BadUpstreamResponse):
        await client.get_access_token()

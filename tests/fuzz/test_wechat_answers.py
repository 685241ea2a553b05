"""Properties of the WeChat client's reading of answers: whatever WeChat (or whatever stands
between us and it) sends back — any status, any JSON, any bytes — each call ends in its typed
result, every field of WeChat's real shape, or in one of our errors (an upstream error the
HTTP face maps to a documented status); never a KeyError, TypeError or UnicodeError."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz.strategies import PROPERTY, json_values, objects_with
from wxlogin.errors import WxLoginError
from wxlogin.service.sealing import SessionKeySealer
from wxlogin.wechat import HttpResponse, WeChatClient
from wxlogin.wechat import protocol as wx
from wxlogin.wechat.results import PhoneInfo, Session, SessionKeyReset

APPID = "wx1234567890abcdef"
SECRET = "s3cret-app-a-0123456789"
SESSION_KEY = "tiihtNczf5v6AKRyjwEUhQ=="
OPENID = "oABCDEFGHIJKLMNOPQRSTUVWXYZ0"
SEALER = SessionKeySealer(os.urandom(32))
TOKEN_ANSWER = orjson.dumps({"access_token": "ACCESS_TOKEN", "expires_in": 7200})


def _dumps(value: Any) -> bytes:
    # The standard library's, which writes integers of any size, as an upstream may.
    return json.dumps(value).encode()


statuses = st.sampled_from([200, 200, 200, 400, 404, 429, 500, 502, 503])


# A body: arbitrary JSON, JSON that uses the fields the call reads, or any bytes.
def bodies(*keys: str) -> st.SearchStrategy[bytes]:
    return (
        json_values.map(_dumps)
        | objects_with("errcode", "errmsg", *keys).map(_dumps)
        | st.binary(max_size=64)
    )


@dataclass
class Scripted:
    """A transport that answers the access_token endpoints properly and everything else
    with one scripted answer."""

    status: int
    body: bytes

    async def request(
        self,
        method: Any,
        url: str,
        *,
        params: Mapping[str, str],
        json_body: bytes | None,
        timeout: float,
        **_: Any,
    ) -> HttpResponse:
        if url.endswith((wx.TOKEN, wx.STABLE_TOKEN)):
            return HttpResponse(200, "application/json", TOKEN_ANSWER)
        return HttpResponse(self.status, "application/json", self.body)

    async def aclose(self) -> None:
        return None


async def _no_sleep(_: float) -> None:
    return None


def outcome(status: int, body: bytes, call: Callable[[WeChatClient], Awaitable[Any]]) -> Any:
    """The call's result, or the WxLoginError it raised; anything else fails the test."""

    async def run() -> Any:
        client = WeChatClient(
            APPID, SECRET, transport=Scripted(status, body), max_retries=0, sleep=_no_sleep
        )
        async with client:
            try:
                return await call(client)
            except WxLoginError as exc:
                return exc

    result = asyncio.run(run())
    assert SECRET not in str(result)
    return result


GOOD_SESSION = {"openid": OPENID, "session_key": SESSION_KEY, "unionid": "oUNION_0123456789"}
GOOD_PHONE: dict[str, Any] = {"phoneNumber": "+86 13800138000", "purePhoneNumber": "13800138000"}
GOOD_PHONE |= {"countryCode": 86, "watermark": {"appid": APPID, "timestamp": 1700000000}}


@PROPERTY
@given(status=statuses, body=bodies("openid", "session_key", "unionid"))
@example(status=200, body=_dumps(GOOD_SESSION))
def test_jscode2session_answers(status: int, body: bytes) -> None:
    result = outcome(status, body, lambda c: c.code_to_session("0a3bXc000abcdef0123456789abcdefg"))
    if body == _dumps(GOOD_SESSION):  # the typed branch below is reached, not only errors
        assert isinstance(result, Session)
    if isinstance(result, WxLoginError):
        return
    assert isinstance(result, Session) and status < 400
    assert wx.ANSWER_ID_RE.fullmatch(result.openid)
    assert result.unionid is None or wx.ANSWER_ID_RE.fullmatch(result.unionid)
    # What the store will do with it next cannot fail: the key is WeChat's ASCII shape.
    assert wx.ANSWER_SESSION_KEY_RE.fullmatch(result.session_key)
    sealed = SEALER.seal(result.session_key, appid=APPID, openid=result.openid)
    assert SEALER.open(sealed, appid=APPID, openid=result.openid) == result.session_key


phone_infos = objects_with("phoneNumber", "purePhoneNumber", "countryCode", "watermark")
# A phone_info with the right field names, inside an answer that may carry an errcode too.
phone_answers = st.builds(
    lambda answer, info: _dumps({**answer, "phone_info": info}),
    objects_with("errcode", "errmsg"),
    phone_infos,
)


@PROPERTY
@given(status=statuses, body=bodies("phone_info") | phone_answers)
@example(status=200, body=_dumps({"errcode": 0, "phone_info": GOOD_PHONE}))
def test_phone_number_answers(status: int, body: bytes) -> None:
    result = outcome(status, body, lambda c: c.get_phone_number("a" * 64))
    if body == _dumps({"errcode": 0, "phone_info": GOOD_PHONE}):
        assert isinstance(result, PhoneInfo) and result.country_code == "86"
    if isinstance(result, WxLoginError):
        return
    assert isinstance(result, PhoneInfo) and status < 400
    assert wx.ANSWER_PHONE_RE.fullmatch(result.phone_number)
    assert wx.ANSWER_PURE_PHONE_RE.fullmatch(result.pure_phone_number)
    assert wx.ANSWER_COUNTRY_CODE_RE.fullmatch(result.country_code)
    assert type(result.watermark_timestamp) is int


@PROPERTY
@given(status=statuses, body=bodies("openid", "session_key"))
def test_reset_session_key_answers(status: int, body: bytes) -> None:
    result = outcome(status, body, lambda c: c.reset_session_key(OPENID, SESSION_KEY))
    if isinstance(result, WxLoginError):
        return
    assert isinstance(result, SessionKeyReset) and status < 400
    assert wx.ANSWER_ID_RE.fullmatch(result.openid)
    assert wx.ANSWER_SESSION_KEY_RE.fullmatch(result.session_key)


@PROPERTY
@given(status=statuses, body=bodies())
def test_check_session_key_answers(status: int, body: bytes) -> None:
    result = outcome(status, body, lambda c: c.check_session_key(OPENID, SESSION_KEY))
    assert isinstance(result, WxLoginError) or result is True


@PROPERTY
@given(status=statuses, body=bodies("access_token", "expires_in"), stable=st.booleans())
def test_access_token_answers(status: int, body: bytes, stable: bool) -> None:
    @dataclass
    class TokenOnly(Scripted):
        async def request(self, method: Any, url: str, **kwargs: Any) -> HttpResponse:
            return HttpResponse(self.status, "application/json", self.body)

    async def run() -> Any:
        client = WeChatClient(
            APPID,
            SECRET,
            transport=TokenOnly(status, body),
            token_endpoint="stable" if stable else "plain",
            max_retries=0,
            sleep=_no_sleep,
        )
        async with client:
            try:
                return await client.get_access_token()
            except WxLoginError as exc:
                return exc

    result = asyncio.run(run())
    if not isinstance(result, WxLoginError):
        assert wx.ANSWER_ACCESS_TOKEN_RE.fullmatch(result) and status < 400

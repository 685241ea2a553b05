"""checksession and resetusersessionkey: the HMAC signature, stale keys, resets keep expiry."""

from __future__ import annotations

import base64
import hashlib
import hmac

import httpx2
import pytest

from tests.simulator.support import APPID, JSON_CT, check_session, errcode, token_of
from wxlogin.simulator import Simulator
from wxlogin.wechat import protocol as wx


def current_key(sim: Simulator, user: str = "alice") -> str:
    key = sim.session_key(APPID, user)
    assert key is not None
    return key


async def test_checksession_accepts_hmac_of_the_empty_body_keyed_with_the_key_string(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    sim.login(APPID, "alice")
    key = current_key(sim)
    token = await token_of(http)
    signature = hmac.new(key.encode(), b"", hashlib.sha256).hexdigest()  # computed by hand
    params = {
        "access_token": token,
        "openid": sim.openid(APPID, "alice"),
        "signature": signature,
        "sig_method": "hmac_sha256",
    }
    response = await http.get(wx.CHECK_SESSION, params=params)
    assert response.headers["content-type"] == JSON_CT
    assert response.content == b'{"errcode":0,"errmsg":"ok"}'


async def test_signing_with_the_decoded_key_bytes_is_the_classic_bug_and_fails(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    sim.login(APPID, "alice")
    raw = base64.b64decode(current_key(sim))
    wrong = hmac.new(raw, b"", hashlib.sha256).hexdigest()
    answer = await check_session(
        http, await token_of(http), sim.openid(APPID, "alice"), "", overrides={"signature": wrong}
    )
    assert errcode(answer) == wx.ErrCode.INVALID_SIGNATURE
    assert answer["errmsg"].startswith("invalid signature, rid: ")


async def test_a_rotated_key_is_stale(sim: Simulator, http: httpx2.AsyncClient) -> None:
    sim.login(APPID, "alice")
    old = current_key(sim)
    sim.advance(sim.config.session_key_min_rotation)
    sim.login(APPID, "alice")
    token = await token_of(http)
    openid = sim.openid(APPID, "alice")
    assert errcode(await check_session(http, token, openid, old)) == wx.ErrCode.INVALID_SIGNATURE
    assert errcode(await check_session(http, token, openid, current_key(sim))) == 0


@pytest.mark.parametrize(
    ("path", "expected", "text"),
    [
        # checksession cannot tell "no key" from "wrong key": both are 87009 (shared spec).
        (wx.CHECK_SESSION, wx.ErrCode.INVALID_SIGNATURE, "invalid signature, rid: "),
        (wx.RESET_SESSION_KEY, wx.ErrCode.SESSION_KEY_MISSING, "session_key is not existd"),
    ],
)
async def test_no_key_or_an_expired_key(
    sim: Simulator, http: httpx2.AsyncClient, path: str, expected: int, text: str
) -> None:
    token = await token_of(http)
    never = await check_session(http, token, sim.openid(APPID, "nobody"), "k" * 24, path=path)
    assert errcode(never) == expected
    sim.login(APPID, "alice")
    key = current_key(sim)
    sim.advance(sim.config.session_key_lifetime)
    token = await token_of(http)
    expired = await check_session(http, token, sim.openid(APPID, "alice"), key, path=path)
    assert errcode(expired) == expected
    assert expired["errmsg"].startswith(text)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"sig_method": "md5"}, wx.ErrCode.INVALID_SIG_METHOD),
        ({"sig_method": ""}, wx.ErrCode.INVALID_SIG_METHOD),
        ({"signature": ""}, wx.ErrCode.INVALID_ARGS),
        ({"openid": ""}, wx.ErrCode.INVALID_ARGS),
        ({"openid": "not-an-openid"}, wx.ErrCode.INVALID_OPENID),
        ({"access_token": ""}, wx.ErrCode.ACCESS_TOKEN_MISSING),
    ],
)
@pytest.mark.parametrize("path", [wx.CHECK_SESSION, wx.RESET_SESSION_KEY])
async def test_argument_errors(
    sim: Simulator,
    http: httpx2.AsyncClient,
    path: str,
    overrides: dict[str, str],
    expected: int,
) -> None:
    sim.login(APPID, "alice")
    answer = await check_session(
        http,
        await token_of(http),
        sim.openid(APPID, "alice"),
        current_key(sim),
        path=path,
        overrides=overrides,
    )
    assert errcode(answer) == expected


async def test_reset_gives_a_new_key_that_keeps_the_old_expiry(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    sim.login(APPID, "alice")
    old = current_key(sim)
    openid = sim.openid(APPID, "alice")
    sim.advance(1000)
    token = await token_of(http)
    reset = await check_session(http, token, openid, old, path=wx.RESET_SESSION_KEY)
    assert list(reset) == ["errcode", "errmsg", "openid", "session_key"]
    assert reset["errcode"] == 0 and reset["errmsg"] == "ok" and reset["openid"] == openid
    new = reset["session_key"]
    assert new != old and len(base64.b64decode(new)) == 16
    assert new == current_key(sim)
    assert errcode(await check_session(http, token, openid, old)) == wx.ErrCode.INVALID_SIGNATURE
    again = await check_session(http, token, openid, old, path=wx.RESET_SESSION_KEY)
    assert errcode(again) == wx.ErrCode.INVALID_SIGNATURE
    assert errcode(await check_session(http, token, openid, new)) == 0
    sim.advance(sim.config.session_key_lifetime - 1000 - 1)
    assert errcode(await check_session(http, await token_of(http), openid, new)) == 0
    sim.advance(1)  # the original key's expiry: the reset key dies with it
    gone = await check_session(http, await token_of(http), openid, new, path=wx.RESET_SESSION_KEY)
    assert errcode(gone) == wx.ErrCode.SESSION_KEY_MISSING

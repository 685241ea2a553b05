"""Helpers for the simulator tests: constants and thin wrappers over the WeChat endpoints."""

from __future__ import annotations

import re
from typing import Any

import httpx2

from wxlogin.crypto import session_signature
from wxlogin.wechat import protocol as wx

APPID = "wx1234567890abcdef"
SECRET = "s3cret-of-app-a"
APPID_B = "wxfedcba0987654321"  # same open account as APPID
SECRET_B = "s3cret-of-app-b"
APPID_SOLO = "wx00000000000solo"  # no open account
SECRET_SOLO = "s3cret-of-solo"
OPEN_ACCOUNT = "acme"
T0 = 1_763_700_000.0  # 2025-11-21 04:40:00 UTC; the tests' frozen "real" time
RID_RE = re.compile(
    r"^(?P<text>.*?)(?P<sep>, rid: | rid: )(?P<rid>[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8})$"
)
JSON_CT = wx.JSON_CONTENT_TYPE
TEXT_CT = wx.CODE2SESSION_CONTENT_TYPE


async def exchange(
    http: httpx2.AsyncClient,
    code: str,
    *,
    appid: str = APPID,
    secret: str = SECRET,
    **extra: str,
) -> dict[str, Any]:
    params = {
        "appid": appid,
        "secret": secret,
        "js_code": code,
        "grant_type": "authorization_code",
        **extra,
    }
    response = await http.get(wx.CODE2SESSION, params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == TEXT_CT
    data: dict[str, Any] = response.json()
    return data


async def plain_token(
    http: httpx2.AsyncClient, appid: str = APPID, secret: str = SECRET
) -> dict[str, Any]:
    params = {"grant_type": "client_credential", "appid": appid, "secret": secret}
    response = await http.get(wx.TOKEN, params=params)
    assert response.headers["content-type"] == JSON_CT
    data: dict[str, Any] = response.json()
    return data


async def stable_token(
    http: httpx2.AsyncClient,
    appid: str = APPID,
    secret: str = SECRET,
    *,
    force_refresh: bool | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"grant_type": "client_credential", "appid": appid, "secret": secret}
    if force_refresh is not None:
        body["force_refresh"] = force_refresh
    response = await http.post(wx.STABLE_TOKEN, json=body)
    assert response.headers["content-type"] == JSON_CT
    data: dict[str, Any] = response.json()
    return data


async def token_of(http: httpx2.AsyncClient, appid: str = APPID, secret: str = SECRET) -> str:
    data = await stable_token(http, appid, secret)
    token: str = data["access_token"]
    return token


async def check_session(
    http: httpx2.AsyncClient,
    token: str,
    openid: str,
    session_key: str,
    *,
    path: str = wx.CHECK_SESSION,
    overrides: dict[str, str] | None = None,
) -> dict[str, Any]:
    params = {
        "access_token": token,
        "openid": openid,
        "signature": session_signature(session_key),
        "sig_method": wx.SIG_METHOD,
        **(overrides or {}),
    }
    response = await http.get(path, params=params)
    assert response.headers["content-type"] == JSON_CT
    data: dict[str, Any] = response.json()
    return data


def errcode(data: dict[str, Any]) -> int:
    """The errcode of a WeChat answer, checking the errmsg carries a well-formed rid."""
    code = int(data.get("errcode", 0))
    if code:
        assert RID_RE.match(data["errmsg"]), data["errmsg"]
    return code

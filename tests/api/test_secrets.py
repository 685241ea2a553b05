"""No response body and no log line of a whole flow holds a secret."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Awaitable

import httpx2
import pytest

from tests.api.conftest import APPID, APPID_B, SECRET, SECRET_B, Harness, bearer, profile_body
from wxlogin.wechat.protocol import CODE2SESSION


async def test_a_full_flow_leaks_no_secret(wx: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []

    async def record(response_coro: Awaitable[httpx2.Response]) -> httpx2.Response:
        response = await response_coro
        bodies.append(response.text)
        bodies.append(json.dumps(dict(response.headers)))
        return response

    first = await wx.login("alice")
    bodies.append(json.dumps(first))
    headers = bearer(first["access_token"])
    await record(wx.http.get("/me", headers=headers))
    await record(
        wx.http.post("/me/phone", json={"code": wx.sim.phone_code(APPID, "alice")}, headers=headers)
    )
    key = wx.sim.session_key(APPID, "alice")
    assert key is not None
    await record(wx.post_encrypted_phone(first["access_token"], key, {"phoneNumber": "138"}))
    info = wx.sim.user_info(APPID, "alice", nickname="A")
    await record(
        wx.http.post(
            "/me/profile/wechat",
            json=profile_body(info),
            headers=headers,
        )
    )
    # Error paths: stale key, bad signature, upstream failures of every kind.
    wx.sim.advance(3600)
    wx.sim.login(APPID, "alice")
    rotated = wx.sim.session_key(APPID, "alice")
    assert rotated is not None
    wx.session_keys.add(rotated)
    await record(wx.post_encrypted_phone(first["access_token"], rotated, {"phoneNumber": "1"}))
    for fault in ({"errcode": 40125}, {"errcode": -1}, {"drop": True}, {"body": "<html>"}):
        wx.sim.add_fault(CODE2SESSION, **fault)
        await record(
            wx.http.post("/auth/login", json={"code": wx.sim.login(APPID, "bob"), "appid": APPID})
        )
    second = await wx.login("alice", appid=APPID_B)
    bodies.append(json.dumps(second))
    refreshed = await record(
        wx.http.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    )
    await record(wx.http.post("/auth/refresh", json={"refresh_token": second["refresh_token"]}))
    await record(wx.http.post("/auth/logout", headers=bearer(refreshed.json()["access_token"])))
    for path in ("/.well-known/jwks.json", "/.well-known/openid-configuration", "/openapi.json"):
        await record(wx.http.get(path))

    data_dir = wx.settings.data_dir
    # The signing keys, as the database holds them (sealed) and as they sign (in clear).
    private_keys = [
        base64.b64encode(key.private_bytes()).decode() for key in wx.service.tokens.keys.keys
    ]
    private_keys += [
        base64.b64encode(row.private_key_sealed).decode()
        for row in await wx.service.store.signing_keys.all()
    ]
    sealing = [p.read_text().strip() for p in data_dir.iterdir() if "session_key" in p.name]
    assert private_keys
    assert sealing
    # Refresh tokens go to their owner in the body that issues them, and nowhere else.
    issued_refresh = {first["refresh_token"], second["refresh_token"]}
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert not [t for t in issued_refresh if t in logged]
    secrets = {
        "AppSecret A": SECRET,
        "AppSecret B": SECRET_B,
        **{f"session_key {i}": k for i, k in enumerate(sorted(wx.session_keys))},
        **{f"private key {i}": k for i, k in enumerate(private_keys)},
        **{f"sealing key {i}": k for i, k in enumerate(sealing)},
    }
    # Also look for the raw bytes of the keys in other encodings.
    for name, value in list(secrets.items()):
        if "key" in name:
            raw = base64.b64decode(value)
            secrets[name + " (hex)"] = raw.hex()
            secrets[name + " (b64url)"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert len(wx.session_keys) >= 3
    logs = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    haystack = "\n".join(bodies) + "\n" + logs
    leaked = [name for name, value in secrets.items() if value and value in haystack]
    assert leaked == []
    assert len(bodies) > 20
    assert caplog.records  # the flow did log; it just logged nothing secret

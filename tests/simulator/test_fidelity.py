"""The simulator's answers against the stored real WeChat responses (simulator/fixtures/*.json).

For every stored response a scenario here provokes the same situation; the test compares
status, Content-Type, key order at every level, the errmsg text and rid format, and the shape
of identifiers (whose values are random). A fixture without a scenario fails, so a new fixture
cannot go untested.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

import httpx2
import pytest

from tests.simulator.support import (
    APPID,
    APPID_B,
    APPID_SOLO,
    RID_RE,
    SECRET,
    SECRET_SOLO,
    T0,
)
from wxlogin.crypto import session_signature
from wxlogin.simulator import ACCESS_TOKEN_RE, Simulator
from wxlogin.wechat import protocol as wx

Scenario = Callable[[Simulator, httpx2.AsyncClient], Awaitable[httpx2.Response]]
FIXTURES = resources.files("wxlogin.simulator") / "fixtures"


def load_fixtures() -> list[tuple[str, str, dict[str, Any]]]:
    cases = []
    for entry in sorted(FIXTURES.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            doc = json.loads(entry.read_text(encoding="utf-8"))
            for name, response in doc["responses"].items():
                cases.append((entry.name.removesuffix(".json"), name, response))
    return cases


# --------------------------------------------------------------------------- scenarios


def login_query(code: str, appid: str = APPID, secret: str = SECRET) -> dict[str, str]:
    return {"appid": appid, "secret": secret, "js_code": code, "grant_type": "authorization_code"}


async def token(http: httpx2.AsyncClient, appid: str = APPID, secret: str = SECRET) -> str:
    body = {"grant_type": "client_credential", "appid": appid, "secret": secret}
    value: str = (await http.post(wx.STABLE_TOKEN, json=body)).json()["access_token"]
    return value


async def signed(sim: Simulator, http: httpx2.AsyncClient, path: str, key: str) -> httpx2.Response:
    params = {
        "access_token": await token(http),
        "openid": sim.openid(APPID, "alice"),
        "signature": session_signature(key),
        "sig_method": "hmac_sha256",
    }
    return await http.get(path, params=params)


async def c2s_success(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    code = sim.login(APPID_SOLO, "alice")
    return await http.get(wx.CODE2SESSION, params=login_query(code, APPID_SOLO, SECRET_SOLO))


async def c2s_success_with_unionid(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    return await http.get(wx.CODE2SESSION, params=login_query(sim.login(APPID, "alice")))


async def c2s_invalid_code(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    return await http.get(wx.CODE2SESSION, params=login_query("0" * 32))


async def c2s_code_used(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    code = sim.login(APPID, "alice")
    await http.get(wx.CODE2SESSION, params=login_query(code))
    return await http.get(wx.CODE2SESSION, params=login_query(code))


async def c2s_minute_quota(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    for _ in range(wx.CODE2SESSION_PER_USER_PER_MINUTE):
        await http.get(wx.CODE2SESSION, params=login_query(sim.login(APPID, "alice")))
    return await http.get(wx.CODE2SESSION, params=login_query(sim.login(APPID, "alice")))


async def c2s_code_blocked(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    sim.set_user("alice", high_risk=True)
    return await http.get(wx.CODE2SESSION, params=login_query(sim.login(APPID, "alice")))


async def c2s_invalid_appsecret(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    code = sim.login(APPID, "alice")
    return await http.get(wx.CODE2SESSION, params=login_query(code, secret="wrong"))


async def token_success(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    params = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    return await http.get(wx.TOKEN, params=params)


async def token_invalid_appsecret(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    params = {"grant_type": "client_credential", "appid": APPID, "secret": "wrong"}
    return await http.get(wx.TOKEN, params=params)


async def token_invalid_grant_type(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    params = {"grant_type": "password", "appid": APPID, "secret": SECRET}
    return await http.get(wx.TOKEN, params=params)


async def stable_success(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    return await http.post(wx.STABLE_TOKEN, json=body)


async def stable_require_post(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    return await http.get(wx.STABLE_TOKEN)


async def stable_daily_quota(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    body = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    for _ in range(wx.STABLE_TOKEN_FORCE_REFRESH_DAILY + 1):
        sim.advance(wx.STABLE_TOKEN_FORCE_REFRESH_INTERVAL)
        response = await http.post(wx.STABLE_TOKEN, json={**body, "force_refresh": True})
    return response


async def check_success(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    sim.login(APPID, "alice")
    return await signed(sim, http, wx.CHECK_SESSION, sim.session_key(APPID, "alice") or "")


async def check_invalid_signature(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    sim.login(APPID, "alice")
    return await signed(sim, http, wx.CHECK_SESSION, "not-the-key")


async def check_invalid_credential(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    params = {"grant_type": "client_credential", "appid": APPID, "secret": SECRET}
    old = (await http.get(wx.TOKEN, params=params)).json()["access_token"]
    await http.get(wx.TOKEN, params=params)
    sim.advance(wx.SUPERSEDED_TOKEN_GRACE)
    sim.login(APPID, "alice")
    query = {
        "access_token": old,
        "openid": sim.openid(APPID, "alice"),
        "signature": session_signature(sim.session_key(APPID, "alice") or ""),
        "sig_method": "hmac_sha256",
    }
    return await http.get(wx.CHECK_SESSION, params=query)


async def reset_success(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    sim.login(APPID, "alice")
    return await signed(sim, http, wx.RESET_SESSION_KEY, sim.session_key(APPID, "alice") or "")


async def reset_session_key_missing(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    return await signed(sim, http, wx.RESET_SESSION_KEY, "k" * 24)


async def phone(http: httpx2.AsyncClient, code: str) -> httpx2.Response:
    params = {"access_token": await token(http)}
    return await http.post(wx.PHONE_NUMBER, params=params, json={"code": code})


async def phone_success(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    return await phone(http, sim.phone_code(APPID, "alice", phone="13800138000"))


async def phone_invalid_code(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    code = sim.phone_code(APPID, "alice")
    await phone(http, code)
    return await phone(http, code)


async def phone_other_app(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    return await phone(http, sim.phone_code(APPID_B, "alice"))


async def paid(
    http: httpx2.AsyncClient, openid: str, txn: str, appid: str = APPID, secret: str = SECRET
) -> httpx2.Response:
    params = {"access_token": await token(http, appid, secret), "openid": openid}
    return await http.get(wx.PAID_UNIONID, params={**params, "transaction_id": txn})


async def paid_success(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    payment = sim.add_payment(APPID, "alice")
    return await paid(http, payment["openid"], payment["transaction_id"])


async def paid_invalid_trade(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    return await paid(http, sim.openid(APPID, "alice"), "4200000000000000000000000000")


async def paid_open_account_missing(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    payment = sim.add_payment(APPID_SOLO, "alice")
    return await paid(http, payment["openid"], payment["transaction_id"], APPID_SOLO, SECRET_SOLO)


# The template of the posted 47003: its keyword phrase16 (5 Chinese characters at most).
SHIPPED = "tmpl-posted-47003"
SHIPPED_FIELDS = {"thing7": "thing", "phrase16": "phrase"}


async def subscribe_send(
    sim: Simulator, http: httpx2.AsyncClient, phrase: str, *, accept: bool
) -> httpx2.Response:
    sim.register_template(APPID, SHIPPED, SHIPPED_FIELDS)
    sim.login(APPID, "alice")
    if accept:
        sim.subscribe(APPID, "alice", SHIPPED)
    body = {
        "touser": sim.openid(APPID, "alice"),
        "template_id": SHIPPED,
        "data": {"thing7": {"value": "您的餐品已备好"}, "phrase16": {"value": phrase}},
    }
    return await http.post(wx.SUBSCRIBE_SEND, params={"access_token": await token(http)}, json=body)


async def send_success(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    return await subscribe_send(sim, http, "正常结束", accept=True)


async def send_refused(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    return await subscribe_send(sim, http, "正常结束", accept=False)


async def send_invalid_data(sim: Simulator, http: httpx2.AsyncClient) -> httpx2.Response:
    return await subscribe_send(sim, http, "正常结束了吗", accept=True)  # 6 characters


SCENARIOS: dict[tuple[str, str], Scenario] = {
    ("jscode2session", "success"): c2s_success,
    ("jscode2session", "success_with_unionid"): c2s_success_with_unionid,
    ("jscode2session", "invalid_code"): c2s_invalid_code,
    ("jscode2session", "code_used"): c2s_code_used,
    ("jscode2session", "minute_quota"): c2s_minute_quota,
    ("jscode2session", "code_blocked"): c2s_code_blocked,
    ("jscode2session", "invalid_appsecret"): c2s_invalid_appsecret,
    ("token", "success"): token_success,
    ("token", "invalid_appsecret"): token_invalid_appsecret,
    ("token", "invalid_grant_type"): token_invalid_grant_type,
    ("stable_token", "success"): stable_success,
    ("stable_token", "require_post"): stable_require_post,
    ("stable_token", "daily_quota"): stable_daily_quota,
    ("checksession", "success"): check_success,
    ("checksession", "invalid_signature"): check_invalid_signature,
    ("checksession", "invalid_credential"): check_invalid_credential,
    ("resetusersessionkey", "success"): reset_success,
    ("resetusersessionkey", "session_key_missing"): reset_session_key_missing,
    ("getuserphonenumber", "success"): phone_success,
    ("getuserphonenumber", "invalid_code"): phone_invalid_code,
    ("getuserphonenumber", "other_app"): phone_other_app,
    ("getpaidunionid", "success"): paid_success,
    ("getpaidunionid", "invalid_trade"): paid_invalid_trade,
    ("getpaidunionid", "open_account_missing"): paid_open_account_missing,
    ("subscribe_send", "success"): send_success,
    ("subscribe_send", "subscription_refused"): send_refused,
    ("subscribe_send", "invalid_template_data"): send_invalid_data,
}


# --------------------------------------------------------------------------- comparison


def _is_session_key(value: Any) -> bool:
    return (
        isinstance(value, str)
        and len(value) == wx.SESSION_KEY_LENGTH
        and len(base64.b64decode(value, validate=True)) == 16
    )


SHAPES: dict[str, Callable[[Any], bool]] = {
    "openid": lambda v: bool(wx.OPENID_RE.match(v)),
    "unionid": lambda v: bool(wx.OPENID_RE.match(v)),
    "session_key": _is_session_key,
    "access_token": lambda v: bool(ACCESS_TOKEN_RE.match(v)),
    "timestamp": lambda v: isinstance(v, int) and not isinstance(v, bool),
}


def assert_same_shape(real: Any, ours: Any, where: str = "$") -> None:
    assert type(ours) is type(real), f"{where}: {type(ours).__name__} vs {type(real).__name__}"
    if isinstance(real, dict):
        assert list(ours) == list(real), f"{where}: key order {list(ours)} vs {list(real)}"
        for key in real:
            here = f"{where}.{key}"
            if key in SHAPES:
                assert SHAPES[key](real[key]), f"{here}: the fixture itself is misshapen"
                assert SHAPES[key](ours[key]), f"{here}: {ours[key]!r}"
            elif key == "errmsg" and real[key] != "ok":
                real_m, our_m = RID_RE.match(real[key]), RID_RE.match(ours[key])
                assert real_m and our_m, f"{here}: {ours[key]!r}"
                real_text, our_text = real_m["text"], our_m["text"]
                if "hint: [" in real_text:  # the hint is random; compare what frames it
                    real_text, our_text = real_text.split("[")[0], our_text.split("[")[0]
                assert (our_text, our_m["sep"]) == (real_text, real_m["sep"]), here
            else:
                assert_same_shape(real[key], ours[key], here)
    else:
        assert ours == real, f"{where}: {ours!r} vs {real!r}"


@pytest.mark.parametrize(
    ("endpoint", "name", "real"),
    load_fixtures(),
    ids=[f"{e}-{n}" for e, n, _ in load_fixtures()],
)
async def test_the_simulator_answers_like_the_real_response(
    sim: Simulator, http: httpx2.AsyncClient, endpoint: str, name: str, real: dict[str, Any]
) -> None:
    scenario = SCENARIOS.get((endpoint, name))
    assert scenario is not None, f"no scenario for fixture {endpoint}/{name}"
    response = await scenario(sim, http)
    assert response.status_code == real["status"]
    assert response.headers["content-type"] == real["content_type"]
    assert_same_shape(json.loads(real["body"]), response.json())


def test_every_endpoint_has_fixtures() -> None:
    endpoints = {
        json.loads(e.read_text(encoding="utf-8"))["endpoint"]
        for e in FIXTURES.iterdir()
        if e.name.endswith(".json")
    }
    assert endpoints == {
        wx.CODE2SESSION,
        wx.TOKEN,
        wx.STABLE_TOKEN,
        wx.CHECK_SESSION,
        wx.RESET_SESSION_KEY,
        wx.PHONE_NUMBER,
        wx.PAID_UNIONID,
        wx.SUBSCRIBE_SEND,
    }


async def test_the_rid_starts_with_the_simulated_time_in_hex(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    sim.advance(12345)
    response = await c2s_invalid_code(sim, http)
    match = RID_RE.match(response.json()["errmsg"])
    assert match is not None
    assert match["rid"].split("-")[0] == f"{int(T0) + 12345:08x}"
    other = RID_RE.match((await c2s_invalid_code(sim, http)).json()["errmsg"])
    assert other is not None and other["rid"] != match["rid"]


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        (wx.CODE2SESSION, "text/plain"),
        (wx.TOKEN, "application/json; encoding=utf-8"),
        (wx.STABLE_TOKEN, "application/json; encoding=utf-8"),
        (wx.CHECK_SESSION, "application/json; encoding=utf-8"),
        (wx.RESET_SESSION_KEY, "application/json; encoding=utf-8"),
        (wx.PHONE_NUMBER, "application/json; encoding=utf-8"),
        (wx.PAID_UNIONID, "application/json; encoding=utf-8"),
    ],
)
async def test_content_types_are_wechats_even_for_errors(
    http: httpx2.AsyncClient, path: str, content_type: str
) -> None:
    for method in ("GET", "POST"):
        response = await http.request(method, path)
        assert response.status_code == 200
        assert response.headers["content-type"] == content_type
        assert response.json()["errcode"] != 0

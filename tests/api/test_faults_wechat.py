"""The fault matrix on the routes that call WeChat: login, phone, messages (and the
access_token they need) × every errcode, gateway statuses, bad bodies, a timeout, a drop.

Every case fails every attempt the client makes (its retries included). Each answer must be
an error ``/openapi.json`` documents for the route, never ``internal_error``; the database must
hold exactly what it held before; and once the fault is gone the very same request succeeds
(a faulted call never reaches WeChat's logic, so the code it carried is still good). Both
backends (tests/api runs on SQLite + memory and on PostgreSQL + Redis).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.conftest import APPID, Harness, bearer
from tests.api.fault_support import (
    ERRCODES,
    HUGE,
    Case,
    Snapshots,
    Verdict,
    snapshots,
    wechat_cases,
    without_backoff,
)
from wxlogin.errors import error_for_errcode
from wxlogin.wechat import protocol as wx

TIMEOUT = 0.2  # the service's WeChat timeout here: delay faults wait a little past it
OPENID = "oAAAAAAAAAAAAAAAAAAAAAAAAAAA"
KEY = "tiihtNczf5v6AKRyjwEUhQ=="
LOGIN_TABLES = ("users", "identities", "sessions", "used_refresh_tokens")
TOKEN_TTL = 7200  # past it, the service must fetch a new access_token

LOGIN_CASES = wechat_cases(
    wx.CODE2SESSION,
    timeout=TIMEOUT,
    wrong_typed=[
        f'{{"openid":123,"session_key":"{KEY}"}}',
        f'{{"openid":"{OPENID}","session_key":["{KEY}"]}}',
        f'{{"openid":"{OPENID}","session_key":"{KEY}","unionid":false}}',
        f'{{"openid":"{OPENID}","session_key":"{KEY}","unionid":{{"id":1}}}}',
        f'{{"openid":"{OPENID}","session_key":"not base64 at all, 24!"}}',
        f'{{"openid":"{OPENID}\\u0000x","session_key":"{KEY}"}}',
        f'{{"session_key":"{KEY}"}}',
        f'{{"openid":"{OPENID}"}}',
    ],
    oversized=f'{{"openid":"o{"A" * HUGE}","session_key":"{KEY}"}}',
)
PHONE_CASES = wechat_cases(
    wx.PHONE_NUMBER,
    timeout=TIMEOUT,
    wrong_typed=[
        '{"errcode":0,"errmsg":"ok","phone_info":[]}',
        '{"errcode":0,"errmsg":"ok"}',
        '{"errcode":0,"phone_info":{"phoneNumber":13800138000,"purePhoneNumber":"13800138000",'
        '"countryCode":"86"}}',
        '{"errcode":0,"phone_info":{"phoneNumber":"138\\n00138000",'
        '"purePhoneNumber":"13800138000","countryCode":"86"}}',
        '{"errcode":0,"phone_info":{"phoneNumber":"13800138000","purePhoneNumber":{"n":1},'
        '"countryCode":"86"}}',
    ],
    oversized='{"errcode":0,"phone_info":{"phoneNumber":"' + "1" * HUGE + '",'
    '"purePhoneNumber":"13800138000","countryCode":"86"}}',
)
TOKEN_CASES = wechat_cases(
    wx.STABLE_TOKEN,
    timeout=TIMEOUT,
    wrong_typed=[
        '{"access_token":5,"expires_in":7200}',
        '{"access_token":"86_token","expires_in":"7200"}',
        '{"access_token":"86_token","expires_in":-5}',
        '{"access_token":"86 token with spaces","expires_in":7200}',
        '{"expires_in":7200}',
    ],
    oversized='{"access_token":"' + "t" * HUGE + '","expires_in":7200}',
)
SEND_CASES = wechat_cases(
    wx.SUBSCRIBE_SEND,
    timeout=TIMEOUT,
    wrong_typed=['{"errcode":"0","errmsg":"ok"}', '{"errcode":[0]}'],
    oversized='{"errcode":43101,"errmsg":"' + "x" * HUGE + '"}',
)


@pytest.fixture
async def h(harness_factory: Callable[..., Any]) -> Harness:
    harness: Harness = await harness_factory(wechat_timeout=TIMEOUT)
    return harness


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    without_backoff(monkeypatch)


async def _verdict(h: Harness) -> Verdict:
    return Verdict((await h.http.get("/openapi.json")).json())


async def test_login_faults(h: Harness, db: AsyncEngine) -> None:
    verdict = await _verdict(h)
    async with snapshots(db) as rows:
        for n, case in enumerate(LOGIN_CASES):
            code = h.sim.login(APPID, f"login-{n}")  # a first login: the most rows to leave
            before = await rows(LOGIN_TABLES)
            case.add_to(h.sim)
            response = await h.http.post("/auth/login", json={"code": code, "appid": APPID})
            answer = verdict.refused(case.name, response, "POST", "/auth/login")
            if case.fault.get("errcode") is not None:  # exactly the class the client maps to
                expected = error_for_errcode(case.fault["errcode"])
                mapped = (expected.http_status, str(expected.code))
                verdict.expect(case.name, answer == mapped, f"{answer} is not {mapped}")
            verdict.unchanged(case.name, before, await rows(LOGIN_TABLES))
            h.sim.clear_faults()
            again = await h.http.post("/auth/login", json={"code": code, "appid": APPID})
            verdict.expect(case.name, again.status_code == 200, f"then {again.status_code}")
    verdict.assert_clean()
    assert verdict.tried == len(LOGIN_CASES) > len(ERRCODES) + 20


async def _phone_with_fault(
    h: Harness, verdict: Verdict, rows: Snapshots, case: Case, token: str, code: str
) -> httpx2.Response:
    """The phone request with ``case`` on: refused, nothing stored. Then the same request with
    the fault gone, whose answer is returned."""
    headers = bearer(token)
    before = await rows(LOGIN_TABLES)
    case.add_to(h.sim)
    response = await h.http.post("/me/phone", json={"code": code}, headers=headers)
    verdict.refused(case.name, response, "POST", "/me/phone")
    verdict.unchanged(case.name, before, await rows(LOGIN_TABLES))
    h.sim.clear_faults()
    # A failed access_token fetch is shared with the callers of the next second (one attempt
    # upstream, not one per caller); after that, the next caller fetches again.
    h.clock.advance(2)
    return await h.http.post("/me/phone", json={"code": code}, headers=headers)


async def test_phone_faults(h: Harness, db: AsyncEngine) -> None:
    verdict = await _verdict(h)
    token = (await h.login("phone-owner"))["access_token"]
    async with snapshots(db) as rows:
        for n, case in enumerate(PHONE_CASES):
            phone = f"139{n:08d}"
            code = h.sim.phone_code(APPID, "phone-owner", phone)
            again = await _phone_with_fault(h, verdict, rows, case, token, code)
            stored = again.json().get("phone") if again.status_code == 200 else None
            verdict.expect(case.name, stored == phone, f"then {again.status_code}, {stored!r}")
    verdict.assert_clean()


async def test_access_token_faults_on_the_way_to_the_phone(h: Harness, db: AsyncEngine) -> None:
    """The phone needs WeChat's access_token: each case finds the cached one expired, so the
    service must fetch one, and that fetch misbehaves (retried: it changes nothing upstream)."""
    verdict = await _verdict(h)
    async with snapshots(db) as rows:
        for n, case in enumerate(TOKEN_CASES):
            h.clock.advance(TOKEN_TTL + 1)  # the cached token is dead; so is any user token
            user = f"token-{n}"
            token = (await h.login(user))["access_token"]
            code = h.sim.phone_code(APPID, user)
            again = await _phone_with_fault(h, verdict, rows, case, token, code)
            verdict.expect(case.name, again.status_code == 200, f"then {again.status_code}")
    verdict.assert_clean()


TOKEN = "fault-matrix-service-token-0123456789"
TEMPLATE = "tmpl-fault-matrix"
FIELDS = {"thing1": "thing"}
SENDS = "SELECT outcome FROM message_sends"


async def test_message_faults(harness_factory: Callable[..., Any], db: AsyncEngine) -> None:
    h: Harness = await harness_factory(
        wechat_timeout=TIMEOUT, service_tokens=[TOKEN], message_templates={TEMPLATE: FIELDS}
    )
    h.sim.register_template(APPID, TEMPLATE, FIELDS)
    verdict = await _verdict(h)
    user_id = (await h.login("reader"))["user"]["id"]
    body = {"user_id": user_id, "template_id": TEMPLATE, "data": {"thing1": "已发货"}}
    async with snapshots(db) as rows:
        for case in SEND_CASES:
            h.sim.subscribe(APPID, "reader", TEMPLATE)  # one accept: one send allowed
            before, sends = await rows(LOGIN_TABLES), await rows.scalars(SENDS)
            case.add_to(h.sim)
            response = await h.http.post("/messages", json=body, headers=bearer(TOKEN))
            verdict.refused(case.name, response, "POST", "/messages")
            verdict.unchanged(case.name, before, await rows(LOGIN_TABLES))
            # Every send is recorded, failed ones too: one record more, and not "sent".
            new = await rows.scalars(SENDS)
            for outcome in sends:
                new.remove(outcome)
            verdict.expect(case.name, len(new) == 1 and new[0] != "sent", f"recorded {new}")
            h.sim.clear_faults()
            again = await h.http.post("/messages", json=body, headers=bearer(TOKEN))
            verdict.expect(case.name, again.status_code == 200, f"then {again.status_code}")
    verdict.assert_clean()
    assert len(h.sim.delivered_messages("reader")) == len(SEND_CASES)  # the accepts were kept

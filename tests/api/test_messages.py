"""POST /messages: the service credential, the checks before WeChat, what WeChat says, the
record of every send — through the lean face and a FastAPI host."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI

from tests.api.conftest import APPID, APPID_B, ISSUER, SECRET, Harness, bearer, make_settings
from tests.message_vectors import CASES
from wxlogin.api.fastapi import ServiceCaller, setup
from wxlogin.errors import WxLoginError
from wxlogin.simulator import Simulator
from wxlogin.store.records import SendOutcome
from wxlogin.wechat import protocol as wx
from wxlogin.wechat.protocol import FieldKind

TOKEN = secrets.token_urlsafe(32)
OLD_TOKEN = secrets.token_urlsafe(32)
TEMPLATE = "tmpl-order-shipped"
FIELDS = {"thing1": "thing", "time2": "time"}
DATA = {"thing1": "您的订单已发货", "time2": "2026年12月1日 10:00"}
# One keyword of every kind, so that each kind's rule is met on the way through the API.
EVERY_KIND = "tmpl-every-kind"
NOT_AT_WECHAT = "tmpl-declared-here-only"  # in our settings, never registered at WeChat
KIND_FIELDS = {f"{kind.value}{n}": kind.value for n, kind in enumerate(FieldKind, start=1)}
GOOD = {kind: next(v for k, v, taken in CASES if k is kind and taken) for kind in FieldKind}
GOOD_DATA = {name: GOOD[FieldKind(kind)] for name, kind in KIND_FIELDS.items()}


@pytest.fixture
async def wx_msg(harness_factory: Callable[..., Any]) -> Harness:
    harness: Harness = await harness_factory(
        service_tokens=[OLD_TOKEN, TOKEN],
        message_templates={TEMPLATE: FIELDS, EVERY_KIND: KIND_FIELDS, NOT_AT_WECHAT: FIELDS},
    )
    harness.sim.register_template(APPID, TEMPLATE, FIELDS)
    harness.sim.register_template(APPID, EVERY_KIND, KIND_FIELDS)
    return harness


async def _user(h: Harness, name: str = "alice") -> str:
    user_id: str = (await h.login(name))["user"]["id"]
    return user_id


async def _send(h: Harness, body: dict[str, Any], token: str | None = TOKEN) -> httpx2.Response:
    headers = bearer(token) if token else {}
    return await h.http.post("/messages", json=body, headers=headers)


def _upstream_sends(sim: Simulator) -> int:
    return sim.app.requests.get(wx.SUBSCRIBE_SEND, 0)


async def test_accept_send_then_43101(wx_msg: Harness) -> None:
    user_id = await _user(wx_msg)
    wx_msg.sim.subscribe(APPID, "alice", TEMPLATE)
    body = {"user_id": user_id, "template_id": TEMPLATE, "data": DATA, "page": "pages/order"}

    sent = await _send(wx_msg, body)
    assert sent.status_code == 200, sent.text
    answer = sent.json()
    assert (answer["user_id"], answer["appid"], answer["template_id"], answer["outcome"]) == (
        user_id,
        APPID,
        TEMPLATE,
        "sent",
    )
    (delivered,) = wx_msg.sim.delivered_messages("alice")
    assert (delivered["data"], delivered["page"]) == (DATA, "pages/order")

    wx_msg.clock.advance(1)
    again = await _send(wx_msg, body)
    assert again.status_code == 403
    assert again.json()["error"]["code"] == "not_subscribed"
    assert again.json()["error"]["wechat_errcode"] == 43101

    records = await wx_msg.service.store.list_message_sends(user_id=user_id)
    assert [(r.outcome, r.errcode, r.error_code) for r in records] == [
        (SendOutcome.REFUSED, 43101, "not_subscribed"),
        (SendOutcome.SENT, None, None),
    ]
    assert records[1].id == answer["id"] and records[1].keywords == ("thing1", "time2")


async def test_any_of_the_service_tokens_and_nothing_else(wx_msg: Harness) -> None:
    user_id = await _user(wx_msg)
    access_token = (await wx_msg.login("alice"))["access_token"]
    body = {"user_id": user_id, "template_id": TEMPLATE, "data": DATA}
    for token in (None, "wrong-" + TOKEN, TOKEN[:-1], access_token):
        refused = await _send(wx_msg, body, token)
        assert refused.status_code == 401, token
        assert refused.json()["error"]["code"] == "invalid_service_token"
        assert (
            refused.headers["www-authenticate"] == 'Bearer realm="service", error="invalid_token"'
        )
    scheme = await wx_msg.http.post(
        "/messages", json=body, headers={"Authorization": f"Basic {TOKEN}"}
    )
    assert scheme.status_code == 401
    assert _upstream_sends(wx_msg.sim) == 0
    # Both configured tokens work (a rotation in progress): each gets past the door.
    for token in (OLD_TOKEN, TOKEN):
        assert (await _send(wx_msg, body, token)).status_code == 403  # no accept: WeChat's 43101
    assert _upstream_sends(wx_msg.sim) == 2


async def test_without_configured_tokens_the_route_is_shut(
    harness_factory: Callable[..., Any],
) -> None:
    harness: Harness = await harness_factory(message_templates={TEMPLATE: FIELDS})
    user_id = await _user(harness)
    refused = await _send(harness, {"user_id": user_id, "template_id": TEMPLATE, "data": DATA})
    assert refused.status_code == 401
    assert "WXLOGIN_SERVICE_TOKENS" in refused.json()["error"]["message"]


REFUSED_VALUES = [(kind, value) for kind, value, taken in CASES if not taken]


@pytest.mark.parametrize(("kind", "value"), REFUSED_VALUES, ids=lambda c: repr(c)[:40])
async def test_a_value_wechat_would_refuse_is_refused_before_any_upstream_call(
    wx_msg: Harness, kind: FieldKind, value: str
) -> None:
    """Acceptance 2: per kind, a 400 naming the keyword, no call to WeChat, a record."""
    user_id = await _user(wx_msg)
    wx_msg.sim.subscribe(APPID, "alice", EVERY_KIND)
    keyword = next(name for name, k in KIND_FIELDS.items() if k == kind.value)
    requests_before = dict(wx_msg.sim.app.requests)
    body = {"user_id": user_id, "template_id": EVERY_KIND, "data": {**GOOD_DATA, keyword: value}}

    refused = await _send(wx_msg, body)

    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_message_data" and "wechat_errcode" not in error
    assert error["message"].startswith(f"{keyword}: ")
    assert dict(wx_msg.sim.app.requests) == requests_before  # not even a token fetch
    (record,) = await wx_msg.service.store.list_message_sends(user_id=user_id)
    assert (record.outcome, record.field, record.errcode) == (SendOutcome.INVALID, keyword, None)
    # The same message with every value fitting goes out.
    assert (await _send(wx_msg, {**body, "data": GOOD_DATA})).status_code == 200
    assert len(wx_msg.sim.delivered_messages("alice")) == 1


async def test_missing_and_unknown_keywords(wx_msg: Harness) -> None:
    user_id = await _user(wx_msg)
    for data, keyword in (({"thing1": "x"}, "time2"), ({**DATA, "thing3": "x"}, "thing3")):
        refused = await _send(wx_msg, {"user_id": user_id, "template_id": TEMPLATE, "data": data})
        assert refused.status_code == 400
        assert refused.json()["error"]["message"].startswith(keyword)
    assert _upstream_sends(wx_msg.sim) == 0


async def test_who_and_which_template(wx_msg: Harness) -> None:
    user_id = await _user(wx_msg)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"template_id": "not-declared"}, 400, "unknown_template"),
        ({"user_id": "no-such-user"}, 404, "not_found"),
        ({"appid": "wxnotconfigured0000"}, 400, "unknown_app"),
        ({"appid": APPID_B}, 404, "not_found"),  # alice never logged in there
    ]
    for change, status, code in cases:
        body = {"user_id": user_id, "template_id": TEMPLATE, "data": DATA, **change}
        refused = await _send(wx_msg, body)
        assert (refused.status_code, refused.json()["error"]["code"]) == (status, code), change
    assert _upstream_sends(wx_msg.sim) == 0
    assert await wx_msg.service.store.list_message_sends() == []


async def test_a_user_of_two_apps_needs_the_appid(wx_msg: Harness) -> None:
    user_id = await _user(wx_msg)
    assert (await wx_msg.login("alice", APPID_B))["user"]["id"] == user_id  # linked by unionid
    body = {"user_id": user_id, "template_id": TEMPLATE, "data": DATA}
    ambiguous = await _send(wx_msg, body)
    assert (ambiguous.status_code, ambiguous.json()["error"]["code"]) == (400, "appid_required")
    wx_msg.sim.subscribe(APPID, "alice", TEMPLATE)
    assert (await _send(wx_msg, {**body, "appid": APPID})).status_code == 200


async def test_wechats_own_refusals(wx_msg: Harness) -> None:
    user_id = await _user(wx_msg)
    # Declared here, unknown to WeChat: 40037 from upstream.
    body = {"user_id": user_id, "template_id": NOT_AT_WECHAT, "data": DATA}
    unknown = await _send(wx_msg, body)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "invalid_template")
    assert unknown.json()["error"]["wechat_errcode"] == 40037
    # A send whose answer is lost: 503, recorded as unknown (it may have been delivered).
    wx_msg.sim.subscribe(APPID, "alice", TEMPLATE)
    wx_msg.sim.add_fault(wx.SUBSCRIBE_SEND, drop=True)
    wx_msg.clock.advance(1)
    lost = await _send(wx_msg, {**body, "template_id": TEMPLATE})
    assert (lost.status_code, lost.json()["error"]["code"]) == (503, "upstream_unavailable")
    records = await wx_msg.service.store.list_message_sends(user_id=user_id)
    assert [(r.outcome, r.errcode) for r in records] == [
        (SendOutcome.UNKNOWN, None),
        (SendOutcome.REFUSED, 40037),
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": "u", "template_id": TEMPLATE, "data": DATA, "extra": 1},
        {"user_id": "u", "template_id": TEMPLATE, "data": {f"thing{i}": "x" for i in range(33)}},
        {"user_id": "u", "template_id": TEMPLATE, "data": {"thing1": "x" * 257}},
        {"user_id": "u", "template_id": TEMPLATE, "data": {"thing1": 5}},
        {"user_id": "u", "template_id": TEMPLATE, "data": DATA, "page": "a\nb"},
        {"user_id": "u", "template_id": TEMPLATE, "data": DATA, "lang": "fr_FR"},
        {"user_id": " ", "template_id": TEMPLATE, "data": DATA},
        {"template_id": TEMPLATE, "data": DATA},
    ],
    ids=[
        "unknown-field",
        "33-keywords",
        "long-value",
        "number",
        "control",
        "lang",
        "blank",
        "no-user",
    ],
)
async def test_malformed_bodies_are_400(wx_msg: Harness, body: dict[str, Any]) -> None:
    refused = await _send(wx_msg, body)
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_request")
    assert _upstream_sends(wx_msg.sim) == 0


async def test_a_sent_message_whose_record_fails_is_still_sent(
    wx_msg: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Told "failed", a caller would send again; the operator hears of the lost record."""
    user_id = await _user(wx_msg)
    wx_msg.sim.subscribe(APPID, "alice", TEMPLATE)

    async def unavailable(**_: Any) -> Any:
        raise WxLoginError("the database is not available right now")

    monkeypatch.setattr(wx_msg.service.store, "record_message_send", unavailable)
    with caplog.at_level(logging.ERROR, logger="wxlogin.service"):
        sent = await _send(wx_msg, {"user_id": user_id, "template_id": TEMPLATE, "data": DATA})
    assert sent.status_code == 200
    assert len(wx_msg.sim.delivered_messages("alice")) == 1
    assert "not recorded" in caplog.text
    assert DATA["thing1"] not in caplog.text


async def test_no_token_or_value_reaches_a_log_or_an_answer(
    wx_msg: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    user_id = await _user(wx_msg)
    with caplog.at_level(logging.DEBUG):
        answers = [
            await _send(wx_msg, {"user_id": user_id, "template_id": TEMPLATE, "data": DATA}),
            await _send(wx_msg, {"user_id": user_id, "template_id": TEMPLATE, "data": DATA}, "x"),
            await _send(
                wx_msg,
                {"user_id": user_id, "template_id": TEMPLATE, "data": {**DATA, "time2": "下周"}},
            ),
        ]
    text = caplog.text + "".join(a.text for a in answers)
    assert TOKEN not in text and OLD_TOKEN not in text
    assert DATA["thing1"] not in text and "下周" not in text
    assert TOKEN not in repr(wx_msg.service.service_credentials)


async def test_openapi_documents_the_service_scheme(wx_msg: Harness) -> None:
    spec = (await wx_msg.http.get("/openapi.json")).json()
    operation = spec["paths"]["/messages"]["post"]
    assert operation["security"] == [{"serviceToken": []}]
    assert spec["components"]["securitySchemes"]["serviceToken"]["scheme"] == "bearer"
    codes = {
        code
        for response in operation["responses"].values()
        for code in response.get("x-error-codes", [])
    }
    assert {
        "invalid_message_data",
        "not_subscribed",
        "unknown_template",
        "invalid_service_token",
    } <= codes


async def test_a_fastapi_host_serves_messages_and_guards_its_own_routes(tmp_path: Path) -> None:
    sim = Simulator()
    sim.register_app(APPID, SECRET)
    sim.register_template(APPID, TEMPLATE, FIELDS)
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/host.db",
        tmp_path / "data",
        apps=[{"appid": APPID, "secret": SECRET}],
        service_tokens=[TOKEN],
        message_templates={TEMPLATE: FIELDS},
    )
    host = FastAPI()

    @host.post("/webhooks/shipped")
    async def shipped(_: ServiceCaller) -> dict[str, bool]:
        return {"ok": True}

    setup(host, settings, wechat_transport=sim.transport)
    async with host.router.lifespan_context(host):
        transport = httpx2.ASGITransport(app=host)
        async with httpx2.AsyncClient(transport=transport, base_url=ISSUER) as http:
            anonymous = await http.post("/webhooks/shipped")
            allowed = await http.post("/webhooks/shipped", headers=bearer(TOKEN))
            login = await http.post("/auth/login", json={"code": sim.login(APPID, "alice")})
            sim.subscribe(APPID, "alice", TEMPLATE)
            body = {"user_id": login.json()["user"]["id"], "template_id": TEMPLATE, "data": DATA}
            sent = await http.post("/messages", json=body, headers=bearer(TOKEN))
            spec = (await http.get("/openapi.json")).json()
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (
        401,
        "invalid_service_token",
    )
    assert allowed.json() == {"ok": True}
    assert sent.status_code == 200, sent.text
    assert [m["data"] for m in sim.delivered_messages("alice")] == [DATA]
    assert spec["paths"]["/webhooks/shipped"]["post"]["security"] == [{"serviceToken": []}]
    assert spec["paths"]["/messages"]["post"]["security"] == [{"serviceToken": []}]

"""GET /metrics after a known workload: every series wxlogin keeps, with the counts the
workload must have made — read with prometheus-client's own parser, so the format is checked
by a reader we did not write. Then who may read it, on the lean app and in a FastAPI host."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import APPID, ISSUER, Harness, bearer, make_settings
from tests.api.test_pay import MCHID, TOKEN, PayHarness, pay_settings
from wxlogin import __version__
from wxlogin.api.fastapi import setup
from wxlogin.api.observe import ACTIVE_SESSIONS_EVERY
from wxlogin.simulator import Simulator
from wxlogin.wechat import protocol as wx

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
TEMPLATE = "tmpl-order-shipped"
FIELDS = {"thing1": "thing", "time2": "time"}
METRICS_TOKEN = secrets.token_urlsafe(32)


def parse(text: str) -> tuple[Samples, dict[str, str]]:
    """Every sample by (name, labels), and each family's declared type."""
    samples: Samples = {}
    types: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples, types


async def scrape(h: Harness, **headers: str) -> tuple[Samples, dict[str, str]]:
    response = await h.http.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def summed(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


@pytest.fixture
async def shop(harness_factory: Callable[..., Any], sim: Simulator, tmp_path: Path) -> PayHarness:
    """One server that logs in, binds phones, sends messages and takes payments."""
    kit = sim.new_merchant(MCHID)
    harness: Harness = await harness_factory(
        **pay_settings(kit, tmp_path / "keys"),
        message_templates={TEMPLATE: FIELDS},
        metrics_public=True,
    )
    harness.sim.register_template(APPID, TEMPLATE, FIELDS)
    paying = PayHarness(harness, kit)
    paying.route_to_service()
    return paying


async def test_every_series_after_a_known_workload(shop: PayHarness) -> None:
    h = shop.h
    before, _ = await scrape(h)

    alice = await h.login("alice")
    await h.login("alice")  # returning
    h.sim.add_fault(wx.CODE2SESSION, errcode=40029)
    bob = {"code": h.sim.login(APPID, "bob"), "appid": APPID}
    refused = await h.http.post("/auth/login", json=bob)
    assert refused.json()["error"]["code"] == "invalid_code"
    rotated = await h.http.post("/auth/refresh", json={"refresh_token": alice["refresh_token"]})
    assert rotated.status_code == 200
    malformed = await h.http.post("/auth/refresh", json={"refresh_token": "not-one-of-ours"})
    assert malformed.status_code == 401
    token = bearer(alice["access_token"])
    phone = await h.http.post(
        "/me/phone", json={"code": h.sim.phone_code(APPID, "alice")}, headers=token
    )
    assert phone.status_code == 200, phone.text
    h.sim.subscribe(APPID, "alice", TEMPLATE)
    message = {
        "user_id": alice["user"]["id"],
        "template_id": TEMPLATE,
        "data": {"thing1": "已发货", "time2": "2026年12月1日 10:00"},
    }
    sent = await h.http.post("/messages", json=message, headers=bearer(TOKEN))
    assert sent.status_code == 200, sent.text
    order = await shop.order(alice["user"]["id"])
    shop.h.sim.pay_order(MCHID, order["out_trade_no"], duplicates=1)
    assert [a["status"] for a in await shop.deliver()] == [204, 204]

    h.clock.advance(ACTIVE_SESSIONS_EVERY + 1)  # past the last count of live sessions
    after, types = await scrape(h)

    def moved(name: str, **labels: str) -> float:
        return delta(before, after, name, **labels)

    assert moved("wxlogin_logins_total", outcome="new_user") == 1
    assert moved("wxlogin_logins_total", outcome="returning") == 1
    assert moved("wxlogin_logins_total", outcome="invalid_code") == 1
    assert moved("wxlogin_refreshes_total", outcome="rotated") == 1
    assert moved("wxlogin_refreshes_total", outcome="malformed") == 1
    code2session = {"api": "wechat", "endpoint": wx.CODE2SESSION}
    assert moved("wxlogin_upstream_requests_total", **code2session, errcode="0") == 2
    assert moved("wxlogin_upstream_requests_total", **code2session, errcode="40029") == 1
    assert moved("wxlogin_upstream_request_duration_seconds_count", **code2session) == 3
    # Timed: a duration was observed for each, and each took some time.
    assert moved("wxlogin_upstream_request_duration_seconds_sum", **code2session) > 0
    for endpoint in (wx.STABLE_TOKEN, wx.PHONE_NUMBER, wx.SUBSCRIBE_SEND):
        assert (
            moved("wxlogin_upstream_requests_total", api="wechat", endpoint=endpoint, errcode="0")
            == 1
        )
    # One token fetch served both the phone number and the message.
    assert moved("wxlogin_access_token_fetches_total", appid=APPID, outcome="ok") == 1
    pay_api = {"api": "wechatpay", "endpoint": "/v3/pay/transactions/jsapi"}
    assert moved("wxlogin_upstream_requests_total", **pay_api, errcode="0") == 1
    assert moved("wxlogin_messages_total", outcome="sent") == 1
    assert moved("wxlogin_pay_orders_total", event="created") == 1
    assert moved("wxlogin_pay_orders_total", event="paid") == 1
    assert moved("wxlogin_pay_callbacks_total", type="payment", outcome="applied") == 1
    assert moved("wxlogin_pay_callbacks_total", type="payment", outcome="duplicate") == 1
    # Write batches: two logins, a rotation, a phone, an order and its payment at least; each
    # timed, and no batch larger than what was in flight (one request at a time here).
    batches = summed(after, "wxlogin_store_batch_size_count") - summed(
        before, "wxlogin_store_batch_size_count"
    )
    units = summed(after, "wxlogin_store_batch_size_sum") - summed(
        before, "wxlogin_store_batch_size_sum"
    )
    timed = summed(after, "wxlogin_store_batch_duration_seconds_count") - summed(
        before, "wxlogin_store_batch_duration_seconds_count"
    )
    assert 3 <= batches == timed and units == batches
    # The two sessions alice opened are live (the refresh rotated one, it opened none).
    assert value(after, "wxlogin_active_sessions") == 2
    assert value(after, "wxlogin_build_info", version=__version__) == 1
    assert value(after, "wxlogin_metrics_processes") == 1
    assert types["wxlogin_logins"] == "counter"
    assert types["wxlogin_upstream_request_duration_seconds"] == "histogram"
    assert types["wxlogin_active_sessions"] == "gauge"


async def test_a_scrape_never_sees_a_token_id_or_personal_value(shop: PayHarness) -> None:
    h = shop.h
    alice = await h.login("alice")
    token = bearer(alice["access_token"])
    bound = await h.http.post(
        "/me/phone", json={"code": h.sim.phone_code(APPID, "alice")}, headers=token
    )
    await h.http.patch("/me/profile", json={"nickname": "小明同学"}, headers=token)
    text = (await h.http.get("/metrics")).text
    user = bound.json()
    for private in (
        alice["access_token"],
        alice["refresh_token"],
        user["id"],
        user["phone"],
        "小明同学",
        h.sim.openid(APPID, "alice"),
    ):
        assert private not in text


async def test_not_served_unless_the_operator_says_who_may_read_it(
    harness_factory: Callable[..., Any],
) -> None:
    closed: Harness = await harness_factory()
    response = await closed.http.get("/metrics")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")

    guarded: Harness = await harness_factory(metrics_token=METRICS_TOKEN)
    for headers in (
        {},
        bearer("wrong-" + METRICS_TOKEN),
        {"Authorization": f"Basic {METRICS_TOKEN}"},
    ):
        refused = await guarded.http.get("/metrics", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"
        assert METRICS_TOKEN not in refused.text
    allowed = await guarded.http.get("/metrics", headers=bearer(METRICS_TOKEN))
    assert allowed.status_code == 200 and "wxlogin_logins_total" in allowed.text
    assert (await guarded.http.post("/metrics", headers=bearer(METRICS_TOKEN))).status_code == 405
    head = await guarded.http.head("/metrics", headers=bearer(METRICS_TOKEN))
    assert head.status_code == 200 and head.content == b""

    # A token wins over metrics_public: setting both does not open it to everyone.
    both: Harness = await harness_factory(metrics_token=METRICS_TOKEN, metrics_public=True)
    assert (await both.http.get("/metrics")).status_code == 401


async def test_not_in_the_openapi_document(shop: PayHarness) -> None:
    document = (await shop.h.http.get("/openapi.json")).json()
    assert "/metrics" not in document["paths"]


async def test_a_fastapi_host_gets_metrics_where_it_wants_them(
    sim: Simulator, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path / "data", metrics_token=METRICS_TOKEN)
    app = FastAPI()
    setup(app, settings, wechat_transport=sim.transport, metrics_path="/internal/metrics")
    async with (
        app.router.lifespan_context(app),
        httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=ISSUER) as http,
    ):
        code = sim.login(APPID, "alice")
        assert (
            await http.post("/auth/login", json={"code": code, "appid": APPID})
        ).status_code == 200
        assert (await http.get("/internal/metrics")).status_code == 401
        response = await http.get("/internal/metrics", headers=bearer(METRICS_TOKEN))
        assert response.status_code == 200
        samples, _ = parse(response.text)
        assert value(samples, "wxlogin_logins_total", outcome="new_user") >= 1
        assert value(samples, "wxlogin_active_sessions") == 1
        assert (await http.get("/metrics")).status_code == 404
        assert "/internal/metrics" not in app.openapi()["paths"]

    unmounted = FastAPI()
    setup(unmounted, settings, wechat_transport=sim.transport, metrics_path=None)
    assert not any(getattr(r, "path", "") == "/metrics" for r in unmounted.router.routes)

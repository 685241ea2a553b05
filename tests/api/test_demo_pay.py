"""/demo's shop: the demo's stand-in for the host backend creates orders at the catalogue's
price (POST /demo/buy), the pay sheet learns the order behind a prepay_id (GET
/demo/pay-sheet), the user's choice reaches the simulator (POST /__sim/pay, forwarded), and
WeChat Pay's callback is told on the timeline from both sides — with no key, signature or
encrypted resource in it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import APPID, APPID_B, SECRET, SECRET_B, bearer
from tests.api.demo_support import Demo, running_demo
from wxlogin.api.demo import CATALOGUE
from wxlogin.cache.base import Cache
from wxlogin.simulator import MerchantKit, Simulator

MCHID = "1230000109"
SHOP = "https://shop.test"  # public_url: WeChat Pay calls back https addresses only
COFFEE = next(item for item in CATALOGUE if item.id == "coffee")


class PayDemo:
    def __init__(self, demo: Demo, kit: MerchantKit) -> None:
        self.demo = demo
        self.kit = kit

    async def log_in(self, user: str = "alice") -> dict[str, str]:
        http = self.demo.http
        code = (await http.post("/__sim/login", json={"appid": APPID, "user": user})).json()
        answer = await http.post("/auth/login", json={"code": code["code"], "appid": APPID})
        assert answer.status_code == 200, answer.text
        return bearer(answer.json()["access_token"])

    async def buy(self, token: dict[str, str], item: str = "coffee") -> dict[str, Any]:
        answer = await self.demo.http.post("/demo/buy", json={"item": item}, headers=token)
        assert answer.status_code == 201, answer.text
        order: dict[str, Any] = answer.json()
        return order

    async def sheet(self, order_id: str, token: dict[str, str]) -> tuple[dict[str, Any], str]:
        """What wx.requestPayment gets, and what the pay sheet learns from its package."""
        params = await self.demo.http.post(f"/pay/orders/{order_id}/params", headers=token)
        assert params.status_code == 200, params.text
        prepay_id = params.json()["package"].removeprefix("prepay_id=")
        sheet = await self.demo.http.get("/demo/pay-sheet", params={"prepay_id": prepay_id})
        assert sheet.status_code == 200, sheet.text
        return sheet.json(), params.text

    async def choose(self, sheet: dict[str, Any], outcome: str) -> dict[str, Any]:
        body = {"mchid": sheet["mchid"], "out_trade_no": sheet["out_trade_no"], "outcome": outcome}
        answer = await self.demo.http.post("/__sim/pay", json=body)
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result


@pytest.fixture
async def shop(
    sim: Simulator, database_url: str, cache: Cache, tmp_path: Path
) -> AsyncIterator[PayDemo]:
    kit = sim.new_merchant(MCHID)
    apps = [
        {"appid": APPID, "secret": SECRET, "pay": kit.write_files(tmp_path / "keys")},
        {"appid": APPID_B, "secret": SECRET_B},
    ]
    async with running_demo(
        sim, database_url, cache, tmp_path / "data", apps=apps, public_url=SHOP
    ) as demo:
        # WeChat Pay's callbacks go to the demo's front, as `wxlogin dev` serves it.
        sim.route_callbacks(demo.front, SHOP)
        yield PayDemo(demo, kit)


def _secrets(shop: PayDemo) -> list[str]:
    body = shop.kit.merchant_private_key.split("-----")[2].split()
    return [shop.kit.apiv3_key, *body[:3]]


async def test_buy_pay_and_the_callback_told_by_every_side(shop: PayDemo) -> None:
    demo = shop.demo
    config = (await demo.http.get("/demo/config.json")).json()
    assert config["pay"] is True
    assert config["catalogue"] == [item.as_json() for item in CATALOGUE]
    token = await shop.log_in()
    start = demo.feed.last

    order = await shop.buy(token)
    assert (order["amount"], order["description"]) == (COFFEE.price, COFFEE.name)
    assert order["state"] == "created"
    sheet, params = await shop.sheet(order["id"], token)
    assert sheet == {
        "appid": APPID,
        "mchid": MCHID,
        "out_trade_no": order["out_trade_no"],
        "description": COFFEE.name,
        "total": COFFEE.price,
        "trade_state": "NOTPAY",
    }
    paid = await shop.choose(sheet, "success")
    assert paid["trade_state"] == "SUCCESS"
    (attempt,) = await demo.sim.deliver_callbacks()
    assert (attempt["status"], attempt["acknowledged"]) == (204, True)
    mine = await demo.http.get(f"/me/orders/{order['id']}", headers=token)
    assert mine.json()["state"] == "paid"

    events = await demo.events(start)
    kinds = [(e["side"], e["kind"]) for e in events]
    assert kinds == [
        ("wechat", "pay_order_placed"),
        ("wxlogin", "order_created"),
        ("wechat", "pay_sheet"),
        ("wechat", "pay_callback"),
        ("wxlogin", "pay_callback_acknowledged"),
        ("wxlogin", "order_state"),
    ]
    told = {e["kind"]: e for e in events}
    assert order["out_trade_no"] in told["pay_order_placed"]["detail"]
    assert "1 fen" in told["pay_order_placed"]["detail"]
    assert told["order_created"]["at"] <= told["pay_order_placed"]["at"]
    assert "¥0.01" in told["order_created"]["detail"]
    assert told["pay_sheet"]["title"] == "pay sheet: paid"
    assert "TRANSACTION.SUCCESS" in told["pay_callback"]["title"]
    assert "HTTP 204" in told["pay_callback_acknowledged"]["detail"]
    assert told["order_state"]["title"] == "order paid"
    assert f"{order['id']}: created → paid" in told["order_state"]["detail"]
    text = " ".join(f"{e['title']} {e['detail']}" for e in events)
    pay_sign = params.split('"paySign":"')[1].split('"')[0]
    for secret in [*_secrets(shop), pay_sign, paid["transaction_id"]]:
        assert secret not in text
    assert "ciphertext" not in text


async def test_cancel_leaves_the_order_unpaid_and_sends_no_callback(shop: PayDemo) -> None:
    demo = shop.demo
    token = await shop.log_in()
    order = await shop.buy(token, "tea")
    start = demo.feed.last
    sheet, _ = await shop.sheet(order["id"], token)
    assert (await shop.choose(sheet, "cancel"))["trade_state"] == "NOTPAY"
    assert await demo.sim.deliver_callbacks() == []
    mine = await demo.http.get(f"/me/orders/{order['id']}", headers=token)
    assert mine.json()["state"] == "created"
    events = await demo.events(start)
    assert [e["kind"] for e in events] == ["pay_sheet", "pay_query"]
    assert events[0]["title"] == "pay sheet: cancelled"
    assert "NOTPAY" in events[1]["detail"]
    # Still payable: the user may try again.
    again, _ = await shop.sheet(order["id"], token)
    assert (await shop.choose(again, "success"))["trade_state"] == "SUCCESS"


async def test_the_price_is_the_catalogues_never_the_pages(shop: PayDemo) -> None:
    demo = shop.demo
    token = await shop.log_in()
    bodies: tuple[object, ...] = (
        {"item": "coffee", "amount": 100000},
        {"item": "caviar"},
        {"amount": 1},
        [],
    )
    for body in bodies:
        refused = await demo.http.post("/demo/buy", json=body, headers=token)
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_request")
    assert "caviar" not in refused.text
    for headers in ({}, bearer("not-a-token")):
        refused = await demo.http.post("/demo/buy", json={"item": "coffee"}, headers=headers)
        assert refused.status_code == 401
    assert shop.demo.sim.state()["orders"] == []
    cake = next(item for item in CATALOGUE if item.id == "cake")
    assert (await shop.buy(token, "cake"))["amount"] == cake.price


async def test_the_pay_sheet_knows_only_real_prepay_ids(shop: PayDemo) -> None:
    http = shop.demo.http
    unknown = await http.get("/demo/pay-sheet", params={"prepay_id": "wx" + "0" * 34})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    for query in ({"prepay_id": "wx/../state"}, {}):
        bad = await http.get("/demo/pay-sheet", params=query)
        assert (bad.status_code, bad.json()["error"]["code"]) == (400, "invalid_request")


async def test_a_refused_callback_is_told_with_its_code(shop: PayDemo) -> None:
    demo = shop.demo
    start = demo.feed.last
    forged = await demo.http.post(
        "/pay/notify", json={"id": "forged-event", "event_type": "TRANSACTION.SUCCESS"}
    )
    assert forged.status_code == 401
    code = forged.json()["error"]["code"]
    events = await demo.events(start)
    assert [(e["side"], e["kind"]) for e in events] == [
        ("wechat", "pay_callback"),
        ("wxlogin", "pay_callback_refused"),
    ]
    assert f"HTTP 401 {code}" in events[1]["detail"]


async def test_without_a_merchant_the_demo_says_so(
    sim: Simulator, database_url: str, cache: Cache, tmp_path: Path
) -> None:
    async with running_demo(sim, database_url, cache, tmp_path / "data") as plain:
        assert (await plain.http.get("/demo/config.json")).json()["pay"] is False
        code = (await plain.http.post("/__sim/login", json={"appid": APPID, "user": "bo"})).json()
        login = await plain.http.post("/auth/login", json={"code": code["code"], "appid": APPID})
        token = bearer(login.json()["access_token"])
        answer = await plain.http.post("/demo/buy", json={"item": "coffee"}, headers=token)
    assert (answer.status_code, answer.json()["error"]["code"]) == (503, "not_ready")

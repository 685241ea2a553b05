"""Refunds in the simulated WeChat Pay: full, partial, too much, idempotent, then SUCCESS."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.simulator.pay_support import (
    MCHID,
    Merchant,
    call,
    order_body,
    register,
    response_verifies,
)
from tests.simulator.support import APPID
from wxlogin.simulator import Simulator, SimulatorConfig

REFUNDS = "/v3/refund/domestic/refunds"


@pytest.fixture
def merchant(sim: Simulator) -> Merchant:
    return register(sim)


@pytest.fixture
async def paid(sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant) -> str:
    """A paid order of 100 fen, out_trade_no order-0001; its transaction_id."""
    body = order_body("order-0001", sim.openid(APPID, "alice"), APPID)
    assert (await call(http, sim, merchant, "POST", "/v3/pay/transactions/jsapi", body)).is_success
    return sim.pay_order(MCHID, "order-0001")["transaction_id"]


def refund_body(out_refund_no: str, refund: int, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "out_trade_no": "order-0001",
        "out_refund_no": out_refund_no,
        "reason": "商品已售完",
        "amount": {"refund": refund, "total": 100, "currency": "CNY"},
    }
    body.update(extra)
    return body


async def refund(
    http: httpx2.AsyncClient, sim: Simulator, merchant: Merchant, body: dict[str, Any]
) -> httpx2.Response:
    return await call(http, sim, merchant, "POST", REFUNDS, body)


async def trade_state(http: httpx2.AsyncClient, sim: Simulator, merchant: Merchant) -> str:
    target = f"/v3/pay/transactions/out-trade-no/order-0001?mchid={MCHID}"
    state: str = (await call(http, sim, merchant, "GET", target)).json()["trade_state"]
    return state


async def test_partial_refunds_up_to_the_total_then_not_enough(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, paid: str
) -> None:
    first = await refund(http, sim, merchant, refund_body("refund-1", 30))
    assert first.status_code == 200 and response_verifies(first, merchant)
    data = first.json()
    assert data["status"] == "PROCESSING" and data["out_refund_no"] == "refund-1"
    assert data["transaction_id"] == paid and data["refund_id"].startswith("50")
    assert data["amount"]["refund"] == 30 and data["amount"]["total"] == 100
    assert await trade_state(http, sim, merchant) == "REFUND"

    too_much = await refund(http, sim, merchant, refund_body("refund-2", 71))
    assert too_much.status_code == 403 and response_verifies(too_much, merchant)
    assert too_much.json()["code"] == "NOT_ENOUGH"
    rest = await refund(http, sim, merchant, refund_body("refund-3", 70))
    assert rest.status_code == 200
    none_left = await refund(http, sim, merchant, refund_body("refund-4", 1))
    assert none_left.json()["code"] == "NOT_ENOUGH"
    assert sim.state()["orders"][0]["refunded"] == 100


async def test_a_full_refund_by_transaction_id(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, paid: str
) -> None:
    body = refund_body("refund-all", 100)
    del body["out_trade_no"]
    body["transaction_id"] = paid
    answer = await refund(http, sim, merchant, body)
    assert answer.status_code == 200 and answer.json()["out_trade_no"] == "order-0001"


@pytest.mark.parametrize("config", [SimulatorConfig(pay_not_enough_status=400)])
async def test_the_not_enough_status_is_configurable(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, paid: str
) -> None:
    answer = await refund(http, sim, merchant, refund_body("refund-1", 101, amount={
        "refund": 101, "total": 100, "currency": "CNY"}))  # fmt: skip
    # A refund above the total is caught by the field check first.
    assert answer.status_code == 400 and answer.json()["code"] == "PARAM_ERROR"
    await refund(http, sim, merchant, refund_body("refund-2", 60))
    answer = await refund(http, sim, merchant, refund_body("refund-3", 60))
    assert answer.status_code == 400 and answer.json()["code"] == "NOT_ENOUGH"


async def test_the_same_out_refund_no_again_is_the_same_refund(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, paid: str
) -> None:
    first = (await refund(http, sim, merchant, refund_body("refund-1", 40))).json()
    again = await refund(http, sim, merchant, refund_body("refund-1", 40))
    assert again.status_code == 200 and again.json()["refund_id"] == first["refund_id"]
    assert sim.state()["orders"][0]["refunded"] == 40  # counted once
    changed = await refund(http, sim, merchant, refund_body("refund-1", 41))
    assert changed.status_code == 400 and changed.json()["code"] == "INVALID_REQUEST"


async def test_refund_status_turns_success_after_the_delay(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, paid: str
) -> None:
    await refund(http, sim, merchant, refund_body("refund-1", 10))
    query = f"{REFUNDS}/refund-1"
    processing = await call(http, sim, merchant, "GET", query)
    assert processing.status_code == 200 and response_verifies(processing, merchant)
    assert processing.json()["status"] == "PROCESSING" and "success_time" not in processing.json()
    sim.advance(sim.config.pay_refund_delay)
    done = (await call(http, sim, merchant, "GET", query)).json()
    assert done["status"] == "SUCCESS" and done["success_time"] == "2025-11-21T12:40:05+08:00"
    missing = await call(http, sim, merchant, "GET", f"{REFUNDS}/refund-none")
    assert missing.status_code == 404 and missing.json()["code"] == "RESOURCE_NOT_EXISTS"


async def test_refusals_before_any_money_moves(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    openid = sim.openid(APPID, "alice")
    await call(
        http,
        sim,
        merchant,
        "POST",
        "/v3/pay/transactions/jsapi",
        order_body("order-0001", openid, APPID),
    )
    unpaid = await refund(http, sim, merchant, refund_body("refund-1", 10))
    assert unpaid.status_code == 400 and unpaid.json()["code"] == "INVALID_REQUEST"
    unknown = await refund(
        http, sim, merchant, refund_body("refund-1", 10, out_trade_no="order-none")
    )
    assert unknown.status_code == 404
    sim.pay_order(MCHID, "order-0001")
    wrong_total = refund_body("refund-1", 10, amount={"refund": 10, "total": 99, "currency": "CNY"})
    answer = await refund(http, sim, merchant, wrong_total)
    assert answer.status_code == 400 and answer.json()["detail"]["field"] == "amount.total"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"out_trade_no": None}, "out_trade_no"),
        ({"out_refund_no": ""}, "out_refund_no"),
        ({"out_refund_no": "r" * 65}, "out_refund_no"),
        ({"amount": {"refund": 0, "total": 100, "currency": "CNY"}}, "amount.refund"),
        ({"amount": {"refund": 10, "total": 100}}, "amount.currency"),
        ({"amount": {"refund": 10.0, "total": 100, "currency": "CNY"}}, "amount.refund"),
        ({"notify_url": "http://shop.example/refunded"}, "notify_url"),
        ({"reason": "r" * 81}, "reason"),
    ],
)
async def test_bad_refund_fields_are_param_error(
    sim: Simulator,
    http: httpx2.AsyncClient,
    merchant: Merchant,
    paid: str,
    change: dict[str, Any],
    field: str,
) -> None:
    body = refund_body("refund-1", 10)
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    answer = await refund(http, sim, merchant, body)
    assert answer.status_code == 400 and answer.json()["detail"]["field"] == field
    assert sim.state()["refunds"] == []

"""WeChat Pay orders in the simulator: create, query, close, the pay sheet, expiry, the rules."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.simulator.pay_support import (
    MCHID,
    NOTIFY_URL,
    Merchant,
    authorization,
    call,
    order_body,
    register,
    response_verifies,
)
from tests.simulator.support import APPID, APPID_B, T0
from wxlogin.simulator import PayConflict, Simulator, SimulatorConfig, UnknownOrder

JSAPI = "/v3/pay/transactions/jsapi"


def by_no(no: str) -> str:
    return f"/v3/pay/transactions/out-trade-no/{no}?mchid={MCHID}"


@pytest.fixture
def merchant(sim: Simulator) -> Merchant:
    return register(sim)


@pytest.fixture
def openid(sim: Simulator) -> str:
    return sim.openid(APPID, "alice")


async def create(
    http: httpx2.AsyncClient, sim: Simulator, merchant: Merchant, body: dict[str, Any]
) -> httpx2.Response:
    return await call(http, sim, merchant, "POST", JSAPI, body)


async def test_create_query_pay_and_query_by_transaction_id(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, openid: str
) -> None:
    created = await create(http, sim, merchant, order_body("order-0001", openid, APPID))
    assert created.status_code == 200 and response_verifies(created, merchant)
    prepay_id = created.json()["prepay_id"]
    assert prepay_id.startswith("wx") and len(prepay_id) == 36

    unpaid = await call(http, sim, merchant, "GET", by_no("order-0001"))
    assert unpaid.status_code == 200 and response_verifies(unpaid, merchant)
    order = unpaid.json()
    assert order["trade_state"] == "NOTPAY" and order["trade_state_desc"] == "订单未支付"
    assert order["payer"] == {"openid": openid} and order["amount"]["total"] == 100
    assert "transaction_id" not in order and "success_time" not in order

    sim.advance(42)
    paid = sim.pay_order(MCHID, "order-0001", "success")
    assert paid["trade_state"] == "SUCCESS" and paid["transaction_id"].startswith("4200")
    assert len(paid["transaction_id"]) == 28

    answer = await call(http, sim, merchant, "GET", by_no("order-0001"))
    order = answer.json()
    assert order["trade_state"] == "SUCCESS" and order["trade_type"] == "JSAPI"
    assert order["transaction_id"] == paid["transaction_id"]
    assert order["success_time"] == "2025-11-21T12:40:42+08:00"  # T0 + 42 s, Beijing time
    assert order["amount"]["payer_total"] == 100

    by_id = await call(
        http,
        sim,
        merchant,
        "GET",
        f"/v3/pay/transactions/id/{paid['transaction_id']}?mchid={MCHID}",
    )
    assert by_id.status_code == 200 and response_verifies(by_id, merchant)
    assert by_id.json() == order


async def test_the_same_order_again_gives_the_current_prepay_id_and_renews_a_lapsed_one(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, openid: str
) -> None:
    body = order_body("order-0002", openid, APPID)
    first = (await create(http, sim, merchant, body)).json()["prepay_id"]
    sim.advance(7199)
    assert (await create(http, sim, merchant, body)).json()["prepay_id"] == first
    sim.advance(1)
    renewed = (await create(http, sim, merchant, body)).json()["prepay_id"]
    assert renewed != first
    assert (await create(http, sim, merchant, body)).json()["prepay_id"] == renewed


async def test_a_different_body_for_the_same_out_trade_no_is_refused(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, openid: str
) -> None:
    await create(http, sim, merchant, order_body("order-0003", openid, APPID))
    changed = order_body("order-0003", openid, APPID, amount={"total": 101, "currency": "CNY"})
    answer = await create(http, sim, merchant, changed)
    assert answer.status_code == 400 and response_verifies(answer, merchant)
    assert answer.json() == {"code": "INVALID_REQUEST", "message": "201 商户订单号重复"}


@pytest.mark.parametrize("config", [SimulatorConfig(pay_duplicate_order_code="OUT_TRADE_NO_USED")])
async def test_the_duplicate_order_code_is_configurable(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, openid: str
) -> None:
    await create(http, sim, merchant, order_body("order-0004", openid, APPID))
    answer = await create(http, sim, merchant, order_body("order-0004", openid, APPID, attach="x"))
    assert answer.status_code == 403 and answer.json()["code"] == "OUT_TRADE_NO_USED"


async def test_creating_a_paid_or_closed_order_again_is_refused(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, openid: str
) -> None:
    for no in ("order-paid", "order-shut"):
        await create(http, sim, merchant, order_body(no, openid, APPID))
    sim.pay_order(MCHID, "order-paid")
    await call(
        http, sim, merchant, "POST", f"{by_no('order-shut').split('?')[0]}/close", {"mchid": MCHID}
    )
    paid = await create(http, sim, merchant, order_body("order-paid", openid, APPID))
    assert (paid.status_code, paid.json()["code"]) == (400, "ORDERPAID")
    closed = await create(http, sim, merchant, order_body("order-shut", openid, APPID))
    assert (closed.status_code, closed.json()["code"]) == (400, "ORDER_CLOSED")


async def test_close_an_unpaid_order_then_a_paid_one_is_orderpaid(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, openid: str
) -> None:
    for no in ("order-0005", "order-0006"):
        await create(http, sim, merchant, order_body(no, openid, APPID))
    close = "/v3/pay/transactions/out-trade-no/{}/close"
    closed = await call(http, sim, merchant, "POST", close.format("order-0005"), {"mchid": MCHID})
    assert closed.status_code == 204 and closed.content == b""
    assert response_verifies(closed, merchant)  # a 204 is signed over the empty body
    assert (await call(http, sim, merchant, "GET", by_no("order-0005"))).json()["trade_state"] == (
        "CLOSED"
    )
    again = await call(http, sim, merchant, "POST", close.format("order-0005"), {"mchid": MCHID})
    assert again.status_code == 204
    with pytest.raises(PayConflict):
        sim.pay_order(MCHID, "order-0005")

    sim.pay_order(MCHID, "order-0006")
    refused = await call(http, sim, merchant, "POST", close.format("order-0006"), {"mchid": MCHID})
    assert refused.status_code == 400 and refused.json()["code"] == "ORDERPAID"
    assert response_verifies(refused, merchant)
    missing = await call(http, sim, merchant, "POST", close.format("order-none"), {"mchid": MCHID})
    assert missing.status_code == 404 and missing.json()["code"] == "ORDER_NOT_EXIST"


@pytest.mark.parametrize("config", [SimulatorConfig(pay_orderpaid_status=403)])
async def test_the_orderpaid_status_is_configurable(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, openid: str
) -> None:
    await create(http, sim, merchant, order_body("order-0007", openid, APPID))
    sim.pay_order(MCHID, "order-0007")
    path = "/v3/pay/transactions/out-trade-no/order-0007/close"
    refused = await call(http, sim, merchant, "POST", path, {"mchid": MCHID})
    assert refused.status_code == 403 and refused.json()["code"] == "ORDERPAID"


async def test_unknown_orders_are_order_not_exist(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    for target in (by_no("order-none"), f"/v3/pay/transactions/id/4200000000?mchid={MCHID}"):
        answer = await call(http, sim, merchant, "GET", target)
        assert answer.status_code == 404 and response_verifies(answer, merchant)
        assert answer.json() == {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}


async def test_the_pay_sheet_cancel_keeps_the_order_payable_and_fail_is_payerror(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, openid: str
) -> None:
    for no in ("order-0008", "order-0009"):
        await create(http, sim, merchant, order_body(no, openid, APPID))
    assert sim.pay_order(MCHID, "order-0008", "cancel") == {"trade_state": "NOTPAY"}
    assert sim.pay_order(MCHID, "order-0008", "success")["trade_state"] == "SUCCESS"
    with pytest.raises(PayConflict, match="SUCCESS"):
        sim.pay_order(MCHID, "order-0008", "success")
    assert sim.pay_order(MCHID, "order-0009", "fail") == {"trade_state": "PAYERROR"}
    assert (await call(http, sim, merchant, "GET", by_no("order-0009"))).json()["trade_state"] == (
        "PAYERROR"
    )
    with pytest.raises(UnknownOrder):
        sim.pay_order(MCHID, "order-none")
    assert sim.callbacks.pending()[0]["out_trade_no"] == "order-0008"  # no callback for a failure
    assert len(sim.callbacks.pending()) == 1


async def test_time_expire_closes_the_order_on_the_simulated_clock(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, openid: str
) -> None:
    # T0 is 2025-11-21T12:40:00+08:00; the order may be paid for ten minutes.
    body = order_body("order-0010", openid, APPID, time_expire="2025-11-21T12:50:00+08:00")
    assert (await create(http, sim, merchant, body)).status_code == 200
    sim.advance(599)
    assert (await call(http, sim, merchant, "GET", by_no("order-0010"))).json()["trade_state"] == (
        "NOTPAY"
    )
    sim.advance(1)
    assert (await call(http, sim, merchant, "GET", by_no("order-0010"))).json()["trade_state"] == (
        "CLOSED"
    )
    with pytest.raises(PayConflict, match="CLOSED"):
        sim.pay_order(MCHID, "order-0010")


async def test_a_lapsed_prepay_id_cannot_be_paid(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, openid: str
) -> None:
    await create(http, sim, merchant, order_body("order-0011", openid, APPID))
    sim.advance(7200)
    with pytest.raises(PayConflict, match="prepay_id"):
        sim.pay_order(MCHID, "order-0011")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"out_trade_no": "short"}, "out_trade_no"),
        ({"out_trade_no": "x" * 33}, "out_trade_no"),
        ({"out_trade_no": "order#0001"}, "out_trade_no"),
        ({"notify_url": "http://shop.example/notify"}, "notify_url"),
        ({"notify_url": "https://shop.example/notify?order=1"}, "notify_url"),
        ({"notify_url": "ftp://127.0.0.1/notify"}, "notify_url"),
        ({"notify_url": None}, "notify_url"),
        ({"amount": {"total": 0}}, "amount.total"),
        ({"amount": {"total": -5}}, "amount.total"),
        ({"amount": {"total": 1.5}}, "amount.total"),
        ({"amount": {"total": "100"}}, "amount.total"),
        ({"amount": {"total": True}}, "amount.total"),
        ({"amount": {"total": 100, "currency": "USD"}}, "amount.currency"),
        ({"payer": {}}, "payer.openid"),
        ({"payer": None}, "payer"),
        ({"description": ""}, "description"),
        ({"description": "d" * 128}, "description"),
        ({"mchid": "1900000999"}, "mchid"),
        ({"time_expire": "2020-01-01T00:00:00+08:00"}, "time_expire"),
        ({"time_expire": "2030-01-01T00:00:00"}, "time_expire"),
        ({"time_expire": "tomorrow"}, "time_expire"),
    ],
)
async def test_bad_fields_are_param_error_naming_the_field(
    sim: Simulator,
    http: httpx2.AsyncClient,
    merchant: Merchant,
    openid: str,
    change: dict[str, Any],
    field: str,
) -> None:
    body = order_body("order-0012", openid, APPID)
    body.update(change)
    answer = await create(http, sim, merchant, body)
    assert answer.status_code == 400 and response_verifies(answer, merchant)
    error = answer.json()
    assert error["code"] == "PARAM_ERROR" and error["detail"]["field"] == field
    assert list(error) == ["code", "message", "detail"]
    assert sim.pay.world.merchants[MCHID].orders == {}


async def test_http_notify_urls_are_allowed_on_loopback_only(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, openid: str
) -> None:
    for n, url in enumerate(
        ("http://127.0.0.1:8000/pay/notify", "http://localhost/n", "http://[::1]:9/n")
    ):
        answer = await create(
            http, sim, merchant, order_body(f"order-lo{n}0", openid, APPID, notify_url=url)
        )
        assert answer.status_code == 200, answer.text


async def test_appid_and_openid_must_belong_together(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, openid: str
) -> None:
    unknown_app = await create(
        http, sim, merchant, order_body("order-0013", openid, "wxnotregistered0")
    )
    assert unknown_app.status_code == 400 and unknown_app.json()["code"] == "APPID_MCHID_NOT_MATCH"
    # alice's openid in app A is not a user of app B.
    foreign = await create(http, sim, merchant, order_body("order-0014", openid, APPID_B))
    assert foreign.status_code == 400 and foreign.json()["code"] == "PARAM_ERROR"
    assert foreign.json()["detail"]["field"] == "payer.openid"


async def test_a_merchant_bound_to_apps_refuses_others(
    sim: Simulator, http: httpx2.AsyncClient, openid: str
) -> None:
    bound = register(sim)
    sim.register_merchant(
        MCHID,
        apiv3_key=bound.apiv3_key,
        merchant_serial=bound.serial,
        merchant_public_key=sim.pay.world.merchants[MCHID].merchant_public_key,
        mode="public_key",
        appids=[APPID_B],
    )
    answer = await create(http, sim, bound, order_body("order-0015", openid, APPID))
    assert answer.status_code == 400 and answer.json()["code"] == "APPID_MCHID_NOT_MATCH"


async def test_queries_need_the_signing_merchants_mchid(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, openid: str
) -> None:
    await create(http, sim, merchant, order_body("order-0016", openid, APPID))
    missing = await call(http, sim, merchant, "GET", "/v3/pay/transactions/out-trade-no/order-0016")
    assert missing.status_code == 400 and missing.json()["detail"]["location"] == "query"
    other = await call(
        http, sim, merchant, "GET", "/v3/pay/transactions/out-trade-no/order-0016?mchid=1234567"
    )
    assert other.status_code == 400 and other.json()["detail"]["field"] == "mchid"


async def test_malformed_json_and_unknown_paths(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    body = b"{not json"
    header = authorization(merchant, "POST", JSAPI, body, timestamp=int(T0))
    answer = await http.post(JSAPI, content=body, headers={"Authorization": header})
    assert answer.status_code == 400 and answer.json()["code"] == "PARAM_ERROR"
    assert response_verifies(answer, merchant)
    assert (await http.get("/v3/pay/transactions/nowhere")).status_code == 404
    assert (await http.get(JSAPI)).status_code == 405


async def test_state_shows_merchants_and_orders_without_keys(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, openid: str
) -> None:
    await create(
        http, sim, merchant, order_body("order-0017", openid, APPID, notify_url=NOTIFY_URL)
    )
    sim.pay_order(MCHID, "order-0017")
    state = sim.state()
    assert state["merchants"] == [
        {
            "mchid": MCHID,
            "mode": "public_key",
            "merchant_serial": merchant.serial,
            "wechatpay_serial": merchant.wechatpay_serial,
            "appids": None,
            "orders": 1,
            "refunds": 0,
        }
    ]
    (order,) = state["orders"]
    assert order["out_trade_no"] == "order-0017" and order["trade_state"] == "SUCCESS"
    assert state["requests"][JSAPI] == 1
    text = repr(state) + repr(sim.pay.world.merchants[MCHID])
    assert merchant.apiv3_key not in text and "PRIVATE KEY" not in text


async def test_a_payment_feeds_getpaidunionid(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, openid: str
) -> None:
    await create(http, sim, merchant, order_body("order-0018", openid, APPID))
    paid = sim.pay_order(MCHID, "order-0018")
    payment = sim.world.apps[APPID].payments_by_transaction[paid["transaction_id"]]
    assert payment.member.openid == openid and payment.out_trade_no == "order-0018"

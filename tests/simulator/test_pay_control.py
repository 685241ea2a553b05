"""The WeChat Pay control API over HTTP (/__sim/merchants, /__sim/pay, state, clock), faults on
WeChat Pay paths, and the pytest plugin's merchant."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.simulator.pay_support import (
    APIV3_KEY,
    MCHID,
    MERCHANT_SERIAL,
    Merchant,
    call,
    load_public,
    order_body,
    public_pem,
    register,
    response_verifies,
    rsa_key,
)
from tests.simulator.support import APPID
from wxlogin.errors import UpstreamUnavailable
from wxlogin.simulator import MerchantKit, Simulator

JSAPI = "/v3/pay/transactions/jsapi"


def merchant_json(**change: Any) -> dict[str, Any]:
    body = {
        "mchid": MCHID,
        "apiv3_key": APIV3_KEY,
        "merchant_serial": MERCHANT_SERIAL,
        "merchant_public_key": public_pem(rsa_key("merchant")),
        "mode": "public_key",
    }
    body.update(change)
    return body


async def test_register_a_merchant_over_http(sim: Simulator, http: httpx2.AsyncClient) -> None:
    created = await http.post("/__sim/merchants", json=merchant_json())
    assert created.status_code == 201
    data = created.json()
    assert set(data) == {"mchid", "wechatpay_serial", "wechatpay_public_key"}
    assert data["wechatpay_serial"].startswith("PUB_KEY_ID_")
    assert "BEGIN PUBLIC KEY" in data["wechatpay_public_key"]
    again = await http.post("/__sim/merchants", json=merchant_json(mode="certificate"))
    assert again.status_code == 200
    cert_mode = again.json()
    assert cert_mode["wechatpay_public_key"] == data["wechatpay_public_key"]  # the same key
    assert "BEGIN CERTIFICATE" in cert_mode["platform_certificate"]
    assert cert_mode["wechatpay_serial"] != data["wechatpay_serial"]
    assert APIV3_KEY not in created.text + again.text


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"mode": "magic"}, "mode"),
        ({"apiv3_key": "short"}, "apiv3_key"),
        ({"mchid": "not-digits"}, "mchid"),
        ({"merchant_serial": "not hex!"}, "merchant_serial"),
        (
            {"merchant_public_key": "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"},
            "merchant_public_key",
        ),
        ({"appids": "wx1234567890abcdef"}, "appids"),
        ({"colour": "blue"}, "unknown field"),
    ],
)
async def test_bad_merchant_registrations_are_400(
    http: httpx2.AsyncClient, change: dict[str, Any], says: str
) -> None:
    answer = await http.post("/__sim/merchants", json=merchant_json(**change))
    assert answer.status_code == 400 and says in answer.json()["error"]


async def test_a_private_key_is_never_taken_for_a_public_one(http: httpx2.AsyncClient) -> None:
    pem = (
        rsa_key("merchant")
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    answer = await http.post("/__sim/merchants", json=merchant_json(merchant_public_key=pem))
    assert answer.status_code == 400 and "BEGIN" not in answer.text


async def test_play_the_pay_sheet_over_http(sim: Simulator, http: httpx2.AsyncClient) -> None:
    merchant = register(sim)
    body = order_body("order-0001", sim.openid(APPID, "alice"), APPID)
    assert (await call(http, sim, merchant, "POST", JSAPI, body)).status_code == 200
    cancel = await http.post(
        "/__sim/pay", json={"mchid": MCHID, "out_trade_no": "order-0001", "outcome": "cancel"}
    )
    assert cancel.status_code == 200 and cancel.json() == {"trade_state": "NOTPAY"}
    paid = await http.post(
        "/__sim/pay",
        json={"mchid": MCHID, "out_trade_no": "order-0001", "outcome": "success", "duplicates": 2},
    )
    assert paid.status_code == 200
    assert set(paid.json()) == {"trade_state", "transaction_id"}
    assert len(sim.callbacks.pending()) == 3
    again = await http.post(
        "/__sim/pay", json={"mchid": MCHID, "out_trade_no": "order-0001", "outcome": "success"}
    )
    assert again.status_code == 409

    state = (await http.get("/__sim/state")).json()
    assert [m["mchid"] for m in state["merchants"]] == [MCHID]
    assert state["orders"][0]["trade_state"] == "SUCCESS"
    assert state["refunds"] == [] and len(state["callbacks"]["pending"]) == 3


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"mchid": "1234567", "out_trade_no": "order-0001", "outcome": "success"}, 404),
        ({"mchid": MCHID, "out_trade_no": "order-none", "outcome": "success"}, 404),
        ({"mchid": MCHID, "out_trade_no": "order-0001", "outcome": "maybe"}, 400),
        (
            {"mchid": MCHID, "out_trade_no": "order-0001", "outcome": "success", "duplicates": -1},
            400,
        ),
        (
            {
                "mchid": MCHID,
                "out_trade_no": "order-0001",
                "outcome": "success",
                "duplicates": True,
            },
            400,
        ),
        ({"mchid": MCHID, "out_trade_no": "order-0001"}, 400),
    ],
)
async def test_pay_sheet_mistakes(
    sim: Simulator, http: httpx2.AsyncClient, body: dict[str, Any], status: int
) -> None:
    merchant = register(sim)
    await call(
        http,
        sim,
        merchant,
        "POST",
        JSAPI,
        order_body("order-0001", sim.openid(APPID, "alice"), APPID),
    )
    answer = await http.post("/__sim/pay", json=body)
    assert answer.status_code == status and answer.json()["error"]


async def test_the_clock_route_moves_pay_time_too(sim: Simulator, http: httpx2.AsyncClient) -> None:
    merchant = register(sim)
    body = order_body("order-0002", sim.openid(APPID, "alice"), APPID)
    await call(http, sim, merchant, "POST", JSAPI, body)
    assert (await http.post("/__sim/clock", json={"advance": 7200})).status_code == 200
    lapsed = await http.post(
        "/__sim/pay", json={"mchid": MCHID, "out_trade_no": "order-0002", "outcome": "success"}
    )
    assert lapsed.status_code == 409 and "prepay_id" in lapsed.json()["error"]


# --------------------------------------------------------------------------- faults


@pytest.fixture
def merchant(sim: Simulator) -> Merchant:
    return register(sim)


async def test_a_code_fault_answers_a_signed_wechat_pay_error_and_changes_nothing(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    added = await http.post(
        "/__sim/faults", json={"path": JSAPI, "code": "SYSTEM_ERROR", "times": 2}
    )
    assert added.status_code == 201 and added.json()["faults"][0]["kind"] == "code"
    body = order_body("order-0003", sim.openid(APPID, "alice"), APPID)
    for _ in range(2):
        answer = await call(http, sim, merchant, "POST", JSAPI, body)
        assert answer.status_code == 500 and answer.json() == {
            "code": "SYSTEM_ERROR",
            "message": "系统错误",
        }
        assert response_verifies(answer, merchant)
    assert sim.state()["orders"] == []
    assert (await call(http, sim, merchant, "POST", JSAPI, body)).status_code == 200


async def test_faults_name_pay_endpoints_by_template(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    template = "/v3/pay/transactions/out-trade-no/{out_trade_no}"
    sim.add_fault(template, code="RATELIMIT_EXCEEDED")
    answer = await call(
        http, sim, merchant, "GET", f"/v3/pay/transactions/out-trade-no/any-order-1?mchid={MCHID}"
    )
    assert answer.status_code == 429 and answer.json()["code"] == "RATELIMIT_EXCEEDED"
    answer = await call(
        http, sim, merchant, "GET", f"/v3/pay/transactions/out-trade-no/any-order-1?mchid={MCHID}"
    )
    assert answer.status_code == 404  # used up


async def test_gateway_body_and_drop_faults(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    query = f"/v3/pay/transactions/out-trade-no/order-0004?mchid={MCHID}"
    template = "/v3/pay/transactions/out-trade-no/{out_trade_no}"
    sim.add_fault(template, http_status=502)
    gateway = await call(http, sim, merchant, "GET", query)
    assert gateway.status_code == 502 and gateway.headers["content-type"] == "text/html"
    assert "Wechatpay-Signature" not in gateway.headers
    sim.add_fault(template, body='{"trade_state":')
    odd = await call(http, sim, merchant, "GET", query)
    assert odd.status_code == 200 and odd.content == b'{"trade_state":'
    assert response_verifies(odd, merchant)  # signed: the client is tested on the content
    sim.add_fault(template, drop=True)
    # A dropped call gets no response at all (faults act before the signature is looked at).
    with pytest.raises(UpstreamUnavailable):
        await sim.transport.request(
            "GET", sim.pay_base_url + query, params={}, json_body=None, timeout=5
        )


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ({"path": JSAPI, "errcode": -1}, "code"),
        ({"path": "/sns/jscode2session", "code": "SYSTEM_ERROR"}, "WeChat Pay"),
        ({"path": JSAPI, "code": "lower case"}, "code"),
        ({"path": "/v3/pay/transactions/out-trade-no/order-1"}, "path"),
    ],
)
async def test_bad_pay_faults_are_400(
    http: httpx2.AsyncClient, fault: dict[str, Any], says: str
) -> None:
    answer = await http.post("/__sim/faults", json=fault)
    assert answer.status_code == 400 and says in answer.json()["error"]


# --------------------------------------------------------------------------- pytest plugin


async def test_the_plugin_hands_out_a_registered_merchant_kit(
    wechat_simulator: Simulator, wechat_pay_merchant: MerchantKit
) -> None:
    kit = wechat_pay_merchant
    assert kit.mchid in wechat_simulator.pay.world.merchants
    assert kit.apiv3_key not in repr(kit) and "PRIVATE" not in repr(kit)
    key = serialization.load_pem_private_key(kit.merchant_private_key.encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    wechat_simulator.register_app(APPID, "s3cret")
    merchant = Merchant(
        kit.mchid,
        key,
        kit.merchant_serial,
        kit.apiv3_key,
        kit.wechatpay_serial,
        load_public(kit.wechatpay_public_key),
    )
    transport = httpx2.ASGITransport(app=wechat_simulator.app)
    async with httpx2.AsyncClient(
        transport=transport, base_url=wechat_simulator.pay_base_url
    ) as http:
        body = order_body("order-0005", wechat_simulator.openid(APPID, "alice"), APPID)
        body["mchid"] = kit.mchid
        answer = await call(http, wechat_simulator, merchant, "POST", JSAPI, body)
    assert answer.status_code == 200 and response_verifies(answer, merchant)

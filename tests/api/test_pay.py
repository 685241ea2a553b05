"""WeChat Pay through the service: an order made by the host app, its parameters for the
mini program, WeChat Pay's callbacks (verified, applied once), refunds, closing and expiry —
against the in-process simulator, on both storage backends."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.api.conftest import APPID, APPID_B, SECRET, SECRET_B, Harness, bearer
from wxlogin import paycrypto
from wxlogin.errors import ConfigurationError, OrderNotPayable, RefundTooLarge, WxLoginError
from wxlogin.pay import protocol as wxpay
from wxlogin.simulator import MerchantKit, Simulator
from wxlogin.simulator.pay_callbacks import asgi_post
from wxlogin.simulator.pay_wire import signature_headers
from wxlogin.store.records import OrderState, RefundState

TOKEN = secrets.token_urlsafe(32)
MCHID = "1900000109"
SHOP = "https://shop.test"  # public_url: WeChat Pay calls back https addresses only


class PayHarness:
    """The harness, the merchant's kit, and the callbacks the simulator sent."""

    def __init__(self, h: Harness, kit: MerchantKit) -> None:
        self.h = h
        self.kit = kit
        self.captured: list[tuple[list[tuple[bytes, bytes]], bytes]] = []

    async def order(self, user_id: str, amount: int = 1999, **extra: Any) -> dict[str, Any]:
        body = {"user_id": user_id, "amount": amount, "description": "一杯咖啡", **extra}
        response = await self.h.http.post("/pay/orders", json=body, headers=bearer(TOKEN))
        assert response.status_code == 201, response.text
        order: dict[str, Any] = response.json()
        return order

    def advance(self, seconds: float) -> None:
        """Both clocks: the service's and WeChat's, so signatures stay in each other's time."""
        self.h.clock.advance(seconds)
        self.h.sim.advance(seconds)

    async def deliver(self) -> list[dict[str, Any]]:
        return await self.h.sim.deliver_callbacks()

    def capture(self, status: int = 204) -> None:
        """From now on WeChat Pay's callbacks are kept, not delivered (an eavesdropper's view),
        and answered ``status`` (not 2xx: WeChat Pay tries again later)."""

        async def keep(scope: Any, receive: Any, send: Any) -> None:
            message = await receive()
            self.captured.append((list(scope["headers"]), message.get("body", b"")))
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        self.h.sim.route_callbacks(keep, SHOP)

    def route_to_service(self) -> None:
        self.h.sim.route_callbacks(self.h.app, SHOP)

    async def replay(self, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
        """POST a callback to the service as WeChat Pay would (in-process, no socket)."""
        named = [(k, v) for k, v in headers if k.startswith(b"wechatpay-")]
        return await asgi_post(self.h.app, f"{SHOP}/pay/notify", named, body)


def pay_settings(kit: MerchantKit, directory: Path, **overrides: Any) -> dict[str, Any]:
    """Settings overrides: APPID pays with ``kit``'s merchant, APPID_B takes no payments."""
    return {
        "apps": [
            {"appid": APPID, "secret": SECRET, "pay": kit.write_files(directory)},
            {"appid": APPID_B, "secret": SECRET_B},
        ],
        "public_url": SHOP,
        "service_tokens": [TOKEN],
        **overrides,
    }


async def pay_harness(
    harness_factory: Callable[..., Any], sim: Simulator, directory: Path, **overrides: Any
) -> PayHarness:
    """A service whose APPID pays with a new merchant of ``sim``'s, its callbacks routed to it."""
    kit = sim.new_merchant(MCHID)
    harness: Harness = await harness_factory(**pay_settings(kit, directory, **overrides))
    paying = PayHarness(harness, kit)
    paying.route_to_service()
    return paying


@pytest.fixture
async def pay(harness_factory: Callable[..., Any], sim: Simulator, tmp_path: Path) -> PayHarness:
    return await pay_harness(harness_factory, sim, tmp_path / "keys")


async def _user(p: PayHarness, name: str = "alice", appid: str = APPID) -> tuple[str, str]:
    """Log ``name`` in; their user id and access token."""
    answer = await p.h.login(name, appid)
    return answer["user"]["id"], answer["access_token"]


async def _params(p: PayHarness, order_id: str, token: str) -> httpx2.Response:
    return await p.h.http.post(f"/pay/orders/{order_id}/params", headers=bearer(token))


async def _mine(p: PayHarness, order_id: str, token: str) -> dict[str, Any]:
    response = await p.h.http.get(f"/me/orders/{order_id}", headers=bearer(token))
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()
    return order


async def test_an_order_is_paid_once_however_often_wechat_pay_says_so(pay: PayHarness) -> None:
    user_id, token = await _user(pay)
    order = await pay.order(user_id, 1999, attach="table 7")
    assert order["state"] == "created"
    assert (order["amount"], order["currency"], order["appid"]) == (1999, "CNY", APPID)
    assert order["attach"] == "table 7" and order["transaction_id"] is None

    response = await _params(pay, order["id"], token)
    assert response.status_code == 200, response.text
    params = response.json()
    assert set(params) == {"timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["package"].startswith("prepay_id=") and params["signType"] == "RSA"
    # Signed with the merchant's key over what wx.requestPayment checks, in WeChat's order.
    message = paycrypto.pay_message(
        APPID, params["timeStamp"], params["nonceStr"], params["package"]
    )
    public = paycrypto.load_public_key(pay.kit.merchant_public_key)
    assert paycrypto.verify_message(public, message, params["paySign"])

    paid = pay.h.sim.pay_order(MCHID, order["out_trade_no"], duplicates=2)
    attempts = await pay.deliver()
    assert [a["status"] for a in attempts] == [204, 204, 204]
    mine = await _mine(pay, order["id"], token)
    assert mine["state"] == "paid"
    assert mine["transaction_id"] == paid["transaction_id"]
    assert mine["paid_at"] is not None
    # Paid orders get no parameters any more.
    again = await _params(pay, order["id"], token)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "order_not_payable"
    listed = (await pay.h.http.get("/me/orders", headers=bearer(token))).json()["orders"]
    assert [o["id"] for o in listed] == [order["id"]]


async def test_a_payment_whose_callback_is_late_is_learnt_by_asking(pay: PayHarness) -> None:
    """requestPayment:ok proves nothing; the owner's look asks WeChat Pay."""
    user_id, token = await _user(pay)
    order = await pay.order(user_id)
    assert (await _params(pay, order["id"], token)).status_code == 200
    pay.capture()  # the callback is lost on the way
    paid = pay.h.sim.pay_order(MCHID, order["out_trade_no"])
    await pay.deliver()
    mine = await _mine(pay, order["id"], token)
    assert (mine["state"], mine["transaction_id"]) == ("paid", paid["transaction_id"])
    # The callback arriving afterwards changes nothing and is acknowledged.
    ((headers, body),) = pay.captured
    assert await pay.replay(headers, body) == 204
    assert (await _mine(pay, order["id"], token))["state"] == "paid"


async def test_an_unpaid_order_stays_unpaid(pay: PayHarness) -> None:
    user_id, token = await _user(pay)
    order = await pay.order(user_id)
    assert (await _params(pay, order["id"], token)).status_code == 200
    pay.h.sim.pay_order(MCHID, order["out_trade_no"], "cancel")
    assert await pay.deliver() == []
    assert (await _mine(pay, order["id"], token))["state"] == "created"


async def _state(p: PayHarness, order_id: str) -> OrderState:
    order = await p.h.service.store.orders.get(order_id)
    assert order is not None
    return order.state


async def test_callbacks_that_are_not_authentic_are_refused(pay: PayHarness) -> None:
    user_id, token = await _user(pay)
    order = await pay.order(user_id)
    assert (await _params(pay, order["id"], token)).status_code == 200
    pay.capture(status=500)  # taken on the way, and WeChat Pay is told to try again
    pay.h.sim.pay_order(MCHID, order["out_trade_no"])
    await pay.deliver()
    ((headers, body),) = pay.captured
    named = dict(headers)

    def with_header(name: bytes, value: bytes) -> list[tuple[bytes, bytes]]:
        return [(k, value if k == name else v) for k, v in headers]

    stranger = paycrypto.generate_private_key()
    message = paycrypto.response_message(
        named[b"wechatpay-timestamp"].decode(), named[b"wechatpay-nonce"].decode(), body
    )
    forged = paycrypto.sign_message(stranger, message).encode()
    probe = b"WECHATPAY/SIGNTEST/" + named[b"wechatpay-signature"]
    refusals = {
        # One space more: the same JSON, other bytes. Verified on the raw bytes, refused.
        "reformatted body": (headers, body.replace(b":", b": ", 1)),
        "another key": (with_header(b"wechatpay-signature", forged), body),
        "a probe": (with_header(b"wechatpay-signature", probe), body),
        "an unknown serial": (with_header(b"wechatpay-serial", b"PUB_KEY_ID_0000"), body),
        "no signature": ([(k, v) for k, v in headers if k != b"wechatpay-signature"], body),
        "not JSON": (headers, b"\xff\xfe not json"),
    }
    for name, (bad_headers, bad_body) in refusals.items():
        assert await pay.replay(bad_headers, bad_body) == 401, name
    assert await _state(pay, order["id"]) is OrderState.CREATED

    # The genuine one replayed ten minutes later is stale: refused.
    pay.advance(600)
    assert await pay.replay(headers, body) == 401
    assert await _state(pay, order["id"]) is OrderState.CREATED
    # WeChat Pay's own next attempt, signed afresh, is applied.
    pay.route_to_service()
    attempts = await pay.deliver()
    assert [a["status"] for a in attempts] == [204]
    assert (await _mine(pay, order["id"], token))["state"] == "paid"


async def _paid(p: PayHarness, amount: int = 1000) -> tuple[dict[str, Any], str]:
    """A paid order of a fresh user's; the order and the user's token."""
    user_id, token = await _user(p, f"payer-{secrets.token_hex(3)}")
    order = await p.order(user_id, amount)
    assert (await _params(p, order["id"], token)).status_code == 200
    p.h.sim.pay_order(MCHID, order["out_trade_no"])
    await p.deliver()
    assert (await _mine(p, order["id"], token))["state"] == "paid"
    return order, token


async def test_refunds_never_exceed_what_was_paid(pay: PayHarness) -> None:
    order, token = await _paid(pay, 1000)
    service = pay.h.service.pay
    assert service is not None
    first = await service.refund(order["id"], amount=300, reason="少了一杯")
    assert (first.amount, first.state) == (300, RefundState.PROCESSING)
    with pytest.raises(RefundTooLarge):
        await service.refund(order["id"], amount=701)
    mine = await _mine(pay, order["id"], token)
    assert (mine["state"], mine["refunded_amount"]) == ("partially_refunded", 300)
    # WeChat Pay finishes it a few seconds later and says so.
    pay.advance(10)
    attempts = await pay.deliver()
    assert [(a["event_type"], a["status"]) for a in attempts] == [("REFUND.SUCCESS", 204)]
    (settled,) = await pay.h.service.store.orders.refunds_of(order["id"])
    assert settled.state is RefundState.SUCCESS and settled.refund_id
    # The rest, then nothing more.
    rest = await service.refund(order["id"])
    assert rest.amount == 700
    with pytest.raises(RefundTooLarge):
        await service.refund(order["id"], amount=1)
    pay.advance(10)
    await pay.deliver()
    mine = await _mine(pay, order["id"], token)
    assert (mine["state"], mine["refunded_amount"]) == ("refunded", 1000)


async def test_a_late_payment_callback_after_a_refund_changes_nothing(pay: PayHarness) -> None:
    user_id, token = await _user(pay)
    order = await pay.order(user_id, 500)
    assert (await _params(pay, order["id"], token)).status_code == 200
    pay.capture()
    pay.h.sim.pay_order(MCHID, order["out_trade_no"], duplicates=1)
    await pay.deliver()
    first, duplicate = pay.captured
    assert await pay.replay(*first) == 204
    pay.route_to_service()
    service = pay.h.service.pay
    assert service is not None
    await service.refund(order["id"])
    pay.advance(10)
    await pay.deliver()
    assert (await _mine(pay, order["id"], token))["state"] == "refunded"
    # The duplicate payment callback, arriving last (re-signed, as a retry would be): no change.
    assert await pay.replay(await _resigned(pay, duplicate[1]), duplicate[1]) == 204
    mine = await _mine(pay, order["id"], token)
    assert (mine["state"], mine["refunded_amount"]) == ("refunded", 500)


async def _resigned(p: PayHarness, body: bytes) -> list[tuple[bytes, bytes]]:
    """The headers WeChat Pay would send with ``body`` now: its key, the simulated clock."""
    merchant = p.h.sim.pay.world.merchant(MCHID)
    return [(k.lower(), v) for k, v in signature_headers(merchant, body, p.h.sim.clock.now())]


async def test_closing_an_order(pay: PayHarness) -> None:
    user_id, token = await _user(pay)
    order = await pay.order(user_id)
    assert (await _params(pay, order["id"], token)).status_code == 200
    service = pay.h.service.pay
    assert service is not None
    closed = await service.close(order["id"])
    assert closed.state is OrderState.CLOSED
    assert (await service.close(order["id"])).state is OrderState.CLOSED  # twice is fine
    refused = await _params(pay, order["id"], token)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "order_not_payable"
    paid, _ = await _paid(pay)
    with pytest.raises(OrderNotPayable):
        await service.close(paid["id"])


async def test_unpaid_orders_close_at_expiry_unless_paid_at_the_last_moment(
    pay: PayHarness,
) -> None:
    user_id, token = await _user(pay)
    forgotten = await pay.order(user_id)
    last_moment = await pay.order(user_id)
    never_asked = await pay.order(user_id)  # prepay made at creation; never shown the sheet
    for order in (forgotten, last_moment):
        assert (await _params(pay, order["id"], token)).status_code == 200
    pay.capture(status=500)  # its callback is not in yet
    pay.h.sim.pay_order(MCHID, last_moment["out_trade_no"])
    await pay.deliver()
    service = pay.h.service.pay
    assert service is not None
    assert await service.close_expired() == 0  # nothing has expired yet
    pay.advance(1801)
    assert await service.close_expired() == 2
    assert await _state(pay, forgotten["id"]) is OrderState.CLOSED
    assert await _state(pay, never_asked["id"]) is OrderState.CLOSED
    assert await _state(pay, last_moment["id"]) is OrderState.PAID
    _, token = await _user(pay)  # the old access token has expired meanwhile
    refused = await _params(pay, forgotten["id"], token)
    assert refused.status_code == 409


async def test_one_process_a_turn_closes_expired_orders(
    pay: PayHarness, harness_factory: Callable[..., Any], tmp_path: Path
) -> None:
    # A second service on the same database and cache (Redis on the PostgreSQL run), as a
    # second worker or machine: in one interval only the first to ask closes, so WeChat Pay
    # is asked about each expired order once, not once a worker.
    other: Harness = await harness_factory(**pay_settings(pay.kit, tmp_path / "other"))
    user_id, _ = await _user(pay)
    order = await pay.order(user_id)
    pay.advance(1801)
    other.clock.advance(1801)
    first, second = pay.h.service.pay, other.service.pay
    assert first is not None and second is not None
    requests = pay.h.sim.pay_api.requests
    closes_before = requests.get(wxpay.CLOSE_ORDER, 0)
    assert await first.tidy_in_turn() == (1, 0)
    assert await second.tidy_in_turn() is None  # this interval's turn was taken
    assert await _state(pay, order["id"]) is OrderState.CLOSED
    assert requests.get(wxpay.CLOSE_ORDER, 0) == closes_before + 1  # closed once, not twice


async def test_only_the_host_backend_makes_orders(pay: PayHarness) -> None:
    user_id, token = await _user(pay)
    body = {"user_id": user_id, "amount": 100, "description": "coffee"}
    for headers in ({}, bearer(token), bearer("x" * 43)):
        refused = await pay.h.http.post("/pay/orders", json=body, headers=headers)
        assert refused.status_code == 401, headers
        assert refused.json()["error"]["code"] == "invalid_service_token"
    assert await pay.h.service.store.orders.page(user_id=user_id, limit=10, offset=0) == []


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"amount": 0}, 400),
        ({"amount": -1}, 400),
        ({"amount": 1.5}, 400),
        ({"amount": "100"}, 400),
        ({"amount": 10**13}, 400),
        ({"description": ""}, 400),
        ({"description": "   "}, 400),
        ({"description": "x" * 128}, 400),
        ({"description": "coffee\x00"}, 400),
        ({"attach": "a" * 129}, 400),
        ({"user_id": "no-such-user"}, 404),
        ({"appid": APPID_B}, 400),  # a mini program that takes no payments here
        ({"appid": "wx" + "0" * 16}, 400),
        ({"extra": 1}, 400),
    ],
)
async def test_orders_are_checked_before_wechat_pay_is_asked(
    pay: PayHarness, change: dict[str, Any], status: int
) -> None:
    user_id, _ = await _user(pay)
    body = {"user_id": user_id, "amount": 100, "description": "coffee"} | change
    before = dict(pay.h.sim.app.requests)
    response = await pay.h.http.post("/pay/orders", json=body, headers=bearer(TOKEN))
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error"}
    assert dict(pay.h.sim.app.requests) == before  # WeChat Pay was never called


async def test_orders_are_their_owners_business_only(pay: PayHarness) -> None:
    alice_id, alice = await _user(pay, "alice")
    _, bob = await _user(pay, "bob")
    order = await pay.order(alice_id)
    for path in (f"/me/orders/{order['id']}", f"/pay/orders/{order['id']}/params"):
        method = "GET" if path.startswith("/me") else "POST"
        stranger = await pay.h.http.request(method, path, headers=bearer(bob))
        assert stranger.status_code == 404, path
        anonymous = await pay.h.http.request(method, path)
        assert anonymous.status_code == 401, path
    assert (await pay.h.http.get("/me/orders", headers=bearer(bob))).json() == {"orders": []}
    for junk in ("x" * 65, "nope", "%00"):
        assert (
            await pay.h.http.get(f"/me/orders/{junk}", headers=bearer(alice))
        ).status_code == 404
    # The same person in the other mini program (linked by unionid) sees it, cannot pay it there.
    _, alice_b = await _user(pay, "alice", APPID_B)
    assert (await _mine(pay, order["id"], alice_b))["id"] == order["id"]
    elsewhere = await _params(pay, order["id"], alice_b)
    assert elsewhere.status_code == 400


async def test_the_callback_route_refuses_what_is_not_a_callback(pay: PayHarness) -> None:
    huge = await pay.h.http.post("/pay/notify", content=b"{" + b" " * 70_000 + b"}")
    assert huge.status_code == 413
    for body in (b"", b"{}", b"[]"):
        refused = await pay.h.http.post("/pay/notify", content=body)
        assert refused.status_code == 401, body


async def test_without_a_merchant_pay_routes_say_so(harness_factory: Callable[..., Any]) -> None:
    wx: Harness = await harness_factory(service_tokens=[TOKEN])
    user_id = (await wx.login("alice"))["user"]["id"]
    for path, body in (
        ("/pay/orders", {"user_id": user_id, "amount": 1, "description": "x"}),
        ("/pay/notify", {}),
    ):
        response = await wx.http.post(path, json=body, headers=bearer(TOKEN))
        assert response.status_code == 404, path
        assert "no [apps.pay] merchant" in response.json()["error"]["message"]


async def test_a_merchant_needs_an_https_public_url(
    harness_factory: Callable[..., Any], sim: Simulator, tmp_path: Path
) -> None:
    kit = sim.new_merchant(MCHID)
    with pytest.raises(ConfigurationError, match="https") as raised:
        await harness_factory(**pay_settings(kit, tmp_path, public_url="http://shop.test"))
    assert kit.apiv3_key not in str(raised.value)


async def test_the_merchant_keys_never_leave(
    pay: PayHarness, caplog: pytest.LogCaptureFixture
) -> None:
    """No APIv3 key, merchant private key or AppSecret in any response, log line, repr or
    error of the pay flow — its failures included."""
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    order, token = await _paid(pay)
    service = pay.h.service.pay
    assert service is not None
    await service.refund(order["id"], amount=1)
    for failing in (
        service.refund(order["id"], amount=10**9),
        service.close(order["id"]),
        service.refund("nope"),
    ):
        with pytest.raises(WxLoginError) as raised:
            await failing
        seen += [str(raised.value), repr(raised.value), str(raised.value.detail)]
    seen += [repr(service), repr(pay.kit), repr(pay.h.settings)]
    for path in (f"/me/orders/{order['id']}", "/me/orders"):
        seen.append((await pay.h.http.get(path, headers=bearer(token))).text)
    seen.append((await _params(pay, order["id"], token)).text)  # 409
    seen.append((await pay.h.http.post("/pay/notify", content=b"{}")).text)  # 401
    seen.append(json.dumps(pay.h.sim.state()))
    seen.append(caplog.text)
    secret_lines = [
        line
        for line in pay.kit.merchant_private_key.splitlines()
        if line and not line.startswith("-----")
    ]
    for text in seen:
        assert pay.kit.apiv3_key not in text
        assert SECRET not in text
        assert not any(line in text for line in secret_lines)


async def test_the_same_signed_callback_twice_is_a_replay(pay: PayHarness) -> None:
    """WeChat Pay signs each delivery afresh: a copy of one is refused, even within the
    five minutes the timestamp allows; WeChat Pay's own duplicates are taken (and ignored)."""
    user_id, token = await _user(pay)
    order = await pay.order(user_id)
    assert (await _params(pay, order["id"], token)).status_code == 200
    pay.capture()
    pay.h.sim.pay_order(MCHID, order["out_trade_no"], duplicates=1)
    await pay.deliver()
    genuine, duplicate = pay.captured
    assert await pay.replay(*genuine) == 204
    assert await pay.replay(*genuine) == 401
    assert await pay.replay(*duplicate) == 204  # its own signature: a duplicate, not a copy
    assert (await _mine(pay, order["id"], token))["state"] == "paid"


async def test_which_app_pays_is_asked_only_when_the_user_pays_in_several(
    harness_factory: Callable[..., Any], sim: Simulator, tmp_path: Path
) -> None:
    kit, other = sim.new_merchant(MCHID), sim.new_merchant("1900000110")
    h: Harness = await harness_factory(
        apps=[
            {"appid": APPID, "secret": SECRET, "pay": kit.write_files(tmp_path / "a")},
            {"appid": APPID_B, "secret": SECRET_B, "pay": other.write_files(tmp_path / "b")},
        ],
        public_url=SHOP,
        service_tokens=[TOKEN],
    )
    alice = (await h.login("alice", APPID))["user"]["id"]
    body = {"user_id": alice, "amount": 100, "description": "一杯咖啡"}
    only_one = await h.http.post("/pay/orders", json=body, headers=bearer(TOKEN))
    assert only_one.status_code == 201, only_one.text  # one app: no need to say which
    assert only_one.json()["appid"] == APPID
    assert (await h.login("alice", APPID_B))["user"]["id"] == alice  # linked by unionid
    ambiguous = await h.http.post("/pay/orders", json=body, headers=bearer(TOKEN))
    assert (ambiguous.status_code, ambiguous.json()["error"]["code"]) == (400, "appid_required")
    named = await h.http.post("/pay/orders", json={**body, "appid": APPID_B}, headers=bearer(TOKEN))
    assert named.status_code == 201 and named.json()["appid"] == APPID_B


async def test_a_user_of_no_paying_app_cannot_be_charged(pay: PayHarness) -> None:
    bob, _ = await _user(pay, "bob", APPID_B)  # APPID_B takes no payments
    body = {"user_id": bob, "amount": 100, "description": "一杯咖啡"}
    refused = await pay.h.http.post("/pay/orders", json=body, headers=bearer(TOKEN))
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_request")
    assert "takes payments" in refused.json()["error"]["message"]

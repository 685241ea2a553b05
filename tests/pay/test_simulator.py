"""The pay client end to end against the WeChat Pay simulator, in-process (AsgiTransport).

The simulator signs with its own keys and checks ours with code the client does not share
(only wxlogin.paycrypto and the wire facts), in both key modes: an order is made, paid at the
simulated pay sheet, its callback verified, refunded in parts, closed — and our signature is
refused when it should be.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

import pytest

from wxlogin import errors, paycrypto
from wxlogin.pay import Merchant, RefundEvent, TransactionEvent, WeChatPayClient
from wxlogin.pay.protocol import RefundStatus, TradeState
from wxlogin.simulator import Simulator

APPID, SECRET = "wx1234567890abcdef", "s3cret-app-0123456789"
MCHID = "1900000109"
NOTIFY = "https://shop.example/pay/notify"
Message = MutableMapping[str, Any]


class Notified:
    """A notify endpoint (ASGI) that verifies each callback with the client, as a service would:
    2xx for an event it opened, 401 for a refusal."""

    def __init__(self, client: WeChatPayClient) -> None:
        self.client = client
        self.events: list[TransactionEvent | RefundEvent] = []
        self.refusals: list[errors.PayError] = []

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            self.events.append(self.client.verify_callback(scope["headers"], body))
            status = 204
        except errors.PayVerificationError as exc:
            self.refusals.append(exc)
            status = 401
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
def sim() -> Simulator:
    simulator = Simulator()
    simulator.register_app(APPID, SECRET)
    return simulator


@pytest.fixture(params=["public_key", "certificate"])
def merchant(sim: Simulator, request: pytest.FixtureRequest) -> Merchant:
    kit = sim.new_merchant(MCHID, mode=request.param)
    keys: dict[str, Any] = (
        {"public_key_pem": kit.wechatpay_public_key, "public_key_id": kit.wechatpay_serial}
        if kit.mode == "public_key"
        else {
            "platform_certificate_pem": kit.platform_certificate,
            "platform_certificate_serial": kit.wechatpay_serial,
        }
    )
    return Merchant.from_pem(
        mchid=kit.mchid,
        merchant_serial=kit.merchant_serial,
        private_key_pem=kit.merchant_private_key,
        apiv3_key=kit.apiv3_key,
        **keys,
    )


@pytest.fixture
async def client(sim: Simulator, merchant: Merchant) -> AsyncIterator[WeChatPayClient]:
    async def no_wait(delay: float) -> None:
        return None

    async with WeChatPayClient(
        merchant, base_url="http://sim", transport=sim.transport, clock=sim.clock, sleep=no_wait
    ) as pay:
        yield pay


async def order(client: WeChatPayClient, sim: Simulator, no: str, total: int = 500) -> str:
    return await client.create_jsapi_order(
        appid=APPID,
        description="Demo item",
        out_trade_no=no,
        amount_total=total,
        payer_openid=sim.openid(APPID, "alice"),
        notify_url=NOTIFY,
    )


async def test_order_pay_callback_query(client: WeChatPayClient, sim: Simulator) -> None:
    prepay_id = await order(client, sim, "order_e2e_0001")
    assert await order(client, sim, "order_e2e_0001") == prepay_id  # the same order again
    params = client.request_payment_params(APPID, prepay_id)
    assert params["package"] == f"prepay_id={prepay_id}"
    unpaid = await client.query_order(out_trade_no="order_e2e_0001")
    assert unpaid.trade_state is TradeState.NOTPAY and unpaid.amount.total == 500

    notified = Notified(client)
    sim.route_callbacks(notified)
    paid_at_sheet = sim.pay_order(MCHID, "order_e2e_0001", "success", duplicates=2)
    await sim.deliver_callbacks()
    assert notified.refusals == [] and len(notified.events) == 3  # duplicates are normal
    for event in notified.events:
        assert isinstance(event, TransactionEvent)
        assert event.transaction.trade_state is TradeState.SUCCESS
        assert event.transaction.transaction_id == paid_at_sheet.get("transaction_id")
        assert event.transaction.amount.total == 500 and event.transaction.appid == APPID

    paid = await client.query_order(out_trade_no="order_e2e_0001")
    assert paid.paid and paid.payer_openid == sim.openid(APPID, "alice")
    assert paid.transaction_id is not None
    by_id = await client.query_order(transaction_id=paid.transaction_id)
    assert by_id.out_trade_no == "order_e2e_0001"


async def test_refunds_partial_full_and_too_much(client: WeChatPayClient, sim: Simulator) -> None:
    await order(client, sim, "order_e2e_0002", total=500)
    sim.pay_order(MCHID, "order_e2e_0002", "success")
    notified = Notified(client)
    sim.route_callbacks(notified)
    first = await client.refund(
        out_refund_no="refund_e2e_1",
        out_trade_no="order_e2e_0002",
        amount_refund=200,
        amount_total=500,
    )
    assert first.status in (RefundStatus.PROCESSING, RefundStatus.SUCCESS)
    again = await client.refund(
        out_refund_no="refund_e2e_1",
        out_trade_no="order_e2e_0002",
        amount_refund=200,
        amount_total=500,
    )
    assert again.refund_id == first.refund_id  # one out_refund_no, one refund
    with pytest.raises(errors.RefundNotEnough):
        await client.refund(
            out_refund_no="refund_e2e_2",
            out_trade_no="order_e2e_0002",
            amount_refund=301,
            amount_total=500,
        )
    rest = await client.refund(
        out_refund_no="refund_e2e_3",
        out_trade_no="order_e2e_0002",
        amount_refund=300,
        amount_total=500,
    )
    assert rest.amount.refund == 300
    sim.advance(60)
    done = await client.query_refund("refund_e2e_1")
    assert done.status is RefundStatus.SUCCESS and done.amount.refund == 200
    with pytest.raises(errors.PayOrderNotFound):
        await client.query_refund("refund_e2e_none")


async def test_close_an_unpaid_order_and_not_a_paid_one(
    client: WeChatPayClient, sim: Simulator
) -> None:
    await order(client, sim, "order_e2e_0003")
    await client.close_order("order_e2e_0003")
    await client.close_order("order_e2e_0003")  # closing twice is closing once
    closed = await client.query_order(out_trade_no="order_e2e_0003")
    assert closed.trade_state is TradeState.CLOSED
    await order(client, sim, "order_e2e_0004")
    sim.pay_order(MCHID, "order_e2e_0004", "success")
    with pytest.raises(errors.OrderAlreadyPaid):
        await client.close_order("order_e2e_0004")
    with pytest.raises(errors.PayOrderNotFound):
        await client.query_order(out_trade_no="order_e2e_none")


async def test_the_same_number_with_other_parameters_is_refused(
    client: WeChatPayClient, sim: Simulator
) -> None:
    await order(client, sim, "order_e2e_0005", total=500)
    with pytest.raises(errors.PayApiError) as caught:
        await order(client, sim, "order_e2e_0005", total=501)
    assert caught.value.pay_code in {"INVALID_REQUEST", "OUT_TRADE_NO_USED"}


async def test_transient_faults_are_retried(client: WeChatPayClient, sim: Simulator) -> None:
    await order(client, sim, "order_e2e_0006")
    sim.add_fault("/v3/pay/transactions/out-trade-no/{out_trade_no}", code="SYSTEM_ERROR")
    assert (await client.query_order(out_trade_no="order_e2e_0006")).amount.total == 500


async def test_our_signature_is_refused_with_a_wrong_key_or_clock(
    sim: Simulator, merchant: Merchant
) -> None:
    impostor = Merchant.from_pem(
        mchid=MCHID,
        merchant_serial=merchant.merchant_serial,
        private_key_pem=_other_private_key(),
        apiv3_key="A" * 32,
        public_key_pem=_public_of(merchant),
        public_key_id="PUB_KEY_ID_0100000000000000000000000000000000",
    )
    async with WeChatPayClient(impostor, transport=sim.transport, clock=sim.clock) as pay:
        with pytest.raises(errors.PaySignatureRejected):
            await pay.query_order(out_trade_no="order_e2e_0007")
    async with WeChatPayClient(
        merchant, transport=sim.transport, clock=lambda: sim.clock() - 600
    ) as late:
        with pytest.raises(errors.PaySignatureRejected):
            await late.query_order(out_trade_no="order_e2e_0007")


def _other_private_key() -> bytes:
    return paycrypto.private_key_pem(paycrypto.generate_private_key())


def _public_of(merchant: Merchant) -> bytes:
    key = next(iter(merchant.wechatpay_keys.values()))
    return paycrypto.public_key_pem(key.public_key)

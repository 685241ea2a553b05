"""WeChatPayClient against the in-test fake: what it signs and sends, what it trusts, retries."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tests.pay.conftest import (
    APPID,
    MCHID,
    MERCHANT_SERIAL,
    NOW,
    OPENID,
    Clock,
    Keys,
    Sleeps,
    make_merchant,
)
from tests.pay.fake import AUTH_RE, Answer, FakeWeChatPay
from tests.pay.test_paycrypto import hand_signature
from wxlogin import errors
from wxlogin.pay import Merchant, WeChatPayClient
from wxlogin.pay.protocol import RefundStatus, TradeState
from wxlogin.wechat.transport import HttpResponse

NOTIFY = "https://shop.example/pay/notify"


def transaction(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "appid": APPID,
        "mchid": MCHID,
        "out_trade_no": "order_20240101_0001",
        "transaction_id": "4200000001202401010000000001",
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "trade_state_desc": "支付成功",
        "bank_type": "OTHERS",
        "success_time": "2024-01-01T10:00:00+08:00",
        "payer": {"openid": OPENID},
        "amount": {"total": 100, "payer_total": 100, "currency": "CNY", "payer_currency": "CNY"},
    }
    data.update(overrides)
    return data


def refund_answer(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "refund_id": "50000000382019052709732678859",
        "out_refund_no": "refund_0001",
        "transaction_id": "4200000001202401010000000001",
        "out_trade_no": "order_20240101_0001",
        "channel": "ORIGINAL",
        "user_received_account": "招商银行信用卡0403",
        "create_time": "2024-01-02T10:00:00+08:00",
        "status": "PROCESSING",
        "amount": {
            "total": 100,
            "refund": 40,
            "payer_total": 100,
            "payer_refund": 40,
            "currency": "CNY",
        },
    }
    data.update(overrides)
    return data


async def create(client: WeChatPayClient, **overrides: Any) -> str:
    args: dict[str, Any] = {
        "appid": APPID,
        "description": "Demo item",
        "out_trade_no": "order_20240101_0001",
        "amount_total": 100,
        "payer_openid": OPENID,
        "notify_url": NOTIFY,
    }
    args.update(overrides)
    return await client.create_jsapi_order(**args)


# --------------------------------------------------------------------------- signing


async def test_request_signature_is_the_hand_computed_one(
    client: WeChatPayClient, fake: FakeWeChatPay, keys: Keys
) -> None:
    fake.answer_json({"prepay_id": "wx201410272009395522657a690389285100"})
    assert await create(client) == "wx201410272009395522657a690389285100"
    seen = fake.seen[0]
    auth = AUTH_RE.fullmatch(seen.headers["authorization"])
    assert auth is not None
    assert auth["mchid"] == MCHID and auth["serial"] == MERCHANT_SERIAL
    assert auth["timestamp"] == str(int(NOW))
    assert len(auth["nonce"]) == 32
    message = (
        f"POST\n/v3/pay/transactions/jsapi\n{auth['timestamp']}\n{auth['nonce']}\n".encode()
        + seen.body
        + b"\n"
    )
    assert auth["signature"] == hand_signature(keys.merchant, message)
    assert seen.headers["accept"] == "application/json"
    assert seen.json() == {
        "appid": APPID,
        "mchid": MCHID,
        "description": "Demo item",
        "out_trade_no": "order_20240101_0001",
        "notify_url": NOTIFY,
        "amount": {"total": 100, "currency": "CNY"},
        "payer": {"openid": OPENID},
    }


async def test_a_get_signs_path_and_query_with_an_empty_body(
    client: WeChatPayClient, fake: FakeWeChatPay, keys: Keys
) -> None:
    fake.answer_json(transaction())
    await client.query_order(out_trade_no="order_20240101_0001")
    seen = fake.seen[0]
    assert seen.method == "GET" and seen.body == b""
    assert seen.target == f"/v3/pay/transactions/out-trade-no/order_20240101_0001?mchid={MCHID}"
    auth = AUTH_RE.fullmatch(seen.headers["authorization"])
    assert auth is not None
    message = f"GET\n{seen.target}\n{auth['timestamp']}\n{auth['nonce']}\n\n".encode()
    keys.merchant.public_key().verify(
        base64.b64decode(auth["signature"]), message, padding.PKCS1v15(), hashes.SHA256()
    )


async def test_a_base_url_prefix_is_part_of_the_signed_path(
    merchant: Merchant, fake: FakeWeChatPay, clock: Clock, keys: Keys
) -> None:
    fake.answer_json(transaction())
    async with WeChatPayClient(
        merchant, base_url="http://127.0.0.1:8900/pay/", transport=fake.transport, clock=clock
    ) as pay:
        await pay.query_order(transaction_id="4200000001202401010000000001")
    seen = fake.seen[0]
    assert seen.path == "/pay/v3/pay/transactions/id/4200000001202401010000000001"
    auth = AUTH_RE.fullmatch(seen.headers["authorization"])
    assert auth is not None
    message = f"GET\n{seen.target}\n{auth['timestamp']}\n{auth['nonce']}\n\n".encode()
    assert auth["signature"] == hand_signature(keys.merchant, message)


# --------------------------------------------------------------------------- typed answers


async def test_query_answers_a_typed_transaction(
    client: WeChatPayClient, fake: FakeWeChatPay
) -> None:
    fake.answer_json(transaction())
    got = await client.query_order(out_trade_no="order_20240101_0001")
    assert got.paid and got.trade_state is TradeState.SUCCESS
    assert got.amount.total == 100 and got.amount.currency == "CNY"
    assert got.payer_openid == OPENID
    assert got.success_time == datetime(2024, 1, 1, 2, 0, tzinfo=UTC)


async def test_an_unpaid_order_has_no_payer_or_transaction_id(
    client: WeChatPayClient, fake: FakeWeChatPay
) -> None:
    unpaid = transaction(trade_state="NOTPAY", trade_state_desc="订单未支付")
    for key in ("transaction_id", "success_time", "payer", "bank_type"):
        unpaid.pop(key)
    fake.answer_json(unpaid)
    got = await client.query_order(out_trade_no="order_20240101_0001")
    assert got.trade_state is TradeState.NOTPAY and not got.paid
    assert got.transaction_id is None and got.payer_openid is None


async def test_refund_and_query_refund_are_typed(
    client: WeChatPayClient, fake: FakeWeChatPay
) -> None:
    fake.answer_json(refund_answer()).answer_json(refund_answer(status="SUCCESS"))
    made = await client.refund(
        out_refund_no="refund_0001",
        out_trade_no="order_20240101_0001",
        amount_refund=40,
        amount_total=100,
        reason="customer asked",
    )
    assert made.status is RefundStatus.PROCESSING and made.amount.refund == 40
    assert fake.seen[0].json() == {
        "out_trade_no": "order_20240101_0001",
        "out_refund_no": "refund_0001",
        "reason": "customer asked",
        "amount": {"refund": 40, "total": 100, "currency": "CNY"},
    }
    later = await client.query_refund("refund_0001")
    assert later.status is RefundStatus.SUCCESS
    assert fake.seen[1].target == "/v3/refund/domestic/refunds/refund_0001"


async def test_close_is_a_verified_204(client: WeChatPayClient, fake: FakeWeChatPay) -> None:
    fake.then(Answer(status=204, body=b""))
    await client.close_order("order_20240101_0001")
    assert fake.seen[0].json() == {"mchid": MCHID}
    assert fake.seen[0].path == "/v3/pay/transactions/out-trade-no/order_20240101_0001/close"
    fake.then(Answer(status=204, body=b"", sign="stranger"))
    with pytest.raises(errors.UntrustedPayResponse):
        await client.close_order("order_20240101_0001")


async def test_closing_a_closed_order_is_done_and_a_paid_one_is_refused(
    client: WeChatPayClient, fake: FakeWeChatPay
) -> None:
    fake.answer_json({"code": "ORDER_CLOSED", "message": "订单已关闭"}, status=400)
    await client.close_order("order_20240101_0001")  # already closed: done, no error
    fake.answer_json({"code": "ORDERPAID", "message": "订单已支付"}, status=400)
    with pytest.raises(errors.OrderAlreadyPaid):
        await client.close_order("order_20240101_0001")


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        ({"trade_state": "MAYBE"}, "trade_state"),
        ({"amount": {"total": "100"}}, "amount.total"),
        ({"amount": {"total": True}}, "amount.total"),
        ({"amount": {"total": -1}}, "amount.total"),
        ({"amount": None}, "amount"),
        ({"payer": {"openid": "o" * 500}}, "payer.openid"),
        ({"success_time": "yesterday"}, "success_time"),
        ({"success_time": "2024-01-01T10:00:00"}, "success_time"),
        ({"appid": None}, "appid"),
        ({"out_trade_no": "has space 123"}, "out_trade_no"),
    ],
)
async def test_malformed_answers_name_the_field_never_the_value(
    client: WeChatPayClient, fake: FakeWeChatPay, answer: dict[str, Any], field: str
) -> None:
    fake.answer_json(transaction(**answer))
    with pytest.raises(errors.BadUpstreamResponse) as caught:
        await client.query_order(out_trade_no="order_20240101_0001")
    assert repr(field) in caught.value.message
    for value in answer.values():
        if isinstance(value, str):
            assert value not in caught.value.message
    assert not caught.value.retryable


async def test_an_answer_about_another_order_is_refused(
    client: WeChatPayClient, fake: FakeWeChatPay
) -> None:
    fake.answer_json(transaction(out_trade_no="someone_elses_order"))
    with pytest.raises(errors.BadUpstreamResponse, match="another order"):
        await client.query_order(out_trade_no="order_20240101_0001")
    fake.answer_json(transaction(mchid="1900000999"))
    with pytest.raises(errors.BadUpstreamResponse, match="another order"):
        await client.query_order(out_trade_no="order_20240101_0001")
    fake.answer_json(refund_answer(out_refund_no="refund_9999"))
    with pytest.raises(errors.BadUpstreamResponse, match="another refund"):
        await client.query_refund("refund_0001")


# --------------------------------------------------------------------------- verification


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Answer(sign=None), errors.PaySignatureMissing),
        (Answer(drop=("Wechatpay-Timestamp",)), errors.PaySignatureMissing),
        (Answer(drop=("Wechatpay-Nonce",)), errors.PaySignatureMissing),
        (Answer(drop=("Wechatpay-Signature",)), errors.PaySignatureMissing),
        (Answer(drop=("Wechatpay-Serial",)), errors.PaySignatureMissing),
        (
            Answer(extra_headers={"Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"}),
            errors.PaySignatureMissing,
        ),
        (Answer(serial="PUB_KEY_ID_0000000000000000000000000000000000"), errors.UnknownPaySerial),
        (Answer(serial="0123456789ABCDEF"), errors.UnknownPaySerial),
        (Answer(timestamp_offset=-301), errors.StalePayTimestamp),
        (Answer(timestamp_offset=301), errors.StalePayTimestamp),
        (Answer(sign="stranger"), errors.BadPaySignature),
        (Answer(sign="other-body"), errors.BadPaySignature),
        (Answer(sign="signtest"), errors.PaySignatureProbe),
    ],
)
async def test_an_answer_that_fails_verification_is_never_trusted(
    client: WeChatPayClient,
    fake: FakeWeChatPay,
    sleeps: Sleeps,
    answer: Answer,
    reason: type[errors.PayVerificationError],
) -> None:
    answer.body = orjson.dumps(transaction())
    fake.then(answer)
    with pytest.raises(errors.UntrustedPayResponse) as caught:
        await client.query_order(out_trade_no="order_20240101_0001")
    assert type(caught.value.reason) is reason
    assert caught.value.http_status == 502 and not caught.value.retryable
    assert len(fake.seen) == 1 and sleeps.delays == []  # refused, not retried


async def test_timestamps_within_five_minutes_either_way_are_accepted(
    client: WeChatPayClient, fake: FakeWeChatPay
) -> None:
    for offset in (-300, 300):
        fake.then(Answer(body=orjson.dumps(transaction()), timestamp_offset=offset))
        assert (await client.query_order(out_trade_no="order_20240101_0001")).paid


async def test_an_expired_platform_certificate_verifies_nothing(keys: Keys, clock: Clock) -> None:
    merchant = make_merchant(keys, "certificate")
    fake = FakeWeChatPay(
        keys.wechatpay, "5157F09EFDC096DE15EBE81A47057A7232F1B8E1", keys.stranger, clock
    )
    clock.now = NOW + 400 * 86_400  # past the certificate's not_valid_after
    fake.answer_json(transaction())
    async with WeChatPayClient(merchant, transport=fake.transport, clock=clock) as pay:
        with pytest.raises(errors.UntrustedPayResponse) as caught:
            await pay.query_order(out_trade_no="order_20240101_0001")
    assert type(caught.value.reason) is errors.UnknownPaySerial


async def test_a_lower_case_serial_header_matches(
    client: WeChatPayClient, fake: FakeWeChatPay, wechatpay_serial: str
) -> None:
    fake.then(
        Answer(
            body=orjson.dumps(transaction()),
            serial=wechatpay_serial.lower()
            if not wechatpay_serial.startswith("PUB")
            else wechatpay_serial,
        )
    )
    assert (await client.query_order(out_trade_no="order_20240101_0001")).paid


# --------------------------------------------------------------------------- errors


async def test_an_unsigned_error_is_raised_as_unverified(
    client: WeChatPayClient, fake: FakeWeChatPay
) -> None:
    fake.answer_json(
        {"code": "ORDER_NOT_EXIST", "message": "订单不存在"},
        status=404,
        sign=None,
        extra_headers={"Request-ID": "08F1E6A9B70610D7"},
    )
    with pytest.raises(errors.PayOrderNotFound) as caught:
        await client.query_order(out_trade_no="order_20240101_0001")
    assert caught.value.verified is False
    assert caught.value.request_id == "08F1E6A9B70610D7"
    assert caught.value.pay_message == "订单不存在"
    assert caught.value.http_status == 404 and caught.value.status == 404


async def test_a_signed_error_is_verified_and_a_forged_one_refused(
    client: WeChatPayClient, fake: FakeWeChatPay
) -> None:
    body = {
        "code": "PARAM_ERROR",
        "message": "参数错误",
        "detail": {
            "field": "/amount/total",
            "value": 0,
            "issue": "must be > 0",
            "location": "body",
        },
    }
    fake.answer_json(body, status=400)
    with pytest.raises(errors.PayInvalidRequest) as caught:
        await create(client)
    assert caught.value.verified is True and caught.value.field == "/amount/total"
    assert "/amount/total" in caught.value.message and "must be" not in caught.value.message
    fake.answer_json(body, status=400, sign="stranger")
    with pytest.raises(errors.UntrustedPayResponse):
        await create(client)


async def test_an_error_without_a_code_is_a_bad_answer(
    client: WeChatPayClient, fake: FakeWeChatPay, sleeps: Sleeps
) -> None:
    fake.then(Answer(status=403, body=b"<html>forbidden</html>", sign=None))
    with pytest.raises(errors.BadUpstreamResponse) as caught:
        await client.query_refund("refund_0001")
    assert caught.value.status == 403 and not caught.value.retryable
    assert sleeps.delays == []


# --------------------------------------------------------------------------- retries


@pytest.mark.parametrize(
    "failure",
    [
        Answer(status=500, body='{"code":"SYSTEM_ERROR","message":"系统错误"}'.encode()),
        Answer(status=500, body='{"code":"BANK_ERROR","message":"银行系统异常"}'.encode()),
        Answer(status=502, body=b"<html>bad gateway</html>", sign=None),
        Answer(status=503, body=b'{"code":"SOMETHING_NEW","message":"?"}', sign=None),
    ],
)
async def test_transient_failures_are_retried_with_a_fresh_signature(
    client: WeChatPayClient, fake: FakeWeChatPay, sleeps: Sleeps, failure: Answer
) -> None:
    fake.then(failure).answer_json({"prepay_id": "wx2024"})
    assert await create(client) == "wx2024"
    assert len(fake.seen) == 2 and len(sleeps.delays) == 1
    first, second = (AUTH_RE.fullmatch(s.headers["authorization"]) for s in fake.seen)
    assert first is not None and second is not None
    assert first["nonce"] != second["nonce"]
    assert fake.seen[0].body == fake.seen[1].body  # the same order, so WeChat Pay dedups it


async def test_retries_are_bounded(
    client: WeChatPayClient, fake: FakeWeChatPay, sleeps: Sleeps
) -> None:
    for _ in range(3):
        fake.then(Answer(status=500, body=b'{"code":"SYSTEM_ERROR","message":"x"}'))
    with pytest.raises(errors.PaySystemError) as caught:
        await client.query_refund("refund_0001")
    assert len(fake.seen) == 3 and len(sleeps.delays) == 2
    assert caught.value.retryable and caught.value.http_status == 503


@pytest.mark.parametrize(
    ("code", "status"),
    [("RATELIMIT_EXCEEDED", 429), ("PARAM_ERROR", 400), ("SIGN_ERROR", 401), ("NO_AUTH", 403)],
)
async def test_refusals_and_rate_limits_are_not_retried(
    client: WeChatPayClient, fake: FakeWeChatPay, sleeps: Sleeps, code: str, status: int
) -> None:
    fake.answer_json({"code": code, "message": "no"}, status=status)
    with pytest.raises(errors.PayApiError) as caught:
        await client.refund(
            out_refund_no="refund_0001",
            transaction_id="4200000001",
            amount_refund=1,
            amount_total=1,
        )
    assert caught.value.pay_code == code
    assert len(fake.seen) == 1 and sleeps.delays == []


class FlakyTransport:
    """Fails the first ``failures`` requests with ``error``, then passes through."""

    def __init__(self, inner: Any, error: errors.UpstreamError, failures: int) -> None:
        self.inner, self.error, self.failures, self.calls = inner, error, failures, 0

    async def request(self, *args: Any, **kwargs: Any) -> HttpResponse:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        response: HttpResponse = await self.inner.request(*args, **kwargs)
        return response

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize(
    "error",
    [
        errors.UpstreamTimeout(request_sent=True),
        errors.UpstreamUnavailable(request_sent=True),
        errors.UpstreamUnavailable(request_sent=False),
    ],
)
async def test_a_lost_answer_is_retried_because_every_call_is_keyed(
    merchant: Merchant,
    fake: FakeWeChatPay,
    clock: Clock,
    sleeps: Sleeps,
    error: errors.UpstreamError,
) -> None:
    flaky = FlakyTransport(fake.transport, error, failures=1)
    fake.answer_json(refund_answer())
    async with WeChatPayClient(merchant, transport=flaky, clock=clock, sleep=sleeps) as pay:
        got = await pay.refund(
            out_refund_no="refund_0001",
            out_trade_no="order_20240101_0001",
            amount_refund=40,
            amount_total=100,
        )
    assert got.out_refund_no == "refund_0001" and flaky.calls == 2


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"out_trade_no": "short"}, "out_trade_no"),
        ({"out_trade_no": "has/slash123"}, "out_trade_no"),
        ({"amount_total": 0}, "amount_total"),
        ({"amount_total": 1.5}, "amount_total"),
        ({"amount_total": True}, "amount_total"),
        ({"description": ""}, "description"),
        ({"description": "x" * 128}, "description"),
        ({"notify_url": "http://shop.example/notify"}, "notify_url"),
        ({"notify_url": "https://shop.example/notify?order=1"}, "notify_url"),
        ({"notify_url": "ftp://shop.example/notify"}, "notify_url"),
        ({"payer_openid": ""}, "payer_openid"),
        ({"time_expire": datetime(2030, 1, 1)}, "time_expire"),
    ],
)
async def test_bad_arguments_are_refused_before_anything_is_sent(
    client: WeChatPayClient, fake: FakeWeChatPay, overrides: dict[str, Any], name: str
) -> None:
    with pytest.raises(errors.InvalidRequest, match=name):
        await create(client, **overrides)
    assert fake.seen == []


async def test_optional_order_fields_and_loopback_http_notify(
    client: WeChatPayClient, fake: FakeWeChatPay
) -> None:
    fake.answer_json({"prepay_id": "wx2024"})
    expire = datetime(2024, 1, 1, 12, 30, tzinfo=timezone(timedelta(hours=8)))
    await create(
        client, time_expire=expire, attach="cart=7", notify_url="http://127.0.0.1:9/pay/notify"
    )
    sent = fake.seen[0].json()
    assert sent["time_expire"] == "2024-01-01T12:30:00+08:00"
    assert sent["attach"] == "cart=7"


async def test_refund_arguments(client: WeChatPayClient, fake: FakeWeChatPay) -> None:
    base = {"out_refund_no": "r1", "amount_total": 100}
    bad: list[dict[str, Any]] = [
        {**base, "amount_refund": 101, "out_trade_no": "order_20240101_0001"},
        {**base, "amount_refund": 0, "out_trade_no": "order_20240101_0001"},
        {**base, "amount_refund": 1},
        {**base, "amount_refund": 1, "out_trade_no": "order_20240101_0001", "transaction_id": "42"},
    ]
    for arguments in bad:
        with pytest.raises(errors.InvalidRequest):
            await client.refund(**arguments)
    assert fake.seen == []


async def test_query_needs_exactly_one_number(client: WeChatPayClient) -> None:
    with pytest.raises(errors.InvalidRequest):
        await client.query_order()
    with pytest.raises(errors.InvalidRequest):
        await client.query_order(out_trade_no="order_20240101_0001", transaction_id="42")


# --------------------------------------------------------------------------- the page


def test_request_payment_params_verify_with_the_merchant_public_key(
    client: WeChatPayClient, keys: Keys
) -> None:
    params = client.request_payment_params(APPID, "wx201410272009395522657a690389285100")
    assert params["timeStamp"] == str(int(NOW))
    assert params["package"] == "prepay_id=wx201410272009395522657a690389285100"
    assert params["signType"] == "RSA"
    assert len(params["nonceStr"]) == 32
    message = (
        f"{APPID}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n".encode()
    )
    keys.merchant.public_key().verify(
        base64.b64decode(params["paySign"]), message, padding.PKCS1v15(), hashes.SHA256()
    )
    with pytest.raises(errors.InvalidRequest):
        client.request_payment_params(APPID, "prepay id with spaces")

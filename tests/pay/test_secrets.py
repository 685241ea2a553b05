"""No merchant private key or APIv3 key in any log record, repr or error of a whole pay flow."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import orjson
import pytest

from tests.pay.conftest import APIV3_KEY, APPID, Keys
from tests.pay.fake import Answer, FakeWeChatPay
from tests.pay.test_callbacks import callback, encrypt
from tests.pay.test_client import create, refund_answer, transaction
from wxlogin import paycrypto
from wxlogin.errors import WxLoginError
from wxlogin.pay import Merchant, WeChatPayClient


def secrets_of(keys: Keys) -> list[str]:
    pem = paycrypto.private_key_pem(keys.merchant).decode()
    lines = [line for line in pem.splitlines() if not line.startswith("-----")]
    numbers = keys.merchant.private_numbers()
    return [APIV3_KEY[:12], *lines, str(numbers.d), f"{numbers.d:x}", str(numbers.p)]


async def test_a_whole_flow_leaks_no_key(
    client: WeChatPayClient,
    fake: FakeWeChatPay,
    merchant: Merchant,
    keys: Keys,
    wechatpay_serial: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[Any] = [client, merchant]
    failures: list[BaseException] = []
    fake.answer_json({"prepay_id": "wx2024"})
    fake.answer_json(transaction())
    fake.answer_json(refund_answer())
    fake.then(Answer(status=204, body=b""))
    fake.answer_json({"code": "PARAM_ERROR", "message": "bad"}, status=400)
    fake.then(Answer(body=orjson.dumps(transaction()), sign="stranger"))
    fake.then(Answer(status=500, body=b"<html>", sign=None))
    seen.append(await create(client))
    seen.append(await client.query_order(out_trade_no="order_20240101_0001"))
    seen.append(
        await client.refund(
            out_refund_no="refund_0001",
            out_trade_no="order_20240101_0001",
            amount_refund=40,
            amount_total=100,
        )
    )
    await client.close_order("order_20240101_0001")
    for attempt in (
        lambda: create(client),
        lambda: client.query_order(out_trade_no="order_20240101_0001"),
        lambda: client.query_refund("refund_0001"),
    ):
        try:
            await attempt()
        except WxLoginError as exc:
            failures.append(exc)
    seen.append(client.request_payment_params(APPID, "wx2024"))
    good = callback(keys, wechatpay_serial)
    seen.append(client.verify_callback(good.headers, good.body))
    for bad in (
        callback(keys, wechatpay_serial, signer=keys.stranger),
        callback(keys, wechatpay_serial, resource=encrypt(transaction(), key="Q" * 32)),
    ):
        try:
            client.verify_callback(bad.headers, bad.body)
        except WxLoginError as exc:
            failures.append(exc)
    broken_pem = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
    for load in (
        lambda: paycrypto.apiv3_key_bytes(APIV3_KEY[:-1]),
        lambda: paycrypto.load_private_key(broken_pem),
    ):
        try:
            load()
        except WxLoginError as exc:
            failures.append(exc)
    assert len(failures) == 7

    texts = [repr(item) for item in seen] + [str(item) for item in seen]
    texts += [record.getMessage() for record in caplog.records]
    for failure in failures:
        texts += [str(failure), repr(failure), "".join(traceback.format_exception(failure))]
    corpus = "\n".join(texts)
    for secret in secrets_of(keys):
        assert secret not in corpus

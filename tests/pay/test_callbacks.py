"""verify_callback: a genuine callback opens into a typed event; anything else is refused.

Callbacks are built here the way WeChat Pay builds them — AES-256-GCM straight from the
library, RSA signatures over ``TIMESTAMP\\nNONCE\\nBODY\\n`` — not with wxlogin.paycrypto.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.pay.conftest import APIV3_KEY, APPID, MCHID, NOW, OPENID, Keys, make_merchant
from tests.pay.fake import rsa_sign
from tests.pay.test_client import refund_answer, transaction
from wxlogin import errors
from wxlogin.pay import RefundEvent, TransactionEvent, WeChatPayClient
from wxlogin.pay.protocol import RefundStatus, TradeState


@dataclass
class Callback:
    headers: dict[str, str]
    body: bytes


def encrypt(
    resource: dict[str, Any],
    *,
    key: str = APIV3_KEY,
    aad: str = "transaction",
    nonce: str = "fdasflkja484",
) -> dict[str, str]:
    sealed = AESGCM(key.encode()).encrypt(nonce.encode(), orjson.dumps(resource), aad.encode())
    return {
        "original_type": aad,
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(sealed).decode(),
        "associated_data": aad,
        "nonce": nonce,
    }


def callback(
    keys: Keys,
    serial: str,
    *,
    event_type: str = "TRANSACTION.SUCCESS",
    resource: dict[str, str] | None = None,
    timestamp: float = NOW,
    signer: Any = None,
    signature: str | None = None,
) -> Callback:
    envelope = {
        "id": "EV-2018022511223320873",
        "create_time": "2024-01-01T10:00:05+08:00",
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": "支付成功",
        "resource": resource or encrypt(transaction()),
    }
    body = orjson.dumps(envelope)
    stamp, nonce = str(int(timestamp)), "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"
    message = f"{stamp}\n{nonce}\n".encode() + body + b"\n"
    headers = {
        "Wechatpay-Timestamp": stamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": signature or rsa_sign(signer or keys.wechatpay, message),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }
    return Callback(headers, body)


def test_a_genuine_payment_callback_opens_into_a_typed_event(
    client: WeChatPayClient, keys: Keys, wechatpay_serial: str
) -> None:
    sent = callback(keys, wechatpay_serial)
    event = client.verify_callback(sent.headers, sent.body)
    assert isinstance(event, TransactionEvent)
    assert event.event_type == "TRANSACTION.SUCCESS" and event.id == "EV-2018022511223320873"
    assert event.transaction.trade_state is TradeState.SUCCESS
    assert event.transaction.appid == APPID and event.transaction.mchid == MCHID
    assert event.transaction.amount.total == 100 and event.transaction.payer_openid == OPENID


def test_a_refund_callback_opens_into_a_refund_event(
    client: WeChatPayClient, keys: Keys, wechatpay_serial: str
) -> None:
    resource = refund_answer(
        mchid=MCHID, refund_status="SUCCESS", success_time="2024-01-02T10:01:00+08:00"
    )
    del resource["status"]
    del resource["amount"]["currency"]  # refund callbacks carry no currency
    sent = callback(
        keys,
        wechatpay_serial,
        event_type="REFUND.SUCCESS",
        resource=encrypt(resource, aad="refund"),
    )
    event = client.verify_callback(sent.headers, sent.body)
    assert isinstance(event, RefundEvent)
    assert event.refund.status is RefundStatus.SUCCESS and event.refund.amount.refund == 40


def test_headers_may_come_as_asgi_byte_pairs_in_any_case(
    client: WeChatPayClient, keys: Keys, wechatpay_serial: str
) -> None:
    sent = callback(keys, wechatpay_serial)
    pairs = [(name.upper().encode(), value.encode()) for name, value in sent.headers.items()]
    assert isinstance(client.verify_callback(pairs, sent.body), TransactionEvent)


def test_a_forged_callback_is_refused(
    client: WeChatPayClient, keys: Keys, wechatpay_serial: str
) -> None:
    sent = callback(keys, wechatpay_serial, signer=keys.stranger)
    with pytest.raises(errors.BadPaySignature):
        client.verify_callback(sent.headers, sent.body)


@pytest.mark.parametrize(
    "alter",
    [
        lambda body: body.replace(b'"summary"', b'"Summary"'),
        lambda body: body + b"\n",
        lambda body: orjson.dumps(orjson.loads(body), option=orjson.OPT_INDENT_2),
    ],
    ids=["edited", "a trailing newline", "re-serialised"],
)
def test_an_altered_body_is_refused(
    client: WeChatPayClient, keys: Keys, wechatpay_serial: str, alter: Any
) -> None:
    sent = callback(keys, wechatpay_serial)
    with pytest.raises(errors.BadPaySignature):
        client.verify_callback(sent.headers, alter(sent.body))


@pytest.mark.parametrize("age", [301, -301, 86_400])
def test_a_replayed_or_stale_callback_is_refused(
    client: WeChatPayClient, keys: Keys, wechatpay_serial: str, age: int
) -> None:
    sent = callback(keys, wechatpay_serial, timestamp=NOW - age)
    with pytest.raises(errors.StalePayTimestamp):
        client.verify_callback(sent.headers, sent.body)


def test_five_minutes_late_is_still_on_time(
    client: WeChatPayClient, keys: Keys, wechatpay_serial: str
) -> None:
    sent = callback(keys, wechatpay_serial, timestamp=NOW - 300)
    assert isinstance(client.verify_callback(sent.headers, sent.body), TransactionEvent)


def test_a_signtest_probe_is_refused(
    client: WeChatPayClient, keys: Keys, wechatpay_serial: str
) -> None:
    sent = callback(keys, wechatpay_serial, signature="WECHATPAY/SIGNTEST/" + "A" * 340)
    with pytest.raises(errors.PaySignatureProbe):
        client.verify_callback(sent.headers, sent.body)


def test_a_callback_for_the_wrong_apiv3_key_does_not_open(
    keys: Keys, mode: str, wechatpay_serial: str
) -> None:
    sent = callback(keys, wechatpay_serial)
    other = make_merchant(keys, mode, apiv3_key="Z" * 32)
    with pytest.raises(errors.PayDecryptionFailed) as caught:
        WeChatPayClient(other, clock=lambda: NOW).verify_callback(sent.headers, sent.body)
    assert APIV3_KEY not in str(caught.value) and "Z" * 32 not in str(caught.value)


@pytest.mark.parametrize("aad", ["refund", ""])
def test_resource_associated_data_is_authenticated(
    client: WeChatPayClient, keys: Keys, wechatpay_serial: str, aad: str
) -> None:
    resource = encrypt(transaction())
    resource["associated_data"] = aad
    sent = callback(keys, wechatpay_serial, resource=resource)
    with pytest.raises(errors.PayDecryptionFailed):
        client.verify_callback(sent.headers, sent.body)


@pytest.mark.parametrize(
    "header",
    ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial"],
)
def test_missing_signature_headers_are_refused(
    client: WeChatPayClient, keys: Keys, wechatpay_serial: str, header: str
) -> None:
    sent = callback(keys, wechatpay_serial)
    del sent.headers[header]
    with pytest.raises(errors.PaySignatureMissing, match=header):
        client.verify_callback(sent.headers, sent.body)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Wechatpay-Nonce", "two\nlines"),
        ("Wechatpay-Timestamp", "1700000000.5"),
        ("Wechatpay-Serial", "not a serial"),
        ("Wechatpay-Signature-Type", "WECHATPAY2-SM2-WITH-SM3"),
    ],
)
def test_malformed_signature_headers_are_refused(
    client: WeChatPayClient, keys: Keys, wechatpay_serial: str, header: str, value: str
) -> None:
    sent = callback(keys, wechatpay_serial)
    sent.headers[header] = value
    with pytest.raises(errors.PaySignatureMissing):
        client.verify_callback(sent.headers, sent.body)


def test_a_callback_signed_by_an_unknown_key_id_is_refused(
    client: WeChatPayClient, keys: Keys
) -> None:
    sent = callback(keys, "PUB_KEY_ID_0000000000000000000000000000000000")
    with pytest.raises(errors.UnknownPaySerial):
        client.verify_callback(sent.headers, sent.body)


@pytest.mark.parametrize(
    ("event_type", "original_type"),
    [("REFUND.SUCCESS", "transaction"), ("TRANSACTION.SUCCESS", "refund"), ("X.Y", "coupon")],
)
def test_an_event_whose_type_and_resource_disagree_is_refused(
    client: WeChatPayClient,
    keys: Keys,
    wechatpay_serial: str,
    event_type: str,
    original_type: str,
) -> None:
    sent = callback(
        keys,
        wechatpay_serial,
        event_type=event_type,
        resource=encrypt(transaction(), aad=original_type),
    )
    with pytest.raises(errors.BadUpstreamResponse):
        client.verify_callback(sent.headers, sent.body)


def test_an_oversized_callback_is_refused_before_hashing(
    client: WeChatPayClient, wechatpay_serial: str
) -> None:
    with pytest.raises(errors.BadUpstreamResponse, match="larger"):
        client.verify_callback({"Wechatpay-Serial": wechatpay_serial}, b" " * ((1 << 20) + 1))

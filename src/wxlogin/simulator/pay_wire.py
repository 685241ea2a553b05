"""What WeChat Pay's answers and callbacks look like: bodies, times, and the signing headers.

* Times are RFC 3339 in Beijing time, ``2025-11-21T12:40:00+08:00``, as WeChat Pay writes them.
* An order or refund is rendered the same way for a query answer and for a callback's
  encrypted resource (the callback's plaintext *is* the query object).
* Every answer to a request whose signature verified is signed with the merchant's simulated
  WeChat Pay key: ``Wechatpay-Timestamp/Nonce/Signature/Serial/Signature-Type`` over
  ``TIMESTAMP\\nNONCE\\nBODY\\n`` (empty body for a 204). A request that failed verification
  (401 SIGN_ERROR) gets no signature: WeChat Pay signs answers only once it knows the caller.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final, NamedTuple

import orjson

from wxlogin.pay import protocol as wxpay
from wxlogin.pay.protocol import TradeState
from wxlogin.paycrypto import response_message, sign_message
from wxlogin.simulator.pay_errors import PayRefused
from wxlogin.simulator.pay_state import Merchant, Order, Refund

__all__ = [
    "PayAnswer",
    "error_answer",
    "json_answer",
    "order_resource",
    "raw_answer",
    "refund_resource",
    "rfc3339",
    "signature_headers",
]

Headers = list[tuple[bytes, bytes]]

JSON_CONTENT_TYPE: Final = b"application/json; charset=utf-8"
_BEIJING: Final = timezone(timedelta(hours=8))
_NONCE_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

TRADE_STATE_DESC: Final[dict[TradeState, str]] = {
    TradeState.NOTPAY: "订单未支付",
    TradeState.SUCCESS: "支付成功",
    TradeState.REFUND: "转入退款",
    TradeState.CLOSED: "订单已关闭",
    TradeState.REVOKED: "已撤销（刷卡支付）",
    TradeState.USERPAYING: "用户支付中",
    TradeState.PAYERROR: "支付失败，请重新下单支付",
}


class PayAnswer(NamedTuple):
    """One HTTP answer with all its headers (Content-Type and signatures included)."""

    status: int
    headers: Headers
    body: bytes


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).astimezone(_BEIJING).isoformat(timespec="seconds")


def nonce(length: int = 32) -> str:
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


def request_id(now: float) -> str:
    """A Request-ID like WeChat Pay's: hex time, then random hex."""
    return f"{int(now):08X}{secrets.token_hex(12).upper()}"


def signature_headers(merchant: Merchant, body: bytes, now: float) -> Headers:
    """The five ``Wechatpay-*`` headers that sign ``body`` for this merchant, now."""
    timestamp = str(int(now))
    once = nonce()
    signature = sign_message(merchant.signing_key, response_message(timestamp, once, body))
    return [
        (wxpay.HEADER_TIMESTAMP.encode(), timestamp.encode()),
        (wxpay.HEADER_NONCE.encode(), once.encode()),
        (wxpay.HEADER_SIGNATURE.encode(), signature.encode()),
        (wxpay.HEADER_SERIAL.encode(), merchant.wechatpay_serial.encode()),
        (wxpay.HEADER_SIGNATURE_TYPE.encode(), wxpay.SIGNATURE_SCHEME.encode()),
    ]


def raw_answer(status: int, body: bytes, merchant: Merchant | None, now: float) -> PayAnswer:
    """``body`` as it is, declared JSON, signed for ``merchant`` (unsigned when None)."""
    headers: Headers = [(wxpay.HEADER_REQUEST_ID.encode(), request_id(now).encode())]
    if body or status != 204:
        headers.append((b"content-type", JSON_CONTENT_TYPE))
    if merchant is not None:
        headers += signature_headers(merchant, body, now)
    return PayAnswer(status, headers, body)


def json_answer(status: int, data: Any, merchant: Merchant | None, now: float) -> PayAnswer:
    """``data`` as compact JSON, signed for ``merchant`` (unsigned when None)."""
    body = b"" if data is None else orjson.dumps(data)
    return raw_answer(status, body, merchant, now)


def error_answer(refusal: PayRefused, merchant: Merchant | None, now: float) -> PayAnswer:
    """``{"code","message","detail"?}`` with the refusal's status."""
    data: dict[str, Any] = {"code": refusal.code, "message": refusal.message}
    if refusal.detail is not None:
        data["detail"] = refusal.detail
    return json_answer(refusal.status, data, merchant, now)


def order_resource(order: Order) -> dict[str, Any]:
    """The order as query answers and TRANSACTION.SUCCESS callbacks show it (keys sorted,
    as WeChat Pay's answers have them)."""
    paid = order.transaction_id is not None
    amount: dict[str, Any] = {"currency": order.currency, "payer_currency": order.currency}
    if paid:
        amount["payer_total"] = order.total
    amount["total"] = order.total
    data: dict[str, Any] = {
        "amount": amount,
        "appid": order.appid,
        "attach": order.attach or "",
    }
    if paid:
        data["bank_type"] = "OTHERS"
    data["mchid"] = order.merchant.mchid
    data["out_trade_no"] = order.out_trade_no
    data["payer"] = {"openid": order.openid}
    data["promotion_detail"] = []
    if order.success_time is not None:
        data["success_time"] = rfc3339(order.success_time)
    data["trade_state"] = order.state.value
    data["trade_state_desc"] = TRADE_STATE_DESC[order.state]
    if paid:
        data["trade_type"] = "JSAPI"
        data["transaction_id"] = order.transaction_id
    return data


def refund_resource(refund: Refund, now: float) -> dict[str, Any]:
    """A refund as the refund answers show it."""
    order = refund.order
    status = refund.status(now)
    data: dict[str, Any] = {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": order.transaction_id,
        "out_trade_no": order.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": rfc3339(refund.created_at),
        "status": status.value,
        "funds_account": "AVAILABLE",
        "amount": {
            "total": order.total,
            "refund": refund.amount,
            "payer_total": order.total,
            "payer_refund": refund.amount,
            "settlement_total": order.total,
            "settlement_refund": refund.amount,
            "discount_refund": 0,
            "currency": order.currency,
        },
        "promotion_detail": [],
    }
    if status.value == "SUCCESS":
        data["success_time"] = rfc3339(refund.succeeds_at)
    return data


def refund_event_resource(refund: Refund) -> dict[str, Any]:
    """The plaintext of a REFUND.SUCCESS callback (a smaller object than the query's)."""
    order = refund.order
    return {
        "mchid": order.merchant.mchid,
        "out_trade_no": order.out_trade_no,
        "transaction_id": order.transaction_id,
        "out_refund_no": refund.out_refund_no,
        "refund_id": refund.refund_id,
        "refund_status": "SUCCESS",
        "success_time": rfc3339(refund.succeeds_at),
        "user_received_account": "支付用户零钱",
        "amount": {
            "total": order.total,
            "refund": refund.amount,
            "payer_total": order.total,
            "payer_refund": refund.amount,
        },
    }

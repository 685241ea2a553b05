"""Building WeChat Pay request bodies from checked arguments.

Arguments are checked here, before anything is signed or sent, against WeChat Pay's documented
rules (shared/wechatpay-api.md): a mistake is our caller's ``InvalidRequest`` naming the
argument, not a PARAM_ERROR round trip — and never an amount from anywhere but the caller.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from wxlogin.errors import InvalidRequest
from wxlogin.pay import protocol as wxpay

__all__ = ["checked_id", "checked_notify_url", "jsapi_order_body", "refund_body"]

# The most one order may be, in fen: WeChat Pay's own per-order ceilings are far lower, and
# this keeps a unit mistake (yuan * 10_000) from ever being signed.
MAX_ORDER_FEN = 10**10
_LOOPBACK_NAMES = {"localhost"}


def checked_id(name: str, value: object, shape: re.Pattern[str]) -> str:
    """``value`` when it is a string of WeChat Pay's ``shape`` for ``name``."""
    if not isinstance(value, str) or shape.fullmatch(value) is None:
        raise InvalidRequest(f"{name} does not have the shape WeChat Pay requires")
    return value


def checked_text(name: str, value: object, max_chars: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_chars:
        raise InvalidRequest(f"{name} must be non-empty text of at most {max_chars} characters")
    if any(ord(ch) < 32 for ch in value):
        raise InvalidRequest(f"{name} must not contain control characters")
    return value


def checked_fen(name: str, value: object, *, maximum: int = MAX_ORDER_FEN) -> int:
    if type(value) is not int or not 0 < value <= maximum:
        raise InvalidRequest(f"{name} must be a whole number of fen, 1 to {maximum}")
    return value


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def checked_notify_url(value: object) -> str:
    """WeChat Pay posts callbacks only to https URLs without a query string. Plain http is let
    through for a loopback host alone, for the local simulator (WeChat Pay itself refuses it)."""
    if not isinstance(value, str) or len(value) > wxpay.NOTIFY_URL_MAX_CHARS:
        raise InvalidRequest(f"notify_url must be a URL of at most {wxpay.NOTIFY_URL_MAX_CHARS}")
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:
        raise InvalidRequest("notify_url is not a URL") from None
    if not host or parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidRequest("notify_url must be https://host/path, without a query string")
    if parts.scheme != "https" and not (parts.scheme == "http" and _is_loopback(host)):
        raise InvalidRequest("notify_url must be https (WeChat Pay calls nothing else)")
    return value


def _rfc3339(name: str, value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRequest(f"{name} must be an aware datetime (WeChat Pay wants an offset)")
    return value.isoformat(timespec="seconds")


def jsapi_order_body(
    *,
    appid: str,
    mchid: str,
    description: str,
    out_trade_no: str,
    amount_total: int,
    payer_openid: str,
    notify_url: str,
    time_expire: datetime | None,
    attach: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "appid": checked_id("appid", appid, wxpay.APPID_RE),
        "mchid": mchid,
        "description": checked_text("description", description, wxpay.DESCRIPTION_MAX_CHARS),
        "out_trade_no": checked_id("out_trade_no", out_trade_no, wxpay.OUT_TRADE_NO_RE),
    }
    if time_expire is not None:
        body["time_expire"] = _rfc3339("time_expire", time_expire)
    if attach is not None:
        body["attach"] = checked_text("attach", attach, wxpay.ATTACH_MAX_CHARS)
    body["notify_url"] = checked_notify_url(notify_url)
    body["amount"] = {
        "total": checked_fen("amount_total", amount_total),
        "currency": wxpay.CURRENCY_CNY,
    }
    body["payer"] = {"openid": checked_id("payer_openid", payer_openid, wxpay.OPENID_RE)}
    return body


def refund_body(
    *,
    out_refund_no: str,
    amount_refund: int,
    amount_total: int,
    out_trade_no: str | None,
    transaction_id: str | None,
    reason: str | None,
    notify_url: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if (out_trade_no is None) == (transaction_id is None):
        raise InvalidRequest("refund by out_trade_no or by transaction_id (exactly one)")
    if out_trade_no is not None:
        body["out_trade_no"] = checked_id("out_trade_no", out_trade_no, wxpay.OUT_TRADE_NO_RE)
    else:
        body["transaction_id"] = checked_id(
            "transaction_id", transaction_id, wxpay.TRANSACTION_ID_RE
        )
    body["out_refund_no"] = checked_id("out_refund_no", out_refund_no, wxpay.OUT_REFUND_NO_RE)
    if reason is not None:
        body["reason"] = checked_text("reason", reason, wxpay.REFUND_REASON_MAX_CHARS)
    if notify_url is not None:
        body["notify_url"] = checked_notify_url(notify_url)
    total = checked_fen("amount_total", amount_total)
    refund = checked_fen("amount_refund", amount_refund, maximum=total)
    body["amount"] = {"refund": refund, "total": total, "currency": wxpay.CURRENCY_CNY}
    return body

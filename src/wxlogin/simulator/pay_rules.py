"""What WeChat Pay checks in a request body before it acts, as PARAM_ERROR with a ``detail``.

Each parser takes the raw JSON body and the merchant the Authorization header named, and
returns a validated ``NewOrder`` / ``NewRefund`` (``pay_state``) or raises ``PayRefused``. The
rules are shared/wechatpay-api.md's: out_trade_no 6-32 of ``[A-Za-z0-9_-*]``, notify_url https
with no query (plain http is allowed on loopback so local tests can receive callbacks), the
amount a positive integer in fen, currency CNY, payer.openid present, appid/mchid known and
matching.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson

from wxlogin.pay import protocol as wxpay
from wxlogin.simulator.pay_errors import PayRefused, param_error
from wxlogin.simulator.pay_state import Merchant, NewOrder, NewRefund
from wxlogin.simulator.state import World

__all__ = ["is_loopback_host", "json_body", "parse_create", "parse_refund", "require_mchid"]

_MAX_AMOUNT = 10**11  # fen; far above any real single payment, stops absurd integers


def json_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or PARAM_ERROR as WeChat Pay answers malformed JSON."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise PayRefused("PARAM_ERROR", "请求体不是合法的JSON") from None
    if not isinstance(data, dict):
        raise PayRefused("PARAM_ERROR", "请求体必须是JSON对象")
    return data


def _text(data: dict[str, Any], name: str, *, max_chars: int, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise param_error(name, None, "is required")
        return None
    if not isinstance(value, str):
        raise param_error(name, value, "must be a string")
    if required and not value:
        raise param_error(name, value, "must not be empty")
    if len(value) > max_chars:
        raise param_error(name, value, f"is longer than {max_chars} characters")
    return value


def _object(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if value is None:
        raise param_error(name, None, "is required")
    if not isinstance(value, dict):
        raise param_error(name, value, "must be an object")
    return value


def _fen(data: dict[str, Any], name: str, path: str) -> int:
    value = data.get(name)
    if value is None:
        raise param_error(path, None, "is required")
    # JSON 1.0 and true are not amounts: WeChat Pay wants an integer number of fen.
    if not isinstance(value, int) or isinstance(value, bool):
        raise param_error(path, value, "must be an integer number of fen")
    if not 0 < value <= _MAX_AMOUNT:
        raise param_error(path, value, "must be a positive number of fen")
    return value


def _currency(amount: dict[str, Any], path: str, *, required: bool) -> str:
    currency = amount.get("currency")
    if currency is None and not required:
        return wxpay.CURRENCY_CNY  # an order's currency defaults to CNY; a refund's must be said
    if currency != wxpay.CURRENCY_CNY:
        raise param_error(path, currency, "must be CNY")
    return wxpay.CURRENCY_CNY


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _notify_url(data: dict[str, Any], *, required: bool) -> str | None:
    url = _text(data, "notify_url", max_chars=wxpay.NOTIFY_URL_MAX_CHARS, required=required)
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        raise param_error("notify_url", url, "is not a URL") from None
    if parts.scheme == "http" and is_loopback_host(host):
        pass  # the simulator's allowance: local receivers need no certificate
    elif parts.scheme != "https":
        raise param_error("notify_url", url, "must be https (or http on loopback)")
    if not host:
        raise param_error("notify_url", url, "has no host")
    if parts.query or parts.fragment or "?" in url:
        raise param_error("notify_url", url, "must not carry a query string")
    return url


def require_mchid(merchant: Merchant, given: object, location: str) -> None:
    """The mchid of the body or query must be the one the request was signed for."""
    if given is None:
        raise param_error("mchid", None, "is required", location)
    if given != merchant.mchid:
        raise param_error("mchid", given, "does not match the Authorization mchid", location)


def _time_expire(value: object, now: float) -> tuple[str | None, float | None]:
    if value is None:
        return None, None
    if not isinstance(value, str):
        raise param_error("time_expire", value, "must be an RFC 3339 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise param_error("time_expire", value, "must be like 2018-06-08T10:34:56+08:00") from None
    if moment.tzinfo is None:
        raise param_error("time_expire", value, "must carry a time zone offset")
    at = moment.timestamp()
    if at <= now:
        raise param_error("time_expire", value, "is in the past")
    return value, at


def parse_create(
    body: bytes, merchant: Merchant, world: World, *, now: float, check_openid: bool
) -> NewOrder:
    """A JSAPI create-order body, checked field by field."""
    data = json_body(body)
    require_mchid(merchant, data.get("mchid"), "body")
    appid = _text(data, "appid", max_chars=32)
    assert appid is not None
    app = world.apps.get(appid)
    if app is None or (merchant.appids is not None and appid not in merchant.appids):
        raise PayRefused("APPID_MCHID_NOT_MATCH")
    description = _text(data, "description", max_chars=wxpay.DESCRIPTION_MAX_CHARS)
    out_trade_no = data.get("out_trade_no")
    if not isinstance(out_trade_no, str) or not wxpay.OUT_TRADE_NO_RE.fullmatch(out_trade_no):
        raise param_error("out_trade_no", out_trade_no, "must be 6-32 of [A-Za-z0-9_-*]")
    notify_url = _notify_url(data, required=True)
    attach = _text(data, "attach", max_chars=wxpay.ATTACH_MAX_CHARS, required=False)
    time_expire, expires_at = _time_expire(data.get("time_expire"), now)
    amount = _object(data, "amount")
    total = _fen(amount, "total", "amount.total")
    currency = _currency(amount, "amount.currency", required=False)
    payer = _object(data, "payer")
    openid = payer.get("openid")
    if not isinstance(openid, str) or not wxpay.OPENID_RE.fullmatch(openid):
        raise param_error("payer.openid", openid, "is required")
    if check_openid and openid not in app.members:
        raise PayRefused(
            "PARAM_ERROR",
            "appid和openid不匹配",
            detail={"field": "payer.openid", "value": openid, "issue": "not a user of this appid"},
        )
    assert description is not None and notify_url is not None
    return NewOrder(
        appid=appid,
        mchid=merchant.mchid,
        description=description,
        out_trade_no=out_trade_no,
        notify_url=notify_url,
        attach=attach,
        time_expire=time_expire,
        expires_at=expires_at,
        total=total,
        currency=currency,
        openid=openid,
        fingerprint=orjson.dumps(data, option=orjson.OPT_SORT_KEYS),
    )


def parse_refund(body: bytes) -> NewRefund:
    """A refund application: one of transaction_id / out_trade_no, out_refund_no, amount."""
    data = json_body(body)
    transaction_id = data.get("transaction_id")
    out_trade_no = data.get("out_trade_no")
    if transaction_id is None and out_trade_no is None:
        raise param_error("out_trade_no", None, "give transaction_id or out_trade_no")
    if transaction_id is not None and (
        not isinstance(transaction_id, str) or not wxpay.TRANSACTION_ID_RE.fullmatch(transaction_id)
    ):
        raise param_error("transaction_id", transaction_id, "is not a transaction_id")
    if out_trade_no is not None and (
        not isinstance(out_trade_no, str) or not wxpay.OUT_TRADE_NO_RE.fullmatch(out_trade_no)
    ):
        raise param_error("out_trade_no", out_trade_no, "must be 6-32 of [A-Za-z0-9_-*]")
    out_refund_no = data.get("out_refund_no")
    if not isinstance(out_refund_no, str) or not wxpay.OUT_REFUND_NO_RE.fullmatch(out_refund_no):
        raise param_error("out_refund_no", out_refund_no, "must be 1-64 of [A-Za-z0-9_-*|@]")
    reason = _text(data, "reason", max_chars=wxpay.REFUND_REASON_MAX_CHARS, required=False)
    notify_url = _notify_url(data, required=False)
    amount = _object(data, "amount")
    refund = _fen(amount, "refund", "amount.refund")
    total = _fen(amount, "total", "amount.total")
    currency = _currency(amount, "amount.currency", required=True)
    if refund > total:
        raise param_error("amount.refund", refund, "is more than amount.total")
    return NewRefund(
        out_trade_no=out_trade_no if transaction_id is None else None,
        transaction_id=transaction_id,
        out_refund_no=out_refund_no,
        reason=reason,
        notify_url=notify_url,
        refund=refund,
        total=total,
        currency=currency,
    )

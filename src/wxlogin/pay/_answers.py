"""Reading WeChat Pay's JSON (answers, callback envelopes, decrypted resources) into results.

Everything WeChat Pay sends is untrusted until checked, even after its signature verified: a
field of the wrong type, shape or size is a ``BadUpstreamResponse`` that names the field —
never its value, which may be huge, personal, or not WeChat Pay's at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

import orjson

from wxlogin.errors import BadUpstreamResponse
from wxlogin.pay import protocol as wxpay
from wxlogin.pay.results import (
    Refund,
    RefundAmount,
    Transaction,
    TransactionAmount,
)

__all__ = ["Reader", "parse_object", "refund_from", "transaction_from"]

_Choice = TypeVar("_Choice", bound=StrEnum)

# A fen amount no order reaches (10^12 fen is ten billion yuan): beyond it, not WeChat Pay's.
_MAX_FEN = 10**12
_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_STATE_DESC_MAX = 256
_TEXT_MAX = 256
_TIME_MAX = 64
_BANK_TYPE_RE = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_TRADE_TYPE_RE = re.compile(r"[A-Z_]{1,32}")
_CHANNEL_RE = re.compile(r"[A-Z_]{1,32}")


def parse_object(raw: bytes, source: str) -> dict[str, Any]:
    """``raw`` as a JSON object, or a bad answer saying ``source`` was not one."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadUpstreamResponse(f"{source} is not JSON") from None
    if not isinstance(data, dict):
        raise BadUpstreamResponse(f"{source} is JSON but not an object")
    return data


class Reader:
    """Typed access to one JSON object; ``source`` and the path name a field in errors."""

    __slots__ = ("_data", "_path", "_source")

    def __init__(self, data: Mapping[str, Any], source: str, path: str = "") -> None:
        self._data = data
        self._source = source
        self._path = path

    def _name(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def _missing(self, key: str) -> BadUpstreamResponse:
        return BadUpstreamResponse(f"{self._source} has no {self._name(key)!r}")

    def _malformed(self, key: str) -> BadUpstreamResponse:
        return BadUpstreamResponse(f"{self._source} has a malformed {self._name(key)!r}")

    def has(self, key: str) -> bool:
        return self._data.get(key) not in (None, "")

    def text(self, key: str, shape: re.Pattern[str] | None = None, max_len: int = _TEXT_MAX) -> str:
        value = self._data.get(key)
        if value is None or value == "":
            raise self._missing(key)
        if not isinstance(value, str) or len(value) > max_len:
            raise self._malformed(key)
        if shape is not None and shape.fullmatch(value) is None:
            raise self._malformed(key)
        return value

    def optional_text(
        self, key: str, shape: re.Pattern[str] | None = None, max_len: int = _TEXT_MAX
    ) -> str | None:
        return self.text(key, shape, max_len) if self.has(key) else None

    def fen(self, key: str) -> int:
        value = self._data.get(key)
        if value is None:
            raise self._missing(key)
        # A bool is an int to isinstance, never an amount to us.
        if type(value) is not int or not 0 <= value <= _MAX_FEN:
            raise self._malformed(key)
        return value

    def optional_fen(self, key: str) -> int | None:
        return self.fen(key) if self._data.get(key) is not None else None

    def time(self, key: str) -> datetime | None:
        if not self.has(key):
            return None
        text = self.text(key, max_len=_TIME_MAX)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise self._malformed(key) from None
        if moment.tzinfo is None:  # RFC 3339 always carries an offset
            raise self._malformed(key)
        return moment

    def child(self, key: str, *, required: bool = True) -> Reader | None:
        value = self._data.get(key)
        if value is None:
            if required:
                raise self._missing(key)
            return None
        if not isinstance(value, dict):
            raise self._malformed(key)
        return Reader(value, self._source, self._name(key))

    def required_child(self, key: str) -> Reader:
        child = self.child(key)
        assert child is not None
        return child

    def choice(self, key: str, allowed: type[_Choice]) -> _Choice:
        value = self.text(key, max_len=32)
        try:
            return allowed(value)
        except ValueError:
            raise self._malformed(key) from None


def transaction_from(reader: Reader) -> Transaction:
    amount = reader.required_child("amount")
    payer = reader.child("payer", required=False)
    state = reader.choice("trade_state", wxpay.TradeState)
    return Transaction(
        appid=reader.text("appid", wxpay.APPID_RE),
        mchid=reader.text("mchid", wxpay.MCHID_RE),
        out_trade_no=reader.text("out_trade_no", wxpay.OUT_TRADE_NO_RE),
        trade_state=state,
        trade_state_desc=reader.optional_text("trade_state_desc", max_len=_STATE_DESC_MAX) or "",
        amount=TransactionAmount(
            total=amount.fen("total"),
            currency=amount.optional_text("currency", _CURRENCY_RE) or wxpay.CURRENCY_CNY,
            payer_total=amount.optional_fen("payer_total"),
            payer_currency=amount.optional_text("payer_currency", _CURRENCY_RE),
        ),
        transaction_id=reader.optional_text("transaction_id", wxpay.TRANSACTION_ID_RE),
        trade_type=reader.optional_text("trade_type", _TRADE_TYPE_RE),
        success_time=reader.time("success_time"),
        payer_openid=payer.optional_text("openid", wxpay.OPENID_RE) if payer else None,
        attach=reader.optional_text("attach", max_len=wxpay.ATTACH_MAX_CHARS),
        bank_type=reader.optional_text("bank_type", _BANK_TYPE_RE),
    )


def refund_from(reader: Reader) -> Refund:
    amount = reader.required_child("amount")
    # Answers say "status"; a refund callback's resource says "refund_status".
    status_key = "status" if reader.has("status") else "refund_status"
    status = reader.choice(status_key, wxpay.RefundStatus)
    return Refund(
        out_refund_no=reader.text("out_refund_no", wxpay.OUT_REFUND_NO_RE),
        refund_id=reader.text("refund_id", wxpay.REFUND_ID_RE),
        status=status,
        amount=RefundAmount(
            total=amount.fen("total"),
            refund=amount.fen("refund"),
            currency=amount.optional_text("currency", _CURRENCY_RE),
            payer_total=amount.optional_fen("payer_total"),
            payer_refund=amount.optional_fen("payer_refund"),
        ),
        out_trade_no=reader.optional_text("out_trade_no", wxpay.OUT_TRADE_NO_RE),
        transaction_id=reader.optional_text("transaction_id", wxpay.TRANSACTION_ID_RE),
        mchid=reader.optional_text("mchid", wxpay.MCHID_RE),
        channel=reader.optional_text("channel", _CHANNEL_RE),
        user_received_account=reader.optional_text("user_received_account", max_len=128),
        create_time=reader.time("create_time"),
        success_time=reader.time("success_time"),
    )

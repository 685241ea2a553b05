"""What the WeChat Pay client returns: typed, validated, and never holding a key.

Amounts are integers in fen (1/100 yuan), as WeChat Pay counts them. Times are aware
``datetime``s as WeChat Pay wrote them (RFC 3339, usually +08:00).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from wxlogin.pay.protocol import RefundStatus, TradeState

__all__ = [
    "PayEvent",
    "PaymentParams",
    "Refund",
    "RefundAmount",
    "RefundEvent",
    "Transaction",
    "TransactionAmount",
    "TransactionEvent",
]


@dataclass(frozen=True, slots=True)
class TransactionAmount:
    total: int
    currency: str
    payer_total: int | None = None
    payer_currency: str | None = None


@dataclass(frozen=True, slots=True)
class Transaction:
    """An order as WeChat Pay sees it (a query answer, or a payment callback's resource).

    ``trade_state`` is the truth about the order; ``requestPayment:ok`` in the mini program is
    not. ``transaction_id``, ``success_time`` and the payer are absent until the user paid.
    """

    appid: str
    mchid: str
    out_trade_no: str
    trade_state: TradeState
    trade_state_desc: str
    amount: TransactionAmount
    transaction_id: str | None = None
    trade_type: str | None = None
    success_time: datetime | None = None
    payer_openid: str | None = None
    attach: str | None = None
    bank_type: str | None = None

    @property
    def paid(self) -> bool:
        return self.trade_state is TradeState.SUCCESS


@dataclass(frozen=True, slots=True)
class RefundAmount:
    total: int
    refund: int
    currency: str | None = None
    payer_total: int | None = None
    payer_refund: int | None = None


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund (the refund and query-refund answers, or a refund callback's resource).

    ``status`` is ``PROCESSING`` until the money moved; ``SUCCESS``, ``CLOSED`` and
    ``ABNORMAL`` are final (an abnormal one needs a merchant's hand in the merchant platform).
    """

    out_refund_no: str
    refund_id: str
    status: RefundStatus
    amount: RefundAmount
    out_trade_no: str | None = None
    transaction_id: str | None = None
    mchid: str | None = None
    channel: str | None = None
    user_received_account: str | None = None
    create_time: datetime | None = None
    success_time: datetime | None = None


@dataclass(frozen=True, slots=True)
class TransactionEvent:
    """A verified, decrypted payment callback (``TRANSACTION.SUCCESS``)."""

    id: str
    event_type: str
    summary: str
    create_time: datetime | None
    transaction: Transaction


@dataclass(frozen=True, slots=True)
class RefundEvent:
    """A verified, decrypted refund callback (``REFUND.SUCCESS``, ``.ABNORMAL``, ``.CLOSED``)."""

    id: str
    event_type: str
    summary: str
    create_time: datetime | None
    refund: Refund


PayEvent = TransactionEvent | RefundEvent


class PaymentParams(TypedDict):
    """The object ``wx.requestPayment`` / ``uni.requestPayment`` takes, as is."""

    timeStamp: str
    nonceStr: str
    package: str
    signType: str
    paySign: str

"""Typed async client for WeChat Pay API v3: JSAPI orders, refunds, verified callbacks.

The client is imported on first use, so that ``wxlogin.pay.protocol`` (which the simulator
shares) can be imported without loading any client code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wxlogin.pay.client import PayTransport, WeChatPayClient
    from wxlogin.pay.merchant import Merchant, MerchantCheck, WeChatPayKey, check_merchant_files
    from wxlogin.pay.results import (
        PayEvent,
        PaymentParams,
        Refund,
        RefundAmount,
        RefundEvent,
        Transaction,
        TransactionAmount,
        TransactionEvent,
    )

__all__ = [
    "Merchant",
    "MerchantCheck",
    "PayEvent",
    "PayTransport",
    "PaymentParams",
    "Refund",
    "RefundAmount",
    "RefundEvent",
    "Transaction",
    "TransactionAmount",
    "TransactionEvent",
    "WeChatPayClient",
    "WeChatPayKey",
    "check_merchant_files",
]

_HOMES = {
    "PayTransport": "client",
    "WeChatPayClient": "client",
    "Merchant": "merchant",
    "MerchantCheck": "merchant",
    "WeChatPayKey": "merchant",
    "check_merchant_files": "merchant",
    "PayEvent": "results",
    "PaymentParams": "results",
    "Refund": "results",
    "RefundAmount": "results",
    "RefundEvent": "results",
    "Transaction": "results",
    "TransactionAmount": "results",
    "TransactionEvent": "results",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value

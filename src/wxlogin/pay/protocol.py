"""Facts of the WeChat Pay API v3 (JSAPI), shared by the pay client and the simulator.

Data and the two small codecs of the wire format (the ``Authorization`` header), nothing
else: the simulator imports this module, never the client, so a misreading of WeChat Pay
cannot hide on both sides. Source: shared/wechatpay-api.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

__all__ = [
    "Authorization",
    "RefundStatus",
    "TradeState",
    "format_authorization",
    "parse_authorization",
]

DEFAULT_BASE_URL: Final = "https://api.mch.weixin.qq.com"

# Paths. The ``{...}`` parts are filled with values of the shapes below (path-safe as they are).
JSAPI_ORDER: Final = "/v3/pay/transactions/jsapi"
ORDER_BY_OUT_TRADE_NO: Final = "/v3/pay/transactions/out-trade-no/{out_trade_no}"
ORDER_BY_TRANSACTION_ID: Final = "/v3/pay/transactions/id/{transaction_id}"
CLOSE_ORDER: Final = "/v3/pay/transactions/out-trade-no/{out_trade_no}/close"
REFUNDS: Final = "/v3/refund/domestic/refunds"
REFUND_BY_OUT_REFUND_NO: Final = "/v3/refund/domestic/refunds/{out_refund_no}"

# Signatures.
SIGNATURE_SCHEME: Final = "WECHATPAY2-SHA256-RSA2048"
SIGNTEST_PREFIX: Final = "WECHATPAY/SIGNTEST/"
MAX_CLOCK_SKEW: Final = 300  # seconds either way, for requests, answers and callbacks
PUBLIC_KEY_ID_PREFIX: Final = "PUB_KEY_ID_"

# Headers WeChat Pay signs its answers and callbacks with (names as it writes them).
HEADER_TIMESTAMP: Final = "Wechatpay-Timestamp"
HEADER_NONCE: Final = "Wechatpay-Nonce"
HEADER_SIGNATURE: Final = "Wechatpay-Signature"
HEADER_SERIAL: Final = "Wechatpay-Serial"
HEADER_SIGNATURE_TYPE: Final = "Wechatpay-Signature-Type"
HEADER_REQUEST_ID: Final = "Request-ID"

# Callbacks.
RESOURCE_TYPE: Final = "encrypt-resource"
AEAD_ALGORITHM: Final = "AEAD_AES_256_GCM"
ORIGINAL_TYPE_TRANSACTION: Final = "transaction"
ORIGINAL_TYPE_REFUND: Final = "refund"
EVENT_TRANSACTION_SUCCESS: Final = "TRANSACTION.SUCCESS"
EVENT_REFUND_SUCCESS: Final = "REFUND.SUCCESS"
EVENT_REFUND_ABNORMAL: Final = "REFUND.ABNORMAL"
EVENT_REFUND_CLOSED: Final = "REFUND.CLOSED"

# Lifetimes and limits.
PREPAY_ID_TTL: Final = 7200
DESCRIPTION_MAX_CHARS: Final = 127
ATTACH_MAX_CHARS: Final = 128
NOTIFY_URL_MAX_CHARS: Final = 256
REFUND_REASON_MAX_CHARS: Final = 80
CURRENCY_CNY: Final = "CNY"

# Identifier shapes. Request-side ones are WeChat Pay's documented rules; answer-side ones are
# generous bounds (path-safe, no spaces, a sane length) so a surprise is noticed, not trusted.
MCHID_RE: Final = re.compile(r"[0-9]{1,32}")
OUT_TRADE_NO_RE: Final = re.compile(r"[A-Za-z0-9_\-*]{6,32}")
OUT_REFUND_NO_RE: Final = re.compile(r"[A-Za-z0-9_\-*|@]{1,64}")
TRANSACTION_ID_RE: Final = re.compile(r"[A-Za-z0-9]{1,32}")
REFUND_ID_RE: Final = re.compile(r"[A-Za-z0-9]{1,32}")
PREPAY_ID_RE: Final = re.compile(r"[A-Za-z0-9_\-]{1,64}")
APPID_RE: Final = re.compile(r"[A-Za-z0-9_\-]{1,32}")
OPENID_RE: Final = re.compile(r"[A-Za-z0-9_\-]{1,128}")
# A platform certificate serial (hex) or a WeChat Pay public key id (PUB_KEY_ID_...).
WECHATPAY_SERIAL_RE: Final = re.compile(r"[0-9A-Fa-f]{1,64}|PUB_KEY_ID_[0-9A-Za-z]{1,64}")
MERCHANT_SERIAL_RE: Final = re.compile(r"[0-9A-Fa-f]{1,64}")
NONCE_RE: Final = re.compile(r"[0-9A-Za-z]{1,64}")
ERROR_CODE_RE: Final = re.compile(r"[A-Z][A-Z0-9_]{0,63}")


class TradeState(StrEnum):
    NOTPAY = "NOTPAY"
    SUCCESS = "SUCCESS"
    REFUND = "REFUND"
    CLOSED = "CLOSED"
    REVOKED = "REVOKED"
    USERPAYING = "USERPAYING"
    PAYERROR = "PAYERROR"


class RefundStatus(StrEnum):
    PROCESSING = "PROCESSING"
    SUCCESS = "SUCCESS"
    CLOSED = "CLOSED"
    ABNORMAL = "ABNORMAL"


# The HTTP status WeChat Pay answers each error code with. ORDERPAID's is 400 in public
# fixtures and uncertain; the simulator should let it be configured.
ERROR_STATUS: Final[dict[str, int]] = {
    "PARAM_ERROR": 400,
    "INVALID_REQUEST": 400,
    "APPID_MCHID_NOT_MATCH": 400,
    "MCH_NOT_EXISTS": 400,
    "ORDER_CLOSED": 400,
    "ORDERPAID": 400,
    "SIGN_ERROR": 401,
    "NO_AUTH": 403,
    "OUT_TRADE_NO_USED": 403,
    "TRADE_ERROR": 403,
    "RULE_LIMIT": 403,
    "NOT_ENOUGH": 403,
    "ORDER_NOT_EXIST": 404,
    "RESOURCE_NOT_EXISTS": 404,
    "RATELIMIT_EXCEEDED": 429,
    "FREQUENCY_LIMITED": 429,
    "SYSTEM_ERROR": 500,
    "BANK_ERROR": 500,
}


# --------------------------------------------------------------------------- Authorization

_AUTH_FIELDS: Final = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")
_AUTH_PAIR = re.compile(r'\s*([a-z_]+)="([^"]*)"\s*')


@dataclass(frozen=True, slots=True)
class Authorization:
    """The parts of a ``WECHATPAY2-SHA256-RSA2048`` Authorization header."""

    mchid: str
    nonce_str: str
    signature: str
    timestamp: str
    serial_no: str


def format_authorization(
    *, mchid: str, nonce_str: str, signature: str, timestamp: int | str, serial_no: str
) -> str:
    """The header value a merchant sends (WeChat Pay accepts the pairs in any order)."""
    return (
        f'{SIGNATURE_SCHEME} mchid="{mchid}",nonce_str="{nonce_str}",'
        f'signature="{signature}",timestamp="{timestamp}",serial_no="{serial_no}"'
    )


def parse_authorization(value: str) -> Authorization | None:
    """The header's parts, or None unless it is the scheme with each of the five pairs once."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme != SIGNATURE_SCHEME or len(rest) > 4096:
        return None
    pairs: dict[str, str] = {}
    for item in rest.split(","):
        match = _AUTH_PAIR.fullmatch(item)
        if match is None or match.group(1) in pairs:
            return None
        pairs[match.group(1)] = match.group(2)
    if sorted(pairs) != sorted(_AUTH_FIELDS):
        return None
    return Authorization(**pairs)

"""The ``PayError`` branch of the error tree: WeChat Pay (API v3) error codes (``PayApiError``
and one class per meaning, with ``error_for_pay_code``, the table from code to class), answers
and callbacks that fail verification (``PayVerificationError``), unusable keys.

Apart from the other branches because it follows WeChat Pay's API, a different protocol from
WeChat's (string codes, HTTP statuses, signatures); the table sits with its classes. Import
from ``wxlogin.errors``.
"""

from __future__ import annotations

from typing import ClassVar

from wxlogin.errors._base import ErrorCode, WxLoginError

__all__ = [
    "BadPaySignature",
    "InvalidPayKey",
    "OrderAlreadyPaid",
    "OrderClosed",
    "OutTradeNoUsed",
    "PayApiError",
    "PayDecryptionFailed",
    "PayError",
    "PayInvalidRequest",
    "PayMisconfigured",
    "PayNotAuthorized",
    "PayOrderNotFound",
    "PayRateLimited",
    "PaySignatureMissing",
    "PaySignatureProbe",
    "PaySignatureRejected",
    "PaySystemError",
    "PayTradeRefused",
    "PayVerificationError",
    "RefundNotEnough",
    "ReplayedPayCallback",
    "StalePayTimestamp",
    "UnknownPayError",
    "UnknownPaySerial",
    "UntrustedPayResponse",
    "error_for_pay_code",
]


class PayError(WxLoginError):
    """Base of everything WeChat Pay (API v3) can go wrong with."""

    code = ErrorCode.PAY_ERROR
    http_status = 502
    default_message = "WeChat Pay could not complete the request"


class PayApiError(PayError):
    """WeChat Pay answered with an error: ``{"code", "message", "detail"?}`` and a 4xx/5xx.

    ``pay_code`` is WeChat Pay's code (``PARAM_ERROR``...); ``pay_codes`` lists the codes a
    subclass stands for and ``error_for_pay_code`` picks the class. ``status`` is the HTTP
    status WeChat Pay answered with, ``field`` the request field its ``detail`` blames (never the
    value it quotes), ``request_id`` its ``Request-ID`` header (what its support asks for).
    ``verified`` tells whether the error answer carried a valid WeChat Pay signature: WeChat
    Pay does not sign every error, so an error is only ever read as a refusal, never as a
    statement about an order's state — confirm that with a (verified) query.
    """

    pay_codes: ClassVar[tuple[str, ...]] = ()
    default_retry_after: ClassVar[float | None] = None

    def __init__(
        self,
        pay_code: str,
        *,
        status: int = 400,
        pay_message: str = "",
        field: str | None = None,
        request_id: str | None = None,
        verified: bool = False,
        message: str | None = None,
    ) -> None:
        self.pay_code = pay_code
        self.status = status
        self.pay_message = pay_message
        self.field = field
        self.request_id = request_id
        self.verified = verified
        detail = message or self.default_message
        where = f", field {field}" if field else ""
        super().__init__(f"{detail} ({pay_code}{where})", retry_after=self.default_retry_after)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(pay_code={self.pay_code!r}, status={self.status}, "
            f"request_id={self.request_id!r})"
        )


class PayInvalidRequest(PayApiError):
    pay_codes = ("PARAM_ERROR", "INVALID_REQUEST")
    code = ErrorCode.PAY_INVALID_REQUEST
    http_status = 400
    default_message = "WeChat Pay rejected the request's parameters"


class PaySignatureRejected(PayApiError):
    """401 SIGN_ERROR: our request signature did not verify — a merchant key that does not
    match its serial, a wrong mchid, or a server clock more than 5 minutes off."""

    pay_codes = ("SIGN_ERROR",)
    code = ErrorCode.PAY_SIGNATURE_REJECTED
    needs_operator = True
    http_status = 500
    default_message = "WeChat Pay rejected the request signature (merchant key, serial or clock)"


class PayNotAuthorized(PayApiError):
    pay_codes = ("NO_AUTH",)
    code = ErrorCode.PAY_NOT_AUTHORIZED
    http_status = 403
    default_message = "the merchant is not authorised for this WeChat Pay operation"


class PayMisconfigured(PayApiError):
    """The appid is not bound to the mchid, or the mchid does not exist."""

    pay_codes = ("APPID_MCHID_NOT_MATCH", "MCH_NOT_EXISTS")
    code = ErrorCode.PAY_MISCONFIGURED
    needs_operator = True
    http_status = 500
    default_message = "WeChat Pay does not accept this appid and mchid together"


class PayOrderNotFound(PayApiError):
    pay_codes = ("ORDER_NOT_EXIST", "RESOURCE_NOT_EXISTS", "NOT_FOUND")
    code = ErrorCode.PAY_NOT_FOUND
    http_status = 404
    default_message = "WeChat Pay has no such order or refund"


class OutTradeNoUsed(PayApiError):
    """The out_trade_no was already used for an order with other parameters."""

    pay_codes = ("OUT_TRADE_NO_USED",)
    code = ErrorCode.OUT_TRADE_NO_USED
    http_status = 409
    default_message = "the out_trade_no is already used by an order with other parameters"


class OrderAlreadyPaid(PayApiError):
    pay_codes = ("ORDERPAID",)
    code = ErrorCode.ORDER_PAID
    http_status = 409
    default_message = "the order is already paid"


class OrderClosed(PayApiError):
    pay_codes = ("ORDER_CLOSED",)
    code = ErrorCode.ORDER_CLOSED
    http_status = 409
    default_message = "the order is closed"


class RefundNotEnough(PayApiError):
    """NOT_ENOUGH: more refunded than the order has left (or than the merchant's balance)."""

    pay_codes = ("NOT_ENOUGH",)
    code = ErrorCode.REFUND_NOT_ENOUGH
    http_status = 409
    default_message = "not enough left to refund"


class PayTradeRefused(PayApiError):
    """WeChat Pay's business rules or risk control refused the trade."""

    pay_codes = ("TRADE_ERROR", "RULE_LIMIT", "ACCOUNT_ERROR", "USER_ACCOUNT_ABNORMAL")
    code = ErrorCode.PAY_REFUSED
    http_status = 403
    default_message = "WeChat Pay refused the trade"


class PayRateLimited(PayApiError):
    pay_codes = ("RATELIMIT_EXCEEDED", "FREQUENCY_LIMITED")
    code = ErrorCode.PAY_RATE_LIMITED
    http_status = 429
    retryable = True
    default_message = "WeChat Pay's rate limit was reached; retry later"
    default_retry_after = 1.0


class PaySystemError(PayApiError):
    """SYSTEM_ERROR / BANK_ERROR: WeChat Pay's own failure; retry with the same parameters."""

    pay_codes = ("SYSTEM_ERROR", "BANK_ERROR")
    code = ErrorCode.PAY_UPSTREAM_BUSY
    http_status = 503
    retryable = True
    default_message = "WeChat Pay failed on its side; retry with the same parameters"
    default_retry_after = 1.0


class UnknownPayError(PayApiError):
    """A code wxlogin has no class for; ``pay_code`` and ``status`` are kept."""

    http_status = 502
    default_message = "WeChat Pay returned an error"

    def __init__(
        self,
        pay_code: str,
        *,
        status: int = 400,
        pay_message: str = "",
        field: str | None = None,
        request_id: str | None = None,
        verified: bool = False,
        message: str | None = None,
    ) -> None:
        super().__init__(
            pay_code,
            status=status,
            pay_message=pay_message,
            field=field,
            request_id=request_id,
            verified=verified,
            message=message,
        )
        # WeChat Pay: a 5xx is its own failure, worth another try with the same parameters.
        self.retryable = status >= 500


_BY_PAY_CODE: dict[str, type[PayApiError]] = {
    pay_code: cls
    for cls in (
        PayInvalidRequest,
        PaySignatureRejected,
        PayNotAuthorized,
        PayMisconfigured,
        PayOrderNotFound,
        OutTradeNoUsed,
        OrderAlreadyPaid,
        OrderClosed,
        RefundNotEnough,
        PayTradeRefused,
        PayRateLimited,
        PaySystemError,
    )
    for pay_code in cls.pay_codes
}


def error_for_pay_code(
    pay_code: str,
    *,
    status: int = 400,
    pay_message: str = "",
    field: str | None = None,
    request_id: str | None = None,
    verified: bool = False,
) -> PayApiError:
    """Build the specific exception for a WeChat Pay error ``code``."""
    cls = _BY_PAY_CODE.get(pay_code, UnknownPayError)
    return cls(
        pay_code,
        status=status,
        pay_message=pay_message,
        field=field,
        request_id=request_id,
        verified=verified,
    )


class UntrustedPayResponse(PayError):
    """A WeChat Pay answer whose signature did not verify; ``reason`` is the specific
    ``PayVerificationError``. Nothing in such an answer is used: it may not be WeChat Pay's."""

    code = ErrorCode.UNTRUSTED_PAY_RESPONSE
    http_status = 502
    default_message = "WeChat Pay's answer failed signature verification"

    def __init__(self, reason: PayVerificationError) -> None:
        self.reason = reason
        super().__init__(f"{self.default_message}: {reason.message}")

    def __repr__(self) -> str:
        return f"UntrustedPayResponse(reason={type(self.reason).__name__})"


class PayVerificationError(PayError):
    """A WeChat Pay signature (on a callback, or inside ``UntrustedPayResponse``) that cannot
    be trusted. A callback refused with any of these gets a non-2xx answer, so a genuine one
    is delivered again."""

    code = ErrorCode.INVALID_PAY_SIGNATURE
    http_status = 401
    default_message = "the WeChat Pay signature cannot be trusted"


class PaySignatureMissing(PayVerificationError):
    default_message = "the WeChat Pay signature headers are missing or malformed"


class UnknownPaySerial(PayVerificationError):
    default_message = "signed with a WeChat Pay key this merchant does not hold (Wechatpay-Serial)"


class StalePayTimestamp(PayVerificationError):
    default_message = "the WeChat Pay timestamp is more than 5 minutes off (replayed or stale)"


class ReplayedPayCallback(PayVerificationError):
    """A callback whose exact signature was accepted before: WeChat Pay signs every delivery
    afresh (a retry has a new nonce and timestamp), so the same signature twice is a copy."""

    default_message = "this signed WeChat Pay callback was received before (a replay)"


class BadPaySignature(PayVerificationError):
    default_message = "the WeChat Pay signature does not match the body (forged or altered)"


class PaySignatureProbe(BadPaySignature):
    """WeChat Pay's deliberate probe (signature ``WECHATPAY/SIGNTEST/...``): it must fail."""

    default_message = "a WeChat Pay signature probe (WECHATPAY/SIGNTEST), refused as it must be"


class PayDecryptionFailed(PayVerificationError):
    """AEAD_AES_256_GCM refused the resource. After a good signature this almost always means
    the configured APIv3 key is not the merchant's current one."""

    code = ErrorCode.PAY_DECRYPTION_FAILED
    http_status = 400
    default_message = (
        "the WeChat Pay resource did not decrypt (wrong APIv3 key, or altered ciphertext)"
    )


class InvalidPayKey(PayError):
    """A merchant key, WeChat Pay public key or platform certificate that cannot be used."""

    code = ErrorCode.INVALID_PAY_KEY
    needs_operator = True
    http_status = 500
    default_message = "a WeChat Pay key or certificate is not usable"

"""Every error wxlogin raises, in one tree.

Each class is data as much as behaviour: a stable ``code`` for API clients (a member of
``ErrorCode``, the one list of codes, one meaning each), the ``http_status`` the service answers
with, whether the caller may ``retryable`` try again (``retry_after`` seconds, when known), and
whether it ``needs_operator``. The one HTTP error handler in ``wxlogin.api`` renders them;
nothing else in the package knows about HTTP.

    WxLoginError
    ├── ConfigurationError ······ misconfigured (500)
    ├── WeChatError  — WeChat answered with a non-zero errcode; carries errcode, errmsg, rid
    │   ├── InvalidCode ·········· 40029  invalid_code (400)
    │   ├── CodeUsed ············· 40163  code_used (400)
    │   ├── UserBlocked ·········· 40226  user_blocked (403)
    │   ├── RateLimited ·········· 45011  wechat_rate_limited (429, retryable)
    │   ├── QuotaExceeded ········ 45009  quota_exceeded (503, retryable)
    │   ├── UpstreamBusy ········· -1  upstream_busy (503, retryable)
    │   ├── InvalidCredential ···· 40001 40014 42001 41001  upstream_credential (502, retryable)
    │   ├── BadAppCredentials ···· 40013 40125 41002 41004  bad_app_credentials (500)
    │   ├── UpstreamMisconfigured ·· 40002 40164 43002 87008  wechat_misconfigured (500)
    │   ├── MissingCode ·········· 41008  missing_code (400)
    │   ├── InvalidArgs ·········· 40097  wechat_invalid_args (400)
    │   ├── RiskControl ·········· 89503  risk_control (403)
    │   ├── ApiUnauthorized ······ 48001  api_unauthorized (403)
    │   ├── InvalidSignature ····· 87009  session_signature_rejected (400)
    │   ├── SessionKeyExpired ···· 87007  session_key_expired (409)
    │   ├── InvalidOpenid ········ 40003  invalid_openid (400)
    │   ├── OpenAccountMissing ··· 89002  open_account_missing (400)
    │   ├── InvalidTrade ········· 89300  invalid_trade (400)
    │   ├── NotSubscribed ········ 43101  not_subscribed (403)
    │   ├── InvalidMessageData ··· 47003  invalid_message_data (400); names the field
    │   ├── InvalidTemplate ······ 40037  invalid_template (400)
    │   └── UnknownWeChatError ··· any other errcode  wechat_error (502)
    ├── PayError  — WeChat Pay (API v3)
    │   ├── PayApiError  — WeChat Pay answered with an error code; carries pay_code, status, field
    │   │   ├── PayInvalidRequest ···· PARAM_ERROR INVALID_REQUEST  pay_invalid_request (400)
    │   │   ├── PaySignatureRejected ·· SIGN_ERROR  pay_signature_rejected (500)
    │   │   ├── PayNotAuthorized ····· NO_AUTH  pay_not_authorized (403)
    │   │   ├── PayMisconfigured ····· APPID_MCHID_NOT_MATCH MCH_NOT_EXISTS  pay_misconfigured (500)
    │   │   ├── PayOrderNotFound ····· ORDER_NOT_EXIST RESOURCE_NOT_EXISTS NOT_FOUND
    │   │   │                          pay_not_found (404)
    │   │   ├── OutTradeNoUsed ······· OUT_TRADE_NO_USED  out_trade_no_used (409)
    │   │   ├── OrderAlreadyPaid ····· ORDERPAID  order_paid (409)
    │   │   ├── OrderClosed ·········· ORDER_CLOSED  order_closed (409)
    │   │   ├── RefundNotEnough ······ NOT_ENOUGH  refund_not_enough (409)
    │   │   ├── PayTradeRefused ······ TRADE_ERROR RULE_LIMIT ACCOUNT_ERROR USER_ACCOUNT_ABNORMAL
    │   │   │                          pay_refused (403)
    │   │   ├── PayRateLimited ······· RATELIMIT_EXCEEDED FREQUENCY_LIMITED
    │   │   │                          pay_rate_limited (429, retryable)
    │   │   ├── PaySystemError ······· SYSTEM_ERROR BANK_ERROR  pay_upstream_busy (503, retryable)
    │   │   └── UnknownPayError ······ any other code  pay_error (502, retryable on 5xx)
    │   ├── UntrustedPayResponse ····· failed verification  untrusted_pay_response (502)
    │   ├── PayVerificationError  — a signature that cannot be trusted  invalid_pay_signature (401)
    │   │   ├── PaySignatureMissing ·· signature headers missing or malformed
    │   │   ├── UnknownPaySerial ····· signed by a key this merchant does not hold
    │   │   ├── StalePayTimestamp ···· more than 5 minutes off (a replay, or a skewed clock)
    │   │   ├── ReplayedPayCallback ·· the very same signed callback, seen already
    │   │   ├── BadPaySignature ······ does not verify (forged or altered)
    │   │   │   └── PaySignatureProbe ·· a WECHATPAY/SIGNTEST/ probe
    │   │   └── PayDecryptionFailed ·· wrong APIv3 key, or altered  pay_decryption_failed (400)
    │   └── InvalidPayKey ············ an unusable key or certificate  invalid_pay_key (500)
    ├── UpstreamError  — we could not get a usable answer from WeChat at all
    │   ├── UpstreamTimeout ······ upstream_timeout (504, retryable)
    │   ├── UpstreamUnavailable ·· upstream_unavailable (503, retryable)
    │   └── BadUpstreamResponse ·· bad_upstream_response (502, retryable on 5xx)
    ├── CryptoError  — open data (encryptedData / rawData) that cannot be trusted
    │   ├── MalformedEncryptedData ·· malformed_encrypted_data (400)
    │   ├── StaleSessionKey ······ session_key_stale (409)
    │   ├── WatermarkMismatch ···· watermark_mismatch (400)
    │   └── SignatureMismatch ···· invalid_signature (400)
    └── ServiceError  — the login service's own refusals
        ├── InvalidRequest ······· invalid_request (400)
        │   ├── MessageDataRejected ·· invalid_message_data (400): caught before WeChat
        │   └── AppidRequired ···· appid_required (400): the user is in several apps
        ├── UnknownApp ··········· unknown_app (400)
        ├── AuthenticationError ·· unauthorized (401)
        │   ├── InvalidToken ····· invalid_token (401)
        │   ├── TokenExpired ····· token_expired (401)
        │   ├── SessionRevoked ··· session_revoked (401)
        │   └── RefreshReused ···· refresh_reused (401)
        ├── NotFound ············· not_found (404)
        │   └── UserNotFound ······· the user a token or a caller names no longer exists
        ├── NoSessionKey ········· session_key_missing (409)
        ├── UnsupportedImage ····· unsupported_image (415)
        ├── OrderNotPayable ······ order_not_payable (409): paid, closed or expired
        ├── RefundTooLarge ······· refund_too_large (409): more than is left of the order
        ├── UnknownTemplate ······ unknown_template (400)
        ├── ServiceTokenRejected ·· invalid_service_token (401)
        ├── Throttled ············ rate_limited (429, retryable)
        └── NotReady ············· not_ready (503, retryable)

Messages never contain a session_key, an AppSecret, a token or a key: the code that raises is
responsible for that; ``tests/wechat/test_client.py`` and ``tests/api/test_secrets.py`` scan
the reprs, messages, log lines and response bodies of whole flows for them.
"""

from __future__ import annotations

import re
import time
from enum import StrEnum
from typing import ClassVar

__all__ = [
    "ApiUnauthorized",
    "AppidRequired",
    "AuthenticationError",
    "BadAppCredentials",
    "BadPaySignature",
    "BadUpstreamResponse",
    "CodeUsed",
    "ConfigurationError",
    "CryptoError",
    "ErrorCode",
    "InvalidArgs",
    "InvalidCode",
    "InvalidCredential",
    "InvalidMessageData",
    "InvalidOpenid",
    "InvalidPayKey",
    "InvalidRequest",
    "InvalidSignature",
    "InvalidTemplate",
    "InvalidToken",
    "InvalidTrade",
    "MalformedEncryptedData",
    "MessageDataRejected",
    "MissingCode",
    "NoSessionKey",
    "NotFound",
    "NotReady",
    "NotSubscribed",
    "OpenAccountMissing",
    "OrderAlreadyPaid",
    "OrderClosed",
    "OrderNotPayable",
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
    "QuotaExceeded",
    "RateLimited",
    "RefreshReused",
    "RefundNotEnough",
    "RefundTooLarge",
    "ReplayedPayCallback",
    "RiskControl",
    "ServiceError",
    "ServiceTokenRejected",
    "SessionKeyExpired",
    "SessionRevoked",
    "SignatureMismatch",
    "StalePayTimestamp",
    "StaleSessionKey",
    "Throttled",
    "TokenExpired",
    "UnknownApp",
    "UnknownPayError",
    "UnknownPaySerial",
    "UnknownTemplate",
    "UnknownWeChatError",
    "UnsupportedImage",
    "UntrustedPayResponse",
    "UpstreamBusy",
    "UpstreamError",
    "UpstreamMisconfigured",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "UserBlocked",
    "UserNotFound",
    "WatermarkMismatch",
    "WeChatError",
    "WxLoginError",
    "error_for_errcode",
    "error_for_pay_code",
]


class ErrorCode(StrEnum):
    """Every error code wxlogin answers with, one meaning each: what API clients switch on."""

    # A code belongs to one class of the tree, and to the subclasses that do not set their own
    # (kinds of the same thing: every PayVerificationError is invalid_pay_signature). Two
    # classes give invalid_message_data on purpose: the same refused value, whether WeChat or
    # wxlogin saw it first. tests/test_errors.py holds the tree to this, and
    # tests/api/test_openapi.py finds each code in /openapi.json under its class's status.

    # Anything not ours, and the deployment's own settings.
    INTERNAL_ERROR = "internal_error"
    MISCONFIGURED = "misconfigured"
    # WeChat's errcodes (WeChatError).
    WECHAT_ERROR = "wechat_error"
    INVALID_CODE = "invalid_code"
    CODE_USED = "code_used"
    USER_BLOCKED = "user_blocked"
    WECHAT_RATE_LIMITED = "wechat_rate_limited"
    QUOTA_EXCEEDED = "quota_exceeded"
    UPSTREAM_BUSY = "upstream_busy"
    UPSTREAM_CREDENTIAL = "upstream_credential"
    BAD_APP_CREDENTIALS = "bad_app_credentials"
    WECHAT_MISCONFIGURED = "wechat_misconfigured"
    MISSING_CODE = "missing_code"
    WECHAT_INVALID_ARGS = "wechat_invalid_args"
    RISK_CONTROL = "risk_control"
    API_UNAUTHORIZED = "api_unauthorized"
    SESSION_SIGNATURE_REJECTED = "session_signature_rejected"
    SESSION_KEY_EXPIRED = "session_key_expired"
    INVALID_OPENID = "invalid_openid"
    OPEN_ACCOUNT_MISSING = "open_account_missing"
    INVALID_TRADE = "invalid_trade"
    NOT_SUBSCRIBED = "not_subscribed"
    INVALID_MESSAGE_DATA = "invalid_message_data"
    INVALID_TEMPLATE = "invalid_template"
    # WeChat Pay (PayError).
    PAY_ERROR = "pay_error"
    PAY_INVALID_REQUEST = "pay_invalid_request"
    PAY_SIGNATURE_REJECTED = "pay_signature_rejected"
    PAY_NOT_AUTHORIZED = "pay_not_authorized"
    PAY_MISCONFIGURED = "pay_misconfigured"
    PAY_NOT_FOUND = "pay_not_found"
    OUT_TRADE_NO_USED = "out_trade_no_used"
    ORDER_PAID = "order_paid"
    ORDER_CLOSED = "order_closed"
    REFUND_NOT_ENOUGH = "refund_not_enough"
    PAY_REFUSED = "pay_refused"
    PAY_RATE_LIMITED = "pay_rate_limited"
    PAY_UPSTREAM_BUSY = "pay_upstream_busy"
    UNTRUSTED_PAY_RESPONSE = "untrusted_pay_response"
    INVALID_PAY_SIGNATURE = "invalid_pay_signature"
    PAY_DECRYPTION_FAILED = "pay_decryption_failed"
    INVALID_PAY_KEY = "invalid_pay_key"
    # No usable answer at all (UpstreamError).
    UPSTREAM_ERROR = "upstream_error"
    UPSTREAM_TIMEOUT = "upstream_timeout"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    BAD_UPSTREAM_RESPONSE = "bad_upstream_response"
    # Open data (CryptoError).
    CRYPTO_ERROR = "crypto_error"
    MALFORMED_ENCRYPTED_DATA = "malformed_encrypted_data"
    SESSION_KEY_STALE = "session_key_stale"
    WATERMARK_MISMATCH = "watermark_mismatch"
    INVALID_SIGNATURE = "invalid_signature"
    # The service's own refusals (ServiceError).
    INVALID_REQUEST = "invalid_request"
    APPID_REQUIRED = "appid_required"
    UNKNOWN_APP = "unknown_app"
    UNAUTHORIZED = "unauthorized"
    INVALID_TOKEN = "invalid_token"
    TOKEN_EXPIRED = "token_expired"
    SESSION_REVOKED = "session_revoked"
    REFRESH_REUSED = "refresh_reused"
    NOT_FOUND = "not_found"
    SESSION_KEY_MISSING = "session_key_missing"
    UNSUPPORTED_IMAGE = "unsupported_image"
    ORDER_NOT_PAYABLE = "order_not_payable"
    REFUND_TOO_LARGE = "refund_too_large"
    UNKNOWN_TEMPLATE = "unknown_template"
    INVALID_SERVICE_TOKEN = "invalid_service_token"
    RATE_LIMITED = "rate_limited"
    NOT_READY = "not_ready"
    # HTTP's own refusals (wxlogin.api.errors).
    PAYLOAD_TOO_LARGE = "payload_too_large"
    BODY_TIMEOUT = "body_timeout"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # Inside a FastAPI host only: the host app's own HTTPException, with the status it chose.
    # No class of ours has it, and wxlogin's routes never answer it.
    HTTP_ERROR = "http_error"


class WxLoginError(Exception):
    """Base of every wxlogin error.

    ``code`` is the stable machine-readable name shown to API clients; ``message`` is a
    human sentence. Subclasses set the class-level defaults; a subclass that keeps its
    parent's ``code`` is a kind of the same thing.
    """

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL_ERROR
    http_status: ClassVar[int] = 500
    # Only a change to the deployment fixes it (settings, keys, WeChat's or WeChat Pay's
    # console): the HTTP face logs these at ERROR, the others at WARNING.
    needs_operator: ClassVar[bool] = False
    # An instance attribute, not a ClassVar: a few errors decide it per occurrence.
    retryable: bool = False
    default_message: ClassVar[str] = "internal error"

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float | None = None,
        detail: str | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.retry_after = retry_after
        # For the operator, never the client: what exactly failed and where (a database
        # named by its masked URL, a driver's exception class). Logged, and shown by the CLI.
        self.detail = detail
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigurationError(WxLoginError):
    """wxlogin is set up wrongly (missing secret, placeholder key in production, ...)."""

    code = ErrorCode.MISCONFIGURED
    needs_operator = True
    default_message = "wxlogin is misconfigured"


# --------------------------------------------------------------------------- WeChat errcodes

_RID = re.compile(r"rid:\s*([0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8})")


def parse_rid(errmsg: str) -> str | None:
    """Extract WeChat's request id (``rid: xxxxxxxx-xxxxxxxx-xxxxxxxx``) from an errmsg."""
    match = _RID.search(errmsg)
    return match.group(1) if match else None


class WeChatError(WxLoginError):
    """WeChat answered with a non-zero ``errcode``.

    ``errcodes`` lists the codes a subclass stands for; ``error_for_errcode`` uses it to pick
    the class. Callers branch on the class (or ``errcode``), never on ``errmsg`` text.
    """

    errcodes: ClassVar[tuple[int, ...]] = ()
    default_retry_after: ClassVar[float | None] = None
    code = ErrorCode.WECHAT_ERROR
    http_status = 502
    default_message = "WeChat refused the request"

    def __init__(
        self,
        errcode: int,
        errmsg: str = "",
        *,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        self.rid = parse_rid(errmsg)
        detail = message or self.default_message
        if retry_after is None:
            retry_after = self.default_retry_after
        super().__init__(f"{detail} (errcode {errcode})", retry_after=retry_after)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(errcode={self.errcode}, rid={self.rid!r})"


class InvalidCode(WeChatError):
    errcodes = (40029,)
    code = ErrorCode.INVALID_CODE
    http_status = 400
    default_message = "the code is invalid, expired, or was issued for another app"


class CodeUsed(WeChatError):
    errcodes = (40163,)
    code = ErrorCode.CODE_USED
    http_status = 400
    default_message = "the code has already been used; call wx.login again"


class UserBlocked(WeChatError):
    errcodes = (40226,)
    code = ErrorCode.USER_BLOCKED
    http_status = 403
    default_message = "WeChat refused to log in this user (high-risk account)"


class RateLimited(WeChatError):
    errcodes = (45011,)
    code = ErrorCode.WECHAT_RATE_LIMITED
    http_status = 429
    retryable = True
    default_message = "WeChat rate limit reached for this user; retry next minute"
    default_retry_after = 60.0


class QuotaExceeded(WeChatError):
    """45009: a daily quota is used up; WeChat resets it at midnight, Beijing time."""

    errcodes = (45009,)
    code = ErrorCode.QUOTA_EXCEEDED
    http_status = 503
    retryable = True
    default_message = "the app's daily WeChat API quota is used up"

    def __init__(
        self,
        errcode: int,
        errmsg: str = "",
        *,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        if retry_after is None:
            retry_after = _seconds_to_beijing_midnight(time.time())
        super().__init__(errcode, errmsg, message=message, retry_after=retry_after)


def _seconds_to_beijing_midnight(now: float) -> float:
    beijing = now + 8 * 3600  # UTC+8 all year round
    return 86400.0 - beijing % 86400.0


class UpstreamBusy(WeChatError):
    errcodes = (-1,)
    code = ErrorCode.UPSTREAM_BUSY
    http_status = 503
    retryable = True
    default_message = "WeChat is busy; retry later"
    default_retry_after = 1.0


class InvalidCredential(WeChatError):
    """The access_token we sent was superseded, malformed, expired or missing."""

    errcodes = (40001, 40014, 42001, 41001)
    code = ErrorCode.UPSTREAM_CREDENTIAL
    http_status = 502
    retryable = True
    default_message = "WeChat rejected the access_token"


class BadAppCredentials(WeChatError):
    """The appid or AppSecret configured for this app is wrong or missing."""

    errcodes = (40013, 40125, 41002, 41004)
    code = ErrorCode.BAD_APP_CREDENTIALS
    needs_operator = True
    http_status = 500
    default_message = "WeChat rejected the app's appid or AppSecret"


class UpstreamMisconfigured(WeChatError):
    """WeChat says our request is wrong in a way only a deployment change fixes."""

    errcodes = (40002, 40164, 43002, 87008)
    code = ErrorCode.WECHAT_MISCONFIGURED
    needs_operator = True
    http_status = 500
    default_message = "WeChat rejected the request as misconfigured (grant type, IP allow-list)"


class MissingCode(WeChatError):
    errcodes = (41008,)
    code = ErrorCode.MISSING_CODE
    http_status = 400
    default_message = "no code was sent"


class InvalidArgs(WeChatError):
    errcodes = (40097,)
    code = ErrorCode.WECHAT_INVALID_ARGS
    http_status = 400
    default_message = "WeChat rejected the arguments"


class RiskControl(WeChatError):
    errcodes = (89503,)
    code = ErrorCode.RISK_CONTROL
    http_status = 403
    default_message = "WeChat risk control refused the call"


class ApiUnauthorized(WeChatError):
    errcodes = (48001,)
    code = ErrorCode.API_UNAUTHORIZED
    http_status = 403
    default_message = "this app is not authorised for the WeChat API it called"


class InvalidSignature(WeChatError):
    """87009: the session_key signature did not verify (the key is stale, rotated or unknown)."""

    errcodes = (87009,)
    code = ErrorCode.SESSION_SIGNATURE_REJECTED
    http_status = 400
    default_message = "WeChat did not accept the session_key signature"


class SessionKeyExpired(WeChatError):
    errcodes = (87007,)
    code = ErrorCode.SESSION_KEY_EXPIRED
    http_status = 409
    default_message = "WeChat has no valid session_key for this user; call wx.login again"


class InvalidOpenid(WeChatError):
    errcodes = (40003,)
    code = ErrorCode.INVALID_OPENID
    http_status = 400
    default_message = "WeChat does not know this openid"


class OpenAccountMissing(WeChatError):
    errcodes = (89002,)
    code = ErrorCode.OPEN_ACCOUNT_MISSING
    http_status = 400
    default_message = "the app is not bound to an Open Platform account"


class InvalidTrade(WeChatError):
    errcodes = (89300,)
    code = ErrorCode.INVALID_TRADE
    http_status = 400
    default_message = "WeChat does not know this payment, or it is too old"


# Subscribe messages (POST /cgi-bin/message/subscribe/send).


class NotSubscribed(WeChatError):
    """43101: the user has no accept left for this template — refused in the dialog, never
    asked, or the one send an accept allows is already spent. Ask again
    (``wx.requestSubscribeMessage``, from a tap) before the next send."""

    errcodes = (43101,)
    code = ErrorCode.NOT_SUBSCRIBED
    http_status = 403
    default_message = "the user has no accept left for this template: ask again from a tap"


# "argument invalid! data.thing1.value invalid": the keyword WeChat refused.
_MESSAGE_FIELD = re.compile(r"data\.([A-Za-z0-9_]{1,64})\.value")


class InvalidMessageData(WeChatError):
    """47003: a value breaks its keyword's rule (too long, wrong characters, empty).

    ``field`` is the keyword WeChat names in its errmsg (``thing1``), None when it names none.
    """

    errcodes = (47003,)
    code = ErrorCode.INVALID_MESSAGE_DATA
    http_status = 400
    default_message = "WeChat refused a value of the message"

    def __init__(
        self,
        errcode: int,
        errmsg: str = "",
        *,
        message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        match = _MESSAGE_FIELD.search(errmsg)
        self.field = match.group(1) if match else None
        if message is None and self.field is not None:
            message = f"WeChat refused the value of {self.field}"
        super().__init__(errcode, errmsg, message=message, retry_after=retry_after)


class InvalidTemplate(WeChatError):
    errcodes = (40037,)
    code = ErrorCode.INVALID_TEMPLATE
    http_status = 400
    default_message = "WeChat has no such template for this mini program"


class UnknownWeChatError(WeChatError):
    """An errcode wxlogin has no specific class for; errcode and errmsg are kept."""

    http_status = 502
    default_message = "WeChat returned an error"


_BY_ERRCODE: dict[int, type[WeChatError]] = {
    errcode: cls
    for cls in (
        InvalidCode,
        CodeUsed,
        UserBlocked,
        RateLimited,
        QuotaExceeded,
        UpstreamBusy,
        InvalidCredential,
        BadAppCredentials,
        UpstreamMisconfigured,
        MissingCode,
        InvalidArgs,
        RiskControl,
        ApiUnauthorized,
        InvalidSignature,
        SessionKeyExpired,
        InvalidOpenid,
        OpenAccountMissing,
        InvalidTrade,
        NotSubscribed,
        InvalidMessageData,
        InvalidTemplate,
    )
    for errcode in cls.errcodes
}


def error_for_errcode(
    errcode: int,
    errmsg: str = "",
    *,
    overrides: dict[int, type[WeChatError]] | None = None,
) -> WeChatError:
    """Build the specific exception for a WeChat errcode.

    ``overrides`` lets one endpoint give a code its own meaning: getuserphonenumber answers
    40013 for "phone code from another app", which elsewhere means a bad appid.
    """
    cls = (overrides or {}).get(errcode) or _BY_ERRCODE.get(errcode, UnknownWeChatError)
    return cls(errcode, errmsg)


# --------------------------------------------------------------------------- WeChat Pay


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


# --------------------------------------------------------------------------- transport


class UpstreamError(WxLoginError):
    """No usable answer from WeChat. ``request_sent`` tells whether it may have been acted on."""

    code = ErrorCode.UPSTREAM_ERROR
    http_status = 502
    default_message = "WeChat could not be reached"

    def __init__(
        self,
        message: str | None = None,
        *,
        request_sent: bool = True,
        retry_after: float | None = None,
    ) -> None:
        self.request_sent = request_sent
        super().__init__(message, retry_after=retry_after)


class UpstreamTimeout(UpstreamError):
    code = ErrorCode.UPSTREAM_TIMEOUT
    http_status = 504
    retryable = True
    default_message = "WeChat did not answer in time"


class UpstreamUnavailable(UpstreamError):
    code = ErrorCode.UPSTREAM_UNAVAILABLE
    http_status = 503
    retryable = True
    default_message = "WeChat could not be reached"


class BadUpstreamResponse(UpstreamError):
    code = ErrorCode.BAD_UPSTREAM_RESPONSE
    http_status = 502
    default_message = "WeChat answered with something that is not the expected JSON"

    def __init__(self, message: str | None = None, *, status: int = 200) -> None:
        self.status = status
        super().__init__(message, request_sent=True)
        # A 5xx from a gateway in front of WeChat is worth another try; a garbled 200 is not.
        self.retryable = status >= 500


# --------------------------------------------------------------------------- crypto


class CryptoError(WxLoginError):
    code = ErrorCode.CRYPTO_ERROR
    http_status = 400
    default_message = "the signed or encrypted data could not be verified"


class MalformedEncryptedData(CryptoError):
    """The session_key, iv or encryptedData is not valid base64 of the right length."""

    code = ErrorCode.MALFORMED_ENCRYPTED_DATA
    default_message = "encryptedData, iv or session_key is malformed"


class StaleSessionKey(CryptoError):
    """Decryption produced garbage: almost always a session_key rotated by a later wx.login."""

    code = ErrorCode.SESSION_KEY_STALE
    http_status = 409
    default_message = (
        "decryption failed: the session_key is probably stale — "
        "was wx.login called after the data was fetched?"
    )


class WatermarkMismatch(CryptoError):
    code = ErrorCode.WATERMARK_MISMATCH
    default_message = "the data was encrypted for another app (watermark appid mismatch)"


class SignatureMismatch(CryptoError):
    code = ErrorCode.INVALID_SIGNATURE
    default_message = "the rawData signature does not match"


# --------------------------------------------------------------------------- service


class ServiceError(WxLoginError):
    """Base of the service's refusals; each has its own code. The base keeps
    ``internal_error``: a refusal that says no more than this is our fault."""


class InvalidRequest(ServiceError):
    code = ErrorCode.INVALID_REQUEST
    http_status = 400
    default_message = "the request is invalid"


class MessageDataRejected(InvalidRequest):
    """A message value WeChat would refuse (47003), caught before anything is sent.

    ``field`` names the keyword. The ``code`` is WeChat's own refusal's (``InvalidMessageData``)
    on purpose: the same mistake, whichever side saw it first.
    """

    code = ErrorCode.INVALID_MESSAGE_DATA
    default_message = "a value of the message breaks its keyword's rule"

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class AppidRequired(InvalidRequest):
    """A well-formed request that names no app, for a user who has identities in several:
    which openid (messages) or which app pays (orders) cannot be guessed. Unlike the
    request's shape, this depends on the user, so it has a code of its own: add ``appid``."""

    code = ErrorCode.APPID_REQUIRED
    default_message = "appid is required: the user uses several mini programs here"


class UnknownApp(ServiceError):
    code = ErrorCode.UNKNOWN_APP
    http_status = 400
    default_message = "this appid is not configured on this server"


class AuthenticationError(ServiceError):
    code = ErrorCode.UNAUTHORIZED
    http_status = 401
    default_message = "authentication required"


class InvalidToken(AuthenticationError):
    code = ErrorCode.INVALID_TOKEN
    default_message = "the token is invalid"


class TokenExpired(AuthenticationError):
    code = ErrorCode.TOKEN_EXPIRED
    default_message = "the token has expired"


class SessionRevoked(AuthenticationError):
    code = ErrorCode.SESSION_REVOKED
    default_message = "the session has been revoked; log in again"


class RefreshReused(AuthenticationError):
    code = ErrorCode.REFRESH_REUSED
    default_message = "this refresh token was already used; the session has been revoked"


class NotFound(ServiceError):
    code = ErrorCode.NOT_FOUND
    http_status = 404
    default_message = "not found"


class UserNotFound(NotFound):
    """The user an access token or a host app's call names does not exist (any more): one
    sentence for it, wherever it is found out."""

    default_message = "no such user"


class NoSessionKey(ServiceError):
    code = ErrorCode.SESSION_KEY_MISSING
    http_status = 409
    default_message = "no session_key is stored for this session; call wx.login again"


class UnsupportedImage(ServiceError):
    """An upload whose bytes are not a JPEG, PNG or WebP image.

    Judged by the bytes alone (their magic numbers): the file name and the declared content
    type are the client's say-so and are never looked at.
    """

    code = ErrorCode.UNSUPPORTED_IMAGE
    http_status = 415
    default_message = "the file is not a JPEG, PNG or WebP image"


class OrderNotPayable(ServiceError):
    """The order can no longer be paid: it is paid already, closed, or past its expiry."""

    code = ErrorCode.ORDER_NOT_PAYABLE
    http_status = 409
    default_message = "the order cannot be paid: it is paid, closed or expired"


class RefundTooLarge(ServiceError):
    """A refund of more than is left of the order (or of an order that is not paid).

    Checked here, before WeChat Pay is asked: the amount is reserved in the same database
    statement that checks it fits, so refunds at once can never add up to more than was paid.
    WeChat Pay's own refusal of the same thing is ``RefundNotEnough``.
    """

    code = ErrorCode.REFUND_TOO_LARGE
    http_status = 409
    default_message = "less than that is left to refund of this order"


class UnknownTemplate(ServiceError):
    """A subscribe-message template this server has not declared (``message_templates``)."""

    code = ErrorCode.UNKNOWN_TEMPLATE
    http_status = 400
    default_message = "this message template is not declared on this server"


class ServiceTokenRejected(ServiceError):
    """A server-to-server route called without one of the ``service_tokens``.

    Not an ``AuthenticationError``: that subtree is about users' access tokens, and a host
    app's backend has no session to refresh.
    """

    code = ErrorCode.INVALID_SERVICE_TOKEN
    http_status = 401
    default_message = "send a service token as 'Authorization: Bearer <token>'"


class Throttled(ServiceError):
    code = ErrorCode.RATE_LIMITED
    http_status = 429
    retryable = True
    default_message = "too many requests; slow down"


class NotReady(ServiceError):
    code = ErrorCode.NOT_READY
    http_status = 503
    retryable = True
    default_message = "the service is not ready"

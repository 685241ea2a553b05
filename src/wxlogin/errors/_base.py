"""The root of the error tree: ``ErrorCode`` (the one list of string codes, one meaning each),
``WxLoginError`` (what every error carries: ``code``, ``http_status``, ``retryable``,
``retry_after``, ``needs_operator``, an operator-only ``detail``) and ``ConfigurationError``.

Apart from the branches because every branch derives from it; it imports nothing of them.
Import from ``wxlogin.errors``: the tree, drawn in its docstring, is one public module.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

__all__ = ["ConfigurationError", "ErrorCode", "WxLoginError"]


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

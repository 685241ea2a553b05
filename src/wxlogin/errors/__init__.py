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

The tree lives in one package, a module per branch under ``WxLoginError``: ``_base``
(``ErrorCode``, ``WxLoginError``, ``ConfigurationError``), ``_wechat`` (``WeChatError`` and the
errcode table), ``_pay`` (``PayError`` and the WeChat Pay code table), ``_transport``
(``UpstreamError``), ``_crypto`` (``CryptoError``) and ``_service`` (``ServiceError``). Import
every name from ``wxlogin.errors``; the modules are how the tree is kept, not an API.
"""

from __future__ import annotations

from wxlogin.errors._base import (
    ConfigurationError,
    ErrorCode,
    WxLoginError,
)
from wxlogin.errors._crypto import (
    CryptoError,
    MalformedEncryptedData,
    SignatureMismatch,
    StaleSessionKey,
    WatermarkMismatch,
)
from wxlogin.errors._pay import (
    BadPaySignature,
    InvalidPayKey,
    OrderAlreadyPaid,
    OrderClosed,
    OutTradeNoUsed,
    PayApiError,
    PayDecryptionFailed,
    PayError,
    PayInvalidRequest,
    PayMisconfigured,
    PayNotAuthorized,
    PayOrderNotFound,
    PayRateLimited,
    PaySignatureMissing,
    PaySignatureProbe,
    PaySignatureRejected,
    PaySystemError,
    PayTradeRefused,
    PayVerificationError,
    RefundNotEnough,
    ReplayedPayCallback,
    StalePayTimestamp,
    UnknownPayError,
    UnknownPaySerial,
    UntrustedPayResponse,
    error_for_pay_code,
)
from wxlogin.errors._service import (
    AppidRequired,
    AuthenticationError,
    InvalidRequest,
    InvalidToken,
    MessageDataRejected,
    NoSessionKey,
    NotFound,
    NotReady,
    OrderNotPayable,
    RefreshReused,
    RefundTooLarge,
    ServiceError,
    ServiceTokenRejected,
    SessionRevoked,
    Throttled,
    TokenExpired,
    UnknownApp,
    UnknownTemplate,
    UnsupportedImage,
    UserNotFound,
)
from wxlogin.errors._transport import (
    BadUpstreamResponse,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from wxlogin.errors._wechat import (
    ApiUnauthorized,
    BadAppCredentials,
    CodeUsed,
    InvalidArgs,
    InvalidCode,
    InvalidCredential,
    InvalidMessageData,
    InvalidOpenid,
    InvalidSignature,
    InvalidTemplate,
    InvalidTrade,
    MissingCode,
    NotSubscribed,
    OpenAccountMissing,
    QuotaExceeded,
    RateLimited,
    RiskControl,
    SessionKeyExpired,
    UnknownWeChatError,
    UpstreamBusy,
    UpstreamMisconfigured,
    UserBlocked,
    WeChatError,
    error_for_errcode,
)

# Importable from here as before, though not part of __all__.
from wxlogin.errors._wechat import _seconds_to_beijing_midnight as _seconds_to_beijing_midnight
from wxlogin.errors._wechat import parse_rid as parse_rid

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

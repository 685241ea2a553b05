"""Every error wxlogin raises, in one tree.

Each class is data as much as behaviour: a stable string ``code`` for API clients, the
``http_status`` the service answers with, and whether the caller may ``retryable`` try again
(``retry_after`` seconds, when known). The one HTTP error handler in ``wxlogin.api`` renders
them; nothing else in the package knows about HTTP.

    WxLoginError
    ├── ConfigurationError ······ misconfigured (500)
    ├── WeChatError  — WeChat answered with a non-zero errcode; carries errcode, errmsg, rid
    │   ├── InvalidCode ·········· 40029  invalid_code (400)
    │   ├── CodeUsed ············· 40163  code_used (400)
    │   ├── UserBlocked ·········· 40226  user_blocked (403)
    │   ├── RateLimited ·········· 45011  rate_limited (429, retryable)
    │   ├── QuotaExceeded ········ 45009  quota_exceeded (503, retryable)
    │   ├── UpstreamBusy ········· -1  upstream_busy (503, retryable)
    │   ├── InvalidCredential ···· 40001 40014 42001 41001  upstream_credential (502, retryable)
    │   ├── BadAppCredentials ···· 40013 40125 41002 41004  misconfigured (500)
    │   ├── UpstreamMisconfigured ·· 40002 40164 43002 87008  misconfigured (500)
    │   ├── MissingCode ·········· 41008  missing_code (400)
    │   ├── InvalidArgs ·········· 40097  invalid_request (400)
    │   ├── RiskControl ·········· 89503  risk_control (403)
    │   ├── ApiUnauthorized ······ 48001  api_unauthorized (403)
    │   ├── InvalidSignature ····· 87009  invalid_signature (400)
    │   ├── SessionKeyMissing ···· 87007  session_key_expired (409)
    │   ├── InvalidOpenid ········ 40003  invalid_openid (400)
    │   ├── OpenAccountMissing ··· 89002  open_account_missing (400)
    │   ├── InvalidTrade ········· 89300  invalid_trade (400)
    │   └── UnknownWeChatError ··· any other errcode  wechat_error (502)
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
        ├── UnknownApp ··········· unknown_app (400)
        ├── AuthenticationError ·· unauthorized (401)
        │   ├── InvalidToken ····· invalid_token (401)
        │   ├── TokenExpired ····· token_expired (401)
        │   ├── SessionRevoked ··· session_revoked (401)
        │   └── RefreshReused ···· refresh_reused (401)
        ├── NotFound ············· not_found (404)
        ├── NoSessionKey ········· session_key_missing (409)
        ├── UnsupportedImage ····· unsupported_image (415)
        ├── Throttled ············ rate_limited (429, retryable)
        └── NotReady ············· not_ready (503, retryable)

Messages never contain a session_key, an AppSecret, a token or a key: the code that raises is
responsible for that; ``tests/wechat/test_client.py`` and ``tests/api/test_secrets.py`` scan
the reprs, messages, log lines and response bodies of whole flows for them.
"""

from __future__ import annotations

import re
import time
from typing import ClassVar

__all__ = [
    "ApiUnauthorized",
    "AuthenticationError",
    "BadAppCredentials",
    "BadUpstreamResponse",
    "CodeUsed",
    "ConfigurationError",
    "CryptoError",
    "InvalidArgs",
    "InvalidCode",
    "InvalidCredential",
    "InvalidOpenid",
    "InvalidRequest",
    "InvalidSignature",
    "InvalidToken",
    "InvalidTrade",
    "MalformedEncryptedData",
    "MissingCode",
    "NoSessionKey",
    "NotFound",
    "NotReady",
    "OpenAccountMissing",
    "QuotaExceeded",
    "RateLimited",
    "RefreshReused",
    "RiskControl",
    "ServiceError",
    "SessionKeyMissing",
    "SessionRevoked",
    "SignatureMismatch",
    "StaleSessionKey",
    "Throttled",
    "TokenExpired",
    "UnknownApp",
    "UnknownWeChatError",
    "UnsupportedImage",
    "UpstreamBusy",
    "UpstreamError",
    "UpstreamMisconfigured",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "UserBlocked",
    "WatermarkMismatch",
    "WeChatError",
    "WxLoginError",
    "error_for_errcode",
]


class WxLoginError(Exception):
    """Base of every wxlogin error.

    ``code`` is the stable machine-readable name shown to API clients; ``message`` is a
    human sentence. Subclasses set the class-level defaults.
    """

    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500
    # An instance attribute, not a ClassVar: a few errors decide it per occurrence.
    retryable: bool = False
    default_message: ClassVar[str] = "internal error"

    def __init__(self, message: str | None = None, *, retry_after: float | None = None) -> None:
        self.message = message or self.default_message
        self.retry_after = retry_after
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigurationError(WxLoginError):
    """wxlogin is set up wrongly (missing secret, placeholder key in production, ...)."""

    code = "misconfigured"
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
    code = "wechat_error"
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
    code = "invalid_code"
    http_status = 400
    default_message = "the code is invalid, expired, or was issued for another app"


class CodeUsed(WeChatError):
    errcodes = (40163,)
    code = "code_used"
    http_status = 400
    default_message = "the code has already been used; call wx.login again"


class UserBlocked(WeChatError):
    errcodes = (40226,)
    code = "user_blocked"
    http_status = 403
    default_message = "WeChat refused to log in this user (high-risk account)"


class RateLimited(WeChatError):
    errcodes = (45011,)
    code = "rate_limited"
    http_status = 429
    retryable = True
    default_message = "WeChat rate limit reached for this user; retry next minute"
    default_retry_after = 60.0


class QuotaExceeded(WeChatError):
    """45009: a daily quota is used up; WeChat resets it at midnight, Beijing time."""

    errcodes = (45009,)
    code = "quota_exceeded"
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
    code = "upstream_busy"
    http_status = 503
    retryable = True
    default_message = "WeChat is busy; retry later"
    default_retry_after = 1.0


class InvalidCredential(WeChatError):
    """The access_token we sent was superseded, malformed, expired or missing."""

    errcodes = (40001, 40014, 42001, 41001)
    code = "upstream_credential"
    http_status = 502
    retryable = True
    default_message = "WeChat rejected the access_token"


class BadAppCredentials(WeChatError):
    """The appid or AppSecret configured for this app is wrong or missing."""

    errcodes = (40013, 40125, 41002, 41004)
    code = "misconfigured"
    http_status = 500
    default_message = "WeChat rejected the app's appid or AppSecret"


class UpstreamMisconfigured(WeChatError):
    """WeChat says our request is wrong in a way only a deployment change fixes."""

    errcodes = (40002, 40164, 43002, 87008)
    code = "misconfigured"
    http_status = 500
    default_message = "WeChat rejected the request as misconfigured (grant type, IP allow-list)"


class MissingCode(WeChatError):
    errcodes = (41008,)
    code = "missing_code"
    http_status = 400
    default_message = "no code was sent"


class InvalidArgs(WeChatError):
    errcodes = (40097,)
    code = "invalid_request"
    http_status = 400
    default_message = "WeChat rejected the arguments"


class RiskControl(WeChatError):
    errcodes = (89503,)
    code = "risk_control"
    http_status = 403
    default_message = "WeChat risk control refused the call"


class ApiUnauthorized(WeChatError):
    errcodes = (48001,)
    code = "api_unauthorized"
    http_status = 403
    default_message = "this app is not authorised for the WeChat API it called"


class InvalidSignature(WeChatError):
    """87009: the session_key signature did not verify (the key is stale, rotated or unknown)."""

    errcodes = (87009,)
    code = "invalid_signature"
    http_status = 400
    default_message = "WeChat did not accept the session_key signature"


class SessionKeyMissing(WeChatError):
    errcodes = (87007,)
    code = "session_key_expired"
    http_status = 409
    default_message = "WeChat has no valid session_key for this user; call wx.login again"


class InvalidOpenid(WeChatError):
    errcodes = (40003,)
    code = "invalid_openid"
    http_status = 400
    default_message = "WeChat does not know this openid"


class OpenAccountMissing(WeChatError):
    errcodes = (89002,)
    code = "open_account_missing"
    http_status = 400
    default_message = "the app is not bound to an Open Platform account"


class InvalidTrade(WeChatError):
    errcodes = (89300,)
    code = "invalid_trade"
    http_status = 400
    default_message = "WeChat does not know this payment, or it is too old"


class UnknownWeChatError(WeChatError):
    """An errcode wxlogin has no specific class for; errcode and errmsg are kept."""

    code = "wechat_error"
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
        SessionKeyMissing,
        InvalidOpenid,
        OpenAccountMissing,
        InvalidTrade,
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


# --------------------------------------------------------------------------- transport


class UpstreamError(WxLoginError):
    """No usable answer from WeChat. ``request_sent`` tells whether it may have been acted on."""

    code = "upstream_error"
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
    code = "upstream_timeout"
    http_status = 504
    retryable = True
    default_message = "WeChat did not answer in time"


class UpstreamUnavailable(UpstreamError):
    code = "upstream_unavailable"
    http_status = 503
    retryable = True
    default_message = "WeChat could not be reached"


class BadUpstreamResponse(UpstreamError):
    code = "bad_upstream_response"
    http_status = 502
    default_message = "WeChat answered with something that is not the expected JSON"

    def __init__(self, message: str | None = None, *, status: int = 200) -> None:
        self.status = status
        super().__init__(message, request_sent=True)
        # A 5xx from a gateway in front of WeChat is worth another try; a garbled 200 is not.
        self.retryable = status >= 500


# --------------------------------------------------------------------------- crypto


class CryptoError(WxLoginError):
    code = "crypto_error"
    http_status = 400
    default_message = "the signed or encrypted data could not be verified"


class MalformedEncryptedData(CryptoError):
    """The session_key, iv or encryptedData is not valid base64 of the right length."""

    code = "malformed_encrypted_data"
    default_message = "encryptedData, iv or session_key is malformed"


class StaleSessionKey(CryptoError):
    """Decryption produced garbage: almost always a session_key rotated by a later wx.login."""

    code = "session_key_stale"
    http_status = 409
    default_message = (
        "decryption failed: the session_key is probably stale — "
        "was wx.login called after the data was fetched?"
    )


class WatermarkMismatch(CryptoError):
    code = "watermark_mismatch"
    default_message = "the data was encrypted for another app (watermark appid mismatch)"


class SignatureMismatch(CryptoError):
    code = "invalid_signature"
    default_message = "the rawData signature does not match"


# --------------------------------------------------------------------------- service


class ServiceError(WxLoginError):
    code = "service_error"


class InvalidRequest(ServiceError):
    code = "invalid_request"
    http_status = 400
    default_message = "the request is invalid"


class UnknownApp(ServiceError):
    code = "unknown_app"
    http_status = 400
    default_message = "this appid is not configured on this server"


class AuthenticationError(ServiceError):
    code = "unauthorized"
    http_status = 401
    default_message = "authentication required"


class InvalidToken(AuthenticationError):
    code = "invalid_token"
    default_message = "the token is invalid"


class TokenExpired(AuthenticationError):
    code = "token_expired"
    default_message = "the token has expired"


class SessionRevoked(AuthenticationError):
    code = "session_revoked"
    default_message = "the session has been revoked; log in again"


class RefreshReused(AuthenticationError):
    code = "refresh_reused"
    default_message = "this refresh token was already used; the session has been revoked"


class NotFound(ServiceError):
    code = "not_found"
    http_status = 404
    default_message = "not found"


class NoSessionKey(ServiceError):
    code = "session_key_missing"
    http_status = 409
    default_message = "no session_key is stored for this session; call wx.login again"


class UnsupportedImage(ServiceError):
    """An upload whose bytes are not a JPEG, PNG or WebP image.

    Judged by the bytes alone (their magic numbers): the file name and the declared content
    type are the client's say-so and are never looked at.
    """

    code = "unsupported_image"
    http_status = 415
    default_message = "the file is not a JPEG, PNG or WebP image"


class Throttled(ServiceError):
    code = "rate_limited"
    http_status = 429
    retryable = True
    default_message = "too many requests; slow down"


class NotReady(ServiceError):
    code = "not_ready"
    http_status = 503
    retryable = True
    default_message = "the service is not ready"

"""The ``WeChatError`` branch of the error tree: one class per meaning of WeChat's ``errcode``
(each lists the codes it stands for), and ``error_for_errcode``, the table from errcode to class.

Apart from the other branches because it follows WeChat's server API (its errcodes, its
``rid``); the table sits with the classes it is built from. Import from ``wxlogin.errors``.
"""

from __future__ import annotations

import re
import time
from typing import ClassVar

from wxlogin.errors._base import ErrorCode, WxLoginError

__all__ = [
    "ApiUnauthorized",
    "BadAppCredentials",
    "CodeUsed",
    "InvalidArgs",
    "InvalidCode",
    "InvalidCredential",
    "InvalidMessageData",
    "InvalidOpenid",
    "InvalidSignature",
    "InvalidTemplate",
    "InvalidTrade",
    "MissingCode",
    "NotSubscribed",
    "OpenAccountMissing",
    "QuotaExceeded",
    "RateLimited",
    "RiskControl",
    "SessionKeyExpired",
    "UnknownWeChatError",
    "UpstreamBusy",
    "UpstreamMisconfigured",
    "UserBlocked",
    "WeChatError",
    "error_for_errcode",
    "parse_rid",
]


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

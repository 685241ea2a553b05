"""Facts of the WeChat server API, shared by the client and the simulator.

Only data lives here — paths, errcodes, WeChat's own errmsg texts, identifier shapes — so the
simulator can speak the protocol without importing the client, and a bug in one cannot hide
in the other.
"""

from __future__ import annotations

import re
from enum import IntEnum, StrEnum
from typing import Final

DEFAULT_BASE_URL: Final = "https://api.weixin.qq.com"

# Paths.
CODE2SESSION: Final = "/sns/jscode2session"
TOKEN: Final = "/cgi-bin/token"
STABLE_TOKEN: Final = "/cgi-bin/stable_token"
CHECK_SESSION: Final = "/wxa/checksession"
RESET_SESSION_KEY: Final = "/wxa/resetusersessionkey"
PHONE_NUMBER: Final = "/wxa/business/getuserphonenumber"
PAID_UNIONID: Final = "/wxa/getpaidunionid"
SUBSCRIBE_SEND: Final = "/cgi-bin/message/subscribe/send"

# Content types as WeChat sends them. jscode2session says text/plain for a JSON body.
CODE2SESSION_CONTENT_TYPE: Final = "text/plain"
JSON_CONTENT_TYPE: Final = "application/json; encoding=utf-8"

SIG_METHOD: Final = "hmac_sha256"

# Lifetimes and limits, in seconds unless named otherwise.
CODE_TTL: Final = 300
PHONE_CODE_TTL: Final = 300
ACCESS_TOKEN_TTL: Final = 7200
SUPERSEDED_TOKEN_GRACE: Final = 300  # an old token keeps working this long after a new one
STABLE_TOKEN_ROLL_WINDOW: Final = 300  # stable_token rolls to a new token inside this window
CODE2SESSION_PER_USER_PER_MINUTE: Final = 100
PAID_UNIONID_WINDOW: Final = 300
TOKEN_DAILY_QUOTA: Final = 2000  # successful /cgi-bin/token calls per app per day
STABLE_TOKEN_FORCE_REFRESH_DAILY: Final = 20  # force_refresh stable_token calls per day
STABLE_TOKEN_FORCE_REFRESH_INTERVAL: Final = 30  # closer force_refreshes do not refresh


class ErrCode(IntEnum):
    """Every errcode wxlogin knows, named after what it means."""

    OK = 0
    SYSTEM_BUSY = -1
    INVALID_CREDENTIAL = 40001  # access_token superseded or another app's
    INVALID_GRANT_TYPE = 40002
    INVALID_OPENID = 40003  # subscribe/send: touser empty or not a user of this app
    INVALID_APPID = 40013  # on getuserphonenumber: phone code from another app
    INVALID_ACCESS_TOKEN = 40014  # malformed
    INVALID_CODE = 40029
    INVALID_TEMPLATE_ID = 40037  # subscribe/send: no such template in this app
    INVALID_ARGS = 40097
    INVALID_APPSECRET = 40125
    CODE_USED = 40163
    IP_NOT_WHITELISTED = 40164
    CODE_BLOCKED = 40226
    ACCESS_TOKEN_MISSING = 41001
    APPID_MISSING = 41002
    APPSECRET_MISSING = 41004
    CODE_MISSING = 41008
    ACCESS_TOKEN_EXPIRED = 42001
    REQUIRE_POST = 43002
    SUBSCRIPTION_REFUSED = 43101  # subscribe/send: no accept left (refused, or used up)
    DAILY_QUOTA = 45009
    MINUTE_QUOTA = 45011
    DATA_FORMAT_ERROR = 47001  # a POST body that is not the JSON the endpoint wants
    INVALID_TEMPLATE_DATA = 47003  # subscribe/send: a value breaks its field's rule
    API_UNAUTHORIZED = 48001
    SESSION_KEY_MISSING = 87007
    INVALID_SIG_METHOD = 87008
    INVALID_SIGNATURE = 87009
    OPEN_ACCOUNT_MISSING = 89002
    INVALID_TRADE = 89300
    RISK_CONTROL = 89503


# The English part of WeChat's errmsg for each code; WeChat appends ", rid: ..." to it.
ERRMSG: Final[dict[int, str]] = {
    ErrCode.OK: "ok",
    ErrCode.SYSTEM_BUSY: "system error",
    ErrCode.INVALID_CREDENTIAL: ("invalid credential, access_token is invalid or not latest"),
    ErrCode.INVALID_GRANT_TYPE: "invalid grant_type",
    ErrCode.INVALID_OPENID: "invalid openid",
    ErrCode.INVALID_APPID: "invalid appid",
    ErrCode.INVALID_ACCESS_TOKEN: "invalid access_token",
    ErrCode.INVALID_CODE: "invalid code",
    ErrCode.INVALID_TEMPLATE_ID: "invalid template_id",
    ErrCode.INVALID_ARGS: "invalid args",
    ErrCode.INVALID_APPSECRET: "invalid appsecret",
    ErrCode.CODE_USED: "code been used",
    ErrCode.IP_NOT_WHITELISTED: "invalid ip, not in whitelist",
    ErrCode.CODE_BLOCKED: "code blocked",
    ErrCode.ACCESS_TOKEN_MISSING: "access_token missing",
    ErrCode.APPID_MISSING: "appid missing",
    ErrCode.APPSECRET_MISSING: "appsecret missing",
    ErrCode.CODE_MISSING: "missing code",
    ErrCode.ACCESS_TOKEN_EXPIRED: "access_token expired",
    ErrCode.REQUIRE_POST: "require POST method",
    ErrCode.SUBSCRIPTION_REFUSED: "user refuse to accept the msg",
    ErrCode.DAILY_QUOTA: "reach max api daily quota limit",
    ErrCode.MINUTE_QUOTA: "api minute-quota reach limit, must slower, retry next minute",
    ErrCode.DATA_FORMAT_ERROR: "data format error",
    # WeChat names the field after it: "argument invalid! data.thing1.value invalid".
    ErrCode.INVALID_TEMPLATE_DATA: "argument invalid!",
    ErrCode.API_UNAUTHORIZED: "api unauthorized",
    ErrCode.SESSION_KEY_MISSING: "session_key is not existd or expired",
    ErrCode.INVALID_SIG_METHOD: "invalid sig_method",
    ErrCode.INVALID_SIGNATURE: "invalid signature",
    ErrCode.OPEN_ACCOUNT_MISSING: "open not exists",
    ErrCode.INVALID_TRADE: "invalid trade",
    ErrCode.RISK_CONTROL: "risk control",
}

# Identifier shapes (see shared/wechat-api.md).
OPENID_RE: Final = re.compile(r"^o[A-Za-z0-9_-]{27}$")
LOGIN_CODE_RE: Final = re.compile(r"^[A-Za-z0-9_-]{32}$")
PHONE_CODE_RE: Final = re.compile(r"^[0-9a-f]{64}$")
SESSION_KEY_LENGTH: Final = 24  # base64 of 16 bytes
ACCESS_TOKEN_MAX_LENGTH: Final = 512

# What the client accepts in WeChat's answers, which are untrusted input like any other. The
# documented shapes, with room to grow where WeChat could change a length without notice (an
# openid of 30 characters tomorrow must not lock every user out), never room for garbage: an
# object, a number, a 100,000-character string, control characters, non-ASCII where a key
# has to be ASCII.
ANSWER_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")  # openid, unionid, appid
ANSWER_SESSION_KEY_RE: Final = re.compile(r"[A-Za-z0-9+/]{22}==")  # base64 of 16 bytes
# Printable ASCII, no spaces: nothing that could split a query string or a log line.
ANSWER_ACCESS_TOKEN_RE: Final = re.compile(rf"[!-~]{{1,{ACCESS_TOKEN_MAX_LENGTH}}}")
ANSWER_PHONE_RE: Final = re.compile(r"\+?[0-9][0-9 -]{2,31}")  # "13800138000", "+1 4155550100"
ANSWER_PURE_PHONE_RE: Final = re.compile(r"[0-9]{3,20}")
ANSWER_COUNTRY_CODE_RE: Final = re.compile(r"[0-9]{1,6}")

# What wx.getUserInfo has returned since 2021/2022 instead of the real profile: a placeholder
# that must never overwrite a nickname or avatar the user chose.
ANONYMOUS_NICKNAME: Final = "微信用户"
ANONYMOUS_AVATAR: Final = (
    "https://thirdwx.qlogo.cn/mmopen/vi_32/POgEwh4mIHO4nibH0KlMECNjjGxQUq24ZEaGT4poC6icRiccVGKSy"
    "XwibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg/132"
)


# --------------------------------------------------------------------------- subscribe messages
# Facts of POST /cgi-bin/message/subscribe/send and wx.requestSubscribeMessage. Both sides read
# them; each side checks values with code of its own (wxlogin.wechat.subscribe for the client,
# wxlogin.simulator.subscribe for the simulator), so a misreading in one shows up against the
# other in the tests.

# A template's keywords are named after their kind and a number: "thing1", "character_string2".
TEMPLATE_KEY_RE: Final = re.compile(r"[a-z]+(?:_[a-z]+)*[0-9]+")
# Template ids as WeChat issues them are 43 characters of base64url; room to grow, no garbage.
TEMPLATE_ID_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,128}")
SUBSCRIBE_MAX_TEMPLATES_PER_REQUEST: Final = 5  # wx.requestSubscribeMessage's tmplIds
MINIPROGRAM_STATES: Final = ("developer", "trial", "formal")
SUBSCRIBE_LANGS: Final = ("zh_CN", "en_US", "zh_HK", "zh_TW")
SUBSCRIBE_RESULTS: Final = ("accept", "reject", "ban", "filter")  # the dialog's per-id answer


class FieldKind(StrEnum):
    """The kind of a template keyword, the part of its name before the number."""

    THING = "thing"
    NUMBER = "number"
    LETTER = "letter"
    SYMBOL = "symbol"
    CHARACTER_STRING = "character_string"
    TIME = "time"
    DATE = "date"
    AMOUNT = "amount"
    PHONE_NUMBER = "phone_number"
    CAR_NUMBER = "car_number"
    NAME = "name"
    PHRASE = "phrase"
    ENUM = "enum"


# WeChat's rule for each kind, as its documentation states it (subscribeMessage.send, "参数值
# 内容限制说明"): the longest value in characters, and what the value may be made of. Lengths
# count Unicode characters, not bytes. ``None``: WeChat states no length of its own.
FIELD_MAX_LENGTH: Final[dict[FieldKind, int | None]] = {
    FieldKind.THING: 20,
    FieldKind.NUMBER: 32,
    FieldKind.LETTER: 32,
    FieldKind.SYMBOL: 5,
    FieldKind.CHARACTER_STRING: 32,
    FieldKind.TIME: None,  # a format, not a length
    FieldKind.DATE: None,
    FieldKind.AMOUNT: None,  # one currency sign, at most 10 digits, maybe "元"
    FieldKind.PHONE_NUMBER: 17,
    FieldKind.CAR_NUMBER: 8,
    FieldKind.NAME: 20,  # 10 when it holds Chinese characters
    FieldKind.PHRASE: 5,
    FieldKind.ENUM: None,  # one of the values WeChat lists for the template
}
NAME_MAX_CHINESE: Final = 10
AMOUNT_MAX_DIGITS: Final = 10
FIELD_RULES: Final[dict[FieldKind, str]] = {
    FieldKind.THING: "at most 20 characters: Chinese, letters, digits or symbols",
    FieldKind.NUMBER: "at most 32 characters: digits, with a decimal part if needed",
    FieldKind.LETTER: "at most 32 letters",
    FieldKind.SYMBOL: "at most 5 symbols",
    FieldKind.CHARACTER_STRING: "at most 32 characters: letters, digits or symbols",
    FieldKind.TIME: "a 24-hour time, with a date before it if wanted, e.g. 15:01 or "
    "2019年10月1日 15:01; two of them joined by ~ for a span",
    FieldKind.DATE: "a date, with a 24-hour time after it if wanted, e.g. 2019年10月1日 or "
    "2019-10-01 15:01; two of them joined by ~ for a span",
    FieldKind.AMOUNT: "an optional currency sign, at most 10 digits with a decimal part if "
    "needed, and 元 at the end if wanted, e.g. ¥8.80 or 100元",
    FieldKind.PHONE_NUMBER: "at most 17 characters: digits and symbols, e.g. +86-0766-66888866",
    FieldKind.CAR_NUMBER: "at most 8 characters: letters and digits, the first and last may be "
    "Chinese, e.g. 粤A8Z888挂",
    FieldKind.NAME: "at most 10 Chinese characters, or at most 20 letters and symbols",
    FieldKind.PHRASE: "at most 5 Chinese characters, nothing else",
    FieldKind.ENUM: "one of the values WeChat lists for this keyword",
}

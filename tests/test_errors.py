"""The error tree: every WeChat errcode in shared/wechat-api.md maps to a specific class."""

from __future__ import annotations

import pytest

from wxlogin import errors
from wxlogin.errors import error_for_errcode

# (errcode, class, http_status, retryable, stable code) — one row per errcode in the spec.
SPEC_ERRCODES = [
    (40029, errors.InvalidCode, 400, False, "invalid_code"),
    (40163, errors.CodeUsed, 400, False, "code_used"),
    (45011, errors.RateLimited, 429, True, "wechat_rate_limited"),
    (40226, errors.UserBlocked, 403, False, "user_blocked"),
    (-1, errors.UpstreamBusy, 503, True, "upstream_busy"),
    (40013, errors.BadAppCredentials, 500, False, "bad_app_credentials"),
    (40125, errors.BadAppCredentials, 500, False, "bad_app_credentials"),
    (41002, errors.BadAppCredentials, 500, False, "bad_app_credentials"),
    (41004, errors.BadAppCredentials, 500, False, "bad_app_credentials"),
    (41008, errors.MissingCode, 400, False, "missing_code"),
    (45009, errors.QuotaExceeded, 503, True, "quota_exceeded"),
    (43002, errors.UpstreamMisconfigured, 500, False, "wechat_misconfigured"),
    (40001, errors.InvalidCredential, 502, True, "upstream_credential"),
    (40014, errors.InvalidCredential, 502, True, "upstream_credential"),
    (42001, errors.InvalidCredential, 502, True, "upstream_credential"),
    (41001, errors.InvalidCredential, 502, True, "upstream_credential"),
    (40164, errors.UpstreamMisconfigured, 500, False, "wechat_misconfigured"),
    (40002, errors.UpstreamMisconfigured, 500, False, "wechat_misconfigured"),
    (89503, errors.RiskControl, 403, False, "risk_control"),
    (87009, errors.InvalidSignature, 400, False, "session_signature_rejected"),
    (40097, errors.InvalidArgs, 400, False, "wechat_invalid_args"),
    (87007, errors.SessionKeyExpired, 409, False, "session_key_expired"),
    (87008, errors.UpstreamMisconfigured, 500, False, "wechat_misconfigured"),
    (48001, errors.ApiUnauthorized, 403, False, "api_unauthorized"),
    (40003, errors.InvalidOpenid, 400, False, "invalid_openid"),
    (89002, errors.OpenAccountMissing, 400, False, "open_account_missing"),
    (89300, errors.InvalidTrade, 400, False, "invalid_trade"),
    (43101, errors.NotSubscribed, 403, False, "not_subscribed"),
    (47003, errors.InvalidMessageData, 400, False, "invalid_message_data"),
    (40037, errors.InvalidTemplate, 400, False, "invalid_template"),
]


@pytest.mark.parametrize(("errcode", "cls", "status", "retryable", "code"), SPEC_ERRCODES)
def test_errcode_maps_to_specific_class(
    errcode: int, cls: type[errors.WeChatError], status: int, retryable: bool, code: str
) -> None:
    exc = error_for_errcode(errcode, "whatever, rid: 66c69111-4157f271-729ca238")
    assert type(exc) is cls
    assert exc.errcode == errcode
    assert exc.http_status == status
    assert exc.retryable is retryable
    assert exc.code == code
    assert exc.rid == "66c69111-4157f271-729ca238"


def test_unknown_errcode_keeps_errcode_and_errmsg() -> None:
    exc = error_for_errcode(61451, "invalid parameter, rid: 0000000a-0000000b-0000000c")
    assert type(exc) is errors.UnknownWeChatError
    assert exc.errcode == 61451
    assert exc.errmsg == "invalid parameter, rid: 0000000a-0000000b-0000000c"
    assert exc.http_status == 502


def test_rid_is_found_with_or_without_comma() -> None:
    exc = error_for_errcode(40029, "invalid code hint: [abcd] rid: 66c69111-4157f271-729ca238")
    assert exc.rid == "66c69111-4157f271-729ca238"
    assert error_for_errcode(40029, "invalid code").rid is None


def test_endpoint_override_gives_errcode_another_meaning() -> None:
    exc = error_for_errcode(40013, "invalid appid", overrides={40013: errors.InvalidCode})
    assert type(exc) is errors.InvalidCode


def test_retryable_errors_suggest_a_delay() -> None:
    assert error_for_errcode(45011).retry_after == 60.0
    assert error_for_errcode(-1).retry_after == 1.0
    assert error_for_errcode(40029).retry_after is None


def test_every_error_class_is_exported_and_documented_in_the_tree() -> None:
    doc = errors.__doc__ or ""
    classes = [
        obj
        for obj in vars(errors).values()
        if isinstance(obj, type) and issubclass(obj, errors.WxLoginError)
    ]
    for cls in classes:
        assert cls.__name__ in errors.__all__, cls
        assert cls.__name__ in doc, f"{cls.__name__} is missing from the tree in the docstring"
        assert cls.code and 100 <= cls.http_status < 600


def test_bad_upstream_response_is_retryable_only_for_5xx() -> None:
    assert errors.BadUpstreamResponse(status=502).retryable
    assert not errors.BadUpstreamResponse(status=200).retryable


def test_daily_quota_is_retried_after_beijing_midnight() -> None:
    from wxlogin.errors import _seconds_to_beijing_midnight

    assert _seconds_to_beijing_midnight(0) == 16 * 3600  # 1970-01-01 08:00 in Beijing
    assert _seconds_to_beijing_midnight(16 * 3600 - 1) == 1
    assert 0 < (error_for_errcode(45009).retry_after or 0) <= 86400


# ------------------------------------------------------------------------ the one list of codes


def _tree(root: type[errors.WxLoginError]) -> list[type[errors.WxLoginError]]:
    return [root, *(cls for sub in root.__subclasses__() for cls in _tree(sub))]


def _every_class() -> list[type[errors.WxLoginError]]:
    # The HTTP layer's own refusals (body too large, ...) are part of the tree too.
    import wxlogin.api.errors  # noqa: F401

    return _tree(errors.WxLoginError)


# The one code two classes give on purpose: the same refused value, whichever side saw it first.
SAME_MEANING = {
    errors.ErrorCode.INVALID_MESSAGE_DATA: {"InvalidMessageData", "MessageDataRejected"},
}
# Answered only by a FastAPI host's own HTTPException: no class of ours stands for it.
NOT_A_CLASS = {errors.ErrorCode.HTTP_ERROR}


def test_every_code_is_a_member_of_error_code() -> None:
    for cls in _every_class():
        assert type(cls.code) is errors.ErrorCode, cls


def test_each_code_has_one_meaning() -> None:
    """A code is set by one class; its subclasses that keep it are kinds of the same thing."""
    declared: dict[errors.ErrorCode, set[str]] = {}
    for cls in _every_class():
        if "code" in vars(cls):
            declared.setdefault(cls.code, set()).add(cls.__name__)
    shared = {code: names for code, names in declared.items() if len(names) > 1}
    assert shared == SAME_MEANING
    # ... and every code of the list is some class's, but for the host's own.
    assert set(errors.ErrorCode) - set(declared) == NOT_A_CLASS


def test_one_code_one_status() -> None:
    statuses: dict[errors.ErrorCode, set[int]] = {}
    for cls in _every_class():
        statuses.setdefault(cls.code, set()).add(cls.http_status)
    assert {code: s for code, s in statuses.items() if len(s) > 1} == {}


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        # The five codes that used to be shared, each split into one per meaning.
        (errors.InvalidSignature, "session_signature_rejected"),  # WeChat's 87009
        (errors.SignatureMismatch, "invalid_signature"),  # the rawData signature
        (errors.InvalidArgs, "wechat_invalid_args"),  # WeChat's 40097
        (errors.InvalidRequest, "invalid_request"),  # the client's request
        (errors.RateLimited, "wechat_rate_limited"),  # WeChat's 45011, per user
        (errors.Throttled, "rate_limited"),  # our own limits
        (errors.ConfigurationError, "misconfigured"),  # our settings
        (errors.BadAppCredentials, "bad_app_credentials"),
        (errors.UpstreamMisconfigured, "wechat_misconfigured"),
        (errors.PaySignatureRejected, "pay_signature_rejected"),
        (errors.PayMisconfigured, "pay_misconfigured"),
        (errors.InvalidPayKey, "invalid_pay_key"),
        (errors.WeChatError, "wechat_error"),
        (errors.UnknownWeChatError, "wechat_error"),  # inherited: the generic WeChat refusal
        # Class names and codes agree about the session_key.
        (errors.SessionKeyExpired, "session_key_expired"),  # WeChat's 87007
        (errors.NoSessionKey, "session_key_missing"),  # none stored with this session
    ],
)
def test_the_renamed_and_split_codes(cls: type[errors.WxLoginError], code: str) -> None:
    assert cls.code == code


def test_errors_only_an_operator_can_fix_are_marked() -> None:
    marked = {cls.__name__ for cls in _every_class() if cls.needs_operator}
    assert marked == {
        "ConfigurationError",
        "BadAppCredentials",
        "UpstreamMisconfigured",
        "PaySignatureRejected",
        "PayMisconfigured",
        "InvalidPayKey",
    }
    assert all(cls.http_status == 500 for cls in _every_class() if cls.needs_operator)

"""The error tree: every WeChat errcode in shared/wechat-api.md maps to a specific class."""

from __future__ import annotations

import pytest

from wxlogin import errors
from wxlogin.errors import error_for_errcode

# (errcode, class, http_status, retryable, stable code) — one row per errcode in the spec.
SPEC_ERRCODES = [
    (40029, errors.InvalidCode, 400, False, "invalid_code"),
    (40163, errors.CodeUsed, 400, False, "code_used"),
    (45011, errors.RateLimited, 429, True, "rate_limited"),
    (40226, errors.UserBlocked, 403, False, "user_blocked"),
    (-1, errors.UpstreamBusy, 503, True, "upstream_busy"),
    (40013, errors.BadAppCredentials, 500, False, "misconfigured"),
    (40125, errors.BadAppCredentials, 500, False, "misconfigured"),
    (41002, errors.BadAppCredentials, 500, False, "misconfigured"),
    (41004, errors.BadAppCredentials, 500, False, "misconfigured"),
    (41008, errors.MissingCode, 400, False, "missing_code"),
    (45009, errors.QuotaExceeded, 503, True, "quota_exceeded"),
    (43002, errors.UpstreamMisconfigured, 500, False, "misconfigured"),
    (40001, errors.InvalidCredential, 502, True, "upstream_credential"),
    (40014, errors.InvalidCredential, 502, True, "upstream_credential"),
    (42001, errors.InvalidCredential, 502, True, "upstream_credential"),
    (41001, errors.InvalidCredential, 502, True, "upstream_credential"),
    (40164, errors.UpstreamMisconfigured, 500, False, "misconfigured"),
    (40002, errors.UpstreamMisconfigured, 500, False, "misconfigured"),
    (89503, errors.RiskControl, 403, False, "risk_control"),
    (87009, errors.InvalidSignature, 400, False, "invalid_signature"),
    (40097, errors.InvalidArgs, 400, False, "invalid_request"),
    (87007, errors.SessionKeyMissing, 409, False, "session_key_expired"),
    (87008, errors.UpstreamMisconfigured, 500, False, "misconfigured"),
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

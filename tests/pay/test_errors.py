"""Every WeChat Pay error code maps to its class, with wxlogin's status and retryability."""

from __future__ import annotations

import pytest

from wxlogin import errors
from wxlogin.errors import error_for_pay_code
from wxlogin.pay import protocol as wxpay

# (code, class, wxlogin's status, retryable, stable code) — one row per code wxlogin knows.
PAY_CODES = [
    ("PARAM_ERROR", errors.PayInvalidRequest, 400, False, "pay_invalid_request"),
    ("INVALID_REQUEST", errors.PayInvalidRequest, 400, False, "pay_invalid_request"),
    ("SIGN_ERROR", errors.PaySignatureRejected, 500, False, "pay_signature_rejected"),
    ("NO_AUTH", errors.PayNotAuthorized, 403, False, "pay_not_authorized"),
    ("APPID_MCHID_NOT_MATCH", errors.PayMisconfigured, 500, False, "pay_misconfigured"),
    ("MCH_NOT_EXISTS", errors.PayMisconfigured, 500, False, "pay_misconfigured"),
    ("ORDER_NOT_EXIST", errors.PayOrderNotFound, 404, False, "pay_not_found"),
    ("RESOURCE_NOT_EXISTS", errors.PayOrderNotFound, 404, False, "pay_not_found"),
    ("NOT_FOUND", errors.PayOrderNotFound, 404, False, "pay_not_found"),
    ("OUT_TRADE_NO_USED", errors.OutTradeNoUsed, 409, False, "out_trade_no_used"),
    ("ORDERPAID", errors.OrderAlreadyPaid, 409, False, "order_paid"),
    ("ORDER_CLOSED", errors.OrderClosed, 409, False, "order_closed"),
    ("NOT_ENOUGH", errors.RefundNotEnough, 409, False, "refund_not_enough"),
    ("TRADE_ERROR", errors.PayTradeRefused, 403, False, "pay_refused"),
    ("RULE_LIMIT", errors.PayTradeRefused, 403, False, "pay_refused"),
    ("ACCOUNT_ERROR", errors.PayTradeRefused, 403, False, "pay_refused"),
    ("USER_ACCOUNT_ABNORMAL", errors.PayTradeRefused, 403, False, "pay_refused"),
    ("RATELIMIT_EXCEEDED", errors.PayRateLimited, 429, True, "pay_rate_limited"),
    ("FREQUENCY_LIMITED", errors.PayRateLimited, 429, True, "pay_rate_limited"),
    ("SYSTEM_ERROR", errors.PaySystemError, 503, True, "pay_upstream_busy"),
    ("BANK_ERROR", errors.PaySystemError, 503, True, "pay_upstream_busy"),
]


@pytest.mark.parametrize(("pay_code", "cls", "status", "retryable", "code"), PAY_CODES)
def test_pay_code_maps_to_its_class(
    pay_code: str, cls: type[errors.PayApiError], status: int, retryable: bool, code: str
) -> None:
    wire_status = wxpay.ERROR_STATUS.get(pay_code, 400)
    exc = error_for_pay_code(pay_code, status=wire_status, request_id="08F1E6A9")
    assert type(exc) is cls
    assert isinstance(exc, errors.PayError)
    assert (exc.pay_code, exc.status, exc.request_id) == (pay_code, wire_status, "08F1E6A9")
    assert exc.http_status == status and exc.retryable is retryable and exc.code == code
    assert pay_code in exc.message


def test_every_code_the_wire_facts_name_has_a_class() -> None:
    known = {row[0] for row in PAY_CODES}
    assert set(wxpay.ERROR_STATUS) <= known


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (403, False), (500, True)])
def test_an_unknown_code_is_kept_and_retryable_only_on_5xx(status: int, retryable: bool) -> None:
    exc = error_for_pay_code("SOMETHING_NEW", status=status, pay_message="新错误")
    assert type(exc) is errors.UnknownPayError
    assert exc.pay_code == "SOMETHING_NEW" and exc.pay_message == "新错误"
    assert exc.retryable is retryable and exc.http_status == 502


def test_the_message_names_the_field_but_not_wechat_pays_text() -> None:
    exc = error_for_pay_code("PARAM_ERROR", pay_message="openid oSecret123 无效", field="payer")
    assert "payer" in exc.message and "oSecret123" not in exc.message
    assert "oSecret123" not in repr(exc)


def test_untrusted_answer_carries_its_reason() -> None:
    reason = errors.StalePayTimestamp()
    exc = errors.UntrustedPayResponse(reason)
    assert exc.reason is reason and exc.http_status == 502 and not exc.retryable
    assert "StalePayTimestamp" in repr(exc)


def test_verification_refusals_are_4xx_for_the_notifier() -> None:
    for cls in (
        errors.PaySignatureMissing,
        errors.UnknownPaySerial,
        errors.StalePayTimestamp,
        errors.BadPaySignature,
        errors.PaySignatureProbe,
        errors.PayDecryptionFailed,
    ):
        assert issubclass(cls, errors.PayVerificationError)
        assert 400 <= cls.http_status < 500 and not cls.retryable

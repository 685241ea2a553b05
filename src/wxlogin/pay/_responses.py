"""Reading one WeChat Pay answer: verified before parsed, errors mapped to their classes.

A 2xx answer is verified (``UntrustedPayResponse`` otherwise) and its JSON object returned
(``{}`` for a 204). A 4xx/5xx answer carrying a signature is verified too; one without is
still read — WeChat Pay does not sign every error — and raised with ``verified=False``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from wxlogin.errors import (
    BadUpstreamResponse,
    PayVerificationError,
    UntrustedPayResponse,
    WxLoginError,
    error_for_pay_code,
)
from wxlogin.pay import protocol as wxpay
from wxlogin.pay._answers import Reader, parse_object
from wxlogin.pay.merchant import Merchant
from wxlogin.pay.verify import verify_signature
from wxlogin.wechat.transport import HttpResponse

__all__ = ["ANSWER", "read_answer"]

_log = logging.getLogger("wxlogin.pay")
_T = TypeVar("_T")

ANSWER = "WeChat Pay's answer"
_SIGNATURE_HEADER = wxpay.HEADER_SIGNATURE.lower()
_REQUEST_ID_HEADER = wxpay.HEADER_REQUEST_ID.lower()
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9_\-]{1,128}")
_FIELD_RE = re.compile(r"[A-Za-z0-9_./\[\]\-]{1,64}")
# WeChat Pay's own sentence is kept for the operator, bounded; it is never in our message.
_PAY_MESSAGE_MAX = 512


def read_answer(merchant: Merchant, response: HttpResponse, *, now: float) -> dict[str, Any]:
    """The verified JSON object of a 2xx answer; raises for anything else."""
    status = response.status
    if 200 <= status < 300:
        _verified(merchant, response, now)
        if status == 204 or not response.body:
            return {}
        return parse_object(response.body, ANSWER)
    if status < 400:
        raise BadUpstreamResponse(f"WeChat Pay answered HTTP {status}", status=status)
    signed = bool(response.headers.get(_SIGNATURE_HEADER))
    if signed:
        _verified(merchant, response, now)
    raise _error(response, verified=signed)


def _verified(merchant: Merchant, response: HttpResponse, now: float) -> None:
    try:
        verify_signature(merchant, response.headers, response.body, now=now)
    except PayVerificationError as exc:
        _log.warning("WeChat Pay answer refused: %s", type(exc).__name__)
        raise UntrustedPayResponse(exc) from exc


def _error(response: HttpResponse, *, verified: bool) -> WxLoginError:
    status = response.status
    try:
        error = Reader(parse_object(response.body, ANSWER), ANSWER)
        code = error.text("code", wxpay.ERROR_CODE_RE, max_len=64)
    except BadUpstreamResponse:
        # A gateway's page rather than WeChat Pay's error: retryable when it is a 5xx.
        return BadUpstreamResponse(
            f"WeChat Pay answered HTTP {status} without an error code", status=status
        )
    # Beyond the code, an error's parts are a courtesy: a malformed one is dropped.
    message = _tolerated(lambda: error.optional_text("message", max_len=4096)) or ""
    detail = _tolerated(lambda: error.child("detail", required=False))
    field = _tolerated(lambda: detail.optional_text("field", _FIELD_RE)) if detail else None
    request_id = response.headers.get(_REQUEST_ID_HEADER)
    if request_id is not None and _REQUEST_ID_RE.fullmatch(request_id) is None:
        request_id = None
    return error_for_pay_code(
        code,
        status=status,
        pay_message=message[:_PAY_MESSAGE_MAX],
        field=field,
        request_id=request_id,
        verified=verified,
    )


def _tolerated(read: Callable[[], _T]) -> _T | None:
    try:
        return read()
    except BadUpstreamResponse:
        return None

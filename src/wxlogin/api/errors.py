"""The one place errors become HTTP responses.

``{"error": {"code": "invalid_code", "message": "...", "wechat_errcode": 40029}}`` with the
error class's status; ``Retry-After`` when the error is retryable.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from wxlogin.errors import AuthenticationError, WeChatError, WxLoginError

__all__ = ["ERROR_RESPONSES", "error_response", "install_error_handlers"]

_log = logging.getLogger("wxlogin.api")


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    wechat_errcode: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, object] = {"code": code, "message": message}
    if wechat_errcode is not None:
        body["wechat_errcode"] = wechat_errcode
    return Response(
        orjson.dumps({"error": body}),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WxLoginError)
    headers: dict[str, str] = {}
    if exc.retryable:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after or 1)))
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = (
            f'Bearer error="invalid_token", error_description="{exc.code}"'
        )
    if exc.http_status >= 500:
        _log.log(
            logging.ERROR if exc.code == "misconfigured" else logging.WARNING,
            "%s %s -> %s %s: %s",
            request.method,
            request.url.path,
            exc.http_status,
            exc.code,
            exc.message,
        )
    return error_response(
        exc.http_status,
        exc.code,
        exc.message,
        wechat_errcode=exc.errcode if isinstance(exc, WeChatError) else None,
        headers=headers or None,
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err.get("loc", ()) if part != "body")
        problems.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return error_response(400, "invalid_request", "; ".join(problems) or "invalid request")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    _log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "internal error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(WxLoginError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def _documented(description: str) -> dict[str, object]:
    from wxlogin.api.schemas import ErrorResponse

    return {"model": ErrorResponse, "description": description}


# Error codes per status, for OpenAPI.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    400: _documented(
        "invalid_request, invalid_code, code_used, unknown_app, missing_code, "
        "malformed_encrypted_data, watermark_mismatch, invalid_signature"
    ),
    401: _documented("unauthorized, invalid_token, token_expired, session_revoked, refresh_reused"),
    403: _documented("user_blocked, risk_control, api_unauthorized"),
    409: _documented("session_key_stale (call wx.login first), session_key_missing"),
    429: _documented("rate_limited (see Retry-After)"),
    500: _documented("misconfigured, internal_error"),
    502: _documented("wechat_error, bad_upstream_response, upstream_credential"),
    503: _documented("upstream_busy, upstream_unavailable, quota_exceeded, not_ready"),
    504: _documented("upstream_timeout"),
}

"""The one place errors become HTTP responses.

``{"error": {"code": "invalid_code", "message": "...", "wechat_errcode": 40029}}`` with the
error class's status; ``Retry-After`` when the error is retryable; ``WWW-Authenticate`` on 401.
Both faces (the lean app and the FastAPI adapter) render through ``render_error``.

The HTTP layer's own refusals (body too large, wrong media type, wrong method) are errors of
the same tree, defined here because only HTTP can raise them.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import msgspec

from wxlogin.api.schemas import ErrorBody, ErrorDetail
from wxlogin.errors import (
    AuthenticationError,
    ErrorCode,
    NotFound,
    ServiceError,
    ServiceTokenRejected,
    WeChatError,
    WxLoginError,
)

__all__ = [
    "BodyReadTimeout",
    "BodyTooLarge",
    "ErrorReply",
    "MethodNotAllowed",
    "RouteNotFound",
    "UnexpectedError",
    "UnsupportedMediaType",
    "render_error",
    "render_status",
    "render_unexpected",
]

_log = logging.getLogger("wxlogin.api")
_encode = msgspec.json.Encoder().encode


class BodyTooLarge(ServiceError):
    code = ErrorCode.PAYLOAD_TOO_LARGE
    http_status = 413
    default_message = "the request body is too large"


class BodyReadTimeout(ServiceError):
    """The client sent its headers, then not the whole body within the time allowed: a slow
    or stalled client (or one holding connections open on purpose) is answered and let go."""

    code = ErrorCode.BODY_TIMEOUT
    http_status = 408
    default_message = "the request body did not arrive in time"


class UnsupportedMediaType(ServiceError):
    code = ErrorCode.UNSUPPORTED_MEDIA_TYPE
    http_status = 415
    default_message = "send the body as JSON (Content-Type: application/json)"


class MethodNotAllowed(ServiceError):
    code = ErrorCode.METHOD_NOT_ALLOWED
    http_status = 405
    default_message = "this route does not answer that method"

    def __init__(self, allowed: tuple[str, ...] = (), message: str | None = None) -> None:
        self.allowed = allowed
        super().__init__(message)


class RouteNotFound(NotFound):
    """Nothing is served at this path. To a client, the same ``not_found`` as a missing user or
    order: nothing at this address."""

    default_message = "no such route"


class UnexpectedError(WxLoginError):
    """What a client sees of any exception that is not ours: the base's ``internal_error``
    and nothing else."""


@dataclass(frozen=True, slots=True)
class ErrorReply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def render_error(exc: WxLoginError, method: str, path: str) -> ErrorReply:
    """The response for one of our errors. ``method`` and ``path`` are for the log only."""
    headers: list[tuple[bytes, bytes]] = []
    if exc.retryable:
        seconds = max(1, math.ceil(exc.retry_after or 1))
        headers.append((b"retry-after", str(seconds).encode()))
    if isinstance(exc, AuthenticationError):
        challenge = f'Bearer error="invalid_token", error_description="{exc.code}"'
        headers.append((b"www-authenticate", challenge.encode()))
    elif isinstance(exc, ServiceTokenRejected):
        # A 401 names its scheme; the realm tells a service token from a user's.
        headers.append((b"www-authenticate", b'Bearer realm="service", error="invalid_token"'))
    if isinstance(exc, MethodNotAllowed) and exc.allowed:
        headers.append((b"allow", ", ".join(exc.allowed).encode()))
    if exc.http_status >= 500 and not isinstance(exc, UnexpectedError):
        _log.log(
            logging.ERROR if exc.needs_operator else logging.WARNING,
            "%s %s -> %s %s: %s",
            method,
            path,
            exc.http_status,
            exc.code,
            exc.detail or exc.message,
        )
    errcode = exc.errcode if isinstance(exc, WeChatError) else None
    body = _encode(ErrorBody(ErrorDetail(exc.code, exc.message, errcode)))
    return ErrorReply(exc.http_status, headers, body)


def render_status(status: int, code: ErrorCode, message: str) -> ErrorReply:
    """For a status that no class of ours stands for (a host app's own HTTPException)."""
    return ErrorReply(status, [], _encode(ErrorBody(ErrorDetail(code, message))))


def render_unexpected(method: str, path: str) -> ErrorReply:
    """Call inside ``except``: logs the traceback; the client learns nothing of it."""
    _log.exception("unhandled error on %s %s", method, path)
    return render_error(UnexpectedError(), method, path)

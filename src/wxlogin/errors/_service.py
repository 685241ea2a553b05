"""The ``ServiceError`` branch of the error tree: the login service's own refusals (bad
requests, unknown apps, tokens, missing users and session keys, images, orders, templates,
service tokens, its own rate limits, not ready).

Apart from the other branches because these are wxlogin's decisions, not an upstream's
answer; the service and the HTTP face raise them. Import from ``wxlogin.errors``.
"""

from __future__ import annotations

from wxlogin.errors._base import ErrorCode, WxLoginError

__all__ = [
    "AppidRequired",
    "AuthenticationError",
    "InvalidRequest",
    "InvalidToken",
    "MessageDataRejected",
    "NoSessionKey",
    "NotFound",
    "NotReady",
    "OrderNotPayable",
    "RefreshReused",
    "RefundTooLarge",
    "ServiceError",
    "ServiceTokenRejected",
    "SessionRevoked",
    "Throttled",
    "TokenExpired",
    "UnknownApp",
    "UnknownTemplate",
    "UnsupportedImage",
    "UserNotFound",
]


class ServiceError(WxLoginError):
    """Base of the service's refusals; each has its own code. The base keeps
    ``internal_error``: a refusal that says no more than this is our fault."""


class InvalidRequest(ServiceError):
    code = ErrorCode.INVALID_REQUEST
    http_status = 400
    default_message = "the request is invalid"


class MessageDataRejected(InvalidRequest):
    """A message value WeChat would refuse (47003), caught before anything is sent.

    ``field`` names the keyword. The ``code`` is WeChat's own refusal's (``InvalidMessageData``)
    on purpose: the same mistake, whichever side saw it first.
    """

    code = ErrorCode.INVALID_MESSAGE_DATA
    default_message = "a value of the message breaks its keyword's rule"

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class AppidRequired(InvalidRequest):
    """A well-formed request that names no app, for a user who has identities in several:
    which openid (messages) or which app pays (orders) cannot be guessed. Unlike the
    request's shape, this depends on the user, so it has a code of its own: add ``appid``."""

    code = ErrorCode.APPID_REQUIRED
    default_message = "appid is required: the user uses several mini programs here"


class UnknownApp(ServiceError):
    code = ErrorCode.UNKNOWN_APP
    http_status = 400
    default_message = "this appid is not configured on this server"


class AuthenticationError(ServiceError):
    code = ErrorCode.UNAUTHORIZED
    http_status = 401
    default_message = "authentication required"


class InvalidToken(AuthenticationError):
    code = ErrorCode.INVALID_TOKEN
    default_message = "the token is invalid"


class TokenExpired(AuthenticationError):
    code = ErrorCode.TOKEN_EXPIRED
    default_message = "the token has expired"


class SessionRevoked(AuthenticationError):
    code = ErrorCode.SESSION_REVOKED
    default_message = "the session has been revoked; log in again"


class RefreshReused(AuthenticationError):
    code = ErrorCode.REFRESH_REUSED
    default_message = "this refresh token was already used; the session has been revoked"


class NotFound(ServiceError):
    code = ErrorCode.NOT_FOUND
    http_status = 404
    default_message = "not found"


class UserNotFound(NotFound):
    """The user an access token or a host app's call names does not exist (any more): one
    sentence for it, wherever it is found out."""

    default_message = "no such user"


class NoSessionKey(ServiceError):
    code = ErrorCode.SESSION_KEY_MISSING
    http_status = 409
    default_message = "no session_key is stored for this session; call wx.login again"


class UnsupportedImage(ServiceError):
    """An upload whose bytes are not a JPEG, PNG or WebP image.

    Judged by the bytes alone (their magic numbers): the file name and the declared content
    type are the client's say-so and are never looked at.
    """

    code = ErrorCode.UNSUPPORTED_IMAGE
    http_status = 415
    default_message = "the file is not a JPEG, PNG or WebP image"


class OrderNotPayable(ServiceError):
    """The order can no longer be paid: it is paid already, closed, or past its expiry."""

    code = ErrorCode.ORDER_NOT_PAYABLE
    http_status = 409
    default_message = "the order cannot be paid: it is paid, closed or expired"


class RefundTooLarge(ServiceError):
    """A refund of more than is left of the order (or of an order that is not paid).

    Checked here, before WeChat Pay is asked: the amount is reserved in the same database
    statement that checks it fits, so refunds at once can never add up to more than was paid.
    WeChat Pay's own refusal of the same thing is ``RefundNotEnough``.
    """

    code = ErrorCode.REFUND_TOO_LARGE
    http_status = 409
    default_message = "less than that is left to refund of this order"


class UnknownTemplate(ServiceError):
    """A subscribe-message template this server has not declared (``message_templates``)."""

    code = ErrorCode.UNKNOWN_TEMPLATE
    http_status = 400
    default_message = "this message template is not declared on this server"


class ServiceTokenRejected(ServiceError):
    """A server-to-server route called without one of the ``service_tokens``.

    Not an ``AuthenticationError``: that subtree is about users' access tokens, and a host
    app's backend has no session to refresh.
    """

    code = ErrorCode.INVALID_SERVICE_TOKEN
    http_status = 401
    default_message = "send a service token as 'Authorization: Bearer <token>'"


class Throttled(ServiceError):
    code = ErrorCode.RATE_LIMITED
    http_status = 429
    retryable = True
    default_message = "too many requests; slow down"


class NotReady(ServiceError):
    code = ErrorCode.NOT_READY
    http_status = 503
    retryable = True
    default_message = "the service is not ready"

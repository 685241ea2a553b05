"""The ``UpstreamError`` branch of the error tree: no usable answer from WeChat or WeChat Pay
at all (a timeout, no connection, a body that is no answer).

Apart from the WeChat and WeChat Pay branches because it is about the wire, not what either
API said; the HTTP layer raises it for both. Import from ``wxlogin.errors``.
"""

from __future__ import annotations

from wxlogin.errors._base import ErrorCode, WxLoginError

__all__ = ["BadUpstreamResponse", "UpstreamError", "UpstreamTimeout", "UpstreamUnavailable"]


class UpstreamError(WxLoginError):
    """No usable answer from WeChat. ``request_sent`` tells whether it may have been acted on."""

    code = ErrorCode.UPSTREAM_ERROR
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
    code = ErrorCode.UPSTREAM_TIMEOUT
    http_status = 504
    retryable = True
    default_message = "WeChat did not answer in time"


class UpstreamUnavailable(UpstreamError):
    code = ErrorCode.UPSTREAM_UNAVAILABLE
    http_status = 503
    retryable = True
    default_message = "WeChat could not be reached"


class BadUpstreamResponse(UpstreamError):
    code = ErrorCode.BAD_UPSTREAM_RESPONSE
    http_status = 502
    default_message = "WeChat answered with something that is not the expected JSON"

    def __init__(self, message: str | None = None, *, status: int = 200) -> None:
        self.status = status
        super().__init__(message, request_sent=True)
        # A 5xx from a gateway in front of WeChat is worth another try; a garbled 200 is not.
        self.retryable = status >= 500

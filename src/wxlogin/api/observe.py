"""Observability at the HTTP face: a request id on every request, and ``GET /metrics``.

Request ids. An incoming ``X-Request-ID`` is kept when it is sane (1-128 characters of
``A-Z a-z 0-9 . _ : + / = -``: what proxies and tracing systems send, and nothing that could
break a log line or a header); otherwise one is made (a random per-process prefix and a
counter: unique, cheap, not a secret). It is in ``logs.REQUEST_ID`` while the request runs,
so every line logged meanwhile carries it, and it is sent back as ``X-Request-ID`` on every
response, errors included.

``/metrics``. Prometheus's text format, from ``wxlogin.metrics`` (summed over the worker
processes) plus two values computed on the spot: the live sessions (counted in the database
at most every ``ACTIVE_SESSIONS_EVERY`` seconds, not per request) and the build. Who may read
it is the operator's choice (``MetricsAccess``); it is not part of the API's OpenAPI document,
which describes what mini programs and host backends call, not what operators scrape.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import re
import secrets
import time
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any

from wxlogin import __version__, metrics
from wxlogin.api.errors import MethodNotAllowed, RouteNotFound, render_error
from wxlogin.api.server import REQUEST_ID_HEADER, Receive, Scope, Send, send_error
from wxlogin.config import Settings
from wxlogin.errors import AuthenticationError, WxLoginError
from wxlogin.logs import REQUEST_ID
from wxlogin.service.login import LoginService

__all__ = [
    "ACTIVE_SESSIONS_EVERY",
    "METRICS_PATH",
    "MetricsAccess",
    "MetricsEndpoint",
    "RequestIdMiddleware",
    "request_id_of",
    "share_metrics",
    "with_request_id",
]

METRICS_PATH = "/metrics"
ACTIVE_SESSIONS_EVERY = 15.0  # seconds; Prometheus scrapes every 15-60 s
_HEADER = REQUEST_ID_HEADER
_SANE = re.compile(rb"[A-Za-z0-9._:+/=-]{1,128}")
_PREFIX = secrets.token_hex(6).encode()
_COUNTER = itertools.count(1)


def _fresh_prefix() -> None:
    # A forked worker (gunicorn --preload, say) must not make the ids its parent makes.
    global _PREFIX, _COUNTER
    _PREFIX, _COUNTER = secrets.token_hex(6).encode(), itertools.count(1)


os.register_at_fork(after_in_child=_fresh_prefix)
_TEXT = metrics.CONTENT_TYPE.encode()


def request_id_of(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The request's own ``X-Request-ID`` when it is sane, else a new one."""
    for name, value in headers:
        if name == _HEADER:
            if _SANE.fullmatch(value):
                return value
            break
    return b"%s-%x" % (_PREFIX, next(_COUNTER))


def with_request_id(send: Send, request_id: bytes) -> Send:
    """``send`` that adds ``X-Request-ID`` to the response's headers. For a host app's
    responses and ``/metrics``; the lean face adds it itself, which costs less (no wrapper)."""
    header = (_HEADER, request_id)

    async def send_with_id(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), header]
        await send(message)

    return send_with_id


class RequestIdMiddleware:
    """The request id for a host app (the FastAPI adapter): ``app.add_middleware(...)``.

    The stand-alone app does the same inline. Add it to a host app that has no request id of
    its own: then wxlogin's log lines during a request carry it, and every response says it.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], object]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # type: ignore[misc]
            return
        request_id = request_id_of(scope["headers"])
        token = REQUEST_ID.set(request_id.decode("ascii"))
        try:
            await self.app(scope, receive, with_request_id(send, request_id))  # type: ignore[misc]
        finally:
            REQUEST_ID.reset(token)


def share_metrics(settings: Settings) -> None:
    """With several worker processes (``metrics_dir`` set), keep this process's metrics in
    the directory they share, so that whichever worker answers a scrape adds up all of them."""
    if settings.metrics_dir is not None:
        metrics.REGISTRY.share(settings.metrics_dir)


class MetricsAccess:
    """Who may read ``/metrics``: the bearer of ``metrics_token`` when one is set; else anyone
    when ``metrics_public`` (or in dev mode); else nobody — the route is not served (404)."""

    def __init__(self, settings: Settings) -> None:
        token = settings.metrics_token
        self._digest = hashlib.sha256(token.get_secret_value().encode()).digest() if token else None
        self.public = self._digest is None and (settings.metrics_public or settings.dev)
        self.served = self.public or self._digest is not None

    def allows(self, headers: list[tuple[bytes, bytes]]) -> bool:
        if self.public:
            return True
        if self._digest is None:
            return False
        presented = b""
        for name, value in headers:
            if name == b"authorization":
                scheme, _, credential = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    presented = credential.strip()
                break
        # Digests compared in constant time: the comparison says nothing of the token's length.
        return hmac.compare_digest(hashlib.sha256(presented).digest(), self._digest)


class MetricsEndpoint:
    """``GET /metrics`` as an ASGI app, for both faces; ``service`` gives the live sessions."""

    def __init__(
        self,
        access: MetricsAccess,
        service: Callable[[], LoginService | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.access = access
        self._service = service
        self._clock = clock
        self._sessions: tuple[float, float] | None = None  # (counted at, how many)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        if not self.access.served:
            await send_error(send, render_error(RouteNotFound(), method, path))
            return
        if method not in ("GET", "HEAD"):
            await send_error(send, render_error(MethodNotAllowed(("GET",)), method, path))
            return
        if not self.access.allows(scope["headers"]):
            # 401 unauthorized, the code of a missing credential: no new code for one route
            # that is not part of the API.
            refusal = AuthenticationError("send the metrics token as 'Authorization: Bearer …'")
            await send_error(send, render_error(refusal, method, path))
            return
        body = metrics.render(metrics.REGISTRY, await self._gauges())
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", _TEXT),
                    (b"content-length", b"%d" % len(body)),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    async def _gauges(self) -> list[metrics.Gauge]:
        gauges = [
            metrics.Gauge(
                "wxlogin_build_info",
                "The running version of wxlogin.",
                [((("version", __version__),), 1.0)],
            )
        ]
        live = await self._live_sessions()
        if live is not None:
            gauges.append(
                metrics.Gauge(
                    "wxlogin_active_sessions",
                    "Sessions neither revoked nor expired, counted in the database at most "
                    f"every {ACTIVE_SESSIONS_EVERY:g} s.",
                    [((), live)],
                )
            )
        return gauges

    async def _live_sessions(self) -> float | None:
        now = self._clock()
        if self._sessions is not None and 0 <= now - self._sessions[0] < ACTIVE_SESSIONS_EVERY:
            return self._sessions[1]
        service = self._service()
        if service is None:
            return None
        try:
            count = await service.store.count_live_sessions(datetime.fromtimestamp(now, UTC))
        except WxLoginError:
            # The database is down: the scrape still answers (that is when it matters most),
            # without this one value.
            return None
        self._sessions = (now, float(count))
        return float(count)

"""``create_app``: the stand-alone wxlogin service as a plain ASGI application."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import msgspec

from wxlogin import __version__
from wxlogin.api.avatars import avatar_routes
from wxlogin.api.docs import DOCS_HEADERS, DOCS_HTML
from wxlogin.api.errors import MethodNotAllowed, RouteNotFound, render_error
from wxlogin.api.messages import MESSAGE_ROUTES
from wxlogin.api.meta import META_ROUTES
from wxlogin.api.observe import (
    METRICS_PATH,
    MetricsAccess,
    MetricsEndpoint,
    request_id_of,
    share_metrics,
    with_request_id,
)
from wxlogin.api.openapi import build_openapi, require_appid
from wxlogin.api.pay import PAY_ROUTES
from wxlogin.api.routes import AUTH_ROUTES
from wxlogin.api.routing import MethodTable, build_table
from wxlogin.api.server import (
    REQUEST_ID_HEADER,
    Face,
    Receive,
    Scope,
    Send,
    send_error,
)
from wxlogin.cache.base import Cache
from wxlogin.config import Settings
from wxlogin.logs import REQUEST_ID
from wxlogin.service.factory import build_service
from wxlogin.service.login import LoginService
from wxlogin.wechat import Transport

__all__ = ["API_DESCRIPTION", "WxLoginApp", "create_app"]

_log = logging.getLogger("wxlogin.api")

API_DESCRIPTION = (
    "Login and identity for WeChat Mini Programs. Errors are "
    '`{"error": {"code", "message", "wechat_errcode"?}}`; each route lists its codes per '
    "status. Request bodies are JSON (a missing Content-Type is read as JSON, any other type "
    "is refused with 415) of at most 1 MiB by default (413 beyond, before anything is parsed); "
    "the avatar upload alone is multipart/form-data, with its own limit. A path not listed "
    "answers 404 `not_found`, a method a path does not list 405 `method_not_allowed` with "
    "`Allow`."
)


class WxLoginApp:
    """The stand-alone service: the login API, discovery, health, ``/openapi.json``, ``/docs``,
    and ``/metrics`` when the settings let someone read it (``api/observe.py``).

    An ASGI application. Its lifespan builds the service on start-up and closes it on
    shut-down; ``running()`` does the same for code that drives the app in-process.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        wechat_transport: Transport | None = None,
        cache: Cache | None = None,
        migrate: bool = True,
        clock: Callable[[], float] = time.time,
        max_body_bytes: int | None = None,
    ) -> None:
        self._settings = settings
        self._wechat_transport = wechat_transport
        self._cache = cache
        self._migrate = migrate
        self._clock = clock
        routes = (
            *AUTH_ROUTES,
            *avatar_routes(settings.avatar_max_bytes),
            *MESSAGE_ROUTES,
            *PAY_ROUTES,
            *META_ROUTES,
        )
        self.face = Face(
            build_table(routes),
            max_body_bytes=settings.max_body_bytes if max_body_bytes is None else max_body_bytes,
            body_timeout=settings.body_read_timeout,
        )
        # Exact paths are one dict lookup; the few paths with a {parameter} segment are
        # tried, by prefix and suffix, only when that misses.
        self._exact: dict[str, MethodTable] = {}
        self._templated: list[tuple[str, str, str, MethodTable]] = []
        for methods in self.face.table.values():
            route = next(iter(methods.values()))
            if route.path_param is None:
                self._exact[route.path] = methods
            else:
                self._templated.append(
                    (route.path_prefix, route.path_suffix, route.path_param, methods)
                )
        self.openapi = build_openapi(
            routes, title="wxlogin", version=__version__, description=API_DESCRIPTION
        )
        if len(settings.appids) > 1:
            require_appid(self.openapi)
        openapi_json = msgspec.json.encode(self.openapi)
        # Pages that are not part of the API: fixed bytes, built once, GET and HEAD only.
        self._pages: dict[str, tuple[list[tuple[bytes, bytes]], bytes]] = {
            "/openapi.json": ([(b"content-type", b"application/json")], openapi_json),
            "/docs": (DOCS_HEADERS, DOCS_HTML),
        }
        self.metrics = MetricsEndpoint(MetricsAccess(settings), lambda: self.face.service, clock)

    @property
    def service(self) -> LoginService | None:
        """The running service; None before start-up and after shut-down."""
        return self.face.service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            # Every response says its request id, and every line logged meanwhile carries it.
            request_id = request_id_of(scope["headers"])
            token = REQUEST_ID.set(request_id.decode("ascii"))
            try:
                methods = self._exact.get(scope["path"])
                if methods is not None:
                    await self.face.handle(methods, scope, receive, send, request_id)
                else:
                    await self._templated_or_page(scope, receive, send, request_id)
            finally:
                REQUEST_ID.reset(token)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            # Nothing here speaks WebSocket; closing before accepting makes the server say 403.
            await send({"type": "websocket.close", "code": 1000})

    async def _templated_or_page(
        self, scope: Scope, receive: Receive, send: Send, request_id: bytes
    ) -> None:
        path: str = scope["path"]
        for prefix, suffix, param, methods in self._templated:
            if path.startswith(prefix) and path.endswith(suffix):
                value = path[len(prefix) : len(path) - len(suffix)]
                # One segment, as Starlette's {param} matches: never a slash, never empty.
                if value and "/" not in value:
                    scope["path_params"] = {param: value}
                    await self.face.handle(methods, scope, receive, send, request_id)
                    return
        await self._page(scope, receive, send, request_id)

    async def _page(self, scope: Scope, receive: Receive, send: Send, request_id: bytes) -> None:
        method, path = scope["method"], scope["path"]
        if path == METRICS_PATH:
            await self.metrics(scope, receive, with_request_id(send, request_id))
            return
        page = self._pages.get(path)
        if page is None:
            await send_error(send, render_error(RouteNotFound(), method, path), request_id)
            return
        if method not in ("GET", "HEAD"):
            error = render_error(MethodNotAllowed(("GET",)), method, path)
            await send_error(send, error, request_id)
            return
        headers, body = page
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    *headers,
                    (b"content-length", b"%d" % len(body)),
                    (REQUEST_ID_HEADER, request_id),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})

    @asynccontextmanager
    async def running(self) -> AsyncIterator[LoginService]:
        """Build and start the service, serve, then close it."""
        share_metrics(self._settings)
        service = await build_service(
            self._settings,
            wechat_transport=self._wechat_transport,
            cache=self._cache,
            migrate=self._migrate,
            clock=self._clock,
        )
        service.start()
        self.face.service = service
        _log.info("wxlogin ready for %s", ", ".join(service.appids))
        try:
            yield service
        finally:
            self.face.service = None
            await service.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        running = self.running()
        try:
            await running.__aenter__()
        except BaseException:
            # The server logs this and exits; the traceback is for the operator's log.
            await send({"type": "lifespan.startup.failed", "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        try:
            await running.__aexit__(None, None, None)
        except BaseException:
            await send({"type": "lifespan.shutdown.failed", "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.shutdown.complete"})


def create_app(
    settings: Settings,
    *,
    wechat_transport: Transport | None = None,
    cache: Cache | None = None,
    migrate: bool = True,
    clock: Callable[[], float] = time.time,
) -> WxLoginApp:
    """The stand-alone wxlogin service (``wxlogin serve``, ``wxlogin dev``)."""
    return WxLoginApp(
        settings, wechat_transport=wechat_transport, cache=cache, migrate=migrate, clock=clock
    )

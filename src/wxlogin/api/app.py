"""``create_app`` for the stand-alone service, and ``setup`` to add wxlogin to a host app."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from wxlogin import __version__
from wxlogin.api.deps import STATE_KEY
from wxlogin.api.errors import install_error_handlers
from wxlogin.api.meta import meta_router
from wxlogin.api.routes import auth_router
from wxlogin.cache.base import Cache
from wxlogin.config import Settings
from wxlogin.service.factory import build_service
from wxlogin.wechat import Transport

__all__ = ["create_app", "setup"]

_log = logging.getLogger("wxlogin.api")


def setup(
    app: FastAPI,
    settings: Settings,
    *,
    wechat_transport: Transport | None = None,
    cache: Cache | None = None,
    migrate: bool = True,
    clock: Callable[[], float] = time.time,
    include_meta: bool = True,
) -> None:
    """Add wxlogin to ``app``: its routes, its error handler, and its start-up and shut-down.

    The host app's own lifespan keeps running; wxlogin's service starts before it and stops
    after it. The error handler is app-wide: the host's own validation errors, 404s and
    unhandled exceptions also answer in wxlogin's ``{"error": {...}}`` shape (validation as
    400 ``invalid_request``). Register your own handlers after ``setup`` to override.
    """
    app.include_router(auth_router)
    if include_meta:
        app.include_router(meta_router)
    install_error_handlers(app)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(host: FastAPI) -> AsyncIterator[Any]:
        service = await build_service(
            settings, wechat_transport=wechat_transport, cache=cache, migrate=migrate, clock=clock
        )
        service.start()
        setattr(host.state, STATE_KEY, service)
        _log.info("wxlogin ready for %s", ", ".join(service.appids))
        try:
            async with inner(host) as state:
                yield state
        finally:
            setattr(host.state, STATE_KEY, None)
            await service.aclose()

    app.router.lifespan_context = lifespan


def create_app(
    settings: Settings,
    *,
    wechat_transport: Transport | None = None,
    cache: Cache | None = None,
    migrate: bool = True,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The stand-alone wxlogin service."""
    app = FastAPI(
        title="wxlogin",
        version=__version__,
        description=(
            "Login and identity for WeChat Mini Programs. Errors are "
            '`{"error": {"code", "message", "wechat_errcode"?}}`; the codes are listed per '
            "status on each route."
        ),
    )
    setup(
        app, settings, wechat_transport=wechat_transport, cache=cache, migrate=migrate, clock=clock
    )
    return app

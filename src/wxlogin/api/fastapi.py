"""wxlogin inside a host FastAPI app: ``setup``, ``CurrentUser``, ``ServiceCaller``,
``ServiceDep``.

The only module of wxlogin that imports FastAPI or Starlette. ``setup`` mounts the same
handlers the stand-alone app serves (each of our paths becomes a plain Starlette route whose
endpoint is the lean ``Face``, so our routes cost the host no FastAPI machinery), installs the
one error renderer app-wide, runs wxlogin's start-up and shut-down around the host's own
lifespan, and merges our routes into the host's OpenAPI document.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Route as StarletteRoute

from wxlogin import __version__
from wxlogin.api.avatars import avatar_routes
from wxlogin.api.errors import (
    ErrorReply,
    MethodNotAllowed,
    RouteNotFound,
    render_error,
    render_status,
    render_unexpected,
)
from wxlogin.api.messages import MESSAGE_ROUTES
from wxlogin.api.meta import META_ROUTES
from wxlogin.api.observe import METRICS_PATH, MetricsAccess, MetricsEndpoint, share_metrics
from wxlogin.api.openapi import (
    BEARER_SCHEME,
    SERVICE_SCHEME,
    build_openapi,
    error_responses,
    require_appid,
)
from wxlogin.api.pay import PAY_ROUTES
from wxlogin.api.routes import AUTH_ROUTES
from wxlogin.api.routing import (
    NOT_READY,
    MethodTable,
    Route,
    authenticate,
    build_table,
    verify_service_caller,
)
from wxlogin.api.server import Face, Receive, Scope, Send
from wxlogin.cache.base import Cache
from wxlogin.config import Settings
from wxlogin.errors import (
    AuthenticationError,
    ErrorCode,
    InvalidRequest,
    NotReady,
    ServiceTokenRejected,
    WxLoginError,
)
from wxlogin.service.factory import build_service
from wxlogin.service.login import LoginService
from wxlogin.tokens import AccessClaims
from wxlogin.wechat import Transport

__all__ = ["STATE_KEY", "CurrentUser", "ServiceCaller", "ServiceDep", "get_service", "setup"]

STATE_KEY = "wxlogin_service"
_SCHEMA_PREFIX = "wxlogin."  # our component names in the host's document
_log = logging.getLogger("wxlogin.api")
_NOT_JSON = "the body is not valid JSON"
# What FastAPI raises (HTTPException 400) when it cannot read a request body at all.
_FASTAPI_UNPARSEABLE = "There was an error parsing the body"
# Same scheme name as our own document, so the host's routes and ours share one scheme.
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name=BEARER_SCHEME,
    description="an access token from POST /auth/login or /auth/refresh",
)


async def get_service(request: Request) -> LoginService:
    # `async def` even though it awaits nothing: FastAPI runs plain `def` dependencies in a
    # thread pool, which costs more than the work itself on every request.
    service: LoginService | None = getattr(request.app.state, STATE_KEY, None)
    if service is None:
        raise NotReady(NOT_READY)
    return service


ServiceDep = Annotated[LoginService, Depends(get_service)]


async def _current_claims(
    service: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AccessClaims:
    return await authenticate(service, credentials.credentials if credentials else None)


CurrentUser = Annotated[AccessClaims, Depends(_current_claims)]
"""The authenticated caller (user id, session id, appid), verified with no database round trip."""


# Server-to-server routes of the host's own (e.g. its order backend's webhook): the same
# service tokens as POST /messages, under the same scheme name in the document.
_service_bearer = HTTPBearer(
    auto_error=False,
    scheme_name=SERVICE_SCHEME,
    description="one of the server's service tokens (WXLOGIN_SERVICE_TOKENS)",
)


async def _service_caller(
    service: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_service_bearer)],
) -> None:
    verify_service_caller(service, credentials.credentials if credentials else None)


ServiceCaller = Annotated[None, Depends(_service_caller)]
"""A host route for other servers, not mini programs: ``_: ServiceCaller`` in its signature
makes it take only one of the service tokens (401 ``invalid_service_token`` otherwise)."""


class _Endpoint:
    """One of our paths inside the host's router; an ASGI app, so Starlette adds no wrapper."""

    def __init__(self, face: Face, methods: MethodTable) -> None:
        self._face = face
        self._methods = methods

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._face.handle(self._methods, scope, receive, send)


def _response(reply: ErrorReply) -> Response:
    headers = {name.decode(): value.decode() for name, value in reply.headers}
    return Response(reply.body, reply.status, headers, media_type="application/json")


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WxLoginError)
    return _response(render_error(exc, request.method, request.url.path))


async def _validation_error(request: Request, exc: Exception) -> Response:
    # The host's own FastAPI routes: pydantic's errors in the same 400 invalid_request shape.
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            # Its location is the parser's offset ("14: JSON decode error"): say it as ours do.
            problems.append(_NOT_JSON)
            continue
        where = ".".join(str(part) for part in err.get("loc", ()) if part != "body")
        problems.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    error = InvalidRequest("; ".join(problems) or "invalid request")
    return _response(render_error(error, request.method, request.url.path))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    error: WxLoginError
    if exc.status_code == 404:
        error = RouteNotFound()
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        error = MethodNotAllowed(tuple(m.strip() for m in allowed.split(",") if m.strip()))
    elif exc.status_code == 400 and exc.detail == _FASTAPI_UNPARSEABLE:
        # FastAPI's own answer to a body it could not read at all (not UTF-8, a broken form).
        error = InvalidRequest("the body could not be parsed")
    else:  # the host raised HTTPException itself: keep its status, words and headers
        reply = render_status(exc.status_code, ErrorCode.HTTP_ERROR, str(exc.detail))
        return Response(reply.body, reply.status, exc.headers, media_type="application/json")
    return _response(render_error(error, request.method, request.url.path))


async def _unexpected(request: Request, exc: Exception) -> Response:
    return _response(render_unexpected(request.method, request.url.path))


def setup(
    app: FastAPI,
    settings: Settings,
    *,
    wechat_transport: Transport | None = None,
    cache: Cache | None = None,
    migrate: bool = True,
    clock: Callable[[], float] = time.time,
    include_meta: bool = True,
    metrics_path: str | None = METRICS_PATH,
) -> None:
    """Add wxlogin to ``app``: its routes, its error handler, and its start-up and shut-down.

    The host app's own lifespan keeps running; wxlogin's service starts before it and stops
    after it. The error handler is app-wide: the host's own validation errors, 404s and
    unhandled exceptions also answer in wxlogin's ``{"error": {...}}`` shape (validation as
    400 ``invalid_request``). Register your own handlers after ``setup`` to override.

    ``metrics_path``: where wxlogin's Prometheus metrics are served when the settings let
    someone read them (``metrics_token`` / ``metrics_public``); None mounts nothing (a host
    that exposes metrics of its own can add ``wxlogin.metrics.render(REGISTRY)`` to them).
    Request ids are the host's business: ``app.add_middleware(RequestIdMiddleware)`` gives
    wxlogin's (``wxlogin.api.observe``).
    """
    routes: tuple[Route[Any], ...] = (
        *AUTH_ROUTES,
        *avatar_routes(settings.avatar_max_bytes),
        *MESSAGE_ROUTES,
        *PAY_ROUTES,
        *(META_ROUTES if include_meta else ()),
    )
    face = Face(
        build_table(routes),
        max_body_bytes=settings.max_body_bytes,
        body_timeout=settings.body_read_timeout,
    )
    for path, methods in face.table.items():
        # A path with a {name} segment is matched by Starlette, which puts the value in
        # scope["path_params"], where the Face hands it to the handler.
        app.router.routes.append(StarletteRoute(path, _Endpoint(face, methods)))
    access = MetricsAccess(settings)
    if metrics_path is not None and access.served:
        endpoint = MetricsEndpoint(access, lambda: face.service, clock)
        app.router.routes.append(StarletteRoute(metrics_path, endpoint, methods=["GET", "HEAD"]))
    app.add_exception_handler(WxLoginError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    ours = build_openapi(
        routes, title="wxlogin", version=__version__, description="", schema_prefix=_SCHEMA_PREFIX
    )
    if len(settings.appids) > 1:
        require_appid(ours, _SCHEMA_PREFIX)
    _merge_openapi(app, ours)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(host: FastAPI) -> AsyncIterator[Any]:
        share_metrics(settings)
        service = await build_service(
            settings, wechat_transport=wechat_transport, cache=cache, migrate=migrate, clock=clock
        )
        service.start()
        face.service = service
        setattr(host.state, STATE_KEY, service)
        _log.info("wxlogin ready for %s", ", ".join(service.appids))
        try:
            async with inner(host) as state:
                yield state
        finally:
            setattr(host.state, STATE_KEY, None)
            face.service = None
            await service.aclose()

    app.router.lifespan_context = lifespan


def _merge_openapi(app: FastAPI, ours: dict[str, Any]) -> None:
    """Make the host's ``app.openapi()`` include our paths, schemas, tags and bearer scheme."""
    build_host_document = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build_host_document()
        _host_errors_as_answered(document)
        document.setdefault("paths", {}).update(ours["paths"])
        components = document.setdefault("components", {})
        components.setdefault("schemas", {}).update(ours["components"]["schemas"])
        components.setdefault("securitySchemes", {}).update(ours["components"]["securitySchemes"])
        tags = document.setdefault("tags", [])
        known = {tag["name"] for tag in tags}
        tags.extend(tag for tag in ours["tags"] if tag["name"] not in known)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


# FastAPI documents a 422 HTTPValidationError on every host route that validates input; the
# handler setup installs answers 400 invalid_request instead, in our error shape.
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
_ERROR_REF = {"$ref": f"#/components/schemas/{_SCHEMA_PREFIX}ErrorBody"}


def _host_errors_as_answered(document: dict[str, Any]) -> None:
    """Document the host's own routes' errors as setup's handlers answer them: validation as
    400 ``invalid_request``, and the 401s of ``CurrentUser`` and ``ServiceCaller``."""
    for item in document.get("paths", {}).values():
        for operation in item.values():
            responses = operation.get("responses", {})
            classes: list[type[WxLoginError]] = []
            if responses.pop("422", None) is not None:
                classes.append(InvalidRequest)
            schemes = {name for need in operation.get("security", ()) for name in need}
            if BEARER_SCHEME in schemes:
                classes += [AuthenticationError, *_subclasses(AuthenticationError), NotReady]
            if SERVICE_SCHEME in schemes:
                classes += [ServiceTokenRejected, NotReady]
            for status, documented in error_responses(classes, _ERROR_REF).items():
                responses.setdefault(status, documented)
    schemas = document.get("components", {}).get("schemas", {})
    for name in _FASTAPI_VALIDATION:  # HTTPValidationError first: it refers to the other
        if name in schemas and f"#/components/schemas/{name}" not in set(_refs(document)):
            del schemas[name]


def _subclasses(root: type[WxLoginError]) -> list[type[WxLoginError]]:
    return [cls for sub in root.__subclasses__() for cls in (sub, *_subclasses(sub))]


def _refs(node: Any) -> Iterator[str]:
    """Every ``$ref`` in a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)

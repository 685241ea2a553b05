"""OpenAPI 3.1 from the route table: schemas from the Structs, errors from the error tree.

Built once when an app is made. Nothing here is written by hand per route: request and
response schemas come from msgspec's JSON Schema of the Structs the route decodes and
returns, and each route's error responses come from walking the subtrees of
``wxlogin.errors`` it declares (plus validation, authentication and readiness, which follow
from the route's own fields), grouped by each class's ``http_status`` and listing its ``code``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from wxlogin.api.errors import (
    BodyReadTimeout,
    BodyTooLarge,
    UnexpectedError,
    UnsupportedMediaType,
)
from wxlogin.api.routing import BinaryContent, Route
from wxlogin.api.schemas import ErrorBody
from wxlogin.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidRequest,
    NotReady,
    ServiceTokenRejected,
    WxLoginError,
)

__all__ = [
    "BEARER_SCHEME",
    "SERVICE_SCHEME",
    "TAGS",
    "build_openapi",
    "error_classes",
    "error_responses",
    "error_schema",
    "require_appid",
]

BEARER_SCHEME = "bearerAuth"
# Server-to-server routes: a host app's backend with one of the service tokens.
SERVICE_SCHEME = "serviceToken"
OPENAPI_VERSION = "3.1.0"
TAGS = (
    {"name": "auth", "description": "log in with a wx.login code, refresh, log out"},
    {"name": "me", "description": "the logged-in user: profile, phone number and avatar"},
    {"name": "messages", "description": "subscribe messages, sent by a host app's backend"},
    {"name": "avatars", "description": "uploaded avatar images, served by name to anyone"},
    {"name": "meta", "description": "discovery for other services, health checks"},
)
_STATUS_TEXT = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Refused",
    404: "Not found",
    408: "The body did not arrive in time",
    409: "Conflict with the state of things",
    413: "Body too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Server error",
    502: "WeChat answered with an error or garbage",
    503: "Unavailable for now",
    504: "WeChat did not answer in time",
}


def _subtree(root: type[WxLoginError]) -> Iterator[type[WxLoginError]]:
    yield root
    for sub in root.__subclasses__():
        yield from _subtree(sub)


def error_classes(route: Route[Any]) -> list[type[WxLoginError]]:
    """Every error class the route may answer with, each once, in tree order."""
    roots: list[type[WxLoginError]] = list(route.raises)
    if route.decoder is not None or route.stream is not None:
        roots += [InvalidRequest, BodyReadTimeout, BodyTooLarge, UnsupportedMediaType]
    if route.auth:
        roots.append(AuthenticationError)
    if route.service_credential:
        roots.append(ServiceTokenRejected)
    if route.uses_service:
        # Not started yet; or, deep in any request, a setting that cannot work (a WeChat
        # request that cannot be built, no signing key): the operator's to fix, said as such.
        roots += [NotReady, ConfigurationError]
    seen: dict[type[WxLoginError], None] = {}
    for root in roots:
        for cls in _subtree(root):
            seen.setdefault(cls, None)
    seen.setdefault(UnexpectedError, None)
    return list(seen)


def error_schema(error_ref: dict[str, Any], codes: Iterable[str]) -> dict[str, Any]:
    """The error body, its ``code`` narrowed to ``codes``: a client (or a fuzzer checking our
    answers against this document) learns exactly which codes a route answers per status."""
    narrowed = {"properties": {"error": {"properties": {"code": {"enum": list(codes)}}}}}
    return {"allOf": [error_ref, narrowed]}


def error_responses(
    classes: Iterable[type[WxLoginError]], error_ref: dict[str, Any]
) -> dict[str, Any]:
    """OpenAPI responses for errors of these classes: per status, the codes and their words."""
    by_status: dict[int, dict[str, type[WxLoginError]]] = {}
    for cls in classes:
        by_status.setdefault(cls.http_status, {}).setdefault(cls.code.value, cls)
    responses: dict[str, Any] = {}
    for status in sorted(by_status):
        by_code = by_status[status]
        lines = [f"- `{code}`: {cls.default_message}" for code, cls in by_code.items()]
        first_code, first = next(iter(by_code.items()))
        headers: dict[str, Any] = {}
        if any(cls.retryable for cls in by_code.values()):
            headers["Retry-After"] = {
                "description": "seconds to wait before retrying (when the error is retryable)",
                "schema": {"type": "integer", "minimum": 1},
            }
        if status == 401:
            headers["WWW-Authenticate"] = {
                "description": 'Bearer error="invalid_token", error_description="<code>" '
                '(a user\'s token) or Bearer realm="service", error="invalid_token"',
                "schema": {"type": "string"},
            }
        response: dict[str, Any] = {
            "description": f"{_STATUS_TEXT.get(status, 'Error')}. `error.code` is one of:\n"
            + "\n".join(lines),
            "content": {
                "application/json": {
                    "schema": error_schema(error_ref, by_code),
                    "example": {"error": {"code": first_code, "message": first.default_message}},
                }
            },
            "x-error-codes": list(by_code),
        }
        if headers:
            response["headers"] = headers
        responses[str(status)] = response
    return responses


def _binary_success(content: BinaryContent) -> dict[str, Any]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    documented: dict[str, Any] = {"content": {media: binary for media in content.media_types}}
    if content.headers:
        documented["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in content.headers
        }
    return documented


def build_openapi(
    routes: Iterable[Route[Any]],
    *,
    title: str,
    version: str,
    description: str,
    schema_prefix: str = "",
) -> dict[str, Any]:
    """The OpenAPI document of ``routes``. ``schema_prefix`` namespaces the component names
    (for merging into a host app's document without clashing with its own models)."""
    documented = list(routes)
    types: dict[Any, None] = {}
    for route in documented:
        for cls in (route.body, route.response):
            if cls is not None and not isinstance(cls, BinaryContent):
                types.setdefault(cls, None)
    types.setdefault(ErrorBody, None)
    ordered = list(types)
    ref_template = f"#/components/schemas/{schema_prefix}{{name}}"
    refs, components = msgspec.json.schema_components(ordered, ref_template=ref_template)
    for cls in ordered:  # rules across fields that a Struct declares beside its fields
        components[cls.__name__].update(getattr(cls, "json_schema_extra", {}))
    schema_of = dict(zip(ordered, refs, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for route in documented:
        operation: dict[str, Any] = {
            "operationId": route.operation_id,
            "summary": route.summary,
            "tags": list(route.tags),
        }
        if route.description:
            operation["description"] = route.description
        if route.path_param is not None:
            operation["parameters"] = [
                {
                    "name": route.path_param,
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                }
            ]
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema_of[route.body]}},
            }
        elif route.stream is not None:
            operation["requestBody"] = {
                "required": True,
                "content": route.stream.openapi_content(),
            }
        success: dict[str, Any] = {"description": "OK" if route.status == 200 else "Done"}
        if isinstance(route.response, BinaryContent):
            success.update(_binary_success(route.response))
        elif route.response is not None:
            success["content"] = {"application/json": {"schema": schema_of[route.response]}}
        errors = error_responses(error_classes(route), schema_of[ErrorBody])
        responses = {str(route.status): success} | errors
        operation["responses"] = responses
        if route.auth:
            operation["security"] = [{BEARER_SCHEME: []}]
        elif route.service_credential:
            operation["security"] = [{SERVICE_SCHEME: []}]
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    used_tags = {tag for route in documented for tag in route.tags}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "tags": [tag for tag in TAGS if tag["name"] in used_tags],
        "paths": paths,
        "components": {
            "schemas": {f"{schema_prefix}{name}": s for name, s in components.items()},
            "securitySchemes": {
                BEARER_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "an access token from POST /auth/login or /auth/refresh",
                },
                SERVICE_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "one of the server's service tokens (WXLOGIN_SERVICE_TOKENS): "
                    "for a host app's backend, never for a mini program",
                },
            },
        },
    }


def require_appid(document: dict[str, Any], schema_prefix: str = "") -> None:
    """A server of several mini programs refuses a login that does not name one: say so."""
    login = document["components"]["schemas"][f"{schema_prefix}LoginRequest"]
    login["required"] = sorted({*login.get("required", ()), "appid"})
    # Required means a string: `"appid": null` is refused like a missing one, so the
    # optional field's null branch goes too.
    appid = login["properties"]["appid"]
    strings = [branch for branch in appid.get("anyOf", ()) if branch.get("type") != "null"]
    if len(strings) == 1:
        login["properties"]["appid"] = strings[0]

"""Routes as data: one table drives the lean app, the FastAPI adapter and OpenAPI.

A ``Route`` names its method and path, its handler, the Struct its body decodes into, what it
answers, whether it needs a bearer token, and which subtrees of the error tree it may raise.
Handlers take one ``Context`` and know nothing of ASGI or of any framework.

Most routes take and give JSON. Two ways out of that, both declared on the route so that the
faces and OpenAPI see them: ``stream`` reads a body that is not JSON as it arrives (a file
upload), and a ``BinaryContent`` response sends bytes of a media type (an avatar image). One
whole segment of a path may be a ``{parameter}``, handed to the handler in
``ctx.path_params``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from wxlogin.errors import AuthenticationError, NotReady, WxLoginError
from wxlogin.service.login import LoginService
from wxlogin.tokens import AccessClaims

__all__ = [
    "NOT_READY",
    "NO_PARAMS",
    "BinaryContent",
    "BinaryReply",
    "BodyDecoder",
    "BodySink",
    "Context",
    "MethodTable",
    "Route",
    "RouteTable",
    "StreamBody",
    "authenticate",
    "build_table",
    "verify_service_caller",
]

BodyT = TypeVar("BodyT")
BodyT_co = TypeVar("BodyT_co", covariant=True)
NOT_READY = "wxlogin is starting or was not set up on this app"
NO_PARAMS: Mapping[str, str] = MappingProxyType({})


class Context(Generic[BodyT]):
    """What a handler gets: the service, the decoded body, the caller, the client's address,
    the value of the path's ``{parameter}`` when it has one, and the request's headers."""

    __slots__ = ("_claims", "_service", "body", "client_ip", "headers", "path_params")

    def __init__(
        self,
        service: LoginService | None,
        body: BodyT,
        claims: AccessClaims | None,
        client_ip: str,
        path_params: Mapping[str, str] = NO_PARAMS,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        self._service = service
        self.body = body
        self._claims = claims
        self.client_ip = client_ip
        self.path_params = path_params
        # The request's headers as the server gave them (lower-case names, raw values): for
        # the rare handler that must verify them, such as WeChat Pay's signed callbacks.
        self.headers = headers

    @property
    def service(self) -> LoginService:
        if self._service is None:
            raise NotReady(NOT_READY)
        return self._service

    @property
    def claims(self) -> AccessClaims:
        if self._claims is None:  # only a route declared without auth=True gets here
            raise AuthenticationError()
        return self._claims


Handler = Callable[[Context[BodyT]], Awaitable[Any]]


class BodySink(Protocol[BodyT_co]):
    """Takes a request body chunk by chunk as it arrives; ``finish`` gives what it was."""

    def feed(self, chunk: bytes) -> None: ...

    def finish(self) -> BodyT_co: ...


class StreamBody(Protocol[BodyT_co]):
    """A request body that is not JSON: how to read it, and how OpenAPI describes it."""

    def open(self, content_type: bytes | None) -> BodySink[BodyT_co]:
        """A sink for one body; refuses (415, 400) from the Content-Type before any is read."""
        ...

    def openapi_content(self) -> dict[str, Any]:
        """The ``content`` object of the OpenAPI request body."""
        ...


@dataclass(frozen=True, slots=True)
class BinaryContent:
    """A response of raw bytes (the handler returns a ``BinaryReply``), as OpenAPI shows it."""

    media_types: tuple[str, ...]
    # (header name, what it says) for each header every answer carries.
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class BinaryReply:
    body: bytes
    media_type: str
    headers: tuple[tuple[bytes, bytes], ...] = ()


# msgspec's words for a JSON number with a fraction part met where an int was wanted.
_FLOAT_FOR_INT = "Expected `int`, got `float`"


class BodyDecoder(Generic[BodyT]):
    """msgspec's strict decoder of a route's Struct, except that a number written with a zero
    fraction (``1999.0``) is the integer it equals.

    /openapi.json says ``"type": "integer"``, which JSON Schema (and so every generated
    client, and FastAPI's adapter) takes to include ``1999.0``; Python's ``json.dumps`` of a
    float amount writes it so. msgspec alone refuses it. Lax mode would also take ``"1999"``
    and ``true``, which the document refuses, so only this one case is decoded again, off
    the hot path: after the strict decoder has said no.
    """

    __slots__ = ("_strict", "_type")

    def __init__(self, type_: type[BodyT]) -> None:
        self._type = type_
        self._strict: msgspec.json.Decoder[BodyT] = msgspec.json.Decoder(type_)

    def decode(self, raw: bytes) -> BodyT:
        try:
            return self._strict.decode(raw)
        except msgspec.ValidationError as exc:
            if not str(exc).startswith(_FLOAT_FOR_INT):
                raise
        # strict=True still: nothing but whole floats changes, and a Struct's checks run again.
        return msgspec.convert(_whole_floats_as_ints(msgspec.json.decode(raw)), self._type)


def _whole_floats_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_floats_as_ints(item) for item in value]
    return value


@dataclass(frozen=True, slots=True)
class Route(Generic[BodyT]):
    method: str
    path: str
    handler: Handler[BodyT]
    summary: str
    tags: tuple[str, ...] = ()
    body: type[BodyT] | None = None  # a JSON body: the Struct it decodes into
    stream: StreamBody[BodyT] | None = None  # a body of another kind (not with ``body``)
    response: type[Any] | BinaryContent | None = None  # None: an empty response (e.g. 204)
    status: int = 200
    auth: bool = False  # a user's access token (Authorization: Bearer <JWT>)
    # A server-to-server route: the caller is a host app's backend and sends one of the
    # service tokens (service/credentials.py) instead of a user's token. Not with ``auth``.
    service_credential: bool = False
    # Roots of the error subtrees the route may raise, for OpenAPI (validation, auth and
    # the service not being ready are added from the other fields).
    raises: tuple[type[WxLoginError], ...] = ()
    uses_service: bool = True
    # The body limit of this route; None: the face's own (1 MiB unless set otherwise).
    max_body_bytes: int | None = None
    # Built from the fields above: the body decoder, the handler's docstring for OpenAPI, the
    # path's parameter (``{name}`` as its last segment) and the prefix before it.
    decoder: BodyDecoder[BodyT] | None = field(init=False, repr=False)
    description: str = field(init=False, repr=False)
    path_param: str | None = field(init=False, repr=False)
    path_prefix: str = field(init=False, repr=False)
    path_suffix: str = field(init=False, repr=False)
    binary: bool = field(init=False, repr=False)
    guarded: bool = field(init=False, repr=False)  # auth or service_credential

    def __post_init__(self) -> None:
        if self.body is not None and self.stream is not None:
            raise ValueError(f"{self.path}: a route reads JSON or a stream, not both")
        decoder = BodyDecoder(self.body) if self.body is not None else None
        object.__setattr__(self, "decoder", decoder)
        object.__setattr__(self, "description", inspect.getdoc(self.handler) or "")
        prefix, brace, rest = self.path.partition("{")
        param, _, suffix = rest.partition("}") if brace else (None, "", "")
        if param is not None and not (
            prefix.endswith("/")
            and param.isidentifier()
            and (suffix == "" or suffix.startswith("/"))
            and "{" not in suffix
        ):
            raise ValueError(f"{self.path}: one whole segment like {{name}} may be a parameter")
        object.__setattr__(self, "path_param", param)
        object.__setattr__(self, "path_prefix", prefix if brace else self.path)
        object.__setattr__(self, "path_suffix", suffix)
        object.__setattr__(self, "binary", isinstance(self.response, BinaryContent))
        if self.auth and self.service_credential:
            raise ValueError(f"{self.path}: a user's token or a service token, not both")
        object.__setattr__(self, "guarded", self.auth or self.service_credential)

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


MethodTable = dict[str, Route[Any]]
RouteTable = dict[str, MethodTable]


def build_table(routes: Iterable[Route[Any]]) -> RouteTable:
    """path → method → route; two routes on one (path, method) is a programming error."""
    table: RouteTable = {}
    for route in routes:
        methods = table.setdefault(route.path, {})
        if route.method in methods:
            raise ValueError(f"two routes for {route.method} {route.path}")
        methods[route.method] = route
    return table


async def authenticate(service: LoginService, token: str | None) -> AccessClaims:
    """The caller's claims from a bearer token: signature, expiry, revocation; no database."""
    if not token:
        raise AuthenticationError("send an access token as 'Authorization: Bearer <token>'")
    return await service.authenticate(token)


def verify_service_caller(service: LoginService, token: str | None) -> None:
    """A server-to-server caller: one of the service tokens, compared in constant time."""
    service.service_credentials.verify(token)

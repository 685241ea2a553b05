"""Routes as data: one table drives the lean app, the FastAPI adapter and OpenAPI.

A ``Route`` names its method and path, its handler, the Struct its body decodes into, what it
answers, whether it needs a bearer token, and which subtrees of the error tree it may raise.
Handlers take one ``Context`` and know nothing of ASGI or of any framework.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import msgspec

from wxlogin.errors import AuthenticationError, NotReady, WxLoginError
from wxlogin.service.login import LoginService
from wxlogin.tokens import AccessClaims

__all__ = [
    "NOT_READY",
    "Context",
    "MethodTable",
    "Route",
    "RouteTable",
    "authenticate",
    "build_table",
]

BodyT = TypeVar("BodyT")
NOT_READY = "wxlogin is starting or was not set up on this app"


class Context(Generic[BodyT]):
    """What a handler gets: the service, the decoded body, the caller, the client's address."""

    __slots__ = ("_claims", "_service", "body", "client_ip")

    def __init__(
        self,
        service: LoginService | None,
        body: BodyT,
        claims: AccessClaims | None,
        client_ip: str,
    ) -> None:
        self._service = service
        self.body = body
        self._claims = claims
        self.client_ip = client_ip

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


@dataclass(frozen=True, slots=True)
class Route(Generic[BodyT]):
    method: str
    path: str
    handler: Handler[BodyT]
    summary: str
    tags: tuple[str, ...] = ()
    body: type[BodyT] | None = None
    response: type[Any] | None = None  # None: an empty response (e.g. 204)
    status: int = 200
    auth: bool = False
    # Roots of the error subtrees the route may raise, for OpenAPI (validation, auth and
    # the service not being ready are added from the other fields).
    raises: tuple[type[WxLoginError], ...] = ()
    uses_service: bool = True
    # Built from the fields above: the body decoder, and the handler's docstring for OpenAPI.
    decoder: msgspec.json.Decoder[BodyT] | None = field(init=False, repr=False)
    description: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        decoder = msgspec.json.Decoder(self.body) if self.body is not None else None
        object.__setattr__(self, "decoder", decoder)
        object.__setattr__(self, "description", inspect.getdoc(self.handler) or "")

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

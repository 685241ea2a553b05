"""Dependencies shared by the routes, as ``Annotated`` aliases (``ServiceDep``, ``CurrentUser``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wxlogin.errors import AuthenticationError, NotReady
from wxlogin.service.login import LoginService
from wxlogin.tokens import AccessClaims

__all__ = ["ClientIp", "CurrentUser", "ServiceDep", "get_service"]

STATE_KEY = "wxlogin_service"
_bearer = HTTPBearer(auto_error=False, description="an access token from POST /auth/login")


# Dependencies are `async def` even when they await nothing: FastAPI runs plain `def`
# dependencies in a thread pool, which costs more than the work itself on every request.
async def get_service(request: Request) -> LoginService:
    service: LoginService | None = getattr(request.app.state, STATE_KEY, None)
    if service is None:
        raise NotReady("wxlogin is starting or was not set up on this app")
    return service


ServiceDep = Annotated[LoginService, Depends(get_service)]


async def current_claims(
    service: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AccessClaims:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthenticationError("send an access token as 'Authorization: Bearer <token>'")
    return await service.authenticate(credentials.credentials)


CurrentUser = Annotated[AccessClaims, Depends(current_claims)]
"""The authenticated caller (user id, session id, appid), verified with no database round trip."""


async def client_ip(request: Request) -> str:
    # Only what the ASGI server says. Behind a proxy the server rewrites it from
    # X-Forwarded-For for trusted proxies only (`wxlogin serve` with trust_forwarded_for);
    # reading the header here would let any client pick its own address.
    return request.client.host if request.client else "unknown"


ClientIp = Annotated[str, Depends(client_ip)]

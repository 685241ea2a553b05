"""Discovery and health: OIDC metadata, JWKS, liveness and readiness."""

from __future__ import annotations

from typing import Any

from wxlogin.api.routing import Context, Route
from wxlogin.api.schemas import Health, JwkSet, OpenIdConfiguration
from wxlogin.errors import NotReady

__all__ = ["META_ROUTES"]

_OK = Health("ok")
_READY = Health("ready")
_DEGRADED = Health("degraded")


async def openid_configuration(ctx: Context[None]) -> OpenIdConfiguration:
    """Enough OIDC discovery metadata for any JWT library to verify our access tokens."""
    issuer = ctx.service.issuer.rstrip("/")
    return OpenIdConfiguration(
        issuer=ctx.service.issuer,
        jwks_uri=f"{issuer}/.well-known/jwks.json",
        token_endpoint=f"{issuer}/auth/login",
        response_types_supported=["token"],
        subject_types_supported=["public"],
        id_token_signing_alg_values_supported=["EdDSA"],
        token_endpoint_auth_methods_supported=["none"],
        claims_supported=["iss", "aud", "sub", "sid", "azp", "iat", "exp", "jti"],
    )


async def jwks(ctx: Context[None]) -> dict[str, Any]:
    """Our public signing keys, including retired ones whose tokens may still be live."""
    return ctx.service.jwks()


async def healthz(ctx: Context[None]) -> Health:
    """Liveness: the process answers."""
    return _OK


async def readyz(ctx: Context[None]) -> Health:
    """Readiness: ``ready``; ``degraded`` (still 200) while Redis is down and logins go on,
    on per-process fallbacks; 503 ``not_ready`` when the database does not answer.

    Degraded is 200 on purpose: every process shares the one Redis, so a load balancer that
    took out each process whose Redis is away would turn a degraded service into an outage.
    Alert on the body, route on the status.
    """
    state = await ctx.service.readiness()
    if state == "not_ready":
        raise NotReady("the database is not reachable")
    return _READY if state == "ready" else _DEGRADED


META_ROUTES: tuple[Route[Any], ...] = (
    Route(
        "GET",
        "/.well-known/openid-configuration",
        openid_configuration,
        "OIDC discovery",
        ("meta",),
        response=OpenIdConfiguration,
    ),
    Route("GET", "/.well-known/jwks.json", jwks, "Public signing keys", ("meta",), response=JwkSet),
    Route("GET", "/healthz", healthz, "Liveness", ("meta",), response=Health, uses_service=False),
    Route("GET", "/readyz", readyz, "Readiness", ("meta",), response=Health),
)

"""Discovery and health: OIDC metadata, JWKS, liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from wxlogin.api.deps import ServiceDep
from wxlogin.errors import NotReady

__all__ = ["meta_router"]

meta_router = APIRouter(tags=["meta"])


@meta_router.get("/.well-known/openid-configuration")
async def openid_configuration(service: ServiceDep) -> dict[str, Any]:
    """Enough OIDC discovery metadata for any JWT library to verify our access tokens."""
    issuer = service.issuer
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer.rstrip('/')}/.well-known/jwks.json",
        "token_endpoint": f"{issuer.rstrip('/')}/auth/login",
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_methods_supported": ["none"],
        "claims_supported": ["iss", "aud", "sub", "sid", "azp", "iat", "exp", "jti"],
    }


@meta_router.get("/.well-known/jwks.json")
async def jwks(service: ServiceDep) -> dict[str, Any]:
    return service.jwks()


@meta_router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@meta_router.get("/readyz")
async def readyz(service: ServiceDep) -> dict[str, str]:
    """Readiness: the database and the cache answer."""
    if not await service.ready():
        raise NotReady("the database or the cache is not reachable")
    return {"status": "ready"}

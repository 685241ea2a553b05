"""Discovery, JWKS verification by a third party, health, OpenAPI."""

from __future__ import annotations

from pathlib import Path

import httpx2
import jwt

from tests.api.conftest import ISSUER, Harness, make_settings
from wxlogin.api import create_app
from wxlogin.cache.redis import RedisCache
from wxlogin.simulator import Simulator
from wxlogin.tokens import SigningKeys


async def test_another_service_verifies_our_tokens_from_the_jwks(wx: Harness) -> None:
    token = (await wx.login("alice"))["access_token"]
    discovery = (await wx.http.get("/.well-known/openid-configuration")).json()
    assert discovery["issuer"] == ISSUER
    assert discovery["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert discovery["id_token_signing_alg_values_supported"] == ["EdDSA"]
    jwks = (await wx.http.get("/.well-known/jwks.json")).json()
    kid = jwt.get_unverified_header(token)["kid"]
    [jwk] = [k for k in jwks["keys"] if k["kid"] == kid]
    assert set(jwk) >= {"kty", "crv", "x", "kid", "alg", "use"}
    assert "d" not in jwk  # public part only
    claims = jwt.decode(
        token,
        jwt.PyJWK(jwk).key,
        algorithms=["EdDSA"],
        audience="wxlogin",
        issuer=discovery["issuer"],
        options={"require": ["exp", "iat", "sub"]},
    )
    assert claims["azp"]


async def test_health_and_readiness(wx: Harness) -> None:
    assert (await wx.http.get("/healthz")).json() == {"status": "ok"}
    ready = await wx.http.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_not_ready_when_the_cache_is_unreachable(
    sim: Simulator, database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path / "data")
    dead = RedisCache("redis://127.0.0.1:1/0")  # nothing listens on port 1
    app = create_app(settings, wechat_transport=sim.transport, cache=dead)
    async with app.running():
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url=ISSUER) as http:
            live = await http.get("/healthz")
            ready = await http.get("/readyz")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["error"]["code"] == "not_ready"
    assert ready.headers["retry-after"]
    await dead.aclose()


async def test_openapi_documents_routes_and_error_codes(wx: Harness) -> None:
    assert (await wx.http.get("/docs")).status_code == 200
    spec = (await wx.http.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/auth/login",
        "/auth/refresh",
        "/auth/logout",
        "/me",
        "/me/phone",
        "/me/profile",
        "/me/profile/wechat",
        "/.well-known/jwks.json",
    ):
        assert path in paths, path
    login = paths["/auth/login"]["post"]["responses"]
    assert "invalid_code" in login["400"]["description"]
    assert "session_key" not in str(paths["/auth/login"]["post"]["responses"]["200"])


async def test_unknown_route_uses_the_error_shape(wx: Harness) -> None:
    response = await wx.http.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_a_key_rotation_elsewhere_is_published_at_once(wx: Harness) -> None:
    before = {k["kid"] for k in (await wx.http.get("/.well-known/jwks.json")).json()["keys"]}
    # Another process (`wxlogin keys rotate`, another worker) rotates the shared key file.
    elsewhere = SigningKeys.load_or_create(wx.settings.data_dir)
    new_kid = elsewhere.rotate(keep_for=wx.settings.access_token_ttl)
    after = {k["kid"] for k in (await wx.http.get("/.well-known/jwks.json")).json()["keys"]}
    assert after == before | {new_kid}
    # Tokens signed with the new key verify here too.
    body = await wx.login("alice")
    assert jwt.get_unverified_header(body["access_token"])["kid"] in after
    me = await wx.http.get("/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200

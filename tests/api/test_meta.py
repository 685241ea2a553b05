"""Discovery, JWKS verification by a third party, health, OpenAPI."""

from __future__ import annotations

from pathlib import Path

import httpx2
import jwt

from tests.api.conftest import APPID, ISSUER, Harness, make_settings
from wxlogin.api import create_app
from wxlogin.cache.fallback import FallbackCache
from wxlogin.cache.redis import RedisCache
from wxlogin.private_files import session_key_encryption_key
from wxlogin.service.keyring import KeyRing
from wxlogin.simulator import Simulator
from wxlogin.store.repository import Store


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


async def test_degraded_but_serving_when_redis_is_unreachable(
    sim: Simulator, database_url: str, tmp_path: Path
) -> None:
    """Redis away: 200 ``degraded`` (routing keeps sending logins here) and logins work on the
    per-process fallbacks; what comes back when Redis does is in tests/cli/test_degraded.py."""
    settings = make_settings(database_url, tmp_path / "data", login_rate_limit_per_ip=5)
    dead = FallbackCache(RedisCache("redis://127.0.0.1:1/0"))  # nothing listens on port 1
    app = create_app(settings, wechat_transport=sim.transport, cache=dead)
    async with app.running():
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url=ISSUER) as http:
            live = await http.get("/healthz")
            ready = await http.get("/readyz")
            logins = [
                await http.post(
                    "/auth/login", json={"code": sim.login(APPID, f"u{n}"), "appid": APPID}
                )
                for n in range(6)
            ]
            token = logins[0].json()["access_token"]
            me = await http.get("/me", headers={"Authorization": f"Bearer {token}"})
            await http.post("/auth/logout", headers={"Authorization": f"Bearer {token}"})
            after = await http.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert live.status_code == 200
    assert (ready.status_code, ready.json()) == (200, {"status": "degraded"})
    # The per-IP limit still holds, counted in this process's memory.
    assert [r.status_code for r in logins] == [200] * 5 + [429]
    assert me.status_code == 200
    assert after.status_code == 401  # a logout still revokes, Redis or not
    assert dead.degraded
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


async def test_a_key_rotation_elsewhere_is_published_then_signs(wx: Harness) -> None:
    before = {k["kid"] for k in (await wx.http.get("/.well-known/jwks.json")).json()["keys"]}
    old_token = (await wx.login("alice"))["access_token"]
    # Another process (`wxlogin keys rotate`, another machine) rotates the keys in the database.
    store = Store.from_url(str(wx.settings.database_url))
    try:
        elsewhere = await KeyRing.open(
            store, session_key_encryption_key(wx.settings), clock=wx.clock
        )
        fresh = await elsewhere.rotate(keep_for=wx.settings.access_token_ttl, activate_in=30)
    finally:
        await store.aclose()
    # What the key ring's poll (or a Redis announcement) does in the background:
    (ring,) = [work for work in wx.service.background if isinstance(work, KeyRing)]
    await ring.refresh()
    after = {k["kid"] for k in (await wx.http.get("/.well-known/jwks.json")).json()["keys"]}
    assert after == before | {fresh.kid}
    assert jwt.get_unverified_header((await wx.login("bob"))["access_token"])["kid"] in before
    # Its time (the database keeps microseconds, so the moment stored may round up past
    # now + 30 by a fraction of one): tokens signed here carry the new key, and verify.
    wx.clock.advance(30.001)
    body = await wx.login("carol")
    assert jwt.get_unverified_header(body["access_token"])["kid"] == fresh.kid
    for token in (body["access_token"], old_token):
        me = await wx.http.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200

"""POST /auth/login, /auth/refresh, /auth/logout and token checking, end to end."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from typing import Any

import jwt
import orjson
import pytest

from tests.api.conftest import APPID, APPID_B, ISSUER, Harness, HarnessFactory, bearer
from wxlogin.wechat.protocol import CODE2SESSION, CODE_TTL

# ---------------------------------------------------------------------------- login


async def test_login_returns_our_tokens_and_the_user(wx: Harness) -> None:
    body = await wx.login("alice")
    assert set(body) == {
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "user",
        "new_user",
    }
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["new_user"] is True
    user = body["user"]
    assert user["identities"] == [{"appid": APPID, "openid": wx.sim.openid(APPID, "alice")}]
    assert user["unionid"] == wx.sim.unionid(APPID, "alice")
    assert "session_key" not in json.dumps(body)
    again = await wx.login("alice")
    assert again["new_user"] is False
    assert again["user"]["id"] == user["id"]


async def test_appid_may_be_left_out_only_when_one_app_is_served(
    harness_factory: HarnessFactory,
) -> None:
    two = await harness_factory()
    response = await two.http.post("/auth/login", json={"code": two.sim.login(APPID, "a")})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    one = await harness_factory(apps=[{"appid": APPID, "secret": two.settings.app_secret(APPID)}])
    body = await one.login("alice", appid=None)
    assert body["user"]["identities"][0]["appid"] == APPID


async def test_unknown_appid(wx: Harness) -> None:
    response = await wx.http.post(
        "/auth/login", json={"code": "x" * 32, "appid": "wx9999999999999999"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_app"


@pytest.mark.parametrize("body", [{}, {"code": ""}, {"code": 5}, {"code": "abc", "extra": 1}, None])
async def test_malformed_login_requests(wx: Harness, body: Any) -> None:
    response = await wx.http.post("/auth/login", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("errcode", "status", "code", "retry_after"),
    [
        (40029, 400, "invalid_code", None),
        (40163, 400, "code_used", None),
        (45011, 429, "wechat_rate_limited", "60"),
        (40226, 403, "user_blocked", None),
        (-1, 503, "upstream_busy", "1"),
        (45009, 503, "quota_exceeded", None),
        (41008, 400, "missing_code", None),
        (40125, 500, "bad_app_credentials", None),
        (40013, 500, "bad_app_credentials", None),
        (40164, 500, "wechat_misconfigured", None),
        (61451, 502, "wechat_error", None),
    ],
)
async def test_upstream_errors_are_mapped(
    wx: Harness, errcode: int, status: int, code: str, retry_after: str | None
) -> None:
    wx.sim.add_fault(CODE2SESSION, errcode=errcode)
    response = await wx.http.post(
        "/auth/login", json={"code": wx.sim.login(APPID, "alice"), "appid": APPID}
    )
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["wechat_errcode"] == errcode
    assert error["message"]
    if errcode == 45009:  # until the quota resets at midnight, Beijing time
        assert 0 < int(response.headers["retry-after"]) <= 86400
    else:
        assert response.headers.get("retry-after") == retry_after


async def test_real_code_reuse_and_expiry(wx: Harness) -> None:
    code = wx.sim.login(APPID, "alice")
    assert (await wx.http.post("/auth/login", json={"code": code, "appid": APPID})).is_success
    reused = await wx.http.post("/auth/login", json={"code": code, "appid": APPID})
    assert (reused.status_code, reused.json()["error"]["code"]) == (400, "code_used")
    stale = wx.sim.login(APPID, "alice")
    wx.sim.advance(CODE_TTL + 1)
    expired = await wx.http.post("/auth/login", json={"code": stale, "appid": APPID})
    assert (expired.status_code, expired.json()["error"]["code"]) == (400, "invalid_code")


async def test_credential_errors_are_logged_loudly(
    wx: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    wx.sim.add_fault(CODE2SESSION, errcode=40125)
    response = await wx.http.post(
        "/auth/login", json={"code": wx.sim.login(APPID, "alice"), "appid": APPID}
    )
    assert response.status_code == 500
    loud = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert loud
    assert any(APPID in r.getMessage() and "40125" in r.getMessage() for r in loud)


async def test_upstream_timeout_is_504_and_unreachable_is_503(wx: Harness) -> None:
    wx.sim.add_fault(CODE2SESSION, delay_ms=2000)
    slow = await wx.http.post(
        "/auth/login", json={"code": wx.sim.login(APPID, "alice"), "appid": APPID}
    )
    assert (slow.status_code, slow.json()["error"]["code"]) == (504, "upstream_timeout")
    assert slow.headers["retry-after"] == "1"
    wx.sim.add_fault(CODE2SESSION, drop=True)
    dropped = await wx.http.post(
        "/auth/login", json={"code": wx.sim.login(APPID, "alice"), "appid": APPID}
    )
    assert (dropped.status_code, dropped.json()["error"]["code"]) == (503, "upstream_unavailable")


async def test_login_is_rate_limited_per_client_ip(harness_factory: HarnessFactory) -> None:
    wx: Harness = await harness_factory(login_rate_limit_per_ip=3)
    for _ in range(3):
        await wx.login("alice")
    response = await wx.http.post(
        "/auth/login", json={"code": wx.sim.login(APPID, "alice"), "appid": APPID}
    )
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 60


async def test_login_is_rate_limited_per_app(harness_factory: HarnessFactory) -> None:
    wx: Harness = await harness_factory(login_rate_limit_per_app=2)
    await wx.login("alice")
    await wx.login("bob")
    response = await wx.http.post(
        "/auth/login", json={"code": wx.sim.login(APPID, "carol"), "appid": APPID}
    )
    assert response.status_code == 429
    await wx.login("carol", appid=APPID_B)  # another app has its own budget


# ---------------------------------------------------------------------------- refresh


async def test_refresh_rotates_the_pair(wx: Harness) -> None:
    first = await wx.login("alice")
    response = await wx.http.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200
    pair = response.json()
    assert set(pair) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert pair["refresh_token"] != first["refresh_token"]
    me = await wx.http.get("/me", headers=bearer(pair["access_token"]))
    assert me.json()["id"] == first["user"]["id"]
    again = await wx.http.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 200


async def test_reusing_a_refresh_token_revokes_the_session(wx: Harness) -> None:
    first = await wx.login("alice")
    rotated = (
        await wx.http.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    ).json()
    wx.clock.advance(31)  # past the 30 s grace window a spent token is a stolen token
    reuse = await wx.http.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert reuse.status_code == 401
    assert reuse.json()["error"]["code"] == "refresh_reused"
    # The thief's (or the victim's) newer token dies with the session...
    newer = await wx.http.post("/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert (newer.status_code, newer.json()["error"]["code"]) == (401, "session_revoked")
    # ...and so do the session's access tokens.
    for token in (first["access_token"], rotated["access_token"]):
        me = await wx.http.get("/me", headers=bearer(token))
        assert (me.status_code, me.json()["error"]["code"]) == (401, "session_revoked")


async def test_a_refresh_retried_within_the_grace_window_gets_the_same_successor(
    wx: Harness,
) -> None:
    """The client sent a refresh, lost the answer, and sends the spent token again."""
    first = await wx.login("alice")
    body = {"refresh_token": first["refresh_token"]}
    answered = (await wx.http.post("/auth/refresh", json=body)).json()
    wx.clock.advance(29)
    retried = await wx.http.post("/auth/refresh", json=body)
    assert retried.status_code == 200
    assert retried.json()["refresh_token"] == answered["refresh_token"]
    # The session lives on: both access tokens work, and the successor rotates as usual.
    for pair in (answered, retried.json()):
        me = await wx.http.get("/me", headers=bearer(pair["access_token"]))
        assert me.status_code == 200
    onward = await wx.http.post("/auth/refresh", json={"refresh_token": answered["refresh_token"]})
    assert onward.status_code == 200
    # Now the first token's successor is spent too: the first token is no longer a retry.
    late = await wx.http.post("/auth/refresh", json=body)
    assert (late.status_code, late.json()["error"]["code"]) == (401, "refresh_reused")


async def test_without_a_grace_window_any_reuse_revokes(harness_factory: HarnessFactory) -> None:
    strict: Harness = await harness_factory(refresh_reuse_grace=0)
    first = await strict.login("alice")
    body = {"refresh_token": first["refresh_token"]}
    assert (await strict.http.post("/auth/refresh", json=body)).status_code == 200
    reuse = await strict.http.post("/auth/refresh", json=body)
    assert (reuse.status_code, reuse.json()["error"]["code"]) == (401, "refresh_reused")


async def test_other_sessions_survive_a_revocation(wx: Harness) -> None:
    phone = await wx.login("alice")
    tablet = await wx.login("alice")
    await wx.http.post("/auth/logout", headers=bearer(phone["access_token"]))
    assert (await wx.http.get("/me", headers=bearer(tablet["access_token"]))).status_code == 200


@pytest.mark.parametrize(
    "token", ["", "garbage", "abc.def", "nosuchsession." + "x" * 43, "a" * 600]
)
async def test_unknown_refresh_tokens(wx: Harness, token: str) -> None:
    response = await wx.http.post("/auth/refresh", json={"refresh_token": token})
    assert response.status_code in (400, 401)
    assert response.json()["error"]["code"] in ("invalid_token", "invalid_request")


async def test_expired_refresh_token(wx: Harness) -> None:
    first = await wx.login("alice")
    wx.clock.advance(wx.settings.refresh_token_ttl + 1)
    response = await wx.http.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert (response.status_code, response.json()["error"]["code"]) == (401, "token_expired")


# ---------------------------------------------------------------------------- logout


async def test_logout_revokes_the_session(wx: Harness) -> None:
    body = await wx.login("alice")
    response = await wx.http.post("/auth/logout", headers=bearer(body["access_token"]))
    assert response.status_code == 204
    assert response.content == b""
    me = await wx.http.get("/me", headers=bearer(body["access_token"]))
    assert (me.status_code, me.json()["error"]["code"]) == (401, "session_revoked")
    refresh = await wx.http.post("/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert (refresh.status_code, refresh.json()["error"]["code"]) == (401, "session_revoked")


async def test_logout_needs_a_token(wx: Harness) -> None:
    response = await wx.http.post("/auth/logout")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


# ---------------------------------------------------------------------------- access tokens


def _claims(wx: Harness, body: dict[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(body["access_token"], options={"verify_signature": False})
    return claims


async def test_access_token_claims(wx: Harness) -> None:
    body = await wx.login("alice")
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "EdDSA"
    assert header["kid"]
    claims = _claims(wx, body)
    assert claims["iss"] == ISSUER
    assert claims["aud"] == "wxlogin"
    assert claims["sub"] == body["user"]["id"]
    assert claims["azp"] == APPID
    assert claims["exp"] - claims["iat"] == 900
    assert {"sid", "jti"} <= set(claims)


async def test_expired_access_token(wx: Harness) -> None:
    body = await wx.login("alice")
    wx.clock.advance(900 + wx.settings.token_leeway + 1)
    me = await wx.http.get("/me", headers=bearer(body["access_token"]))
    assert (me.status_code, me.json()["error"]["code"]) == (401, "token_expired")


def _tamper(token: str, part: int) -> str:
    pieces = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(pieces[part] + "=" * (-len(pieces[part]) % 4)))
    raw[len(raw) // 2] ^= 0x01
    pieces[part] = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    return ".".join(pieces)


async def test_tampered_tokens_are_refused(wx: Harness) -> None:
    token = (await wx.login("alice"))["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    header = jwt.get_unverified_header(token)
    # Another user's id, same signature.
    pieces = token.split(".")
    forged_payload = base64.urlsafe_b64encode(
        orjson.dumps({**claims, "sub": "someone-else"})
    ).rstrip(b"=")
    swapped = ".".join([pieces[0], forged_payload.decode(), pieces[2]])
    variants = {
        "payload bit": _tamper(token, 1),
        "signature bit": _tamper(token, 2),
        "sub swapped": swapped,
        "alg none": jwt.encode(claims, "", algorithm="none", headers={"kid": header["kid"]}),
        "truncated": token[:-10],
        "two parts": ".".join(pieces[:2]),
    }
    for name, bad in variants.items():
        response = await wx.http.get("/me", headers=bearer(bad))
        assert response.status_code == 401, name
        assert response.json()["error"]["code"] == "invalid_token", name


def _hs256(claims: dict[str, Any], secret: bytes, *, kid: str) -> str:
    """Sign by hand: PyJWT itself refuses to use key material like this, an attacker won't."""

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = b64(orjson.dumps({"alg": "HS256", "typ": "JWT", "kid": kid})) + b"."
    signing_input += b64(orjson.dumps(claims))
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + b64(signature)).decode()


async def test_alg_confusion_with_the_public_key_as_hmac_secret(wx: Harness) -> None:
    token = (await wx.login("alice"))["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    jwks = (await wx.http.get("/.well-known/jwks.json")).json()
    key = jwks["keys"][0]
    public = base64.urlsafe_b64decode(key["x"] + "=" * (-len(key["x"]) % 4))
    for secret in (public, key["x"].encode(), json.dumps(key).encode()):
        forged = _hs256(claims, secret, kid=key["kid"])
        response = await wx.http.get("/me", headers=bearer(forged))
        assert (response.status_code, response.json()["error"]["code"]) == (401, "invalid_token")


async def test_tokens_with_wrong_audience_issuer_or_kid(wx: Harness) -> None:
    body = await wx.login("alice")
    good = _claims(wx, body)
    now = int(wx.clock())
    cases = {
        "aud": {**good, "aud": "another-service"},
        "iss": {**good, "iss": "https://evil.example"},
        "no sid": {k: v for k, v in good.items() if k != "sid"},
        "future iat": {**good, "iat": now + 3600, "exp": now + 7200},
    }
    # Sanity: the same key with the right claims is accepted, so the refusals below are real.
    assert (await wx.http.get("/me", headers=bearer(wx.forge(good)))).status_code == 200
    for name, claims in cases.items():
        response = await wx.http.get("/me", headers=bearer(wx.forge(claims)))
        assert response.status_code == 401, name
        assert response.json()["error"]["code"] == "invalid_token", name
    unknown_kid = wx.forge(good, kid="no-such-kid")
    response = await wx.http.get("/me", headers=bearer(unknown_kid))
    assert (response.status_code, response.json()["error"]["code"]) == (401, "invalid_token")


async def test_missing_or_malformed_authorization(wx: Harness) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
        response = await wx.http.get("/me", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] in ("unauthorized", "invalid_token")


class _NoDatabase:
    """Stands where the store was: any use of it fails the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"token verification touched the database (store.{name})")


async def test_token_verification_needs_no_database(wx: Harness) -> None:
    body = await wx.login("alice")  # issued, never verified yet: no cached verdict
    service = wx.service
    store = service.store
    service.store = _NoDatabase()  # type: ignore[assignment]  # a stand-in that refuses use
    try:
        claims = await service.authenticate(body["access_token"])
    finally:
        service.store = store
    assert claims.session_id == _claims(wx, body)["sid"]
    assert claims.user_id == body["user"]["id"]


async def test_a_forged_forwarded_for_header_does_not_dodge_the_ip_limit(
    harness_factory: HarnessFactory,
) -> None:
    wx: Harness = await harness_factory(login_rate_limit_per_ip=2, trust_forwarded_for=True)
    statuses = []
    for i in range(4):
        response = await wx.http.post(
            "/auth/login",
            json={"code": wx.sim.login(APPID, f"user{i}"), "appid": APPID},
            headers={"X-Forwarded-For": f"10.0.0.{i}"},
        )
        statuses.append(response.status_code)
    assert statuses == [200, 200, 429, 429]


@pytest.mark.parametrize(
    "answer",
    [
        '{"openid":"oAAAAAAAAAAAAAAAAAAAAAAAAAAA","session_key":"ключ-не-ascii-сессии=="}',
        '{"openid":"oAAAAAAAAAAAAAAAAAAAAAAAAAAA","session_key":"tiihtNczf5v6AKRyjwEUhQ==",'
        '"unionid":{"nested":"object"}}',
        '{"openid":"' + "o" * 100_000 + '","session_key":"tiihtNczf5v6AKRyjwEUhQ=="}',
        '{"errcode":true,"errmsg":"x"}',
    ],
)
async def test_a_malformed_wechat_answer_is_a_502_and_stores_nothing(
    wx: Harness, answer: str
) -> None:
    wx.sim.add_fault("/sns/jscode2session", body=answer)
    code = wx.sim.login(APPID, "alice")
    response = await wx.http.post("/auth/login", json={"code": code, "appid": APPID})
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "bad_upstream_response"
    assert "wechat_errcode" not in error  # never `true` where the schema says integer
    assert await wx.service.store.list_users() == []

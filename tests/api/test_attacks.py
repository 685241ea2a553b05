"""What an attacker sends, through the whole service, on both backends: forged access tokens,
someone else's refresh token, the wrong credential in the wrong place, and bodies built to
exhaust a parser. Each is refused with a documented 4xx, never a 500, and refusing it costs the
victim nothing (no session revoked, no row written).

Alongside tests/api/test_auth.py (alg none, HS256 with the public key, wrong aud/iss, unknown
kid, expired, tampered bits) and tests/test_tokens.py (the verifier on its own); this adds
the header tricks (an embedded key, a key URL, hostile kids), attacker-signed tokens, refresh
tokens spliced across users, and every JSON route against oversized and deeply nested bodies.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from typing import Any

import httpx2
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.api.conftest import Harness, bearer
from tests.api.fault_support import Verdict

SERVICE_TOKEN = "attack-suite-service-token-0123456789abcdef"


@pytest.fixture
async def h(harness_factory: Callable[..., Any]) -> Harness:
    harness: Harness = await harness_factory(service_tokens=[SERVICE_TOKEN])
    return harness


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw(header: Any, claims: Any, signature: bytes = b"") -> str:
    """A token put together by hand: whatever header and claims, whatever signature."""
    return f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(claims))}.{_b64(signature)}"


def _signed(key: Ed25519PrivateKey, header: Any, claims: Any) -> str:
    """Signed with ``key`` over exactly this header (PyJWT would refuse some of these)."""
    signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(claims))}"
    return f"{signing_input}.{_b64(key.sign(signing_input.encode()))}"


async def _me(h: Harness, token: str) -> httpx2.Response:
    # As bytes: a header may carry any octet, and an attacker's will.
    header = (b"authorization", f"Bearer {token}".encode("latin-1"))
    return await h.http.get("/me", headers=[header])


async def test_forged_access_tokens_are_refused(h: Harness) -> None:
    body = await h.login("victim")
    good = jwt.decode(body["access_token"], options={"verify_signature": False})
    kid, ours = h.private_key()
    assert (await _me(h, _signed(ours, {"alg": "EdDSA", "kid": kid}, good))).status_code == 200
    attacker = Ed25519PrivateKey.generate()
    public = attacker.public_key().public_bytes_raw()
    their_jwk = {"kty": "OKP", "crv": "Ed25519", "x": _b64(public), "kid": "attacker"}
    forged = {
        "their key, our kid": _signed(attacker, {"alg": "EdDSA", "kid": kid}, good),
        "their key inside the header (jwk)": _signed(
            attacker, {"alg": "EdDSA", "kid": "attacker", "jwk": their_jwk}, good
        ),
        "our kid, their key in the header": _signed(
            attacker, {"alg": "EdDSA", "kid": kid, "jwk": their_jwk}, good
        ),
        "a key URL (jku)": _signed(
            attacker, {"alg": "EdDSA", "kid": "attacker", "jku": "https://evil.example/k"}, good
        ),
        "a certificate URL (x5u)": _signed(
            attacker, {"alg": "EdDSA", "kid": "attacker", "x5u": "https://evil.example/c"}, good
        ),
        "alg None": _raw({"alg": "None", "kid": kid}, good),
        "alg NONE": _raw({"alg": "NONE", "kid": kid}, good),
        "alg empty": _raw({"alg": "", "kid": kid}, good),
        "no alg": _signed(ours, {"kid": kid}, good),
        "alg RS256, our signature": _signed(ours, {"alg": "RS256", "kid": kid}, good),
        "alg ES256, our signature": _signed(ours, {"alg": "ES256", "kid": kid}, good),
        "alg as a list": _signed(ours, {"alg": ["EdDSA"], "kid": kid}, good),
        "kid a path": _signed(ours, {"alg": "EdDSA", "kid": "../../data/keys.json"}, good),
        "kid SQL": _signed(ours, {"alg": "EdDSA", "kid": "' OR '1'='1"}, good),
        "kid with CR LF": _signed(ours, {"alg": "EdDSA", "kid": f"{kid}\r\nX-Evil: 1"}, good),
        "kid 10,000 characters": _signed(ours, {"alg": "EdDSA", "kid": "k" * 10_000}, good),
        "kid a number": _signed(ours, {"alg": "EdDSA", "kid": 7}, good),
        "kid an object": _signed(ours, {"alg": "EdDSA", "kid": {"$ne": ""}}, good),
        "kid null": _signed(ours, {"alg": "EdDSA", "kid": None}, good),
        "header an array": _signed(ours, ["EdDSA", kid], good),
        "claims an array": _signed(ours, {"alg": "EdDSA", "kid": kid}, [good]),
        "exp as text": _signed(ours, {"alg": "EdDSA", "kid": kid}, {**good, "exp": "9999999999"}),
        "exp a float past 2^64": _signed(ours, {"alg": "EdDSA", "kid": kid}, {**good, "exp": 1e30}),
        "sub an object": _signed(ours, {"alg": "EdDSA", "kid": kid}, {**good, "sub": {"id": 1}}),
        "four segments": body["access_token"] + ".e30",
        "a megabyte of token": "eyJ" + "A" * (1 << 20),
        "not base64": "ÿÿÿ.ÿÿÿ.ÿÿÿ",
    }
    for name, token in forged.items():
        response = await _me(h, token)
        answer = (response.status_code, response.json()["error"]["code"])
        assert answer == (401, "invalid_token"), name
    assert (await _me(h, body["access_token"])).status_code == 200  # the victim is unharmed


async def test_a_refresh_token_is_its_owners_only(h: Harness) -> None:
    alice, bob = await h.login("alice"), await h.login("bob")
    alice_sid = alice["refresh_token"].partition(".")[0]
    bob_secret = bob["refresh_token"].partition(".")[2]
    # Bob's token refreshes Bob, and only Bob.
    bobs = await h.http.post("/auth/refresh", json={"refresh_token": bob["refresh_token"]})
    assert bobs.status_code == 200
    claims = jwt.decode(bobs.json()["access_token"], options={"verify_signature": False})
    assert claims["sub"] == bob["user"]["id"] != alice["user"]["id"]
    # Alice's session id (it is in her access token's sid) with any other secret: Bob's, or
    # a hundred guesses. Refused as unknown — and not as a reuse, which would revoke her.
    guesses = [bob_secret] + [secrets.token_urlsafe(32) for _ in range(100)]
    for guess in guesses:
        spliced = await h.http.post("/auth/refresh", json={"refresh_token": f"{alice_sid}.{guess}"})
        assert (spliced.status_code, spliced.json()["error"]["code"]) == (401, "invalid_token")
    assert (await _me(h, alice["access_token"])).status_code == 200
    mine = await h.http.post("/auth/refresh", json={"refresh_token": alice["refresh_token"]})
    assert mine.status_code == 200
    assert (
        jwt.decode(mine.json()["access_token"], options={"verify_signature": False})["sub"]
        == (alice["user"]["id"])
    )


async def test_each_credential_only_where_it_belongs(h: Harness) -> None:
    alice = await h.login("alice")
    # A refresh token is no access token, an access token no refresh token.
    assert (await _me(h, alice["refresh_token"])).status_code == 401
    swapped = await h.http.post("/auth/refresh", json={"refresh_token": alice["access_token"]})
    assert swapped.status_code in (400, 401)
    # A user's access token is no service credential; a service token is no user's.
    for path in ("/messages", "/pay/orders"):
        response = await h.http.post(path, json={}, headers=bearer(alice["access_token"]))
        assert (response.status_code, response.json()["error"]["code"]) == (
            401,
            "invalid_service_token",
        ), path
    assert (await _me(h, SERVICE_TOKEN)).status_code == 401
    for near in (SERVICE_TOKEN + "x", SERVICE_TOKEN[:-1], SERVICE_TOKEN.upper()):
        refused = await h.http.post("/messages", json={}, headers=bearer(near))
        assert refused.status_code == 401
    # After a logout, the session's refresh token is dead too.
    assert (await h.http.post("/auth/logout", headers=bearer(alice["access_token"]))).is_success
    late = await h.http.post("/auth/refresh", json={"refresh_token": alice["refresh_token"]})
    assert (late.status_code, late.json()["error"]["code"]) == (401, "session_revoked")


DEPTH = 100_000
HOSTILE_BODIES: dict[str, bytes] = {
    "2 MiB in one field": b'{"code":"' + b"x" * (2 << 20) + b'"}',
    "nested arrays 100,000 deep": b'{"code":' + b"[" * DEPTH + b"]" * DEPTH + b"}",
    "nested objects 100,000 deep": b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
    "unclosed nesting": b"[" * DEPTH,
    "50,000 keys": orjson.dumps({f"k{n}": n for n in range(50_000)}),
    "a number past any float": b'{"code":1e999999}',
    "an integer of 5,000 digits": b'{"amount":' + b"9" * 5000 + b"}",
    "duplicate keys": b'{"code":"a","code":"b","code":"c"}',
    "not UTF-8": b'{"code":"\xff\xfe"}',
    "UTF-16 with a BOM": '{"code":"x"}'.encode("utf-16"),
    "NUL bytes": b'{"code":"\x00\x00"}',
    "a bare string": b'"code"',
}


def _json_routes(spec: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method.upper(), path)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]


async def test_every_json_route_survives_hostile_bodies(h: Harness) -> None:
    spec = (await h.http.get("/openapi.json")).json()
    verdict = Verdict(spec)
    token = (await h.login("parser-tester"))["access_token"]
    routes = _json_routes(spec)
    assert len(routes) >= 8  # login, refresh, phone, profile ×2, wechat profile, messages, …
    for method, path in routes:
        operation = spec["paths"][path][method.lower()]
        needs = {name for scheme in operation.get("security", []) for name in scheme}
        credential = SERVICE_TOKEN if "serviceToken" in needs else token
        url = path.replace("{order_id}", "wxorder0000000000000001")
        for name, body in HOSTILE_BODIES.items():
            response = await h.http.request(
                method,
                url,
                content=body,
                headers={**bearer(credential), "content-type": "application/json"},
            )
            case = f"{name} to {method} {path}"
            verdict.refused(case, response, method, path)
            verdict.expect(case, response.status_code < 500, f"answered {response.status_code}")
    verdict.assert_clean()
    assert verdict.tried == len(routes) * len(HOSTILE_BODIES)
    assert (await _me(h, token)).status_code == 200  # and the service is still there

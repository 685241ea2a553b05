"""Access tokens and signing keys: round trips, every way a token can be wrong, key sets.

Where the keys are kept (the database, sealed) and how a rotation reaches every process is
``service/keyring.py``'s business, tested in ``tests/service/test_keyring.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from wxlogin.errors import ConfigurationError, InvalidToken, NotReady, TokenExpired
from wxlogin.tokens import (
    AccessTokens,
    SigningKey,
    SigningKeys,
    hash_refresh_token,
    jwk_thumbprint,
    parse_legacy_key_file,
)

ISSUER = "https://login.example.com"
AUDIENCE = "wxlogin"
TTL = 900
LEEWAY = 30
START = 1_700_000_000.0


@dataclass
class Clock:
    now: float = START
    calls: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys(clock: Clock) -> SigningKeys:
    return SigningKeys([SigningKey.generate(clock.now)], clock=clock)


@pytest.fixture
def tokens(keys: SigningKeys, clock: Clock) -> AccessTokens:
    return AccessTokens(keys, issuer=ISSUER, audience=AUDIENCE, ttl=TTL, leeway=LEEWAY, clock=clock)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: dict[str, Any]) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def claims(clock: Clock, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "sid": "session-1",
        "azp": "wx1234567890abcdef",
        "iat": int(clock.now),
        "exp": int(clock.now) + TTL,
        "jti": "jti-1",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def forge(keys: SigningKeys, payload: dict[str, Any], **headers: Any) -> str:
    """A token signed with our real private key, for claims our issue() would never write."""
    kid, private = keys.signing_key()
    return jwt.encode(payload, private, algorithm="EdDSA", headers={"kid": kid, **headers})


def rejected(tokens: AccessTokens, token: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as caught:
        tokens.verify(token)
    if len(token) >= 8:  # (a short string can occur in any sentence)
        assert token not in caught.value.message
    return caught.value


# --------------------------------------------------------------------------- round trip


def test_issue_and_verify(tokens: AccessTokens, keys: SigningKeys, clock: Clock) -> None:
    issued = tokens.issue(user_id="u1", session_id="s1", appid="wxa")
    assert issued.expires_in == TTL
    assert issued.expires_at == int(START) + TTL
    assert len(base64.urlsafe_b64decode(issued.jti + "==")) >= 16
    assert issued.token not in repr(issued)

    header = jwt.get_unverified_header(issued.token)
    assert header == {"alg": "EdDSA", "typ": "JWT", "kid": keys.active_kid}
    payload = jwt.decode(issued.token, options={"verify_signature": False})
    assert payload == {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "u1",
        "sid": "s1",
        "azp": "wxa",
        "iat": int(START),
        "exp": int(START) + TTL,
        "jti": issued.jti,
    }

    verified = tokens.verify(issued.token)
    assert (verified.user_id, verified.session_id, verified.appid) == ("u1", "s1", "wxa")
    assert (verified.jti, verified.issued_at, verified.expires_at) == (
        issued.jti,
        int(START),
        issued.expires_at,
    )


def test_jti_is_unique(tokens: AccessTokens) -> None:
    jtis = {tokens.issue(user_id="u", session_id="s", appid="a").jti for _ in range(50)}
    assert len(jtis) == 50


def test_expiry_honours_leeway(tokens: AccessTokens, clock: Clock) -> None:
    issued = tokens.issue(user_id="u", session_id="s", appid="a")
    clock.advance(TTL + LEEWAY - 1)
    assert tokens.verify(issued.token).user_id == "u"  # also primes the verified-token cache
    clock.advance(1)
    with pytest.raises(TokenExpired) as caught:
        tokens.verify(issued.token)
    assert issued.token not in caught.value.message


def test_expiry_on_a_fresh_verifier(keys: SigningKeys, clock: Clock) -> None:
    issuer = AccessTokens(keys, issuer=ISSUER, audience=AUDIENCE, ttl=TTL, leeway=0, clock=clock)
    issued = issuer.issue(user_id="u", session_id="s", appid="a")
    clock.advance(TTL)
    fresh = AccessTokens(keys, issuer=ISSUER, audience=AUDIENCE, ttl=TTL, leeway=0, clock=clock)
    with pytest.raises(TokenExpired):
        fresh.verify(issued.token)


def test_hash_refresh_token() -> None:
    digest = hash_refresh_token("opaque-refresh-token")
    assert digest == hashlib.sha256(b"opaque-refresh-token").digest()
    assert len(digest) == 32
    assert hash_refresh_token("other") != digest


# --------------------------------------------------------------------------- bad tokens


def test_tampered_payload(tokens: AccessTokens, clock: Clock) -> None:
    token = tokens.issue(user_id="u", session_id="s", appid="a").token
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=="))
    data["sub"] = "someone-else"
    rejected(tokens, f"{header}.{segment(data)}.{signature}")
    # And one changed character anywhere in the payload segment.
    for index in range(0, len(payload), 7):
        swapped = "A" if payload[index] != "A" else "B"
        changed = payload[:index] + swapped + payload[index + 1 :]
        rejected(tokens, f"{header}.{changed}.{signature}")


def test_tampered_signature_every_character(tokens: AccessTokens) -> None:
    token = tokens.issue(user_id="u", session_id="s", appid="a").token
    head, _, signature = token.rpartition(".")
    for index in range(len(signature)):
        swapped = "A" if signature[index] != "A" else "B"
        rejected(tokens, f"{head}.{signature[:index]}{swapped}{signature[index + 1 :]}")


def test_non_canonical_base64_rejected(tokens: AccessTokens) -> None:
    """The last character's spare bits are ignored by lenient decoders; not by us."""
    token = tokens.issue(user_id="u", session_id="s", appid="a").token
    head, _, signature = token.rpartition(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    # 64 bytes -> 86 chars; the last char carries 2 data bits and 4 spare ones.
    twin = alphabet[last ^ 0b0001]
    lenient = base64.urlsafe_b64decode(f"{signature[:-1]}{twin}==")
    assert lenient == base64.urlsafe_b64decode(signature + "==")  # same bytes to a lenient eye
    rejected(tokens, f"{head}.{signature[:-1]}{twin}")
    rejected(tokens, f"{token}=")  # padding
    rejected(tokens, f"{head}.{signature[:40]}\n{signature[40:]}")  # stray characters


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d", "....", "eyJhbGciOiJFZERTQSJ9..", "é.é.é", "e30.e30.e30"],
)
def test_malformed(tokens: AccessTokens, token: str) -> None:
    rejected(tokens, token)


def test_alg_none_rejected(tokens: AccessTokens, keys: SigningKeys, clock: Clock) -> None:
    header = segment({"alg": "none", "typ": "JWT", "kid": keys.active_kid})
    unsigned = f"{header}.{segment(claims(clock))}."
    assert rejected(tokens, unsigned).message == "the token is not signed with EdDSA"
    for alg in ("None", "NONE", "nOnE"):
        header = segment({"alg": alg, "kid": keys.active_kid})
        rejected(tokens, f"{header}.{segment(claims(clock))}.")


def test_hs256_with_the_public_key_rejected(
    tokens: AccessTokens, keys: SigningKeys, clock: Clock
) -> None:
    """Key confusion: an attacker MACs a token with our (public) verification key."""
    jwk = keys.jwks()["keys"][0]
    raw_public = base64.urlsafe_b64decode(jwk["x"] + "==")
    pem = keys.public_key(keys.active_kid).public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (raw_public, pem, jwk["x"].encode()):
        header = segment({"alg": "HS256", "typ": "JWT", "kid": keys.active_kid})
        body = segment(claims(clock))
        mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        rejected(tokens, f"{header}.{body}.{b64url(mac)}")


def test_crit_header_rejected(tokens: AccessTokens, keys: SigningKeys, clock: Clock) -> None:
    rejected(tokens, forge(keys, claims(clock), crit=["exp"]))


def test_wrong_audience_and_issuer(keys: SigningKeys, clock: Clock, tokens: AccessTokens) -> None:
    token = tokens.issue(user_id="u", session_id="s", appid="a").token
    other_aud = AccessTokens(
        keys, issuer=ISSUER, audience="other", ttl=TTL, leeway=LEEWAY, clock=clock
    )
    assert "audience" in rejected(other_aud, token).message
    other_iss = AccessTokens(
        keys, issuer="https://evil.example", audience=AUDIENCE, ttl=TTL, leeway=LEEWAY, clock=clock
    )
    assert "issuer" in rejected(other_iss, token).message
    assert tokens.verify(forge(keys, claims(clock, aud=["x", AUDIENCE]))).user_id == "user-1"
    rejected(tokens, forge(keys, claims(clock, aud=["x", "y"])))


def test_unknown_kid(tokens: AccessTokens, clock: Clock) -> None:
    stranger = SigningKeys([SigningKey.generate(clock.now)], clock=clock)
    looked: list[None] = []
    tokens.on_unknown_kid = lambda: looked.append(None)
    assert "unknown key" in rejected(tokens, forge(stranger, claims(clock))).message
    assert looked == [None]  # the key ring was asked to look for a key it may have missed
    _, private = stranger.signing_key()
    our_kid = tokens.keys.active_kid
    # Their key, our kid: the signature check catches it.
    spoofed = jwt.encode(claims(clock), private, algorithm="EdDSA", headers={"kid": our_kid})
    assert "signature" in rejected(tokens, spoofed).message
    no_kid = jwt.encode(claims(clock), private, algorithm="EdDSA")
    rejected(tokens, no_kid)


@pytest.mark.parametrize("missing", ["iss", "aud", "sub", "sid", "azp", "iat", "exp", "jti"])
def test_missing_claim(tokens: AccessTokens, keys: SigningKeys, clock: Clock, missing: str) -> None:
    assert missing in rejected(tokens, forge(keys, claims(clock, **{missing: None}))).message


@pytest.mark.parametrize(
    "changes",
    [{"sub": ""}, {"sub": 5}, {"sid": ["s"]}, {"exp": "later"}, {"iat": 1.5}, {"exp": True}],
)
def test_claims_of_the_wrong_type(
    tokens: AccessTokens, keys: SigningKeys, clock: Clock, changes: dict[str, Any]
) -> None:
    rejected(tokens, forge(keys, claims(clock, **changes)))


def test_issued_in_the_future(tokens: AccessTokens, keys: SigningKeys, clock: Clock) -> None:
    future = int(clock.now) + LEEWAY + 10
    rejected(tokens, forge(keys, claims(clock, iat=future, exp=future + TTL)))
    ok = int(clock.now) + LEEWAY - 1
    assert tokens.verify(forge(keys, claims(clock, iat=ok, exp=ok + TTL))).issued_at == ok


def test_verified_cache_is_keyed_by_the_whole_token(tokens: AccessTokens) -> None:
    token = tokens.issue(user_id="u", session_id="s", appid="a").token
    tokens.verify(token)
    head, _, signature = token.rpartition(".")
    # Change the signature's last full characters (never to what they already were): a cached
    # good token must not vouch for a different one.
    tail = "AA" if signature[-2:] != "AA" else "BA"
    rejected(tokens, f"{head}.{signature[:-2]}{tail}")


# --------------------------------------------------------------------------- keys


def test_legacy_key_files_are_read_base64_and_pem(keys: SigningKeys) -> None:
    """keys.json of versions that kept keys in data_dir: imported into the database once."""
    kid, private = keys.signing_key()
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    for text in (base64.b64encode(raw).decode(), pem):
        entry = {"kid": kid, "private_key": text, "created_at": START, "retired_at": None}
        (key,) = parse_legacy_key_file(json.dumps({"keys": [entry]}).encode(), where="keys.json")
        assert (key.kid, key.activates_at, key.retired_at) == (kid, START, None)


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"keys": [{"private_key": "AAAA"}]}', b'{"keys": [{"kid": "x"}]}'],
)
def test_a_corrupt_legacy_key_file_says_where_and_nothing_else(body: bytes) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_legacy_key_file(body, where="/data/keys.json")
    assert "/data/keys.json" in caught.value.message
    assert "AAAA" not in caught.value.message


def test_a_legacy_key_whose_kid_does_not_match_is_refused(keys: SigningKeys) -> None:
    _, private = keys.signing_key()
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    entry = {"kid": "forged", "private_key": base64.b64encode(raw).decode(), "created_at": 1}
    with pytest.raises(ConfigurationError):
        parse_legacy_key_file(json.dumps([entry]).encode(), where="keys.json")


def test_kid_is_the_rfc7638_thumbprint(keys: SigningKeys) -> None:
    # RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
    x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    assert jwk_thumbprint(x) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    (jwk,) = keys.jwks()["keys"]
    assert jwk["kid"] == jwk_thumbprint(jwk["x"]) == keys.active_kid


def test_jwks_has_public_keys_only(keys: SigningKeys) -> None:
    (jwk,) = keys.jwks()["keys"]
    assert jwk == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": jwk["x"],
        "kid": keys.active_kid,
        "alg": "EdDSA",
        "use": "sig",
    }
    _, private = keys.signing_key()
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    text = json.dumps(keys.jwks()) + repr(keys)
    assert b64url(raw) not in text
    assert base64.b64encode(raw).decode() not in text
    assert repr(keys) == f"SigningKeys(active={keys.active_kid!r}, kids=[{keys.active_kid!r}])"


def test_independent_verification_with_pyjwt(tokens: AccessTokens, keys: SigningKeys) -> None:
    """A third party verifies our tokens from the JWKS alone, with PyJWT's own code path."""
    token = tokens.issue(user_id="u1", session_id="s1", appid="wxa").token
    published = json.loads(json.dumps(keys.jwks()))  # as served over HTTP
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [k for k in published["keys"] if k["kid"] == kid]
    key = jwt.PyJWK(jwk)
    decoded = jwt.decode(
        token,
        key,
        algorithms=["EdDSA"],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False},  # our clock is fixed in the past
    )
    assert (decoded["sub"], decoded["sid"], decoded["azp"]) == ("u1", "s1", "wxa")


def test_a_pending_key_is_published_and_verifies_before_it_signs(
    tokens: AccessTokens, keys: SigningKeys, clock: Clock
) -> None:
    old_kid = keys.active_kid
    old_token = tokens.issue(user_id="u", session_id="s", appid="a").token
    (old,) = keys.keys
    pending = SigningKey.generate(clock.now, activates_at=clock.now + 30)
    retired = SigningKey.from_private(
        old.private, created_at=old.created_at, activates_at=old.activates_at, retired_at=START + 30
    )
    assert keys.replace([retired, pending]) is True
    assert keys.replace([retired, pending]) is False  # the same set again changes nothing
    assert list(keys.kids) == [pending.kid, old_kid]
    assert [k["kid"] for k in keys.jwks()["keys"]] == [pending.kid, old_kid]
    # Not its time yet: the old key signs, and the pending one already verifies (another
    # process whose clock runs ahead may have started with it).
    assert keys.active_kid == old_kid
    assert (
        jwt.get_unverified_header(tokens.issue(user_id="u", session_id="s", appid="a").token)["kid"]
        == old_kid
    )
    early = SigningKeys([pending], clock=lambda: clock.now + 30)
    signed_early = AccessTokens(
        early, issuer=ISSUER, audience=AUDIENCE, ttl=TTL, leeway=LEEWAY, clock=clock
    ).issue(user_id="u2", session_id="s", appid="a")
    assert tokens.verify(signed_early.token).user_id == "u2"

    clock.advance(30)  # its time: it signs, with no call to anything but the clock
    header = jwt.get_unverified_header(tokens.issue(user_id="u", session_id="s", appid="a").token)
    assert header["kid"] == pending.kid == keys.active_kid
    assert tokens.verify(old_token).user_id == "u"  # the retired key still verifies

    assert keys.replace([pending]) is True  # the old key dropped (keep_for passed)
    fresh = AccessTokens(
        keys, issuer=ISSUER, audience=AUDIENCE, ttl=TTL, leeway=LEEWAY, clock=clock
    )
    with pytest.raises(InvalidToken):
        fresh.verify(old_token)
    with pytest.raises(InvalidToken):
        tokens.verify(old_token)  # a cached verification does not outlive the key's removal


def test_a_clock_behind_every_key_still_signs_with_the_earliest(clock: Clock) -> None:
    first = SigningKey.generate(clock.now, activates_at=clock.now + 10)
    second = SigningKey.generate(clock.now, activates_at=clock.now + 20)
    keys = SigningKeys([second, first], clock=clock)
    assert keys.active_kid == first.kid


def test_no_keys_yet_is_not_ready_never_an_invalid_token(clock: Clock) -> None:
    """Started while the database was away: 503 until the key ring has read the keys."""
    empty = SigningKeys([], clock=clock)
    tokens = AccessTokens(
        empty, issuer=ISSUER, audience=AUDIENCE, ttl=TTL, leeway=LEEWAY, clock=clock
    )
    with pytest.raises(NotReady):
        tokens.issue(user_id="u", session_id="s", appid="a")
    other = SigningKeys([SigningKey.generate(clock.now)], clock=clock)
    with pytest.raises(NotReady):
        tokens.verify(forge(other, claims(clock)))
    assert empty.replace(other.keys) is True
    assert tokens.verify(forge(other, claims(clock))).user_id == "user-1"


def test_issued_tokens_are_exactly_what_pyjwt_would_sign(tokens: AccessTokens) -> None:
    for appid in ("wx1234567890abcdef", "应用"):  # ASCII and non-ASCII claims
        token = tokens.issue(user_id="u-1", session_id="s-1", appid=appid).token
        claims = jwt.decode(token, options={"verify_signature": False})
        kid, private = tokens.keys.signing_key()
        assert token == jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": kid})


def test_refresh_successors_are_deterministic_per_key_and_hidden() -> None:
    from wxlogin.tokens import RefreshSuccessors

    secret = os.urandom(32)
    chain = RefreshSuccessors(secret)
    token = "sess123." + "a" * 43
    successor = chain.successor(token, "sess123")
    assert successor == RefreshSuccessors(secret).successor(token, "sess123")  # any process
    assert successor.startswith("sess123.") and len(successor.partition(".")[2]) == 43
    assert chain.successor(token + "b", "sess123") != successor
    assert RefreshSuccessors(os.urandom(32)).successor(token, "sess123") != successor
    assert secret.hex() not in repr(chain) and "hidden" in repr(chain)
    with pytest.raises(ConfigurationError):
        RefreshSuccessors(b"short")

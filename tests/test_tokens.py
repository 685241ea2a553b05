"""Access tokens and signing keys: round trips, every way a token can be wrong, rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import multiprocessing
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from wxlogin.cli import main
from wxlogin.errors import ConfigurationError, InvalidToken, TokenExpired
from wxlogin.tokens import (
    KEYS_FILE,
    AccessTokens,
    SigningKeys,
    hash_refresh_token,
    jwk_thumbprint,
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
def keys(tmp_path: Path, clock: Clock) -> SigningKeys:
    return SigningKeys.load_or_create(tmp_path / "data", clock=clock)


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


def test_unknown_kid(tokens: AccessTokens, tmp_path: Path, clock: Clock) -> None:
    stranger = SigningKeys.load_or_create(tmp_path / "elsewhere", clock=clock)
    assert "unknown key" in rejected(tokens, forge(stranger, claims(clock))).message
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


def test_key_file_and_directory_are_private(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "data"
    SigningKeys.load_or_create(data_dir)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((data_dir / KEYS_FILE).stat().st_mode) == 0o600
    leftovers = [p.name for p in data_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_keys_survive_a_restart(keys: SigningKeys, tmp_path: Path, clock: Clock) -> None:
    again = SigningKeys.load_or_create(tmp_path / "data", clock=clock)
    assert again.active_kid == keys.active_kid
    assert again.jwks() == keys.jwks()


def test_pem_private_keys_are_accepted(tmp_path: Path, keys: SigningKeys) -> None:
    kid, private = keys.signing_key()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    data_dir = tmp_path / "pem"
    data_dir.mkdir()
    entry = {"kid": kid, "private_key": pem, "created_at": START, "retired_at": None}
    (data_dir / KEYS_FILE).write_text(json.dumps({"keys": [entry]}))
    assert SigningKeys.load_or_create(data_dir).active_kid == kid


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


def test_rotation_keeps_old_kid_until_keep_for(
    tokens: AccessTokens, keys: SigningKeys, clock: Clock
) -> None:
    keep_for = TTL + LEEWAY
    old_kid = keys.active_kid
    old_token = tokens.issue(user_id="u", session_id="s", appid="a").token

    new_kid = keys.rotate(keep_for=keep_for)
    assert new_kid != old_kid
    assert keys.active_kid == new_kid
    assert list(keys.kids) == [new_kid, old_kid]
    assert [k["kid"] for k in keys.jwks()["keys"]] == [new_kid, old_kid]
    assert (
        jwt.get_unverified_header(tokens.issue(user_id="u", session_id="s", appid="a").token)["kid"]
        == new_kid
    )
    assert tokens.verify(old_token).user_id == "u"

    clock.advance(keep_for)  # the old key retired exactly keep_for ago: still kept
    newest = keys.rotate(keep_for=keep_for)
    assert list(keys.kids) == [newest, new_kid, old_kid]

    clock.advance(1)  # now the first key is past keep_for; the second is not
    latest = keys.rotate(keep_for=keep_for)
    assert old_kid not in keys.kids
    assert list(keys.kids) == [latest, newest, new_kid]
    fresh = AccessTokens(
        keys, issuer=ISSUER, audience=AUDIENCE, ttl=TTL, leeway=LEEWAY, clock=clock
    )
    with pytest.raises(InvalidToken):
        fresh.verify(old_token)


def test_rotation_by_another_process_is_picked_up(
    tokens: AccessTokens, keys: SigningKeys, tmp_path: Path, clock: Clock
) -> None:
    other = SigningKeys.load_or_create(tmp_path / "data", clock=clock)  # e.g. `wxlogin keys rotate`
    other_tokens = AccessTokens(
        other, issuer=ISSUER, audience=AUDIENCE, ttl=TTL, leeway=LEEWAY, clock=clock
    )
    new_kid = other.rotate(keep_for=TTL + LEEWAY)
    # A token signed with the new key verifies here at once (unknown kid -> re-read keys.json).
    token = other_tokens.issue(user_id="u", session_id="s", appid="a").token
    assert tokens.verify(token).user_id == "u"
    assert keys.active_kid == new_kid
    assert new_kid in [k["kid"] for k in keys.jwks()["keys"]]


def test_issuer_starts_signing_with_a_rotated_key_soon(
    tokens: AccessTokens, keys: SigningKeys, tmp_path: Path, clock: Clock
) -> None:
    other = SigningKeys.load_or_create(tmp_path / "data", clock=clock)
    new_kid = other.rotate(keep_for=TTL)
    clock.advance(10)
    header = jwt.get_unverified_header(tokens.issue(user_id="u", session_id="s", appid="a").token)
    assert header["kid"] == new_kid


def _create_keys(data_dir: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    results.put(SigningKeys.load_or_create(Path(data_dir)).active_kid)


def _rotate_keys(data_dir: str, barrier: Any, results: Any) -> None:
    keys = SigningKeys.load_or_create(Path(data_dir))
    barrier.wait()
    results.put(keys.rotate(keep_for=3600))


def _run_processes(target: Any, data_dir: Path, count: int) -> list[str]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(count)
    results = context.Queue()
    workers = [
        context.Process(target=target, args=(str(data_dir), barrier, results)) for _ in range(count)
    ]
    for worker in workers:
        worker.start()
    found = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    return found


def test_concurrent_first_creation_makes_one_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "shared"
    kids = _run_processes(_create_keys, data_dir, 6)
    assert len(set(kids)) == 1
    stored = json.loads((data_dir / KEYS_FILE).read_text())["keys"]
    assert [entry["kid"] for entry in stored] == kids[:1]


def test_concurrent_rotations_lose_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "shared"
    first = SigningKeys.load_or_create(data_dir).active_kid
    new_kids = _run_processes(_rotate_keys, data_dir, 3)
    final = SigningKeys.load_or_create(data_dir)
    assert set(final.kids) == {first, *new_kids}  # every rotation is in the file
    assert final.active_kid in new_kids
    assert (
        sum(
            1 for e in json.loads((data_dir / KEYS_FILE).read_text())["keys"] if not e["retired_at"]
        )
        == 1
    )


# --------------------------------------------------------------------------- CLI


def test_keys_rotate_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("WXLOGIN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WXLOGIN_DATA_DIR", str(tmp_path / "data"))
    assert main(["keys", "rotate"]) == 0
    out = capsys.readouterr().out
    stored = json.loads((tmp_path / "data" / KEYS_FILE).read_text())["keys"]
    first, second = (entry["kid"] for entry in stored)
    assert f"new signing key: {second}" in out
    assert f"  {first}" in out  # the retired key is still published

    assert main(["keys", "rotate"]) == 0
    out = capsys.readouterr().out
    kids = [
        entry["kid"] for entry in json.loads((tmp_path / "data" / KEYS_FILE).read_text())["keys"]
    ]
    assert len(kids) == 3
    assert f"new signing key: {kids[-1]}" in out
    for kid in kids[:-1]:
        assert f"  {kid}" in out
    private = [
        entry["private_key"]
        for entry in json.loads((tmp_path / "data" / KEYS_FILE).read_text())["keys"]
    ]
    assert not any(p in out for p in private)


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

"""Our own tokens: Ed25519-signed access JWTs, their keys, and refresh-token hashing.

* ``SigningKeys`` is the set of Ed25519 keys a process signs and verifies with, in memory.
  Where the keys are kept is not its business: the service loads them from the database
  (``service/keyring.py``), sealed at rest, and replaces the set when another process rotates.
  Each key has the moment it starts signing (``activates_at``): a rotation publishes the new
  key first and lets it sign only once every process has had time to learn it, so a token
  signed by one process never reaches another that does not know its key. Every key held is
  published in the JWKS, so tokens signed by a retired key keep verifying until the rotation
  that drops it.
* ``AccessTokens`` issues access JWTs (signed directly, byte for byte what PyJWT would
  write; see ``_sign``) and verifies them (by hand, on the hot path; see
  ``AccessTokens.verify``). Only ``EdDSA`` is ever accepted; every failure becomes
  ``InvalidToken`` (or ``TokenExpired``) at this boundary, and no message quotes the token.
  Neither does any I/O.
* Refresh tokens are opaque strings made by the service; only their SHA-256 is stored
  (``hash_refresh_token``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import orjson
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wxlogin.errors import ConfigurationError, InvalidToken, NotReady, TokenExpired

if TYPE_CHECKING:
    from wxlogin.config import Settings

__all__ = [
    "AccessClaims",
    "AccessTokens",
    "IssuedToken",
    "RefreshSuccessors",
    "SigningKey",
    "SigningKeys",
    "hash_refresh_token",
    "jwk_thumbprint",
    "parse_legacy_key_file",
]

_log = logging.getLogger("wxlogin.tokens")

ALGORITHM: Final = "EdDSA"
_REQUIRED_CLAIMS: Final = ("iss", "aud", "sub", "sid", "azp", "iat", "exp", "jti")

Clock = Callable[[], float]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(x: str) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of an Ed25519 public key given as JWK ``x``."""
    # Required members only, in lexicographic order, no whitespace (RFC 7638 §3.2, RFC 8037).
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def hash_refresh_token(token: str) -> bytes:
    """SHA-256 of a refresh token: what the store keeps instead of the token."""
    return hashlib.sha256(token.encode("utf-8")).digest()


class RefreshSuccessors:
    """What a refresh token rotates into: ``<session id>.<HMAC-SHA256(token)>``.

    Derived, not drawn at random, so that the same token presented twice has the same
    successor: a client that retries a refresh whose answer it lost gets the token the first
    attempt created (within the grace window; see ``Store.rotate_refresh``). The key is derived
    from a server secret (HKDF), so a successor cannot be computed without it; every process
    and machine that shares the secret computes the same successors.
    """

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ConfigurationError("the refresh-token secret must be at least 32 bytes")
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"wxlogin refresh successor"
        ).derive(secret)

    def __repr__(self) -> str:
        return "RefreshSuccessors(<key hidden>)"

    def successor(self, token: str, session_id: str) -> str:
        mac = hmac.new(self._key, token.encode("utf-8"), hashlib.sha256).digest()
        return f"{session_id}.{_b64url(mac)}"


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One Ed25519 key: signs from ``activates_at``; ``retired_at`` once a newer key took over."""

    kid: str
    private: Ed25519PrivateKey = field(repr=False)
    public: Ed25519PublicKey = field(repr=False)
    x: str
    created_at: float
    activates_at: float
    retired_at: float | None = None

    @classmethod
    def generate(cls, now: float, *, activates_at: float | None = None) -> SigningKey:
        return cls.from_private(
            Ed25519PrivateKey.generate(),
            created_at=now,
            activates_at=now if activates_at is None else activates_at,
        )

    @classmethod
    def from_private(
        cls,
        private: Ed25519PrivateKey,
        *,
        created_at: float,
        activates_at: float,
        retired_at: float | None = None,
    ) -> SigningKey:
        public = private.public_key()
        x = _b64url(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
        return cls(jwk_thumbprint(x), private, public, x, created_at, activates_at, retired_at)

    @classmethod
    def from_private_bytes(
        cls,
        raw: bytes,
        *,
        created_at: float,
        activates_at: float,
        retired_at: float | None = None,
    ) -> SigningKey:
        """From the 32 raw bytes ``private_bytes`` gives (``ValueError`` when they are not)."""
        return cls.from_private(
            Ed25519PrivateKey.from_private_bytes(raw),
            created_at=created_at,
            activates_at=activates_at,
            retired_at=retired_at,
        )

    def private_bytes(self) -> bytes:
        """The raw private key, for sealing before it is stored. Never log or print it."""
        return self.private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    def public_jwk(self) -> dict[str, str]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": self.x,
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        }


def _parse_private_key(text: str) -> Ed25519PrivateKey:
    """A private key written as PEM (PKCS#8) or as base64 of the 32 raw bytes."""
    if text.lstrip().startswith("-----BEGIN"):
        loaded = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ValueError("not an Ed25519 key")
        return loaded
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))


def parse_legacy_key_file(data: bytes, *, where: str) -> list[SigningKey]:
    """The keys of a ``keys.json`` written by versions that kept keys in ``data_dir``.

    ``{"keys": [{"kid", "private_key" (base64 or PEM), "created_at", "retired_at"}]}``; a key
    signed from its creation. ``ConfigurationError`` naming ``where`` when unreadable (never
    the parser's words: they could quote key material).
    """
    try:
        body = json.loads(data)
        entries = body["keys"] if isinstance(body, dict) else body
        keys: list[SigningKey] = []
        for entry in entries:
            created = float(entry["created_at"])
            retired = entry.get("retired_at")
            key = SigningKey.from_private(
                _parse_private_key(str(entry["private_key"])),
                created_at=created,
                activates_at=created,
                retired_at=None if retired is None else float(retired),
            )
            if "kid" in entry and entry["kid"] != key.kid:
                raise ValueError("kid does not match the key's thumbprint")
            keys.append(key)
    except (ValueError, KeyError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigurationError(
            f"{where}: the signing key file is unreadable or corrupt ({type(exc).__name__})"
        ) from None
    return keys


class SigningKeys:
    """The keys this process signs and verifies with; ``replace`` swaps in a newer set.

    The active key is the one that activated last (``activates_at`` not in the future); a key
    waiting for its time is published and verifies, but does not sign yet. A set may be empty
    while the keys cannot be read yet (the database is away at start-up): then signing and
    verifying answer ``NotReady``, never "invalid token".
    """

    def __init__(self, keys: Iterable[SigningKey], *, clock: Clock = time.time) -> None:
        self._clock = clock
        # Bumped on every change, so caches of verified tokens know to start over.
        self.generation = 0
        self._set(list(keys))

    def _set(self, keys: list[SigningKey]) -> None:
        self.generation += 1
        self._keys = sorted(keys, key=lambda key: (key.activates_at, key.created_at))
        self._by_kid: dict[str, SigningKey] = {key.kid: key for key in self._keys}
        self._jwks: dict[str, Any] = {"keys": [key.public_jwk() for key in reversed(self._keys)]}
        self._choose(self._clock())

    def _choose(self, now: float) -> None:
        live = [key for key in self._keys if key.activates_at <= now]
        current = [key for key in live if key.retired_at is None or key.retired_at > now]
        # The newest key whose time has come and that no newer key replaced; failing that (a
        # clock stepped back, every key retired by hand) the newest live one, or the earliest.
        chosen = current or live or self._keys[:1]
        self._active: SigningKey | None = chosen[-1] if chosen else None
        moments = [k.activates_at for k in self._keys] + [
            k.retired_at for k in self._keys if k.retired_at is not None
        ]
        # The next moment the choice can change; until then signing is one comparison.
        self._switch_at = min((t for t in moments if t > now), default=math.inf)

    def replace(self, keys: Iterable[SigningKey]) -> bool:
        """Use ``keys`` from now on; True when they differ from the keys held."""
        fresh = list(keys)
        if {(k.kid, k.activates_at, k.retired_at) for k in fresh} == {
            (k.kid, k.activates_at, k.retired_at) for k in self._keys
        }:
            return False
        self._set(fresh)
        return True

    # ------------------------------------------------------------------ queries

    @property
    def active_kid(self) -> str:
        return self.signing_key()[0]

    @property
    def kids(self) -> tuple[str, ...]:
        """Every published kid, newest first."""
        return tuple(key.kid for key in reversed(self._keys))

    @property
    def keys(self) -> tuple[SigningKey, ...]:
        """Every key held, oldest first."""
        return tuple(self._keys)

    def signing_key(self, now: float | None = None) -> tuple[str, Ed25519PrivateKey]:
        when = self._clock() if now is None else now
        if when >= self._switch_at:
            self._choose(when)
        if self._active is None:
            raise NotReady("the signing keys have not been read from the database yet")
        return self._active.kid, self._active.private

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        key = self._by_kid.get(kid)
        return None if key is None else key.public

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWK Set (RFC 7517), newest first. Never private material."""
        return {"keys": [dict(jwk) for jwk in self._jwks["keys"]]}

    def __repr__(self) -> str:
        active = self._active.kid if self._active is not None else None
        return f"SigningKeys(active={active!r}, kids={list(self.kids)!r})"


# --------------------------------------------------------------------------- access tokens


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str = field(repr=False)
    expires_in: int
    expires_at: int
    jti: str


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    session_id: str
    appid: str
    jti: str
    issued_at: int
    expires_at: int


class AccessTokens:
    """Issue and verify access JWTs (``EdDSA``, ``typ=JWT``, ``kid`` in the header).

    Verification needs no database: the public keys are parsed once and looked up by kid.
    """

    def __init__(
        self,
        keys: SigningKeys,
        *,
        issuer: str,
        audience: str,
        ttl: int,
        leeway: int,
        clock: Clock = time.time,
        cache_size: int = 4096,
    ) -> None:
        if ttl <= 0:
            raise ConfigurationError("access token ttl must be positive")
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl
        self._leeway = leeway
        self._clock = clock
        # token -> claims of tokens whose signature already verified. The same access token
        # comes back on every request for its lifetime, and the Ed25519 check is most of the
        # cost of verify; the key is the whole token, so a hit is the same signed bytes.
        self._cache_size = cache_size
        self._verified: dict[str, AccessClaims] = {}
        self._verified_generation = keys.generation
        # Told when a token names a kid we do not hold (the key ring then looks for keys
        # another process added); it must return at once: verification does no I/O.
        self.on_unknown_kid: Callable[[], None] | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, keys: SigningKeys, *, clock: Clock = time.time
    ) -> AccessTokens:
        """Issuer ``public_url``, audience, ttl and leeway as configured."""
        return cls(
            keys,
            issuer=settings.public_url,
            audience=settings.audience,
            ttl=settings.access_token_ttl,
            leeway=settings.token_leeway,
            clock=clock,
        )

    @property
    def keys(self) -> SigningKeys:
        return self._keys

    def issue(self, *, user_id: str, session_id: str, appid: str) -> IssuedToken:
        instant = self._clock()
        now = int(instant)
        kid, private = self._keys.signing_key(instant)
        expires_at = now + self._ttl
        jti = secrets.token_urlsafe(16)
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": user_id,
            "sid": session_id,
            "azp": appid,
            "iat": now,
            "exp": expires_at,
            "jti": jti,
        }
        token = _sign(claims, kid, private)
        return IssuedToken(token=token, expires_in=self._ttl, expires_at=expires_at, jti=jti)

    def verify(self, token: str) -> AccessClaims:
        """The claims of a valid token; ``TokenExpired`` or ``InvalidToken`` otherwise.

        Verified here rather than with ``jwt.decode``: PyJWT re-parses the header and checks
        base64 character by character in Python, which costs more than the signature. The
        rules are the strict ones: three canonical base64url segments, ``alg`` exactly EdDSA
        (checked before a key is chosen, so ``none`` and HS256-with-the-public-key never get
        near one), a known ``kid``, no ``crit``, then issuer, audience and time claims.
        """
        now = self._clock()
        if self._verified_generation != self._keys.generation:
            self._verified.clear()  # a key may have been withdrawn
            self._verified_generation = self._keys.generation
        cached = self._verified.get(token)
        if cached is not None:
            if now >= cached.expires_at + self._leeway:
                del self._verified[token]
                raise TokenExpired()
            return cached
        try:
            header_b64, payload_b64, signature_b64 = token.split(".")
            header = orjson.loads(_b64url_decode(header_b64))
        except (ValueError, orjson.JSONDecodeError, AttributeError) as exc:
            raise InvalidToken("the token is malformed") from exc
        if not isinstance(header, dict):
            raise InvalidToken("the token is malformed")
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("the token is not signed with EdDSA")
        if "crit" in header:
            raise InvalidToken("the token has critical header extensions")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidToken("the token has no key id")
        public = self._public_key(kid)
        try:
            signature = _b64url_decode(signature_b64)
            signed = f"{header_b64}.{payload_b64}".encode("ascii")
            public.verify(signature, signed)
        except (ValueError, InvalidSignature) as exc:
            raise InvalidToken("the token's signature does not verify") from exc
        try:
            claims = orjson.loads(_b64url_decode(payload_b64))
        except (ValueError, orjson.JSONDecodeError) as exc:
            raise InvalidToken("the token is malformed") from exc
        if not isinstance(claims, dict):
            raise InvalidToken("the token is malformed")
        checked = self._check_claims(claims, now)
        if self._cache_size > 0:
            if len(self._verified) >= self._cache_size:
                # Drop the older half (dicts keep insertion order): cheap and bounded.
                for stale in list(self._verified)[: self._cache_size // 2 or 1]:
                    del self._verified[stale]
            self._verified[token] = checked
        return checked

    def _public_key(self, kid: str) -> Ed25519PublicKey:
        public = self._keys.public_key(kid)
        if public is None:
            if not self._keys.keys:
                raise NotReady("the signing keys have not been read from the database yet")
            if self.on_unknown_kid is not None:
                self.on_unknown_kid()  # perhaps another process rotated: have a look
            raise InvalidToken("the token was signed by an unknown key")
        return public

    def _check_claims(self, claims: dict[str, Any], now: float) -> AccessClaims:
        missing = [name for name in _REQUIRED_CLAIMS if claims.get(name) is None]
        if missing:
            raise InvalidToken(f"the token is missing the claim {missing[0]!r}")
        if claims["iss"] != self._issuer:
            raise InvalidToken("the token was issued by another issuer")
        audience = claims["aud"]
        if not (
            audience == self._audience
            or (isinstance(audience, list) and self._audience in audience)
        ):
            raise InvalidToken("the token was issued for another audience")
        strings = [claims.get(name) for name in ("sub", "sid", "azp", "jti")]
        issued_at, expires_at = claims.get("iat"), claims.get("exp")
        if not all(isinstance(value, str) and value for value in strings):
            raise InvalidToken("the token has an invalid claim")
        if not all(
            isinstance(value, int) and not isinstance(value, bool)
            for value in (issued_at, expires_at)
        ):
            raise InvalidToken("the token has an invalid time claim")
        assert isinstance(issued_at, int) and isinstance(expires_at, int)
        if now >= expires_at + self._leeway:
            raise TokenExpired()
        if issued_at > now + self._leeway:
            raise InvalidToken("the token was issued in the future")
        sub, sid, azp, jti = (str(value) for value in strings)
        return AccessClaims(
            user_id=sub,
            session_id=sid,
            appid=azp,
            jti=jti,
            issued_at=issued_at,
            expires_at=expires_at,
        )

    def __repr__(self) -> str:
        return (
            f"AccessTokens(issuer={self._issuer!r}, audience={self._audience!r}, "
            f"ttl={self._ttl}, keys={self._keys!r})"
        )


def _jws_header(kid: str) -> str:
    """The encoded header PyJWT writes for ``kid``: compact JSON, keys sorted."""
    header = {"alg": ALGORITHM, "kid": kid, "typ": "JWT"}
    return _b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())


_JWS_HEADERS: dict[str, str] = {}


def _sign(claims: dict[str, Any], kid: str, private: Ed25519PrivateKey) -> str:
    """The JWT ``jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": kid})`` makes
    for the claims we issue (a test pins the bytes), without PyJWT's generic path: the header
    is encoded once per key, the claims with orjson (compact, insertion order, as PyJWT's
    ``json.dumps``; PyJWT escapes non-ASCII, so such claims go through ``json.dumps`` too)."""
    header = _JWS_HEADERS.get(kid)
    if header is None:
        if len(_JWS_HEADERS) >= 64:
            _JWS_HEADERS.clear()
        header = _JWS_HEADERS[kid] = _jws_header(kid)
    payload = orjson.dumps(claims)
    if not payload.isascii():
        payload = json.dumps(claims, separators=(",", ":")).encode()
    signing_input = f"{header}.{_b64url(payload)}"
    signature = private.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{_b64url(signature)}"


def _b64url_decode(segment: str) -> bytes:
    """Decode one JWS segment, refusing anything but canonical unpadded base64url.

    The standard decoder skips stray characters and ignores the spare low bits of the last
    character, so two different strings can decode to the same bytes; re-encoding and
    comparing makes every token have exactly one spelling (no malleable signatures).
    """
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if _b64url(raw) != segment:
        raise ValueError("not canonical base64url")
    return raw

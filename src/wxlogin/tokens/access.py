"""Access tokens: ``AccessTokens`` issues Ed25519-signed JWTs (signed directly, byte for
byte what PyJWT would write; see ``_sign``) and verifies them by hand on the hot path. Only
``EdDSA`` is accepted; every failure is ``InvalidToken`` or ``TokenExpired``, and no message
quotes the token. Part of ``wxlogin.tokens``, which re-exports every public name.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from wxlogin.errors import ConfigurationError, InvalidToken, NotReady, TokenExpired
from wxlogin.tokens.keys import ALGORITHM, Clock, SigningKeys
from wxlogin.tokens.keys import b64url as _b64url

if TYPE_CHECKING:
    from wxlogin.config import Settings

__all__ = ["AccessClaims", "AccessTokens", "IssuedToken"]

_log = logging.getLogger("wxlogin.tokens")

_REQUIRED_CLAIMS: Final = ("iss", "aud", "sub", "sid", "azp", "iat", "exp", "jti")


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

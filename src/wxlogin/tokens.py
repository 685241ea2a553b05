"""Our own tokens: Ed25519-signed access JWTs, their keys, and refresh-token hashing.

* ``SigningKeys`` keeps the Ed25519 keys in ``data_dir/keys.json`` (0600, written atomically).
  The newest key that is not retired signs; every key in the file is published in the JWKS, so
  tokens signed by a retired key keep verifying until ``rotate`` drops it (``keep_for``
  seconds after retirement, which should outlast the tokens it signed). Processes sharing a
  ``data_dir`` agree on the keys: the first key is created with an exclusive create, rotation
  runs under a file lock, and a running process re-reads the file when it changes.
* ``AccessTokens`` issues access JWTs (signed directly, byte for byte what PyJWT would
  write; see ``_sign``) and verifies them (by hand, on the hot path; see
  ``AccessTokens.verify``). Only ``EdDSA`` is ever accepted; every failure becomes
  ``InvalidToken`` (or ``TokenExpired``) at this boundary, and no message quotes the token.
* Refresh tokens are opaque strings made by the service; only their SHA-256 is stored
  (``hash_refresh_token``).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wxlogin.config import ensure_private_dir, write_private_file
from wxlogin.errors import ConfigurationError, InvalidToken, TokenExpired

if TYPE_CHECKING:
    from wxlogin.config import Settings

try:  # POSIX; elsewhere rotation runs without a cross-process lock (creation is still safe)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "KEYS_FILE",
    "AccessClaims",
    "AccessTokens",
    "IssuedToken",
    "RefreshSuccessors",
    "SigningKeys",
    "hash_refresh_token",
    "jwk_thumbprint",
]

_log = logging.getLogger("wxlogin.tokens")

KEYS_FILE: Final = "keys.json"
ALGORITHM: Final = "EdDSA"
_REQUIRED_CLAIMS: Final = ("iss", "aud", "sub", "sid", "azp", "iat", "exp", "jti")
# How often a process looks at keys.json for a rotation done by another process.
_RELOAD_EVERY: Final = 5.0
# The least time between re-reads forced by a token with an unknown kid (cheap, but a stream
# of made-up kids should not turn every request into a stat call).
_UNKNOWN_KID_RELOAD_EVERY: Final = 1.0

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
class _Key:
    kid: str
    private: Ed25519PrivateKey = field(repr=False)
    public: Ed25519PublicKey = field(repr=False)
    x: str
    created_at: float
    retired_at: float | None

    @classmethod
    def generate(cls, now: float) -> _Key:
        return cls.from_private(Ed25519PrivateKey.generate(), created_at=now, retired_at=None)

    @classmethod
    def from_private(
        cls, private: Ed25519PrivateKey, *, created_at: float, retired_at: float | None
    ) -> _Key:
        public = private.public_key()
        x = _b64url(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
        return cls(jwk_thumbprint(x), private, public, x, created_at, retired_at)

    def to_json(self) -> dict[str, Any]:
        raw = self.private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return {
            "kid": self.kid,
            "private_key": base64.b64encode(raw).decode("ascii"),
            "created_at": self.created_at,
            "retired_at": self.retired_at,
        }

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> _Key:
        private = _parse_private_key(str(entry["private_key"]))
        retired = entry.get("retired_at")
        key = cls.from_private(
            private,
            created_at=float(entry["created_at"]),
            retired_at=None if retired is None else float(retired),
        )
        if "kid" in entry and entry["kid"] != key.kid:
            raise ValueError("kid does not match the key's thumbprint")
        return key

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


def _active(keys: list[_Key]) -> _Key | None:
    live = [key for key in keys if key.retired_at is None]
    return max(live, key=lambda key: key.created_at) if live else None


class SigningKeys:
    """The Ed25519 keys in ``data_dir/keys.json``; build with ``load_or_create``."""

    def __init__(self, path: Path, keys: list[_Key], *, clock: Clock = time.time) -> None:
        active = _active(keys)
        if active is None:
            raise ConfigurationError(f"{path}: no active signing key")
        self._path = path
        self._clock = clock
        self._stamp: tuple[int, int, int] | None = None
        self.generation = 0
        self._set(keys, active)

    def _set(self, keys: list[_Key], active: _Key) -> None:
        # Bumped on every change, so caches of verified tokens know to start over.
        self.generation += 1
        self._keys = sorted(keys, key=lambda key: key.created_at)
        self._active = active
        self._by_kid: dict[str, _Key] = {key.kid: key for key in self._keys}
        self._jwks: dict[str, Any] = {"keys": [key.public_jwk() for key in reversed(self._keys)]}

    # ------------------------------------------------------------------ loading

    @classmethod
    def load_or_create(cls, data_dir: Path, *, clock: Clock = time.time) -> SigningKeys:
        """Load the keys from ``data_dir``, creating the directory and a first key if needed.

        Several processes starting at once on an empty ``data_dir`` end up with one key: the
        file is created with an exclusive create, and the losers read the winner's file.
        """
        ensure_private_dir(data_dir)
        path = data_dir / KEYS_FILE
        if not path.exists():
            first = _Key.generate(clock())
            write_private_file(path, _dump([first]), exclusive=True)
        keys, stamp = _read(path)
        if _active(keys) is None:
            # Every key was retired by hand: rotate rather than refuse to start.
            with _file_lock(path):
                keys, _ = _read(path)
                if _active(keys) is None:
                    keys.append(_Key.generate(clock()))
                    write_private_file(path, _dump(keys))
                keys, stamp = _read(path)
        loaded = cls(path, keys, clock=clock)
        loaded._stamp = stamp
        return loaded

    def reload_if_changed(self) -> bool:
        """Re-read ``keys.json`` if another process changed it; True when keys changed."""
        try:
            stamp = _stamp(self._path)
        except FileNotFoundError:
            return False
        if stamp == self._stamp:
            return False
        try:
            keys, stamp = _read(self._path)
        except ConfigurationError:
            # Keep serving the keys we have rather than fail every request.
            _log.error("%s changed and cannot be read; keeping the loaded keys", self._path)
            return False
        active = _active(keys)
        if active is None:
            return False
        self._set(keys, active)
        self._stamp = stamp
        return True

    # ------------------------------------------------------------------ rotation

    def rotate(self, *, keep_for: float) -> str:
        """Make a new active key and retire the current one; returns the new kid.

        Keys retired more than ``keep_for`` seconds ago are dropped, so their public halves
        leave the JWKS once no token they signed can still be valid.
        """
        with _file_lock(self._path):
            keys, _ = _read(self._path)  # start from the file: another process may have rotated
            now = self._clock()
            fresh = _Key.generate(now)
            kept: list[_Key] = []
            for key in keys:
                retired_at = now if key.retired_at is None else key.retired_at
                if now - retired_at <= keep_for:
                    kept.append(dataclasses.replace(key, retired_at=retired_at))
            kept.append(fresh)
            write_private_file(self._path, _dump(kept))
            self._set(kept, fresh)
            self._stamp = _stamp(self._path)
        return fresh.kid

    # ------------------------------------------------------------------ queries

    @property
    def active_kid(self) -> str:
        return self._active.kid

    @property
    def kids(self) -> tuple[str, ...]:
        """Every published kid, newest first."""
        return tuple(key.kid for key in reversed(self._keys))

    def signing_key(self) -> tuple[str, Ed25519PrivateKey]:
        return self._active.kid, self._active.private

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        key = self._by_kid.get(kid)
        return None if key is None else key.public

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWK Set (RFC 7517), newest first. Never private material."""
        return {"keys": [dict(jwk) for jwk in self._jwks["keys"]]}

    def __repr__(self) -> str:
        return f"SigningKeys(active={self.active_kid!r}, kids={list(self.kids)!r})"


def _dump(keys: list[_Key]) -> bytes:
    body = {"keys": [key.to_json() for key in keys]}
    return json.dumps(body, indent=2).encode("ascii") + b"\n"


def _stamp(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def _read(path: Path) -> tuple[list[_Key], tuple[int, int, int]]:
    # The stamp is taken before reading: if the file changes in between, the next
    # reload_if_changed sees a new stamp and reads again.
    stamp = _stamp(path)
    try:
        body = json.loads(path.read_bytes())
        entries = body["keys"] if isinstance(body, dict) else body
        keys = [_Key.from_json(entry) for entry in entries]
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        UnsupportedAlgorithm,
    ) as exc:
        # No detail from the parser: it could echo key material.
        raise ConfigurationError(
            f"{path}: the signing key file is unreadable or corrupt ({type(exc).__name__})"
        ) from None
    return keys, stamp


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock beside ``path``, held for a read-modify-write."""
    if fcntl is None:  # pragma: no cover - Windows
        yield
        return
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


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
        now = clock()
        self._next_reload = now + _RELOAD_EVERY
        self._next_unknown_kid_reload = now

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

    def _maybe_reload(self, now: float) -> None:
        if now >= self._next_reload:
            self._next_reload = now + _RELOAD_EVERY
            self._keys.reload_if_changed()

    def issue(self, *, user_id: str, session_id: str, appid: str) -> IssuedToken:
        now = int(self._clock())
        self._maybe_reload(now)
        kid, private = self._keys.signing_key()
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
        self._maybe_reload(now)
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
        public = self._public_key(kid, now)
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

    def _public_key(self, kid: str, now: float) -> Ed25519PublicKey:
        public = self._keys.public_key(kid)
        if public is None and now >= self._next_unknown_kid_reload:
            # Perhaps another process rotated and already signs with the new key.
            self._next_unknown_kid_reload = now + _UNKNOWN_KID_RELOAD_EVERY
            if self._keys.reload_if_changed():
                public = self._keys.public_key(kid)
        if public is None:
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

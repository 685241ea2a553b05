"""Signing keys: one Ed25519 key (``SigningKey``), the set a process signs and verifies with
(``SigningKeys``, which picks the active key by its activation time), JWK thumbprints, and the
legacy ``keys.json`` parser. No I/O: the service loads and stores the keys
(``service/keyring.py``). Part of ``wxlogin.tokens``, which re-exports every public name.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from wxlogin.errors import ConfigurationError, NotReady

__all__ = [
    "ALGORITHM",
    "Clock",
    "SigningKey",
    "SigningKeys",
    "b64url",
    "jwk_thumbprint",
    "parse_legacy_key_file",
]

Clock = Callable[[], float]
# The one JWS algorithm our keys sign with and our verifier accepts.
ALGORITHM: Final = "EdDSA"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwk_thumbprint(x: str) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of an Ed25519 public key given as JWK ``x``."""
    # Required members only, in lexicographic order, no whitespace (RFC 7638 §3.2, RFC 8037).
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


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
        x = b64url(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
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

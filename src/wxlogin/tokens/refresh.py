"""Refresh tokens: opaque strings the service makes; only their SHA-256 is stored
(``hash_refresh_token``), and a rotation's successor is derived, not drawn
(``RefreshSuccessors``). Part of ``wxlogin.tokens``, which re-exports every public name.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wxlogin.errors import ConfigurationError
from wxlogin.tokens.keys import b64url as _b64url

__all__ = ["RefreshSuccessors", "hash_refresh_token"]


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

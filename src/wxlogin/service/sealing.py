"""Secrets at rest: AES-256-GCM, each sealed value bound to what it belongs to.

* ``SessionKeySealer``: a user's session_key; the identity (appid + openid) is the associated
  data, so a ciphertext copied onto another user's row does not decrypt.
* ``SigningKeySealer``: the private half of an access-token signing key; the kid is the
  associated data, and the AES key is derived (HKDF) from the same secret under a label of
  its own, so neither kind of ciphertext opens as the other.

The secret comes from ``wxlogin.private_files.session_key_encryption_key``: the
``WXLOGIN_SESSION_KEY_ENCRYPTION_KEY`` setting or, when unset, a 0600 file in the data dir.
Several machines sharing a database must share it, so they set it explicitly.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wxlogin.errors import ConfigurationError, NoSessionKey

__all__ = ["SessionKeySealer", "SigningKeySealer"]

_NONCE = 12


class SessionKeySealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigurationError("the session_key encryption key must be 32 bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "SessionKeySealer(<key hidden>)"

    def seal(self, session_key: str, *, appid: str, openid: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, session_key.encode("ascii"), _aad(appid, openid))

    def open(self, sealed: bytes, *, appid: str, openid: str) -> str:
        try:
            plain = self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], _aad(appid, openid))
        except (InvalidTag, ValueError):
            # Another key (rotated or misconfigured) or another identity's row.
            raise NoSessionKey("the stored session_key cannot be decrypted; log in again") from None
        return plain.decode("ascii")


def _aad(appid: str, openid: str) -> bytes:
    return f"{appid}\x00{openid}".encode()


class SigningKeySealer:
    """Seals the raw private key of a signing key for the ``signing_keys`` table."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) != 32:
            raise ConfigurationError("the session_key encryption key must be 32 bytes")
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"wxlogin signing keys"
        ).derive(secret)
        self._aead = AESGCM(derived)

    def __repr__(self) -> str:
        return "SigningKeySealer(<key hidden>)"

    def seal(self, private_key: bytes, *, kid: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, private_key, _kid_aad(kid))

    def open(self, sealed: bytes, *, kid: str) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], _kid_aad(kid))
        except (InvalidTag, ValueError):
            # Not something a request can cause: the processes disagree on the secret.
            raise ConfigurationError(
                f"the signing key {kid} in the database was sealed with another encryption "
                "key: give every process the same WXLOGIN_SESSION_KEY_ENCRYPTION_KEY"
            ) from None


def _kid_aad(kid: str) -> bytes:
    return b"wxlogin signing key\x00" + kid.encode()

"""session_key at rest: AES-256-GCM, bound to the identity it belongs to.

The identity (appid + openid) is the associated data, so a ciphertext copied onto another
user's row does not decrypt. The key comes from ``Settings.load_session_key_encryption_key()``: the
``WXLOGIN_SESSION_KEY_ENCRYPTION_KEY`` setting or, when unset, a 0600 file in the data dir.
Several machines sharing a database must share the key, so they set it explicitly.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wxlogin.errors import ConfigurationError, NoSessionKey

__all__ = ["SessionKeySealer"]

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

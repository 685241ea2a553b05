"""The cryptography around a mini-program login: pure functions, no I/O.

* ``decrypt_data`` / ``encrypt_data`` — WeChat "open data" (``encryptedData`` + ``iv``):
  AES-128-CBC with key = base64-decoded session_key, strict PKCS#7, compact UTF-8 JSON whose
  ``watermark.appid`` must be ours.
* ``raw_data_signature`` / ``verify_raw_data`` — ``sha1(rawData + session_key)``.
* ``session_signature`` — the HMAC-SHA256 that checkSessionKey / resetUserSessionKey want.
  Its key is the session_key *string* as UTF-8, not the decoded bytes; several SDKs got that
  wrong.

Errors say what is wrong without ever echoing the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from wxlogin.errors import MalformedEncryptedData, StaleSessionKey, WatermarkMismatch

__all__ = [
    "decrypt_data",
    "encrypt_data",
    "raw_data_signature",
    "session_signature",
    "verify_raw_data",
]

_BLOCK = 16


def _b64decode(value: str, what: str, *, length: int | None = None) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedEncryptedData(f"{what} is not valid base64") from None
    if length is not None and len(raw) != length:
        raise MalformedEncryptedData(f"{what} must decode to {length} bytes, got {len(raw)}")
    return raw


def _aes(session_key: str, iv: str) -> Cipher[modes.CBC]:
    key = _b64decode(session_key, "session_key", length=16)
    iv_bytes = _b64decode(iv, "iv", length=16)
    return Cipher(algorithms.AES(key), modes.CBC(iv_bytes))


def _unpad(padded: bytes) -> bytes:
    """Strict PKCS#7: a wrong key yields random bytes, and strictness is how we notice."""
    if not padded:
        raise StaleSessionKey()
    n = padded[-1]
    if not 1 <= n <= _BLOCK or padded[-n:] != bytes([n]) * n:
        raise StaleSessionKey()
    return padded[:-n]


def decrypt_data(session_key: str, encrypted_data: str, iv: str, *, appid: str) -> dict[str, Any]:
    """Decrypt WeChat open data and check that it was meant for ``appid``.

    Raises ``MalformedEncryptedData`` for bad base64 or lengths, ``StaleSessionKey`` when the
    plaintext is not valid padding + JSON (the usual cause: a later ``wx.login`` rotated the
    session_key), and ``WatermarkMismatch`` when the data belongs to another app.
    """
    cipher = _aes(session_key, iv)
    ciphertext = _b64decode(encrypted_data, "encryptedData")
    if not ciphertext or len(ciphertext) % _BLOCK:
        raise MalformedEncryptedData("encryptedData length is not a multiple of 16 bytes")
    decryptor = cipher.decryptor()
    plaintext = _unpad(decryptor.update(ciphertext) + decryptor.finalize())
    try:
        data = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        # Valid-looking padding from a wrong key happens about once in 256 tries.
        raise StaleSessionKey() from None
    if not isinstance(data, dict):
        raise StaleSessionKey()
    watermark = data.get("watermark")
    if not isinstance(watermark, dict) or watermark.get("appid") != appid:
        raise WatermarkMismatch()
    return data


def encrypt_data(
    session_key: str,
    data: Mapping[str, Any],
    *,
    appid: str,
    timestamp: int | None = None,
    iv: bytes | None = None,
) -> tuple[str, str]:
    """The inverse of ``decrypt_data``, as WeChat does it: returns ``(encryptedData, iv)``.

    A ``watermark`` with ``appid`` and ``timestamp`` is appended as the last key, in WeChat's
    compact JSON. Used by the simulator and by tests.
    """
    iv_bytes = os.urandom(_BLOCK) if iv is None else iv
    if len(iv_bytes) != _BLOCK:
        raise MalformedEncryptedData("iv must be 16 bytes")
    iv_text = base64.b64encode(iv_bytes).decode("ascii")
    payload = {k: v for k, v in data.items() if k != "watermark"}
    payload["watermark"] = {
        "timestamp": int(time.time()) if timestamp is None else timestamp,
        "appid": appid,
    }
    plaintext = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    n = _BLOCK - len(plaintext) % _BLOCK
    encryptor = _aes(session_key, iv_text).encryptor()
    ciphertext = encryptor.update(plaintext + bytes([n]) * n) + encryptor.finalize()
    return base64.b64encode(ciphertext).decode("ascii"), iv_text


def raw_data_signature(raw_data: str, session_key: str) -> str:
    """``sha1(rawData + session_key)`` as lowercase hex, as wx.getUserInfo signs rawData."""
    digest = hashlib.sha1((raw_data + session_key).encode("utf-8"))  # noqa: S324 - the protocol
    return digest.hexdigest()


def verify_raw_data(raw_data: str, signature: str, session_key: str) -> bool:
    """Check a rawData signature in constant time."""
    expected = raw_data_signature(raw_data, session_key)
    return hmac.compare_digest(expected.encode("ascii"), signature.lower().encode("utf-8"))


def session_signature(session_key: str, body: bytes = b"") -> str:
    """HMAC-SHA256 keyed with the session_key string (UTF-8, *not* base64-decoded), hex.

    checkSessionKey and resetUserSessionKey sign the empty body.
    """
    return hmac.new(session_key.encode("utf-8"), body, hashlib.sha256).hexdigest()

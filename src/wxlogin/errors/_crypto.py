"""The ``CryptoError`` branch of the error tree: open data (``encryptedData`` / ``rawData``)
that cannot be trusted (malformed, decrypted with a stale session_key, another app's
watermark, a signature that does not match).

Apart from the other branches because it is what the crypto layer refuses on its own, with no
call to WeChat. Import from ``wxlogin.errors``.
"""

from __future__ import annotations

from wxlogin.errors._base import ErrorCode, WxLoginError

__all__ = [
    "CryptoError",
    "MalformedEncryptedData",
    "SignatureMismatch",
    "StaleSessionKey",
    "WatermarkMismatch",
]


class CryptoError(WxLoginError):
    code = ErrorCode.CRYPTO_ERROR
    http_status = 400
    default_message = "the signed or encrypted data could not be verified"


class MalformedEncryptedData(CryptoError):
    """The session_key, iv or encryptedData is not valid base64 of the right length."""

    code = ErrorCode.MALFORMED_ENCRYPTED_DATA
    default_message = "encryptedData, iv or session_key is malformed"


class StaleSessionKey(CryptoError):
    """Decryption produced garbage: almost always a session_key rotated by a later wx.login."""

    code = ErrorCode.SESSION_KEY_STALE
    http_status = 409
    default_message = (
        "decryption failed: the session_key is probably stale — "
        "was wx.login called after the data was fetched?"
    )


class WatermarkMismatch(CryptoError):
    code = ErrorCode.WATERMARK_MISMATCH
    default_message = "the data was encrypted for another app (watermark appid mismatch)"


class SignatureMismatch(CryptoError):
    code = ErrorCode.INVALID_SIGNATURE
    default_message = "the rawData signature does not match"

"""wxlogin.crypto against WeChat's published vectors and an independent implementation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests import vectors as v
from wxlogin.crypto import (
    decrypt_data,
    encrypt_data,
    raw_data_signature,
    session_signature,
    verify_raw_data,
)
from wxlogin.errors import MalformedEncryptedData, StaleSessionKey, WatermarkMismatch

KEY = base64.b64encode(os.urandom(16)).decode()


def independent_encrypt(session_key: str, plaintext: bytes) -> tuple[str, str]:
    """Encrypt as WeChat does, with the library's own PKCS#7 — nothing from wxlogin."""
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(base64.b64decode(session_key)), modes.CBC(iv)).encryptor()
    data = enc.update(padded) + enc.finalize()
    return base64.b64encode(data).decode(), base64.b64encode(iv).decode()


def independent_decrypt(session_key: str, encrypted: str, iv: str) -> dict[str, object]:
    dec = Cipher(
        algorithms.AES(base64.b64decode(session_key)), modes.CBC(base64.b64decode(iv))
    ).decryptor()
    padded = dec.update(base64.b64decode(encrypted)) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    result: dict[str, object] = json.loads(unpadder.update(padded) + unpadder.finalize())
    return result


def test_decrypts_wechats_published_example() -> None:
    data = decrypt_data(v.DEMO_SESSION_KEY, v.DEMO_ENCRYPTED_DATA, v.DEMO_IV, appid=v.DEMO_APPID)
    assert data["openId"] == v.DEMO_OPENID
    assert data["unionId"] == v.DEMO_UNIONID
    assert data["watermark"] == {"timestamp": v.DEMO_WATERMARK_TIMESTAMP, "appid": v.DEMO_APPID}


def test_signs_wechats_published_raw_data_example() -> None:
    assert raw_data_signature(v.SIGNATURE_RAW_DATA, v.SIGNATURE_SESSION_KEY) == v.SIGNATURE
    assert verify_raw_data(v.SIGNATURE_RAW_DATA, v.SIGNATURE, v.SIGNATURE_SESSION_KEY)
    assert verify_raw_data(v.SIGNATURE_RAW_DATA, v.SIGNATURE.upper(), v.SIGNATURE_SESSION_KEY)
    assert not verify_raw_data(v.SIGNATURE_RAW_DATA + " ", v.SIGNATURE, v.SIGNATURE_SESSION_KEY)
    assert not verify_raw_data(v.SIGNATURE_RAW_DATA, "0" * 40, v.SIGNATURE_SESSION_KEY)
    assert not verify_raw_data(v.SIGNATURE_RAW_DATA, "不是签名", v.SIGNATURE_SESSION_KEY)


def test_round_trip_keeps_unicode_and_appends_watermark_last() -> None:
    user = {"nickName": "微信用户", "gender": 0, "avatarUrl": "https://x/0"}
    encrypted, iv = encrypt_data(KEY, user, appid="wxabc", timestamp=1700000000)
    plain = independent_decrypt(KEY, encrypted, iv)
    assert list(plain) == ["nickName", "gender", "avatarUrl", "watermark"]
    assert decrypt_data(KEY, encrypted, iv, appid="wxabc") == plain


def test_decrypts_what_an_independent_implementation_encrypted() -> None:
    payload = {"phoneNumber": "13800138000", "watermark": {"timestamp": 1, "appid": "wxabc"}}
    encrypted, iv = independent_encrypt(KEY, json.dumps(payload).encode())
    assert decrypt_data(KEY, encrypted, iv, appid="wxabc") == payload


def test_wrong_session_key_is_reported_as_stale() -> None:
    encrypted, iv = encrypt_data(KEY, {"a": 1}, appid="wxabc")
    others = [base64.b64encode(os.urandom(16)).decode() for _ in range(200)]
    for other in others:
        with pytest.raises(StaleSessionKey, match=r"wx\.login"):
            decrypt_data(other, encrypted, iv, appid="wxabc")


def test_watermark_of_another_app_is_refused() -> None:
    encrypted, iv = encrypt_data(KEY, {"a": 1}, appid="wxother")
    with pytest.raises(WatermarkMismatch):
        decrypt_data(KEY, encrypted, iv, appid="wxabc")


def test_missing_watermark_is_refused() -> None:
    encrypted, iv = independent_encrypt(KEY, b'{"a":1}')
    with pytest.raises(WatermarkMismatch):
        decrypt_data(KEY, encrypted, iv, appid="wxabc")


@pytest.mark.parametrize(
    ("session_key", "encrypted", "iv", "what"),
    [
        ("not base64!", "AAAAAAAAAAAAAAAAAAAAAA==", v.DEMO_IV, "session_key"),
        (base64.b64encode(b"x" * 24).decode(), v.DEMO_ENCRYPTED_DATA, v.DEMO_IV, "session_key"),
        (v.DEMO_SESSION_KEY, v.DEMO_ENCRYPTED_DATA, "short", "iv"),
        (v.DEMO_SESSION_KEY, v.DEMO_ENCRYPTED_DATA, base64.b64encode(b"x" * 8).decode(), "iv"),
        (v.DEMO_SESSION_KEY, "%%%", v.DEMO_IV, "encryptedData"),
        (v.DEMO_SESSION_KEY, base64.b64encode(b"x" * 17).decode(), v.DEMO_IV, "multiple of 16"),
        (v.DEMO_SESSION_KEY, "", v.DEMO_IV, "multiple of 16"),
    ],
)
def test_malformed_input_names_the_culprit(
    session_key: str, encrypted: str, iv: str, what: str
) -> None:
    with pytest.raises(MalformedEncryptedData, match=what) as info:
        decrypt_data(session_key, encrypted, iv, appid=v.DEMO_APPID)
    assert session_key not in str(info.value) or len(session_key) < 8


def test_crypto_errors_never_echo_the_session_key() -> None:
    encrypted, iv = encrypt_data(KEY, {"a": 1}, appid="wxabc")
    calls: tuple[Callable[[], object], ...] = (
        lambda: decrypt_data(base64.b64encode(os.urandom(16)).decode(), encrypted, iv, appid="x"),
        lambda: decrypt_data(KEY, encrypted, iv, appid="wxnot"),
    )
    for call in calls:
        with pytest.raises((StaleSessionKey, WatermarkMismatch)) as info:
            call()
        assert KEY not in str(info.value) and KEY not in repr(info.value)


def test_session_signature_keys_hmac_with_the_key_string_not_its_bytes() -> None:
    key = "tiihtNczf5v6AKRyjwEUhQ=="
    expected = hmac.new(key.encode(), b"", hashlib.sha256).hexdigest()
    wrong = hmac.new(base64.b64decode(key), b"", hashlib.sha256).hexdigest()
    assert session_signature(key) == expected
    assert session_signature(key) != wrong
    assert (
        session_signature(key, b"body")
        == hmac.new(key.encode(), b"body", hashlib.sha256).hexdigest()
    )

"""Properties of wxlogin.crypto, wxlogin.paycrypto and the session-key sealer: what one side
makes, the other opens; and whatever arrives instead, the only way out is the module's own
error (never a ValueError, UnicodeError or an exception of the crypto library)."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.strategies import PROPERTY, json_values
from wxlogin import crypto, paycrypto
from wxlogin.errors import (
    MalformedEncryptedData,
    NoSessionKey,
    PayDecryptionFailed,
    StaleSessionKey,
    WatermarkMismatch,
)
from wxlogin.service.sealing import SessionKeySealer

APPID = "wx1234567890abcdef"
OPEN_DATA_ERRORS = (MalformedEncryptedData, StaleSessionKey, WatermarkMismatch)

session_keys = st.binary(min_size=16, max_size=16).map(lambda k: base64.b64encode(k).decode())
ivs = st.binary(min_size=16, max_size=16)
base64_text = st.binary(max_size=96).map(lambda b: base64.b64encode(b).decode())
# Text that may or may not be base64: WeChat's fields, or anything a client sends instead.
maybe_base64 = base64_text | st.text(max_size=64)
open_data = st.dictionaries(st.text(max_size=12), json_values, max_size=5)


@PROPERTY
@given(key=session_keys, data=open_data, iv=ivs, timestamp=st.integers(0, 2**40))
def test_open_data_round_trips(key: str, data: dict[str, Any], iv: bytes, timestamp: int) -> None:
    encrypted, iv_text = crypto.encrypt_data(key, data, appid=APPID, timestamp=timestamp, iv=iv)
    opened = crypto.decrypt_data(key, encrypted, iv_text, appid=APPID)
    assert opened == {**data, "watermark": {"timestamp": timestamp, "appid": APPID}}
    with pytest.raises(WatermarkMismatch):
        crypto.decrypt_data(key, encrypted, iv_text, appid="wxfedcba0987654321")


@PROPERTY
@given(key=maybe_base64, encrypted=maybe_base64, iv=maybe_base64)
def test_open_data_refuses_anything_else_with_its_own_errors(
    key: str, encrypted: str, iv: str
) -> None:
    try:
        opened = crypto.decrypt_data(key, encrypted, iv, appid=APPID)
    except OPEN_DATA_ERRORS:
        return
    # Only a real ciphertext under this key gets here: ~never by chance, and then well formed.
    assert opened["watermark"]["appid"] == APPID


@PROPERTY
@given(key=session_keys, data=open_data, iv=ivs, other=session_keys)
def test_open_data_under_another_key_is_stale_or_foreign(
    key: str, data: dict[str, Any], iv: bytes, other: str
) -> None:
    """A later wx.login rotates the session_key: the old ciphertext must say so, not crash."""
    encrypted, iv_text = crypto.encrypt_data(key, data, appid=APPID, iv=iv)
    if other == key:
        return
    with pytest.raises((StaleSessionKey, WatermarkMismatch)):
        crypto.decrypt_data(other, encrypted, iv_text, appid=APPID)


@PROPERTY
@given(raw=st.text(max_size=200), key=session_keys, signature=st.text(max_size=60))
def test_raw_data_signatures_verify_their_own_and_refuse_others(
    raw: str, key: str, signature: str
) -> None:
    good = crypto.raw_data_signature(raw, key)
    assert crypto.verify_raw_data(raw, good, key)
    assert crypto.verify_raw_data(raw, good.upper(), key)  # hex in either case
    assert crypto.verify_raw_data(raw, signature, key) is (signature.lower() == good)
    assert crypto.verify_raw_data(raw + "x", good, key) is False


@PROPERTY
@given(key=session_keys, body=st.binary(max_size=64))
def test_session_signatures_are_hmac_sha256_hex(key: str, body: bytes) -> None:
    signature = crypto.session_signature(key, body)
    assert len(signature) == 64 and int(signature, 16) >= 0
    assert signature == crypto.session_signature(key, body)


APIV3_KEY = "0123456789abcdef0123456789abcdef"
nonces = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=8, max_size=32)


@PROPERTY
@given(nonce=nonces, plaintext=st.binary(max_size=256), associated=st.text(max_size=32))
def test_pay_resources_round_trip(nonce: str, plaintext: bytes, associated: str) -> None:
    sealed = paycrypto.aead_encrypt(APIV3_KEY, nonce, plaintext, associated)
    assert paycrypto.aead_decrypt(APIV3_KEY, nonce, sealed, associated) == plaintext
    with pytest.raises(PayDecryptionFailed):
        paycrypto.aead_decrypt(APIV3_KEY, nonce, sealed, associated + "x")


@PROPERTY
@given(nonce=st.text(max_size=140), ciphertext=maybe_base64, associated=st.text(max_size=32))
def test_pay_resources_refuse_anything_else_with_their_own_error(
    nonce: str, ciphertext: str, associated: str
) -> None:
    """A callback's resource is attacker-reachable before its key is right: every field."""
    with pytest.raises(PayDecryptionFailed):
        paycrypto.aead_decrypt(APIV3_KEY, nonce, ciphertext, associated)


SEALER = SessionKeySealer(os.urandom(32))
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEF0123456789_-", min_size=1, max_size=40)


@PROPERTY
@given(key=session_keys, appid=ids, openid=ids, other=ids)
def test_sealed_session_keys_open_only_for_their_identity(
    key: str, appid: str, openid: str, other: str
) -> None:
    sealed = SEALER.seal(key, appid=appid, openid=openid)
    assert key.encode() not in sealed
    assert SEALER.open(sealed, appid=appid, openid=openid) == key
    if other != openid:
        with pytest.raises(NoSessionKey):
            SEALER.open(sealed, appid=appid, openid=other)


@PROPERTY
@given(sealed=st.binary(max_size=80), appid=ids, openid=ids)
def test_a_sealed_value_that_is_not_ours_is_no_session_key(
    sealed: bytes, appid: str, openid: str
) -> None:
    """A row tampered with, or sealed under a rotated key: NoSessionKey, nothing else."""
    with pytest.raises(NoSessionKey):
        SEALER.open(sealed, appid=appid, openid=openid)

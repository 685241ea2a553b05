"""wxlogin.paycrypto against independent computations: signatures by hand (RSA arithmetic on
the key's numbers), AES-GCM straight from the library, messages byte by byte."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.pay.conftest import Keys
from wxlogin import paycrypto
from wxlogin.errors import InvalidPayKey, PayDecryptionFailed

APIV3_KEY = "0123456789abcdefghijABCDEFGHIJ+/"  # 32 characters, as the merchant platform shows
# DER prefix of DigestInfo{sha256} (RFC 8017, section 9.2, note 1).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def hand_signature(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """RSASSA-PKCS1-v1_5 with SHA-256, computed from the key's numbers without the library."""
    numbers = key.private_numbers()
    n, d = numbers.public_numbers.n, numbers.d
    size = (n.bit_length() + 7) // 8
    digest_info = SHA256_DIGEST_INFO + hashlib.sha256(message).digest()
    encoded = b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info
    signature = pow(int.from_bytes(encoded, "big"), d, n)
    return base64.b64encode(signature.to_bytes(size, "big")).decode("ascii")


def test_request_message_is_the_lines_each_ending_in_newline() -> None:
    body = b'{"mchid":"1900000001"}'
    assert paycrypto.request_message("post", "/v3/x?mchid=1", 1700000000, "N0NCE", body) == (
        b'POST\n/v3/x?mchid=1\n1700000000\nN0NCE\n{"mchid":"1900000001"}\n'
    )
    assert paycrypto.request_message("GET", "/v3/y", "1700000000", "N") == (
        b"GET\n/v3/y\n1700000000\nN\n\n"
    )
    assert paycrypto.response_message(1, "n", b"") == b"1\nn\n\n"


def test_body_bytes_are_signed_as_they_are() -> None:
    # Not re-encoded: invalid UTF-8 and spacing survive, because the wire bytes are what count.
    body = b'{ "a" :\xff 1 }'
    assert paycrypto.response_message(5, "n", body) == b"5\nn\n" + body + b"\n"


def test_signing_matches_a_signature_computed_by_hand(keys: Keys) -> None:
    message = paycrypto.request_message(
        "GET", "/v3/pay/transactions/id/4200000001?mchid=1900000001", 1554208460, "593BEC0C93", b""
    )
    assert paycrypto.sign_message(keys.merchant, message) == hand_signature(keys.merchant, message)


def test_verification_accepts_only_the_right_key_and_message(keys: Keys) -> None:
    message = paycrypto.response_message(1700000000, "abc", b'{"prepay_id":"wx1"}')
    signature = paycrypto.sign_message(keys.wechatpay, message)
    public = keys.wechatpay.public_key()
    assert paycrypto.verify_message(public, message, signature)
    assert not paycrypto.verify_message(public, message.replace(b"wx1", b"wx2"), signature)
    assert not paycrypto.verify_message(keys.stranger.public_key(), message, signature)
    flipped = base64.b64encode(bytes([base64.b64decode(signature)[0] ^ 1])).decode()[:2]
    assert not paycrypto.verify_message(public, message, flipped + signature[2:])


@pytest.mark.parametrize(
    "signature",
    ["", "not base64!", "WECHATPAY/SIGNTEST/" + "A" * 340, "QUFB", "A" * 5000],
)
def test_malformed_signatures_are_false_not_errors(keys: Keys, signature: str) -> None:
    assert not paycrypto.verify_message(keys.wechatpay.public_key(), b"m\n", signature)


def test_pay_sign_verifies_with_the_merchant_public_key(keys: Keys) -> None:
    sign = paycrypto.pay_sign(
        keys.merchant, "wx1234567890abcdef", 1700000000, "5K8264ILTKCH16CQ", "prepay_id=wx2017"
    )
    message = b"wx1234567890abcdef\n1700000000\n5K8264ILTKCH16CQ\nprepay_id=wx2017\n"
    keys.merchant.public_key().verify(
        base64.b64decode(sign), message, padding.PKCS1v15(), hashes.SHA256()
    )
    assert sign == hand_signature(keys.merchant, message)


# --------------------------------------------------------------------------- AEAD


def test_decrypts_what_aes_gcm_encrypted_independently() -> None:
    sealed = AESGCM(APIV3_KEY.encode()).encrypt(b"fdasflkja484", b'{"a":1}', b"transaction")
    ciphertext = base64.b64encode(sealed).decode()
    assert paycrypto.aead_decrypt(APIV3_KEY, "fdasflkja484", ciphertext, "transaction") == (
        b'{"a":1}'
    )


def test_encrypt_is_what_aes_gcm_produces() -> None:
    ciphertext = paycrypto.aead_encrypt(APIV3_KEY, "0123456789ab", b"plain", "refund")
    expected = AESGCM(APIV3_KEY.encode()).encrypt(b"0123456789ab", b"plain", b"refund")
    assert base64.b64decode(ciphertext) == expected


@pytest.mark.parametrize(
    ("key", "nonce", "aad", "alter"),
    [
        ("x" * 32, "0123456789ab", "transaction", False),  # another APIv3 key
        (APIV3_KEY, "0123456789ac", "transaction", False),  # another nonce
        (APIV3_KEY, "0123456789ab", "refund", False),  # other associated data
        (APIV3_KEY, "0123456789ab", "transaction", True),  # a flipped ciphertext bit
    ],
)
def test_anything_altered_fails_to_decrypt(key: str, nonce: str, aad: str, alter: bool) -> None:
    ciphertext = paycrypto.aead_encrypt(APIV3_KEY, "0123456789ab", b"secret order", "transaction")
    if alter:
        raw = bytearray(base64.b64decode(ciphertext))
        raw[0] ^= 1
        ciphertext = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(PayDecryptionFailed):
        paycrypto.aead_decrypt(key, nonce, ciphertext, aad)


@pytest.mark.parametrize(
    ("nonce", "ciphertext"),
    [("0123456789ab", "%%%"), ("0123456789ab", "QUFB"), ("short", "A" * 40), ("", "A" * 40)],
)
def test_malformed_resources_are_refused(nonce: str, ciphertext: str) -> None:
    with pytest.raises(PayDecryptionFailed):
        paycrypto.aead_decrypt(APIV3_KEY, nonce, ciphertext, "transaction")


@pytest.mark.parametrize("key", ["", "short", "x" * 31, "x" * 33, "密" * 11])
def test_apiv3_key_must_be_32_bytes_and_is_never_echoed(key: str) -> None:
    with pytest.raises(InvalidPayKey) as caught:
        paycrypto.apiv3_key_bytes(key)
    assert "32 bytes" in str(caught.value)
    assert not key or key not in str(caught.value)


# --------------------------------------------------------------------------- keys


def test_private_keys_load_from_pkcs8_and_pkcs1(keys: Keys) -> None:
    pkcs8 = paycrypto.private_key_pem(keys.merchant)
    assert pkcs8.startswith(b"-----BEGIN PRIVATE KEY-----")
    pkcs1 = keys.merchant.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    for pem in (pkcs8, pkcs1, pkcs8.decode()):
        loaded = paycrypto.load_private_key(pem)
        assert paycrypto.same_public_key(loaded, keys.merchant)
        assert not paycrypto.same_public_key(loaded, keys.stranger.public_key())


def test_public_keys_and_certificates_load(keys: Keys) -> None:
    public = paycrypto.load_public_key(paycrypto.public_key_pem(keys.wechatpay))
    assert paycrypto.same_public_key(public, keys.wechatpay)
    pem = paycrypto.make_certificate(
        keys.wechatpay,
        serial_number=0x0ABC,
        common_name="Tenpay.com Root CA test",
        not_valid_before=1_700_000_000,
        not_valid_after=1_800_000_000,
        issuer_key=keys.stranger,
    )
    cert = paycrypto.load_certificate(pem)
    assert cert.serial == "0ABC"
    assert paycrypto.same_public_key(cert.public_key, keys.wechatpay)
    assert cert.valid_at(1_750_000_000)
    assert not cert.valid_at(1_800_000_001)
    assert not cert.valid_at(1_699_999_999)


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0x5157F09EFDC096DE15EBE81A47057A7232F1B8E1, "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"),
        (0xABC, "0ABC"),
        (1, "01"),
    ],
)
def test_serials_are_upper_case_hex_of_whole_bytes(number: int, text: str) -> None:
    assert paycrypto.certificate_serial(number) == text


def _pem_body(pem: bytes) -> str:
    """The start of a PEM's base64 body (empty for a one-line input)."""
    return b"".join(pem.splitlines()[1:-1]).decode("ascii", "replace")[:24]


def test_key_loading_errors_name_the_problem_never_the_key(keys: Keys) -> None:
    private = paycrypto.private_key_pem(keys.merchant)
    public = paycrypto.public_key_pem(keys.merchant)
    encrypted = keys.merchant.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_pem = ec_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    cases = [
        (paycrypto.load_private_key, public, "not a PEM private key"),
        (paycrypto.load_private_key, encrypted, "password-protected"),
        (paycrypto.load_private_key, ec_pem, "not an RSA key"),
        (paycrypto.load_private_key, paycrypto.private_key_pem(weak), "1024 bits"),
        (paycrypto.load_private_key, private.replace(b"M", b"*"), "not a readable"),
        (paycrypto.load_public_key, private, "holds a private key"),
        (paycrypto.load_public_key, b"garbage", "not a readable PEM public key"),
        (paycrypto.load_certificate, public, "not a PEM certificate"),
        (paycrypto.load_certificate, b"-----BEGIN CERTIFICATE-----\nAA==\n", "not a readable"),
    ]
    for load, pem, expected in cases:
        with pytest.raises(InvalidPayKey) as caught:
            load(pem)
        message = str(caught.value)
        assert expected in message, (load, message)
        body = _pem_body(pem)
        assert not body or body not in message


def test_generated_keys_are_2048_bit_rsa() -> None:
    assert paycrypto.generate_private_key().key_size == 2048
    with pytest.raises(InvalidPayKey):
        paycrypto.generate_private_key(1024)

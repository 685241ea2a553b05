"""The cryptography of WeChat Pay API v3: pure functions, no I/O.

Kept apart from ``wxlogin.crypto`` (open data, session signatures) because it is a different
protocol with its own keys; both are the crypto layer and import nothing but ``errors``.

* Signatures — RSA-SHA256, PKCS#1 v1.5, base64, over WeChat Pay's message form: the lines
  joined with ``\\n`` *and* a final ``\\n`` (``pay_message``). ``request_message`` is what the
  merchant signs (``METHOD, PATH?QUERY, TIMESTAMP, NONCE, BODY``), ``response_message`` what
  WeChat Pay signs on answers and callbacks (``TIMESTAMP, NONCE, BODY``), ``pay_sign`` the
  ``paySign`` of ``wx.requestPayment`` (``APPID, TIMESTAMP, NONCE, PACKAGE``). Bodies are the
  raw bytes as they travelled: re-serialised JSON never verifies.
* AEAD_AES_256_GCM — the APIv3 key (32 bytes) encrypts callback resources; the nonce is its
  UTF-8 text, the associated data is used as given, the base64 ciphertext ends with the tag.
* Keys — PEM loading for the merchant private key, the WeChat Pay public key and a platform
  certificate (its serial as WeChat writes it: upper-case hex); generation and PEM output for
  the simulator, ``wxlogin dev`` and tests.

Errors say what is wrong (``InvalidPayKey``, ``PayDecryptionFailed``) and never echo a key;
``what`` arguments only name the thing for the message ("merchant private key").
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from wxlogin.errors import InvalidPayKey, PayDecryptionFailed

__all__ = [
    "APIV3_KEY_BYTES",
    "MIN_RSA_BITS",
    "PlatformCertificate",
    "aead_decrypt",
    "aead_encrypt",
    "apiv3_key_bytes",
    "certificate_serial",
    "generate_private_key",
    "load_certificate",
    "load_private_key",
    "load_public_key",
    "make_certificate",
    "pay_message",
    "pay_sign",
    "private_key_pem",
    "public_key_pem",
    "request_message",
    "response_message",
    "same_public_key",
    "sign_message",
    "verify_message",
]

APIV3_KEY_BYTES = 32
MIN_RSA_BITS = 2048
# An RSA-4096 signature is 684 base64 characters; anything far longer is not a signature, and
# decoding it would only cost time.
_MAX_SIGNATURE_CHARS = 1024
_GCM_TAG_BYTES = 16

# --------------------------------------------------------------------------- messages


def pay_message(*parts: str | bytes) -> bytes:
    """WeChat Pay's string to sign: every part followed by ``\\n`` (so a final one too).

    ``bytes`` parts (bodies) are used exactly as given; ``str`` parts are UTF-8.
    """
    out = bytearray()
    for part in parts:
        out += part.encode("utf-8") if isinstance(part, str) else part
        out += b"\n"
    return bytes(out)


def request_message(
    method: str, path_with_query: str, timestamp: int | str, nonce: str, body: bytes = b""
) -> bytes:
    """What a merchant signs for one API request (``body`` empty for a GET)."""
    return pay_message(method.upper(), path_with_query, str(timestamp), nonce, body)


def response_message(timestamp: int | str, nonce: str, body: bytes) -> bytes:
    """What WeChat Pay signs on an answer or a callback (empty ``body`` for a 204)."""
    return pay_message(str(timestamp), nonce, body)


def sign_message(private_key: rsa.RSAPrivateKey, message: bytes) -> str:
    """RSA-SHA256 (PKCS#1 v1.5) of ``message``, base64."""
    signature = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def verify_message(public_key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    """True when ``signature`` (base64) is ``public_key``'s RSA-SHA256 over ``message``.

    Anything that is not a well-formed signature is simply False: the caller decides what a
    refusal means, and nothing here raises with the input in its message.
    """
    if not signature or len(signature) > _MAX_SIGNATURE_CHARS:
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        public_key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def pay_sign(
    private_key: rsa.RSAPrivateKey, appid: str, timestamp: int | str, nonce: str, package: str
) -> str:
    """The ``paySign`` of ``wx.requestPayment`` (``signType: "RSA"``).

    ``timestamp`` is the 10-digit Unix time the page also gets, ``package`` is
    ``"prepay_id=..."``.
    """
    return sign_message(private_key, pay_message(appid, str(timestamp), nonce, package))


# --------------------------------------------------------------------------- AEAD


def apiv3_key_bytes(key: str | bytes) -> bytes:
    """The APIv3 key as the 32 bytes AES-256-GCM takes (WeChat shows it as 32 characters)."""
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if len(raw) != APIV3_KEY_BYTES:
        raise InvalidPayKey(f"the APIv3 key must be {APIV3_KEY_BYTES} bytes, got {len(raw)}")
    return raw


def aead_encrypt(
    apiv3_key: str | bytes, nonce: str, plaintext: bytes, associated_data: str = ""
) -> str:
    """AEAD_AES_256_GCM as WeChat Pay encrypts a callback resource: base64(ciphertext + tag).

    Used by the simulator and tests; ``nonce`` is WeChat's 12-character text.
    """
    key = apiv3_key_bytes(apiv3_key)
    sealed = AESGCM(key).encrypt(nonce.encode("utf-8"), plaintext, associated_data.encode("utf-8"))
    return base64.b64encode(sealed).decode("ascii")


def aead_decrypt(
    apiv3_key: str | bytes, nonce: str, ciphertext: str, associated_data: str = ""
) -> bytes:
    """Open a WeChat Pay ``resource``; ``PayDecryptionFailed`` when it does not authenticate.

    A failure after a good signature almost always means the APIv3 key is not the merchant's
    current one (it can be reset in the merchant platform, and the old one stops working).
    """
    key = apiv3_key_bytes(apiv3_key)
    nonce_bytes = nonce.encode("utf-8")
    if not 8 <= len(nonce_bytes) <= 128:
        raise PayDecryptionFailed("the resource nonce has an impossible length")
    try:
        sealed = base64.b64decode(ciphertext, validate=True)
    except (binascii.Error, ValueError):
        raise PayDecryptionFailed("the resource ciphertext is not valid base64") from None
    if len(sealed) < _GCM_TAG_BYTES:
        raise PayDecryptionFailed("the resource ciphertext is shorter than its tag")
    try:
        return AESGCM(key).decrypt(nonce_bytes, sealed, associated_data.encode("utf-8"))
    except InvalidTag:
        raise PayDecryptionFailed() from None


# --------------------------------------------------------------------------- keys


def _checked_rsa_size(key_size: int, what: str) -> None:
    if key_size < MIN_RSA_BITS:
        raise InvalidPayKey(f"{what}: an RSA key of {key_size} bits; WeChat Pay uses 2048")


def load_private_key(pem: bytes | str, *, what: str = "merchant private key") -> rsa.RSAPrivateKey:
    """An unencrypted RSA private key from PEM (PKCS#8 ``apiclient_key.pem`` or PKCS#1)."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    if b"PRIVATE KEY-----" not in data:
        raise InvalidPayKey(f"{what}: not a PEM private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise InvalidPayKey(
            f"{what}: the key is password-protected; export it unencrypted"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidPayKey(f"{what}: not a readable PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidPayKey(f"{what}: not an RSA key")
    _checked_rsa_size(key.key_size, what)
    return key


def load_public_key(pem: bytes | str, *, what: str = "WeChat Pay public key") -> rsa.RSAPublicKey:
    """An RSA public key from PEM (``BEGIN PUBLIC KEY``, as the merchant platform hands out)."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    if b"PRIVATE KEY-----" in data:
        # Refuse loudly rather than derive: a private key has no business in this file.
        raise InvalidPayKey(f"{what}: the file holds a private key, expected a public key")
    if b"CERTIFICATE-----" in data:
        raise InvalidPayKey(f"{what}: the file holds a certificate, expected a public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidPayKey(f"{what}: not a readable PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidPayKey(f"{what}: not an RSA key")
    _checked_rsa_size(key.key_size, what)
    return key


@dataclass(frozen=True, slots=True)
class PlatformCertificate:
    """A WeChat Pay platform certificate: its serial (upper-case hex), key and validity."""

    serial: str
    public_key: rsa.RSAPublicKey
    not_valid_before: float
    not_valid_after: float

    def valid_at(self, now: float) -> bool:
        return self.not_valid_before <= now <= self.not_valid_after


def certificate_serial(serial_number: int) -> str:
    """A certificate serial number as WeChat writes it: upper-case hex of its bytes."""
    text = f"{serial_number:X}"
    return "0" + text if len(text) % 2 else text


def load_certificate(
    pem: bytes | str, *, what: str = "platform certificate"
) -> PlatformCertificate:
    """A PEM X.509 certificate with an RSA key (a platform or merchant API certificate)."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    if b"CERTIFICATE-----" not in data:
        raise InvalidPayKey(f"{what}: not a PEM certificate")
    try:
        cert = x509.load_pem_x509_certificate(data)
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidPayKey(f"{what}: not a readable PEM certificate") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidPayKey(f"{what}: the certificate's key is not RSA")
    _checked_rsa_size(key.key_size, what)
    return PlatformCertificate(
        serial=certificate_serial(cert.serial_number),
        public_key=key,
        not_valid_before=cert.not_valid_before_utc.timestamp(),
        not_valid_after=cert.not_valid_after_utc.timestamp(),
    )


def same_public_key(
    a: rsa.RSAPublicKey | rsa.RSAPrivateKey, b: rsa.RSAPublicKey | rsa.RSAPrivateKey
) -> bool:
    """True when both are (halves of) the same RSA key pair."""
    first = a.public_key() if isinstance(a, rsa.RSAPrivateKey) else a
    second = b.public_key() if isinstance(b, rsa.RSAPrivateKey) else b
    return first.public_numbers() == second.public_numbers()


def generate_private_key(bits: int = MIN_RSA_BITS) -> rsa.RSAPrivateKey:
    """A fresh RSA key, as a merchant (or the simulated WeChat Pay) would make one."""
    _checked_rsa_size(bits, "a generated key")
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted: the format of the merchant platform's ``apiclient_key.pem``."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: rsa.RSAPublicKey | rsa.RSAPrivateKey) -> bytes:
    """SubjectPublicKeyInfo PEM (``BEGIN PUBLIC KEY``) of a key or of a private key's half."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def make_certificate(
    subject_key: rsa.RSAPrivateKey,
    *,
    serial_number: int,
    common_name: str,
    not_valid_before: float,
    not_valid_after: float,
    issuer_key: rsa.RSAPrivateKey | None = None,
    issuer_name: str = "wxlogin test CA",
) -> bytes:
    """A PEM certificate for ``subject_key``'s public half, signed by ``issuer_key`` (itself
    when None): what the simulator hands out in platform-certificate mode, and test fixtures.

    wxlogin pins a platform certificate by its serial and key, as WeChat Pay's docs say to;
    it does not build a chain to Tencent's CA, so any issuer does for a simulated one.
    """
    signer = issuer_key or subject_key
    issuer = common_name if issuer_key is None else issuer_name
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(subject_key.public_key())
        .serial_number(serial_number)
        .not_valid_before(dt.datetime.fromtimestamp(not_valid_before, dt.UTC))
        .not_valid_after(dt.datetime.fromtimestamp(not_valid_after, dt.UTC))
        .sign(signer, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)

"""One merchant's identity and keys: loaded from PEM or files, checked, and kept out of sight.

``Merchant`` holds the merchant private key and the APIv3 key without ever handing them out:
the client asks it to ``sign`` and ``decrypt``. Its ``repr`` shows the mchid and key ids only.

``check_merchant_files`` is what ``wxlogin doctor`` and startup run on the settings of an
app: every problem as one line naming the setting or file (missing file, not a key, a key
that does not match its serial or certificate, an APIv3 key that is not 32 bytes), never a
key's content. It takes plain values, not ``wxlogin.config`` objects: the pay layer does not
import config (DESIGN.md's layer table), the caller translates.
"""

from __future__ import annotations

import stat
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from wxlogin import paycrypto
from wxlogin.errors import ConfigurationError, InvalidPayKey
from wxlogin.pay import protocol as wxpay

__all__ = ["Merchant", "MerchantCheck", "WeChatPayKey", "check_merchant_files"]

# A PEM key or certificate is a few KiB; a bigger "key file" is a wrong path.
_MAX_KEY_FILE_BYTES = 64 * 1024
# Say so a month before a platform certificate stops verifying anything.
_EXPIRY_WARNING_S = 30 * 86400


@dataclass(frozen=True, slots=True)
class WeChatPayKey:
    """A key WeChat Pay signs with: a WeChat Pay public key (``key_id`` ``PUB_KEY_ID_...``) or
    a platform certificate's (``key_id`` its serial, with the certificate's validity)."""

    key_id: str
    public_key: rsa.RSAPublicKey = field(repr=False)
    not_valid_before: float | None = None
    not_valid_after: float | None = None

    def usable_at(self, now: float) -> bool:
        if self.not_valid_before is not None and now < self.not_valid_before:
            return False
        return self.not_valid_after is None or now <= self.not_valid_after


def _key_id(value: str) -> str:
    # Hex serials are compared upper-case (WeChat writes them so; people paste lower-case).
    return value if value.startswith(wxpay.PUBLIC_KEY_ID_PREFIX) else value.upper()


class Merchant:
    """A merchant (mchid) with its API key pair, APIv3 key and the WeChat Pay keys it trusts.

    Several WeChat Pay keys may be trusted at once: two platform certificates while WeChat Pay
    rotates them, or a certificate and a public key while a merchant moves to public-key mode.
    """

    __slots__ = ("_apiv3_key", "_private_key", "mchid", "merchant_serial", "wechatpay_keys")

    def __init__(
        self,
        *,
        mchid: str,
        merchant_serial: str,
        private_key: rsa.RSAPrivateKey,
        apiv3_key: str | bytes,
        wechatpay_keys: Iterable[WeChatPayKey],
    ) -> None:
        if wxpay.MCHID_RE.fullmatch(mchid) is None:
            raise InvalidPayKey("mchid must be the merchant number (digits)")
        if wxpay.MERCHANT_SERIAL_RE.fullmatch(merchant_serial) is None:
            raise InvalidPayKey("merchant_serial must be the API certificate's hex serial")
        keys: dict[str, WeChatPayKey] = {}
        for key in wechatpay_keys:
            if wxpay.WECHATPAY_SERIAL_RE.fullmatch(key.key_id) is None:
                raise InvalidPayKey("a WeChat Pay key id is neither a hex serial nor PUB_KEY_ID_")
            keys[_key_id(key.key_id)] = key
        if not keys:
            raise InvalidPayKey("no WeChat Pay public key or platform certificate to verify with")
        self.mchid = mchid
        self.merchant_serial = merchant_serial.upper()
        self.wechatpay_keys: Mapping[str, WeChatPayKey] = keys
        self._private_key = private_key
        self._apiv3_key = paycrypto.apiv3_key_bytes(apiv3_key)

    def __repr__(self) -> str:
        return (
            f"Merchant(mchid={self.mchid!r}, merchant_serial={self.merchant_serial!r}, "
            f"wechatpay_keys={sorted(self.wechatpay_keys)!r})"
        )

    # ------------------------------------------------------------------ use

    def sign(self, message: bytes) -> str:
        """The merchant's RSA-SHA256 signature of ``message`` (base64)."""
        return paycrypto.sign_message(self._private_key, message)

    def decrypt(self, nonce: str, ciphertext: str, associated_data: str) -> bytes:
        """Open a callback resource with the APIv3 key (``PayDecryptionFailed`` otherwise)."""
        return paycrypto.aead_decrypt(self._apiv3_key, nonce, ciphertext, associated_data)

    def wechatpay_key(self, key_id: str) -> WeChatPayKey | None:
        return self.wechatpay_keys.get(_key_id(key_id))

    def owns(self, public_key: rsa.RSAPublicKey) -> bool:
        """True when ``public_key`` is the merchant's (what WeChat Pay verifies us with)."""
        return paycrypto.same_public_key(self._private_key, public_key)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_pem(
        cls,
        *,
        mchid: str,
        merchant_serial: str,
        private_key_pem: bytes | str,
        apiv3_key: str | bytes,
        public_key_pem: bytes | str | None = None,
        public_key_id: str | None = None,
        platform_certificate_pem: bytes | str | None = None,
        platform_certificate_serial: str | None = None,
    ) -> Merchant:
        """A merchant from PEM text. Give a WeChat Pay public key with its id, a platform
        certificate (its serial is read from it; ``platform_certificate_serial``, when given,
        must agree), or both."""
        keys: list[WeChatPayKey] = []
        if public_key_pem is not None:
            if not public_key_id or not public_key_id.startswith(wxpay.PUBLIC_KEY_ID_PREFIX):
                raise InvalidPayKey("a WeChat Pay public key needs its id (PUB_KEY_ID_...)")
            keys.append(WeChatPayKey(public_key_id, paycrypto.load_public_key(public_key_pem)))
        if platform_certificate_pem is not None:
            cert = paycrypto.load_certificate(platform_certificate_pem)
            if platform_certificate_serial is not None and not _same_serial(
                platform_certificate_serial, cert.serial
            ):
                raise InvalidPayKey(
                    f"platform certificate: its serial is {cert.serial}, "
                    "not the configured platform_certificate_serial"
                )
            keys.append(
                WeChatPayKey(
                    cert.serial, cert.public_key, cert.not_valid_before, cert.not_valid_after
                )
            )
        return cls(
            mchid=mchid,
            merchant_serial=merchant_serial,
            private_key=paycrypto.load_private_key(private_key_pem),
            apiv3_key=apiv3_key,
            wechatpay_keys=keys,
        )

    @classmethod
    def from_files(
        cls,
        *,
        mchid: str,
        merchant_serial: str,
        private_key_file: Path,
        apiv3_key: str,
        public_key_file: Path | None = None,
        public_key_id: str | None = None,
        platform_certificate_file: Path | None = None,
        platform_certificate_serial: str | None = None,
        merchant_certificate_file: Path | None = None,
        label: str = "pay",
    ) -> Merchant:
        """As ``check_merchant_files``, raising ``ConfigurationError`` (a line per problem)."""
        check = check_merchant_files(
            mchid=mchid,
            merchant_serial=merchant_serial,
            private_key_file=private_key_file,
            apiv3_key=apiv3_key,
            public_key_file=public_key_file,
            public_key_id=public_key_id,
            platform_certificate_file=platform_certificate_file,
            platform_certificate_serial=platform_certificate_serial,
            merchant_certificate_file=merchant_certificate_file,
            label=label,
        )
        if check.merchant is None:
            raise ConfigurationError("\n".join(check.problems))
        return check.merchant


def _same_serial(a: str, b: str) -> bool:
    try:
        return int(a, 16) == int(b, 16)
    except ValueError:
        return False


# --------------------------------------------------------------------------- checking files


@dataclass
class MerchantCheck:
    """The outcome of ``check_merchant_files``: the merchant when nothing is wrong."""

    merchant: Merchant | None
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _read_pem(path: Path, what: str, problems: list[str]) -> bytes | None:
    try:
        if path.stat().st_size > _MAX_KEY_FILE_BYTES:
            problems.append(f"{what} {path}: larger than 64 KiB, not a key or certificate")
            return None
        return path.read_bytes()
    except FileNotFoundError:
        problems.append(f"{what} {path}: no such file")
    except IsADirectoryError:
        problems.append(f"{what} {path}: is a directory, not a file")
    except PermissionError:
        problems.append(f"{what} {path}: cannot be read (permission denied)")
    except OSError as exc:
        problems.append(f"{what} {path}: cannot be read ({exc.strerror})")
    return None


def check_merchant_files(
    *,
    mchid: str,
    merchant_serial: str,
    private_key_file: Path,
    apiv3_key: str,
    public_key_file: Path | None = None,
    public_key_id: str | None = None,
    platform_certificate_file: Path | None = None,
    platform_certificate_serial: str | None = None,
    merchant_certificate_file: Path | None = None,
    label: str = "pay",
    now: float | None = None,
) -> MerchantCheck:
    """Read and cross-check a merchant's key files; report every problem, one line each.

    ``merchant_certificate_file`` (the merchant's ``apiclient_cert.pem``) is optional: when
    given, its serial must be ``merchant_serial`` and its key must pair with the private key —
    the one mismatch WeChat Pay would otherwise only report as SIGN_ERROR on every call.
    """
    moment = time.time() if now is None else now
    problems: list[str] = []
    warnings: list[str] = []

    def keyed(what: str, path: Path) -> bytes | None:
        return _read_pem(path, f"{label}: {what}", problems)

    private_key: rsa.RSAPrivateKey | None = None
    pem = keyed("merchant private key file", private_key_file)
    if pem is not None:
        try:
            private_key = paycrypto.load_private_key(pem)
        except InvalidPayKey as exc:
            problems.append(f"{label}: {private_key_file}: {exc.message}")
        else:
            mode = private_key_file.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                warnings.append(
                    f"{label}: merchant private key file {private_key_file} is readable by "
                    f"others (mode {stat.S_IMODE(mode):04o}); chmod 600 it"
                )
    try:
        paycrypto.apiv3_key_bytes(apiv3_key)
    except InvalidPayKey as exc:
        problems.append(f"{label}: apiv3_key: {exc.message}")

    keys: list[WeChatPayKey] = []
    if public_key_file is None and platform_certificate_file is None:
        problems.append(
            f"{label}: set public_key_file + public_key_id (WeChat Pay public key) or "
            "platform_certificate_file + platform_certificate_serial"
        )
    if public_key_file is not None:
        pem = keyed("WeChat Pay public key file", public_key_file)
        if not public_key_id or not public_key_id.startswith(wxpay.PUBLIC_KEY_ID_PREFIX):
            problems.append(f"{label}: public_key_id: must be the key's id, PUB_KEY_ID_...")
        elif pem is not None:
            try:
                keys.append(WeChatPayKey(public_key_id, paycrypto.load_public_key(pem)))
            except InvalidPayKey as exc:
                problems.append(f"{label}: {public_key_file}: {exc.message}")
    if platform_certificate_file is not None:
        pem = keyed("platform certificate file", platform_certificate_file)
        if pem is not None:
            try:
                cert = paycrypto.load_certificate(pem)
            except InvalidPayKey as exc:
                problems.append(f"{label}: {platform_certificate_file}: {exc.message}")
            else:
                if platform_certificate_serial is None or not _same_serial(
                    platform_certificate_serial, cert.serial
                ):
                    problems.append(
                        f"{label}: platform_certificate_serial: the certificate's serial is "
                        f"{cert.serial}; the setting must name it"
                    )
                if not cert.valid_at(moment):
                    problems.append(
                        f"{label}: platform certificate {cert.serial} is expired or not yet "
                        "valid; download the current one from WeChat Pay"
                    )
                elif cert.not_valid_after - moment < _EXPIRY_WARNING_S:
                    warnings.append(
                        f"{label}: platform certificate {cert.serial} expires within 30 days"
                    )
                keys.append(
                    WeChatPayKey(
                        cert.serial, cert.public_key, cert.not_valid_before, cert.not_valid_after
                    )
                )
    if merchant_certificate_file is not None:
        pem = keyed("merchant certificate file", merchant_certificate_file)
        if pem is not None:
            try:
                own = paycrypto.load_certificate(pem, what="merchant certificate")
            except InvalidPayKey as exc:
                problems.append(f"{label}: {merchant_certificate_file}: {exc.message}")
            else:
                if not _same_serial(merchant_serial, own.serial):
                    problems.append(
                        f"{label}: merchant_serial: the merchant certificate's serial is "
                        f"{own.serial}; WeChat Pay would answer SIGN_ERROR"
                    )
                if private_key is not None and not paycrypto.same_public_key(
                    private_key, own.public_key
                ):
                    problems.append(
                        f"{label}: the merchant private key does not belong to the merchant "
                        "certificate; WeChat Pay would answer SIGN_ERROR"
                    )
    if problems or private_key is None:
        return MerchantCheck(None, problems, warnings)
    try:
        merchant = Merchant(
            mchid=mchid,
            merchant_serial=merchant_serial,
            private_key=private_key,
            apiv3_key=apiv3_key,
            wechatpay_keys=keys,
        )
    except InvalidPayKey as exc:
        return MerchantCheck(None, [f"{label}: {exc.message}"], warnings)
    return MerchantCheck(merchant, problems, warnings)

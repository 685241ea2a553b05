"""An app's WeChat Pay merchant settings (``PayConfig``, the ``pay`` table of an ``[[apps]]``
entry) and the checks of its APIv3 key.

Apart from ``Settings`` because a merchant is its own thing with its own rules (number, serials,
the public key or the platform certificate, the APIv3 key's length): the service and
``wxlogin doctor`` take a ``PayConfig`` and nothing else of the settings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator

from wxlogin.config.values import is_placeholder

__all__ = ["PayConfig", "pay_problems"]

# WeChat Pay's APIv3 key is 32 characters; AES-256-GCM takes it as its 32 bytes.
_APIV3_KEY_BYTES = 32
_MCHID_SHAPE = re.compile(r"[0-9]{1,32}")
_SERIAL_SHAPE = re.compile(r"[0-9A-F]{8,64}")
_PUBLIC_KEY_ID_SHAPE = re.compile(r"PUB_KEY_ID_[0-9A-Za-z]{1,64}")


class PayConfig(BaseModel):
    """An app's WeChat Pay merchant (API v3), the ``pay`` table of an ``[[apps]]`` entry.

    Keys stay in files (paths here; relative ones from the working directory): the merchant
    private key (``apiclient_key.pem``) and WeChat Pay's key — a WeChat Pay public key with its
    ``PUB_KEY_ID_...`` id, or a platform certificate with its serial, or both while moving from
    one to the other. ``merchant_certificate_file`` (``apiclient_cert.pem``) is optional and
    only lets ``wxlogin doctor`` check the private key against ``merchant_serial``. The APIv3
    key is a secret like the AppSecret. In the environment, give the app as JSON in
    ``WXLOGIN_APPS``: ``[{"appid": ..., "secret": ..., "pay": {"mchid": ..., ...}}]``.
    Nothing is read here: ``wxlogin.pay.check_merchant_files`` (run by ``wxlogin doctor`` and
    at startup) opens the files.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mchid: str
    merchant_serial: str
    private_key_file: Path
    apiv3_key: SecretStr
    public_key_file: Path | None = None
    public_key_id: str | None = None
    platform_certificate_file: Path | None = None
    platform_certificate_serial: str | None = None
    merchant_certificate_file: Path | None = None

    @field_validator("mchid")
    @classmethod
    def _check_mchid(cls, value: str) -> str:
        value = value.strip()
        if not _MCHID_SHAPE.fullmatch(value):
            raise ValueError("must be the merchant number (digits only)")
        return value

    @field_validator("merchant_serial", "platform_certificate_serial")
    @classmethod
    def _check_serial(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().upper()
        if not _SERIAL_SHAPE.fullmatch(value):
            raise ValueError("must be a certificate serial number in hex (8 to 64 digits)")
        return value

    @field_validator("public_key_id")
    @classmethod
    def _check_public_key_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not _PUBLIC_KEY_ID_SHAPE.fullmatch(value):
            raise ValueError("must be the WeChat Pay public key's id, PUB_KEY_ID_...")
        return value

    @field_validator(
        "private_key_file",
        "public_key_file",
        "platform_certificate_file",
        "merchant_certificate_file",
    )
    @classmethod
    def _expand_path(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser()

    @model_validator(mode="after")
    def _one_way_to_verify(self) -> PayConfig:
        public = (self.public_key_file is None, self.public_key_id is None)
        certificate = (
            self.platform_certificate_file is None,
            self.platform_certificate_serial is None,
        )
        if public[0] != public[1]:
            raise ValueError("public_key_file and public_key_id go together")
        if certificate[0] != certificate[1]:
            raise ValueError(
                "platform_certificate_file and platform_certificate_serial go together"
            )
        if public[0] and certificate[0]:
            raise ValueError(
                "set public_key_file + public_key_id (WeChat Pay public key) or "
                "platform_certificate_file + platform_certificate_serial"
            )
        return self

    def merchant_files(self) -> dict[str, Any]:
        """The keyword arguments of ``wxlogin.pay.Merchant.from_files`` and
        ``check_merchant_files`` (the APIv3 key unwrapped: hand it on, never print it)."""
        return {
            "mchid": self.mchid,
            "merchant_serial": self.merchant_serial,
            "private_key_file": self.private_key_file,
            "apiv3_key": self.apiv3_key.get_secret_value(),
            "public_key_file": self.public_key_file,
            "public_key_id": self.public_key_id,
            "platform_certificate_file": self.platform_certificate_file,
            "platform_certificate_serial": self.platform_certificate_serial,
            "merchant_certificate_file": self.merchant_certificate_file,
        }


def pay_problems(where: str, pay: PayConfig, *, dev: bool) -> list[str]:
    """The APIv3 key's problems: a placeholder outside dev mode, a length that cannot work."""
    name = f"{where}.pay.apiv3_key (WXLOGIN_APPS)"
    key = pay.apiv3_key.get_secret_value()
    if not dev and is_placeholder(key):
        return [
            f"{name}: is empty or a placeholder; set the APIv3 key from the merchant platform "
            "(placeholders are only allowed with WXLOGIN_DEV=1)"
        ]
    if len(key.encode("utf-8")) != _APIV3_KEY_BYTES:
        return [f"{name}: must be {_APIV3_KEY_BYTES} bytes, as the merchant platform sets it"]
    return []

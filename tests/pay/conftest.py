"""Keys shared by the pay tests: made once per session (RSA generation is the slow part)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from wxlogin import paycrypto


@dataclass(frozen=True)
class Keys:
    merchant: rsa.RSAPrivateKey
    wechatpay: rsa.RSAPrivateKey
    stranger: rsa.RSAPrivateKey


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(
        merchant=paycrypto.generate_private_key(),
        wechatpay=paycrypto.generate_private_key(),
        stranger=paycrypto.generate_private_key(),
    )

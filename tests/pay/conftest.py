"""Keys, merchants (in both WeChat Pay key modes), a frozen clock and a client on a fake.

RSA keys are made once per session (generation is the slow part); everything else per test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.pay.fake import FakeWeChatPay
from wxlogin import paycrypto
from wxlogin.pay import Merchant, WeChatPayClient

MCHID = "1900000109"
MERCHANT_SERIAL = "3775B6A45ACD588826D15E583A95F5DD6C1D1F9F"
PUBLIC_KEY_ID = "PUB_KEY_ID_0119000001092025010100123456789012"
PLATFORM_SERIAL_NUMBER = 0x5157F09EFDC096DE15EBE81A47057A7232F1B8E1
PLATFORM_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
APIV3_KEY = "k7Hq2ZpX9vLm4TnB8cRw3YsD6fGj1aQe"
APPID = "wx1234567890abcdef"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
NOW = 1_700_000_000.0
DAY = 86_400.0


@dataclass(frozen=True)
class Keys:
    merchant: rsa.RSAPrivateKey
    wechatpay: rsa.RSAPrivateKey
    stranger: rsa.RSAPrivateKey


def new_keys() -> Keys:
    return Keys(
        merchant=paycrypto.generate_private_key(),
        wechatpay=paycrypto.generate_private_key(),
        stranger=paycrypto.generate_private_key(),
    )


@pytest.fixture(scope="session")
def keys() -> Keys:
    return new_keys()


@dataclass
class Clock:
    now: float = NOW

    def __call__(self) -> float:
        return self.now


@dataclass
class Sleeps:
    delays: list[float] = field(default_factory=list)

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def platform_certificate(keys: Keys, *, not_valid_after: float = NOW + 365 * DAY) -> bytes:
    return paycrypto.make_certificate(
        keys.wechatpay,
        serial_number=PLATFORM_SERIAL_NUMBER,
        common_name="Tenpay.com platform test",
        not_valid_before=NOW - 30 * DAY,
        not_valid_after=not_valid_after,
        issuer_key=keys.stranger,
    )


def make_merchant(keys: Keys, mode: str, *, apiv3_key: str = APIV3_KEY) -> Merchant:
    common: dict[str, Any] = {
        "mchid": MCHID,
        "merchant_serial": MERCHANT_SERIAL,
        "private_key_pem": paycrypto.private_key_pem(keys.merchant),
        "apiv3_key": apiv3_key,
    }
    if mode == "public_key":
        return Merchant.from_pem(
            **common,
            public_key_pem=paycrypto.public_key_pem(keys.wechatpay),
            public_key_id=PUBLIC_KEY_ID,
        )
    return Merchant.from_pem(**common, platform_certificate_pem=platform_certificate(keys))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(params=["public_key", "certificate"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def merchants(keys: Keys) -> dict[str, Merchant]:
    # Loading a private key checks it (slow); a Merchant is immutable, so share one per mode.
    return {mode: make_merchant(keys, mode) for mode in ("public_key", "certificate")}


@pytest.fixture
def merchant(merchants: dict[str, Merchant], mode: str) -> Merchant:
    return merchants[mode]


@pytest.fixture
def wechatpay_serial(mode: str) -> str:
    return PUBLIC_KEY_ID if mode == "public_key" else PLATFORM_SERIAL


@pytest.fixture
def fake(keys: Keys, wechatpay_serial: str, clock: Clock) -> FakeWeChatPay:
    return FakeWeChatPay(keys.wechatpay, wechatpay_serial, keys.stranger, clock)


@pytest.fixture
async def client(
    merchant: Merchant, fake: FakeWeChatPay, clock: Clock, sleeps: Sleeps
) -> AsyncIterator[WeChatPayClient]:
    async with WeChatPayClient(
        merchant,
        base_url="https://api.mch.example",
        transport=fake.transport,
        clock=clock,
        sleep=sleeps,
    ) as pay:
        yield pay

"""A merchant's side of WeChat Pay v3, written here on ``cryptography`` alone.

The simulator signs and verifies with ``wxlogin.paycrypto``; these helpers deliberately do not,
so a mistake there cannot make both sides agree. They sign requests as a merchant would,
verify the simulator's answer signatures and open callback resources.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any

import httpx2
import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wxlogin.simulator import Simulator

MCHID = "1900000109"
APIV3_KEY = "0123456789abcdefghijABCDEFGHIJ01"  # 32 characters
MERCHANT_SERIAL = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
NOTIFY_URL = "https://shop.example/pay/notify"

_KEYS: dict[str, rsa.RSAPrivateKey] = {}


def rsa_key(name: str) -> rsa.RSAPrivateKey:
    """One 2048-bit key per name for the whole run (generating them is the slow part)."""
    if name not in _KEYS:
        _KEYS[name] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _KEYS[name]


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verifies(public_key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def load_public(pem: str) -> rsa.RSAPublicKey:
    key = serialization.load_pem_public_key(pem.encode("ascii"))
    assert isinstance(key, rsa.RSAPublicKey)
    return key


@dataclass
class Merchant:
    """A merchant's own view: its key and serial, and what the simulator told it."""

    mchid: str
    key: rsa.RSAPrivateKey
    serial: str
    apiv3_key: str
    wechatpay_serial: str
    wechatpay_public_key: rsa.RSAPublicKey


def register(sim: Simulator, mode: str = "public_key", *, mchid: str = MCHID) -> Merchant:
    key = rsa_key("merchant")
    registered = sim.register_merchant(
        mchid,
        apiv3_key=APIV3_KEY,
        merchant_serial=MERCHANT_SERIAL,
        merchant_public_key=public_pem(key),
        mode=mode,
    )
    return Merchant(
        mchid,
        key,
        MERCHANT_SERIAL,
        APIV3_KEY,
        registered.wechatpay_serial,
        load_public(registered.wechatpay_public_key),
    )


def authorization(
    merchant: Merchant,
    method: str,
    target: str,
    body: bytes,
    *,
    timestamp: int,
    key: rsa.RSAPrivateKey | None = None,
    serial: str | None = None,
    nonce: str | None = None,
) -> str:
    nonce = nonce or secrets.token_hex(16).upper()
    message = f"{method}\n{target}\n{timestamp}\n{nonce}\n".encode() + body + b"\n"
    signature = rsa_sign(key or merchant.key, message)
    return (
        f'WECHATPAY2-SHA256-RSA2048 mchid="{merchant.mchid}",nonce_str="{nonce}",'
        f'signature="{signature}",timestamp="{timestamp}",serial_no="{serial or merchant.serial}"'
    )


async def call(
    http: httpx2.AsyncClient,
    sim: Simulator,
    merchant: Merchant,
    method: str,
    target: str,
    data: Any = None,
    *,
    skew: float = 0,
    key: rsa.RSAPrivateKey | None = None,
    serial: str | None = None,
    auth: str | None = None,
) -> httpx2.Response:
    """One signed request; ``target`` is the path with its query, exactly as signed."""
    body = b"" if data is None else orjson.dumps(data)
    timestamp = int(sim.clock.now() + skew)
    header = auth or authorization(
        merchant, method, target, body, timestamp=timestamp, key=key, serial=serial
    )
    headers = {"Authorization": header, "Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    return await http.request(method, target, content=body, headers=headers)


def response_verifies(response: httpx2.Response, merchant: Merchant) -> bool:
    """The answer's Wechatpay-* headers sign its raw body with the merchant's WeChat Pay key."""
    headers = response.headers
    if headers.get("Wechatpay-Serial") != merchant.wechatpay_serial:
        return False
    if headers.get("Wechatpay-Signature-Type") != "WECHATPAY2-SHA256-RSA2048":
        return False
    message = (
        f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n".encode()
        + response.content
        + b"\n"
    )
    return rsa_verifies(merchant.wechatpay_public_key, message, headers["Wechatpay-Signature"])


def open_resource(resource: dict[str, Any], apiv3_key: str) -> dict[str, Any]:
    """Decrypt a callback's ``resource`` (AEAD_AES_256_GCM) with the APIv3 key."""
    assert resource["algorithm"] == "AEAD_AES_256_GCM"
    plaintext = AESGCM(apiv3_key.encode()).decrypt(
        resource["nonce"].encode(),
        base64.b64decode(resource["ciphertext"]),
        resource["associated_data"].encode(),
    )
    data: dict[str, Any] = orjson.loads(plaintext)
    return data


def order_body(out_trade_no: str, openid: str, appid: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "appid": appid,
        "mchid": MCHID,
        "description": "Image形象店-深圳腾大-QQ公仔",
        "out_trade_no": out_trade_no,
        "notify_url": NOTIFY_URL,
        "amount": {"total": 100, "currency": "CNY"},
        "payer": {"openid": openid},
    }
    body.update(extra)
    return body

"""Request signatures the simulator refuses (401 SIGN_ERROR) and answer signatures it makes.

Signing and verifying here use ``cryptography`` directly (tests/simulator/pay_support.py), never
``wxlogin.paycrypto``, so the simulator's crypto is checked against an independent reading.
"""

from __future__ import annotations

import base64
import json

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.simulator.pay_support import (
    APIV3_KEY,
    MCHID,
    Merchant,
    authorization,
    call,
    order_body,
    register,
    response_verifies,
    rsa_key,
)
from tests.simulator.support import APPID, T0
from wxlogin.simulator import Simulator

JSAPI = "/v3/pay/transactions/jsapi"
QUERY = f"/v3/pay/transactions/out-trade-no/order-0001?mchid={MCHID}"


@pytest.fixture
def merchant(sim: Simulator) -> Merchant:
    return register(sim)


def assert_sign_error(answer: httpx2.Response, issue: str) -> None:
    assert answer.status_code == 401
    error = answer.json()
    assert error["code"] == "SIGN_ERROR" and issue in error["detail"]["issue"]
    # Refused before the caller is known: no answer signature.
    assert not any(name.lower().startswith("wechatpay-") for name in answer.headers)


async def test_a_request_signed_with_another_key_is_sign_error(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    answer = await call(http, sim, merchant, "GET", QUERY, key=rsa_key("intruder"))
    assert_sign_error(answer, "does not verify")


async def test_a_wrong_serial_is_sign_error(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    answer = await call(http, sim, merchant, "GET", QUERY, serial="1234ABCD")
    assert_sign_error(answer, "serial_no")


@pytest.mark.parametrize("skew", [-301, 301, 3600])
async def test_a_stale_or_future_timestamp_is_sign_error(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, skew: int
) -> None:
    answer = await call(http, sim, merchant, "GET", QUERY, skew=skew)
    assert_sign_error(answer, "off")


@pytest.mark.parametrize("skew", [-300, 300])
async def test_five_minutes_off_is_still_accepted(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, skew: int
) -> None:
    answer = await call(http, sim, merchant, "GET", QUERY, skew=skew)
    assert answer.status_code == 404 and answer.json()["code"] == "ORDER_NOT_EXIST"


async def test_the_clock_that_counts_is_the_simulated_one(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    header = authorization(merchant, "GET", QUERY, b"", timestamp=int(T0))
    assert (await http.get(QUERY, headers={"Authorization": header})).status_code == 404
    sim.advance(301)  # the same signed request, replayed five minutes later
    assert_sign_error(await http.get(QUERY, headers={"Authorization": header}), "off")


async def test_an_altered_body_or_target_does_not_verify(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    openid = sim.openid(APPID, "alice")
    body = json.dumps(order_body("order-0001", openid, APPID)).encode()
    header = authorization(merchant, "POST", JSAPI, body, timestamp=int(T0))
    altered = body.replace(b'"total": 100', b'"total": 1')
    answer = await http.post(JSAPI, content=altered, headers={"Authorization": header})
    assert_sign_error(answer, "does not verify")
    # Re-serialised JSON (other spacing) is other bytes: it must not verify either.
    compact = json.dumps(json.loads(body), separators=(",", ":")).encode()
    answer = await http.post(JSAPI, content=compact, headers={"Authorization": header})
    assert_sign_error(answer, "does not verify")
    header = authorization(merchant, "GET", QUERY, b"", timestamp=int(T0))
    other = QUERY.replace("order-0001", "order-0002")
    assert_sign_error(await http.get(other, headers={"Authorization": header}), "does not verify")
    # The control: the same header with the bytes it signed is accepted.
    header = authorization(merchant, "POST", JSAPI, body, timestamp=int(T0))
    assert (
        await http.post(JSAPI, content=body, headers={"Authorization": header})
    ).status_code == 200


@pytest.mark.parametrize(
    ("header", "issue"),
    [
        (None, "missing"),
        ("", "missing"),
        ("Bearer abc", "scheme"),
        ("WECHATPAY2-SHA256-RSA2048 garbage", 'name="value"'),
        ('WECHATPAY2-SHA256-RSA2048 mchid="1900000109"', "missing"),
        ('WECHATPAY2-SHA256-RSA2048 mchid="1",mchid="1"', "twice"),
    ],
)
async def test_a_missing_or_garbled_header_is_sign_error(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant, header: str | None, issue: str
) -> None:
    headers = {} if header is None else {"Authorization": header}
    assert_sign_error(await http.get(QUERY, headers=headers), issue)


async def test_an_unknown_mchid_is_sign_error(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    stranger = Merchant(
        "1111111111", merchant.key, merchant.serial, APIV3_KEY, "", merchant.wechatpay_public_key
    )
    assert_sign_error(await call(http, sim, stranger, "GET", QUERY), "no merchant")


async def test_public_key_mode_answers_are_signed_with_the_pub_key_id(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    assert merchant.wechatpay_serial.startswith("PUB_KEY_ID_01")
    assert len(merchant.wechatpay_serial) == len("PUB_KEY_ID_") + 34
    answer = await call(http, sim, merchant, "GET", QUERY)
    assert response_verifies(answer, merchant)
    assert int(answer.headers["Wechatpay-Timestamp"]) == int(T0)
    assert len(answer.headers["Wechatpay-Nonce"]) == 32 and answer.headers["Request-ID"]
    # The signature covers the bytes: one changed byte and it no longer verifies.
    tampered = httpx2.Response(
        answer.status_code,
        headers=answer.headers,
        content=answer.content.replace(b"ORDER_NOT_EXIST", b"ORDER_NOT_EXISt"),
    )
    assert answer.content != tampered.content and not response_verifies(tampered, merchant)


async def test_certificate_mode_signs_with_a_platform_certificate(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    merchant = register(sim, "certificate")
    registered = sim.pay.world.merchants[MCHID]
    assert registered.platform_certificate is not None
    cert = x509.load_pem_x509_certificate(registered.platform_certificate.encode())
    assert merchant.wechatpay_serial == f"{cert.serial_number:X}"
    assert merchant.wechatpay_serial == merchant.wechatpay_serial.upper()
    assert len(merchant.wechatpay_serial) == 40
    assert cert.public_key() == merchant.wechatpay_public_key
    answer = await call(http, sim, merchant, "GET", QUERY)
    assert answer.headers["Wechatpay-Serial"] == merchant.wechatpay_serial
    assert response_verifies(answer, merchant)


async def test_certificates_endpoint_hands_out_the_encrypted_platform_certificate(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    merchant = register(sim, "certificate")
    answer = await call(http, sim, merchant, "GET", "/v3/certificates")
    assert answer.status_code == 200 and response_verifies(answer, merchant)
    (entry,) = answer.json()["data"]
    assert entry["serial_no"] == merchant.wechatpay_serial
    encrypted = entry["encrypt_certificate"]
    assert encrypted["associated_data"] == "certificate"
    pem = AESGCM(APIV3_KEY.encode()).decrypt(
        encrypted["nonce"].encode(), base64.b64decode(encrypted["ciphertext"]), b"certificate"
    )
    assert x509.load_pem_x509_certificate(pem).serial_number == int(merchant.wechatpay_serial, 16)


async def test_public_key_mode_has_no_platform_certificates(
    sim: Simulator, http: httpx2.AsyncClient, merchant: Merchant
) -> None:
    answer = await call(http, sim, merchant, "GET", "/v3/certificates")
    assert answer.status_code == 200 and answer.json() == {"data": []}

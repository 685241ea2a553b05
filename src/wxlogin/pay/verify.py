"""Checking what WeChat Pay signed — its answers and its callbacks — before reading a byte.

The check, in order, each failure its own ``PayVerificationError``:

1. the four ``Wechatpay-*`` headers are there and well formed, and a
   ``Wechatpay-Signature-Type``, when sent, is ``WECHATPAY2-SHA256-RSA2048``
   (``PaySignatureMissing``; absence of the type is tolerated: it names the only scheme);
2. the signature is not one of WeChat Pay's ``WECHATPAY/SIGNTEST/`` probes (``PaySignatureProbe``);
3. ``Wechatpay-Serial`` names a key this merchant trusts, valid now (``UnknownPaySerial``);
4. the timestamp is within 5 minutes of our clock, either way (``StalePayTimestamp``) — a
   replayed callback carries its old timestamp, and its signature covers it;
5. RSA-SHA256 over ``TIMESTAMP\\nNONCE\\nBODY\\n`` on the raw body bytes (``BadPaySignature``).

Only then is the body parsed; a callback's resource is then decrypted with the APIv3 key
(``PayDecryptionFailed``) and read into a typed event.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from wxlogin import paycrypto
from wxlogin.errors import (
    BadPaySignature,
    BadUpstreamResponse,
    PaySignatureMissing,
    PaySignatureProbe,
    StalePayTimestamp,
    UnknownPaySerial,
)
from wxlogin.pay import protocol as wxpay
from wxlogin.pay._answers import Reader, parse_object, refund_from, transaction_from
from wxlogin.pay.merchant import Merchant
from wxlogin.pay.results import PayEvent, RefundEvent, TransactionEvent

__all__ = ["SIGNED_HEADERS", "lower_headers", "open_callback", "verify_signature"]

SIGNED_HEADERS = tuple(
    name.lower()
    for name in (
        wxpay.HEADER_TIMESTAMP,
        wxpay.HEADER_NONCE,
        wxpay.HEADER_SIGNATURE,
        wxpay.HEADER_SERIAL,
        wxpay.HEADER_SIGNATURE_TYPE,
    )
)
_TIMESTAMP, _NONCE, _SIGNATURE, _SERIAL, _SIGNATURE_TYPE = SIGNED_HEADERS
_TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")
_MAX_SIGNATURE_CHARS = 1024
# Callbacks are a few KiB; the service caps request bodies too, this bounds what we hash.
MAX_CALLBACK_BYTES = 1 << 20
_CALLBACK = "the WeChat Pay callback"
_EVENT_TYPE_RE = re.compile(r"[A-Z][A-Z_.]{0,63}")
_EVENT_ID_RE = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_MAX_CIPHERTEXT_CHARS = 256 * 1024


def lower_headers(
    headers: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]],
) -> dict[str, str]:
    """Headers as ``{lower-case name: value}``, from a mapping or ASGI-style ``(name, value)``
    pairs (bytes are latin-1, as HTTP/1.1 has it)."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in pairs:
        key = name.decode("latin-1") if isinstance(name, bytes) else name
        out[key.lower()] = value.decode("latin-1") if isinstance(value, bytes) else value
    return out


def verify_signature(
    merchant: Merchant,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    max_skew: float = wxpay.MAX_CLOCK_SKEW,
) -> str:
    """Check WeChat Pay's signature on ``body``; return the key id that verified it.

    ``headers`` has lower-case names (``lower_headers``). Raises the specific
    ``PayVerificationError`` for the first check that fails (see the module docstring).
    """
    timestamp = headers.get(_TIMESTAMP, "")
    nonce = headers.get(_NONCE, "")
    signature = headers.get(_SIGNATURE, "")
    serial = headers.get(_SERIAL, "")
    missing = [
        name
        for name, value in (
            (wxpay.HEADER_TIMESTAMP, timestamp),
            (wxpay.HEADER_NONCE, nonce),
            (wxpay.HEADER_SIGNATURE, signature),
            (wxpay.HEADER_SERIAL, serial),
        )
        if not value
    ]
    if missing:
        raise PaySignatureMissing(f"missing {', '.join(missing)}")
    scheme = headers.get(_SIGNATURE_TYPE)
    if scheme is not None and scheme != wxpay.SIGNATURE_SCHEME:
        raise PaySignatureMissing(f"unsupported {wxpay.HEADER_SIGNATURE_TYPE}")
    if _TIMESTAMP_RE.fullmatch(timestamp) is None:
        raise PaySignatureMissing(f"malformed {wxpay.HEADER_TIMESTAMP}")
    # The nonce is a line of the signed message: a newline in it could shift the lines.
    if wxpay.NONCE_RE.fullmatch(nonce) is None:
        raise PaySignatureMissing(f"malformed {wxpay.HEADER_NONCE}")
    if len(signature) > _MAX_SIGNATURE_CHARS:
        raise PaySignatureMissing(f"malformed {wxpay.HEADER_SIGNATURE}")
    if signature.startswith(wxpay.SIGNTEST_PREFIX):
        raise PaySignatureProbe()
    if wxpay.WECHATPAY_SERIAL_RE.fullmatch(serial) is None:
        raise PaySignatureMissing(f"malformed {wxpay.HEADER_SERIAL}")
    key = merchant.wechatpay_key(serial)
    if key is None:
        raise UnknownPaySerial()
    if not key.usable_at(now):
        raise UnknownPaySerial("the platform certificate for this serial is expired")
    if abs(now - int(timestamp)) > max_skew:
        raise StalePayTimestamp()
    message = paycrypto.response_message(timestamp, nonce, body)
    if not paycrypto.verify_message(key.public_key, message, signature):
        raise BadPaySignature()
    return key.key_id


def open_callback(
    merchant: Merchant,
    headers: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]],
    raw_body: bytes,
    *,
    now: float,
) -> PayEvent:
    """A verified, decrypted, typed callback event; see ``WeChatPayClient.verify_callback``."""
    if len(raw_body) > MAX_CALLBACK_BYTES:
        raise BadUpstreamResponse(f"{_CALLBACK} is larger than {MAX_CALLBACK_BYTES} bytes")
    verify_signature(merchant, lower_headers(headers), raw_body, now=now)
    envelope = Reader(parse_object(raw_body, _CALLBACK), _CALLBACK)
    event_id = envelope.text("id", _EVENT_ID_RE)
    event_type = envelope.text("event_type", _EVENT_TYPE_RE)
    if envelope.text("resource_type", max_len=64) != wxpay.RESOURCE_TYPE:
        raise BadUpstreamResponse(f"{_CALLBACK} has an unsupported 'resource_type'")
    summary = envelope.optional_text("summary") or ""
    create_time = envelope.time("create_time")
    resource = envelope.required_child("resource")
    if resource.text("algorithm", max_len=64) != wxpay.AEAD_ALGORITHM:
        raise BadUpstreamResponse(f"{_CALLBACK} has an unsupported 'resource.algorithm'")
    original_type = resource.text("original_type", max_len=64)
    plaintext = merchant.decrypt(
        resource.text("nonce", max_len=128),
        resource.text("ciphertext", max_len=_MAX_CIPHERTEXT_CHARS),
        resource.optional_text("associated_data") or "",
    )
    source = f"{_CALLBACK}'s resource"
    content = Reader(parse_object(plaintext, source), source)
    if original_type == wxpay.ORIGINAL_TYPE_TRANSACTION and event_type.startswith("TRANSACTION."):
        return TransactionEvent(
            id=event_id,
            event_type=event_type,
            summary=summary,
            create_time=create_time,
            transaction=transaction_from(content),
        )
    if original_type == wxpay.ORIGINAL_TYPE_REFUND and event_type.startswith("REFUND."):
        return RefundEvent(
            id=event_id,
            event_type=event_type,
            summary=summary,
            create_time=create_time,
            refund=refund_from(content),
        )
    raise BadUpstreamResponse(f"{_CALLBACK} has an unsupported 'resource.original_type'")

"""A tiny in-test WeChat Pay: an ASGI app that checks our signature and signs its answers.

It is deliberately not the simulator: each test scripts the answer (status, body, and how it
is signed, or mis-signed) and reads back exactly what the client sent. Signatures are made
here with ``cryptography`` directly, not with ``wxlogin.paycrypto``, so a slip in one shows.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from wxlogin.wechat.transport import AsgiTransport

AUTH_RE = re.compile(
    r'WECHATPAY2-SHA256-RSA2048 mchid="(?P<mchid>[^"]*)",nonce_str="(?P<nonce>[^"]*)",'
    r'signature="(?P<signature>[^"]*)",timestamp="(?P<timestamp>[^"]*)",'
    r'serial_no="(?P<serial>[^"]*)"'
)


def rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


@dataclass
class Seen:
    """One request as it reached the fake."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Answer:
    """How to answer one request. ``sign`` picks the signature (None: no signature headers)."""

    status: int = 200
    body: bytes = b"{}"
    sign: str | None = "good"  # good | stranger | other-body | signtest | None
    serial: str | None = None  # default: the fake's serial
    timestamp_offset: int = 0
    drop: tuple[str, ...] = ()  # signature headers to leave out
    extra_headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeWeChatPay:
    """Answers from ``script`` (a function of the request, or a list consumed in order)."""

    signing_key: rsa.RSAPrivateKey
    serial: str
    stranger: rsa.RSAPrivateKey
    clock: Callable[[], float]
    script: list[Answer] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    @property
    def transport(self) -> AsgiTransport:
        return AsgiTransport(self)

    def then(self, *answers: Answer) -> FakeWeChatPay:
        self.script.extend(answers)
        return self

    def answer_json(self, data: Any, status: int = 200, **kwargs: Any) -> FakeWeChatPay:
        return self.then(Answer(status=status, body=orjson.dumps(data), **kwargs))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.seen.append(
            Seen(
                scope["method"],
                scope["raw_path"].decode(),
                scope["query_string"].decode(),
                headers,
                b"".join(chunks),
            )
        )
        answer = self.script.pop(0) if self.script else Answer(status=500, body=b"unscripted")
        out = [(b"content-type", b"application/json")]
        if answer.sign is not None:
            timestamp = str(int(self.clock()) + answer.timestamp_offset)
            nonce = "FAKE0NONCE0123456789ABCDEF012345"
            signed_body = answer.body if answer.sign != "other-body" else answer.body + b" "
            message = f"{timestamp}\n{nonce}\n".encode() + signed_body + b"\n"
            key = self.stranger if answer.sign == "stranger" else self.signing_key
            signature = rsa_sign(key, message)
            if answer.sign == "signtest":
                signature = "WECHATPAY/SIGNTEST/" + signature
            pairs = {
                "Wechatpay-Timestamp": timestamp,
                "Wechatpay-Nonce": nonce,
                "Wechatpay-Signature": signature,
                "Wechatpay-Serial": answer.serial or self.serial,
                "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
            }
            for name in answer.drop:
                pairs.pop(name)
            out += [(k.encode(), v.encode()) for k, v in pairs.items()]
        out += [(k.encode(), v.encode()) for k, v in answer.extra_headers.items()]
        await send({"type": "http.response.start", "status": answer.status, "headers": out})
        await send({"type": "http.response.body", "body": answer.body})

"""Acceptance 1: a WeChat Pay v3 client nobody here wrote, used unchanged, against a real
``wxlogin simulate`` process — orders created and queried, closed, refunded, every answer's
signature verified by that client; a callback it decrypts and verifies; and the simulator's
SIGN_ERROR when the client signs with the wrong key.

The client is ``wechatpayv3`` (PyPI, pinned in pyproject.toml and constraints.txt). It has no
base-URL option: it always calls ``https://api.mch.weixin.qq.com``. What it does offer is
``proxy=`` (passed to requests), and requests honours ``REQUESTS_CA_BUNDLE``. So the test runs
what a TLS-inspecting corporate proxy is: a CONNECT proxy on 127.0.0.1 that accepts the tunnel
to api.mch.weixin.qq.com:443, terminates TLS with a certificate for that name issued by a CA
made in this test (and trusted through REQUESTS_CA_BUNDLE), and forwards the plain HTTP to the
simulator's port. Nothing of the library is patched; no packet leaves the machine.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import json
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from wechatpayv3 import WeChatPay, WeChatPayType  # type: ignore[import-untyped]  # no types shipped

from tests.simulator.pay_support import APIV3_KEY, MCHID, MERCHANT_SERIAL, public_pem, rsa_key
from tests.support import free_port

pytestmark = pytest.mark.socket

APPID, SECRET = "wx1234567890abcdef", "s3cret"
PAY_HOST = "api.mch.weixin.qq.com"
START_TIMEOUT_S = 20.0


# --------------------------------------------------------------------------- TLS for the host


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def tls_files(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for PAY_HOST it issued; (ca.pem, host.pem, host.key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("wxlogin test CA"))
        .issuer_name(_name("wxlogin test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    host_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    host = (
        x509.CertificateBuilder()
        .subject_name(_name(PAY_HOST))
        .issuer_name(ca.subject)
        .public_key(host_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(PAY_HOST)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem, host_pem, key_pem = directory / "ca.pem", directory / "host.pem", directory / "host.key"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    host_pem.write_bytes(host.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        host_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_pem, host_pem, key_pem


class TlsTunnelProxy:
    """A CONNECT proxy for PAY_HOST:443 only, terminating TLS and forwarding to ``target``."""

    def __init__(self, target_port: int, cert: Path, key: Path) -> None:
        self._target_port = target_port
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(cert, key)
        self.tunnels: list[str] = []
        self.refused: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        )
        self._server = future.result(10)
        self.port: int = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._tunnel(reader, writer)
        except asyncio.CancelledError:
            writer.close()  # shut down with the proxy; asyncio's stream callback wants no error

    async def _tunnel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, authority = head.split(b"\r\n")[0].split()[:2]
        if method != b"CONNECT" or authority != f"{PAY_HOST}:443".encode():
            self.refused.append(authority.decode())
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            writer.close()
            return
        self.tunnels.append(authority.decode())
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await writer.start_tls(self._tls)
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def _shutdown(self) -> None:
        self._server.close()
        tunnels = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tunnels:
            task.cancel()
        await asyncio.gather(*tunnels, return_exceptions=True)

    def close(self) -> None:
        # Everything belongs to the proxy's loop: end it there, then stop and close the loop.
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


# --------------------------------------------------------------------------- the processes


@dataclass
class Served:
    base: str  # the simulator's plain URL, for the control API
    proxy: TlsTunnelProxy
    notify_url: str
    callbacks: list[tuple[dict[str, str], bytes]]
    callback_arrived: threading.Event


class CallbackHandler(http.server.BaseHTTPRequestHandler):
    sink: list[tuple[dict[str, str], bytes]]
    arrived: threading.Event

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.sink.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()
        self.arrived.set()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "wxlogin.cli", "simulate", "--port", str(port),
         "--app", f"{APPID}:{SECRET}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    sink: list[tuple[dict[str, str], bytes]] = []
    arrived = threading.Event()
    handler = type("Handler", (CallbackHandler,), {"sink": sink, "arrived": arrived})
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    ca, cert, key = tls_files(tmp_path)
    proxy = TlsTunnelProxy(port, cert, key)
    # requests' own settings: trust this test's CA, and no proxy from the environment.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, "wxlogin simulate exited early"
            try:
                if httpx2.get(base + "/__sim/health", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "wxlogin simulate did not become ready"
            time.sleep(0.05)  # polling a starting process, not synchronising the test
        notify = f"http://127.0.0.1:{receiver.server_address[1]}/pay/notify"
        yield Served(base, proxy, notify, sink, arrived)
    finally:
        proxy.close()
        receiver.shutdown()
        receiver.server_close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def control(served: Served, path: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx2.post(served.base + path, json=body, timeout=10)
    assert answer.status_code in (200, 201), answer.text
    data: dict[str, Any] = answer.json()
    return data


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def client(served: Served, registered: dict[str, Any], mode: str, **change: Any) -> Any:
    options: dict[str, Any] = {
        "wechatpay_type": WeChatPayType.MINIPROG,
        "mchid": MCHID,
        "private_key": private_pem(rsa_key("merchant")),
        "cert_serial_no": MERCHANT_SERIAL,
        "appid": APPID,
        "apiv3_key": APIV3_KEY,
        "notify_url": served.notify_url,
        "proxy": {"https": f"http://127.0.0.1:{served.proxy.port}"},
        "timeout": (5, 10),
    }
    if mode == "public_key":
        options["public_key"] = registered["wechatpay_public_key"]
        options["public_key_id"] = registered["wechatpay_serial"]
    options.update(change)
    return WeChatPay(**options)


def openid_of(served: Served, user: str) -> str:
    control(served, "/__sim/login", {"appid": APPID, "user": user})
    answer = httpx2.get(f"{served.base}/__sim/users/{user}", timeout=10).json()
    openid: str = answer["apps"][APPID]["openid"]
    return openid


@pytest.mark.parametrize("mode", ["public_key", "certificate"])
def test_a_third_party_client_creates_queries_closes_and_refunds(served: Served, mode: str) -> None:
    registered = control(
        served,
        "/__sim/merchants",
        {
            "mchid": MCHID,
            "apiv3_key": APIV3_KEY,
            "merchant_serial": MERCHANT_SERIAL,
            "merchant_public_key": public_pem(rsa_key("merchant")),
            "mode": mode,
        },
    )
    # In certificate mode the client downloads /v3/certificates and decrypts them here.
    pay = client(served, registered, mode)
    openid = openid_of(served, "alice")

    code, message = pay.pay(
        description="wxlogin 演示商品",
        out_trade_no="tp-order-0001",
        amount={"total": 100, "currency": "CNY"},
        payer={"openid": openid},
        pay_type=WeChatPayType.JSAPI,
    )
    assert code == 200, message
    prepay_id = json.loads(message)["prepay_id"]
    code, message = pay.query(out_trade_no="tp-order-0001")
    assert code == 200 and json.loads(message)["trade_state"] == "NOTPAY"

    paid = control(served, "/__sim/pay", {"mchid": MCHID, "out_trade_no": "tp-order-0001",
                                          "outcome": "success"})  # fmt: skip
    code, message = pay.query(transaction_id=paid["transaction_id"])
    order = json.loads(message)
    assert code == 200 and order["trade_state"] == "SUCCESS"
    assert order["out_trade_no"] == "tp-order-0001" and order["payer"]["openid"] == openid

    # The TRANSACTION.SUCCESS callback, verified and decrypted by the same client.
    assert served.callback_arrived.wait(10), "no callback reached the receiver"
    headers, body = served.callbacks[0]
    event = pay.callback(headers, body)
    assert event is not None and event["event_type"] == "TRANSACTION.SUCCESS"
    assert event["resource"]["transaction_id"] == paid["transaction_id"]

    code, message = pay.refund(
        out_refund_no="tp-refund-1",
        amount={"refund": 40, "total": 100, "currency": "CNY"},
        out_trade_no="tp-order-0001",
    )
    assert code == 200 and json.loads(message)["status"] == "PROCESSING"
    code, message = pay.query_refund(out_refund_no="tp-refund-1")
    assert code == 200 and json.loads(message)["amount"]["refund"] == 40

    code, _ = pay.pay(
        description="never paid",
        out_trade_no="tp-order-0002",
        amount={"total": 1, "currency": "CNY"},
        payer={"openid": openid},
        pay_type=WeChatPayType.JSAPI,
    )
    assert code == 200
    code, message = pay.close(out_trade_no="tp-order-0002")
    assert code == 204 and message == b""  # a signed, empty 204: the client verified it
    assert prepay_id and served.proxy.tunnels and not served.proxy.refused


def test_the_client_refuses_answers_signed_by_another_key(served: Served) -> None:
    registered = control(served, "/__sim/merchants", {
        "mchid": MCHID, "apiv3_key": APIV3_KEY, "merchant_serial": MERCHANT_SERIAL,
        "merchant_public_key": public_pem(rsa_key("merchant")), "mode": "public_key"})  # fmt: skip
    # The client trusts another key under the simulator's key id: our answers must not pass.
    impostor = dict(registered, wechatpay_public_key=public_pem(rsa_key("impostor")))
    pay = client(served, impostor, "public_key")
    with pytest.raises(Exception, match="failed to verify the signature"):
        pay.pay(
            description="d",
            out_trade_no="tp-order-0003",
            amount={"total": 1, "currency": "CNY"},
            payer={"openid": openid_of(served, "bob")},
            pay_type=WeChatPayType.JSAPI,
        )


def test_the_simulator_refuses_a_request_signed_with_the_wrong_key(served: Served) -> None:
    registered = control(served, "/__sim/merchants", {
        "mchid": MCHID, "apiv3_key": APIV3_KEY, "merchant_serial": MERCHANT_SERIAL,
        "merchant_public_key": public_pem(rsa_key("merchant")), "mode": "public_key"})  # fmt: skip
    pay = client(served, registered, "public_key", private_key=private_pem(rsa_key("intruder")))
    code, message = pay.query(out_trade_no="tp-order-0001")
    assert code == 401 and json.loads(message)["code"] == "SIGN_ERROR"

"""The production transport over real sockets (the thing under test is the socket).

A small threaded HTTP/1.1 server, scripted per path, counts what really reached it; the tests
coordinate with it through events (bounded waits), never through sleeps.
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import ssl
import threading
import traceback
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support import free_port
from tests.wechat.conftest import APPID, SECRET, Sleeps
from wxlogin import errors
from wxlogin.simulator import Simulator
from wxlogin.wechat import WeChatClient
from wxlogin.wechat._http import PooledHttpTransport, _query

pytestmark = pytest.mark.socket

BODY = b'{"openid":"o1","session_key":"k"}'
CAP = 64 * 1024  # the transport's body cap in these tests
WAIT_S = 10.0  # bound on every wait for the server thread


class ScriptedServer:
    """HTTP/1.1 on 127.0.0.1, one thread per connection; the request path picks the behaviour."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.seen: Counter[str] = Counter()
        self.connections = 0
        self.last_request = b""
        self.idle_closed = threading.Event()
        self.holding = threading.Event()
        self.release = threading.Event()
        self._tls = tls
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path: str, scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self.release.set()
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(WAIT_S)
        try:
            conn = self._tls.wrap_socket(raw, server_side=True) if self._tls else raw
            with conn:
                self._requests(conn)
        except OSError:  # the client went away (or refused our certificate): done
            raw.close()

    def _requests(self, conn: socket.socket) -> None:
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(buf) < length:
                buf += conn.recv(65536)
            request, buf = head + b"\r\n\r\n" + buf[:length], buf[length:]
            path = head.split(b" ")[1].split(b"?")[0].decode()
            with self._lock:
                self.seen[path] += 1
                self.last_request = request
            if not self._answer(conn, path, request):
                return

    def _answer(self, conn: socket.socket, path: str, request: bytes) -> bool:
        """Act out ``path``; False when the connection is done."""
        ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        if path == "/drop":  # read the request, hang up without a word
            return False
        if path in ("/silent", "/stall-body"):
            if path == "/stall-body":
                conn.sendall(ok + b"Content-Length: 100\r\n\r\n" + BODY[:10])
            conn.recv(1)  # until the client gives up and closes
            return False
        if path == "/hold":  # keep the connection busy until the test releases it
            self.holding.set()
            self.release.wait(WAIT_S)
        if path == "/chunked":
            parts = (BODY[:5], BODY[5:20], BODY[20:])
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)
            conn.sendall(ok + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
            return True
        if path == "/http10":  # no length: the body ends when the connection closes
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + BODY)
            return False
        if path == "/endless":  # chunked, until the client stops reading (bounded)
            conn.sendall(ok + b"Transfer-Encoding: chunked\r\n\r\n")
            for _ in range(1000):
                conn.sendall(b"4000\r\n" + b"x" * 0x4000 + b"\r\n")
            conn.sendall(b"0\r\n\r\n")
            return False
        body = b"y" * (CAP + 1) if path == "/big" else request if path == "/echo" else BODY
        conn.sendall(ok + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        if path == "/idle-close":  # answered; now close while the client pools it
            conn.shutdown(socket.SHUT_RDWR)
            conn.close()
            self.idle_closed.set()
            return False
        return True


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()
    yield scripted
    scripted.close()


@pytest.fixture
async def transport() -> AsyncIterator[PooledHttpTransport]:
    pooled = PooledHttpTransport(max_connections=4, connect_timeout=0.5, max_body_bytes=CAP)
    yield pooled
    await pooled.aclose()


PARAMS = {"appid": APPID, "secret": SECRET, "js_code": "c" * 32}


async def fetch(transport: PooledHttpTransport, url: str, timeout: float = 5.0) -> bytes:
    response = await transport.request("GET", url, params=PARAMS, json_body=None, timeout=timeout)
    assert response.status == 200
    assert response.content_type == "text/plain"
    return response.body


async def failure(transport: PooledHttpTransport, url: str, timeout: float = 5.0) -> Exception:
    """The error one GET ends with; it must not reveal the URL or the secret, in any form."""
    with pytest.raises(errors.WxLoginError) as info:
        await fetch(transport, url, timeout)
    exc = info.value
    shown = " ".join([str(exc), repr(exc), *traceback.format_exception(exc)])
    assert SECRET not in shown and "127.0.0.1" not in shown and "js_code" not in shown
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)
    return exc


async def test_keep_alive_reuses_one_connection(
    server: ScriptedServer, transport: PooledHttpTransport
) -> None:
    for _ in range(5):
        assert await fetch(transport, server.url("/ok")) == BODY
    assert server.seen["/ok"] == 5
    assert server.connections == 1
    # The query string arrives encoded, the secret only where it belongs.
    assert server.last_request.startswith(
        b"GET /ok?appid=" + APPID.encode() + b"&secret=" + SECRET.encode()
    )


async def test_a_post_carries_its_json_body(
    server: ScriptedServer, transport: PooledHttpTransport
) -> None:
    response = await transport.request(
        "POST", server.url("/echo"), params={}, json_body=b'{"code":"x"}', timeout=5.0
    )
    head, _, body = response.body.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /echo HTTP/1.1")
    assert b"content-type: application/json" in head.lower()
    assert body == b'{"code":"x"}'


async def test_chunked_and_http10_bodies_are_read_whole(
    server: ScriptedServer, transport: PooledHttpTransport
) -> None:
    assert await fetch(transport, server.url("/chunked")) == BODY
    assert await fetch(transport, server.url("/http10")) == BODY


@pytest.mark.parametrize("reused", [False, True], ids=["fresh", "reused"])
async def test_a_dropped_request_is_reported_sent_and_never_resent(
    server: ScriptedServer, transport: PooledHttpTransport, reused: bool
) -> None:
    if reused:
        await fetch(transport, server.url("/ok"))
    exc = await failure(transport, server.url("/drop"))
    assert isinstance(exc, errors.UpstreamUnavailable)
    assert exc.request_sent is True
    assert server.seen["/drop"] == 1  # exactly once: no silent second send


async def test_a_pooled_connection_closed_while_idle_is_replaced(
    server: ScriptedServer, transport: PooledHttpTransport
) -> None:
    await fetch(transport, server.url("/idle-close"))
    assert await asyncio.to_thread(server.idle_closed.wait, WAIT_S)
    assert await fetch(transport, server.url("/ok")) == BODY
    assert server.seen["/ok"] == 1
    assert server.connections == 2


async def test_a_refused_connection_was_never_sent(transport: PooledHttpTransport) -> None:
    exc = await failure(transport, f"http://127.0.0.1:{free_port()}/ok")
    assert isinstance(exc, errors.UpstreamUnavailable)
    assert exc.request_sent is False


async def test_a_connect_timeout_was_never_sent(transport: PooledHttpTransport) -> None:
    # A listener that never accepts, its backlog filled: the kernel drops further SYNs.
    with socket.create_server(("127.0.0.1", 0), backlog=0) as listener:
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(4)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        try:
            exc = await failure(transport, f"http://127.0.0.1:{port}/ok", timeout=3.0)
        finally:
            for filler in fillers:
                filler.close()
    assert isinstance(exc, errors.UpstreamTimeout)
    assert exc.request_sent is False


@pytest.mark.parametrize("path", ["/silent", "/stall-body"])
async def test_the_deadline_covers_the_whole_exchange(
    server: ScriptedServer, transport: PooledHttpTransport, path: str
) -> None:
    exc = await failure(transport, server.url(path), timeout=0.3)
    assert isinstance(exc, errors.UpstreamTimeout)
    assert exc.request_sent is True
    assert server.seen[path] == 1


async def test_waiting_for_a_free_connection_counts_against_the_deadline(
    server: ScriptedServer,
) -> None:
    single = PooledHttpTransport(max_connections=1)
    try:
        held = asyncio.create_task(fetch(single, server.url("/hold")))
        assert await asyncio.to_thread(server.holding.wait, WAIT_S)  # the one slot is taken
        exc = await failure(single, server.url("/ok"), timeout=0.3)
        server.release.set()
        assert await held == BODY
    finally:
        await single.aclose()
    assert isinstance(exc, errors.UpstreamTimeout)
    assert exc.request_sent is False
    assert server.seen["/ok"] == 0


@pytest.mark.parametrize("path", ["/big", "/endless"], ids=["declared", "chunked"])
async def test_an_oversize_body_is_refused(
    server: ScriptedServer, transport: PooledHttpTransport, path: str
) -> None:
    exc = await failure(transport, server.url(path))
    assert isinstance(exc, errors.BadUpstreamResponse)
    assert exc.request_sent is True
    assert str(CAP) in str(exc)
    assert await fetch(transport, server.url("/ok")) == BODY  # the pool is still usable


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate it signed for localhost: (ca, cert, key) PEM files."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wxlogin test CA")])

    def signed(builder: x509.CertificateBuilder) -> x509.Certificate:
        builder = builder.issuer_name(ca_name).serial_number(x509.random_serial_number())
        builder = builder.not_valid_before(now - datetime.timedelta(hours=1))
        return builder.not_valid_after(now + datetime.timedelta(hours=1)).sign(
            ca_key, hashes.SHA256()
        )

    ca = signed(
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .public_key(ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    leaf = signed(
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .public_key(key.public_key())
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    paths = (directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


async def test_tls_is_verified_against_the_system_trust_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, cert, key = _certificates(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    server = ScriptedServer(tls=tls)
    try:
        untrusted = PooledHttpTransport()
        try:  # our CA is in no trust store: the handshake fails, nothing was sent
            exc = await failure(untrusted, server.url("/ok", "https", "localhost"))
        finally:
            await untrusted.aclose()
        assert isinstance(exc, errors.UpstreamUnavailable) and exc.request_sent is False
        assert server.seen["/ok"] == 0
        # SSL_CERT_FILE is how the system store is pointed elsewhere (as OpenSSL reads it).
        monkeypatch.setenv("SSL_CERT_FILE", str(ca))
        trusted = PooledHttpTransport()
        try:
            assert await fetch(trusted, server.url("/ok", "https", "localhost")) == BODY
        finally:
            await trusted.aclose()
    finally:
        server.close()


# --------------------------------------------------------------------------- WeChatClient


@pytest.fixture
async def served(sim: Simulator) -> AsyncIterator[str]:
    # The socket listens before uvicorn starts: early connections wait in its backlog.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(sim.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=5)
    )
    task = asyncio.create_task(server.serve(sockets=[listener]))
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task
    listener.close()


async def test_login_over_a_real_socket(served: str, sim: Simulator) -> None:
    async with WeChatClient(APPID, SECRET, base_url=served) as client:
        sessions = await asyncio.gather(
            *(client.code_to_session(sim.login(APPID, f"user{i}")) for i in range(20))
        )
        assert {s.openid for s in sessions} == {sim.openid(APPID, f"user{i}") for i in range(20)}
        token = await client.get_access_token()  # a POST with a JSON body
        assert token.startswith(tuple(f"{n}_" for n in range(10, 100)))
        code = sim.login(APPID, "alice")
        await client.code_to_session(code)
        with pytest.raises(errors.CodeUsed):
            await client.code_to_session(code)


async def test_a_dropped_login_is_not_resent(served: str, sim: Simulator, sleeps: Sleeps) -> None:
    async with WeChatClient(APPID, SECRET, base_url=served, sleep=sleeps) as client:
        # One drop surfaces as "unavailable, may have been sent": neither the transport nor
        # the client's policy sends the single-use code again.
        sim.add_fault("/sns/jscode2session", drop=True)
        code = sim.login(APPID, "alice")
        with pytest.raises(errors.UpstreamUnavailable) as info:
            await client.code_to_session(code)
        assert info.value.request_sent
        assert sleeps.delays == []
        # The fault fired once and is spent; the simulator never acted on the dropped call,
        # so the same code still works: proof that nothing re-sent it behind our back.
        session = await client.code_to_session(code)
        assert session.openid == sim.openid(APPID, "alice")


async def test_connection_refused_is_unsent_and_retried(sleeps: Sleeps) -> None:
    port = free_port()  # nothing listens there
    async with WeChatClient(
        APPID, SECRET, base_url=f"http://127.0.0.1:{port}", sleep=sleeps
    ) as client:
        with pytest.raises(errors.UpstreamUnavailable) as info:
            await client.code_to_session("a" * 32)
    assert info.value.request_sent is False
    assert len(sleeps.delays) == 2  # unsent: even a login code may be retried
    assert SECRET not in repr(info.value) and info.value.__cause__ is None


@pytest.mark.parametrize(
    "value",
    [
        "0a1B2c3D_-.~",  # unreserved: sent as it is
        "a&js_code=stolen",  # would smuggle a parameter if not escaped
        "a b+c/d?e#f%g",
        "微信登录",
        "",
    ],
)
def test_query_strings_escape_exactly_like_urlencode(value: str) -> None:
    params = {"appid": "wx1234567890abcdef", "js_code": value, "grant_type": "authorization_code"}
    assert _query(params) == urlencode(params)

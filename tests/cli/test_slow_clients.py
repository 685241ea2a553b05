"""`wxlogin serve` against clients that misbehave on the wire, over a real socket: a body
that stalls after the headers is answered 408 once ``body_read_timeout`` has passed, and a
2 MiB body is answered 413 from its Content-Length, before the client has sent it."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.support import clean_env, free_port, spawn, stop, wait_until

pytestmark = pytest.mark.socket

APP = "wx1234567890abcdef:slow-client-secret-0123456789"
TIMEOUT = 1


@pytest.fixture
def api(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    env = clean_env(
        WXLOGIN_APPS=APP,
        WXLOGIN_DATA_DIR=str(tmp_path / "data"),
        WXLOGIN_BODY_READ_TIMEOUT=str(TIMEOUT),
        WXLOGIN_SESSION_KEY_ENCRYPTION_KEY="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    )
    proc = spawn(
        [sys.executable, "-m", "wxlogin.cli", "serve", "--port", str(port)],
        tmp_path / "serve.log",
        env=env,
        cwd=tmp_path,
    )
    try:
        wait_until(
            lambda: httpx2.get(f"http://127.0.0.1:{port}/healthz").status_code == 200,
            "wxlogin serve to answer",
            ignore=(httpx2.TransportError,),
        )
        yield port
    finally:
        stop([proc])


def exchange(port: int, head: bytes, body: bytes) -> tuple[bytes, float]:
    """Send ``head`` and ``body`` (and nothing more); the whole answer (its headers and the
    Content-Length they announce, which may come in several packets), and how long its first
    bytes took. A server that says nothing for 15 s fails the test with a timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        started = time.monotonic()
        sock.sendall(head + body)
        answer = sock.recv(65536)
        took = time.monotonic() - started
        while b"\r\n\r\n" not in answer or len(answer) < _expected_length(answer):
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    return answer, took


def _expected_length(answer: bytes) -> int:
    """Headers plus the body length they announce (0 when they announce none)."""
    headers, _, _ = answer.partition(b"\r\n\r\n")
    for line in headers.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(headers) + 4 + int(value.strip())
    return len(headers) + 4


def test_a_body_that_stalls_is_answered_408(api: int) -> None:
    head = (
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n"
    )
    answer, took = exchange(api, head, b'{"code": "')
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b'"body_timeout"' in answer
    assert TIMEOUT <= took < TIMEOUT + 5


def test_a_2_mib_body_is_refused_before_it_is_sent(api: int) -> None:
    head = (
        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % (2 * 1024 * 1024)
    )
    answer, _ = exchange(api, head, b" " * 1024)  # 1 KiB of the 2 MiB announced
    # 413, not 408: refused from the headers. A server waiting for the body would have kept
    # waiting for bytes never sent, until its body timeout answered 408 instead.
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b'"payload_too_large"' in answer

"""Outages on demand, for the tests that prove wxlogin survives them.

The machine's PostgreSQL and Redis are shared with other test runs: they are never stopped.
Instead a test puts a ``TcpProxy`` between wxlogin and the server and cuts it (every open
connection closed, new ones refused, as when a server goes away) and restores it (the same
port accepts again, as when it comes back). A test that needs a Redis of its own starts one
with ``private_redis`` (``redis-server`` on a free port, stopped by its process id).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import free_port, spawn, wait_until


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; ``cut()`` and ``restore()`` it at will."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.port = free_port()
        self._target = (target_host, target_port)
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self.connections = 0  # accepted while up, ever
        self.restore()

    def __repr__(self) -> str:
        return f"TcpProxy(127.0.0.1:{self.port} -> {self._target[0]}:{self._target[1]})"

    @property
    def up(self) -> bool:
        return self._listener is not None

    def restore(self) -> None:
        """Listen again on the same port: connections go through from now on."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(256)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and close every open one, both ways."""
        with self._lock:
            listener, self._listener = self._listener, None
            doomed, self._open = self._open, set()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked on it
            listener.close()
        for sock in doomed:
            _close(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self._target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:  # cut meanwhile
                    _close(client)
                    _close(upstream)
                    continue
                self._open |= {client, upstream}
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open -= {source, sink}
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def redis_server_binary() -> str:
    """``redis-server``; a test that needs it is skipped without it, except under CI."""
    found = shutil.which("redis-server")
    if found is None:
        if os.environ.get("CI"):
            raise AssertionError("redis-server is not installed (CI needs it)")
        pytest.skip("redis-server is not installed")
    return found


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[int]:
    """A ``redis-server`` of this test's own on a free port (no persistence); its port."""
    port = free_port()
    proc = spawn(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        directory / "redis.log",
    )
    try:

        def answers() -> bool:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")

        wait_until(answers, "the private redis-server", ignore=(OSError,))
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

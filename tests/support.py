"""Helpers for the tests that run real processes and sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], bool],
    what: str,
    *,
    timeout: float = 30.0,
    ignore: tuple[type[BaseException], ...] = (),
) -> None:
    """Poll ``check`` every 0.1 s until it is true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except ignore:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")

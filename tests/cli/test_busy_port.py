"""A port someone else holds: one line naming it and the flag to change it, exit status 2 —
not a traceback from inside the server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.socket

APP = "wx1234567890abcdef:busy-port-secret-0123456789"


@pytest.fixture
def taken() -> Iterator[int]:
    """A port with a listener on it for the whole test."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def wxlogin(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WXLOGIN_")}
    env |= {"WXLOGIN_APPS": APP, "WXLOGIN_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run(
        [sys.executable, "-m", "wxlogin.cli", *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (["serve", "--port", "{taken}"], "--port"),
        (["simulate", "--port", "{taken}"], "--port"),
        (["dev", "--port", "{taken}", "--sim-port", "{free}"], "--port"),
        (["dev", "--port", "{free}", "--sim-port", "{taken}"], "--sim-port"),
    ],
)
def test_a_busy_port_is_one_clear_line(
    command: list[str], flag: str, taken: int, tmp_path: Path
) -> None:
    args = [part.format(taken=taken, free=free_port()) for part in command]
    done = wxlogin(args, tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"port {taken}" in lines[0] and "already in use" in lines[0] and flag in lines[0]

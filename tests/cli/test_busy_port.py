"""A port someone else holds: one line naming it and the flag to change it, exit status 2 —
not a traceback from inside the server."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import clean_env, free_port, run_wxlogin

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
    env = clean_env(WXLOGIN_APPS=APP, WXLOGIN_DATA_DIR=str(tmp_path / "data"))
    return run_wxlogin(*args, env=env, cwd=tmp_path)


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

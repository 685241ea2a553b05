"""`wxlogin dev` as a new user meets it: start it, paste the printed walkthrough, stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import free_port

pytestmark = pytest.mark.socket


def test_the_printed_walkthrough_works_by_copy_paste(tmp_path: Path) -> None:
    port, sim_port = free_port(), free_port()
    log = tmp_path / "dev.out"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wxlogin.cli",
                "dev",
                "--port",
                str(port),
                "--sim-port",
                str(sim_port),
            ],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + 60
        while "paste this" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        printed = log.read_text()
        assert "paste this" in printed, printed
        assert f"http://127.0.0.1:{port}" in printed
        assert f"http://127.0.0.1:{sim_port}" in printed
        # The walkthrough runs from its first comment to the blank line after step 6.
        script = printed[printed.index("# 1.") :]
        script = script[: script.index("\n\n", script.index("# 6.")) + 1]
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        lines = [line for line in done.stdout.splitlines() if line]
        assert '"access_token"' in lines[0]
        assert '"new_user":true' in lines[0]
        assert "session_key" not in done.stdout
        assert '"phone":"1' in done.stdout
        assert "logout: 204" in lines
        assert '"session_revoked"' in lines[-1]
        assert (tmp_path / ".wxlogin" / "wxlogin.db").exists()
        # Everything it keeps is in .wxlogin: the walkthrough leaves no files behind.
        assert {p.name for p in tmp_path.iterdir()} == {".wxlogin", "dev.out"}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            status = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    console = log.read_text()
    assert status == 0, console
    assert "Traceback" not in console
    # The console shows the requests, upstream ones included, but never the AppSecret.
    assert '"POST /auth/login HTTP/1.1" 200' in console
    assert "/sns/jscode2session" in console
    assert "wxlogin-dev-secret" not in console

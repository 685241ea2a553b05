"""`wxlogin dev` and /demo: the banner names the page, a missing SDK is said plainly, and the
page's polling stays out of the access log."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support import free_port, wait_until
from wxlogin.api.demo import FEED_PATH
from wxlogin.cli.dev import QuietFeedPolls


def access_record(path: str) -> logging.LogRecord:
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200),
        None,
    )


def test_feed_polls_are_left_out_of_the_access_log() -> None:
    quiet = QuietFeedPolls(FEED_PATH)
    assert not quiet.filter(access_record("/demo/events?after=12"))
    assert quiet.filter(access_record("/demo"))
    assert quiet.filter(access_record("/auth/login"))
    assert quiet.filter(logging.LogRecord("x", logging.INFO, __file__, 1, "no args", None, None))


@pytest.mark.socket
def test_without_the_sdk_the_banner_and_the_page_say_what_to_do(tmp_path: Path) -> None:
    port, sim_port = free_port(), free_port()
    log = tmp_path / "dev.out"
    missing = tmp_path / "no-such-sdk"
    command = [sys.executable, "-m", "wxlogin.cli", "dev", "--port", str(port)]
    command += ["--sim-port", str(sim_port), "--sdk-dir", str(missing)]
    with log.open("w") as out:
        proc = subprocess.Popen(
            command,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        wait_until(lambda: "paste this" in log.read_text(), "the banner", timeout=60)
        banner = log.read_text()
        assert f"http://127.0.0.1:{port}/demo (no SDK: " in banner
        assert "--sdk-dir" in banner
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/demo/config.json", timeout=10) as answer:
            config = json.load(answer)
        assert config["sdk"] is False
        assert str(missing) in config["sdk_hint"]
        with urllib.request.urlopen(f"{base}/demo", timeout=10) as answer:
            assert answer.status == 200
        for _ in range(3):
            with urllib.request.urlopen(f"{base}{FEED_PATH}?after=0", timeout=10) as answer:
                assert answer.status == 200
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as answer:
            assert answer.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            status = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    console = log.read_text()
    assert status == 0, console
    assert '"GET /healthz HTTP/1.1" 200' in console  # the access log is on...
    assert FEED_PATH not in console  # ...without the page's polling

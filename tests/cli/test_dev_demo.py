"""`wxlogin dev` and /demo: the banner names the page, a missing SDK is said plainly, the
page's polling stays out of the access log, and payments work with no setup."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from tests.support import free_port, wait_until
from wxlogin.api.demo import FEED_PATH
from wxlogin.cli.dev import DEV_APPID, DEV_MCHID, DEV_MERCHANT_DIR, QuietFeedPolls


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


@dataclass
class DevProcess:
    api: str
    sim: str
    log: Path
    status: int | None = None

    @property
    def console(self) -> str:
        return self.log.read_text()


@contextlib.contextmanager
def dev_process(tmp_path: Path, *extra: str) -> Iterator[DevProcess]:
    """`wxlogin dev` on free ports with ``tmp_path`` as its working directory, from its
    banner on; stopped with Ctrl-C as a developer stops it, its exit status kept."""
    port, sim_port = free_port(), free_port()
    api, sim = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sim_port}"
    dev = DevProcess(api, sim, tmp_path / "dev.out")
    command = [sys.executable, "-m", "wxlogin.cli", "dev", "--port", str(port)]
    command += ["--sim-port", str(sim_port), *extra]
    with dev.log.open("w") as out:
        proc = subprocess.Popen(
            command,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        wait_until(lambda: "paste this" in dev.console, "the banner", timeout=60)
        yield dev
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            dev.status = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise


@pytest.mark.socket
def test_without_the_sdk_the_banner_and_the_page_say_what_to_do(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-sdk"
    with dev_process(tmp_path, "--sdk-dir", str(missing)) as dev:
        banner = dev.console
        assert f"{dev.api}/demo (no SDK: " in banner
        assert "--sdk-dir" in banner
        base = dev.api
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
    console = dev.console
    assert dev.status == 0, console
    assert '"GET /healthz HTTP/1.1" 200' in console  # the access log is on...
    assert FEED_PATH not in console  # ...without the page's polling


@pytest.mark.socket
def test_payments_work_with_no_setup_and_callbacks_come_back_over_the_socket(
    tmp_path: Path,
) -> None:
    """The dev merchant is registered on both sides at start: an order bought at /demo is paid
    at the simulator's sheet, and the served simulator's callback reaches the dev service on
    its loopback http address by itself."""
    with dev_process(tmp_path) as dev, httpx2.Client(timeout=10) as http:
        api, sim = dev.api, dev.sim
        assert f"merchant {DEV_MCHID}" in dev.console
        data = tmp_path / ".wxlogin"
        keys = data / DEV_MERCHANT_DIR
        private = keys / f"{DEV_MCHID}_apiclient_key.pem"
        assert [_mode(path) for path in (data, keys, private)] == [0o700, 0o700, 0o600]

        code = http.post(f"{sim}/__sim/login", json={"appid": DEV_APPID, "user": "alice"})
        login = http.post(f"{api}/auth/login", json={"code": code.json()["code"]})
        token = {"Authorization": f"Bearer {login.json()['access_token']}"}
        order = http.post(f"{api}/demo/buy", json={"item": "coffee"}, headers=token).json()
        params = http.post(f"{api}/pay/orders/{order['id']}/params", headers=token).json()
        prepay_id = params["package"].removeprefix("prepay_id=")
        sheet = http.get(f"{api}/demo/pay-sheet", params={"prepay_id": prepay_id}).json()
        assert (sheet["mchid"], sheet["out_trade_no"]) == (DEV_MCHID, order["out_trade_no"])
        choice = {"mchid": DEV_MCHID, "out_trade_no": order["out_trade_no"]}
        paid = http.post(f"{sim}/__sim/pay", json=choice | {"outcome": "success"})
        assert paid.json()["trade_state"] == "SUCCESS"

        def acknowledged() -> bool:
            sent = http.get(f"{sim}/__sim/state").json()["callbacks"]["delivered"]
            return any(a["status"] == 204 and a["url"] == f"{api}/pay/notify" for a in sent)

        # The simulator delivers on its own, in the background of the dev process.
        wait_until(acknowledged, "the callback acknowledged by the dev service")
        mine = http.get(f"{api}/me/orders/{order['id']}", headers=token).json()
        assert mine["state"] == "paid"
    console = dev.console
    assert dev.status == 0, console
    assert '"POST /pay/notify HTTP/1.1" 204' in console
    assert "PRIVATE KEY" not in console
    assert params["paySign"] not in console
    key_lines = private.read_text().splitlines()[1:4]
    assert not any(line in console for line in key_lines)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777

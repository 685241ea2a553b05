"""`wxlogin simulate`: argument handling in-process, and acceptance 1 over a real socket."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx2
import pytest

from tests.support import free_port
from wxlogin.cli import main
from wxlogin.cli.simulate import RedactCredentials, _is_loopback

APPID, SECRET = "wx1234567890abcdef", "s3cret"
START_TIMEOUT_S = 20.0


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert _is_loopback(host) is loopback


def test_a_bad_setting_is_refused_before_serving(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--set", "no_such_field=1"]) == 2
    assert "no_such_field" in capsys.readouterr().err
    assert main(["simulate", "--set", "code_ttl=soon"]) == 2
    assert main(["simulate", "--set", "code_ttl=0"]) == 2


def test_a_malformed_app_is_an_argument_error() -> None:
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--app", "wx1234567890abcdef"])
    assert exited.value.code == 2


@pytest.fixture
def served() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "wxlogin.cli", "simulate",
            "--port", str(port), "--app", f"{APPID}:{SECRET}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
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
            time.sleep(0.05)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.socket
def test_acceptance_login_over_a_real_socket(served: tuple[str, subprocess.Popen[str]]) -> None:
    base, process = served
    with httpx2.Client(base_url=base, timeout=10) as http:
        code = http.post("/__sim/login", json={"appid": APPID, "user": "alice"}).json()["code"]
        params = {
            "appid": APPID,
            "secret": SECRET,
            "js_code": code,
            "grant_type": "authorization_code",
        }
        first = http.get("/sns/jscode2session", params=params)
        assert first.status_code == 200
        assert first.headers["content-type"] == "text/plain"
        assert set(first.json()) == {"openid", "session_key"}
        again = http.get("/sns/jscode2session", params=params)
        assert again.json()["errcode"] == 40163
        assert "server" not in first.headers  # WeChat does not announce uvicorn

        http.post("/__sim/faults", json={"path": "/sns/jscode2session", "drop": True})
        with pytest.raises(httpx2.RemoteProtocolError):
            http.get("/sns/jscode2session", params=params)
        assert http.get("/sns/jscode2session", params=params).json()["errcode"] == 40163
    process.terminate()
    output, _ = process.communicate(timeout=10)
    assert f"listening on {base}" in output
    assert APPID in output and SECRET not in output
    assert "Exception" not in output and "500" not in output


def test_access_log_lines_never_show_credentials() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        (
            "127.0.0.1:5000",
            "GET",
            "/sns/jscode2session?appid=wx1&secret=s3cret&js_code=abc",
            "1.1",
            200,
        ),
        None,
    )
    assert RedactCredentials().filter(record)
    message = record.getMessage()
    assert "s3cret" not in message and "secret=***" in message and "js_code=abc" in message
    record.args = ("c", "GET", "/wxa/checksession?access_token=86_abc&openid=o1", "1.1", 200)
    RedactCredentials().filter(record)
    assert "86_abc" not in record.getMessage()

"""Acceptance: a WeChat SDK nobody here wrote (wechatpy, from PyPI) sends subscribe messages
through the simulator unchanged — one accept, one success; the second send, 43101.

wechatpy runs as shipped: its own token fetch (GET /cgi-bin/token), its own request body, its
own error handling. It hard-codes WeChat's host, so the one thing changed is where that host
leads: a requests transport adapter on its HTTP session sends what wechatpy addressed to
https://api.weixin.qq.com to the simulator's socket instead, the way a hosts-file entry would.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx2
import pytest
import requests
from requests.adapters import HTTPAdapter
from wechatpy import WeChatClient  # type: ignore[import-untyped]  # wechatpy ships no types
from wechatpy.exceptions import WeChatClientException  # type: ignore[import-untyped]

from tests.support import free_port

APPID, SECRET = "wx1234567890abcdef", "s3cret-of-the-wechatpy-test"
TEMPLATE = "tmpl-order-shipped"
WECHAT = "https://api.weixin.qq.com"
START_TIMEOUT_S = 20.0


class ToSimulator(HTTPAdapter):
    """Sends requests for WeChat's host to the simulator, byte for byte otherwise."""

    def __init__(self, simulator_url: str) -> None:
        super().__init__()
        self._simulator_url = simulator_url
        self.paths: list[str] = []

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        assert request.url is not None and request.url.startswith(WECHAT + "/")
        request.url = self._simulator_url + request.url[len(WECHAT) :]
        self.paths.append(request.path_url.partition("?")[0])
        return super().send(request, stream, timeout, verify, cert, proxies)


@pytest.fixture
def simulator_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "wxlogin.cli", "simulate",
            "--port", str(port), "--app", f"{APPID}:{SECRET}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # a readiness probe: the process has nothing to await but its port
            assert process.poll() is None, "wxlogin simulate exited early"
            try:
                if httpx2.get(base + "/__sim/health", timeout=1).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "wxlogin simulate did not become ready"
            time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.socket
def test_wechatpy_one_accept_one_send_then_43101(simulator_url: str) -> None:
    with httpx2.Client(base_url=simulator_url, timeout=10) as control:
        fields = {"thing1": "thing", "time2": "time"}
        template = {"appid": APPID, "template_id": TEMPLATE, "fields": fields}
        assert control.post("/__sim/templates", json=template).status_code == 201
        control.post("/__sim/login", json={"appid": APPID, "user": "alice"})  # opens the app
        openid = control.get("/__sim/users/alice").json()["apps"][APPID]["openid"]
        choice = {"appid": APPID, "user": "alice", "template_id": TEMPLATE, "result": "accept"}
        assert control.post("/__sim/subscriptions", json=choice).json()["sends_allowed"] == 1

        client = WeChatClient(APPID, SECRET)
        network = ToSimulator(simulator_url)
        client._http.mount(WECHAT + "/", network)
        data = {"thing1": {"value": "您的订单已发货"}, "time2": {"value": "2026年12月1日 10:00"}}

        first = client.wxa.send_subscribe_message(openid, TEMPLATE, data)
        assert (first["errcode"], first["errmsg"]) == (0, "ok")
        with pytest.raises(WeChatClientException) as refused:
            client.wxa.send_subscribe_message(openid, TEMPLATE, data)
        assert refused.value.errcode == 43101

        # wechatpy fetched its token itself, from the simulator, and then sent twice.
        assert network.paths == ["/cgi-bin/token", *["/cgi-bin/message/subscribe/send"] * 2]
        alice = control.get("/__sim/users/alice").json()
        assert [m["data"] for m in alice["messages"]] == [
            {"thing1": "您的订单已发货", "time2": "2026年12月1日 10:00"}
        ]
        assert alice["subscriptions"] == {}

"""Fault injection: each kind, consumed in order, never consuming the code it intercepted."""

from __future__ import annotations

import httpx2
import pytest

from tests.simulator.support import APPID, SECRET, TEXT_CT, errcode, exchange, stable_token
from wxlogin.errors import UpstreamTimeout, UpstreamUnavailable
from wxlogin.simulator import InvalidControlRequest, Simulator, SimulatorConfig
from wxlogin.wechat import protocol as wx
from wxlogin.wechat.transport import AsgiTransport


def login_params(code: str) -> dict[str, str]:
    return {
        "appid": APPID,
        "secret": SECRET,
        "js_code": code,
        "grant_type": "authorization_code",
    }


async def test_errcode_fault_answers_like_wechat_and_keeps_the_code(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    code = sim.login(APPID, "alice")
    sim.add_fault(wx.CODE2SESSION, errcode=-1)
    busy = await exchange(http, code)  # asserts HTTP 200 and text/plain
    assert errcode(busy) == -1 and busy["errmsg"].startswith("system error, rid: ")
    assert "openid" in await exchange(http, code)


async def test_errcode_fault_on_the_phone_endpoint_uses_its_errmsg_format(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    sim.add_fault(wx.PHONE_NUMBER, errcode=40029)
    response = await http.post(wx.PHONE_NUMBER, params={"access_token": "x"}, json={"code": "c"})
    assert response.json()["errmsg"].startswith("invalid code hint: [")


async def test_http_status_fault_looks_like_a_gateway_page(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    code = sim.login(APPID, "alice")
    sim.add_fault(wx.CODE2SESSION, http_status=502)
    response = await http.get(wx.CODE2SESSION, params=login_params(code))
    assert response.status_code == 502
    assert response.headers["content-type"] == "text/html"
    assert "<title>502 Bad Gateway</title>" in response.text
    assert "openid" in await exchange(http, code)


async def test_body_fault_answers_verbatim(sim: Simulator, http: httpx2.AsyncClient) -> None:
    sim.add_fault(wx.CODE2SESSION, body='{"openid": truncated')
    response = await http.get(wx.CODE2SESSION, params=login_params("x"))
    assert response.status_code == 200
    assert response.headers["content-type"] == TEXT_CT
    assert response.content == b'{"openid": truncated'


async def test_drop_fault_closes_without_an_answer(sim: Simulator) -> None:
    code = sim.login(APPID, "alice")
    sim.add_fault(wx.CODE2SESSION, drop=True)
    url = sim.base_url + wx.CODE2SESSION
    transport = AsgiTransport(sim.app)
    with pytest.raises(UpstreamUnavailable):
        await transport.request("GET", url, params=login_params(code), json_body=None, timeout=5)
    answer = await transport.request(
        "GET", url, params=login_params(code), json_body=None, timeout=5
    )
    assert b'"openid"' in answer.body  # the dropped call did not consume the code


async def test_delay_fault_answers_late_or_times_the_client_out(sim: Simulator) -> None:
    code = sim.login(APPID, "alice")
    transport = AsgiTransport(sim.app)
    url = sim.base_url + wx.CODE2SESSION
    sim.add_fault(wx.CODE2SESSION, delay_ms=60_000)
    with pytest.raises(UpstreamTimeout):
        await transport.request("GET", url, params=login_params(code), json_body=None, timeout=0.05)
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    recorded = Simulator(sleep=record)
    recorded.register_app(APPID, SECRET)
    recorded.add_fault(wx.CODE2SESSION, delay_ms=20)
    answer = await AsgiTransport(recorded.app).request(
        "GET", url, params=login_params(recorded.login(APPID, "alice")), json_body=None, timeout=5
    )
    assert waits == [0.02]
    assert b'"openid"' in answer.body


async def test_a_delay_can_precede_another_outcome(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    sim.add_fault(wx.TOKEN, delay_ms=1, errcode=45009)
    response = await http.get(wx.TOKEN)
    assert errcode(response.json()) == wx.ErrCode.DAILY_QUOTA


async def test_faults_fire_times_times_in_order_then_stop(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    sim.add_fault(wx.STABLE_TOKEN, errcode=-1, times=2)
    sim.add_fault(wx.STABLE_TOKEN, http_status=503)
    answers = [await http.post(wx.STABLE_TOKEN, json={}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 503]
    assert [a.json()["errcode"] for a in answers[:2]] == [-1, -1]
    assert "access_token" in await stable_token(http)
    assert sim.state()["faults"] == []


async def test_faults_only_touch_their_path(sim: Simulator, http: httpx2.AsyncClient) -> None:
    sim.add_fault(wx.TOKEN, errcode=-1)
    assert "access_token" in await stable_token(http)
    assert sim.state()["faults"][0]["path"] == wx.TOKEN


async def test_faults_over_http_and_clearing_them(sim: Simulator, http: httpx2.AsyncClient) -> None:
    response = await http.post(
        "/__sim/faults", json={"path": wx.CODE2SESSION, "errcode": 40029, "times": 3}
    )
    assert response.status_code == 201
    assert response.json()["faults"] == [
        {"path": wx.CODE2SESSION, "kind": "errcode", "remaining": 3, "delay_ms": 0.0}
    ]
    cleared = await http.delete("/__sim/faults")
    assert cleared.status_code == 200
    assert "openid" in await exchange(http, sim.login(APPID, "alice"))


@pytest.mark.parametrize(
    "spec",
    [
        {"path": "/not/wechat", "errcode": -1},
        {"path": wx.TOKEN},
        {"path": wx.TOKEN, "errcode": -1, "drop": True},
        {"path": wx.TOKEN, "errcode": 0},
        {"path": wx.TOKEN, "errcode": -1, "times": 0},
        {"path": wx.TOKEN, "http_status": 99},
        {"path": wx.TOKEN, "delay_ms": -5},
        {"path": wx.TOKEN, "drop": "yes"},
        {"path": wx.TOKEN, "body": 12},
        {"path": wx.TOKEN, "errcode": "40001"},
    ],
)
async def test_bad_fault_specs_are_refused(
    sim: Simulator, http: httpx2.AsyncClient, spec: dict[str, object]
) -> None:
    response = await http.post("/__sim/faults", json=spec)
    assert response.status_code == 400
    assert response.json()["error"]
    with pytest.raises(InvalidControlRequest):
        sim.add_fault(**spec)  # type: ignore[arg-type]


async def test_latency_is_added_to_wechat_answers_only() -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    sim = Simulator(SimulatorConfig(latency_ms=30), sleep=record)
    sim.register_app(APPID, SECRET)
    transport = httpx2.ASGITransport(app=sim.app)
    async with httpx2.AsyncClient(transport=transport, base_url=sim.base_url) as http:
        code = (await http.post("/__sim/login", json={"appid": APPID, "user": "a"})).json()["code"]
        assert waits == []  # the control API answers at once
        assert "openid" in await exchange(http, code)
    assert waits == [0.03]

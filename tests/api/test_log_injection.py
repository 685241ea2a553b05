"""Header injection into the logs, end to end: every string a client or WeChat controls, sent
with line breaks, a forged record and terminal escapes in it, through the whole service at
DEBUG in both log formats. Each record stays one line (JSON: one object; text: a head line and
only ``    | `` continuation lines), so nothing a client sends can pass for a record of ours."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from tests.api.conftest import APPID, Harness, bearer
from wxlogin.logs import LogFormat, configure_logging
from wxlogin.wechat.protocol import CODE2SESSION

FORGED = "12:00:00 ERROR   wxlogin.api: FORGED"
HOSTILE = f"x\r\n{FORGED}\n\x1b[31m\u2028{FORGED}\u2029\x85{FORGED}"
# A text record's head: the time, the level, the logger (see wxlogin.logs).
TEXT_HEAD = re.compile(r"^\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) +[\w.]+")


@pytest.fixture(params=["json", "text"])
def logs(request: pytest.FixtureRequest) -> Iterator[tuple[LogFormat, io.StringIO]]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    log_format: LogFormat = request.param
    configure_logging(log_format, "DEBUG", stream)
    yield log_format, stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


async def hostile_traffic(wx: Harness) -> None:
    """Every place a client's or WeChat's string enters: headers, the path, each body field,
    and WeChat's own errmsg and answer fields."""
    http = wx.http
    raw = HOSTILE.encode("utf-8")
    headers = [
        (b"x-request-id", raw),
        (b"user-agent", raw),
        (b"x-forwarded-for", raw),
        (b"content-type", b"application/json"),
    ]
    body = json.dumps({"code": HOSTILE, "appid": HOSTILE}).encode()
    await http.post("/auth/login", content=body, headers=headers)
    await http.post("/auth/refresh", json={"refresh_token": HOSTILE}, headers=headers)
    await http.post("/auth/logout", json={"refresh_token": HOSTILE}, headers=headers)
    await http.get("/me", headers=[(b"authorization", b"Bearer " + raw)])
    await http.get("/me/orders/" + quote(HOSTILE, safe=""), headers=headers)
    await http.get("/no/such/" + quote(HOSTILE, safe=""), headers=headers)
    await http.post("/auth/login", content=b'{"code": "\\r\\nFORGED' + b"\xff" * 3 + b'"}')
    user = await wx.login("alice")
    token = bearer(user["access_token"])
    await http.patch(
        "/me/profile", json={"nickname": HOSTILE, "avatar_url": HOSTILE}, headers=token
    )
    await http.post("/me/phone", json={"code": HOSTILE}, headers=token)
    # WeChat's strings: an errmsg, and an answer whose fields are not what they should be.
    wx.sim.add_fault(CODE2SESSION, body=json.dumps({"errcode": 40029, "errmsg": HOSTILE}))
    await http.post("/auth/login", json={"code": wx.sim.login(APPID, "bob"), "appid": APPID})
    wx.sim.add_fault(CODE2SESSION, body=json.dumps({"openid": HOSTILE, "session_key": HOSTILE}))
    await http.post("/auth/login", json={"code": wx.sim.login(APPID, "carol"), "appid": APPID})
    wx.sim.add_fault(CODE2SESSION, body=HOSTILE)
    await http.post("/auth/login", json={"code": wx.sim.login(APPID, "dave"), "appid": APPID})


async def test_no_client_or_upstream_string_can_forge_a_log_record(
    wx: Harness, logs: tuple[LogFormat, io.StringIO]
) -> None:
    log_format, stream = logs
    await hostile_traffic(wx)
    output = stream.getvalue()
    lines = output.splitlines()
    ours = 0
    for line in lines:
        assert "\x1b" not in line and "\u2028" not in line and "\x85" not in line, line
        if log_format == "json":
            entry = json.loads(line)  # one whole object per line
            assert set(entry) >= {"time", "level", "logger", "message"}
            ours += entry["logger"].startswith("wxlogin.")
        else:
            head = TEXT_HEAD.match(line)
            assert head or line.startswith("    | "), line
            ours += head is not None and head.group(0).split()[-1].startswith("wxlogin.")
        assert not line.startswith(FORGED)
        assert not line.startswith("    | " + FORGED)
    assert ours >= 4, "the service must have logged the traffic for this to mean anything"


def test_the_hostile_string_really_breaks_lines() -> None:
    # The test above means something only if what it sends would split a naive log line.
    assert len(HOSTILE.splitlines()) > 3
    assert any(part.startswith(FORGED) for part in HOSTILE.splitlines())

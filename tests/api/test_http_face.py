"""The lean HTTP face at its edges: body limits, JSON and media types, routing, failures."""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.api.conftest import APPID, ISSUER, Harness, bearer, make_settings
from wxlogin.api import create_app
from wxlogin.api.server import DEFAULT_MAX_BODY_BYTES
from wxlogin.simulator import Simulator

# ---------------------------------------------------------------------------- raw ASGI


class Exchange:
    """Drive the app with ASGI messages directly, to see what it reads and what it sends."""

    def __init__(self, chunks: Iterator[dict[str, Any]]) -> None:
        self._chunks = chunks
        self.received = 0
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        self.received += 1
        return next(self._chunks)

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(dict(message))

    @property
    def status(self) -> int:
        status: int = self.sent[0]["status"]
        return status

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


def http_scope(path: str, *, method: str = "POST", headers: list[tuple[bytes, bytes]]) -> Any:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "query_string": b"",
    }


def endless_chunks(size: int) -> Iterator[dict[str, Any]]:
    while True:
        yield {"type": "http.request", "body": b" " * size, "more_body": True}


async def test_a_declared_oversize_body_is_refused_before_any_of_it_is_read(wx: Harness) -> None:
    length = str(2 * 1024 * 1024).encode()
    exchange = Exchange(endless_chunks(64 * 1024))
    scope = http_scope("/auth/login", headers=[(b"content-length", length)])
    await wx.app(scope, exchange.receive, exchange.send)
    assert exchange.status == 413
    assert exchange.received == 0
    assert b'"payload_too_large"' in exchange.body


async def test_an_undeclared_oversize_body_is_read_only_up_to_the_limit(wx: Harness) -> None:
    chunk = 64 * 1024
    exchange = Exchange(endless_chunks(chunk))  # chunked: no Content-Length, never ends
    scope = http_scope("/auth/login", headers=[(b"content-type", b"application/json")])
    await wx.app(scope, exchange.receive, exchange.send)
    assert exchange.status == 413
    # It stops at the first chunk past the limit instead of buffering the rest.
    assert exchange.received == DEFAULT_MAX_BODY_BYTES // chunk + 1


async def test_a_body_just_over_the_limit_gets_413_and_at_the_limit_is_parsed(
    wx: Harness,
) -> None:
    over = await wx.http.post(
        "/auth/login",
        content=b" " * (DEFAULT_MAX_BODY_BYTES + 1),
        headers={"content-type": "application/json"},
    )
    assert (over.status_code, over.json()["error"]["code"]) == (413, "payload_too_large")
    # At the limit, the body is read and judged on its content (here: blank, so not JSON).
    at = await wx.http.post(
        "/auth/login",
        content=b" " * DEFAULT_MAX_BODY_BYTES,
        headers={"content-type": "application/json"},
    )
    assert (at.status_code, at.json()["error"]["code"]) == (400, "invalid_request")


async def test_a_client_that_leaves_mid_body_gets_no_answer(wx: Harness) -> None:
    def leaving() -> Iterator[dict[str, Any]]:
        yield {"type": "http.request", "body": b'{"co', "more_body": True}
        yield {"type": "http.disconnect"}

    exchange = Exchange(leaving())
    await wx.app(http_scope("/auth/login", headers=[]), exchange.receive, exchange.send)
    assert exchange.sent == []


# ---------------------------------------------------------------------------- JSON bodies


async def test_malformed_json_is_400(wx: Harness) -> None:
    response = await wx.http.post(
        "/auth/login", content=b'{"code": "abc"', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_request",
        "message": "the body is not valid JSON",
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"code": "abc", "extra": 1}, "extra"),
        ({"code": 5}, "code"),
        ({"code": "x" * 129}, "code"),
        ({"code": "   "}, "code"),
        ({}, "code"),
        ({"code": "abc", "appid": ["wx"]}, "appid"),
    ],
)
async def test_invalid_fields_are_400_naming_the_field(
    wx: Harness, body: dict[str, Any], field: str
) -> None:
    response = await wx.http.post("/auth/login", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert f"`{field}`" in error["message"] or error["message"].startswith(f"{field}:")


async def test_surrounding_whitespace_is_stripped(wx: Harness) -> None:
    code = wx.sim.login(APPID, "alice")
    response = await wx.http.post("/auth/login", json={"code": f"  {code}\n", "appid": APPID})
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    named = await wx.http.patch("/me/profile", json={"nickname": " Ming "}, headers=bearer(token))
    assert named.json()["nickname"] == "Ming"


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/json; charset=utf-8", "application/vnd.wx+json"],
)
async def test_json_and_a_missing_content_type_are_read_as_json(
    wx: Harness, content_type: str | None
) -> None:
    code = wx.sim.login(APPID, "alice")
    headers = {"content-type": content_type} if content_type else {}
    body = f'{{"code": "{code}", "appid": "{APPID}"}}'.encode()
    response = await wx.http.post("/auth/login", content=body, headers=headers)
    assert response.request.headers.get("content-type") == content_type
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]
)
async def test_other_content_types_are_415(wx: Harness, content_type: str) -> None:
    response = await wx.http.post(
        "/auth/login", content=b'{"code": "abc"}', headers={"content-type": content_type}
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


# ---------------------------------------------------------------------------- routing


async def test_unknown_paths_are_404_in_the_error_shape(wx: Harness) -> None:
    for path in ("/nope", "/auth/login/", "/ME", "/docs/x"):
        response = await wx.http.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


async def test_a_wrong_method_is_405_with_allow(wx: Harness) -> None:
    response = await wx.http.get("/auth/login")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response.headers["allow"] == "POST"
    assert (await wx.http.delete("/me")).headers["allow"] == "GET"
    docs = await wx.http.post("/docs")
    assert (docs.status_code, docs.json()["error"]["code"]) == (405, "method_not_allowed")


async def test_head_answers_like_get_without_a_body(wx: Harness) -> None:
    response = await wx.http.head("/healthz")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) == len(b'{"status":"ok"}')


@pytest.mark.parametrize(
    "authorization", [None, "", "Basic YWxhZGRpbjpvcGVu", "Bearer", "Bearer  ", "bearer x.y.z"]
)
async def test_missing_or_bad_bearer_is_401_with_a_challenge(
    wx: Harness, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await wx.http.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in ("unauthorized", "invalid_token")
    assert response.headers["www-authenticate"].startswith("Bearer ")


async def test_the_bearer_scheme_is_case_insensitive(wx: Harness) -> None:
    token = (await wx.login("alice"))["access_token"]
    response = await wx.http.get("/me", headers={"Authorization": f"bEaReR {token}"})
    assert response.status_code == 200


async def test_client_ip_comes_from_the_server_not_from_headers(
    harness_factory: Any,
) -> None:
    limited: Harness = await harness_factory(login_rate_limit_per_ip=1)
    first = await limited.http.post(
        "/auth/login", json={"code": limited.sim.login(APPID, "a"), "appid": APPID}
    )
    assert first.status_code == 200
    spoofed = await limited.http.post(
        "/auth/login",
        json={"code": limited.sim.login(APPID, "b"), "appid": APPID},
        headers={"X-Forwarded-For": "203.0.113.9", "X-Real-IP": "203.0.113.9"},
    )
    assert (spoofed.status_code, spoofed.json()["error"]["code"]) == (429, "rate_limited")


# ---------------------------------------------------------------------------- failures


async def test_an_unexpected_exception_is_500_with_nothing_of_it_in_the_response(
    wx: Harness, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = (await wx.login("alice"))["access_token"]
    leak = "postgresql://wxlogin:hunter2@db.internal/wx /var/lib/wxlogin/keys.json"

    async def broken(*args: object) -> None:
        raise RuntimeError(leak)

    monkeypatch.setattr(wx.service, "user", broken)
    with caplog.at_level(logging.ERROR, logger="wxlogin.api"):
        response = await wx.http.get("/me", headers=bearer(token))
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error", "message": "internal error"}}
    assert "hunter2" not in response.text and "/var/lib" not in response.text
    assert "GET /me" in caplog.text and leak in caplog.text  # the operator sees it all


async def test_before_start_up_routes_answer_503_and_health_answers(
    sim: Simulator, database_url: str, tmp_path: Path
) -> None:
    app = create_app(make_settings(database_url, tmp_path / "data"), wechat_transport=sim.transport)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url=ISSUER) as http:
        assert (await http.get("/healthz")).status_code == 200
        for response in (
            await http.get("/me", headers=bearer("x.y.z")),
            await http.post("/auth/login", json={"code": "abc"}),
            await http.get("/readyz"),
        ):
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "not_ready"
            assert response.headers["retry-after"] == "1"


async def test_the_asgi_lifespan_starts_and_stops_the_service(
    sim: Simulator, database_url: str, tmp_path: Path
) -> None:
    app = create_app(make_settings(database_url, tmp_path / "data"), wechat_transport=sim.transport)
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []
    seen_running: list[bool] = []

    async def receive() -> dict[str, Any]:
        seen_running.append(app.service is not None)
        return next(messages)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert seen_running == [False, True]  # running between start-up and shut-down
    assert app.service is None


async def test_a_failed_start_up_is_reported_to_the_server(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db", tmp_path / "data", apps=[])
    app = create_app(settings)
    messages = iter([{"type": "lifespan.startup"}])
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    with pytest.raises(Exception, match="no mini program configured"):
        await app({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]

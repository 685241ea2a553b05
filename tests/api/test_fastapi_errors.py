"""A FastAPI host's own routes, as setup's handlers answer them and as its merged /openapi.json
says: 400 invalid_request for what FastAPI would call 422, in our error shape, never a parser's
offset, and no FastAPI schema that nothing answers with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI, HTTPException
from openapi_spec_validator import validate
from pydantic import BaseModel

from tests.api.conftest import APPID, ISSUER, SECRET, bearer, make_settings
from wxlogin.api import CurrentUser, setup
from wxlogin.api.fastapi import ServiceCaller
from wxlogin.simulator import Simulator

TOKEN = "a-service-token-long-enough-0123456789"


class Item(BaseModel):
    name: str
    qty: int


def host(tmp_path: Path, sim: Simulator, **overrides: Any) -> FastAPI:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/host.db",
        tmp_path / "data",
        service_tokens=[TOKEN],
        **overrides,
    )
    app = FastAPI(title="host")
    setup(app, settings, wechat_transport=sim.transport)

    @app.post("/items")
    async def add_item(item: Item, user: CurrentUser) -> Item:
        return item

    @app.post("/webhook")
    async def webhook(item: Item, _: ServiceCaller) -> dict[str, str]:
        return {"ok": item.name}

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418, "short and stout")

    return app


@pytest.fixture
async def http(tmp_path: Path, sim: Simulator) -> AsyncIterator[httpx2.AsyncClient]:
    app = host(tmp_path, sim)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url=ISSUER) as client:
            yield client


def codes(response: dict[str, Any]) -> list[str]:
    schema = response["content"]["application/json"]["schema"]
    enum: list[str] = schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
    return enum


async def test_the_merged_document_says_400_where_fastapi_says_422(
    http: httpx2.AsyncClient,
) -> None:
    spec = (await http.get("/openapi.json")).json()
    validate(spec)
    assert '"422"' not in str(spec).replace("'", '"')
    assert not {"HTTPValidationError", "ValidationError"} & set(spec["components"]["schemas"])
    items = spec["paths"]["/items"]["post"]["responses"]
    assert codes(items["400"]) == ["invalid_request"]
    assert set(codes(items["401"])) >= {"unauthorized", "invalid_token", "token_expired"}
    assert codes(items["503"]) == ["not_ready"]
    webhook = spec["paths"]["/webhook"]["post"]["responses"]
    assert codes(webhook["401"]) == ["invalid_service_token"]
    # Two apps: the merged LoginRequest says what the login route enforces.
    assert spec["components"]["schemas"]["wxlogin.LoginRequest"]["required"] == ["appid", "code"]


async def test_a_host_route_answers_as_documented(http: httpx2.AsyncClient) -> None:
    documented = (await http.get("/openapi.json")).json()["paths"]["/items"]["post"]
    anonymous = await http.post("/items", json={"name": "a", "qty": 1})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] in codes(documented["responses"]["401"])
    wrong = await http.post("/webhook", json={"name": "a", "qty": "x"}, headers=bearer(TOKEN))
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (400, "invalid_request")
    assert wrong.json()["error"]["message"].startswith("qty: ")


@pytest.mark.parametrize(
    "body",
    [b'{"name": "x",', b"not json", b"", b'{"name": "\xff\xfe"}', b"\xff\xfe\xfd"],
)
async def test_an_unreadable_body_is_invalid_request_without_parser_offsets(
    http: httpx2.AsyncClient, body: bytes
) -> None:
    response = await http.post(
        "/webhook", content=body, headers={**bearer(TOKEN), "content-type": "application/json"}
    )
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (400, "invalid_request")
    assert "decode" not in error["message"] and not any(ch.isdigit() for ch in error["message"])


async def test_a_hosts_own_http_exception_keeps_its_status_and_words(
    http: httpx2.AsyncClient,
) -> None:
    response = await http.get("/teapot")
    assert response.status_code == 418
    assert response.json() == {"error": {"code": "http_error", "message": "short and stout"}}


async def test_one_app_leaves_appid_optional(tmp_path: Path, sim: Simulator) -> None:
    app = host(tmp_path, sim, apps=[{"appid": APPID, "secret": SECRET}])
    login = app.openapi()["components"]["schemas"]["wxlogin.LoginRequest"]
    assert login["required"] == ["code"]

"""A bare async reference point for the side-by-side bench: Starlette + aiohttp + orjson.

Same contract as the tutorial servers (``POST /api/login {"code"}`` → ``{"openId",
"sessionKey"}``, nothing stored), run by uvicorn with 2 workers (uvloop, httptools). It shows
what a plain async Python proxy costs on this machine, with no store and no tokens.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

APPID = os.environ["APPID"]
SECRET = os.environ["SECRET"]
CODE2SESSION_URL = os.environ["WECHAT_BASE_URL"].rstrip("/") + "/sns/jscode2session"
http: aiohttp.ClientSession | None = None


def json_response(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


async def login(request: Request) -> Response:
    try:
        code = orjson.loads(await request.body())["code"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return json_response({"error": "code is required"}, 400)
    assert http is not None
    params = {"appid": APPID, "secret": SECRET, "js_code": code, "grant_type": "authorization_code"}
    try:
        async with http.get(CODE2SESSION_URL, params=params) as upstream:
            data = orjson.loads(await upstream.read())
    except aiohttp.ClientError:
        return json_response({"error": "upstream unreachable"}, 502)
    if "openid" not in data:
        return json_response({"error": "login failed", "errcode": data.get("errcode")}, 400)
    return json_response({"openId": data["openid"], "sessionKey": data["session_key"]})


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    global http
    connector = aiohttp.TCPConnector(limit=0)  # no pool cap: the load decides the concurrency
    async with aiohttp.ClientSession(connector=connector) as session:
        http = session
        yield


app = Starlette(routes=[Route("/api/login", login, methods=["POST"])], lifespan=lifespan)

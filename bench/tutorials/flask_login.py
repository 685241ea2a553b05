"""The Flask + wechatpy tutorial login server, re-created for the side-by-side bench.

``POST /api/login {"code"}`` → wechatpy's ``code_to_session`` → ``{"openId", "sessionKey"}``.
Like the tutorials it stores nothing and issues no token. Served by gunicorn, 4 workers × 8
threads (gthread), one shared ``WeChatClient`` per worker as the tutorials keep it.

wechatpy hard-codes WeChat's host, so the two subclasses below point it at the bench's stub
(``WECHAT_BASE_URL``); nothing else differs from the tutorial code. wechatpy fetches an
access_token once per worker before its first call, and sends it along with every call.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, jsonify, request
from wechatpy import WeChatClient  # type: ignore[import-untyped]  # wechatpy ships no types
from wechatpy.client.api import WeChatWxa  # type: ignore[import-untyped]
from wechatpy.exceptions import WeChatClientException  # type: ignore[import-untyped]

APPID = os.environ["APPID"]
SECRET = os.environ["SECRET"]
BASE_URL = os.environ["WECHAT_BASE_URL"].rstrip("/")


class StubWxa(WeChatWxa):  # type: ignore[misc]
    API_BASE_URL = BASE_URL + "/"


class StubWeChatClient(WeChatClient):  # type: ignore[misc]
    API_BASE_URL = BASE_URL + "/cgi-bin/"
    wxa = StubWxa()

    def fetch_access_token(self) -> Any:
        params = {"grant_type": "client_credential", "appid": self.appid, "secret": self.secret}
        return self._fetch_access_token(url=self.API_BASE_URL + "token", params=params)


app = Flask(__name__)
client = StubWeChatClient(APPID, SECRET)


@app.post("/api/login")
def login() -> Any:
    code = (request.get_json(silent=True) or {}).get("code")
    if not code:
        return jsonify(error="code is required"), 400
    try:
        session = client.wxa.code_to_session(code)
    except WeChatClientException as exc:
        return jsonify(error="login failed", errcode=exc.errcode), 400
    return jsonify(openId=session["openid"], sessionKey=session["session_key"])

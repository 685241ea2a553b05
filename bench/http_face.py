"""CPU per request of the HTTP face alone: the old FastAPI app against the lean ASGI app.

Both apps are driven in-process by calling them as ASGI applications (no socket, no server,
no HTTP parsing), with a **stub service** that answers at once from prebuilt results. So the
numbers are what the face itself costs per request: routing, header and body handling,
decoding and validating the body, building and encoding the response, errors. The service's
own work (WeChat, the database, signing and verifying tokens) is the same for both faces and
is left out on purpose; ``bench/login_throughput.py`` measures the whole server.

The old face is loaded from git history (``--old-rev``, default the last commit before the
lean face), its modules copied into a temporary package, so the comparison needs no branch.

Each (face, route) pair runs ``--requests`` requests per run, ``--runs`` times, interleaved;
CPU is ``time.process_time()`` around each run. Printed: the median and the range, in µs.

    python bench/http_face.py [--requests 20000] [--runs 7] [--old-rev 1fd0d01]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import orjson

from wxlogin.api import create_app
from wxlogin.config import Settings
from wxlogin.service.login import LoginOutcome, LoginService, TokenPair
from wxlogin.store.records import Identity, User
from wxlogin.tokens import AccessClaims

ROOT = Path(__file__).resolve().parent.parent
OLD_API_FILES = ("__init__", "app", "deps", "errors", "meta", "routes", "schemas")
APPID = "wx1234567890abcdef"
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class StubService:
    """Answers like ``LoginService`` with fixed results and no work of its own."""

    issuer = "http://bench.test"

    def __init__(self) -> None:
        now = datetime(2026, 11, 21, 6, 0, 0, 123456, tzinfo=UTC)
        self._user = User(
            id="u_0123456789abcdef",
            unionid="o6_bmasdasdsad6_2sgVt7hMZOPfL",
            identities=(Identity(APPID, "oABCDEFGHIJKLMNOPQRSTUVWXYZ0"),),
            phone="+8613800138000",
            pure_phone="13800138000",
            phone_country_code="86",
            nickname="小明",
            avatar_url="https://thirdwx.example/avatar/0",
            created_at=now,
            last_login_at=now,
        )
        self._pair = TokenPair("h.p.s" * 40, 900, "sid." + "r" * 43)
        self._claims = AccessClaims(self._user.id, "sid", APPID, "jti", 0, 2**31)

    async def login(self, code: str, *, appid: str | None, client_ip: str) -> LoginOutcome:
        return LoginOutcome(self._pair, self._user, False)

    async def refresh(self, refresh_token: str) -> TokenPair:
        return self._pair

    async def authenticate(self, access_token: str) -> AccessClaims:
        return self._claims

    async def user(self, claims: AccessClaims) -> User:
        return self._user


def load_old_api(rev: str, into: Path) -> Any:
    """The FastAPI face as it was at ``rev``, importable as ``_old_wxlogin_api``."""
    package = into / "_old_wxlogin_api"
    package.mkdir()
    for name in OLD_API_FILES:
        source = subprocess.run(
            ["git", "show", f"{rev}:src/wxlogin/api/{name}.py"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        (package / f"{name}.py").write_text(source.replace("wxlogin.api.", "_old_wxlogin_api."))
    sys.path.insert(0, str(into))
    return importlib.import_module("_old_wxlogin_api.app")


def requests() -> dict[str, tuple[str, str, dict[bytes, bytes], bytes]]:
    login = orjson.dumps({"code": "0a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P", "appid": APPID})
    refresh = orjson.dumps({"refresh_token": "sid." + "r" * 43})
    token = b"Bearer " + b"h.p.s" * 40
    json = {b"content-type": b"application/json"}
    return {
        "POST /auth/login": ("POST", "/auth/login", json, login),
        "POST /auth/refresh": ("POST", "/auth/refresh", json, refresh),
        "GET /me": ("GET", "/me", {b"authorization": token}, b""),
        "GET /healthz": ("GET", "/healthz", {}, b""),
    }


def scope_of(method: str, path: str, extra: dict[bytes, bytes], body: bytes) -> dict[str, Any]:
    # What uvicorn hands an app for such a request, headers in the order a client sends them.
    headers = [(b"host", b"bench.test"), (b"user-agent", b"wx-miniprogram"), (b"accept", b"*/*")]
    headers += list(extra.items())
    if body:
        headers.append((b"content-length", str(len(body)).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "state": {},
    }


async def cpu_per_request(app: ASGIApp, scope: dict[str, Any], body: bytes, n: int) -> float:
    message = {"type": "http.request", "body": body, "more_body": False}
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return message

    async def send(event: dict[str, Any]) -> None:
        if event["type"] == "http.response.start":
            statuses.append(event["status"])

    await app(dict(scope), receive, send)  # warm caches (FastAPI builds its stack lazily)
    if statuses[-1] >= 300:
        raise SystemExit(f"{scope['method']} {scope['path']} answered {statuses[-1]}")
    start = time.process_time()
    for _ in range(n):
        # A fresh scope per request, as a server makes one; both faces pay the copy.
        await app(dict(scope), receive, send)
    return (time.process_time() - start) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000, help="requests per run (20000)")
    parser.add_argument("--runs", type=int, default=7, help="runs per (face, route) (7)")
    parser.add_argument("--old-rev", default="1fd0d01", help="commit of the FastAPI face")
    args = parser.parse_args()
    stub = cast(LoginService, StubService())
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            apps=[{"appid": APPID, "secret": "bench-secret-0123456789abcdef01"}],
            data_dir=Path(tmp) / "data",
            public_url=StubService.issuer,
            dev=True,
        )
        old_app = load_old_api(args.old_rev, Path(tmp)).create_app(settings)
        old_app.state.wxlogin_service = stub
        new_app = create_app(settings)
        new_app.face.service = stub
        faces: dict[str, ASGIApp] = {"FastAPI (old)": old_app, "lean (new)": new_app}
        results: dict[tuple[str, str], list[float]] = {}

        async def run_all() -> None:
            for _ in range(args.runs):
                for label, (method, path, headers, body) in requests().items():
                    for face, app in faces.items():
                        scope = scope_of(method, path, headers, body)
                        cpu = await cpu_per_request(app, scope, body, args.requests)
                        results.setdefault((face, label), []).append(cpu)

        asyncio.run(run_all())
    print(f"CPU per request, µs: median (min–max) of {args.runs} runs × {args.requests}")
    print(f"{'route':<20} {'FastAPI (old)':>22} {'lean (new)':>22} {'ratio':>7}")
    for label in requests():
        old, new = results[("FastAPI (old)", label)], results[("lean (new)", label)]
        cells = [f"{statistics.median(r):7.1f} ({min(r):.1f}–{max(r):.1f})" for r in (old, new)]
        ratio = statistics.median(old) / statistics.median(new)
        print(f"{label:<20} {cells[0]:>22} {cells[1]:>22} {ratio:6.1f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

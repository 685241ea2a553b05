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
``--lean-only`` leaves the old face out (for before/after runs of the lean face alone, e.g. with
``PYTHONPATH`` pointing at another checkout's ``src``). In-process runs also time an avatar
upload on the lean face (when it has the route): a 64 KiB image in a multipart form, parsed and
handed to a stub that stores nothing.

``--uvicorn`` measures the same faces and stub served by uvicorn (uvloop, httptools) in a
child process instead, driven by wrk (32 keep-alive connections, 5 s per run) on the same
machine: the server process's CPU (utime+stime from /proc) per request, HTTP parsing included.

    python bench/http_face.py [--requests 20000] [--runs 7] [--old-rev 1fd0d01] [--uvicorn]
                              [--lean-only]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import orjson

from wxlogin.api import WxLoginApp, create_app
from wxlogin.config import Settings
from wxlogin.service.login import LoginOutcome, LoginService, TokenPair
from wxlogin.store.records import Identity, User
from wxlogin.tokens import AccessClaims

ROOT = Path(__file__).resolve().parent.parent
OLD_API_FILES = ("__init__", "app", "deps", "errors", "meta", "routes", "schemas")
APPID = "wx1234567890abcdef"
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class StubAvatars:
    """Answers like ``AvatarService.replace``: the bytes are looked at by nobody."""

    def __init__(self, user: User) -> None:
        self._user = user

    async def replace(self, user_id: str, data: bytes) -> User:
        return self._user


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
        self.avatars = StubAvatars(self._user)

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


AVATAR_UPLOAD = "POST /me/avatar"
_BOUNDARY = b"----WebKitFormBoundaryq8Z2xGmJcT4vR1sE"


def avatar_upload() -> tuple[str, str, dict[bytes, bytes], bytes]:
    """What wx.uploadFile sends for a 64 KiB image (a PNG by its first bytes)."""
    image = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(64 * 1024 - 16)
    body = (
        b"--" + _BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="tmp_9a4e0c.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + image + b"\r\n--" + _BOUNDARY + b"--\r\n"
    )
    headers = {
        b"authorization": b"Bearer " + b"h.p.s" * 40,
        b"content-type": b"multipart/form-data; boundary=" + _BOUNDARY,
    }
    return ("POST", "/me/avatar", headers, body)


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


def build_faces(old_rev: str, tmp: Path, *, lean_only: bool = False) -> dict[str, ASGIApp]:
    stub = cast(LoginService, StubService())
    settings = Settings(
        apps=[{"appid": APPID, "secret": "bench-secret-0123456789abcdef01"}],
        data_dir=tmp / "data",
        public_url=StubService.issuer,
        dev=True,
    )
    new_app = create_app(settings)
    new_app.face.service = stub
    if lean_only:
        return {"lean (new)": new_app}
    old_app = load_old_api(old_rev, tmp).create_app(settings)
    old_app.state.wxlogin_service = stub
    return {"FastAPI (old)": old_app, "lean (new)": new_app}


def serve(face: str, port: int, old_rev: str) -> int:
    """Child process of ``--uvicorn``: one face, stub service, no lifespan."""
    import uvicorn

    with tempfile.TemporaryDirectory() as tmp:
        app = build_faces(old_rev, Path(tmp), lean_only=face == "lean (new)")[face]
        uvicorn.run(
            app,
            host="127.0.0.1",
            port=port,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level="warning",
            lifespan="off",
        )
    return 0


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def under_uvicorn(args: argparse.Namespace, results: dict[tuple[str, str], list[float]]) -> None:
    tick = os.sysconf("SC_CLK_TCK")
    faces = ("lean (new)",) if args.lean_only else ("FastAPI (old)", "lean (new)")
    for index, face in enumerate(faces):
        port = 18700 + os.getpid() % 200 * 2 + index
        command = [
            sys.executable,
            __file__,
            "--serve",
            face,
            "--port",
            str(port),
            "--old-rev",
            args.old_rev,
        ]
        server = subprocess.Popen(command)
        try:
            for _ in range(100):  # up to 20 s for the child to listen
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)
            with tempfile.TemporaryDirectory() as tmp:
                for label, (method, path, headers, body) in requests().items():
                    script = Path(tmp) / "request.lua"
                    lines = [f'wrk.method = "{method}"']
                    if body:
                        lines.append(f"wrk.body = [[{body.decode()}]]")
                    lines += [
                        f'wrk.headers["{k.decode()}"] = "{v.decode()}"' for k, v in headers.items()
                    ]
                    script.write_text("\n".join(lines) + "\n")
                    for _ in range(args.runs):
                        before = _cpu_ticks(server.pid)
                        out = subprocess.run(
                            [
                                "wrk",
                                "-t1",
                                "-c32",
                                "-d5s",
                                "-s",
                                str(script),
                                f"http://127.0.0.1:{port}{path}",
                            ],
                            check=True,
                            capture_output=True,
                            text=True,
                        ).stdout
                        used = (_cpu_ticks(server.pid) - before) / tick
                        count = re.search(r"(\d+) requests in", out)
                        assert count is not None, out
                        done = int(count.group(1))
                        if "Non-2xx" in out:
                            raise SystemExit(f"{face} {label}: non-2xx answers\n{out}")
                        results.setdefault((face, label), []).append(used / done * 1e6)
        finally:
            server.terminate()
            server.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000, help="requests per run (20000)")
    parser.add_argument("--runs", type=int, default=7, help="runs per (face, route) (7)")
    parser.add_argument("--old-rev", default="1fd0d01", help="commit of the FastAPI face")
    parser.add_argument("--uvicorn", action="store_true", help="serve with uvicorn, load with wrk")
    parser.add_argument("--lean-only", action="store_true", help="leave the old FastAPI face out")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve, args.port, args.old_rev)
    results: dict[tuple[str, str], list[float]] = {}
    if args.uvicorn:
        under_uvicorn(args, results)
        print(f"server CPU per request under uvicorn + wrk, µs: median (min–max) of {args.runs}")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            faces = build_faces(args.old_rev, Path(tmp), lean_only=args.lean_only)
            lean = faces["lean (new)"]
            routes = requests()
            # A lean face from before the avatar route has none to time.
            if isinstance(lean, WxLoginApp) and "/me/avatar" in lean.face.table:
                routes[AVATAR_UPLOAD] = avatar_upload()

            async def run_all() -> None:
                for _ in range(args.runs):
                    for label, (method, path, headers, body) in routes.items():
                        for face, app in faces.items():
                            if label == AVATAR_UPLOAD and app is not lean:
                                continue
                            scope = scope_of(method, path, headers, body)
                            cpu = await cpu_per_request(app, scope, body, args.requests)
                            results.setdefault((face, label), []).append(cpu)

            asyncio.run(run_all())
        print(f"CPU per request, µs: median (min–max) of {args.runs} runs × {args.requests}")
    print(f"{'route':<20} {'FastAPI (old)':>22} {'lean (new)':>22} {'ratio':>7}")
    labels = dict.fromkeys(label for _, label in results)
    for label in labels:
        old, new = results.get(("FastAPI (old)", label)), results[("lean (new)", label)]
        cells = [
            f"{statistics.median(r):7.1f} ({min(r):.1f}–{max(r):.1f})" if r else "—"
            for r in (old, new)
        ]
        ratio = f"{statistics.median(old) / statistics.median(new):6.1f}×" if old else ""
        print(f"{label:<20} {cells[0]:>22} {cells[1]:>22} {ratio:>7}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

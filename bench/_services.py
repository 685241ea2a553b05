"""The processes of the side-by-side bench: the upstream stub and the contenders.

Every process gets a session of its own (so stopping its process group stops a master's
workers too, and the terminal's Ctrl-C reaches only the runner, which then stops them in
order) and a parent-death signal (so none outlives a runner that was killed outright).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from _databases import PgSchema, RedisDb, sqlite_counts
from _loadgen import free_port

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
TUTORIALS = BENCH_DIR / "tutorials"
APPID = "wx1234567890abcdef"
SECRET = "bench-secret-0123456789abcdef01"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the runner dies, however it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(
    cmd: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # safe: the runner starts no threads
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it if it lingers."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # Workers left behind by a master that died first: their group is the same.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def tail(path: Path, lines: int = 25) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def http_status(method: str, url: str, body: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@dataclass
class Contender:
    key: str
    label: str
    login_path: str
    sends_appid: bool
    wxlogin: bool
    start: Callable[[Context, ExitStack], Service]


@dataclass
class Context:
    stub_url: str
    bench_python: Path
    pg_url: str
    redis_url: str
    tmp: Path


@dataclass
class Service:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    counts: Callable[[], tuple[int, int]] | None = None  # (users, sessions) stored so far
    uses_postgres: bool = False


def wait_ready(service: Service, ready_path: str | None, login_path: str, appid: bool) -> None:
    """Until ``ready_path`` answers 200 (if any) and one login goes through."""
    probe = b'{"code":"probe%sa"%s}' % (
        secrets.token_hex(4).encode(),
        f',"appid":"{APPID}"'.encode() if appid else b"",
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            raise RuntimeError(f"exited with {service.proc.returncode}:\n{tail(service.log)}")
        try:
            if ready_path is None or http_status("GET", service.url + ready_path) == 200:
                status = http_status("POST", service.url + login_path, probe)
                if status == 200:
                    return
                last = f"probe login answered {status}"
        except (OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(0.2)
    raise RuntimeError(f"not ready in {START_TIMEOUT_S:.0f} s ({last}):\n{tail(service.log)}")


def start_stub(
    stack: ExitStack, tmp: Path, latency_ms: float
) -> tuple[subprocess.Popen[bytes], str]:
    """The upstream stub on a free port: its process and its base URL."""
    port = free_port()
    log = tmp / "stub.log"
    cmd = [sys.executable, str(BENCH_DIR / "upstream_stub.py"), "--port", str(port)]
    proc = spawn([*cmd, "--latency-ms", f"{latency_ms:g}"], dict(os.environ), log)
    stack.callback(stop, proc)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        with contextlib.suppress(OSError):
            if http_status("GET", url + "/sns/jscode2session?js_code=readya") == 200:
                return proc, url
        time.sleep(0.1)
    raise RuntimeError(f"the upstream stub did not start:\n{tail(log)}")


# --------------------------------------------------------------------------- wxlogin


def _wxlogin_env(ctx: Context, data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WXLOGIN_")}
    env.update(
        WXLOGIN_APPS=f"{APPID}:{SECRET}",
        WXLOGIN_WECHAT_BASE_URL=ctx.stub_url,
        WXLOGIN_DATA_DIR=str(data_dir),
        WXLOGIN_LOGIN_RATE_LIMIT_PER_IP="0",
        WXLOGIN_LOGIN_RATE_LIMIT_PER_APP="0",
        WXLOGIN_SESSION_KEY_ENCRYPTION_KEY=base64.b64encode(os.urandom(32)).decode(),
        WXLOGIN_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    return env


def _serve(
    ctx: Context, stack: ExitStack, name: str, env: dict[str, str], port: int, workers: int
) -> Service:
    log = ctx.tmp / f"{name}.log"
    cmd = [sys.executable, "-m", "wxlogin.cli", "serve", "--port", str(port)]
    proc = spawn([*cmd, "--workers", str(workers)], env, log, cwd=REPO)
    stack.callback(stop, proc)
    return Service(proc, f"http://127.0.0.1:{port}", log)


def start_wxlogin_sqlite(ctx: Context, stack: ExitStack) -> Service:
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="wxlogin-sqlite-", dir=ctx.tmp))
    service = _serve(ctx, stack, "wxlogin-sqlite", _wxlogin_env(ctx, data_dir, port), port, 1)
    service.counts = lambda: sqlite_counts(data_dir / "wxlogin.db")
    wait_ready(service, "/readyz", "/auth/login", appid=True)
    return service


def start_wxlogin_postgres(ctx: Context, stack: ExitStack) -> Service:
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="wxlogin-pg-", dir=ctx.tmp))
    schema = PgSchema(ctx.pg_url)
    stack.callback(schema.close)
    redis_db = RedisDb(ctx.redis_url)
    stack.callback(redis_db.close)
    env = _wxlogin_env(ctx, data_dir, port)
    env["WXLOGIN_DATABASE_URL"] = schema.service_url()
    env["WXLOGIN_REDIS_URL"] = redis_db.service_url()
    service = _serve(ctx, stack, "wxlogin-postgres", env, port, 2)
    service.counts = schema.counts
    service.uses_postgres = True
    wait_ready(service, "/readyz", "/auth/login", appid=True)
    time.sleep(1.0)  # the second uvicorn worker may still be importing
    return service


# --------------------------------------------------------------------------- the others


def _tutorial_env(ctx: Context, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(APPID=APPID, SECRET=SECRET, WECHAT_BASE_URL=ctx.stub_url, PORT=str(port))
    return env


def _start_tutorial(
    ctx: Context, stack: ExitStack, name: str, cmd: list[str], cwd: Path, workers: int
) -> Service:
    port = free_port()
    log = ctx.tmp / f"{name}.log"
    argv = [part.replace("{port}", str(port)) for part in cmd]
    proc = spawn(argv, _tutorial_env(ctx, port), log, cwd=cwd)
    stack.callback(stop, proc)
    service = Service(proc, f"http://127.0.0.1:{port}", log)
    wait_ready(service, None, "/api/login", appid=False)
    if workers > 1:
        time.sleep(1.0)  # let every worker finish importing before the load starts
    return service


def start_express(ctx: Context, stack: ExitStack) -> Service:
    cwd = TUTORIALS / "express_login"
    return _start_tutorial(ctx, stack, "express", ["node", "server.js"], cwd, 1)


def start_flask(ctx: Context, stack: ExitStack) -> Service:
    gunicorn = str(ctx.bench_python.parent / "gunicorn")
    cmd = [gunicorn, "--workers", "4", "--worker-class", "gthread", "--threads", "8"]
    # No control socket: gunicorn 27 puts one in $HOME, shared by every gunicorn on the box.
    cmd += ["--no-control-socket", "--bind", "127.0.0.1:{port}", "flask_login:app"]
    return _start_tutorial(ctx, stack, "flask", cmd, TUTORIALS, 4)


def start_starlette(ctx: Context, stack: ExitStack) -> Service:
    uvicorn = str(ctx.bench_python.parent / "uvicorn")
    cmd = [uvicorn, "starlette_proxy:app", "--host", "127.0.0.1", "--port", "{port}"]
    cmd += ["--workers", "2", "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    return _start_tutorial(ctx, stack, "starlette", cmd, TUTORIALS, 2)


CONTENDERS = [
    Contender(
        key="wxlogin_sqlite",
        label="wxlogin, SQLite, 1 process",
        login_path="/auth/login",
        sends_appid=True,
        wxlogin=True,
        start=start_wxlogin_sqlite,
    ),
    Contender(
        key="wxlogin_postgres",
        label="wxlogin, PostgreSQL + Redis, 2 workers",
        login_path="/auth/login",
        sends_appid=True,
        wxlogin=True,
        start=start_wxlogin_postgres,
    ),
    Contender(
        key="express",
        label="Express + request (tutorial), 1 process",
        login_path="/api/login",
        sends_appid=False,
        wxlogin=False,
        start=start_express,
    ),
    Contender(
        key="flask",
        label="Flask + wechatpy (tutorial), gunicorn 4x8",
        login_path="/api/login",
        sends_appid=False,
        wxlogin=False,
        start=start_flask,
    ),
    Contender(
        key="starlette",
        label="Starlette + aiohttp (reference), 2 workers",
        login_path="/api/login",
        sends_appid=False,
        wxlogin=False,
        start=start_starlette,
    ),
]

"""End-to-end throughput of the wxlogin service over real sockets: logins, /me, JWKS.

1. Starts two child processes on free 127.0.0.1 ports: the WeChat simulator
   (``python -m wxlogin.cli simulate``) and the service (``python -m wxlogin.cli serve
   --workers W``), the latter configured through WXLOGIN_* variables: a fresh data dir, rate
   limits off, a random session_key encryption key, SQLite in the data dir or a fresh
   PostgreSQL schema (dropped afterwards), optionally Redis. Nothing is pinned: the load
   generator, the simulator and every worker share the machine's cores.
2. Waits for ``/readyz``.
3. ``--scenario login`` (default): pre-mints ``--logins`` codes through the simulator's control
   API (``POST /__sim/login``), for ``--logins / 2`` distinct users, two codes each, so that
   roughly the first half of the run are first logins (a new user) and the second half
   returning ones. Minting is not timed. Then it fires every code at ``POST /auth/login``
   exactly once, and afterwards counts the users and sessions stored.
   ``--scenario me`` logs in once and hammers ``GET /me`` with that one token (so the
   service's verified-token cache answers the signature check; the revocation lookup and the
   user read happen every time) for ``--seconds``; ``--scenario jwks`` hammers
   ``/.well-known/jwks.json`` (no token, no database: about the framework's own cost).
4. The load generator is ``wrk`` with a Lua script when installed (``apt-get install wrk``),
   else a callback-driven asyncio client; both keep ``--concurrency`` keep-alive connections
   busy, no pipelining.
5. Prints requests/s, responses by status, p50/p95/p99 latency, and the CPU seconds used by the
   service's process tree, the simulator and the load generator (from /proc), with the
   service's CPU ms per request, and how much CPU everything else on the machine took.

Bounded: every phase has a wall-clock cap; one run takes well under two minutes. The child
processes are always stopped (their process group, by id), and the PostgreSQL schema dropped.

    python bench/login_throughput.py [--scenario login|me|jwks] [--logins 8000]
        [--concurrency 64] [--workers 1] [--backend sqlite|postgres] [--redis|--no-redis]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import resource
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson

from _loadgen import (
    WRK_THREAD_LINES_LUA,
    Driver,
    drive,
    free_port,
    percentile,
    raw_request,
    run_loop,
)
from _procstat import cpu_delta, machine_busy_s, tree_cpu

APPID = "wx1234567890abcdef"
SECRET = "bench-secret-0123456789abcdef01"
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
START_TIMEOUT_S = 30.0
MINT_CAP_S = 30.0
RUN_CAP_S = 60.0
STOP_TIMEOUT_S = 10.0

T = TypeVar("T")

# Each wrk thread takes every n-th line of the request file. In "once" mode every line is sent
# exactly once: a connection with nothing left to send sleeps (delay()), and the thread stops
# when its last answer is in. In "loop" mode the lines repeat until -d runs out.
WRK_SCRIPT = (
    WRK_THREAD_LINES_LUA
    + r"""
function init(args)
  mode = args[3]
  local method, target = args[4], args[5]
  bodies, sent, answered = my_lines(args[1], tonumber(args[2])), 0, 0
  statuses = {}
  reqs = {}
  for k, body in ipairs(bodies) do
    if method == "GET" then
      reqs[k] = wrk.format("GET", target)
    else
      reqs[k] = wrk.format("POST", target, {["Content-Type"] = "application/json"}, body)
    end
  end
  expected = #reqs
  if id == 0 then
    -- wrk calls thread 0's request() once to check the script, before any connection:
    -- give that call a copy so that no real request is lost.
    table.insert(reqs, 1, reqs[1])
  end
end
function delay()
  if mode == "once" and sent >= #reqs then return 600000 end
  return 0
end
function request()
  sent = sent + 1
  local k = sent
  if mode ~= "once" then k = (sent - 1) % #reqs + 1 end
  return reqs[k]
end
function response(status, headers, body)
  answered = answered + 1
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if mode == "once" and answered == expected then
    -- wrk's main thread sleeps for all of -d; the driver sends SIGINT once all are DONE.
    io.write("DONE\n")
    io.flush()
    wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do total[k] = (total[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(total) do parts[#parts + 1] = k .. "=" .. v end
  io.write(string.format("RESULT %d %d %d %d %d %d %s\n", summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.timeout, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), table.concat(parts, ",")))
end
"""
)


# --------------------------------------------------------------------------- results


@dataclass
class Load:
    engine: str
    seconds: float
    statuses: Counter[str]
    p50_ms: float
    p95_ms: float
    p99_ms: float
    socket_errors: int = 0
    timeouts: int = 0
    cpu_s: float = 0.0

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def ok(self) -> int:
        return self.statuses.get("200", 0)


# --------------------------------------------------------------------------- plumbing


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = orjson.dumps(body) if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, orjson.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read() or b"null")


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the process exited ({proc.returncode}):\n{tail(log)}")
        with contextlib.suppress(OSError, ValueError):
            status, _ = http("GET", url)
            if status == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"{url} not ready within {START_TIMEOUT_S:.0f} s:\n{tail(log)}")


def tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        # A session of its own: stopping its process group stops uvicorn's workers too.
        return subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT_S)
    # Workers may outlive a master that died first; they share its process group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


# --------------------------------------------------------------------------- PostgreSQL


async def _pg_connect(base_url: str) -> Any:
    import asyncpg  # type: ignore[import-untyped]

    dsn = base_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    return await asyncpg.connect(dsn, timeout=5)


async def _pg(base_url: str, statement: str) -> None:
    conn = await _pg_connect(base_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _pg_count(base_url: str, schema: str) -> tuple[int, int]:
    conn = await _pg_connect(base_url)
    try:
        users = await conn.fetchval(f'SELECT count(*) FROM "{schema}".users')
        sessions = await conn.fetchval(f'SELECT count(*) FROM "{schema}".sessions')
    finally:
        await conn.close()
    return int(users), int(sessions)


# --------------------------------------------------------------------------- load: asyncio


def load_python(
    port: int, requests: Iterator[bytes], connections: int, keep: bool = False
) -> tuple[Load, Driver]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    driver = run_loop(drive(port, requests, connections, keep=keep, cap=RUN_CAP_S))
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    ordered = sorted(driver.latencies)
    load = Load(
        "python-asyncio",
        seconds,
        driver.statuses,
        percentile(ordered, 0.50),
        percentile(ordered, 0.95),
        percentile(ordered, 0.99),
        cpu_s=cpu,
    )
    return load, driver


# --------------------------------------------------------------------------- load: wrk


def run_wrk(cmd: list[str], threads_to_finish: int, timeout: float) -> str:
    """Run wrk; interrupt it as soon as ``threads_to_finish`` threads printed DONE."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    done = 0
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.strip() == "DONE":
                done += 1
                if done == threads_to_finish:
                    proc.send_signal(signal.SIGINT)
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise SystemExit(f"wrk failed ({proc.returncode}):\n{''.join(lines)}")
    return "".join(lines)


def load_wrk(
    port: int,
    *,
    method: str,
    path: str,
    bodies: list[str],
    headers: dict[str, str],
    connections: int,
    seconds: float,
    once: bool,
) -> Load:
    threads = 2
    with tempfile.TemporaryDirectory() as tmp:
        lines = Path(tmp, "bodies.txt")
        lines.write_text("\n".join(bodies) + "\n")
        script = Path(tmp, "load.lua")
        script.write_text(WRK_SCRIPT)
        cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
        for name, value in headers.items():
            cmd += ["-H", f"{name}: {value}"]
        cmd += ["-s", str(script), f"http://127.0.0.1:{port}{path}", "--"]
        cmd += [str(lines), str(threads), "once" if once else "loop", method, path]
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        stdout = run_wrk(cmd, threads if once else 0, seconds + 30)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((x for x in stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{stdout}")
    parts = line.split()
    duration_us, sock_errors, timeouts, p50, p95, p99 = (int(x) for x in parts[1:7])
    statuses: Counter[str] = Counter()
    if len(parts) > 7:
        for item in parts[7].split(","):
            key, _, value = item.partition("=")
            statuses[key] = int(value)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    return Load(
        "wrk",
        duration_us / 1e6,
        statuses,
        p50 / 1e3,
        p95 / 1e3,
        p99 / 1e3,
        socket_errors=sock_errors,
        timeouts=timeouts,
        cpu_s=cpu,
    )


# --------------------------------------------------------------------------- scenarios


def mint_codes(sim_port: int, logins: int, connections: int) -> list[str]:
    """``logins`` codes: users 0..k-1, then the same users again (first, then returning)."""
    users = max(1, logins // 2)
    names = [f"bench-user-{n % users}" for n in range(logins)]

    def requests() -> Iterator[bytes]:
        for name in names:
            body = orjson.dumps({"appid": APPID, "user": name})
            yield raw_request("POST", "/__sim/login", body, {})

    started = time.monotonic()
    _, driver = load_python(sim_port, requests(), connections, keep=True)
    if time.monotonic() - started > MINT_CAP_S:
        raise SystemExit("minting took too long")
    codes = [orjson.loads(body)["code"] for body in driver.bodies]
    if len(codes) != logins or set(driver.statuses) != {"200"}:
        raise SystemExit(f"minting failed: {dict(driver.statuses)}, {len(codes)}/{logins}")
    # The driver answers in completion order, which is not minting order; it does not matter
    # which code belongs to whom, only that each user holds two.
    return codes


def login_once(svc: str, sim: str) -> str:
    status, body = http("POST", sim + "/__sim/login", {"appid": APPID, "user": "bench-me"})
    assert status == 200, body
    status, body = http("POST", svc + "/auth/login", {"code": body["code"], "appid": APPID})
    if status != 200:
        raise SystemExit(f"login failed: {status} {body}")
    return str(body["access_token"])


@dataclass
class Plan:
    method: str
    path: str
    bodies: list[str]
    headers: dict[str, str]
    once: bool


def run_load(engine: str, port: int, plan: Plan, connections: int, seconds: float) -> Load:
    if engine == "wrk":
        return load_wrk(
            port,
            method=plan.method,
            path=plan.path,
            bodies=plan.bodies,
            headers=plan.headers,
            connections=connections,
            seconds=RUN_CAP_S if plan.once else seconds,
            once=plan.once,
        )
    if plan.once:

        def once() -> Iterator[bytes]:
            for body in plan.bodies:
                yield raw_request(plan.method, plan.path, body.encode(), plan.headers)

        return load_python(port, once(), connections)[0]
    request = raw_request(plan.method, plan.path, None, plan.headers)
    deadline = time.perf_counter() + seconds

    def timed() -> Iterator[bytes]:
        while time.perf_counter() < deadline:
            yield request

    return load_python(port, timed(), connections)[0]


# --------------------------------------------------------------------------- main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--scenario", choices=("login", "me", "jwks"), default="login")
    parser.add_argument("--logins", type=int, default=8_000, help="logins to fire (8000)")
    parser.add_argument("--concurrency", type=int, default=64, help="connections (64)")
    parser.add_argument("--workers", type=int, default=1, help="service workers (1)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--redis", action=argparse.BooleanOptionalAction, default=False, help="use Redis"
    )
    parser.add_argument("--engine", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--seconds", type=float, default=8.0, help="me/jwks run length (8)")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    engine = args.engine
    if engine == "auto":
        engine = "wrk" if shutil.which("wrk") else "python"
    sim_port, svc_port = free_port(), free_port()
    sim_url, svc_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{svc_port}"
    tmp = Path(tempfile.mkdtemp(prefix="wxlogin-bench-"))
    schema = f"bench_{secrets.token_hex(6)}"
    env = dict(os.environ)
    env.update(
        WXLOGIN_APPS=f"{APPID}:{SECRET}",
        WXLOGIN_WECHAT_BASE_URL=sim_url,
        WXLOGIN_DATA_DIR=str(tmp / "data"),
        WXLOGIN_LOGIN_RATE_LIMIT_PER_IP="0",
        WXLOGIN_LOGIN_RATE_LIMIT_PER_APP="0",
        WXLOGIN_SESSION_KEY_ENCRYPTION_KEY=base64.b64encode(os.urandom(32)).decode(),
        WXLOGIN_PUBLIC_URL=svc_url,
    )
    for name in ("WXLOGIN_DATABASE_URL", "WXLOGIN_REDIS_URL", "WXLOGIN_CONFIG"):
        env.pop(name, None)
    if args.backend == "postgres":
        run_loop(_pg(args.pg_url, f'CREATE SCHEMA "{schema}"'))
        env["WXLOGIN_DATABASE_URL"] = f"{args.pg_url}?options=-csearch_path%3D{schema}"
    if args.redis:
        env["WXLOGIN_REDIS_URL"] = args.redis_url
    python = sys.executable
    procs: list[subprocess.Popen[bytes]] = []
    sim_app = ["--app", f"{APPID}:{SECRET}"]
    svc_workers = ["--workers", str(args.workers)]
    try:
        sim = spawn(
            [python, "-m", "wxlogin.cli", "simulate", "--port", str(sim_port), *sim_app],
            env,
            tmp / "simulator.log",
        )
        procs.append(sim)
        svc = spawn(
            [python, "-m", "wxlogin.cli", "serve", "--port", str(svc_port), *svc_workers],
            env,
            tmp / "service.log",
        )
        procs.append(svc)
        wait_ready(sim_url + "/__sim/health", sim, tmp / "simulator.log")
        wait_ready(svc_url + "/readyz", svc, tmp / "service.log")
        # uvicorn's workers answer as they come up; give them all a moment to be listening.
        time.sleep(1.0)

        if args.scenario == "login":
            t0 = time.perf_counter()
            codes = mint_codes(sim_port, args.logins, args.concurrency)
            print(f"minted {len(codes)} codes in {time.perf_counter() - t0:.1f} s (not timed)")
            plan = Plan(
                "POST",
                "/auth/login",
                [orjson.dumps({"code": c, "appid": APPID}).decode() for c in codes],
                {},
                once=True,
            )
        elif args.scenario == "me":
            token = login_once(svc_url, sim_url)
            plan = Plan("GET", "/me", ["-"], {"Authorization": f"Bearer {token}"}, once=False)
        else:
            plan = Plan("GET", "/.well-known/jwks.json", ["-"], {}, once=False)

        svc_before, sim_before = tree_cpu(svc.pid), tree_cpu(sim.pid)
        busy_before = machine_busy_s()
        load = run_load(engine, svc_port, plan, args.concurrency, args.seconds)
        busy = machine_busy_s() - busy_before
        svc_user, svc_sys = cpu_delta(svc_before, tree_cpu(svc.pid))
        svc_cpu = svc_user + svc_sys
        sim_cpu = sum(cpu_delta(sim_before, tree_cpu(sim.pid)))
        workers_seen = len(tree_cpu(svc.pid).ticks)

        stored = ""
        if args.scenario == "login":
            if args.backend == "postgres":
                users, sessions = run_loop(_pg_count(args.pg_url, schema))
            else:
                with contextlib.closing(sqlite3.connect(tmp / "data" / "wxlogin.db")) as db:
                    users = db.execute("SELECT count(*) FROM users").fetchone()[0]
                    sessions = db.execute("SELECT count(*) FROM sessions").fetchone()[0]
            stored = f"{users} users, {sessions} sessions"
    finally:
        for proc in reversed(procs):
            stop(proc)
        if args.backend == "postgres":
            with contextlib.suppress(Exception):
                run_loop(_pg(args.pg_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        shutil.rmtree(tmp, ignore_errors=True)

    rate = load.ok / load.seconds if load.seconds else 0.0
    per_req_ms = svc_cpu / load.ok * 1000 if load.ok else 0.0
    others = max(0.0, busy - svc_cpu - sim_cpu - load.cpu_s)
    cpus = os.cpu_count() or 1
    label = {"login": "logins/s", "me": "GET /me/s", "jwks": "GET jwks/s"}[args.scenario]
    backend = args.backend + ("+redis" if args.redis else "")
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(load.statuses.items()))
    print(
        f"scenario        {args.scenario} on {backend}, {args.workers} worker(s), "
        f"{args.concurrency} connections, load by {load.engine}, {cpus} CPUs shared by all\n"
        f"requests        {load.requests}  ({statuses})\n"
        f"socket errors   {load.socket_errors} (timeouts {load.timeouts})\n"
        f"seconds         {load.seconds:.2f}\n"
        f"{label:<15} {rate:,.0f}\n"
        f"latency         p50 {load.p50_ms:.1f} ms, p95 {load.p95_ms:.1f} ms, "
        f"p99 {load.p99_ms:.1f} ms\n"
        f"service CPU     {svc_cpu:.2f} s (user {svc_user:.2f}, sys {svc_sys:.2f}) over "
        f"{workers_seen} processes = "
        f"{per_req_ms:.3f} ms per OK request "
        f"({svc_cpu / load.seconds if load.seconds else 0:.2f} cores)\n"
        f"simulator CPU   {sim_cpu:.2f} s;  load generator CPU {load.cpu_s:.2f} s;  "
        f"everything else on the machine {others:.2f} s "
        f"(machine busy {busy / load.seconds if load.seconds else 0:.2f} of {cpus} cores)"
        + (f"\nstored          {stored}" if stored else "")
    )
    if args.scenario == "login" and load.requests < args.logins:
        print(
            f"note: the {RUN_CAP_S:.0f} s cap ended the run after {load.requests} of "
            f"{args.logins} logins; the rate covers the capped window"
        )
    if args.json:
        print(
            json.dumps(
                {
                    "scenario": args.scenario,
                    "backend": backend,
                    "workers": args.workers,
                    "concurrency": args.concurrency,
                    "engine": load.engine,
                    "requests": load.requests,
                    "statuses": dict(load.statuses),
                    "seconds": round(load.seconds, 3),
                    "rate": round(rate, 1),
                    "p50_ms": load.p50_ms,
                    "p95_ms": load.p95_ms,
                    "p99_ms": load.p99_ms,
                    "service_cpu_s": round(svc_cpu, 2),
                    "service_sys_s": round(svc_sys, 2),
                    "service_cpu_ms_per_ok": round(per_req_ms, 3),
                    "simulator_cpu_s": round(sim_cpu, 2),
                    "loadgen_cpu_s": round(load.cpu_s, 2),
                    "other_cpu_s": round(others, 2),
                    "stored": stored,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

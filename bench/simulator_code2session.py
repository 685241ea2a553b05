"""How many jscode2session exchanges per second the WeChat simulator serves on ONE core.

1. Starts ``wxlogin simulate`` (uvicorn + uvloop + httptools) as a child process pinned to
   core 0 (``taskset -c 0``, else ``os.sched_setaffinity`` in the child).
2. Registers nothing by hand: the app comes from ``--app``. Pre-mints ``--codes`` codes through
   the control API (``POST /__sim/login``), one per simulated user so the per-user minute quota
   (100/min) is not what we measure. Minting is not timed.
3. Drives ``GET /sns/jscode2session`` with the pre-minted codes from a load generator pinned to
   core 1: ``wrk`` with a Lua script when installed (``apt-get install wrk``), else a
   callback-driven asyncio client (many keep-alive connections, no pipelining). The load
   generator must be faster than the server, or it measures itself.
4. Prints requests, seconds, exchanges/s, errors (non-200 or a body with an errcode), p50/p99.

Bounded: each phase has a wall-clock cap and the whole run takes well under two minutes.

    python bench/simulator_code2session.py [--codes 80000] [--connections 64] [--engine auto]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from _loadgen import WRK_THREAD_LINES_LUA, drive, free_port, percentile, run_loop

APPID = "wx1234567890abcdef"
SECRET = "bench-secret-0123456789abcdef01"
SERVER_CORE = 0
CLIENT_CORE = 1
START_TIMEOUT_S = 15.0
MINT_CAP_S = 45.0
RUN_CAP_S = 40.0

# Each wrk thread takes every n-th pre-minted code and stops asking when it runs out.
WRK_SCRIPT = (
    WRK_THREAD_LINES_LUA
    + r"""
function init(args)
  codes, i, ok, errors = my_lines(args[1], tonumber(args[2])), 0, 0, 0
  prefix = "/sns/jscode2session?appid=" .. args[3] .. "&secret=" .. args[4] ..
           "&grant_type=authorization_code&js_code="
end
function request()
  i = i + 1
  if i > #codes then i = #codes end  -- out of codes: replays show up as errors
  return wrk.format("GET", prefix .. codes[i])
end
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errcode"', 1, true) then
    errors = errors + 1
  else
    ok = ok + 1
  end
end
function done(summary, latency, requests)
  local o, e = 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok")
    e = e + t:get("errors")
  end
  io.write(string.format("RESULT %d %d %d %d %d\n", o, e, summary.duration,
                         latency:percentile(50), latency:percentile(99)))
end
"""
)


@dataclass
class Result:
    engine: str
    ok: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def requests(self) -> int:
        return self.ok + self.errors


# --------------------------------------------------------------------------- plumbing


def pin_self(core: int) -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {core})


def start_server(port: int) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "wxlogin.cli",
        "simulate",
        "--port",
        str(port),
        "--app",
        f"{APPID}:{SECRET}",
    ]
    if shutil.which("taskset"):
        return subprocess.Popen(["taskset", "-c", str(SERVER_CORE), *cmd])
    return subprocess.Popen(cmd, preexec_fn=lambda: pin_self(SERVER_CORE))


def wait_ready(base: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(base + "/__sim/health", timeout=1) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"the simulator did not start within {START_TIMEOUT_S:.0f} s")


def mint_codes(port: int, count: int, connections: int) -> list[str]:
    def requests() -> Iterator[bytes]:
        for n in range(count):
            body = orjson.dumps({"appid": APPID, "user": f"user-{n}"})
            yield (
                b"POST /__sim/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )

    driver = run_loop(drive(port, requests(), connections, cap=MINT_CAP_S, keep=True))
    codes = [orjson.loads(body)["code"] for body in driver.bodies]
    if driver.errors or len(codes) != count:
        raise SystemExit(f"minting failed: {driver.errors} errors, {len(codes)}/{count} codes")
    return codes


def _exchanged(status: str, body: bytes) -> bool:
    # WeChat's errors come with HTTP 200 too: success is a 200 without an errcode.
    return status == "200" and b'"errcode"' not in body


def exchange_requests(codes: list[str]) -> Iterator[bytes]:
    prefix = (
        f"GET /sns/jscode2session?appid={APPID}&secret={SECRET}"
        "&grant_type=authorization_code&js_code="
    ).encode()
    for code in codes:
        yield prefix + code.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def run_python(port: int, codes: list[str], connections: int) -> Result:
    started = time.perf_counter()
    driver = run_loop(
        drive(port, exchange_requests(codes), connections, cap=RUN_CAP_S, accept=_exchanged)
    )
    seconds = time.perf_counter() - started
    return Result(
        "python-asyncio",
        driver.ok,
        driver.errors,
        seconds,
        percentile(driver.latencies, 0.50),
        percentile(driver.latencies, 0.99),
    )


def run_wrk(port: int, codes: list[str], connections: int, seconds: float) -> Result:
    threads = 2
    with tempfile.TemporaryDirectory() as tmp:
        codes_file = Path(tmp, "codes.txt")
        codes_file.write_text("\n".join(codes) + "\n")
        script = Path(tmp, "exchange.lua")
        script.write_text(WRK_SCRIPT)
        cmd = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
            "--",
            str(codes_file),
            str(threads),
            APPID,
            SECRET,
        ]
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", str(CLIENT_CORE), *cmd]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_CAP_S, check=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    ok, errors, duration_us, p50_us, p99_us = (int(x) for x in line.split()[1:])
    return Result("wrk", ok, errors, duration_us / 1e6, p50_us / 1e3, p99_us / 1e3)


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--codes", type=int, default=80_000, help="codes to pre-mint (80000)")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--engine", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--wrk-seconds", type=float, default=5.0, help="wrk run length (5)")
    args = parser.parse_args()

    cpus = os.cpu_count() or 1
    if cpus >= 2:
        pin_self(CLIENT_CORE)
    engine = args.engine
    if engine == "auto":
        engine = "wrk" if shutil.which("wrk") else "python"
    port = free_port()
    server = start_server(port)
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        t0 = time.perf_counter()
        codes = mint_codes(port, args.codes, args.connections)
        mint_s = time.perf_counter() - t0
        print(f"minted {len(codes)} codes in {mint_s:.1f} s ({len(codes) / mint_s:,.0f}/s)")
        if engine == "wrk":
            result = run_wrk(port, codes, args.connections, args.wrk_seconds)
        else:
            result = run_python(port, codes, args.connections)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    rate = result.ok / result.seconds if result.seconds else 0.0
    print(
        f"engine          {result.engine} ({args.connections} connections, "
        f"server pinned to core {SERVER_CORE}, client to core {CLIENT_CORE}, {cpus} CPUs)\n"
        f"requests        {result.requests}\n"
        f"seconds         {result.seconds:.2f}\n"
        f"exchanges/s     {rate:,.0f}\n"
        f"errors          {result.errors}\n"
        f"latency p50     {result.p50_ms:.2f} ms\n"
        f"latency p99     {result.p99_ms:.2f} ms"
    )
    if result.engine == "wrk" and result.ok >= len(codes):
        print("note: wrk used every pre-minted code; the rate is a lower bound (raise --codes)")
    print("target 3,000/s:", "reached" if rate >= 3000 else "NOT reached")
    return 0


if __name__ == "__main__":
    sys.exit(main())

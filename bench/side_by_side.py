"""``make bench``: wxlogin side by side with the login servers users would otherwise write.

One run, everything on this machine's cores (nothing pinned):

1. Starts the upstream stub (``upstream_stub.py``: jscode2session after a fixed delay, 20 ms by
   default) on a free 127.0.0.1 port. Every contender trades its codes there.
2. For each contender in turn — wxlogin on SQLite (1 process), wxlogin on PostgreSQL + Redis
   (2 workers, a fresh schema, an empty Redis db), the Express + request tutorial server, the
   Flask + wechatpy tutorial server (gunicorn 4×8), a bare Starlette + aiohttp reference
   (2 workers) — it starts the server on a free port, waits until a probe login succeeds, runs
   a short unmeasured warm-up, then for each connection count (64, 256) a wrk login run of
   fixed duration with a unique code per request (``lua/login.lua``: every user logs in twice).
   For wxlogin it also runs ``POST /auth/refresh`` (``lua/refresh.lua``, tokens from the login
   runs), ``GET /me`` and ``GET /healthz`` (``lua/get.lua``), and counts the users and sessions
   its database stored. Then it stops the server and starts the next.
3. Around every wrk run it reads utime+stime from /proc: the server's process tree, the
   PostgreSQL backends serving it, the stub, wrk, and the whole machine.
4. Prints the side-by-side table, ratios and targets (PASS/MISS, never a failure), writes
   ``bench/results/side_by_side-<UTC time>.json`` and a chart (``docs/bench_side_by_side.png``,
   drawn by ``chart.py`` in the bench virtualenv).

Exit status: 0, or 1 when something went wrong that makes a number unusable (a non-2xx
answer, a socket error, a login that was answered but not stored, a contender that did not
start, a missing tool). Every process it starts is stopped on exit, Ctrl-C included.

    python bench/side_by_side.py [--seconds 6] [--extra-seconds 4] [--latency-ms 20]
        [--connections 64 256] [--only wxlogin_sqlite express ...] [--no-reference]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import _machine
import _report
import _runs
import _wrk
from _databases import pg_version, redis_reachable
from _procstat import Cpu, cpu_delta, pids_cpu
from _services import BENCH_DIR, CONTENDERS, REPO, Contender, Context, start_stub

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=6, help="each login run, s (6)")
    parser.add_argument(
        "--extra-seconds", type=int, default=4, help="each refresh, /me, /healthz run, s (4)"
    )
    parser.add_argument("--warmup-seconds", type=int, default=2, help="unmeasured, s (2)")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="upstream delay (20)")
    parser.add_argument("--connections", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--only", nargs="+", choices=[c.key for c in CONTENDERS])
    parser.add_argument("--no-reference", action="store_true", help="skip Starlette+aiohttp")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--bench-python", type=Path, default=BENCH_DIR / ".venv/bin/python")
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--chart", type=Path, default=REPO / "docs/bench_side_by_side.png")
    return parser.parse_args()


# --------------------------------------------------------------------------- main


def preflight(args: argparse.Namespace, errors: list[str]) -> list[Contender]:
    """The contenders this machine can run; what is missing goes into ``errors``."""
    chosen = [c for c in CONTENDERS if not args.only or c.key in args.only]
    if args.no_reference:
        chosen = [c for c in chosen if c.key != "starlette"]
    missing: dict[str, str] = {}
    if not args.bench_python.exists():
        for key in ("flask", "starlette"):
            missing[key] = f"{args.bench_python} missing (make bench creates it)"
    if shutil.which("node") is None:
        missing["express"] = "node is not installed"
    elif not (BENCH_DIR / "tutorials/express_login/node_modules/express").exists():
        missing["express"] = "node_modules missing (make bench runs npm ci)"
    if pg_version(args.pg_url) is None:
        missing["wxlogin_postgres"] = f"PostgreSQL not reachable at {args.pg_url}"
    elif not redis_reachable(args.redis_url):
        missing["wxlogin_postgres"] = f"Redis not reachable at {args.redis_url}"
    for contender in chosen:
        if contender.key in missing:
            errors.append(f"{contender.label}: skipped: {missing[contender.key]}")
    return [c for c in chosen if c.key not in missing]


def main() -> int:
    args = parse_args()
    if _wrk.wrk_path() is None:
        print("!! ERROR: wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 1

    # SIGTERM (and SIGHUP) unwind like Ctrl-C, so every cleanup below still runs.
    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    started = time.monotonic()
    started_at = datetime.now(UTC)
    errors: list[str] = []
    contenders = preflight(args, errors)
    for message in errors:
        print(f"!! ERROR: {message}", file=sys.stderr, flush=True)
    results: dict[str, Any] = {}
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="wxlogin-side-by-side-"))
        stack.callback(shutil.rmtree, tmp, True)
        stub, stub_url = start_stub(stack, tmp, args.latency_ms)
        ctx = Context(stub_url, args.bench_python, args.pg_url, args.redis_url, tmp)
        runner = _runs.Runner(args, ctx, stub.pid)
        print(
            f"upstream stub at {stub_url} ({args.latency_ms:g} ms); {len(contenders)} "
            f"contenders; login runs {args.seconds:g} s, others {args.extra_seconds:g} s; "
            f"connections {args.connections}",
            flush=True,
        )
        for contender in contenders:
            results[contender.key] = runner.contender(contender)
        errors += runner.errors
        stub_cpu = sum(cpu_delta(Cpu(), pids_cpu([stub.pid])))  # since it started
    report: dict[str, Any] = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "wall_seconds": round(time.monotonic() - started, 1),
        "machine": _machine.machine(),
        "versions": _machine.versions(args.bench_python),
        "settings": {
            "upstream_latency_ms": args.latency_ms,
            "login_seconds": args.seconds,
            "extra_seconds": args.extra_seconds,
            "warmup_seconds": args.warmup_seconds,
            "connections": args.connections,
            "wrk_threads": _wrk.THREADS,
            "wrk_request_timeout_s": _wrk.REQUEST_TIMEOUT_S,
            "returning_login": "a user's second code is sent once its wrk thread has started "
            "connections/threads more users (lua/login.lua)",
            "me_distinct_tokens": _runs.ACCESS_TOKENS,
            "refresh_tokens_per_connection": _runs.REFRESH_POOL_PER_CONNECTION,
            "postgres": pg_version(args.pg_url),
        },
        "stub_cpu_s_total": round(stub_cpu, 2),
        "contenders": results,
    }
    report["ratios"] = _report.ratios(results, args.connections)
    report["targets"] = _report.targets(results, args.latency_ms, args.connections)
    report["errors"] = errors
    args.results_dir.mkdir(parents=True, exist_ok=True)
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    json_path = args.results_dir / f"side_by_side-{stamp}.json"
    json_path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    print(_report.table(report))
    print(f"\nresults: {json_path}")
    chart_error = draw_chart(args.bench_python, json_path, args.chart)
    if chart_error:
        errors.append(chart_error)
        print(f"!! ERROR: {chart_error}", file=sys.stderr)
    else:
        print(f"chart:   {args.chart}")
    print(f"wall time {report['wall_seconds']:.0f} s")
    if errors:
        print(f"\n!! {len(errors)} ERROR(S) — these numbers need a second look:", file=sys.stderr)
        for message in errors:
            print(f"!!   {message}", file=sys.stderr)
        return 1
    return 0


def draw_chart(bench_python: Path, json_path: Path, chart: Path) -> str | None:
    if not bench_python.exists():
        return f"no chart: {bench_python} missing"
    proc = subprocess.run(
        [str(bench_python), str(BENCH_DIR / "chart.py"), str(json_path), str(chart)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        return f"chart failed: {(proc.stdout + proc.stderr).strip()[-800:]}"
    return None


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # Everything started was stopped on the way out (ExitStack callbacks).
        print("\n!! interrupted: every process the bench started was stopped", file=sys.stderr)
        sys.exit(130)

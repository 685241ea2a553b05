"""What observability costs on the hot paths: CPU per request of two source trees, in-process.

Compares the same hot paths — ``POST /auth/login``, ``POST /auth/refresh``, ``GET /me`` (its
token's verification cached, as for a client that uses its token more than once) and
``GET /healthz`` — between source trees, e.g. the code before issue 11's production work and
the code now:

    git worktree add /tmp/wt-before 38bb14f
    python bench/observability_cost.py --tree before=/tmp/wt-before/src --tree after=src
        [--rounds 7] [--requests 4000] [--concurrency 64] [--face-requests 20000]
    python bench/observability_cost.py --micro      # each piece alone, this tree

``--callgrind`` runs each tree's child once under valgrind's callgrind instead and reports
instructions per request: no hardware counters are readable in this VM, and an instruction
count does not move with other people's load (valgrind's slowdown does change timing, so
batch sizes may differ from a native run; both trees alike).

A tree written ``SRC#no-prune-indexes`` runs with the three indexes migration 0006 added for
the pruner dropped after the warm-up (SQLite), to see what they cost each login and refresh.

Each round starts one child process per tree (``PYTHONPATH`` = that tree's ``src``, the child
says which ``wxlogin`` it imported), the trees' order alternating from round to round so that
the load of a shared machine falls on both. A child drives the real ``create_app`` in-process
on uvloop (no HTTP server: uvicorn's cost is the same for both and left out) against a fresh
SQLite database and ``upstream_stub.py`` (one child process for the whole run, no added
latency), with ``--concurrency`` requests in flight, and reports CPU per request for each
path: user + system time from ``getrusage`` (every thread of the child; the stub's CPU is its
own), and the system part alone as "<path> sys". Then the same routes on the lean face alone
with a stub service (``http_face.py``'s, ``time.process_time()``), where a difference of a
microsecond is not lost in the service's noise.

Printed: per tree and path the best and the median of the rounds, in µs, and the differences:
of the bests, of the medians, and the median of each round's own difference (paired).
``--micro`` times the pieces issue 11 put on those paths, one at a time (best of
``--micro-runs`` × ``--micro-calls``, the empty loop's cost taken off).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, MutableMapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
APPID = "wx1234567890abcdef"
SECRET = "bench-secret-0123456789abcdef01"
PATHS = ("login", "refresh", "me", "healthz")
FACE_PATHS = {
    "POST /auth/login": "face login",
    "POST /auth/refresh": "face refresh",
    "GET /me": "face me",
    "GET /healthz": "face healthz",
}
Message = MutableMapping[str, Any]


# --------------------------------------------------------------------------- one tree (child)


async def call(app: Any, method: str, path: str, body: bytes, auth: bytes | None) -> bytes:
    """One request through the ASGI app, the way uvicorn would make it; the response body."""
    chunks: list[bytes] = []
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if delivered:
            await asyncio.Event().wait()  # a client that keeps the connection open
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            if message["status"] != 200:
                raise SystemExit(f"{method} {path} answered {message['status']}")
        else:
            chunks.append(message.get("body", b""))

    headers = [(b"host", b"bench"), (b"user-agent", b"wx-miniprogram"), (b"accept", b"*/*")]
    if body:
        headers += [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(body)),
        ]
    if auth is not None:
        headers.append((b"authorization", b"Bearer " + auth))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    await app(scope, receive, send)
    return b"".join(chunks)


async def drive(
    make: Callable[[int], Coroutine[Any, Any, bytes]], total: int, width: int
) -> list[bytes]:
    """``total`` requests, ``width`` at a time; the bodies in request order."""
    bodies: list[bytes] = [b""] * total
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < total:
            index = next_index
            next_index += 1
            bodies[index] = await make(index)

    await asyncio.gather(*(worker() for _ in range(width)))
    return bodies


# Under --callgrind, a call to getppid(2) before and after each measured stretch: callgrind
# (--dump-before=getppid) then writes the instructions counted since its last dump.
MARKS = False


def mark() -> None:
    if MARKS:
        os.getppid()


async def timed(
    make: Callable[[int], Coroutine[Any, Any, bytes]],
    total: int,
    width: int,
    into: dict[str, Any],
    key: str,
) -> list[bytes]:
    """Run ``total`` requests; ``into[key]`` gets µs of CPU per request, ``into[key + " sys"]``
    the kernel's share of it (what callgrind's instruction counts leave out)."""
    mark()
    before = resource.getrusage(resource.RUSAGE_SELF)
    bodies = await drive(make, total, width)
    after = resource.getrusage(resource.RUSAGE_SELF)
    mark()
    user = after.ru_utime - before.ru_utime
    system = after.ru_stime - before.ru_stime
    into[key] = (user + system) / total * 1e6
    into[key + " sys"] = system / total * 1e6
    return bodies


async def one_tree(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import wxlogin
    from wxlogin.api.app import create_app
    from wxlogin.config import Settings

    settings = Settings(
        apps=[{"appid": APPID, "secret": SECRET}],
        database_url=f"sqlite:///{tmp / 'wxlogin.db'}",
        data_dir=tmp / "data",
        wechat_base_url=f"http://127.0.0.1:{args.port}",
        public_url="http://bench",
        redis_url=None,
        login_rate_limit_per_ip=0,
        login_rate_limit_per_app=0,
    )
    n, width = args.requests, args.concurrency
    result: dict[str, Any] = {"wxlogin": wxlogin.__file__}
    app = create_app(settings)
    async with app.running():

        def login(code: bytes) -> Coroutine[Any, Any, bytes]:
            return call(app, "POST", "/auth/login", b'{"code":"%s"}' % code, None)

        # Warm-up: connections, statements, the stub's keep-alive, every route once.
        warm = await drive(lambda i: login(b"w%da" % i), 256, 16)
        tokens = [orjson.loads(body) for body in warm]
        await drive(
            lambda i: call(app, "GET", "/me", b"", tokens[i]["access_token"].encode()), 256, 16
        )
        await drive(lambda i: call(app, "GET", "/healthz", b"", None), 256, 16)
        if args.drop_prune_indexes:
            drop_prune_indexes(tmp / "wxlogin.db")
        # Logins: each user twice, "<n>a" first then "<n>b" returning (see upstream_stub.py).
        bodies = await timed(
            lambda i: login(b"u%d%s" % (i // 2, b"ab"[i % 2 : i % 2 + 1])),
            n,
            width,
            result,
            "login",
        )
        pairs = [orjson.loads(body) for body in bodies]
        # Refreshes: every refresh token once.
        await timed(
            lambda i: call(
                app,
                "POST",
                "/auth/refresh",
                orjson.dumps({"refresh_token": pairs[i]["refresh_token"]}),
                None,
            ),
            n,
            width,
            result,
            "refresh",
        )
        # GET /me with the 256 warmed-up tokens, each already verified once.
        await timed(
            lambda i: call(app, "GET", "/me", b"", tokens[i % 256]["access_token"].encode()),
            n,
            width,
            result,
            "me",
        )
        await timed(lambda i: call(app, "GET", "/healthz", b"", None), n, width, result, "healthz")
    result.update(await face_only(args.face_requests, tmp))
    return result


def drop_prune_indexes(database: Path) -> None:
    """Without the indexes migration 0006 added for the pruner (what they cost each write)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(database)) as db:
        names = [
            name
            for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
            if name.endswith(("sessions_expires_at", "tokens_session_id", "tokens_used_at"))
        ]
        if len(names) != 3:
            raise SystemExit(f"expected the pruner's 3 indexes, found {names}")
        for name in names:
            db.execute(f'DROP INDEX "{name}"')
        db.commit()


async def face_only(requests: int, tmp: Path) -> dict[str, float]:
    """The lean face alone, with http_face.py's stub service."""
    import http_face

    face = http_face.build_faces("HEAD", tmp / "face", lean_only=True)["lean (new)"]
    out: dict[str, float] = {}
    for label, key in FACE_PATHS.items():
        method, path, headers, body = http_face.requests()[label]
        scope = http_face.scope_of(method, path, headers, body)
        mark()  # the stretch holds one warm-up request more than it counts: 1 in ``requests``
        out[key] = await http_face.cpu_per_request(face, scope, body, requests)
        mark()
    return out


# --------------------------------------------------------------------------- the comparison


def start_stub() -> tuple[subprocess.Popen[bytes], int]:
    from _loadgen import free_port

    port = free_port()
    stub = subprocess.Popen(
        [sys.executable, str(HERE / "upstream_stub.py"), "--port", str(port), "--latency-ms", "0"],
        stdout=subprocess.PIPE,
    )
    assert stub.stdout is not None
    stub.stdout.readline()  # "stub listening on …"
    return stub, port


def run_child(
    tree: str, port: int, args: argparse.Namespace, prefix: list[str] | None = None
) -> dict[str, Any]:
    src, _, option = tree.partition("#")
    env = {**os.environ, "PYTHONPATH": f"{Path(src).resolve()}{os.pathsep}{HERE}"}
    command = [
        *(prefix or []),
        sys.executable,
        __file__,
        "--child",
        "--port",
        str(port),
        "--requests",
        str(args.requests),
        "--concurrency",
        str(args.concurrency),
        "--face-requests",
        str(args.face_requests),
    ]
    if prefix:
        command.append("--marks")
    if option == "no-prune-indexes":
        command.append("--drop-prune-indexes")
    elif option:
        raise SystemExit(f"unknown tree option {option!r}")
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = orjson.loads(out.strip().splitlines()[-1])
    return result


def instructions(args: argparse.Namespace) -> int:
    """Each tree once under callgrind: instructions per request, which a busy machine does
    not change (no hardware counters in this VM, so valgrind counts them)."""
    trees = dict(tree.split("=", 1) for tree in args.tree)
    keys = [*PATHS, *FACE_PATHS.values()]
    counts: dict[str, dict[str, float]] = {}
    stub, port = start_stub()
    try:
        for label, tree in trees.items():
            with tempfile.TemporaryDirectory() as directory:
                out = Path(directory) / "cg.out"
                prefix = [
                    "valgrind",
                    "--tool=callgrind",
                    "--dump-before=getppid",
                    f"--callgrind-out-file={out}",
                ]
                run_child(tree, port, args, prefix=prefix)
                parts = sorted(
                    Path(directory).glob("cg.out.*"), key=lambda p: int(p.suffix.lstrip("."))
                )
                totals = [_callgrind_total(part) for part in parts]
            # Dumps alternate: up to a stretch's start (untimed), then the stretch itself.
            if len(totals) != 2 * len(keys):
                raise SystemExit(f"{label}: {len(totals)} callgrind dumps, not {2 * len(keys)}")
            stretches = totals[1::2]
            sizes = [args.requests] * len(PATHS) + [args.face_requests] * len(FACE_PATHS)
            counts[label] = {
                key: stretch / size
                for key, stretch, size in zip(keys, stretches, sizes, strict=True)
            }
            print(label, " ".join(f"{k} {v:,.0f}" for k, v in counts[label].items()), flush=True)
    finally:
        stub.terminate()
        stub.wait()
    labels = list(trees)
    print("\ninstructions per request (callgrind, one run per tree)")
    print(f"{'path':<14}" + "".join(f"{label:>12}" for label in labels) + "   Δ vs " + labels[0])
    for key in keys:
        row = "".join(f"{counts[label][key]:>12,.0f}" for label in labels)
        row += "".join(
            f"{counts[label][key] - counts[labels[0]][key]:>+10,.0f}" for label in labels[1:]
        )
        print(f"{key:<14}{row}")
    if args.results:
        record = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "trees": trees,
            "requests": args.requests,
            "face_requests": args.face_requests,
            "instructions_per_request": counts,
        }
        args.results.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
    return 0


def _callgrind_total(path: Path) -> int:
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"{path}: no totals")


def compare(args: argparse.Namespace) -> int:
    trees = dict(tree.split("=", 1) for tree in args.tree)
    if len(trees) < 1:
        raise SystemExit("give at least one --tree LABEL=SRC")
    rounds: dict[str, list[dict[str, Any]]] = {label: [] for label in trees}
    loads = [os.getloadavg()]
    stub, port = start_stub()
    try:
        for index in range(args.rounds):
            order = list(trees.items())
            if index % 2:
                order.reverse()
            for label, src in order:
                result = run_child(src, port, args)
                rounds[label].append(result)
                cells = "  ".join(f"{key} {result[key]:.1f}" for key in PATHS)
                print(f"round {index + 1} {label:<8} {cells}", flush=True)
            loads.append(os.getloadavg())
    finally:
        stub.terminate()
        stub.wait()
    keys = [*PATHS, *(f"{path} sys" for path in PATHS), *FACE_PATHS.values()]
    summary = {
        label: {
            key: {
                "best": min(r[key] for r in results),
                "median": statistics.median(r[key] for r in results),
            }
            for key in keys
        }
        for label, results in rounds.items()
    }
    print(f"\nµs of CPU per request: best / median of {args.rounds} rounds")
    labels = list(trees)
    base, others = labels[0], labels[1:]
    # Against the first tree: the difference of the bests, of the medians, and the median of
    # each round's own difference (paired: a round's trees ran back to back, so a slow
    # stretch of the machine mostly hits both).
    header = "".join(f"{label:>17}" for label in labels)
    header += "".join(f"  {'Δ best / median / paired ' + label:>34}" for label in others)
    print(f"{'path':<14}{header}")
    for key in keys:
        row = "".join(
            f"{summary[label][key]['best']:>9.1f} /{summary[label][key]['median']:>6.1f}"
            for label in labels
        )
        for label in others:
            best = summary[label][key]["best"] - summary[base][key]["best"]
            median = summary[label][key]["median"] - summary[base][key]["median"]
            pairs = zip(rounds[base], rounds[label], strict=True)
            paired = statistics.median(y[key] - x[key] for x, y in pairs)
            row += f"{best:>+14.1f} /{median:>+7.1f} /{paired:>+7.1f}"
        print(f"{key:<14}{row}")
    print("load average (1 min) during the rounds:", " ".join(f"{load[0]:.2f}" for load in loads))
    if args.results:
        record = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "trees": trees,
            "requests": args.requests,
            "concurrency": args.concurrency,
            "face_requests": args.face_requests,
            "load_averages": loads,
            "rounds": rounds,
            "summary": summary,
        }
        args.results.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
        print(f"results: {args.results}")
    return 0


# --------------------------------------------------------------------------- the pieces alone


def per_call(body: Callable[[int], None], calls: int, runs: int) -> float:
    """Best of ``runs`` of ``body(calls)``, less the empty loop, in µs per call."""

    def empty(n: int) -> None:
        for _ in range(n):
            pass

    def best(fn: Callable[[int], None]) -> float:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            fn(calls)
            times.append(time.perf_counter() - started)
        return min(times)

    return max(best(body) - best(empty), 0.0) / calls * 1e6


def micro(args: argparse.Namespace) -> int:
    from wxlogin import metrics
    from wxlogin.api.body_deadline import BodyDeadlines
    from wxlogin.api.observe import request_id_of
    from wxlogin.logs import REQUEST_ID
    from wxlogin.tokens import SigningKey, SigningKeys

    calls, runs = args.micro_calls, args.micro_runs
    results: dict[str, float] = {}

    def measure(name: str, body: Callable[[int], None]) -> None:
        results[name] = per_call(body, calls, runs)
        print(f"{results[name]:7.3f} µs  {name}", flush=True)

    registry = metrics.Registry()
    counter = registry.counter("c_total", "c", ("outcome",))
    histogram = registry.histogram(
        "h_seconds", "h", ("api", "endpoint"), metrics.UPSTREAM_SECONDS.bounds
    )
    child = counter.labels("new_user")
    bound = histogram.labels("wechat", "/sns/jscode2session")

    def inc(n: int) -> None:
        for _ in range(n):
            child.inc()

    def labels_inc(n: int) -> None:
        for _ in range(n):
            counter.labels("new_user").inc()

    def observe(n: int) -> None:
        for _ in range(n):
            bound.observe(0.0213)

    def upstream(n: int) -> None:
        for _ in range(n):
            metrics.observe_upstream("wechat", "/sns/jscode2session", "0", 0.0213)

    measure("counter inc(), bound once (in memory)", inc)
    measure("counter labels(...).inc(), looked up per call", labels_inc)
    measure("histogram observe(), bound once", observe)
    measure("observe_upstream(): labels() twice, inc + observe (per WeChat call)", upstream)
    with tempfile.TemporaryDirectory() as shared:
        registry.share(Path(shared))  # what `wxlogin serve` does: the array in a mapped file
        measure("counter inc(), bound once (mapped file, serve)", inc)
        measure("histogram observe(), bound once (mapped file, serve)", observe)

    no_id = [
        (b"host", b"bench"),
        (b"content-type", b"application/json"),
        (b"content-length", b"35"),
    ]
    nginx = [*no_id, (b"x-request-id", b"6f1c0e5a9d3b47e2a1c4f0b8d7e6a5c3")]

    def generated(n: int) -> None:
        for _ in range(n):
            request_id_of(no_id)

    def forwarded(n: int) -> None:
        for _ in range(n):
            request_id_of(nginx)

    def contextvar(n: int) -> None:
        for _ in range(n):
            REQUEST_ID.reset(REQUEST_ID.set("6f1c0e5a9d3b-1f"))

    def decode_set_reset(n: int) -> None:
        for _ in range(n):
            token = REQUEST_ID.set(b"6f1c0e5a9d3b-1f".decode("ascii"))
            try:
                pass
            finally:
                REQUEST_ID.reset(token)

    measure("request id made (no X-Request-ID): header scan + counter + format", generated)
    measure("request id kept (nginx's 32 hex): header scan + regex fullmatch", forwarded)
    measure("REQUEST_ID.set + reset", contextvar)
    measure("request id as the app does it: decode, set, try/finally reset", decode_set_reset)

    keys = SigningKeys([SigningKey.generate(time.time() - 10)])
    now = time.time()

    def signing_key(n: int) -> None:
        for _ in range(n):
            keys.signing_key(now)

    measure("SigningKeys.signing_key(now): the activation-time check", signing_key)

    async def deadlines() -> None:
        watch = BodyDeadlines()

        def begin_end(n: int) -> None:
            for _ in range(n):
                reading = watch.begin()
                try:
                    pass
                except asyncio.CancelledError:
                    watch.cancelled(reading)
                    raise
                finally:
                    watch.end(reading)

        measure("body deadline begin + end, with its try/except/finally (uvloop)", begin_end)

    from _loadgen import run_loop

    run_loop(deadlines())
    if args.results:
        record = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "calls": calls,
            "runs": runs,
            "load": os.getloadavg(),
            "us_per_call": results,
        }
        args.results.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tree", action="append", default=[], help="LABEL=SRC (repeat)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=4000, help="per path per round (4000)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--face-requests", type=int, default=20000, help="face alone (20000)")
    parser.add_argument("--micro", action="store_true", help="time each piece alone")
    parser.add_argument("--micro-calls", type=int, default=200_000)
    parser.add_argument("--micro-runs", type=int, default=7)
    parser.add_argument("--results", type=Path, help="write the numbers to this JSON file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--drop-prune-indexes", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--marks", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--callgrind", action="store_true", help="count instructions (valgrind) instead of CPU"
    )
    args = parser.parse_args()
    if args.child:
        from _loadgen import run_loop

        global MARKS
        MARKS = args.marks
        with tempfile.TemporaryDirectory() as directory:
            result = run_loop(one_tree(args, Path(directory)))
        print(orjson.dumps(result).decode())
        return 0
    if args.micro:
        return micro(args)
    if args.callgrind:
        return instructions(args)
    with contextlib.suppress(KeyboardInterrupt):
        return compare(args)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())

"""wrk runs for the side-by-side bench: the Lua scripts in bench/lua/, and their RESULT line.

A script is _loadgen's thread prologue + ``lua/report.lua`` (tallies and the JSON RESULT line
printed by ``done()``) + one of ``lua/login.lua``, ``lua/refresh.lua``, ``lua/get.lua``.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _loadgen import WRK_THREAD_LINES_LUA

LUA_DIR = Path(__file__).resolve().parent / "lua"
THREADS = 2
REQUEST_TIMEOUT_S = 10


@dataclass
class WrkResult:
    """What one wrk run saw, straight from its RESULT line (latencies in ms)."""

    seconds: float
    requests: int
    statuses: dict[str, int]
    tally: dict[str, int]
    socket_errors: dict[str, int]
    latency_ms: dict[str, float]
    wrk_cpu_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("2"))

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not status.startswith("2"))


def wrk_path() -> str | None:
    return shutil.which("wrk")


def script(mode: str) -> str:
    parts = [WRK_THREAD_LINES_LUA, (LUA_DIR / "report.lua").read_text()]
    parts.append((LUA_DIR / f"{mode}.lua").read_text())
    return "\n".join(parts)


def run(
    mode: str,
    url: str,
    *,
    connections: int,
    seconds: int,
    args: list[str],
) -> WrkResult:
    """One wrk run of ``lua/<mode>.lua`` against ``url`` (``args`` go to the script's init)."""
    with tempfile.TemporaryDirectory(prefix="wxlogin-bench-wrk-") as tmp:
        path = Path(tmp, f"{mode}.lua")
        path.write_text(script(mode))
        cmd = [
            "wrk",
            f"-t{THREADS}",
            f"-c{connections}",
            f"-d{seconds}s",  # wrk takes whole seconds only
            "--timeout",
            f"{REQUEST_TIMEOUT_S}s",
            "-s",
            str(path),
            url,
            "--",
            *args,
        ]
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = proc.stdout + proc.stderr
    line = next((x for x in output.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{output[-3000:]}")
    data = json.loads(line[len("RESULT ") :])
    return WrkResult(
        seconds=data["duration_us"] / 1e6,
        requests=data["requests"],
        statuses=data["statuses"],
        tally=data["tally"],
        socket_errors={
            name: data[name]
            for name in ("connect_errors", "read_errors", "write_errors", "timeouts")
        },
        latency_ms={
            name: round(data[f"{name}_us"] / 1000.0, 2)
            for name in ("p50", "p90", "p99", "max", "mean")
        },
        wrk_cpu_s=(after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime),
    )

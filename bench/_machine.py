"""What the side-by-side bench ran on and with: machine, tool and package versions."""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from _services import REPO, TUTORIALS

PROJECT_PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "pyreqwest",
    "orjson",
    "msgspec",
    "redis",
    "cryptography",
)
BENCH_PACKAGES = (
    "flask",
    "werkzeug",
    "gunicorn",
    "wechatpy",
    "requests",
    "starlette",
    "uvicorn",
    "aiohttp",
    "orjson",
    "matplotlib",
)
NODE_PACKAGES = ("express", "request")


def _output(cmd: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
        return (proc.stdout + proc.stderr).strip()
    return ""


def machine() -> dict[str, Any]:
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu_model": cpu_model,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "load_average_at_start": os.getloadavg(),
    }


def _installed(names: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in names:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


def bench_venv_packages(bench_python: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    text = _output([str(bench_python), "-c", code, *BENCH_PACKAGES])
    with contextlib.suppress(ValueError):
        return dict(json.loads(text))
    return {}


def node_packages() -> dict[str, str]:
    found: dict[str, str] = {}
    for name in NODE_PACKAGES:
        manifest = TUTORIALS / "express_login" / "node_modules" / name / "package.json"
        with contextlib.suppress(OSError, ValueError, KeyError):
            found[name] = json.loads(manifest.read_text())["version"]
    return found


def versions(bench_python: Path) -> dict[str, Any]:
    commit = _output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = bool(_output(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"]))
    return {
        "wxlogin_commit": commit + ("+uncommitted changes in src/" if dirty else ""),
        "python": platform.python_version(),
        "node": _output(["node", "--version"]),
        "wrk": (_output(["wrk", "--version"]).splitlines() or [""])[0],
        "project_venv": _installed(PROJECT_PACKAGES),
        "bench_venv": bench_venv_packages(bench_python),
        "node_modules": node_packages(),
    }

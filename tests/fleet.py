"""Several ``wxlogin serve`` processes and one ``wxlogin simulate``, as an operator runs them.

Each service is a process of its own (``serve --workers 1`` on its own port, its own process
group), as on separate machines: they share only the database and Redis named in the
environment. Processes are stopped by their id, never by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

from tests.support import free_port, spawn, wait_until

APPID = "wx1234567890abcdef"
SECRET = "fleet-test-secret-0123456789abcd"
ENCRYPTION_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="


def fleet_env(
    tmp_path: Path, database_url: str, redis_url: str | None, **extra: str
) -> dict[str, str]:
    """The environment every process of the fleet gets (no ``WXLOGIN_*`` from outside)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WXLOGIN_")}
    env |= {
        "WXLOGIN_APPS": f"{APPID}:{SECRET}",
        "WXLOGIN_DATA_DIR": str(tmp_path / "data"),
        "WXLOGIN_DATABASE_URL": database_url,
        "WXLOGIN_SESSION_KEY_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "WXLOGIN_LOGIN_RATE_LIMIT_PER_IP": "0",
        "WXLOGIN_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    if redis_url is not None:
        env["WXLOGIN_REDIS_URL"] = redis_url
    return env | extra


@dataclass
class Fleet:
    env: dict[str, str]
    directory: Path
    sim_url: str = ""
    apis: list[str] = field(default_factory=list)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def _start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        proc = spawn(
            [sys.executable, "-m", "wxlogin.cli", *args],
            self.directory / f"{name}.log",
            env=self.env,
            cwd=self.directory,
            start_new_session=True,  # a group of its own: a kill reaches every process of it
        )
        self.procs[name] = proc
        return proc

    def start_simulator(self, *settings: str) -> None:
        port = free_port()
        self.sim_url = f"http://127.0.0.1:{port}"
        self.env["WXLOGIN_WECHAT_BASE_URL"] = self.sim_url
        args = ["simulate", "--port", str(port), "--app", f"{APPID}:{SECRET}"]
        for setting in settings:
            args += ["--set", setting]
        self._start("sim", args)
        wait_until(
            lambda: httpx2.get(f"{self.sim_url}/__sim/health").is_success,
            "the simulator",
            ignore=(httpx2.TransportError,),
        )

    def start_services(self, count: int) -> None:
        for n in range(count):
            port = free_port()
            self.apis.append(f"http://127.0.0.1:{port}")
            self._start(f"api{n}", ["serve", "--port", str(port)])
        for api in self.apis:
            wait_until(
                lambda api=api: httpx2.get(f"{api}/readyz").status_code == 200,  # type: ignore[misc]
                f"wxlogin serve at {api}",
                timeout=60,
                ignore=(httpx2.TransportError,),
            )

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)

    def alive(self, name: str) -> bool:
        return self.procs[name].poll() is None

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM every process group, then wait (20 s each, then SIGKILL)."""
        for name in self.procs:
            self.kill(name, signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill(name, signal.SIGKILL)
                proc.wait(timeout=20)


@contextlib.contextmanager
def fleet(env: dict[str, str], directory: Path) -> Iterator[Fleet]:
    running = Fleet(env, directory)
    try:
        yield running
    finally:
        running.stop()

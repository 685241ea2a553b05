"""`wxlogin serve --workers 2` on PostgreSQL, as real processes: a scrape answered by either
worker counts the logins both served, and still does after one worker is killed; the log is
JSON lines with the request id of the request that logged them."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import support
from tests.support import free_port, postgres_schema, spawn

pytestmark = pytest.mark.socket

APPID = "wx1234567890abcdef"
SECRET = "metrics-test-secret-0123456789"


def wait_until(check: Callable[[], bool], what: str) -> None:
    support.wait_until(check, what, timeout=30, ignore=(httpx2.TransportError,))


class Served:
    def __init__(self, sim: str, api: str, metrics_dir: Path, log: Path) -> None:
        self.sim, self.api, self.metrics_dir, self.log = sim, api, metrics_dir, log

    def login(self, user: str) -> int:
        code = httpx2.post(f"{self.sim}/__sim/login", json={"appid": APPID, "user": user})
        # A new connection per call: the kernel hands each to whichever worker accepts it.
        return httpx2.post(f"{self.api}/auth/login", json={"code": code.json()["code"]}).status_code

    def scrape(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        response = httpx2.get(f"{self.api}/metrics")
        assert response.status_code == 200, response.text
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples
        }

    def logins_per_process(self) -> dict[str, float]:
        """New-user logins each worker counted, read from its own files (by file stem)."""
        counted = {}
        for keys in self.metrics_dir.glob("*.keys"):
            values = keys.with_suffix(".values").read_bytes()
            for line in keys.read_text().splitlines():
                slot, name, labels = line.split("\t")
                if name == "wxlogin_logins_total" and json.loads(labels) == ["new_user"]:
                    counted[keys.stem] = struct.unpack_from("d", values, int(slot) * 8)[0]
        return counted


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with postgres_schema() as database_url:
        sim_port, api_port = free_port(), free_port()
        env = support.clean_env(
            WXLOGIN_APPS=f"{APPID}:{SECRET}",
            WXLOGIN_DATA_DIR=str(tmp_path / "data"),
            WXLOGIN_DATABASE_URL=database_url,
            WXLOGIN_WECHAT_BASE_URL=f"http://127.0.0.1:{sim_port}",
            WXLOGIN_SESSION_KEY_ENCRYPTION_KEY="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            WXLOGIN_METRICS_PUBLIC="true",
            WXLOGIN_METRICS_DIR=str(tmp_path / "metrics"),
            WXLOGIN_LOG_LEVEL="DEBUG",
            PYTHONUNBUFFERED="1",
        )
        log = tmp_path / "serve.log"
        command = [sys.executable, "-m", "wxlogin.cli"]
        procs = [
            subprocess.Popen(
                [*command, "simulate", "--port", str(sim_port), "--app", f"{APPID}:{SECRET}"],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
            spawn(
                [*command, "serve", "--port", str(api_port), "--workers", "2"],
                log,
                env=env,
                cwd=tmp_path,
            ),
        ]
        sim, api = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{api_port}"
        try:
            wait_until(lambda: httpx2.get(f"{sim}/__sim/health").status_code == 200, "simulator")
            wait_until(lambda: httpx2.get(f"{api}/readyz").status_code == 200, "wxlogin serve")
            yield Served(sim, api, tmp_path / "metrics", log)
        finally:
            support.stop(procs)


def test_a_scrape_adds_up_every_worker(served: Served) -> None:
    # Log in until both workers have served some (each new connection goes to either).
    done = 0
    while len([n for n in served.logins_per_process().values() if n > 0]) < 2:
        assert done < 300, "one worker took every connection"
        assert served.login(f"user-{done}") == 200
        done += 1
    invalid = httpx2.post(f"{served.api}/auth/login", json={"code": "not-a-real-code"})
    assert invalid.status_code == 400
    # Every scrape, whichever worker answers it, counts all of them.
    for _ in range(8):
        samples = served.scrape()
        assert samples[("wxlogin_logins_total", frozenset({("outcome", "new_user")}))] == done
        assert samples[("wxlogin_logins_total", frozenset({("outcome", "invalid_code")}))] == 1
        assert samples[("wxlogin_metrics_processes", frozenset())] == 2
        assert samples[("wxlogin_active_sessions", frozenset())] == done

    # A worker killed outright: its counts stay in its file, so the sums never go back.
    victim = int(next(iter(served.logins_per_process())).split("-")[0])
    os.kill(victim, signal.SIGKILL)
    assert served.login("after-the-kill") == 200
    samples = served.scrape()
    assert samples[("wxlogin_logins_total", frozenset({("outcome", "new_user")}))] == done + 1


def test_the_log_is_json_lines_with_request_ids(served: Served) -> None:
    failing = {"path": "/sns/jscode2session", "drop": True}
    assert httpx2.post(f"{served.sim}/__sim/faults", json=failing).status_code == 201
    code = httpx2.post(f"{served.sim}/__sim/login", json={"appid": APPID, "user": "u"})
    answer = httpx2.post(
        f"{served.api}/auth/login",
        json={"code": code.json()["code"]},
        headers={"X-Request-ID": "probe-1234"},
    )
    assert answer.status_code >= 500 and answer.headers["x-request-id"] == "probe-1234"

    # Logged before the answer was sent, by the worker that answered.
    entries = [json.loads(line) for line in served.log.read_text().splitlines() if line]
    assert all({"time", "level", "logger", "message", "pid"} <= set(e) for e in entries)
    tagged = [e for e in entries if e.get("request_id") == "probe-1234"]
    assert any(e["level"] == "WARNING" and "/auth/login" in e["message"] for e in tagged)
    assert any(e["logger"].startswith("uvicorn") for e in entries)  # uvicorn's own lines too
    assert code.json()["code"] not in served.log.read_text()

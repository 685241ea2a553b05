"""Run the test suite the way `make test` promises.

1. The whole suite on the embedded defaults: SQLite + in-memory cache.
2. The storage, cache, service and API suites, and the CLI tests of the commands that work on
   the suite's database, again on PostgreSQL + Redis, when both answer (URLs from
   WXLOGIN_TEST_DATABASE_URL / WXLOGIN_TEST_REDIS_URL, or the local defaults).
   Under CI (CI=true) both must be reachable: a green run that silently skipped them would
   be a lie.

It ends with one line counting every test across both runs, and says which backends ran.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
BACKEND_SUITES = (
    "tests/store",
    "tests/cache",
    "tests/service",
    "tests/api",
    # wxlogin db / keys / messages on the suite's database (tests/cli's other tests start
    # whole processes and choose their backends themselves)
    "tests/cli/test_db_and_keys.py",
    "tests/cli/test_messages_list.py",
)
BACKEND_ENV = ("WXLOGIN_TEST_DATABASE_URL", "WXLOGIN_TEST_REDIS_URL")


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[str] = field(default_factory=list)

    def add(self, other: Counts) -> None:
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        self.failures += other.failures


def reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def run_pytest(label: str, args: list[str], env: dict[str, str]) -> tuple[int, Counts]:
    print(f"\n=== {label} ===", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", f"--junitxml={report}", *args]
        status = subprocess.call(cmd, cwd=ROOT, env=env)
        counts = Counts()
        if report.exists():
            for suite in ET.parse(report).getroot().iter("testsuite"):
                total = int(suite.get("tests", 0))
                failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
                skipped = int(suite.get("skipped", 0))
                counts.add(Counts(total - failed - skipped, failed, skipped))
            for case in ET.parse(report).getroot().iter("testcase"):
                if case.find("failure") is not None or case.find("error") is not None:
                    counts.failures.append(f"{label}: {case.get('classname')}::{case.get('name')}")
    if status == 5:  # pytest: no tests collected — never a pass
        print(f"{label}: no tests were collected", flush=True)
    return status, counts


def main() -> int:
    extra = sys.argv[1:]
    base_env = {k: v for k, v in os.environ.items() if k not in BACKEND_ENV}
    total = Counts()
    ran: list[str] = []

    status, counts = run_pytest("whole suite on SQLite + memory cache", extra, base_env)
    total.add(counts)
    failures = int(status != 0)
    ran.append(f"SQLite + memory: {'ok' if status == 0 else 'FAILED'}")

    pg = os.environ.get("WXLOGIN_TEST_DATABASE_URL", DEFAULT_PG)
    redis = os.environ.get("WXLOGIN_TEST_REDIS_URL", DEFAULT_REDIS)
    suites = [s for s in BACKEND_SUITES if (ROOT / s).exists()]
    if reachable(pg, 5432) and reachable(redis, 6379):
        env = base_env | {"WXLOGIN_TEST_DATABASE_URL": pg, "WXLOGIN_TEST_REDIS_URL": redis}
        label = "storage, cache, service, API and database CLI suites on PostgreSQL + Redis"
        label += f" ({', '.join(suites)})"
        status, counts = run_pytest(label, [*suites, *extra], env)
        total.add(counts)
        failures += int(status != 0)
        ran.append(f"PostgreSQL + Redis: {'ok' if status == 0 else 'FAILED'}")
    else:
        ran.append("PostgreSQL + Redis: NOT RUN (not reachable)")
        if os.environ.get("CI"):
            print("CI requires PostgreSQL and Redis; start them and run again.", file=sys.stderr)
            failures += 1

    print("\nbackends: " + "; ".join(ran))
    for failure in total.failures:
        print(f"FAILED {failure}")
    print(f"pytest: {total.passed} passed, {total.failed} failed, {total.skipped} skipped")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

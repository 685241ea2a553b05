"""The runs of one contender in the side-by-side bench, and the CPU meter around each run.

A contender is started, warmed up (unmeasured), then measured: a login run per connection
count and, for wxlogin, refresh, GET /me and GET /healthz runs fed with the tokens the login
runs harvested. Between runs the server is left to go idle (``settle``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import _report
import _wrk
from _procstat import cpu_delta, machine_busy_s, peer_server_pids, pids_cpu, tree_cpu
from _services import APPID, Contender, Context, Service

PG_PORT = 5432
HARVEST_CAP_PER_THREAD = 1024
SETTLE_CAP_S = 15.0
ACCESS_TOKENS = 512  # distinct Bearer tokens (logged-in users) GET /me cycles through
REFRESH_POOL_PER_CONNECTION = 4  # refresh tokens seeded per connection (each run its own)


# --------------------------------------------------------------------------- one run


class Meter:
    """CPU of the server, its PostgreSQL backends, the stub and the machine over one run."""

    def __init__(self, service: Service, stub_pid: int) -> None:
        self.service, self.stub_pid = service, stub_pid

    def _db_pids(self) -> list[int]:
        if not self.service.uses_postgres:
            return []
        return peer_server_pids(self.service.proc.pid, PG_PORT, "postgres")

    def __enter__(self) -> Meter:
        self.db_pids = self._db_pids()
        self.before = (
            tree_cpu(self.service.proc.pid),
            pids_cpu(self.db_pids),
            pids_cpu([self.stub_pid]),
            machine_busy_s(),
        )
        return self

    def __exit__(self, *_: object) -> None:
        db_pids = sorted(set(self.db_pids) | set(self._db_pids()))
        svc_before, db_before, stub_before, busy_before = self.before
        svc_after = tree_cpu(self.service.proc.pid)
        self.service_user, self.service_sys = cpu_delta(svc_before, svc_after)
        self.service_processes = len(svc_after.ticks)
        self.db_s = sum(cpu_delta(db_before, pids_cpu(db_pids)))
        self.db_backends = len(db_pids)
        self.stub_s = sum(cpu_delta(stub_before, pids_cpu([self.stub_pid])))
        self.busy_s = machine_busy_s() - busy_before


def measured_run(
    service: Service,
    stub_pid: int,
    mode: str,
    path: str,
    connections: int,
    seconds: int,
    args: list[str],
    ok_tally: str | None = None,
) -> dict[str, Any]:
    """One measured wrk run. Successes are the 2xx answers, or the script's ``ok_tally``."""
    with Meter(service, stub_pid) as meter:
        result = _wrk.run(
            mode, service.url + path, connections=connections, seconds=seconds, args=args
        )
    service_s = meter.service_user + meter.service_sys
    ok = result.ok if ok_tally is None else result.tally.get(ok_tally, 0)
    row: dict[str, Any] = {
        "connections": connections,
        "seconds": round(result.seconds, 3),
        "requests": result.requests,
        "ok": ok,
        "non_2xx": result.non_2xx,
        "statuses": result.statuses,
        "socket_errors": result.socket_errors,
        "rate": round(ok / result.seconds, 1) if result.seconds else 0.0,
        "latency_ms": result.latency_ms,
        "tally": result.tally,
        "service_cpu_s": round(service_s, 2),
        "service_sys_s": round(meter.service_sys, 2),
        "service_processes": meter.service_processes,
        "service_cpu_ms_per_ok": round(service_s / ok * 1000, 3) if ok else None,
        "stub_cpu_s": round(meter.stub_s, 2),
        "wrk_cpu_s": round(result.wrk_cpu_s, 2),
        "machine_busy_cores": round(meter.busy_s / result.seconds, 2) if result.seconds else 0,
        "other_cpu_s": round(
            max(0.0, meter.busy_s - service_s - meter.db_s - meter.stub_s - result.wrk_cpu_s), 2
        ),
    }
    if service.uses_postgres:
        row["postgres_backends"] = meter.db_backends
        row["postgres_cpu_s"] = round(meter.db_s, 2)
        row["postgres_cpu_ms_per_ok"] = round(meter.db_s / ok * 1000, 3) if ok else None
    return row


def settle(service: Service) -> None:
    """Wait until the server is idle: requests wrk abandoned at its deadline may still run."""
    deadline = time.monotonic() + SETTLE_CAP_S
    while time.monotonic() < deadline:
        before = tree_cpu(service.proc.pid)
        time.sleep(0.3)
        if sum(cpu_delta(before, tree_cpu(service.proc.pid))) < 0.03:
            return


# --------------------------------------------------------------------------- one contender


class Runner:
    """Runs every measurement of each contender; collects the errors that make one unusable."""

    def __init__(self, args: argparse.Namespace, ctx: Context, stub_pid: int) -> None:
        self.args, self.ctx, self.stub_pid = args, ctx, stub_pid
        self.errors: list[str] = []
        self.run_no = 0

    def tag(self) -> str:
        self.run_no += 1
        return f"r{self.run_no}{os.urandom(3).hex()}"

    def login_args(self, contender: Contender, connections: int, harvest: str) -> list[str]:
        lag = max(1, connections // _wrk.THREADS)  # a user returns ~2 rounds of its thread later
        appid = APPID if contender.sends_appid else ""
        cap = str(HARVEST_CAP_PER_THREAD)
        return [self.tag(), str(lag), contender.login_path, appid, harvest, cap]

    def contender(self, contender: Contender) -> dict[str, Any]:
        out: dict[str, Any] = {"label": contender.label}
        print(f"\n== {contender.label}", flush=True)
        with ExitStack() as stack:
            try:
                service = contender.start(self.ctx, stack)
            except Exception as exc:
                self.error(f"{contender.label}: did not start: {exc}")
                out["error"] = f"did not start: {exc}"
                return out
            try:
                self.logins(contender, service, out)
                if contender.wxlogin:
                    self.wxlogin_extras(contender, service, out)
            except Exception as exc:  # a crashed server or wrk: report it, go on to the next
                self.error(f"{contender.label}: {exc}")
                out["error"] = str(exc)
        return out

    def logins(self, contender: Contender, service: Service, out: dict[str, Any]) -> None:
        warm = self.login_args(contender, 64, "")
        _wrk.run(
            "login", service.url + contender.login_path, connections=64,
            seconds=self.args.warmup_seconds, args=warm,
        )  # fmt: skip
        settle(service)
        out["login"] = {}
        for connections in self.args.connections:
            # wxlogin's answers carry tokens for the later runs, and whether the user was new.
            tokens = self.ctx.tmp / f"tokens-{contender.key}-{connections}"
            harvest = str(tokens) if contender.wxlogin else ""
            counted = service.counts() if service.counts else None
            row = measured_run(
                service, self.stub_pid, "login", contender.login_path, connections,
                self.args.seconds, self.login_args(contender, connections, harvest),
            )  # fmt: skip
            settle(service)
            if counted is not None and service.counts is not None:
                self.check_stored(contender, row, counted, service.counts())
            self.check(contender, "login", row)
            out["login"][str(connections)] = row
            print(_report.run_line("login", row), flush=True)

    def check_stored(
        self,
        contender: Contender,
        row: dict[str, Any],
        before: tuple[int, int],
        after: tuple[int, int],
    ) -> None:
        """Every answered login must be a stored session; every new user a stored user.

        A few more may be stored than answered: wrk stops at its deadline without waiting for
        the requests in flight, which the server still completes.
        """
        users, sessions = after[0] - before[0], after[1] - before[1]
        new_users = row["tally"].get("new_user", 0)
        row["stored"] = {"users": users, "sessions": sessions, "answered_new_user": new_users}
        if sessions < row["ok"] or users < new_users:
            self.error(
                f"{contender.label}: {row['ok']} logins answered 2xx ({new_users} new users) "
                f"but only {sessions} sessions and {users} users stored"
            )

    def wxlogin_extras(self, contender: Contender, service: Service, out: dict[str, Any]) -> None:
        """GET /healthz, GET /me and POST /auth/refresh, fed by the login runs' tokens."""
        tmp = self.ctx.tmp
        refresh = _tokens(tmp.glob(f"tokens-{contender.key}-*.refresh"))
        access = _tokens(tmp.glob(f"tokens-{contender.key}-*.access"))[:ACCESS_TOKENS]
        access_file = tmp / f"access-{contender.key}"
        access_file.write_text("".join(f"{token}\n" for token in access))
        threads = str(_wrk.THREADS)
        if access:
            # Unmeasured: every token's first use verifies its signature; the runs then measure
            # the steady state of logged-in users (verified-token cache warm, user read each time).
            me_args = ["/me", str(access_file), threads]
            _wrk.run("get", service.url + "/me", connections=64, seconds=1, args=me_args)
            settle(service)
        for name in ("healthz", "me", "refresh"):
            out[name] = {}
        for connections in self.args.connections:
            runs = [("healthz", "get", "/healthz", ["/healthz", "", threads])]
            if len(access) >= _wrk.THREADS:
                runs.append(("me", "get", "/me", ["/me", str(access_file), threads]))
            else:
                self.error(f"{contender.label}: no access tokens from the logins for GET /me")
            # Disjoint tokens per run: a refresh token works once.
            share = refresh[: REFRESH_POOL_PER_CONNECTION * connections]
            refresh = refresh[len(share) :]
            if len(share) >= connections:
                pool = tmp / f"refresh-{contender.key}-{connections}"
                pool.write_text("".join(f"{token}\n" for token in share))
                runs.append(("refresh", "refresh", "/auth/refresh", [str(pool), threads]))
            else:
                self.error(
                    f"{contender.label}: {len(share)} refresh tokens left for "
                    f"{connections} connections; refresh run skipped"
                )
            for name, mode, path, script_args in runs:
                # A refresh counts once its token rotated; a starved connection sent /healthz.
                ok_tally = "rotated" if name == "refresh" else None
                row = measured_run(
                    service, self.stub_pid, mode, path, connections, self.args.extra_seconds,
                    script_args, ok_tally,
                )  # fmt: skip
                row["tokens"] = {"me": len(access), "refresh": len(share)}.get(name, 0)
                if row["tally"].get("starved"):
                    self.error(f"{contender.label}: refresh pool ran dry ({row['tally']})")
                settle(service)
                self.check(contender, name, row)
                out[name][str(connections)] = row
                print(_report.run_line(name, row), flush=True)

    def check(self, contender: Contender, name: str, row: dict[str, Any]) -> None:
        failures = {k: v for k, v in row["socket_errors"].items() if v}
        if row["non_2xx"] or failures:
            bad = {k: v for k, v in row["statuses"].items() if not k.startswith("2")}
            self.error(
                f"{contender.label}: {name} at {row['connections']} connections: "
                f"non-2xx {bad or 0}, socket errors {failures or 0}"
            )
        if not row["ok"]:
            self.error(f"{contender.label}: {name} at {row['connections']}: nothing succeeded")

    def error(self, message: str) -> None:
        self.errors.append(message)
        print(f"!! ERROR: {message}", file=sys.stderr, flush=True)


def _tokens(paths: Any) -> list[str]:
    tokens: list[str] = []
    for path in sorted(paths):
        tokens += [line for line in Path(path).read_text().splitlines() if line]
    return tokens

"""`wxlogin serve --workers 2` and the admin commands, as real processes on 127.0.0.1.

Two workers share PostgreSQL and nothing else (no Redis): a logout or an admin revocation
must still reach both, through the database poller. On SQLite, several workers are refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2
import pytest

from tests import support
from tests.support import free_port, postgres_schema, spawn

pytestmark = pytest.mark.socket

APPID = "wx1234567890abcdef"
SECRET = "serve-test-secret-0123456789"


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    support.wait_until(check, what, timeout=timeout, ignore=(httpx2.TransportError,))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WXLOGIN_")}
    return clean | {
        "WXLOGIN_APPS": f"{APPID}:{SECRET}",
        "WXLOGIN_DATA_DIR": str(tmp_path / "data"),
        "WXLOGIN_SESSION_KEY_ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "PYTHONUNBUFFERED": "1",
    }


def wxlogin(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return support.run_wxlogin(*args, env=env, cwd=cwd)


@pytest.fixture
def running(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, str]]:
    with postgres_schema() as database_url:
        env["WXLOGIN_DATABASE_URL"] = database_url
        yield from _serve_two_workers(env, tmp_path)


def _serve_two_workers(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, str]]:
    sim_port, api_port = free_port(), free_port()
    env["WXLOGIN_WECHAT_BASE_URL"] = f"http://127.0.0.1:{sim_port}"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wxlogin.cli",
                "simulate",
                "--port",
                str(sim_port),
                "--app",
                f"{APPID}:{SECRET}",
            ],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        spawn(
            [
                sys.executable,
                "-m",
                "wxlogin.cli",
                "serve",
                "--port",
                str(api_port),
                "--workers",
                "2",
            ],
            tmp_path / "serve.log",
            env=env,
            cwd=tmp_path,
        ),
    ]
    sim, api = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{api_port}"
    try:
        wait_until(lambda: httpx2.get(f"{sim}/__sim/health").status_code == 200, "simulator")
        wait_until(lambda: httpx2.get(f"{api}/readyz").status_code == 200, "wxlogin serve")
        yield sim, api
    finally:
        support.stop(procs)


def login(sim: str, api: str, user: str) -> dict[str, object]:
    code = httpx2.post(f"{sim}/__sim/login", json={"appid": APPID, "user": user}).json()["code"]
    response = httpx2.post(f"{api}/auth/login", json={"code": code})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def refused_everywhere(api: str, token: str) -> bool:
    # Fresh connections are spread over both workers; all of them must refuse.
    codes = {
        httpx2.get(f"{api}/me", headers={"Authorization": f"Bearer {token}"}).status_code
        for _ in range(20)
    }
    return codes == {401}


def test_two_workers_share_logins_and_logouts(
    running: tuple[str, str], env: dict[str, str], tmp_path: Path
) -> None:
    sim, api = running
    bodies = [login(sim, api, f"user-{i}") for i in range(10)]
    assert len({b["user"]["id"] for b in bodies}) == 10  # type: ignore[index]
    token = str(bodies[0]["access_token"])
    assert (
        httpx2.post(f"{api}/auth/logout", headers={"Authorization": f"Bearer {token}"}).status_code
        == 204
    )
    wait_until(lambda: refused_everywhere(api, token), "logout to reach both workers", 15)

    # Admin commands on the same data.
    listing = wxlogin("users", "list", env=env, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert len(listing.stdout.strip().splitlines()) == 1 + 10  # header + users
    victim = bodies[1]
    user_id = str(victim["user"]["id"])  # type: ignore[index]
    shown = wxlogin("users", "show", user_id, env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["identities"][0]["appid"] == APPID
    revoked = wxlogin("sessions", "revoke", "--user", user_id, env=env, cwd=tmp_path)
    assert revoked.returncode == 0, revoked.stderr
    assert f"revoked 1 session(s) of user {user_id}" in revoked.stdout
    wait_until(
        lambda: refused_everywhere(api, str(victim["access_token"])),
        "the admin revocation to reach both workers",
        15,
    )
    refreshed = httpx2.post(f"{api}/auth/refresh", json={"refresh_token": victim["refresh_token"]})
    assert refreshed.json()["error"]["code"] == "session_revoked"
    # Other users are untouched.
    other = str(bodies[2]["access_token"])
    assert httpx2.get(f"{api}/me", headers={"Authorization": f"Bearer {other}"}).is_success
    log = (tmp_path / "serve.log").read_text()
    assert SECRET not in log
    assert "Traceback" not in log


def test_admin_commands_explain_mistakes(env: dict[str, str], tmp_path: Path) -> None:
    unmigrated = wxlogin("users", "list", env=env, cwd=tmp_path)
    assert unmigrated.returncode == 2
    assert "run `wxlogin db upgrade`" in unmigrated.stderr
    assert "Traceback" not in unmigrated.stderr
    upgraded = wxlogin("db", "upgrade", env=env, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    missing = wxlogin("users", "show", "nobody", env=env, cwd=tmp_path)
    assert missing.returncode == 1
    assert "no user 'nobody'" in missing.stderr
    assert "Traceback" not in missing.stderr
    revoke = wxlogin("sessions", "revoke", "--user", "nobody", env=env, cwd=tmp_path)
    assert revoke.returncode == 1
    assert "no user 'nobody'" in revoke.stderr
    empty = wxlogin("users", "list", env=env, cwd=tmp_path)
    assert (empty.returncode, empty.stdout.strip()) == (0, "no users yet")


def test_serve_refuses_to_start_without_apps(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WXLOGIN_")}
    done = wxlogin("serve", "--port", str(free_port()), env=clean, cwd=tmp_path)
    assert done.returncode == 2
    assert "WXLOGIN_APPS" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_refuses_several_workers_on_sqlite(env: dict[str, str], tmp_path: Path) -> None:
    done = wxlogin("serve", "--port", str(free_port()), "--workers", "2", env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert "--workers 2 needs PostgreSQL" in done.stderr
    assert "WXLOGIN_DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr

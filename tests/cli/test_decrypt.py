"""`wxlogin decrypt`, run as a user runs it: a real process, real exit status."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

from tests import vectors as v
from wxlogin.crypto import encrypt_data


def wxlogin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wxlogin.cli", *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
        env={**os.environ, "LC_ALL": "C", "PYTHONIOENCODING": "ascii"},
    )


def test_round_trips_what_encrypt_data_produced() -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    user = {"nickName": "小明", "gender": 1}
    encrypted, iv = encrypt_data(key, user, appid="wxabc", timestamp=1700000000)
    done = wxlogin("decrypt", "--appid", "wxabc", "--session-key", key, "--iv", iv, encrypted)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        **user,
        "watermark": {"timestamp": 1700000000, "appid": "wxabc"},
    }
    assert "小明" in done.stdout  # UTF-8 text, not \\u escapes, even with an ASCII locale
    assert "\n  " in done.stdout  # pretty-printed


def test_decrypts_wechats_published_example() -> None:
    done = wxlogin(
        "decrypt",
        "--appid",
        v.DEMO_APPID,
        "--session-key",
        v.DEMO_SESSION_KEY,
        "--iv",
        v.DEMO_IV,
        v.DEMO_ENCRYPTED_DATA,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["openId"] == v.DEMO_OPENID


def test_wrong_session_key_prints_one_line_cause_and_exits_1() -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    wrong = base64.b64encode(os.urandom(16)).decode()
    encrypted, iv = encrypt_data(key, {"a": 1}, appid="wxabc")
    done = wxlogin("decrypt", "--appid", "wxabc", "--session-key", wrong, "--iv", iv, encrypted)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "session_key is probably stale" in lines[0]
    assert "was wx.login called after the data was fetched?" in lines[0]
    assert "Traceback" not in done.stderr
    assert wrong not in done.stderr


def test_other_failures_name_their_cause() -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    encrypted, iv = encrypt_data(key, {"a": 1}, appid="wxother")
    mismatch = wxlogin("decrypt", "--appid", "wxabc", "--session-key", key, "--iv", iv, encrypted)
    assert mismatch.returncode == 1
    assert "another app" in mismatch.stderr
    bad_iv = wxlogin("decrypt", "--appid", "wxabc", "--session-key", key, "--iv", "x", encrypted)
    assert bad_iv.returncode == 1
    assert "iv" in bad_iv.stderr and "Traceback" not in bad_iv.stderr


def test_version() -> None:
    done = wxlogin("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("wxlogin ")

"""The mini-program half holds no AppSecret and never names WeChat's server API.

A mini program is shipped to every phone: whatever is in it is public. WeChat forbids its
server API host as a request domain precisely so that the AppSecret stays on a server. This
scans every file of the SDK (source, the committed build, tests) and of the example mini
programs for that host and for configuration keys that hold secrets.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCANNED = (ROOT / "clients", ROOT / "examples" / "miniprogram", ROOT / "examples" / "uniapp")
# Installed or generated, not ours: npm's trees and the builds DevTools / uni-app make. (The
# SDK's committed build, miniprogram_dist/, is ours and is scanned.)
SKIPPED_DIRS = {"node_modules", "miniprogram_npm", "unpackage", "dist", ".git"}

WECHAT_API_HOST = re.compile(r"api(?:\.mch)?\.weixin\.qq\.com", re.IGNORECASE)
# A secret-named key being given a value: `app_secret: "..."`, `"appSecret": "..."`,
# `APPSECRET=...`, `secret = '...'`, `session_key: ...`, `mchKey`, `apiV3Key`, `private_key`.
SECRET_KEY = re.compile(
    r"""(?<![A-Za-z0-9])["']?"""
    r"(app[_-]?secret|secret|secret[_-]?key|session[_-]?key|mch[_-]?key|api[_-]?v3[_-]?key"
    r"|private[_-]?key)"
    r"""["']?\s*[:=]""",
    re.IGNORECASE,
)


def scanned_files() -> list[Path]:
    files: list[Path] = []
    for top in SCANNED:
        for path in sorted(top.rglob("*")):
            inside = set(path.relative_to(top).parts[:-1])
            if path.is_file() and not inside & SKIPPED_DIRS:
                files.append(path)
    return files


def text_of(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace")


def test_the_scan_sees_the_sdk_its_build_and_both_examples() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in scanned_files()}
    for expected in (
        "clients/miniprogram/src/auth.mjs",
        "clients/miniprogram/miniprogram_dist/auth.js",
        "clients/miniprogram/index.d.ts",
        "examples/miniprogram/miniprogram/app.js",
        "examples/miniprogram/miniprogram/config.js",
        "examples/miniprogram/project.config.json",
        "examples/uniapp/src/auth.js",
        "examples/uniapp/src/pages/index/index.vue",
    ):
        assert expected in names
    assert not any("/node_modules/" in name for name in names)


@pytest.mark.parametrize(
    ("text", "host", "key"),
    [
        ("url: 'https://api.weixin.qq.com/sns/jscode2session'", True, False),
        ("POST https://API.MCH.WEIXIN.QQ.COM/v3/pay", True, False),
        ('{"appid": "wx0123456789abcdef", "appsecret": "0123"}', False, True),
        ("const APP_SECRET = '0123';", False, True),
        ("appSecret: process.env.X", False, True),
        ("secret = '0123'", False, True),
        ("wx.setStorageSync('k', { session_key: key })", False, True),
        ("apiV3Key: '...'", False, True),
        ("WXLOGIN_SESSION_KEY_ENCRYPTION_KEY: 'x'", False, False),
        ("// never the session_key (the server keeps it)", False, False),
        ("const simulatorSecret = randomBytes(16)", False, False),
        ("https://login.example.com", False, False),
    ],
)
def test_the_patterns_catch_what_they_are_for(text: str, host: bool, key: bool) -> None:
    assert bool(WECHAT_API_HOST.search(text)) is host
    assert bool(SECRET_KEY.search(text)) is key


def test_no_wechat_api_host_in_client_code() -> None:
    hits = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in scanned_files()
        for number, line in enumerate(text_of(path).splitlines(), 1)
        if WECHAT_API_HOST.search(line)
    ]
    assert hits == []


def test_no_secret_configuration_in_client_code() -> None:
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in scanned_files()
        for number, line in enumerate(text_of(path).splitlines(), 1)
        if SECRET_KEY.search(line)
    ]
    assert hits == []

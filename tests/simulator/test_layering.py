"""The simulator shares only protocol facts, crypto and the transport with the clients.

One misreading of WeChat must not hide on both sides, so ``wxlogin.simulator`` may not
import the client, the service, the API, the store or the token code. This walks every
import statement in the package's source (including ones inside functions).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import wxlogin.simulator

ALLOWED_WXLOGIN = (
    "wxlogin.simulator",
    "wxlogin.wechat.protocol",
    "wxlogin.wechat.transport",
    "wxlogin.pay.protocol",  # WeChat Pay's wire facts, never the pay client
    "wxlogin.crypto",
    "wxlogin.paycrypto",
    "wxlogin.errors",
)
ALLOWED_THIRD_PARTY = {"orjson", "pytest"}


def imported_names(source: str) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside the simulator package
                names.append("wxlogin.simulator")
                continue
            module = node.module or ""
            names += [f"{module}.{alias.name}" for alias in node.names]
    return names


def forbidden(name: str) -> bool:
    top = name.split(".")[0]
    if top == "wxlogin":
        return not any(name == ok or name.startswith(ok + ".") for ok in ALLOWED_WXLOGIN)
    if top == "__future__" or top in sys.stdlib_module_names:
        return False
    return top not in ALLOWED_THIRD_PARTY


def test_the_simulator_imports_nothing_it_must_not() -> None:
    package = Path(wxlogin.simulator.__file__).parent
    sources = sorted(package.rglob("*.py"))
    assert len(sources) >= 10
    offenders = [
        f"{path.relative_to(package)}: {name}"
        for path in sources
        for name in imported_names(path.read_text(encoding="utf-8"))
        if forbidden(name)
    ]
    assert offenders == []


def test_the_check_catches_what_it_should() -> None:
    bad = """
from wxlogin.wechat import client
from wxlogin.wechat.client import WeChatClient
from wxlogin.pay import client
import wxlogin.service
import httpx
def later():
    from wxlogin import tokens
"""
    good = """
from __future__ import annotations
import asyncio
import orjson
from wxlogin.wechat import protocol as wx
from wxlogin.crypto import encrypt_data
from wxlogin.pay import protocol as wxpay
from wxlogin.paycrypto import sign_message
from wxlogin.simulator.state import World
from . import wire
"""
    assert [n for n in imported_names(bad) if forbidden(n)] == [
        "wxlogin.wechat.client",
        "wxlogin.wechat.client.WeChatClient",
        "wxlogin.pay.client",
        "wxlogin.service",
        "httpx",
        "wxlogin.tokens",
    ]
    assert [n for n in imported_names(good) if forbidden(n)] == []


def test_importing_the_simulator_loads_no_client_code() -> None:
    import subprocess
    import sys

    probe = (
        "import sys, wxlogin.simulator;"
        "bad = [m for m in sys.modules if m.startswith(('wxlogin.wechat.client',"
        " 'wxlogin.wechat._http', 'wxlogin.service', 'wxlogin.api', 'wxlogin.store'))"
        " or m.startswith('wxlogin.pay.') and m != 'wxlogin.pay.protocol'];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr

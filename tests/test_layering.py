"""The layer rules of shared/DESIGN.md, checked on the source: a module imports only downward.

Deviations the design table does not list are named here on purpose, with the reason:
- ``wechat/`` uses ``cache.memory.MemoryCache`` as the default token store (the table says
  "cache protocol"); the in-memory store is part of that layer's contract.
- ``simulator/`` reaches ``wechat.transport`` (lazily) to hand tests an in-process transport.
- ``pay/`` imports the HTTP layer from where it lives today, ``wechat.transport`` and
  ``wechat._http`` (the table's ``http``), and nothing else of ``wechat/``. It does not import
  ``config``: the table does not list it, so settings reach the pay client as plain values
  (the service and the CLI translate).
- ``paycrypto`` is the crypto layer's second module (WeChat Pay's signatures, AEAD, keys).
- ``simulator/`` shares ``pay.protocol`` (the wire facts) and never the pay client.
- ``private_files`` is the one module that reads and writes wxlogin's private files in
  ``data_dir`` (the generated encryption key, the legacy ``keys.json``, 0600 writes), so that
  ``config`` and ``tokens`` do no file I/O; it sits just above ``config``, and ``store``
  (SQLite's directory), ``service`` (avatars, keys) and ``cli`` use it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "wxlogin"

# Which wxlogin modules each layer may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    # Bottom layers beside errors, stdlib only: what is counted (metrics) and how lines are
    # logged (logs). Any layer that counts or logs may use them.
    "metrics": set(),
    "logs": set(),
    "config": {"errors"},
    "private_files": {"errors", "config"},
    "crypto": {"errors"},
    "paycrypto": {"errors"},
    "cache": {"errors"},
    "wechat": {"errors", "cache", "metrics"},
    "pay": {"errors", "paycrypto", "wechat", "metrics"},
    "tokens": {"errors", "config"},
    "store": {"errors", "config", "private_files", "metrics"},
    "service": {
        "errors",
        "config",
        "private_files",
        "wechat",
        "pay",
        "crypto",
        "paycrypto",
        "tokens",
        "cache",
        "store",
        "metrics",
    },
    "api": {
        "errors",
        "config",
        "private_files",
        "wechat",
        "pay",
        "crypto",
        "paycrypto",
        "tokens",
        "cache",
        "store",
        "service",
        "metrics",
        "logs",
    },
    "simulator": {"errors", "wechat", "pay", "crypto", "paycrypto"},
    "cli": {
        "errors",
        "config",
        "private_files",
        "wechat",
        "pay",
        "crypto",
        "paycrypto",
        "tokens",
        "cache",
        "store",
        "service",
        "api",
        "simulator",
        "metrics",
        "logs",
    },
}
# Where a layer may import only some modules of another: (importer, target) -> allowed modules.
NARROWED: dict[tuple[str, str], tuple[str, ...]] = {
    ("pay", "wechat"): ("wxlogin.wechat.transport", "wxlogin.wechat._http"),
    ("simulator", "pay"): ("wxlogin.pay.protocol",),
}
# Third-party libraries that belong to exactly one layer.
# FastAPI and Starlette serve only host apps, through the adapter; the lean face is plain ASGI.
OWNED = {
    "pyreqwest": {"wechat/_http.py"},
    "asyncpg": {"store"},
    "fastapi": {"api/fastapi.py"},
    "starlette": {"api/fastapi.py"},
    "msgspec": {"api"},
}


def layer_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # module.name, so that `from wxlogin.pay import protocol` names the module it takes.
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


SOURCES = sorted(p for p in SRC.rglob("*.py") if p.parent != SRC or p.name != "__init__.py")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_imports_only_lower_layers(path: Path) -> None:
    layer = layer_of(path)
    if layer not in ALLOWED:
        pytest.fail(f"{path.relative_to(SRC)} is in no layer of the design table")
    for name in imports(path):
        parts = name.split(".")
        if parts[0] == "wxlogin" and len(parts) > 1 and parts[1] != layer:
            target = parts[1]
            if target == "__version__":
                continue
            assert target in ALLOWED[layer], f"{layer} must not import wxlogin.{target} ({name})"
            narrowed = NARROWED.get((layer, target))
            if narrowed is not None:
                assert any(name == ok or name.startswith(ok + ".") for ok in narrowed), (
                    f"{layer} may import only {narrowed} of {target} ({name})"
                )
        owners = OWNED.get(parts[0])
        if owners is not None:
            rel = str(path.relative_to(SRC))
            assert rel in owners or layer in owners, f"only {owners} may import {parts[0]}"


def test_the_service_imports_no_web_framework() -> None:
    for path in (SRC / "service").rglob("*.py"):
        for name in imports(path):
            assert not name.startswith(("fastapi", "starlette", "uvicorn")), (path, name)

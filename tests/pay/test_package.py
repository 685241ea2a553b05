"""wxlogin.pay's wire facts load no client code (its public names: tests/test_public_api)."""

from __future__ import annotations

import subprocess
import sys


def test_the_protocol_module_loads_no_client_code() -> None:
    probe = (
        "import sys, wxlogin.pay.protocol; "
        "print(sorted(m for m in sys.modules if m.startswith('wxlogin.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "wxlogin.pay.protocol" in out
    for module in ("client", "merchant", "verify", "_answers", "_responses", "results"):
        assert f"wxlogin.pay.{module}" not in out
    assert "wxlogin.wechat" not in out

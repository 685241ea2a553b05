"""wxlogin.pay's public names, and the promise that its wire facts load no client code."""

from __future__ import annotations

import subprocess
import sys

import wxlogin.pay

PUBLIC = {
    "Merchant",
    "MerchantCheck",
    "PayEvent",
    "PayTransport",
    "PaymentParams",
    "Refund",
    "RefundAmount",
    "RefundEvent",
    "Transaction",
    "TransactionAmount",
    "TransactionEvent",
    "WeChatPayClient",
    "WeChatPayKey",
    "check_merchant_files",
}


def test_the_public_names_are_pinned_and_resolve() -> None:
    assert set(wxlogin.pay.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(wxlogin.pay, name) is not None


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

"""Typed async client for the WeChat server APIs used in a mini-program login.

The client is imported on first use, so that ``wxlogin.wechat.protocol`` (which the simulator
shares) can be imported without loading any client code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wxlogin.wechat.client import TokenEndpoint, WeChatClient
    from wxlogin.wechat.results import PhoneInfo, Session, SessionKeyReset
    from wxlogin.wechat.transport import AsgiTransport, HttpResponse, Transport

__all__ = [
    "AsgiTransport",
    "HttpResponse",
    "PhoneInfo",
    "Session",
    "SessionKeyReset",
    "TokenEndpoint",
    "Transport",
    "WeChatClient",
]

_HOMES = {
    "TokenEndpoint": "client",
    "WeChatClient": "client",
    "PhoneInfo": "results",
    "Session": "results",
    "SessionKeyReset": "results",
    "AsgiTransport": "transport",
    "HttpResponse": "transport",
    "Transport": "transport",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value

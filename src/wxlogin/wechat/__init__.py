"""Typed async client for the WeChat server APIs used in a mini-program login."""

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

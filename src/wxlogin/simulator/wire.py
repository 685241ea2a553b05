"""What WeChat's answers look like on the wire, byte for byte where it matters.

* HTTP 200 even for errors; the error is ``{"errcode":N,"errmsg":"text, rid: ..."}`` with
  ``errcode`` first.
* ``rid`` is three groups of 8 lowercase hex; the first is the Unix time of the answer.
* jscode2session says ``text/plain`` (no charset) for its JSON body; ``cgi-bin/*`` and
  ``wxa/*`` say ``application/json; encoding=utf-8``.
* getuserphonenumber's 40029 reads ``invalid code hint: [xxxx] rid: ...`` — no comma.

A gateway failure (an HTTP fault) looks like a reverse proxy's HTML error page instead.
"""

from __future__ import annotations

import secrets
from http import HTTPStatus
from typing import Any, Final, NamedTuple

import orjson

from wxlogin.wechat import protocol as wx
from wxlogin.wechat.protocol import ErrCode

__all__ = [
    "Answer",
    "content_type_for",
    "errmsg",
    "error_answer",
    "gateway_answer",
    "json_answer",
    "rid",
]

TEXT_PLAIN: Final = wx.CODE2SESSION_CONTENT_TYPE.encode("latin-1")
JSON: Final = wx.JSON_CONTENT_TYPE.encode("latin-1")
HTML: Final = b"text/html"

_TEXT_PLAIN_PATHS: Final = frozenset({wx.CODE2SESSION})
_HINT_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


class Answer(NamedTuple):
    """One HTTP answer: status, Content-Type header value, body."""

    status: int
    content_type: bytes
    body: bytes


def content_type_for(path: str) -> bytes:
    """The Content-Type WeChat declares on ``path``."""
    return TEXT_PLAIN if path in _TEXT_PLAIN_PATHS else JSON


def rid(now: float) -> str:
    """WeChat's request id: ``<unix time hex>-<8 hex>-<8 hex>``."""
    return f"{int(now) & 0xFFFFFFFF:08x}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"


def errmsg(path: str, errcode: int, now: float) -> str:
    """The errmsg WeChat sends for ``errcode`` on ``path``, rid included."""
    text = wx.ERRMSG.get(errcode, "system error")
    if path == wx.PHONE_NUMBER and errcode == ErrCode.INVALID_CODE:
        hint = "".join(secrets.choice(_HINT_ALPHABET) for _ in range(14))
        return f"{text} hint: [{hint}] rid: {rid(now)}"
    return f"{text}, rid: {rid(now)}"


def error_answer(path: str, errcode: int, now: float) -> Answer:
    """HTTP 200 with ``{"errcode","errmsg"}``, as WeChat refuses a request."""
    body = orjson.dumps({"errcode": int(errcode), "errmsg": errmsg(path, errcode, now)})
    return Answer(200, content_type_for(path), body)


def json_answer(path: str, data: dict[str, Any]) -> Answer:
    """HTTP 200 with ``data`` as compact JSON, keys in the order given."""
    return Answer(200, content_type_for(path), orjson.dumps(data))


def gateway_answer(status: int) -> Answer:
    """What a reverse proxy in front of WeChat sends when it gives up: an HTML page."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    title = f"{status} {phrase}"
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>stgw</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return Answer(status, HTML, body.encode("ascii"))

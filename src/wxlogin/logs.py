"""Log lines: JSON in production, text in development, a request id on each, nothing secret.

* ``JsonFormatter``: one JSON object per line — ``time``, ``level``, ``logger``, ``message``,
  ``pid``, ``request_id`` (when logged during a request), ``exception`` (a traceback).
* ``TextFormatter``: ``17:38:39 INFO    wxlogin.api [request id]: message`` for a terminal.
* One record is one line in both: control characters in a logged value are escaped (a value
  with a newline cannot forge a second record); in text, a traceback's lines are indented
  under ``|`` so none of them can pass for a record.
* ``REQUEST_ID`` is set by the HTTP face for the duration of a request (a context variable:
  each request runs in a task of its own, so concurrent requests never see each other's).
* Secrets and personal data are kept out of log calls at the source; ``scrub`` is the last
  line of defence on every formatted line, for what a library or an exception's text might
  carry: JWTs, refresh tokens, credentials in URLs (AppSecret, access_token, codes), JSON
  fields that hold secrets or personal data, and mainland mobile numbers.
* ``logging_config`` is the ``dictConfig`` for the whole process, uvicorn's loggers included
  (``wxlogin serve`` hands it to uvicorn, which applies it in every worker), and it keeps
  SQLAlchemy's engine logger (used by migrations) at WARNING: at INFO it logs each statement
  with its parameters.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import re
import time
from contextvars import ContextVar
from typing import Any, Literal, TextIO

__all__ = [
    "REQUEST_ID",
    "JsonFormatter",
    "LogFormat",
    "TextFormatter",
    "configure_logging",
    "escape",
    "logging_config",
    "scrub",
]

LogFormat = Literal["json", "text"]

REQUEST_ID: ContextVar[str | None] = ContextVar("wxlogin_request_id", default=None)

# C0, DEL, C1 and the Unicode line and paragraph separators: all of them end a line somewhere.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

_REDACTED = "[redacted]"
_SCRUBBERS: tuple[tuple[re.Pattern[str], str], ...] = (
    # A JWT (our access tokens): three base64url parts, the first a JSON header.
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}"), "[jwt]"),
    # Our refresh tokens: a session id, a dot, 32+ random base64url characters.
    (re.compile(r"(?<![\w.-])[A-Za-z0-9_-]{8,64}\.[A-Za-z0-9_-]{32,128}(?![\w-])"), "[token]"),
    # Credentials and codes in a URL's query (WeChat's URLs carry the AppSecret).
    (
        re.compile(
            r"(?i)\b(secret|access_token|refresh_token|js_code|code|session_key|signature|"
            r"paysign|token)=[^&\s\"']+"
        ),
        rf"\1={_REDACTED}",
    ),
    # JSON (or repr) fields whose value is a secret or personal data.
    (
        re.compile(
            r"""(["'])(session_key|access_token|refresh_token|code|js_code|secret|"""
            r"""phoneNumber|purePhoneNumber|phone|pure_phone|nickName|nickname|"""
            r"""encryptedData|encrypted_data|iv|rawData|raw_data|signature)\1(\s*[:=]\s*)"""
            r"""(["'])(?:\\.|(?!\4).)*\4"""
        ),
        rf"\1\2\1\3\4{_REDACTED}\4",
    ),
    # A mainland mobile number, with or without +86.
    (re.compile(r"(?<![\w+])(?:\+?86[- ]?)?1[3-9]\d{9}(?!\w)"), "[phone]"),
)


def escape(text: str) -> str:
    """``text`` on one line: control characters as ``\\n``, ``\\x1b``, ``\\u2028``..."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def scrub(text: str) -> str:
    """``text`` with anything that looks like a secret or personal datum replaced."""
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    return text


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a bad format string must not lose the record, nor raise from logging
        return f"{record.msg!r} (unformattable arguments)"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (``ensure_ascii``: every control character and
    every non-ASCII one is a ``\\u`` escape, so no reader can split the line)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(_message(record)),
            "pid": record.process or os.getpid(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exception"] = scrub(record.exc_text)
        return json.dumps(entry, ensure_ascii=True, default=str)


class TextFormatter(logging.Formatter):
    """``HH:MM:SS LEVEL   logger [request id]: message``, for people at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = REQUEST_ID.get()
        where = f"{record.name} [{request_id}]" if request_id is not None else record.name
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        line = f"{stamp} {record.levelname:<7} {where}: {escape(scrub(_message(record)))}"
        trace = None
        if record.exc_info:
            trace = self.formatException(record.exc_info)
        elif record.exc_text:
            trace = record.exc_text
        if trace:
            # Indented under a bar: a traceback (whose last line quotes an exception's text)
            # can never produce a line that reads as a record of its own.
            rows = (escape(scrub(row)) for row in trace.splitlines())
            line += "".join(f"\n    | {row}" for row in rows)
        return line


def _iso(created: float) -> str:
    seconds = int(created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + (
        f".{int((created - seconds) * 1000):03d}Z"
    )


def logging_config(log_format: LogFormat, level: str) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of a wxlogin process: every logger through one
    handler on stderr in ``log_format``, uvicorn's included."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    through_root = {"level": level.upper(), "handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"wxlogin": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "wxlogin",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            # uvicorn's own configuration gives these handlers of their own and stops them
            # from propagating; here they go through the root's, in our format.
            "uvicorn": through_root,
            "uvicorn.error": through_root,
            "uvicorn.access": through_root,
            # At INFO and below SQLAlchemy logs every statement with its parameters.
            "sqlalchemy.engine": {"level": "WARNING"},
            "sqlalchemy.pool": {"level": "WARNING"},
        },
    }


def configure_logging(log_format: LogFormat, level: str, stream: TextIO | None = None) -> None:
    """Apply ``logging_config`` to this process (``stream``: where lines go, for tests)."""
    config = logging_config(log_format, level)
    if stream is not None:
        config["handlers"]["stderr"]["stream"] = stream
    logging.config.dictConfig(config)

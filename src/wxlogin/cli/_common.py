"""Helpers shared by the CLI commands: loading settings with one-line errors."""

from __future__ import annotations

import errno
import socket
import sys
from pathlib import Path
from typing import Any

from wxlogin.config import Settings
from wxlogin.errors import ConfigurationError, WxLoginError
from wxlogin.logs import LogFormat


class CliError(Exception):
    """A problem to print as one line, exiting with status 2."""


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    try:
        return Settings.load(config, **overrides)
    except ConfigurationError as exc:
        raise CliError(f"configuration: {exc.message}") from None


def port_in_use(host: str, port: int, flag: str) -> CliError | None:
    """A one-line error when ``host:port`` cannot be bound (before any server starts, so the
    operator reads one line naming the flag, not a traceback from deep inside the server).
    The port is free again at once: this only looks."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As the server will bind it: a port in TIME_WAIT from the last run is free to use.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return CliError(
                    f"port {port} on {host} is already in use; choose another with {flag}"
                )
            return CliError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); check {flag}")
    return None


def describe(exc: BaseException) -> str:
    """What the operator at the terminal should read: a wxlogin error's detail (the database,
    the driver's exception class) where it has one, else its message."""
    if isinstance(exc, WxLoginError):
        return exc.detail or exc.message
    return str(exc)


def fail(command: str, message: str, status: int = 2) -> int:
    print(f"wxlogin {command}: {message}", file=sys.stderr)
    return status


def configure_logging(level: str, log_format: LogFormat = "text") -> None:
    """Every logger of the process through one handler, in ``log_format`` (``wxlogin.logs``)."""
    from wxlogin.logs import configure_logging as configure

    configure(log_format, level)


def parse_app(value: str) -> tuple[str, str, str | None]:
    """``APPID:SECRET[:OPEN_ACCOUNT]`` → parts, for argparse ``type=``."""
    parts = value.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(value)
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None

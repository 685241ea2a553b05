"""Helpers shared by the CLI commands: loading settings with one-line errors."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from wxlogin.config import Settings
from wxlogin.errors import ConfigurationError, WxLoginError


class CliError(Exception):
    """A problem to print as one line, exiting with status 2."""


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    try:
        return Settings.load(config, **overrides)
    except ConfigurationError as exc:
        raise CliError(f"configuration: {exc.message}") from None


def describe(exc: BaseException) -> str:
    """What the operator at the terminal should read: a wxlogin error's detail (the database,
    the driver's exception class) where it has one, else its message."""
    if isinstance(exc, WxLoginError):
        return exc.detail or exc.message
    return str(exc)


def fail(command: str, message: str, status: int = 2) -> int:
    print(f"wxlogin {command}: {message}", file=sys.stderr)
    return status


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def parse_app(value: str) -> tuple[str, str, str | None]:
    """``APPID:SECRET[:OPEN_ACCOUNT]`` → parts, for argparse ``type=``."""
    parts = value.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(value)
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None

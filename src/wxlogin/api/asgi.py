"""ASGI entry point for ``wxlogin serve`` workers: settings come from env / wxlogin.toml."""

from __future__ import annotations

from wxlogin.api.app import WxLoginApp, create_app
from wxlogin.config import Settings


def app_from_env() -> WxLoginApp:
    # The parent process ran the migrations before starting workers, so workers do not race.
    return create_app(Settings.load(), migrate=False)

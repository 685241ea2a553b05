"""ASGI entry point for ``wxlogin serve`` workers: settings come from env / wxlogin.toml."""

from __future__ import annotations

from fastapi import FastAPI

from wxlogin.api.app import create_app
from wxlogin.config import Settings


def app_from_env() -> FastAPI:
    # The parent process ran the migrations before starting workers, so workers do not race.
    return create_app(Settings.load(), migrate=False)

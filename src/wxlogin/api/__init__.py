"""The HTTP face of wxlogin: the stand-alone app, and pieces to mount in your own FastAPI app.

from wxlogin.api import CurrentUser, setup
setup(app, Settings.load())          # adds /auth/*, /me*, discovery and the error handler

@app.get("/orders")
async def orders(user: CurrentUser): ...

``create_app`` is a plain ASGI app and does not import FastAPI; the FastAPI names
(``CurrentUser``, ``ServiceDep``, ``setup``) load ``wxlogin.api.fastapi`` on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wxlogin.api.app import WxLoginApp, create_app

if TYPE_CHECKING:
    from wxlogin.api.fastapi import CurrentUser, ServiceDep, setup

__all__ = ["CurrentUser", "ServiceDep", "WxLoginApp", "create_app", "setup"]

_FASTAPI_NAMES = frozenset({"CurrentUser", "ServiceDep", "setup"})


def __getattr__(name: str) -> Any:
    # Lazily, so `wxlogin serve` workers never import FastAPI, pydantic models or Starlette.
    if name in _FASTAPI_NAMES:
        from wxlogin.api import fastapi

        return getattr(fastapi, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""An existing FastAPI app ("the shop") that adds wxlogin and protects its own routes with it.

Run it against the simulator (two shells):

    wxlogin simulate --app wx1234567890abcdef:shop-secret-0123456789
    WXLOGIN_APPS=wx1234567890abcdef:shop-secret-0123456789 \\
    WXLOGIN_WECHAT_BASE_URL=http://127.0.0.1:8900 WXLOGIN_DEV=true \\
        uvicorn --factory examples.fastapi_embed.shop:create_shop --port 8000
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from wxlogin.api import CurrentUser, ServiceDep, setup
from wxlogin.config import Settings


@asynccontextmanager
async def shop_lifespan(app: FastAPI) -> AsyncIterator[None]:
    # The host's own start-up keeps working: wxlogin starts before it and stops after it.
    app.state.orders = {}
    yield
    app.state.orders = None


def create_shop(settings: Settings | None = None, **wxlogin_options: Any) -> FastAPI:
    app = FastAPI(title="Acme shop", lifespan=shop_lifespan)
    setup(app, settings or Settings.load(), **wxlogin_options)

    @app.get("/")
    async def index() -> dict[str, str]:
        return {"shop": "open"}  # public: no token needed

    @app.get("/orders")
    async def my_orders(user: CurrentUser) -> dict[str, Any]:
        # `user` comes from the access token alone: no database round trip.
        orders: dict[str, list[str]] = app.state.orders
        return {
            "user_id": user.user_id,
            "appid": user.appid,
            "orders": orders.get(user.user_id, []),
        }

    @app.post("/orders")
    async def place_order(user: CurrentUser, service: ServiceDep) -> dict[str, Any]:
        # When the full profile is needed (phone for delivery), ask the service for it.
        profile = await service.user(user)
        app.state.orders.setdefault(user.user_id, []).append("order-1")
        return {"user_id": user.user_id, "deliver_to": profile.phone}

    return app

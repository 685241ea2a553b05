"""The HTTP face of wxlogin: the stand-alone app, and pieces to mount in your own FastAPI app.

from wxlogin.api import CurrentUser, setup
setup(app, Settings.load())          # adds /auth/*, /me*, discovery and the error handler

@app.get("/orders")
async def orders(user: CurrentUser): ...
"""

from wxlogin.api.app import create_app, setup
from wxlogin.api.deps import CurrentUser, ServiceDep
from wxlogin.api.routes import auth_router

__all__ = ["CurrentUser", "ServiceDep", "auth_router", "create_app", "setup"]

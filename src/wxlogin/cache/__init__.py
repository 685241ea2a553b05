"""Shared cache and lock: in memory for one process, Redis for many.

``RedisCache`` is imported on first use, so code that never touches Redis (the WeChat client
with its default in-memory token store) does not load the redis library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wxlogin.cache.base import Cache
from wxlogin.cache.memory import MemoryCache

if TYPE_CHECKING:
    from wxlogin.cache.redis import RedisCache

__all__ = ["Cache", "MemoryCache", "RedisCache"]


def __getattr__(name: str) -> Any:
    if name == "RedisCache":
        from wxlogin.cache.redis import RedisCache

        return RedisCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Shared cache and lock: in memory for one process, Redis for many."""

from wxlogin.cache.base import Cache
from wxlogin.cache.memory import MemoryCache
from wxlogin.cache.redis import RedisCache

__all__ = ["Cache", "MemoryCache", "RedisCache"]

"""Which sessions are revoked, answered without touching the database.

Access tokens are verified on every request with no DB round trip, so a logout must reach
every worker through the shared cache: a key per revoked session, kept as long as an access
token issued before the revocation can live.
"""

from __future__ import annotations

from wxlogin.cache.base import Cache

__all__ = ["RevocationList"]


class RevocationList:
    def __init__(self, cache: Cache, *, ttl: float) -> None:
        self._cache = cache
        self._ttl = ttl

    async def revoke(self, session_id: str) -> None:
        await self._cache.set(f"revoked:{session_id}", b"1", ttl=self._ttl)

    async def is_revoked(self, session_id: str) -> bool:
        return await self._cache.get(f"revoked:{session_id}") is not None

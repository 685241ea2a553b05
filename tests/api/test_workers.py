"""Several workers on one database: what one does, the others honour."""

from __future__ import annotations

from tests.api.conftest import Harness, HarnessFactory, bearer
from wxlogin.cache import MemoryCache


async def test_a_logout_reaches_workers_without_a_shared_cache(
    harness_factory: HarnessFactory,
) -> None:
    # Two workers, one database, each with a private in-memory cache (no Redis).
    worker_a: Harness = await harness_factory(own_cache=MemoryCache())
    worker_b: Harness = await harness_factory(own_cache=MemoryCache())
    body = await worker_a.login("alice")
    token = bearer(body["access_token"])
    assert (await worker_b.http.get("/me", headers=token)).status_code == 200
    assert (await worker_a.http.post("/auth/logout", headers=token)).status_code == 204
    assert (await worker_a.http.get("/me", headers=token)).status_code == 401
    # Worker B learns it from the database on its next poll (every 2 s in the background;
    # here one pass is run directly so the test never waits).
    sync = worker_b.service.revocation_sync
    assert sync is not None
    assert await sync.sync_once() >= 1
    refused = await worker_b.http.get("/me", headers=token)
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "session_revoked")


async def test_workers_sharing_a_cache_see_a_logout_at_once(
    harness_factory: HarnessFactory,
) -> None:
    shared = MemoryCache()
    worker_a: Harness = await harness_factory(own_cache=shared)
    worker_b: Harness = await harness_factory(own_cache=shared)
    body = await worker_a.login("alice")
    token = bearer(body["access_token"])
    await worker_a.http.post("/auth/logout", headers=token)
    assert (await worker_b.http.get("/me", headers=token)).status_code == 401

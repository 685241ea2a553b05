"""Assemble a ``LoginService`` from ``Settings``: store, cache, keys, WeChat clients."""

from __future__ import annotations

import time
from collections.abc import Callable

from wxlogin.cache.base import Cache
from wxlogin.cache.memory import MemoryCache
from wxlogin.cache.redis import RedisCache
from wxlogin.config import Settings
from wxlogin.errors import ConfigurationError
from wxlogin.service.avatars import AVATAR_PATH, AvatarService, LocalAvatarStore
from wxlogin.service.credentials import ServiceCredentials
from wxlogin.service.login import LoginService, ServicePolicy
from wxlogin.service.messages import MessageService, templates_from_settings
from wxlogin.service.rate_limit import RateLimiter
from wxlogin.service.revocation import RevocationList, RevocationSync
from wxlogin.service.sealing import SessionKeySealer
from wxlogin.store.repository import Store
from wxlogin.tokens import AccessTokens, RefreshSuccessors, SigningKeys
from wxlogin.wechat import Transport, WeChatClient

__all__ = ["build_service"]


async def build_service(
    settings: Settings,
    *,
    wechat_transport: Transport | None = None,
    cache: Cache | None = None,
    store: Store | None = None,
    migrate: bool = True,
    clock: Callable[[], float] = time.time,
) -> LoginService:
    """Build the service. ``migrate`` brings the schema up to date first (idempotent)."""
    if not settings.apps:
        raise ConfigurationError(
            "no mini program configured: set WXLOGIN_APPS=APPID:SECRET or [[apps]] in wxlogin.toml"
        )
    # Everything that can fail without holding a resource comes first...
    keys = SigningKeys.load_or_create(settings.data_dir, clock=clock)
    tokens = AccessTokens.from_settings(settings, keys, clock=clock)
    secret = settings.load_session_key_encryption_key()
    sealer = SessionKeySealer(secret)
    successors = RefreshSuccessors(secret)
    templates = templates_from_settings(settings.message_templates)
    credentials = ServiceCredentials(t.get_secret_value() for t in settings.service_tokens)
    # ...then the connections, closed again if start-up fails half-way.
    owns_store, owns_cache = store is None, cache is None
    if store is None:
        store = Store.from_url(settings.effective_database_url)
    if cache is None:
        cache = RedisCache(settings.redis_url) if settings.redis_url else MemoryCache(clock=clock)
    if migrate:
        try:
            await store.migrate()
        except BaseException:
            if owns_store:
                await store.aclose()
            if owns_cache:
                await cache.aclose()
            raise
    wechat = {
        app.appid: WeChatClient(
            app.appid,
            app.secret.get_secret_value(),
            base_url=settings.wechat_base_url,
            timeout=settings.wechat_timeout,
            transport=wechat_transport,
            token_store=cache,
            token_endpoint=settings.wechat_token_endpoint,
            clock=clock,
        )
        for app in settings.apps
    }
    revocations = RevocationList(cache, ttl=settings.access_token_ttl + settings.token_leeway)
    # A per-process cache cannot carry a logout to other workers; the database can.
    sync = (
        RevocationSync(store, revocations, clock=clock) if isinstance(cache, MemoryCache) else None
    )
    return LoginService(
        store=store,
        cache=cache,
        keys=keys,
        tokens=tokens,
        issuer=settings.public_url,
        wechat=wechat,
        sealer=sealer,
        revocations=revocations,
        limiter=RateLimiter(cache, clock=clock),
        policy=ServicePolicy(
            refresh_token_ttl=settings.refresh_token_ttl,
            refresh_reuse_grace=settings.refresh_reuse_grace,
            login_rate_limit_per_ip=settings.login_rate_limit_per_ip,
            login_rate_limit_per_app=settings.login_rate_limit_per_app,
        ),
        clock=clock,
        owns_cache=owns_cache,
        revocation_sync=sync,
        avatars=AvatarService(
            LocalAvatarStore(settings.data_dir / "avatars"),
            store,
            base_url=f"{settings.public_url}{AVATAR_PATH}",
            clock=clock,
        ),
        successors=successors,
        messages=MessageService(store, wechat, templates, clock=clock),
        service_credentials=credentials,
    )

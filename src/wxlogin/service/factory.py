"""Assemble a ``LoginService`` from ``Settings``: store, cache, keys, WeChat clients.

With ``redis_url`` the cache is Redis with memory standing in while Redis is down
(``cache/fallback.py``): the service keeps logging users in, degraded, instead of failing.
The signing keys come from the database (``service/keyring.py``), so every process shares them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

from wxlogin.cache.base import Cache
from wxlogin.cache.fallback import FallbackCache
from wxlogin.cache.memory import MemoryCache
from wxlogin.cache.redis import RedisCache
from wxlogin.config import Settings
from wxlogin.errors import ConfigurationError, InvalidRequest
from wxlogin.pay import Merchant, PayTransport, WeChatPayClient
from wxlogin.pay import protocol as wxpay
from wxlogin.pay.requests import checked_notify_url
from wxlogin.private_files import session_key_encryption_key
from wxlogin.service.avatars import AVATAR_PATH, AvatarService, LocalAvatarStore
from wxlogin.service.credentials import ServiceCredentials
from wxlogin.service.keyring import KeyRing
from wxlogin.service.login import LoginService, ServicePolicy
from wxlogin.service.messages import MessageService, templates_from_settings
from wxlogin.service.pay import NOTIFY_PATH, PayService
from wxlogin.service.pruner import Pruner, Retention
from wxlogin.service.rate_limit import RateLimiter
from wxlogin.service.revocation import RevocationList, RevocationSync
from wxlogin.service.sealing import SessionKeySealer
from wxlogin.store.repository import Store
from wxlogin.tokens import AccessTokens, RefreshSuccessors
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
    secret = session_key_encryption_key(settings)
    sealer = SessionKeySealer(secret)
    successors = RefreshSuccessors(secret)
    templates = templates_from_settings(settings.message_templates)
    merchants = _merchants(settings)
    notify_url = _notify_url(settings) if merchants else ""
    credentials = ServiceCredentials(t.get_secret_value() for t in settings.service_tokens)
    # ...then the connections, closed again if start-up fails half-way.
    owns_store, owns_cache = store is None, cache is None
    if store is None:
        store = Store.from_url(settings.effective_database_url)
    if cache is None:
        cache = (
            FallbackCache(RedisCache(settings.redis_url))
            if settings.redis_url
            else MemoryCache(clock=clock)
        )
    try:
        if migrate:
            await store.migrate()
        # Without migrating, the database may be away at start-up: serve 503s until it is back
        # rather than fail to start (a host app's other routes keep working meanwhile).
        keyring = await KeyRing.open(
            store,
            secret,
            data_dir=settings.data_dir,
            cache=cache,
            clock=clock,
            database_may_be_away=not migrate,
        )
    except BaseException:
        if owns_store:
            await store.aclose()
        if owns_cache:
            await cache.aclose()
        raise
    tokens = AccessTokens.from_settings(settings, keyring.keys, clock=clock)
    tokens.on_unknown_kid = keyring.unknown_kid
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
    # A per-process cache cannot carry a logout to other workers, and Redis may be down; the
    # database always can (one indexed query every two seconds).
    sync = RevocationSync(store, revocations, clock=clock)
    pruner = Pruner(
        store, Retention.from_settings(settings), interval=settings.prune_interval, clock=clock
    )
    return LoginService(
        store=store,
        cache=cache,
        keys=keyring.keys,
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
        pay=_pay_service(settings, store, cache, merchants, notify_url, wechat_transport, clock)
        if merchants
        else None,
        background=(keyring, pruner),
    )


def _merchants(settings: Settings) -> dict[str, Merchant]:
    """The WeChat Pay merchant of each app that takes payments, its key files read now (a
    missing or mismatched file stops start-up with one line per problem)."""
    merchants: dict[str, Merchant] = {}
    for app in settings.apps:
        pay = app.pay
        if pay is None:
            continue
        merchants[app.appid] = Merchant.from_files(
            **pay.merchant_files(), label=f"apps[{app.appid}].pay"
        )
    return merchants


def _notify_url(settings: Settings) -> str:
    notify_url = f"{settings.public_url}{NOTIFY_PATH}"
    try:
        return checked_notify_url(notify_url)
    except InvalidRequest:
        # Said at start-up, not at the first order: WeChat Pay calls back https URLs only.
        raise ConfigurationError(
            f"WeChat Pay calls back https addresses only, and {notify_url} is not one: set "
            "WXLOGIN_PUBLIC_URL to the https address this server is reached at"
        ) from None


def _pay_service(
    settings: Settings,
    store: Store,
    cache: Cache,
    merchants: dict[str, Merchant],
    notify_url: str,
    transport: Transport | None,
    clock: Callable[[], float],
) -> PayService:
    clients = {
        appid: WeChatPayClient(
            merchant,
            base_url=settings.pay_base_url or wxpay.DEFAULT_BASE_URL,
            timeout=settings.pay_timeout,
            # The simulator answers both APIs, and both transports we ship speak both.
            transport=cast("PayTransport | None", transport),
            clock=clock,
        )
        for appid, merchant in merchants.items()
    }
    return PayService(store, clients, cache=cache, notify_url=notify_url, clock=clock)

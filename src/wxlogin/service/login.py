"""The login use-cases: log in, refresh, log out, authenticate; phone and profile are in
``service/profile.py``, inherited.

Policy lives here; storage, tokens and WeChat are injected. Nothing here knows about HTTP.

The hot paths are shaped for speed:
* ``login``: one upstream call on a pooled connection, one database transaction, one signature.
* ``authenticate``: signature check plus one cache lookup for revocation — no database.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from wxlogin.cache.base import Cache
from wxlogin.errors import (
    BadAppCredentials,
    InvalidRequest,
    InvalidToken,
    RefreshReused,
    SessionRevoked,
    TokenExpired,
    UnknownApp,
    UpstreamMisconfigured,
    UserNotFound,
)
from wxlogin.metrics import REFRESHES
from wxlogin.service.avatars import AvatarService
from wxlogin.service.credentials import ServiceCredentials
from wxlogin.service.events import ServiceListener
from wxlogin.service.messages import MessageService
from wxlogin.service.pay import PayService
from wxlogin.service.profile import ProfileUseCases
from wxlogin.service.rate_limit import RateLimiter
from wxlogin.service.revocation import RevocationList, RevocationSync
from wxlogin.service.sealing import SessionKeySealer
from wxlogin.store.records import RotateOutcome, User, new_id
from wxlogin.store.repository import Store
from wxlogin.tokens import (
    AccessClaims,
    AccessTokens,
    RefreshSuccessors,
    SigningKeys,
    hash_refresh_token,
)
from wxlogin.wechat import WeChatClient

__all__ = ["Background", "LoginOutcome", "LoginService", "Readiness", "ServicePolicy", "TokenPair"]

_log = logging.getLogger("wxlogin.service")


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str = field(repr=False)
    expires_in: int
    refresh_token: str = field(repr=False)
    token_type: str = "Bearer"


@dataclass(frozen=True, slots=True)
class LoginOutcome:
    tokens: TokenPair
    user: User
    new_user: bool


class Background(Protocol):
    """Work a service runs beside the requests (the key ring, the pruner)."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


Readiness = Literal["ready", "degraded", "not_ready"]


@dataclass(frozen=True, slots=True)
class ServicePolicy:
    """The knobs the service reads from ``Settings`` (whose defaults are the only defaults)."""

    refresh_token_ttl: int
    refresh_reuse_grace: int
    login_rate_limit_per_ip: int
    login_rate_limit_per_app: int


class LoginService(ProfileUseCases):
    """Log in, refresh, log out, authenticate (here); phone and profile (``service/profile.py``,
    inherited: the same service, the same attributes, one module each)."""

    def __init__(
        self,
        *,
        store: Store,
        cache: Cache,
        keys: SigningKeys,
        tokens: AccessTokens,
        issuer: str,
        wechat: Mapping[str, WeChatClient],
        sealer: SessionKeySealer,
        revocations: RevocationList,
        limiter: RateLimiter,
        policy: ServicePolicy,
        clock: Callable[[], float] = time.time,
        owns_cache: bool = True,
        revocation_sync: RevocationSync | None = None,
        avatars: AvatarService | None = None,
        successors: RefreshSuccessors,
        messages: MessageService | None = None,
        service_credentials: ServiceCredentials | None = None,
        pay: PayService | None = None,
        background: Sequence[Background] = (),
    ) -> None:
        self.store = store
        self.tokens = tokens
        self.issuer = issuer
        self._cache = cache
        self._keys = keys
        self._wechat = dict(wechat)
        self._sealer = sealer
        self._revocations = revocations
        self._limiter = limiter
        self._policy = policy
        self._clock = clock
        self._owns_cache = owns_cache
        self.revocation_sync = revocation_sync
        # Uploaded avatars (POST /me/avatar); None when the service was built without them.
        self.avatars = avatars
        self._successors = successors
        # Subscribe messages (service/messages.py): ``service.messages.send_message(...)``.
        self.messages = messages
        # What server-to-server routes check (service/credentials.py); none: all refused.
        self.service_credentials = service_credentials or ServiceCredentials(())
        # WeChat Pay (service/pay.py): orders, their parameters, callbacks; None: no merchant.
        self.pay = pay
        # Started and stopped with the service: following key rotations, pruning.
        self.background = tuple(background)
        # Told what each use-case did (service/events.py); only `wxlogin dev` sets it, for
        # /demo. None costs a use-case one attribute check.
        self.listener: ServiceListener | None = None

    def __repr__(self) -> str:
        return f"LoginService(apps={sorted(self._wechat)!r})"

    @property
    def appids(self) -> list[str]:
        return sorted(self._wechat)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _client(self, appid: str | None) -> WeChatClient:
        if appid is None:
            if len(self._wechat) == 1:
                return next(iter(self._wechat.values()))
            raise InvalidRequest("appid is required: this server serves several mini programs")
        client = self._wechat.get(appid)
        if client is None:
            raise UnknownApp(f"appid {appid!r} is not configured on this server")
        return client

    # ------------------------------------------------------------------ login / refresh

    async def login(self, code: str, *, appid: str | None = None, client_ip: str) -> LoginOutcome:
        """Trade a wx.login code for our tokens; create or link the user on the way."""
        wechat = self._client(appid)
        await self._limiter.hit("login-ip", client_ip, limit=self._policy.login_rate_limit_per_ip)
        await self._limiter.hit(
            "login-app", wechat.appid, limit=self._policy.login_rate_limit_per_app
        )
        try:
            session = await wechat.code_to_session(code)
        except (BadAppCredentials, UpstreamMisconfigured) as exc:
            # Users can do nothing about this; operators must, so say it loudly.
            _log.error(
                "WeChat rejected the configuration of app %s: %s (errcode %s, rid %s)",
                wechat.appid,
                exc.message,
                exc.errcode,
                exc.rid,
            )
            raise
        now = self._now()
        session_id = new_id(16)
        refresh_token = _new_refresh_token(session_id)
        result = await self.store.login(
            appid=wechat.appid,
            openid=session.openid,
            unionid=session.unionid,
            session_id=session_id,
            session_key_enc=self._sealer.seal(
                session.session_key, appid=wechat.appid, openid=session.openid
            ),
            refresh_hash=hash_refresh_token(refresh_token),
            expires_at=now + timedelta(seconds=self._policy.refresh_token_ttl),
            now=now,
        )
        issued = self.tokens.issue(
            user_id=result.user.id, session_id=session_id, appid=wechat.appid
        )
        if self.listener is not None:
            self.listener(
                "login",
                {
                    "user_id": result.user.id,
                    "new_user": result.new_user,
                    "identities": len(result.user.identities),
                    "unionid": result.user.unionid is not None,
                    "expires_in": issued.expires_in,
                },
            )
        return LoginOutcome(
            tokens=TokenPair(issued.token, issued.expires_in, refresh_token),
            user=result.user,
            new_user=result.new_user,
        )

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate a refresh token. Presenting one already used revokes the whole session,
        except within the grace window, while its successor is still current: then that same
        successor is handed out again (a client retrying a refresh whose answer it lost)."""
        session_id = _session_id_of(refresh_token)
        now = self._now()
        new_refresh = self._successors.successor(refresh_token, session_id)
        result = await self.store.rotate_refresh(
            session_id=session_id,
            presented_hash=hash_refresh_token(refresh_token),
            new_hash=hash_refresh_token(new_refresh),
            expires_at=now + timedelta(seconds=self._policy.refresh_token_ttl),
            now=now,
            grace=timedelta(seconds=self._policy.refresh_reuse_grace),
        )
        _REFRESH_OUTCOMES[result.outcome].inc()
        if self.listener is not None:
            self.listener("refresh", {"outcome": result.outcome.value})
        if result.outcome is RotateOutcome.REUSED:
            await self._revocations.revoke(session_id)
            _log.warning("refresh token reused; session revoked")
            raise RefreshReused()
        if result.outcome is RotateOutcome.REVOKED:
            raise SessionRevoked()
        if result.outcome is RotateOutcome.EXPIRED:
            raise TokenExpired("the refresh token has expired; log in again")
        if result.outcome not in _ROTATED or result.session is None:
            raise InvalidToken("unknown refresh token")
        issued = self.tokens.issue(
            user_id=result.session.user_id, session_id=session_id, appid=result.session.appid
        )
        return TokenPair(issued.token, issued.expires_in, new_refresh)

    async def logout(self, claims: AccessClaims) -> None:
        """Revoke the session: its refresh token dies, and so do its access tokens."""
        await self._revocations.revoke(claims.session_id)
        await self.store.revoke_session(claims.session_id, reason="logout", now=self._now())
        if self.listener is not None:
            self.listener("logout", {"user_id": claims.user_id})

    async def revoke_user(self, user_id: str) -> list[str]:
        """Revoke every session of a user (admin)."""
        revoked = await self.store.revoke_user_sessions(user_id, reason="admin", now=self._now())
        for session_id in revoked:
            await self._revocations.revoke(session_id)
        return revoked

    # ------------------------------------------------------------------ authentication

    async def authenticate(self, access_token: str) -> AccessClaims:
        """Verify an access token: signature, claims, and not revoked. No database."""
        claims = self.tokens.verify(access_token)
        if await self._revocations.is_revoked(claims.session_id):
            raise SessionRevoked()
        return claims

    async def user(self, claims: AccessClaims) -> User:
        user = await self.store.get_user(claims.user_id)
        if user is None:
            raise UserNotFound()
        return user

    # ------------------------------------------------------------------ operations

    def jwks(self) -> dict[str, Any]:
        """Our public signing keys, including retired ones whose tokens may still be live, and
        a rotated one about to sign (the key ring keeps them in step with the database)."""
        return self._keys.jwks()

    def start(self) -> None:
        """Start background work: the revocation feed (Redis) and poller (the database), the
        closing of expired unpaid orders, the key ring, the pruner."""
        self._revocations.start()
        if self.revocation_sync is not None:
            self.revocation_sync.start()
        if self.pay is not None:
            self.pay.start()
        for work in self.background:
            work.start()

    async def readiness(self) -> Readiness:
        """``ready``; ``degraded`` when the database answers and the cache (Redis) does not —
        logins go on, on per-process fallbacks; ``not_ready`` when the database does not."""
        if not await self.store.ping():
            return "not_ready"
        return "ready" if await self._cache.ping() else "degraded"

    async def ready(self) -> bool:
        return await self.readiness() != "not_ready"

    async def aclose(self) -> None:
        for work in self.background:
            await work.stop()
        await self._revocations.stop()
        if self.revocation_sync is not None:
            await self.revocation_sync.stop()
        if self.pay is not None:
            await self.pay.aclose()
        for client in self._wechat.values():
            await client.aclose()
        await self.store.aclose()
        if self._owns_cache:
            await self._cache.aclose()


# A refresh that hands out a valid successor: a rotation, or a replay within the grace window.
_ROTATED = frozenset({RotateOutcome.ROTATED, RotateOutcome.REPLAYED})
_REFRESH_OUTCOMES = {outcome: REFRESHES.labels(outcome.value) for outcome in RotateOutcome}


def _new_refresh_token(session_id: str) -> str:
    # The session id travels in the token so a refresh needs no scan; the secret part is
    # 256 random bits and only its hash is stored.
    return f"{session_id}.{secrets.token_urlsafe(32)}"


# What we mint (``new_id``, base64url) and what a successor carries: nothing else is looked up.
_REFRESH_TOKEN = re.compile(r"([A-Za-z0-9_-]{1,64})\.[A-Za-z0-9_-]{32,128}")


def _session_id_of(refresh_token: str) -> str:
    match = _REFRESH_TOKEN.fullmatch(refresh_token)
    if match is None:
        REFRESHES.labels("malformed").inc()
        raise InvalidToken("malformed refresh token")
    return match.group(1)

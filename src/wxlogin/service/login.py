"""The login use-cases: log in, refresh, log out, authenticate, phone and profile.

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
from wxlogin.crypto import decrypt_data, verify_raw_data
from wxlogin.errors import (
    BadAppCredentials,
    InvalidRequest,
    InvalidToken,
    NoSessionKey,
    RefreshReused,
    SessionRevoked,
    SignatureMismatch,
    TokenExpired,
    UnknownApp,
    UpstreamMisconfigured,
    UserNotFound,
    WatermarkMismatch,
)
from wxlogin.metrics import REFRESHES
from wxlogin.service.avatars import AvatarService
from wxlogin.service.credentials import ServiceCredentials
from wxlogin.service.events import ServiceListener
from wxlogin.service.messages import MessageService
from wxlogin.service.pay import PayService
from wxlogin.service.rate_limit import RateLimiter
from wxlogin.service.revocation import RevocationList, RevocationSync
from wxlogin.service.sealing import SessionKeySealer
from wxlogin.store.records import RotateOutcome, SessionRecord, User, new_id
from wxlogin.store.repository import Store
from wxlogin.tokens import (
    AccessClaims,
    AccessTokens,
    RefreshSuccessors,
    SigningKeys,
    hash_refresh_token,
)
from wxlogin.wechat import WeChatClient
from wxlogin.wechat.protocol import (
    ANONYMOUS_AVATAR,
    ANONYMOUS_NICKNAME,
    ANSWER_COUNTRY_CODE_RE,
    ANSWER_PHONE_RE,
    ANSWER_PURE_PHONE_RE,
)

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


class LoginService:
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

    # ------------------------------------------------------------------ phone / profile

    async def bind_phone_by_code(self, claims: AccessClaims, code: str) -> User:
        """The current phone button: trade its code with WeChat, check the watermark, store."""
        info = await self._client(claims.appid).get_phone_number(code)
        if info.watermark_appid and info.watermark_appid != claims.appid:
            raise WatermarkMismatch()
        user = await self.store.set_phone(
            claims.user_id,
            phone=info.phone_number,
            pure_phone=info.pure_phone_number,
            country_code=info.country_code,
            now=self._now(),
        )
        if self.listener is not None:
            self.listener("phone_bound", {"user_id": user.id, "phone": user.phone or ""})
        return user

    async def bind_phone_encrypted(
        self, claims: AccessClaims, encrypted_data: str, iv: str
    ) -> User:
        """The legacy phone button: decrypt with the stored session_key."""
        data = await self._decrypt(claims, encrypted_data, iv)
        phone = data.get("phoneNumber")
        pure = data.get("purePhoneNumber") or phone
        country = data.get("countryCode", "")
        country = str(country) if type(country) is int else country
        # WeChat's data, but shape-checked like any answer of WeChat's before it is stored.
        if not (
            isinstance(phone, str)
            and isinstance(pure, str)
            and isinstance(country, str)
            and ANSWER_PHONE_RE.fullmatch(phone)
            and ANSWER_PURE_PHONE_RE.fullmatch(pure)
            and (country == "" or ANSWER_COUNTRY_CODE_RE.fullmatch(country))
        ):
            raise InvalidRequest("the decrypted data holds no valid phone number")
        user = await self.store.set_phone(
            claims.user_id,
            phone=phone,
            pure_phone=pure,
            country_code=country,
            now=self._now(),
        )
        if self.listener is not None:
            self.listener("phone_bound", {"user_id": user.id, "phone": user.phone or ""})
        return user

    async def update_profile(
        self, claims: AccessClaims, *, nickname: str | None, avatar_url: str | None
    ) -> User:
        """Values from the fill-in components (chooseAvatar, type="nickname")."""
        user = await self.store.update_profile(
            claims.user_id, nickname=nickname, avatar_url=avatar_url, now=self._now()
        )
        if self.listener is not None:
            names = [n for n, v in (("nickname", nickname), ("avatar_url", avatar_url)) if v]
            self.listener("profile_updated", {"user_id": user.id, "fields": names})
        return user

    async def wechat_profile(
        self,
        claims: AccessClaims,
        *,
        raw_data: str,
        signature: str,
        encrypted_data: str,
        iv: str,
    ) -> User:
        """Legacy wx.getUserInfo: check the signature, decrypt, learn the unionid if present."""
        session = await self._session(claims)
        session_key = self._open_session_key(session)
        if not verify_raw_data(raw_data, signature, session_key):
            # A stale key fails the signature too; say which it is, because only one of them
            # is fixed by calling wx.login again.
            decrypt_data(session_key, encrypted_data, iv, appid=claims.appid)
            raise SignatureMismatch("the rawData signature does not match the stored session_key")
        data = decrypt_data(session_key, encrypted_data, iv, appid=claims.appid)
        if data.get("openId") not in (None, session.openid):
            raise InvalidRequest("the user info belongs to another user")
        user_id = claims.user_id
        now = self._now()
        unionid = data.get("unionId")
        if isinstance(unionid, str) and unionid:
            learned = await self.store.learn_unionid(
                user_id, appid=claims.appid, openid=session.openid, unionid=unionid, now=now
            )
            user_id = learned.id
        return await self.store.update_profile(
            user_id,
            nickname=_real(data.get("nickName"), ANONYMOUS_NICKNAME),
            avatar_url=_real(data.get("avatarUrl"), ANONYMOUS_AVATAR),
            now=now,
        )

    # ------------------------------------------------------------------ helpers

    async def _session(self, claims: AccessClaims) -> SessionRecord:
        session = await self.store.get_session(claims.session_id)
        if session is None or session.revoked_at is not None:
            raise SessionRevoked()
        return session

    def _open_session_key(self, session: SessionRecord) -> str:
        if session.session_key_enc is None:
            raise NoSessionKey()
        return self._sealer.open(
            session.session_key_enc, appid=session.appid, openid=session.openid
        )

    async def _decrypt(self, claims: AccessClaims, encrypted_data: str, iv: str) -> dict[str, Any]:
        session_key = self._open_session_key(await self._session(claims))
        return decrypt_data(session_key, encrypted_data, iv, appid=claims.appid)

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


def _real(value: object, placeholder: str) -> str | None:
    """A profile value worth storing: not empty, not WeChat's anonymous placeholder."""
    return value if isinstance(value, str) and value and value != placeholder else None


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

"""The phone and profile use-cases of ``LoginService``: bind a phone number (the current
button's code, or the legacy encrypted data), update the profile from the fill-in components,
and the legacy ``wx.getUserInfo`` with its signature.

Kept apart from ``service/login.py`` because they are a different kind of work: each reads the
session's stored session_key or asks WeChat for a phone number, none is on a hot path, and
together they made login.py twice the size of its hot paths. ``LoginService`` inherits this
class, so a host app and the routes call ``service.bind_phone_by_code(...)`` as before; the
attributes declared below are the ones ``LoginService.__init__`` sets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from wxlogin.crypto import decrypt_data, verify_raw_data
from wxlogin.errors import (
    InvalidRequest,
    NoSessionKey,
    SessionRevoked,
    SignatureMismatch,
    WatermarkMismatch,
)
from wxlogin.service.events import ServiceListener
from wxlogin.service.sealing import SessionKeySealer
from wxlogin.store.records import SessionRecord, User
from wxlogin.store.repository import Store
from wxlogin.tokens import AccessClaims
from wxlogin.wechat import WeChatClient
from wxlogin.wechat.protocol import (
    ANONYMOUS_AVATAR,
    ANONYMOUS_NICKNAME,
    ANSWER_COUNTRY_CODE_RE,
    ANSWER_PHONE_RE,
    ANSWER_PURE_PHONE_RE,
)

__all__ = ["ProfileUseCases"]


class ProfileUseCases:
    """Phone and profile, for the logged-in user named by ``claims``."""

    store: Store
    listener: ServiceListener | None
    _sealer: SessionKeySealer

    def _client(self, appid: str | None) -> WeChatClient:
        raise NotImplementedError  # LoginService's: the WeChat client of that app

    def _now(self) -> datetime:
        raise NotImplementedError  # LoginService's: the service clock, as an aware datetime

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


def _real(value: object, placeholder: str) -> str | None:
    """A profile value worth storing: not empty, not WeChat's anonymous placeholder."""
    return value if isinstance(value, str) and value and value != placeholder else None

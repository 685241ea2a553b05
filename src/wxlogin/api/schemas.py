"""Request and response bodies of the HTTP API (pydantic), as they appear in OpenAPI."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wxlogin.store.records import User


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LoginRequest(_Strict):
    code: str = Field(min_length=1, max_length=128, description="the code from wx.login()")
    appid: str | None = Field(
        default=None,
        max_length=64,
        description="which mini program; may be left out when the server serves only one",
    )


class RefreshRequest(_Strict):
    refresh_token: str = Field(min_length=1, max_length=512)


class PhoneRequest(_Strict):
    """Either ``code`` (the current phone button) or ``encrypted_data`` + ``iv`` (legacy)."""

    code: str | None = Field(default=None, max_length=256)
    encrypted_data: str | None = Field(default=None, max_length=8192)
    iv: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _one_form(self) -> PhoneRequest:
        legacy = self.encrypted_data is not None or self.iv is not None
        if (self.code is None) == (not legacy) or (
            legacy and not (self.encrypted_data and self.iv)
        ):
            raise ValueError("send either code, or encrypted_data and iv")
        return self


class ProfileUpdate(_Strict):
    nickname: str | None = Field(default=None, min_length=1, max_length=64)
    avatar_url: str | None = Field(default=None, min_length=1, max_length=1024)


class WeChatProfileRequest(_Strict):
    raw_data: str = Field(max_length=8192)
    signature: str = Field(max_length=64)
    encrypted_data: str = Field(max_length=8192)
    iv: str = Field(max_length=64)


class IdentityOut(BaseModel):
    appid: str
    openid: str


class UserOut(BaseModel):
    id: str
    unionid: str | None
    identities: list[IdentityOut]
    phone: str | None
    nickname: str | None
    avatar_url: str | None
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            unionid=user.unionid,
            identities=[IdentityOut(appid=i.appid, openid=i.openid) for i in user.identities],
            phone=user.phone,
            nickname=user.nickname,
            avatar_url=user.avatar_url,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
        )


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_token: str


class LoginResponse(TokenResponse):
    user: UserOut
    new_user: bool


class ErrorDetail(BaseModel):
    code: str = Field(description="stable machine-readable error code")
    message: str
    wechat_errcode: int | None = Field(default=None, description="WeChat's errcode, when any")


class ErrorResponse(BaseModel):
    error: ErrorDetail

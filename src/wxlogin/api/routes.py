"""The login API: /auth/* and /me*. Mounted by ``create_app`` or by a host app."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from wxlogin.api.deps import ClientIp, CurrentUser, ServiceDep
from wxlogin.api.errors import ERROR_RESPONSES
from wxlogin.api.schemas import (
    LoginRequest,
    LoginResponse,
    PhoneRequest,
    ProfileUpdate,
    RefreshRequest,
    TokenResponse,
    UserOut,
    WeChatProfileRequest,
)

__all__ = ["auth_router"]

auth_router = APIRouter(responses=ERROR_RESPONSES)


@auth_router.post("/auth/login", tags=["auth"])
async def login(body: LoginRequest, service: ServiceDep, ip: ClientIp) -> LoginResponse:
    """Trade a wx.login code for our tokens. The session_key stays on the server."""
    outcome = await service.login(body.code, appid=body.appid, client_ip=ip)
    return LoginResponse(
        access_token=outcome.tokens.access_token,
        expires_in=outcome.tokens.expires_in,
        refresh_token=outcome.tokens.refresh_token,
        user=UserOut.of(outcome.user),
        new_user=outcome.new_user,
    )


@auth_router.post("/auth/refresh", tags=["auth"])
async def refresh(body: RefreshRequest, service: ServiceDep) -> TokenResponse:
    """Rotate the refresh token. Presenting a used one revokes the session (refresh_reused)."""
    pair = await service.refresh(body.refresh_token)
    return TokenResponse(
        access_token=pair.access_token,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
    )


@auth_router.post("/auth/logout", tags=["auth"], status_code=status.HTTP_204_NO_CONTENT)
async def logout(user: CurrentUser, service: ServiceDep) -> Response:
    """Revoke this session; its access and refresh tokens stop working."""
    await service.logout(user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth_router.get("/me", tags=["me"])
async def me(user: CurrentUser, service: ServiceDep) -> UserOut:
    return UserOut.of(await service.user(user))


@auth_router.post("/me/phone", tags=["me"])
async def bind_phone(body: PhoneRequest, user: CurrentUser, service: ServiceDep) -> UserOut:
    """Bind the phone number: ``{"code"}`` from the phone button, or legacy encrypted data."""
    if body.code is not None:
        record = await service.bind_phone_by_code(user, body.code)
    else:
        assert body.encrypted_data is not None and body.iv is not None
        record = await service.bind_phone_encrypted(user, body.encrypted_data, body.iv)
    return UserOut.of(record)


@auth_router.patch("/me/profile", tags=["me"])
async def update_profile(body: ProfileUpdate, user: CurrentUser, service: ServiceDep) -> UserOut:
    """Nickname and avatar from the fill-in components (chooseAvatar / type="nickname")."""
    record = await service.update_profile(user, nickname=body.nickname, avatar_url=body.avatar_url)
    return UserOut.of(record)


@auth_router.post("/me/profile/wechat", tags=["me"])
async def wechat_profile(
    body: WeChatProfileRequest, user: CurrentUser, service: ServiceDep
) -> UserOut:
    """Legacy wx.getUserInfo: signature checked with the stored session_key, then decrypted."""
    record = await service.wechat_profile(
        user,
        raw_data=body.raw_data,
        signature=body.signature,
        encrypted_data=body.encrypted_data,
        iv=body.iv,
    )
    return UserOut.of(record)

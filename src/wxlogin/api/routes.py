"""The login API, /auth/* and /me*: handlers and their routes. Served by both faces."""

from __future__ import annotations

from typing import Any

from wxlogin.api.routing import Context, Route
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
from wxlogin.errors import (
    AuthenticationError,
    CryptoError,
    InvalidRequest,
    NoSessionKey,
    NotFound,
    Throttled,
    UnknownApp,
    UpstreamError,
    WeChatError,
    WxLoginError,
)
from wxlogin.metrics import LOGINS

__all__ = ["AUTH_ROUTES"]

# Counted here, where both faces answer a login: the outcome the mini program saw.
_NEW_USER = LOGINS.labels("new_user")
_RETURNING = LOGINS.labels("returning")


async def login(ctx: Context[LoginRequest]) -> LoginResponse:
    """Trade a wx.login code for our tokens. The session_key stays on the server.

    The code is single use: a second login with it answers `code_used`, so a client that
    retries must call wx.login again first.
    """
    body = ctx.body
    try:
        outcome = await ctx.service.login(body.code, appid=body.appid, client_ip=ctx.client_ip)
    except WxLoginError as exc:
        LOGINS.labels(exc.code).inc()
        raise
    (_NEW_USER if outcome.new_user else _RETURNING).inc()
    tokens = outcome.tokens
    return LoginResponse(
        access_token=tokens.access_token,
        token_type=tokens.token_type,
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
        user=UserOut.of(outcome.user),
        new_user=outcome.new_user,
    )


async def refresh(ctx: Context[RefreshRequest]) -> TokenResponse:
    """Rotate the refresh token. Presenting a used one revokes the session (refresh_reused)."""
    pair = await ctx.service.refresh(ctx.body.refresh_token)
    return TokenResponse(
        access_token=pair.access_token,
        token_type=pair.token_type,
        expires_in=pair.expires_in,
        refresh_token=pair.refresh_token,
    )


async def logout(ctx: Context[None]) -> None:
    """Revoke this session; its access and refresh tokens stop working."""
    await ctx.service.logout(ctx.claims)


async def me(ctx: Context[None]) -> UserOut:
    """The caller, with every (appid, openid) identity of the person."""
    return UserOut.of(await ctx.service.user(ctx.claims))


async def bind_phone(ctx: Context[PhoneRequest]) -> UserOut:
    """Bind the phone number: `{"code"}` from the phone button, or legacy encrypted data."""
    body, claims = ctx.body, ctx.claims
    if body.code is not None:
        record = await ctx.service.bind_phone_by_code(claims, body.code)
    else:
        assert body.encrypted_data is not None and body.iv is not None  # PhoneRequest checks
        record = await ctx.service.bind_phone_encrypted(claims, body.encrypted_data, body.iv)
    return UserOut.of(record)


async def update_profile(ctx: Context[ProfileUpdate]) -> UserOut:
    """Nickname and avatar from the fill-in components (chooseAvatar / type="nickname")."""
    body = ctx.body
    record = await ctx.service.update_profile(
        ctx.claims, nickname=body.nickname, avatar_url=body.avatar_url
    )
    return UserOut.of(record)


async def post_profile(ctx: Context[ProfileUpdate]) -> UserOut:
    """The same as `PATCH /me/profile`, for `wx.request`, which cannot send PATCH."""
    return await update_profile(ctx)


async def wechat_profile(ctx: Context[WeChatProfileRequest]) -> UserOut:
    """Legacy wx.getUserInfo: signature checked with the stored session_key, then decrypted."""
    body = ctx.body
    record = await ctx.service.wechat_profile(
        ctx.claims,
        raw_data=body.raw_data,
        signature=body.signature,
        encrypted_data=body.encrypted_data,
        iv=body.iv,
    )
    return UserOut.of(record)


_UPSTREAM = (WeChatError, UpstreamError)

AUTH_ROUTES: tuple[Route[Any], ...] = (
    Route(
        "POST",
        "/auth/login",
        login,
        "Log in with a wx.login code",
        ("auth",),
        body=LoginRequest,
        response=LoginResponse,
        raises=(InvalidRequest, UnknownApp, Throttled, *_UPSTREAM),
    ),
    Route(
        "POST",
        "/auth/refresh",
        refresh,
        "Rotate the refresh token",
        ("auth",),
        body=RefreshRequest,
        response=TokenResponse,
        raises=(InvalidRequest, AuthenticationError),
    ),
    Route(
        "POST", "/auth/logout", logout, "Log out", ("auth",), response=None, status=204, auth=True
    ),
    Route("GET", "/me", me, "Who am I", ("me",), response=UserOut, auth=True, raises=(NotFound,)),
    Route(
        "POST",
        "/me/phone",
        bind_phone,
        "Bind the phone number",
        ("me",),
        body=PhoneRequest,
        response=UserOut,
        auth=True,
        raises=(InvalidRequest, NotFound, NoSessionKey, CryptoError, *_UPSTREAM),
    ),
    Route(
        "PATCH",
        "/me/profile",
        update_profile,
        "Set nickname and avatar",
        ("me",),
        body=ProfileUpdate,
        response=UserOut,
        auth=True,
        raises=(NotFound,),
    ),
    Route(
        "POST",
        "/me/profile",
        post_profile,
        "Set nickname and avatar (POST, for wx.request)",
        ("me",),
        body=ProfileUpdate,
        response=UserOut,
        auth=True,
        raises=(NotFound,),
    ),
    Route(
        "POST",
        "/me/profile/wechat",
        wechat_profile,
        "Profile from legacy wx.getUserInfo",
        ("me",),
        body=WeChatProfileRequest,
        response=UserOut,
        auth=True,
        raises=(InvalidRequest, NotFound, NoSessionKey, CryptoError),
    ),
)

"""``wxlogin users list|show`` and ``wxlogin sessions revoke``: look after users by hand."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wxlogin.cli._common import CliError, describe, fail, load_settings
from wxlogin.errors import WxLoginError

if TYPE_CHECKING:
    from wxlogin.store.records import User
    from wxlogin.store.repository import Store


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = subparsers.add_parser("users", help="list and show users")
    users.add_argument("--config", type=Path, help="a wxlogin.toml file")
    users_sub = users.add_subparsers(title="users commands", metavar="ACTION", required=True)
    listing = users_sub.add_parser("list", help="list users, newest first")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
    listing.set_defaults(handler=_list_users)
    show = users_sub.add_parser("show", help="show one user as JSON")
    show.add_argument("user_id", metavar="ID")
    show.set_defaults(handler=_show_user)

    sessions = subparsers.add_parser("sessions", help="revoke sessions")
    sessions.add_argument("--config", type=Path, help="a wxlogin.toml file")
    sessions_sub = sessions.add_subparsers(
        title="sessions commands", metavar="ACTION", required=True
    )
    revoke = sessions_sub.add_parser("revoke", help="revoke every session of a user")
    revoke.add_argument("--user", required=True, metavar="ID", help="the user's id")
    revoke.set_defaults(handler=_revoke)


def _user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "unionid": user.unionid,
        "identities": [{"appid": i.appid, "openid": i.openid} for i in user.identities],
        "phone": user.phone,
        "nickname": user.nickname,
        "avatar_url": user.avatar_url,
        "created_at": user.created_at.isoformat(),
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
    }


async def _with_store(args: argparse.Namespace) -> Store:
    from wxlogin.store.repository import Store

    settings = load_settings(args.config)
    return Store.from_url(settings.effective_database_url)


def _list_users(args: argparse.Namespace) -> int:
    async def go() -> list[User]:
        store = await _with_store(args)
        try:
            return await store.list_users(limit=args.limit, offset=args.offset)
        finally:
            await store.aclose()

    try:
        users = asyncio.run(go())
    except (CliError, WxLoginError) as exc:
        return fail("users list", describe(exc))
    if not users:
        print("no users yet")
        return 0
    print(f"{'ID':<18} {'CREATED':<20} {'LAST LOGIN':<20} {'PHONE':<14} APPS")
    for user in users:
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M:%S") if user.last_login_at else "-"
        apps = ",".join(i.appid for i in user.identities)
        print(
            f"{user.id:<18} {user.created_at.strftime('%Y-%m-%d %H:%M:%S'):<20} {last:<20} "
            f"{user.phone or '-':<14} {apps}"
        )
    return 0


def _show_user(args: argparse.Namespace) -> int:
    async def go() -> User | None:
        store = await _with_store(args)
        try:
            return await store.get_user(args.user_id)
        finally:
            await store.aclose()

    try:
        user = asyncio.run(go())
    except (CliError, WxLoginError) as exc:
        return fail("users show", describe(exc))
    if user is None:
        return fail("users show", f"no user {args.user_id!r}", status=1)
    print(json.dumps(_user_json(user), ensure_ascii=False, indent=2))
    return 0


def _revoke(args: argparse.Namespace) -> int:
    async def go() -> list[str]:
        from wxlogin.service.factory import build_service

        # Through the service, so the revocation also reaches the shared cache that running
        # servers consult on every request.
        service = await build_service(load_settings(args.config), migrate=False)
        try:
            if await service.store.get_user(args.user) is None:
                raise CliError(f"no user {args.user!r}")
            return await service.revoke_user(args.user)
        finally:
            await service.aclose()

    try:
        revoked = asyncio.run(go())
    except (CliError, WxLoginError) as exc:
        return fail("sessions revoke", describe(exc), status=1)
    print(f"revoked {len(revoked)} session(s) of user {args.user}")
    return 0

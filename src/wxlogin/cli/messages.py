"""``wxlogin messages list``: what was sent to whom — the record of every subscribe message.

One line per send, newest first: when, how it went (sent, refused, invalid, unknown, unsent),
WeChat's errcode, the user, the app, the template, and the keyword at fault. The values of a
message are not in the record, so they are not here either.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wxlogin.cli._common import CliError, describe, fail, load_settings
from wxlogin.errors import WxLoginError

if TYPE_CHECKING:
    from wxlogin.store.records import MessageSend


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    messages = subparsers.add_parser("messages", help="list the subscribe messages sent")
    messages.add_argument("--config", type=Path, help="a wxlogin.toml file")
    actions = messages.add_subparsers(title="messages commands", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        help="list sends, newest first",
        description="Every subscribe-message send, newest first: when, how it went, WeChat's "
        "errcode, user, app, template, the keyword at fault. Never the values.",
    )
    listing.add_argument("--user", metavar="ID", help="only this user's")
    listing.add_argument("--template", metavar="ID", help="only this template's")
    listing.add_argument("--limit", type=_positive, default=50, help="at most this many (50)")
    listing.add_argument("--offset", type=_not_negative, default=0, help="skip this many (0)")
    listing.add_argument("--json", action="store_true", help="one JSON array instead of a table")
    listing.set_defaults(handler=_list)


def _positive(text: str) -> int:
    value = _not_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _not_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def _as_json(send: MessageSend) -> dict[str, Any]:
    return {
        "id": send.id,
        "sent_at": send.sent_at.isoformat(),
        "outcome": send.outcome.value,
        "errcode": send.errcode,
        "error_code": send.error_code,
        "field": send.field,
        "user_id": send.user_id,
        "appid": send.appid,
        "template_id": send.template_id,
        "keywords": list(send.keywords),
    }


def _list(args: argparse.Namespace) -> int:
    async def go() -> list[MessageSend]:
        from wxlogin.store.repository import Store

        store = Store.from_url(load_settings(args.config).effective_database_url)
        try:
            return await store.list_message_sends(
                limit=args.limit, offset=args.offset, user_id=args.user, template_id=args.template
            )
        finally:
            await store.aclose()

    try:
        sends = asyncio.run(go())
    except (CliError, WxLoginError) as exc:
        return fail("messages list", describe(exc))
    if args.json:
        print(json.dumps([_as_json(send) for send in sends], ensure_ascii=False, indent=2))
        return 0
    if not sends:
        print("no messages sent yet" if not (args.user or args.template) else "none match")
        return 0
    print(
        f"{'SENT AT (UTC)':<20} {'OUTCOME':<8} {'ERRCODE':<7} {'USER':<18} {'APP':<20} "
        "TEMPLATE / AT FAULT"
    )
    for send in sends:
        errcode = str(send.errcode) if send.errcode is not None else "-"
        fault = f"  ({send.field})" if send.field else ""
        print(
            f"{send.sent_at.strftime('%Y-%m-%d %H:%M:%S'):<20} {send.outcome.value:<8} "
            f"{errcode:<7} {send.user_id:<18} {send.appid:<20} {send.template_id}{fault}"
        )
    return 0

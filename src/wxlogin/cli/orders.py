"""``wxlogin orders list|show|refund|close``: look after WeChat Pay orders by hand.

``list`` and ``show`` read the database only. ``refund`` and ``close`` go through the same
``PayService`` as the server — WeChat Pay is asked, with the app's merchant keys from the
settings, and the order is changed only as WeChat Pay's answer says. Amounts are in fen
(分), as WeChat Pay counts them: ``--amount 150`` is ¥1.50.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from wxlogin.cli._common import CliError, describe, fail, load_settings
from wxlogin.errors import WxLoginError

if TYPE_CHECKING:
    from wxlogin.service.pay import PayService
    from wxlogin.store.records import Order, Refund
    from wxlogin.store.repository import Store

T = TypeVar("T")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    orders = subparsers.add_parser("orders", help="list, show, refund and close pay orders")
    orders.add_argument("--config", type=Path, help="a wxlogin.toml file")
    actions = orders.add_subparsers(title="orders commands", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list orders, newest first")
    listing.add_argument("--user", metavar="ID", help="only this user's")
    listing.add_argument("--limit", type=_count(1), default=50, help="at most this many (50)")
    listing.add_argument("--offset", type=_count(0), default=0, help="skip this many (0)")
    listing.add_argument("--json", action="store_true", help="one JSON array instead of a table")
    listing.set_defaults(handler=_list)
    show = actions.add_parser("show", help="one order and its refunds, as JSON")
    show.add_argument("order_id", metavar="ID")
    show.set_defaults(handler=_show)
    refund = actions.add_parser(
        "refund",
        help="refund a paid order, all that is left or --amount fen",
        description="Ask WeChat Pay to refund a paid order. Without --amount, all that is "
        "left. A refund is usually 'processing' at first; WeChat Pay's callback finishes it.",
    )
    refund.add_argument("order_id", metavar="ID")
    refund.add_argument("--amount", type=_count(1), metavar="FEN", help="in fen: 150 is ¥1.50")
    refund.add_argument("--reason", help="shown to the payer (at most 80 characters)")
    refund.set_defaults(handler=_refund)
    close = actions.add_parser("close", help="close an unpaid order so it can no longer be paid")
    close.add_argument("order_id", metavar="ID")
    close.set_defaults(handler=_close)


def _count(least: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}")
        return value

    return parse


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


def order_json(order: Order, refunds: list[Refund] | None = None) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    data: dict[str, Any] = {
        "id": order.id,
        "user_id": order.user_id,
        "appid": order.appid,
        "mchid": order.mchid,
        "out_trade_no": order.out_trade_no,
        "transaction_id": order.transaction_id,
        "description": order.description,
        "attach": order.attach,
        "amount": order.amount,
        "currency": order.currency,
        "state": order.state.value,
        "refunded_amount": order.refunded_amount,
        "created_at": when(order.created_at),
        "expires_at": when(order.expires_at),
        "paid_at": when(order.paid_at),
        "closed_at": when(order.closed_at),
    }
    if refunds is not None:
        data["refunds"] = [refund_json(refund) for refund in refunds]
    return data


def refund_json(refund: Refund) -> dict[str, Any]:
    return {
        "out_refund_no": refund.out_refund_no,
        "refund_id": refund.refund_id,
        "amount": refund.amount,
        "state": refund.state.value,
        "reason": refund.reason,
        "created_at": refund.created_at.isoformat(),
        "succeeded_at": refund.succeeded_at.isoformat() if refund.succeeded_at else None,
    }


def _with_store(args: argparse.Namespace, work: Callable[[Store], Awaitable[T]]) -> T:
    async def go() -> T:
        from wxlogin.store.repository import Store

        store = Store.from_url(load_settings(args.config).effective_database_url)
        try:
            return await work(store)
        finally:
            await store.aclose()

    return asyncio.run(go())


def _with_pay(args: argparse.Namespace, work: Callable[[PayService], Awaitable[T]]) -> T:
    async def go() -> T:
        from wxlogin.service.factory import build_service

        service = await build_service(load_settings(args.config), migrate=False)
        try:
            if service.pay is None:
                raise CliError("no app here takes payments: give one a [apps.pay] merchant")
            return await work(service.pay)
        finally:
            await service.aclose()

    return asyncio.run(go())


def _list(args: argparse.Namespace) -> int:
    async def page(store: Store) -> list[Order]:
        return await store.orders.page(user_id=args.user, limit=args.limit, offset=args.offset)

    try:
        orders = _with_store(args, page)
    except (CliError, WxLoginError) as exc:
        return fail("orders list", describe(exc))
    if args.json:
        print(json.dumps([order_json(o) for o in orders], ensure_ascii=False, indent=2))
        return 0
    if not orders:
        print("no orders yet" if not args.user else "none match")
        return 0
    print(f"{'CREATED (UTC)':<20} {'ID':<18} {'STATE':<18} {'AMOUNT':>12} {'REFUNDED':>12} USER")
    for order in orders:
        print(
            f"{order.created_at.strftime('%Y-%m-%d %H:%M:%S'):<20} {order.id:<18} "
            f"{order.state.value:<18} {_yuan(order.amount):>12} "
            f"{_yuan(order.refunded_amount):>12} {order.user_id}"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    async def one(store: Store) -> dict[str, Any] | None:
        order = await store.orders.get(args.order_id)
        if order is None:
            return None
        return order_json(order, await store.orders.refunds_of(order.id))

    try:
        found = _with_store(args, one)
    except (CliError, WxLoginError) as exc:
        return fail("orders show", describe(exc))
    if found is None:
        return fail("orders show", f"no order {args.order_id!r}", status=1)
    print(json.dumps(found, ensure_ascii=False, indent=2))
    return 0


def _refund(args: argparse.Namespace) -> int:
    async def refund(pay: PayService) -> Refund:
        return await pay.refund(args.order_id, amount=args.amount, reason=args.reason)

    try:
        done = _with_pay(args, refund)
    except (CliError, WxLoginError) as exc:
        return fail("orders refund", describe(exc), status=1)
    print(
        f"refund {done.out_refund_no} of {_yuan(done.amount)}: {done.state.value}"
        + (" (WeChat Pay's callback will finish it)" if done.state.value == "processing" else "")
    )
    return 0


def _close(args: argparse.Namespace) -> int:
    async def close(pay: PayService) -> Order:
        return await pay.close(args.order_id)

    try:
        order = _with_pay(args, close)
    except (CliError, WxLoginError) as exc:
        return fail("orders close", describe(exc), status=1)
    print(f"order {order.id}: {order.state.value}")
    return 0

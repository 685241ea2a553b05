"""The simulated WeChat Pay's part of ``/demo``'s timeline, read off its wire by the witness.

``SimulatorWitness`` hands over the exchanges on these paths: the pay sheet the phone plays
(``POST /__sim/pay``) and what wxlogin asked WeChat Pay — placing an order (JSAPI), querying
one, closing one. What a line may say: the order's number, amounts, trade states, and
prepay_id / transaction_id cut to a prefix. Never a signature, a key, or the Authorization
header (none of it is read).
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from wxlogin.api.demo.asgi import text_of as _text
from wxlogin.api.demo.feed import Side, code_prefix
from wxlogin.pay import protocol as wxpay

__all__ = ["SIM_PAY", "narrate", "watches"]

SIM_PAY: Final = "/__sim/pay"
_ORDER_PREFIX: Final = wxpay.ORDER_BY_OUT_TRADE_NO.partition("{")[0]
_CLOSE_SUFFIX: Final = wxpay.CLOSE_ORDER.rpartition("}")[2]
_SHEET_WORDS: Final = {
    "success": ("pay sheet: paid", "WeChat Pay queues its callback to wxlogin"),
    "cancel": ("pay sheet: cancelled", "nothing was paid"),
    "fail": ("pay sheet: payment failed", "nothing was paid"),
}


class Recorder(Protocol):
    def record(self, side: Side, kind: str, title: str, detail: str = "") -> None: ...


def watches(path: str) -> bool:
    """Whether ``path`` is one of WeChat Pay's that the timeline tells."""
    return path in (SIM_PAY, wxpay.JSAPI_ORDER) or path.startswith(_ORDER_PREFIX)


def _number(data: Any, key: str) -> str:
    value = data.get(key) if isinstance(data, dict) else None
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "?"


def narrate(
    feed: Recorder,
    method: str,
    path: str,
    request: dict[str, Any],
    status: int,
    answer: dict[str, Any],
) -> None:
    """One exchange with the simulated WeChat Pay, as a line of the timeline."""
    if path == SIM_PAY:
        _sheet(feed, request, status, answer)
        return
    if not 200 <= status < 300:
        # WeChat Pay's refusals are {"code", "message"}: the code is the stable part.
        code = _text(answer, "code") or f"HTTP {status}"
        feed.record(
            "wechat", "pay_refused", f"WeChat Pay refused: {code}", _text(answer, "message")
        )
        return
    if path == wxpay.JSAPI_ORDER:
        amount = request.get("amount")
        feed.record(
            "wechat",
            "pay_order_placed",
            "WeChat Pay order placed (JSAPI)",
            f"{_text(request, 'out_trade_no')}: {_number(amount, 'total')} fen, "
            f"“{_text(request, 'description')}”; prepay_id "
            f"{code_prefix(_text(answer, 'prepay_id'))} for the mini program (2 h)",
        )
    elif method == "POST" and path.endswith(_CLOSE_SUFFIX):
        number = path[len(_ORDER_PREFIX) : -len(_CLOSE_SUFFIX)]
        feed.record("wechat", "pay_closed", "WeChat Pay order closed", f"{number[:64]}")
    elif method == "GET":
        transaction = _text(answer, "transaction_id")
        paid = f", transaction {code_prefix(transaction)}" if transaction else ""
        feed.record(
            "wechat",
            "pay_query",
            "WeChat Pay queried",
            f"{_text(answer, 'out_trade_no')}: {_text(answer, 'trade_state') or '?'}{paid}",
        )


def _sheet(feed: Recorder, request: dict[str, Any], status: int, answer: dict[str, Any]) -> None:
    """The user's choice at the pay sheet, as WeChat Pay took it."""
    if status != 200:
        feed.record("wechat", "control_refused", "pay sheet refused", _text(answer, "error"))
        return
    outcome = _text(request, "outcome")
    title, after = _SHEET_WORDS.get(outcome, (f"pay sheet: {outcome or '?'}", ""))
    transaction = _text(answer, "transaction_id")
    paid = f", transaction {code_prefix(transaction)}" if transaction else ""
    feed.record(
        "wechat",
        "pay_sheet",
        title,
        f"{_text(request, 'out_trade_no')}: {_text(answer, 'trade_state') or '?'}{paid}; {after}",
    )

"""Subscribe-message sends: recording each one and listing them for an operator.

Units of work over a ``Tx`` (see ``tx.py``), the same on both backends; the statements are in
``sql.py`` (its "message sends" section). A row holds who, which template, which keywords and
how the send went — never the values of the keywords, which may be personal data.
"""

from __future__ import annotations

from wxlogin.store.records import MessageSend, SendOutcome
from wxlogin.store.tx import Row, Tx

__all__ = ["list_sends", "record_send"]

_OUTCOMES = {outcome.value: outcome for outcome in SendOutcome}


async def record_send(tx: Tx, send: MessageSend) -> MessageSend:
    """Store one send as it is given (its id and time are the caller's)."""
    await tx.run(
        tx.sql.insert_message_send,
        send.id,
        send.user_id,
        send.appid,
        send.template_id,
        ",".join(send.keywords),
        send.outcome.value,
        send.errcode,
        send.error_code,
        send.field,
        send.sent_at,
    )
    return send


async def list_sends(
    tx: Tx, *, limit: int, offset: int, user_id: str | None, template_id: str | None
) -> list[MessageSend]:
    """Sends newest first, of one user and/or one template when those are given."""
    rows = await tx.all(
        tx.sql.list_message_sends,
        user_id,
        user_id,
        template_id,
        template_id,
        limit,
        offset,
    )
    return [_send(tx, row) for row in rows]


def _send(tx: Tx, row: Row) -> MessageSend:
    keywords: str = row["keywords"]
    return MessageSend(
        id=row["id"],
        user_id=row["user_id"],
        appid=row["appid"],
        template_id=row["template_id"],
        keywords=tuple(keywords.split(",")) if keywords else (),
        # A value this version does not know (written by a newer one) reads as "unknown".
        outcome=_OUTCOMES.get(row["outcome"], SendOutcome.UNKNOWN),
        errcode=row["errcode"],
        error_code=row["error_code"],
        field=row["field"],
        sent_at=tx.time(row["sent_at"]),
    )

"""Every statement the store sends at run time, per backend.

Plain SQL, written here once per shape; there is no query builder on the hot path (building
and compiling SQLAlchemy expressions was half the CPU of a login). Most statements read the
same on both backends and are written with ``?`` placeholders, which ``_numbered`` turns into
PostgreSQL's ``$1, $2, …``; where the dialects differ, each backend has its own text. The
PostgreSQL batch functions called here are created by migration ``0002``.

Timestamps are bound as aware datetimes; the SQLite transaction turns them into the naive-UTC
text the schema has always stored (``YYYY-MM-DD HH:MM:SS.ffffff``, which sorts as time).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Final

__all__ = ["POSTGRES", "SQLITE", "USER_COLUMNS", "Statements"]

USER_COLUMNS: Final = (
    "id, unionid, phone, pure_phone, phone_country_code, nickname, avatar_url, merged_into, "
    "created_at, last_login_at"
)
SESSION_COLUMNS: Final = (
    "id, user_id, appid, openid, created_at, last_used_at, expires_at, revoked_at"
)
ORDER_COLUMNS: Final = (
    "id, user_id, appid, mchid, out_trade_no, description, attach, amount, currency, state, "
    "refunded_amount, prepay_id, prepay_expires_at, transaction_id, created_at, updated_at, "
    "expires_at, paid_at, closed_at"
)
REFUND_COLUMNS: Final = (
    "id, order_id, out_refund_no, amount, reason, state, refund_id, created_at, updated_at, "
    "succeeded_at"
)
_S: Final = "sessions.id, sessions.user_id, sessions.appid, sessions.openid, " + (
    "sessions.created_at, sessions.last_used_at, sessions.expires_at, sessions.revoked_at"
)
MESSAGE_SEND_COLUMNS: Final = (
    "id, user_id, appid, template_id, keywords, outcome, errcode, error_code, field, sent_at"
)


@dataclass(frozen=True, slots=True)
class Statements:
    # True on PostgreSQL: placeholders are $1, $2, … (see ``adapt``).
    numbered: bool = False
    # ---------------------------------------------------------------- users
    user_by_id: str = f"SELECT {USER_COLUMNS} FROM users WHERE id = ?"
    user_by_unionid: str = f"SELECT {USER_COLUMNS} FROM users WHERE unionid = ?"
    # A user and its identities in one query (LEFT JOIN: a user may have none).
    load_user: str = (
        f"SELECT {', '.join('u.' + c for c in USER_COLUMNS.split(', '))}, i.appid, i.openid "
        "FROM users u LEFT JOIN identities i ON i.user_id = u.id WHERE u.id = ? "
        "ORDER BY i.created_at, i.appid, i.openid"
    )
    list_users: str = (
        f"SELECT {USER_COLUMNS} FROM users WHERE merged_into IS NULL "
        "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
    )
    # One JSON array of user ids (SQLite) / one text[] (PostgreSQL): same statement whatever
    # the page size.
    identities_of_users: str = (
        "SELECT user_id, appid, openid FROM identities "
        "WHERE user_id IN (SELECT value FROM json_each(?)) ORDER BY created_at, appid, openid"
    )
    touch_user: str = (
        f"UPDATE users SET last_login_at = ? WHERE id = ? AND merged_into IS NULL "
        f"RETURNING {USER_COLUMNS}"
    )
    insert_user: str = (
        "INSERT INTO users (id, unionid, created_at, updated_at, last_login_at) "
        f"VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING {USER_COLUMNS}"
    )
    adopt_unionid: str = (
        "UPDATE users SET unionid = ?, updated_at = ? WHERE id = ? AND unionid IS NULL "
        f"RETURNING {USER_COLUMNS}"
    )
    # The survivor of a merge keeps its own profile; empty fields come from the loser. The
    # phone moves as one unit, decided on the row as it is now (CASE, not Python).
    merge_into_survivor: str = (
        "UPDATE users SET phone = COALESCE(phone, CAST(? AS TEXT)), "
        "pure_phone = CASE WHEN phone IS NULL THEN CAST(? AS TEXT) ELSE pure_phone END, "
        "phone_country_code = CASE WHEN phone IS NULL THEN CAST(? AS TEXT) "
        "ELSE phone_country_code END, "
        "nickname = COALESCE(nickname, CAST(? AS TEXT)), "
        "avatar_url = COALESCE(avatar_url, CAST(? AS TEXT)), "
        "last_login_at = ?, updated_at = ? WHERE id = ? AND merged_into IS NULL "
        f"RETURNING {USER_COLUMNS}"
    )
    repoint_tombstones: str = (
        "UPDATE users SET merged_into = ?, updated_at = ? WHERE merged_into = ?"
    )
    tombstone: str = (
        "UPDATE users SET merged_into = ?, updated_at = ? WHERE id = ? AND merged_into IS NULL"
    )
    # ---------------------------------------------------------------- identities
    touch_identity: str = (
        "UPDATE identities SET last_login_at = ?, session_key_enc = ? "
        "WHERE appid = ? AND openid = ? RETURNING user_id"
    )
    touch_identity_with_unionid: str = (
        "UPDATE identities SET last_login_at = ?, session_key_enc = ?, unionid = ? "
        "WHERE appid = ? AND openid = ? RETURNING user_id"
    )
    identity_owner: str = "SELECT user_id FROM identities WHERE appid = ? AND openid = ?"
    identities_of: str = (
        "SELECT appid, openid FROM identities WHERE user_id = ? ORDER BY created_at, appid, openid"
    )
    insert_identity: str = (
        "INSERT INTO identities "
        "(appid, openid, user_id, unionid, created_at, last_login_at, session_key_enc) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING appid"
    )
    repoint_identity: str = (
        "UPDATE identities SET user_id = ?, last_login_at = ?, session_key_enc = ? "
        "WHERE appid = ? AND openid = ?"
    )
    set_identity_unionid: str = "UPDATE identities SET unionid = ? WHERE appid = ? AND openid = ?"
    move_identities: str = "UPDATE identities SET user_id = ? WHERE user_id = ?"
    # ---------------------------------------------------------------- sessions
    insert_session: str = (
        "INSERT INTO sessions "
        "(id, user_id, appid, openid, refresh_hash, created_at, last_used_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    get_session: str = (
        f"SELECT {_S}, identities.session_key_enc FROM sessions LEFT JOIN identities "
        "ON identities.appid = sessions.appid AND identities.openid = sessions.openid "
        "WHERE sessions.id = ?"
    )
    session_by_id: str = f"SELECT {SESSION_COLUMNS}, refresh_hash FROM sessions WHERE id = ?"
    # Compare-and-set on the current hash: of two rotations with one token, one wins.
    swap_refresh: str = (
        "UPDATE sessions SET refresh_hash = ?, last_used_at = ?, expires_at = ? "
        "WHERE id = ? AND refresh_hash = ? AND revoked_at IS NULL AND expires_at > ? "
        f"RETURNING {SESSION_COLUMNS}"
    )
    record_used_refresh: str = (
        "INSERT INTO used_refresh_tokens (token_hash, session_id, used_at) VALUES (?, ?, ?)"
    )
    used_refresh: str = (
        "SELECT session_id, used_at FROM used_refresh_tokens "
        "WHERE token_hash = ? AND session_id = ?"
    )
    revoke_reused: str = (
        "UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?), "
        "revoked_reason = COALESCE(revoked_reason, CAST(? AS TEXT)) WHERE id = ? "
        f"RETURNING {SESSION_COLUMNS}"
    )
    revoke_session: str = (
        "UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL"
    )
    revoke_user_sessions: str = (
        "UPDATE sessions SET revoked_at = ?, revoked_reason = ? "
        "WHERE user_id = ? AND revoked_at IS NULL RETURNING id"
    )
    move_sessions: str = "UPDATE sessions SET user_id = ? WHERE user_id = ?"
    revoked_since: str = (
        "SELECT id, revoked_at FROM sessions WHERE revoked_at >= ? ORDER BY revoked_at, id"
    )
    # ---------------------------------------------------------------- message sends
    insert_message_send: str = (
        "INSERT INTO message_sends (id, user_id, appid, template_id, keywords, outcome, "
        "errcode, error_code, field, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    # Newest first; each filter applies only when its parameter is not NULL (each is bound
    # twice: CAST gives PostgreSQL the type it cannot infer from IS NULL).
    list_message_sends: str = (
        f"SELECT {MESSAGE_SEND_COLUMNS} FROM message_sends "
        "WHERE (CAST(? AS TEXT) IS NULL OR user_id = ?) "
        "AND (CAST(? AS TEXT) IS NULL OR template_id = ?) "
        "ORDER BY sent_at DESC, id DESC LIMIT ? OFFSET ?"
    )
    # ---------------------------------------------------------------- orders (WeChat Pay)
    insert_order: str = (
        "INSERT INTO orders (id, user_id, appid, mchid, out_trade_no, description, attach, "
        "amount, currency, state, refunded_amount, created_at, updated_at, expires_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'created', 0, ?, ?, ?) "
        f"RETURNING {ORDER_COLUMNS}"
    )
    order_by_id: str = f"SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?"
    order_by_out_trade_no: str = f"SELECT {ORDER_COLUMNS} FROM orders WHERE out_trade_no = ?"
    # Newest first; the user filter applies only when given (bound twice, as above).
    list_orders: str = (
        f"SELECT {ORDER_COLUMNS} FROM orders WHERE (CAST(? AS TEXT) IS NULL OR user_id = ?) "
        "ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
    )
    set_prepay: str = (
        "UPDATE orders SET prepay_id = ?, prepay_expires_at = ?, updated_at = ? WHERE id = ? "
        f"RETURNING {ORDER_COLUMNS}"
    )
    # Only an order still waiting moves: a late or repeated "paid" changes nothing.
    mark_paid: str = (
        "UPDATE orders SET state = 'paid', transaction_id = ?, paid_at = ?, updated_at = ? "
        f"WHERE out_trade_no = ? AND state = 'created' RETURNING {ORDER_COLUMNS}"
    )
    mark_closed: str = (
        "UPDATE orders SET state = 'closed', closed_at = ?, updated_at = ? "
        f"WHERE id = ? AND state = 'created' RETURNING {ORDER_COLUMNS}"
    )
    # Reserve a refund's amount in one statement, so two refunds at once cannot add up to
    # more than the order (the right-hand sides read the row as it was).
    reserve_refund: str = (
        "UPDATE orders SET refunded_amount = refunded_amount + ?, "
        "state = CASE WHEN refunded_amount + ? >= amount THEN 'refunded' "
        "ELSE 'partially_refunded' END, updated_at = ? "
        "WHERE id = ? AND state IN ('paid', 'partially_refunded') "
        f"AND refunded_amount + ? <= amount RETURNING {ORDER_COLUMNS}"
    )
    release_refund: str = (
        "UPDATE orders SET refunded_amount = refunded_amount - ?, "
        "state = CASE WHEN refunded_amount - ? <= 0 THEN 'paid' "
        "ELSE 'partially_refunded' END, updated_at = ? "
        f"WHERE id = ? AND refunded_amount >= ? RETURNING {ORDER_COLUMNS}"
    )
    move_orders: str = "UPDATE orders SET user_id = ? WHERE user_id = ?"
    expired_unpaid: str = (
        f"SELECT {ORDER_COLUMNS} FROM orders WHERE state = 'created' AND expires_at <= ? "
        "ORDER BY expires_at LIMIT ?"
    )
    insert_refund: str = (
        "INSERT INTO refunds (id, order_id, out_refund_no, amount, reason, state, created_at, "
        f"updated_at) VALUES (?, ?, ?, ?, ?, 'processing', ?, ?) RETURNING {REFUND_COLUMNS}"
    )
    refund_by_out_refund_no: str = f"SELECT {REFUND_COLUMNS} FROM refunds WHERE out_refund_no = ?"
    refunds_of_order: str = (
        f"SELECT {REFUND_COLUMNS} FROM refunds WHERE order_id = ? ORDER BY created_at, id"
    )
    # Only a refund still processing moves: a late or repeated outcome changes nothing.
    finish_refund: str = (
        "UPDATE refunds SET state = ?, refund_id = COALESCE(?, refund_id), "
        "succeeded_at = COALESCE(?, succeeded_at), updated_at = ? "
        f"WHERE out_refund_no = ? AND state = 'processing' RETURNING {REFUND_COLUMNS}"
    )
    note_refund_id: str = (
        "UPDATE refunds SET refund_id = ?, updated_at = ? WHERE out_refund_no = ? "
        f"AND refund_id IS NULL RETURNING {REFUND_COLUMNS}"
    )
    # Refunds with no news since before ?: their answer and callback were lost, or WeChat Pay is
    # slow. Asked again by service/pay.py; ``touch_refund`` puts one back at the end of the queue.
    stale_refunds: str = (
        f"SELECT {REFUND_COLUMNS} FROM refunds WHERE state = 'processing' AND updated_at < ? "
        "ORDER BY updated_at LIMIT ?"
    )
    touch_refund: str = (
        "UPDATE refunds SET updated_at = ? WHERE out_refund_no = ? AND state = 'processing'"
    )
    insert_pay_event: str = (
        "INSERT INTO pay_events (id, event_type, reference, outcome, received_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id"
    )
    set_pay_event_outcome: str = "UPDATE pay_events SET outcome = ? WHERE id = ?"
    # ---------------------------------------------------------------- housekeeping
    ping: str = "SELECT 1"
    count_live_sessions: str = (
        "SELECT count(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > ?"
    )

    def adapt(self, statement: str) -> str:
        """A statement built at run time (cold paths only), in this backend's placeholders."""
        return _numbered(statement) if self.numbered else statement


_PLACEHOLDER = re.compile(r"\?")


def _numbered(statement: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, …`` (no statement here quotes a ``?``)."""
    counter = iter(range(1, 1000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", statement)


SQLITE: Final = Statements()

POSTGRES: Final = Statements(
    numbered=True,
    **{
        f.name: _numbered(getattr(SQLITE, f.name))
        for f in dataclasses.fields(Statements)
        if f.name not in ("numbered", "identities_of_users")
    },
    identities_of_users=(
        "SELECT user_id, appid, openid FROM identities WHERE user_id = ANY($1::text[]) "
        "ORDER BY created_at, appid, openid"
    ),
)

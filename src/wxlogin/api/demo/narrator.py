"""The wxlogin side of ``/demo``'s timeline: the service's listener events, put into words."""

from __future__ import annotations

from collections.abc import Mapping

from wxlogin.api.demo.feed import EventFeed, masked_phone
from wxlogin.service.events import ServiceListener

__all__ = ["service_narrator"]

_REFRESH_WORDS = {
    "rotated": ("refresh token rotated", "the old one is spent; a new pair is issued"),
    "replayed": (
        "refresh replayed within the grace window",
        "the same successor is handed out again; the session lives",
    ),
    "reused": ("refresh token reused: session revoked", "an old token came back"),
    "revoked": ("refresh refused", "the session was already revoked"),
    "expired": ("refresh refused", "the session has expired: log in again"),
    "unknown": ("refresh refused", "no such session or token"),
}


def _text(fields: Mapping[str, object], key: str) -> str:
    value = fields.get(key)
    return str(value) if isinstance(value, str | int | bool) else "?"


def service_narrator(feed: EventFeed) -> ServiceListener:
    """A ``LoginService.listener`` that writes each event to ``feed`` as a line of text."""

    def tell(event: str, fields: Mapping[str, object]) -> None:
        user = _text(fields, "user_id")
        if event == "login":
            identities = fields.get("identities")
            if fields.get("new_user"):
                feed.record("wxlogin", "user_created", "user created", f"id {user}")
            elif isinstance(identities, int) and identities > 1:
                feed.record(
                    "wxlogin",
                    "user_linked",
                    "user found, linked by unionid",
                    f"id {user}, {identities} mini-program identities",
                )
            else:
                feed.record("wxlogin", "user_found", "returning user found", f"id {user}")
            feed.record(
                "wxlogin",
                "tokens_issued",
                "tokens issued",
                f"access token for {_text(fields, 'expires_in')} s and a single-use refresh "
                "token; the session_key stays on the server",
            )
        elif event == "refresh":
            outcome = _text(fields, "outcome")
            title, detail = _REFRESH_WORDS.get(outcome, ("refresh", outcome))
            feed.record("wxlogin", f"refresh_{outcome}", title, detail)
        elif event == "logout":
            feed.record("wxlogin", "session_revoked", "session revoked (logout)", f"user {user}")
        elif event == "phone_bound":
            phone = masked_phone(_text(fields, "phone"))
            feed.record("wxlogin", "phone_bound", "phone bound", f"{phone} to user {user}")
        elif event == "profile_updated":
            names = fields.get("fields")
            listed = ", ".join(str(n) for n in names) if isinstance(names, list | tuple) else "?"
            feed.record("wxlogin", "profile_updated", "profile updated", f"{listed} of {user}")
        elif event == "message_sent":
            _message_sent(feed, fields)
        elif event == "avatar_replaced":
            feed.record(
                "wxlogin",
                "avatar_stored",
                "avatar stored",
                f"{_text(fields, 'media_type')}, {_text(fields, 'size')} bytes, for {user}",
            )

    return tell


_NOT_SENT = {
    "refused": "WeChat refused it",
    "invalid": "refused before WeChat: a value breaks its keyword's rule",
    "unknown": "no answer from WeChat: it may have been delivered",
    "unsent": "WeChat could not be reached",
}


def _message_sent(feed: EventFeed, fields: Mapping[str, object]) -> None:
    """A subscribe message the service sent (or did not): ids and codes, never its values."""
    user, template = _text(fields, "user_id"), _text(fields, "template_id")
    outcome = _text(fields, "outcome")
    if outcome == "sent":
        feed.record(
            "wxlogin",
            "message_sent",
            "subscribe message sent",
            f"{template} to user {user}; recorded, without its values",
        )
        return
    errcode = fields.get("errcode")
    why = _NOT_SENT.get(outcome, outcome)
    if isinstance(errcode, int) and errcode:
        why += f" (errcode {errcode}{': no accept left' if errcode == 43101 else ''})"
    field = _text(fields, "field")
    if field not in ("", "?"):
        why += f", keyword {field}"
    feed.record("wxlogin", "message_not_sent", "subscribe message not sent", f"{template}: {why}")

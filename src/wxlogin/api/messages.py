"""``POST /messages``: a host app's backend sends a subscribe message to one of our users.

Server to server: the caller sends one of the service tokens (``WXLOGIN_SERVICE_TOKENS``) as
``Authorization: Bearer <token>``, never a user's token — the user asked for the message in
the mini program (``wx.requestSubscribeMessage``), the host app decides when it goes out.
The work is ``MessageService.send_message`` (service/messages.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from wxlogin.api.routing import Context, Route
from wxlogin.api.schemas import _Request, _text
from wxlogin.errors import (
    InvalidRequest,
    NotFound,
    NotReady,
    UnknownApp,
    UnknownTemplate,
    UpstreamError,
    WeChatError,
)
from wxlogin.service.messages import MessageService

__all__ = ["MESSAGE_ROUTES", "MessageRequest", "MessageSent"]

# Bounds on untrusted input, well above what WeChat takes (no value over 32 characters, a few
# keywords per template): a longer value still gets its own clear 400 from the checks.
_MAX_KEYWORDS = 32
_MAX_VALUE = 256

Keyword = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Value = Annotated[str, msgspec.Meta(max_length=_MAX_VALUE)]


class MessageRequest(_Request):
    not_blank: ClassVar[tuple[str, ...]] = ("user_id", "template_id")

    # Text fields say in /openapi.json what _Request's check refuses (control characters,
    # blank values), as those of every other request do.
    user_id: Annotated[str, _text(64, "the user's id (`sub`)", min_length=1, blank=False)]
    template_id: Annotated[
        str,
        _text(
            128,
            "a template declared in message_templates (WXLOGIN_MESSAGE_TEMPLATES)",
            min_length=1,
            blank=False,
        ),
    ]
    data: Annotated[
        dict[Keyword, Value],
        msgspec.Meta(
            max_length=_MAX_KEYWORDS,
            description='each keyword of the template and its value: {"thing1": "已发货"}',
        ),
    ]
    page: (
        Annotated[
            str,
            _text(512, "the page the card opens, e.g. pages/order?id=42"),
        ]
        | None
    ) = None
    appid: (
        Annotated[
            str,
            _text(64, "which mini program; may be left out when the user uses only one"),
        ]
        | None
    ) = None
    miniprogram_state: Literal["developer", "trial", "formal"] | None = None
    lang: Literal["zh_CN", "en_US", "zh_HK", "zh_TW"] | None = None


class MessageSent(msgspec.Struct):
    id: Annotated[str, msgspec.Meta(description="the send's record (wxlogin messages list)")]
    user_id: str
    appid: str
    template_id: str
    outcome: Literal["sent"]
    sent_at: datetime


def _messages(ctx: Context[Any]) -> MessageService:
    messages = ctx.service.messages
    if messages is None:  # a service assembled by hand, without messages
        raise NotReady("subscribe messages are not set up on this server")
    return messages


async def send_message(ctx: Context[MessageRequest]) -> MessageSent:
    """Send a subscribe message to a user: needs one of the service tokens, not a user's token.

    Every value is checked against its keyword's kind first: a value WeChat would refuse
    answers 400 `invalid_message_data` naming the keyword, and nothing is sent. Each accept the
    user gave in the mini program allows one send; without one WeChat refuses with 43101,
    answered as 403 `not_subscribed`. Every send is recorded (`wxlogin messages list`), never
    with its values.
    """
    body = ctx.body
    sent = await _messages(ctx).send_message(
        body.user_id,
        body.template_id,
        body.data,
        page=body.page,
        appid=body.appid,
        state=body.miniprogram_state,
        lang=body.lang,
    )
    return MessageSent(
        id=sent.id,
        user_id=sent.user_id,
        appid=sent.appid,
        template_id=sent.template_id,
        outcome="sent",
        sent_at=sent.sent_at,
    )


MESSAGE_ROUTES: tuple[Route[Any], ...] = (
    Route(
        "POST",
        "/messages",
        send_message,
        "Send a subscribe message (server to server)",
        ("messages",),
        body=MessageRequest,
        response=MessageSent,
        service_credential=True,
        raises=(InvalidRequest, UnknownTemplate, UnknownApp, NotFound, WeChatError, UpstreamError),
    ),
)

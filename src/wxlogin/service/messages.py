"""Subscribe messages for host apps: ``MessageService.send_message(user_id, template_id, data)``.

The use-case behind ``POST /messages`` and the Python API a host app calls from its own code
(``service.messages.send_message(...)``). In order:

1. the template must be declared in ``message_templates`` (else ``UnknownTemplate``);
2. the user's openid in the right mini program is looked up (``appid`` may be left out when
   the user has an identity in only one of this server's apps);
3. every value is checked against its keyword's kind (``wxlogin.wechat.subscribe``): a value
   WeChat would refuse is refused here, naming the keyword, before any call to WeChat;
4. the message is sent on the app's shared access_token;
5. the send is recorded (``message_sends``): who, which template, which keywords, how it went,
   WeChat's errcode — never the values, which may be personal data (names, addresses,
   amounts). A failure to write that record is logged and does not turn a delivered message
   into an error: a caller told "failed" would send it again.

WeChat's refusals come back as their own classes: ``NotSubscribed`` (43101: no accept left —
ask the user again, from a tap), ``InvalidMessageData`` (47003), ``InvalidTemplate`` (40037).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from wxlogin.errors import (
    AppidRequired,
    ConfigurationError,
    MessageDataRejected,
    NotFound,
    UnknownApp,
    UnknownTemplate,
    UpstreamError,
    UserNotFound,
    WeChatError,
    WxLoginError,
)
from wxlogin.metrics import MESSAGES
from wxlogin.service.events import ServiceListener
from wxlogin.store.records import Identity, MessageSend, SendOutcome, User, new_id
from wxlogin.store.repository import Store
from wxlogin.wechat import WeChatClient
from wxlogin.wechat.client import MiniprogramState, SubscribeLang
from wxlogin.wechat.subscribe import MessageTemplate, check_message

__all__ = ["MessageService", "templates_from_settings"]

_log = logging.getLogger("wxlogin.service")


def templates_from_settings(
    declared: Mapping[str, Mapping[str, str]],
) -> dict[str, MessageTemplate]:
    """``Settings.message_templates`` as templates; ``ConfigurationError`` naming every
    problem (an unknown kind, a keyword whose name says another kind)."""
    templates: dict[str, MessageTemplate] = {}
    problems: list[str] = []
    for template_id, fields in declared.items():
        try:
            templates[template_id] = MessageTemplate.parse(template_id, fields)
        except ValueError as exc:
            problems.append(
                f"message_templates.{template_id[:40]} (WXLOGIN_MESSAGE_TEMPLATES): {exc}"
            )
    if problems:
        raise ConfigurationError("\n".join(problems))
    return templates


class MessageService:
    """Sends subscribe messages to users and records each send."""

    def __init__(
        self,
        store: Store,
        wechat: Mapping[str, WeChatClient],
        templates: Mapping[str, MessageTemplate],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._wechat = dict(wechat)
        self._templates = dict(templates)
        self._clock = clock
        # Told of each send (service/events.py); only `wxlogin dev` sets it, for /demo.
        self.listener: ServiceListener | None = None

    def __repr__(self) -> str:
        return f"MessageService(templates={sorted(self._templates)!r})"

    @property
    def templates(self) -> Mapping[str, MessageTemplate]:
        return self._templates

    async def send_message(
        self,
        user_id: str,
        template_id: str,
        data: Mapping[str, object],
        *,
        page: str | None = None,
        appid: str | None = None,
        state: MiniprogramState | None = None,
        lang: SubscribeLang | None = None,
    ) -> MessageSend:
        """Send ``template_id`` to the user with ``data`` (keyword → value); the record.

        Raises ``UnknownTemplate``, ``NotFound`` (no such user, or no identity in the app),
        ``AppidRequired`` (``appid`` needed: the user has identities in several apps),
        ``MessageDataRejected`` (a value WeChat would refuse; nothing was sent), or what
        WeChat said (``NotSubscribed``, ``InvalidMessageData``, ...). Every send that got as
        far as the checks of its values is recorded, refused or not.
        """
        template = self._templates.get(template_id)
        if template is None:
            raise UnknownTemplate(
                f"template {template_id[:128]!r} is not declared on this server "
                "(message_templates / WXLOGIN_MESSAGE_TEMPLATES)"
            )
        user = await self._store.get_user(user_id)
        if user is None:
            raise UserNotFound()
        identity = self._identity(user, appid)
        keywords = tuple(template.fields)
        try:
            values = check_message(template, data)
        except MessageDataRejected as refused:
            await self._record(user, identity, template_id, keywords, SendOutcome.INVALID, refused)
            raise
        try:
            await self._wechat[identity.appid].send_subscribe_message(
                identity.openid, template_id, values, page=page, state=state, lang=lang
            )
        except WeChatError as refused:
            await self._record(user, identity, template_id, keywords, SendOutcome.REFUSED, refused)
            raise
        except UpstreamError as lost:
            # Sent but unanswered: it may have been delivered. Not sent at all: it was not.
            outcome = SendOutcome.UNKNOWN if lost.request_sent else SendOutcome.UNSENT
            await self._record(user, identity, template_id, keywords, outcome, lost)
            raise
        return await self._record(user, identity, template_id, keywords, SendOutcome.SENT, None)

    def _identity(self, user: User, appid: str | None) -> Identity:
        """The user's (appid, openid) to send to; the newest when a user has several."""
        if appid is not None:
            if appid not in self._wechat:
                raise UnknownApp(f"appid {appid[:64]!r} is not configured on this server")
            mine = [i for i in user.identities if i.appid == appid]
            if not mine:
                raise NotFound("the user has never logged in to this mini program")
            return mine[-1]
        ours = [i for i in user.identities if i.appid in self._wechat]
        if not ours:
            raise NotFound("the user has no identity in the mini programs this server serves")
        if len({i.appid for i in ours}) > 1:
            raise AppidRequired()
        return ours[-1]

    async def _record(
        self,
        user: User,
        identity: Identity,
        template_id: str,
        keywords: Sequence[str],
        outcome: SendOutcome,
        error: WxLoginError | None,
    ) -> MessageSend:
        MESSAGES.labels(outcome.value).inc()
        errcode = error.errcode if isinstance(error, WeChatError) else None
        field = getattr(error, "field", None)
        field = field if isinstance(field, str) else None
        error_code = error.code if error is not None else None
        now = datetime.fromtimestamp(self._clock(), UTC)
        try:
            send = await self._store.record_message_send(
                user_id=user.id,
                appid=identity.appid,
                template_id=template_id,
                keywords=keywords,
                outcome=outcome,
                errcode=errcode,
                error_code=error_code,
                field=field,
                now=now,
            )
        except WxLoginError as exc:
            # The message went (or did not) whatever the record says; the operator hears of it.
            _log.error(
                "subscribe message (%s) to user %s, template %s, not recorded: %s",
                outcome.value,
                user.id,
                template_id,
                exc.code,
            )
            send = MessageSend(
                new_id(12),
                user.id,
                identity.appid,
                template_id,
                tuple(keywords),
                outcome,
                errcode,
                error_code,
                field,
                now,
            )
        if self.listener is not None:
            self.listener(
                "message_sent",
                {
                    "user_id": user.id,
                    "template_id": template_id,
                    "outcome": outcome.value,
                    "errcode": errcode or 0,
                    "field": send.field or "",
                },
            )
        return send

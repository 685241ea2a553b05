"""Subscribe messages in the simulated WeChat: templates, the dialog's accepts, the sends.

WeChat's rules, as ``POST /cgi-bin/message/subscribe/send`` applies them:

* every accept the user gives in the dialog (``wx.requestSubscribeMessage``) allows exactly
  one send of that template to that user; accepts add up, a reject adds nothing;
* a send is checked in this order: the access_token; the body (47001); ``touser`` — a user of
  this app (40003); ``template_id`` — a template of this app (40037); every keyword of the
  template present, each value fitting its kind (47003, the errmsg naming the keyword); then
  an accept left (43101). Only a send that passes everything spends the accept and is
  delivered: a refused send never spends one;
* a success answers ``{"errcode":0,"errmsg":"ok"}`` (a ``msgid`` too with
  ``SimulatorConfig.subscribe_send_msgid``: WeChat's answers here are reported both ways).

Values are checked here with code of this module's own. The facts it reads (kinds, lengths)
are ``wxlogin.wechat.protocol``'s, shared with the client; the client's checks
(``wxlogin.wechat.subscribe``) are written separately, so that one misreading of WeChat's
rules cannot hide on both sides.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from wxlogin.simulator.errors import InvalidControlRequest, SimulatorError
from wxlogin.simulator.state import App, Member, Refused, World
from wxlogin.simulator.wire import Answer, content_type_for, error_answer, json_answer, rid
from wxlogin.wechat import protocol as wx
from wxlogin.wechat.protocol import ErrCode, FieldKind

__all__ = ["Delivered", "SubscriptionBook", "Template", "value_fits"]

DIALOG_RESULTS: Final = ("accept", "reject")  # what the control API plays; ban/filter are WeChat's
_KEEP_DELIVERED: Final = 200  # per person: the newest messages, for GET /__sim/state


class TemplateMissing(SimulatorError):
    """The dialog was asked for a template the app does not have (WeChat: errCode 20001)."""

    status = 404


@dataclass(slots=True, eq=False)
class Template:
    appid: str
    template_id: str
    fields: dict[str, FieldKind]


@dataclass(slots=True, eq=False)
class Delivered:
    """A message as the user's phone shows it (values included: this is the user's screen)."""

    appid: str
    openid: str
    template_id: str
    data: dict[str, str]
    page: str | None
    state: str | None
    lang: str | None
    at: float
    msgid: int = field(default_factory=lambda: secrets.randbits(62))

    def as_json(self) -> dict[str, Any]:
        return {
            "appid": self.appid,
            "openid": self.openid,
            "template_id": self.template_id,
            "data": dict(self.data),
            "page": self.page,
            "miniprogram_state": self.state,
            "lang": self.lang,
            "at": self.at,
            "msgid": self.msgid,
        }


# --------------------------------------------------------------------------- the value rules

_ASCII_LETTERS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS: Final = frozenset("0123456789")


def _han(char: str) -> bool:
    return (
        "\u4e00" <= char <= "\u9fff"
        or "\u3400" <= char <= "\u4dbf"
        or "\uf900" <= char <= "\ufaff"
        or "\U00020000" <= char <= "\U0003134f"
    )


def _sign(char: str) -> bool:
    """Punctuation or symbol, by Unicode category."""
    return unicodedata.category(char).startswith(("P", "S"))


def _plain_number(text: str) -> bool:
    whole, dot, fraction = text.partition(".")
    return (
        bool(whole)
        and set(whole) <= _DIGITS
        and (not dot or (bool(fraction) and set(fraction) <= _DIGITS))
    )


def _int_in(text: str, low: int, high: int, *, width: tuple[int, int]) -> bool:
    return width[0] <= len(text) <= width[1] and set(text) <= _DIGITS and low <= int(text) <= high


def _calendar_day(year: str, month: str, day: str) -> bool:
    if not (_int_in(year, 1, 9999, width=(4, 4)) and _int_in(month, 1, 12, width=(1, 2))):
        return False
    lengths = [31, 29 if _leap(int(year)) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return _int_in(day, 1, lengths[int(month) - 1], width=(1, 2))


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _split_date(text: str) -> tuple[bool, str]:
    """(whether ``text`` starts with a real date, what follows the date)."""
    if text[4:5] == "年":
        year, _, rest = text.partition("年")
        month, _, rest = rest.partition("月")
        day, found, rest = rest.partition("日")
        return bool(found) and _calendar_day(year, month, day), rest
    if text[4:5] not in ("-", "/", "."):
        return False, text
    year, separator = text[:4], text[4]
    month, found, rest = text[5:].partition(separator)
    if not found:
        return False, text
    length = 0
    while length < min(2, len(rest)) and rest[length] in _DIGITS:
        length += 1
    day, rest = rest[:length], rest[length:]
    # After a numeric date only a space may come (2019-10-0115:01 is no date).
    return _calendar_day(year, month, day) and rest[:1] in ("", " "), rest


def _clock(text: str) -> bool:
    parts = text.split(":")
    if len(parts) not in (2, 3):
        return False
    hour, minute, *second = parts
    return (
        _int_in(hour, 0, 23, width=(1, 2))
        and _int_in(minute, 0, 59, width=(2, 2))
        and all(_int_in(s, 0, 59, width=(2, 2)) for s in second)
    )


def _point(text: str, *, clock_alone: bool) -> bool:
    is_date, rest = _split_date(text)
    if not is_date:
        return clock_alone and _clock(text)
    if not rest:
        return True
    return _clock(rest[1:] if rest.startswith(" ") else rest)


def _moments(value: str, *, clock_alone: bool) -> bool:
    points = [p.strip() for p in value.split("~")]
    return len(points) <= 2 and all(_point(p, clock_alone=clock_alone) for p in points)


def _amount(value: str) -> bool:
    text = value.removesuffix("元")
    if text and unicodedata.category(text[0]) == "Sc":  # one currency sign first
        text = text[1:]
    digits = sum(1 for c in text if c in _DIGITS)
    return _plain_number(text) and digits <= wx.AMOUNT_MAX_DIGITS


def _name(value: str) -> bool:
    han = sum(1 for c in value if _han(c))
    for char in value:
        if not (_han(char) or char in _ASCII_LETTERS or _sign(char) or char == " "):
            return False
    if han:
        return len(value) <= wx.NAME_MAX_CHINESE
    return any(c in _ASCII_LETTERS for c in value)


def _car(value: str) -> bool:
    if len(value) < 2:
        return False
    for position, char in enumerate(value):
        plain = char in _ASCII_LETTERS or char in _DIGITS
        at_an_end = position in (0, len(value) - 1)
        if not (plain or (at_an_end and _han(char))):
            return False
    return True


def value_fits(kind: FieldKind, value: str) -> bool:
    """Whether WeChat takes ``value`` for a keyword of ``kind`` (the simulator's reading)."""
    if not value or value.isspace():
        return False
    if any(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") for c in value):
        return False
    limit = wx.FIELD_MAX_LENGTH[kind]
    if limit is not None and len(value) > limit:
        return False
    chars = set(value)
    if kind in (FieldKind.THING, FieldKind.ENUM):
        return True
    if kind == FieldKind.NUMBER:
        return _plain_number(value)
    if kind == FieldKind.LETTER:
        return chars <= _ASCII_LETTERS
    if kind == FieldKind.SYMBOL:
        return all(_sign(c) for c in chars)
    if kind == FieldKind.CHARACTER_STRING:
        return all(c in _ASCII_LETTERS or c in _DIGITS or _sign(c) for c in chars)
    if kind == FieldKind.TIME:
        return _moments(value, clock_alone=True)
    if kind == FieldKind.DATE:
        return _moments(value, clock_alone=False)
    if kind == FieldKind.AMOUNT:
        return _amount(value)
    if kind == FieldKind.PHONE_NUMBER:
        return bool(chars & _DIGITS) and all(c in _DIGITS or _sign(c) for c in chars)
    if kind == FieldKind.CAR_NUMBER:
        return _car(value)
    if kind == FieldKind.NAME:
        return _name(value)
    return all(_han(c) for c in chars)  # phrase


# --------------------------------------------------------------------------- the book


class _DataRefused(Exception):
    """47003 for one keyword."""

    def __init__(self, keyword: str) -> None:
        self.keyword = keyword
        super().__init__(keyword)


class SubscriptionBook:
    """Templates per app, accepts per (user, template), and the messages delivered."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._templates: dict[tuple[str, str], Template] = {}
        self._accepts: dict[tuple[str, str, str], int] = {}  # (appid, openid, template_id)
        self._delivered: dict[str, deque[Delivered]] = {}  # person name → newest last

    def __repr__(self) -> str:
        return f"SubscriptionBook(templates={len(self._templates)})"

    # ------------------------------------------------------------------ control side

    def register_template(self, appid: str, template_id: str, fields: Any) -> Template:
        """Add (or replace) a template of ``appid``: ``{"thing1": "thing", ...}``."""
        app = self._world.app(appid)
        if not isinstance(template_id, str) or not wx.TEMPLATE_ID_RE.fullmatch(template_id):
            raise InvalidControlRequest("template_id must be 1-128 characters of [A-Za-z0-9_-]")
        if not isinstance(fields, dict) or not fields:
            raise InvalidControlRequest('fields must be an object like {"thing1": "thing"}')
        kinds: dict[str, FieldKind] = {}
        for name, kind in fields.items():
            if not wx.TEMPLATE_KEY_RE.fullmatch(name):
                raise InvalidControlRequest(f"{name[:40]!r} is not a keyword like thing1")
            try:
                kinds[name] = FieldKind(kind)
            except ValueError:
                known = ", ".join(k.value for k in FieldKind)
                raise InvalidControlRequest(f"{name}: kind must be one of {known}") from None
        template = Template(app.appid, template_id, kinds)
        self._templates[app.appid, template_id] = template
        return template

    def choose(self, appid: str, user: str, template_id: str, result: str) -> int:
        """Play the user's choice in the subscribe dialog; the accepts now left to spend."""
        if result not in DIALOG_RESULTS:
            raise InvalidControlRequest('result must be "accept" or "reject"')
        app = self._world.app(appid)
        if (app.appid, template_id) not in self._templates:
            raise TemplateMissing(
                f"app {appid!r} has no template {template_id!r}: register it first "
                "(POST /__sim/templates); the real dialog fails with errCode 20001"
            )
        member = self._world.member(app, user)
        key = (app.appid, member.openid, template_id)
        if result == "accept":
            self._accepts[key] = self._accepts.get(key, 0) + 1
        return self._accepts.get(key, 0)

    def describe(self, person: str) -> dict[str, Any]:
        """What ``GET /__sim/state`` shows of one person: accepts left, messages delivered."""
        accepts: dict[str, dict[str, int]] = {}
        for (appid, openid, template_id), count in self._accepts.items():
            member = self._world.apps[appid].members.get(openid)
            if member is not None and member.person.name == person and count:
                accepts.setdefault(appid, {})[template_id] = count
        delivered = [m.as_json() for m in self._delivered.get(person, ())]
        return {"subscriptions": accepts, "messages": delivered}

    def delivered(self, person: str) -> list[Delivered]:
        return list(self._delivered.get(person, ()))

    def templates(self) -> list[dict[str, Any]]:
        return [
            {"appid": t.appid, "template_id": t.template_id, "fields": dict(t.fields)}
            for t in self._templates.values()
        ]

    # ------------------------------------------------------------------ WeChat's side

    def send(self, query: dict[str, str], body: bytes) -> Answer:
        """``POST /cgi-bin/message/subscribe/send``."""
        now = self._world.clock()
        try:
            app = self._world.app_for_token(query.get("access_token"))
            request = _json_object(body)
            member = self._member(app, request.get("touser"))
            template = self._template(app, request.get("template_id"))
            data = _checked_data(template, request.get("data"))
            options = [_optional_text(request, k) for k in ("page", "miniprogram_state", "lang")]
            key = (app.appid, member.openid, template.template_id)
            if self._accepts.get(key, 0) < 1:
                raise Refused(ErrCode.SUBSCRIPTION_REFUSED)
        except _DataRefused as refused:
            errmsg = f"argument invalid! data.{refused.keyword}.value invalid rid: {rid(now)}"
            payload = {"errcode": int(ErrCode.INVALID_TEMPLATE_DATA), "errmsg": errmsg}
            return Answer(200, content_type_for(wx.SUBSCRIBE_SEND), orjson.dumps(payload))
        except Refused as refusal:
            return _refusal(refusal.errcode, now)
        self._accepts[key] -= 1
        page, state, lang = options
        delivered = Delivered(
            app.appid, member.openid, template.template_id, data, page, state, lang, now
        )
        inbox = self._delivered.setdefault(member.person.name, deque(maxlen=_KEEP_DELIVERED))
        inbox.append(delivered)
        answer: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
        if self._world.config.subscribe_send_msgid:
            answer["msgid"] = delivered.msgid
        return json_answer(wx.SUBSCRIBE_SEND, answer)

    def _member(self, app: App, touser: object) -> Member:
        member = None
        if isinstance(touser, str) and wx.OPENID_RE.match(touser):
            member = app.members.get(touser)
        if member is None:
            raise Refused(ErrCode.INVALID_OPENID)
        return member

    def _template(self, app: App, template_id: object) -> Template:
        template = None
        if isinstance(template_id, str):
            template = self._templates.get((app.appid, template_id))
        if template is None:
            raise Refused(ErrCode.INVALID_TEMPLATE_ID)
        return template


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Refused(ErrCode.DATA_FORMAT_ERROR) from None
    if not isinstance(data, dict):
        raise Refused(ErrCode.DATA_FORMAT_ERROR)
    return data


def _optional_text(request: dict[str, Any], key: str) -> str | None:
    value = request.get(key)
    if value is not None and not isinstance(value, str):
        raise Refused(ErrCode.DATA_FORMAT_ERROR)
    return value


def _checked_data(template: Template, data: object) -> dict[str, str]:
    """The template's keywords from ``data`` (others are ignored, as WeChat does)."""
    if not isinstance(data, dict):
        raise _DataRefused(next(iter(template.fields)))
    values: dict[str, str] = {}
    for keyword, kind in template.fields.items():
        entry = data.get(keyword)
        value = entry.get("value") if isinstance(entry, dict) else None
        # "value": any — a number is taken as its text, anything else is not a value.
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value_fits(kind, value):
            raise _DataRefused(keyword)
        values[keyword] = value
    return values


def _refusal(errcode: int, now: float) -> Answer:
    # The token errors read as everywhere else; this endpoint's own ones end in " rid: "
    # with no comma, as WeChat writes them ("user refuse to accept the msg rid: ...").
    if errcode in (ErrCode.SUBSCRIPTION_REFUSED, ErrCode.INVALID_TEMPLATE_ID):
        text = f"{wx.ERRMSG[errcode]} rid: {rid(now)}"
        payload = {"errcode": int(errcode), "errmsg": text}
        return Answer(200, content_type_for(wx.SUBSCRIBE_SEND), orjson.dumps(payload))
    return error_answer(wx.SUBSCRIBE_SEND, errcode, now)

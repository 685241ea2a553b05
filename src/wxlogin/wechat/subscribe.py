"""Subscribe-message values, checked against WeChat's rules before anything is sent.

WeChat refuses a value that breaks its keyword's rule with 47003 — after the request went out,
often in production, where a nickname or an address runs longer than the test data did. A
``MessageTemplate`` knows the kind of each keyword (``thing1`` is a ``thing``), so
``check_message`` can refuse the same values first, naming the keyword, with no network.

The rules are WeChat's documented ones (``protocol.FIELD_RULES``). Where the documentation
leaves room, this side is lenient rather than strict: refusing a value WeChat would take
would stop a message nobody needed to stop; the rare value let through still meets WeChat's
own 47003. The simulator checks the same facts with code of its own
(``wxlogin.simulator.subscribe``), and the tests hold the two against one list of cases.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final

from wxlogin.errors import InvalidRequest, MessageDataRejected
from wxlogin.wechat import protocol as wx
from wxlogin.wechat.protocol import FieldKind

__all__ = ["MessageTemplate", "check_message", "value_problem"]


@dataclass(frozen=True, slots=True)
class MessageTemplate:
    """A subscribe-message template: its id and the kind of each of its keywords."""

    template_id: str
    fields: Mapping[str, FieldKind]

    @classmethod
    def parse(cls, template_id: str, fields: Mapping[str, str]) -> MessageTemplate:
        """From settings: ``{"thing1": "thing", "time2": "time"}``; ValueError saying what
        is wrong (an unknown kind, a keyword whose name says another kind)."""
        if not wx.TEMPLATE_ID_RE.fullmatch(template_id):
            raise ValueError("a template id is 1-128 characters of [A-Za-z0-9_-]")
        if not fields:
            raise ValueError("a template needs at least one keyword")
        kinds: dict[str, FieldKind] = {}
        for name, kind_name in fields.items():
            if not wx.TEMPLATE_KEY_RE.fullmatch(name):
                raise ValueError(f"{name!r} is not a keyword name like thing1 or time2")
            try:
                kind = FieldKind(kind_name)
            except ValueError:
                known = ", ".join(k.value for k in FieldKind)
                raise ValueError(f"{name}: unknown kind {kind_name!r} (one of {known})") from None
            # WeChat names each keyword after its kind: "thing1" is a thing. A mismatch is a typo
            # that would only show as 47003 in production.
            if name.rstrip("0123456789") != kind.value:
                raise ValueError(f"{name}: the name says {name.rstrip('0123456789')!r}, not {kind}")
            kinds[name] = kind
        return cls(template_id, kinds)


# ---------------------------------------------------------------- characters

_CONTROL_CATEGORIES: Final = frozenset({"Cc", "Cs", "Co", "Cn"})
_KEYWORD_LIKE: Final = re.compile(r"[A-Za-z0-9_]{1,64}")


def _is_chinese(char: str) -> bool:
    code = ord(char)
    return (
        0x4E00 <= code <= 0x9FFF  # CJK Unified Ideographs
        or 0x3400 <= code <= 0x4DBF  # Extension A
        or 0xF900 <= code <= 0xFAFF  # Compatibility Ideographs
        or 0x20000 <= code <= 0x3134F  # Extensions B-G
    )


def _is_letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _is_digit(char: str) -> bool:
    return "0" <= char <= "9"


def _is_symbol(char: str) -> bool:
    """Punctuation or a symbol (Unicode P* and S*): "-", "·", "，", "¥", an emoji."""
    return unicodedata.category(char)[0] in "PS"


def _all(value: str, *tests: Callable[[str], bool]) -> bool:
    """Every character passes one of ``tests``."""
    return all(any(test(char) for test in tests) for char in value)


# ---------------------------------------------------------------- times and dates

_DATE = r"(\d{4})(?:年(\d{1,2})月(\d{1,2})日|([-/.])(\d{1,2})\4(\d{1,2}))"
_CLOCK = r"(\d{1,2}):(\d{2})(?::(\d{2}))?"
_DATE_RE: Final = re.compile(_DATE)
_CLOCK_RE: Final = re.compile(_CLOCK)


def _real_date(text: str) -> bool:
    match = _DATE_RE.fullmatch(text)
    if match is None:
        return False
    year, month_cn, day_cn, _, month_num, day_num = match.groups()
    try:
        date(int(year), int(month_cn or month_num), int(day_cn or day_num))
    except ValueError:
        return False
    return True


def _real_clock(text: str) -> bool:
    match = _CLOCK_RE.fullmatch(text)
    if match is None:
        return False
    hour, minute, second = match.groups()
    return int(hour) < 24 and int(minute) < 60 and (second is None or int(second) < 60)


def _moment(text: str, *, date_alone: bool, clock_alone: bool) -> bool:
    if _real_date(text):
        return date_alone
    if _real_clock(text):
        return clock_alone
    # A date, then a clock: after one space, which "2019年10月1日" may leave out.
    match = _DATE_RE.match(text)
    if match is None:
        return False
    rest = text[match.end() :]
    if rest.startswith(" "):
        rest = rest[1:]
    elif match.group(2) is None:  # 2019-10-01: the space is what ends the day
        return False
    return _real_date(match.group(0)) and _real_clock(rest)


def _time_or_span(value: str, *, date_alone: bool, clock_alone: bool) -> bool:
    parts = value.split("~")
    if len(parts) > 2:
        return False
    return all(_moment(p.strip(), date_alone=date_alone, clock_alone=clock_alone) for p in parts)


# ---------------------------------------------------------------- the rules

_NUMBER_RE: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_AMOUNT_RE: Final = re.compile(r"([^0-9\s]?)([0-9]+(?:\.[0-9]+)?)(元?)")


def _amount(value: str) -> bool:
    match = _AMOUNT_RE.fullmatch(value)
    if match is None:
        return False
    sign: str = match.group(1)
    number: str = match.group(2)
    if sign and unicodedata.category(sign) != "Sc":  # ¥ ￥ $ € £ ...
        return False
    return sum(char.isdigit() for char in number) <= wx.AMOUNT_MAX_DIGITS


def _car_number(value: str) -> bool:
    if len(value) < 2:
        return False
    inner = value[1:-1]
    ends_ok = all(_is_chinese(c) or _is_letter(c) or _is_digit(c) for c in (value[0], value[-1]))
    return ends_ok and _all(inner, _is_letter, _is_digit)


def _name(value: str) -> bool:
    if not _all(value, _is_chinese, _is_letter, _is_symbol, str.isspace):
        return False
    if any(_is_chinese(char) for char in value):
        return len(value) <= wx.NAME_MAX_CHINESE
    return any(_is_letter(char) for char in value)


def _fits(kind: FieldKind, value: str) -> bool:
    """Whether ``value`` (non-empty, within the length limit) is made as ``kind`` wants."""
    if kind is FieldKind.THING or kind is FieldKind.ENUM:
        return True
    if kind is FieldKind.NUMBER:
        return _NUMBER_RE.fullmatch(value) is not None
    if kind is FieldKind.LETTER:
        return _all(value, _is_letter)
    if kind is FieldKind.SYMBOL:
        return _all(value, _is_symbol)
    if kind is FieldKind.CHARACTER_STRING:
        return _all(value, _is_letter, _is_digit, _is_symbol)
    if kind is FieldKind.TIME:
        # WeChat takes a bare date in a time keyword too (seen in answers to developers).
        return _time_or_span(value, date_alone=True, clock_alone=True)
    if kind is FieldKind.DATE:
        return _time_or_span(value, date_alone=True, clock_alone=False)
    if kind is FieldKind.AMOUNT:
        return _amount(value)
    if kind is FieldKind.PHONE_NUMBER:
        return _all(value, _is_digit, _is_symbol) and any(_is_digit(c) for c in value)
    if kind is FieldKind.CAR_NUMBER:
        return _car_number(value)
    if kind is FieldKind.NAME:
        return _name(value)
    return _all(value, _is_chinese)  # PHRASE


def value_problem(kind: FieldKind, value: str) -> str | None:
    """Why WeChat would refuse ``value`` for a keyword of ``kind``; None when it fits.

    The answer names the rule and the length, never the value (it may be personal data).
    """
    if not value.strip():
        return "must not be empty"
    if any(unicodedata.category(char) in _CONTROL_CATEGORIES for char in value):
        return "must not contain control characters"
    limit = wx.FIELD_MAX_LENGTH[kind]
    if limit is not None and len(value) > limit:
        return f"{len(value)} characters is too long: {wx.FIELD_RULES[kind]}"
    if not _fits(kind, value):
        return f"does not fit its kind ({kind.value}): {wx.FIELD_RULES[kind]}"
    return None


def check_message(template: MessageTemplate, data: Mapping[str, object]) -> dict[str, str]:
    """``data`` checked against ``template``: every keyword there, nothing else, each value a
    string WeChat would take. Raises ``MessageDataRejected`` naming the first keyword at fault;
    returns the values as a plain dict."""
    if not isinstance(data, Mapping):
        raise InvalidRequest("data must be an object of keyword → value")
    unknown = sorted(str(name) for name in data if name not in template.fields)
    if unknown:
        # The caller's text: named only when it looks like a keyword, and never at length.
        name = unknown[0] if _KEYWORD_LIKE.fullmatch(unknown[0]) else None
        raise MessageDataRejected(
            f"{name or repr(unknown[0][:32])}: not a keyword of template "
            f"{template.template_id} (it has {', '.join(template.fields)})",
            field=name,
        )
    checked: dict[str, str] = {}
    for name, kind in template.fields.items():
        if name not in data:
            raise MessageDataRejected(f"{name}: missing ({wx.FIELD_RULES[kind]})", field=name)
        value = data[name]
        if not isinstance(value, str):
            raise MessageDataRejected(f"{name}: must be a string", field=name)
        problem = value_problem(kind, value)
        if problem is not None:
            raise MessageDataRejected(f"{name}: {problem}", field=name)
        checked[name] = value
    return checked

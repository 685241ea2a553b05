"""What schemathesis (tests/api/test_fuzz_openapi.py) found /openapi.json and the validators
disagreeing on, each pinned here: a body the document calls valid is not refused for its
shape, and one it calls invalid is not taken."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # types-jsonschema is not a dependency
import msgspec
import pytest

from tests.api.conftest import APPID, SECRET, Harness
from tests.api.forms import BOUNDARY, Part, file_part, form, image
from wxlogin.api.multipart import FormLimits, FormParser
from wxlogin.api.pay import OrderRequest
from wxlogin.api.routing import BodyDecoder
from wxlogin.errors import InvalidRequest


async def _spec(wx: Harness) -> dict[str, Any]:
    document: dict[str, Any] = (await wx.http.get("/openapi.json")).json()
    return document


def _documented(spec: dict[str, Any], name: str) -> Callable[[Any], bool]:
    schema = {**spec["components"]["schemas"][name], "components": spec["components"]}
    validator = jsonschema.Draft202012Validator(schema)
    return lambda body: bool(validator.is_valid(body))


async def test_a_required_appid_is_a_string_not_null(
    wx: Harness, harness_factory: Callable[..., Any]
) -> None:
    """Found: `{"appid": null}` was schema-valid on a server of several apps (the optional
    field's null branch stayed when the field became required) and refused 400."""
    valid = _documented(await _spec(wx), "LoginRequest")
    assert not valid({"code": "c", "appid": None})
    assert valid({"code": "c", "appid": APPID})
    refused = await wx.http.post(
        "/auth/login", json={"code": wx.sim.login(APPID, "a"), "appid": None}
    )
    assert refused.json()["error"]["code"] == "invalid_request"
    one_app: Harness = await harness_factory(apps=[{"appid": APPID, "secret": SECRET}])
    # With one app, null is still what it was: no appid, taken.
    assert _documented(await _spec(one_app), "LoginRequest")({"code": "c", "appid": None})


async def test_every_text_field_documents_the_check_it_gets(wx: Harness) -> None:
    """Found: POST /pay/orders and POST /messages refused blank `user_id`, `description` and
    `template_id`, and control characters in `/messages` text, which the document allowed.
    Now every string field of every request body says its rule as a pattern."""
    spec = await _spec(wx)
    for methods in wx.app.face.table.values():
        for route in methods.values():
            if route.body is None:
                continue
            properties = spec["components"]["schemas"][route.body.__name__]["properties"]
            not_blank = getattr(route.body, "not_blank", ())
            for name in route.body.__struct_fields__:
                field = properties[name]
                strings = [b for b in field.get("anyOf", [field]) if b.get("type") == "string"]
                if not strings or "enum" in strings[0]:
                    continue  # not text, or a closed list of words
                # JSON Schema's pattern is unanchored (ours are anchored): search, not match.
                pattern = re.compile(strings[0].get("pattern", ""))
                where = (route.path, name)
                assert pattern.search("ok") or pattern.search("r7BXXKkLb8qrSNn05n0qiA=="), where
                assert not pattern.search("a\x7fb") and not pattern.search("a\nb"), where
                if name in not_blank:
                    assert not pattern.search(" \u3000\t"), where


@pytest.mark.parametrize(
    ("amount", "taken"),
    [(1999, 1999), (1999.0, 1999), (1e3, 1000), (1999.5, None), ("1999", None), (True, None)],
)
def test_an_integer_may_be_written_with_a_zero_fraction(amount: Any, taken: int | None) -> None:
    """Found: `"amount": 12208.0`, an integer to JSON Schema (and to FastAPI's adapter), was
    400 on the lean face; a fraction, a string or a bool still is."""
    body = msgspec.json.encode({"user_id": "u", "amount": amount, "description": "咖啡"})
    decoder = BodyDecoder(OrderRequest)
    if taken is None:
        with pytest.raises(msgspec.ValidationError):
            decoder.decode(body)
    else:
        assert decoder.decode(body).amount == taken
        assert type(decoder.decode(body).amount) is int


async def test_the_avatar_form_documents_the_parsers_bounds(wx: Harness) -> None:
    """Found: nameless parts, more than 8 parts and over-long fields were schema-valid and
    refused. The schema now says each bound, and a field's is counted in characters, as
    JSON Schema's maxLength is."""
    spec = await _spec(wx)
    content = spec["paths"]["/me/avatar"]["post"]["requestBody"]["content"]
    schema = content["multipart/form-data"]["schema"]
    limits = FormLimits(max_file_bytes=4096)
    assert schema["maxProperties"] == limits.max_parts
    assert schema["propertyNames"] == {"minLength": 1, "maxLength": limits.max_name_chars}
    assert schema["additionalProperties"] == {"type": "string", "maxLength": 1024}
    png = file_part(image("avatar.png"))

    def parse(*parts: Part) -> bytes:
        parser = FormParser(BOUNDARY, FormLimits(max_file_bytes=1 << 20))
        parser.feed(form(*parts))
        return parser.finish()

    widest = "😀" * limits.max_field_chars  # at both bounds: 1024 characters, 4096 bytes
    assert parse(Part("n" * limits.max_name_chars, widest.encode(), content_type=None), png)
    for part in (
        Part("note", b"x" * (limits.max_field_chars + 1), content_type=None),
        Part("n" * (limits.max_name_chars + 1), b"x", content_type=None),
        Part("", b"x", content_type=None),
    ):
        with pytest.raises(InvalidRequest):
            parse(part, png)

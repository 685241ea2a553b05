"""What schemathesis (tests/api/test_fuzz_openapi.py) found /openapi.json and the validators
disagreeing on, each pinned here: a body the document calls valid is not refused for its
shape, and one it calls invalid is not taken."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonschema

from tests.api.conftest import APPID, SECRET, Harness


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

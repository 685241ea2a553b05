"""/openapi.json documents what is served, as it is served; /docs needs nothing but us."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import jsonschema  # type: ignore[import-untyped]  # types-jsonschema is not a dependency
import msgspec
import pytest
from openapi_spec_validator import validate

from tests.api.conftest import APPID, ISSUER, SECRET, Harness, bearer
from tests.api.forms import content_type, file_part, form, image
from wxlogin import errors
from wxlogin.api.routing import BinaryContent, Route
from wxlogin.api.schemas import PhoneRequest

ROUTES = {
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),
    ("POST", "/auth/logout"),
    ("GET", "/me"),
    ("POST", "/me/phone"),
    ("PATCH", "/me/profile"),
    ("POST", "/me/profile"),
    ("POST", "/me/profile/wechat"),
    ("POST", "/me/avatar"),
    ("GET", "/avatars/{name}"),
    ("POST", "/messages"),
    ("POST", "/pay/orders"),
    ("POST", "/pay/orders/{order_id}/params"),
    ("GET", "/me/orders"),
    ("GET", "/me/orders/{order_id}"),
    ("POST", "/pay/notify"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
}


async def spec_of(wx: Harness) -> dict[str, Any]:
    response = await wx.http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    return document


def served(wx: Harness) -> Iterator[Route[Any]]:
    for methods in wx.app.face.table.values():
        yield from methods.values()


def tree(root: type[errors.WxLoginError]) -> Iterator[type[errors.WxLoginError]]:
    yield root
    for sub in root.__subclasses__():
        yield from tree(sub)


async def test_the_document_is_valid_openapi_3(wx: Harness) -> None:
    spec = await spec_of(wx)
    assert spec["openapi"].startswith("3.")
    validate(spec)


async def test_every_served_route_is_documented_and_nothing_else(wx: Harness) -> None:
    spec = await spec_of(wx)
    documented = {(m.upper(), path) for path, item in spec["paths"].items() for m in item}
    assert {(route.method, route.path) for route in served(wx)} == ROUTES
    assert documented == ROUTES


async def test_each_route_documents_its_body_success_and_errors(wx: Harness) -> None:
    spec = await spec_of(wx)
    schemas = spec["components"]["schemas"]
    codes_by_status: dict[int, set[str]] = {}
    for cls in tree(errors.WxLoginError):
        codes_by_status.setdefault(cls.http_status, set()).add(cls.code)
    auth_codes = {cls.code for cls in tree(errors.AuthenticationError)}
    for route in served(wx):
        operation = spec["paths"][route.path][route.method.lower()]
        where = f"{route.method} {route.path}"
        assert operation["summary"] and operation["tags"], where
        responses = operation["responses"]
        success = responses[str(route.status)]
        if route.status == 204:
            assert "content" not in success, where
        elif isinstance(route.response, BinaryContent):
            assert set(success["content"]) == set(route.response.media_types), where
            for media in success["content"].values():
                assert media["schema"] == {"type": "string", "format": "binary"}, where
        else:
            ref = success["content"]["application/json"]["schema"]["$ref"]
            assert ref.split("/")[-1] in schemas, where
        if route.body is not None:
            body_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert body_ref.split("/")[-1] == route.body.__name__, where
        elif route.stream is not None:
            assert operation["requestBody"]["content"] == route.stream.openapi_content(), where
        else:
            assert "requestBody" not in operation, where
        if route.body is not None or route.stream is not None:
            for status, code in ((400, "invalid_request"), (413, "payload_too_large")):
                assert code in responses[str(status)]["x-error-codes"], where
            assert "unsupported_media_type" in responses["415"]["x-error-codes"], where
        if route.path_param is not None:
            [parameter] = operation["parameters"]
            assert (parameter["name"], parameter["in"]) == (route.path_param, "path"), where
            assert f"{{{parameter['name']}}}" in route.path, where
        else:
            assert "parameters" not in operation, where
        if route.auth:
            assert operation["security"] == [{"bearerAuth": []}], where
            assert set(responses["401"]["x-error-codes"]) == auth_codes, where
            assert "WWW-Authenticate" in responses["401"]["headers"], where
        elif route.service_credential:
            assert operation["security"] == [{"serviceToken": []}], where
            assert "invalid_service_token" in responses["401"]["x-error-codes"], where
            assert "WWW-Authenticate" in responses["401"]["headers"], where
        else:
            assert "security" not in operation, where
        assert "internal_error" in responses["500"]["x-error-codes"], where
        for status, response in responses.items():
            if int(status) < 400:
                continue
            schema = response["content"]["application/json"]["schema"]
            body_ref, narrowed = schema["allOf"]
            assert body_ref["$ref"].endswith("/ErrorBody"), where
            # The codes a client may see are in the schema, not only in the words.
            code = narrowed["properties"]["error"]["properties"]["code"]
            assert code["enum"] == response["x-error-codes"], (where, status)
            for code in response["x-error-codes"]:
                # Every documented code exists in the tree with exactly that status, and the
                # human-readable description names it too.
                assert code in codes_by_status.get(int(status), set()), (where, status, code)
                assert f"`{code}`" in response["description"], (where, code)
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


# Errors of the tree that no operation can list, each for its reason.
NOT_IN_OPERATIONS = {
    "InvalidPayKey",  # raised only while starting up: then nothing is served at all
    "RefundTooLarge",  # refunds are the operator's (wxlogin orders refund), not HTTP's
    "MethodNotAllowed",  # a method no operation has: said once, in the document's description
}


async def test_every_error_code_is_documented_under_its_status(wx: Harness) -> None:
    """The one list of codes, ErrorCode, is the documented one: each code of the tree is
    answered by some route, and /openapi.json lists it there under its class's status."""
    spec = await spec_of(wx)
    documented: dict[str, set[int]] = {}
    for item in spec["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                for code in response.get("x-error-codes", ()):
                    documented.setdefault(code, set()).add(int(status))
    missing = {
        cls.__name__
        for cls in tree(errors.WxLoginError)
        if cls.http_status not in documented.get(cls.code, set())
    }
    assert missing == NOT_IN_OPERATIONS
    assert "405 `method_not_allowed`" in spec["info"]["description"]
    # The host's own HTTPException (FastAPI adapter) is the one code no route of ours answers.
    unlisted = {cls.code for cls in tree(errors.WxLoginError) if cls.__name__ in missing}
    assert set(errors.ErrorCode) - set(documented) == {errors.ErrorCode.HTTP_ERROR, *unlisted}
    assert "422" not in str(spec) and "ValidationError" not in str(spec["components"])


async def test_the_error_body_lists_every_code(wx: Harness) -> None:
    schemas = (await spec_of(wx))["components"]["schemas"]
    code = schemas["ErrorDetail"]["properties"]["code"]
    assert code["$ref"].endswith("/ErrorCode")
    assert set(schemas["ErrorCode"]["enum"]) == {member.value for member in errors.ErrorCode}


async def test_appid_is_required_when_the_server_serves_several_apps(
    wx: Harness, harness_factory: Callable[..., Any]
) -> None:
    several = (await spec_of(wx))["components"]["schemas"]["LoginRequest"]
    assert several["required"] == ["appid", "code"]
    assert "required when the server serves several" in str(several["properties"]["appid"])
    one_app: Harness = await harness_factory(apps=[{"appid": APPID, "secret": SECRET}])
    alone = (await spec_of(one_app))["components"]["schemas"]["LoginRequest"]
    assert alone["required"] == ["code"]
    # As documented: without an appid, the first server refuses and the second logs in.
    code = wx.sim.login(APPID, "a")
    refused = await wx.http.post("/auth/login", json={"code": code})
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_request")
    assert (await one_app.http.post("/auth/login", json={"code": code})).status_code == 200


PHONE_BODIES = [
    ({"code": "c"}, True),
    ({"code": "c", "encrypted_data": None, "iv": None}, True),
    ({"encrypted_data": "e", "iv": "r7BXXKkLb8qrSNn05n0qiA=="}, True),
    ({"code": None, "encrypted_data": "e", "iv": "r7BXXKkLb8qrSNn05n0qiA=="}, True),
    ({}, False),
    ({"code": None}, False),
    ({"code": "c", "encrypted_data": "e"}, False),
    ({"code": "c", "iv": "r7BXXKkLb8qrSNn05n0qiA=="}, False),
    ({"encrypted_data": "e"}, False),
    ({"iv": "r7BXXKkLb8qrSNn05n0qiA=="}, False),
    ({"encrypted_data": "e", "iv": "short"}, False),
    ({"code": " "}, False),
    ({"code": "a\nb"}, False),
]


@pytest.mark.parametrize(("body", "valid"), PHONE_BODIES)
async def test_the_phone_body_schema_is_the_validator(
    wx: Harness, body: dict[str, Any], valid: bool
) -> None:
    """/me/phone's code-or-encrypted-data rule, as a oneOf: the document and the validator
    accept exactly the same bodies."""
    spec = await spec_of(wx)
    schema = {**spec["components"]["schemas"]["PhoneRequest"], "components": spec["components"]}
    documented = jsonschema.Draft202012Validator(schema).is_valid(body)
    try:
        msgspec.json.decode(msgspec.json.encode(body), type=PhoneRequest)
        accepted = True
    except msgspec.ValidationError:
        accepted = False
    assert documented == accepted == valid


async def test_login_lists_the_wechat_refusals_a_user_can_hit(wx: Harness) -> None:
    login = (await spec_of(wx))["paths"]["/auth/login"]["post"]["responses"]
    assert {"invalid_code", "code_used", "unknown_app"} <= set(login["400"]["x-error-codes"])
    assert "user_blocked" in login["403"]["x-error-codes"]
    assert {"rate_limited", "wechat_rate_limited"} <= set(login["429"]["x-error-codes"])
    assert "Retry-After" in login["429"]["headers"]
    assert {"upstream_busy", "not_ready"} <= set(login["503"]["x-error-codes"])
    assert "upstream_timeout" in login["504"]["x-error-codes"]
    assert "session_key" not in str(login["200"])


async def test_the_avatar_upload_documents_a_multipart_file(wx: Harness) -> None:
    spec = await spec_of(wx)
    operation = spec["paths"]["/me/avatar"]["post"]
    [(media, body)] = operation["requestBody"]["content"].items()
    assert media == "multipart/form-data"
    assert body["schema"]["required"] == ["file"]
    file = body["schema"]["properties"]["file"]
    assert (file["type"], file["format"]) == ("string", "binary")
    assert str(2 * 1024 * 1024) in file["description"]
    responses = operation["responses"]
    assert responses["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/UserOut")
    assert {"unsupported_image", "unsupported_media_type"} <= set(responses["415"]["x-error-codes"])
    served = spec["paths"]["/avatars/{name}"]["get"]
    assert set(served["responses"]["200"]["content"]) == {"image/jpeg", "image/png", "image/webp"}
    assert {"Cache-Control", "X-Content-Type-Options"} <= set(served["responses"]["200"]["headers"])
    assert "security" not in served
    assert served["responses"]["404"]["x-error-codes"] == ["not_found"]


async def test_what_is_served_matches_the_documented_schemas(wx: Harness) -> None:
    """Real responses, validated against the document's own JSON Schemas."""
    spec = await spec_of(wx)

    def check(method: str, path: str, response: Any) -> None:
        operation = spec["paths"][path][method.lower()]
        documented = operation["responses"].get(str(response.status_code))
        assert documented is not None, (method, path, response.status_code)
        if response.status_code >= 400:
            assert response.json()["error"]["code"] in documented["x-error-codes"]
        if "content" not in documented:
            assert response.content == b""
            return
        media = response.headers["content-type"]
        assert media in documented["content"], (method, path, media)
        if media != "application/json":
            return  # bytes of a documented media type: nothing more to validate
        schema = documented["content"]["application/json"]["schema"]
        jsonschema.validate(response.json(), {**schema, "components": spec["components"]})

    login = await wx.http.post("/auth/login", json={"code": wx.sim.login(APPID, "a")})
    check("POST", "/auth/login", login)  # 400: two apps, no appid
    login = await wx.http.post(
        "/auth/login", json={"code": wx.sim.login(APPID, "a"), "appid": APPID}
    )
    check("POST", "/auth/login", login)
    tokens = login.json()
    auth = bearer(tokens["access_token"])
    check("GET", "/me", await wx.http.get("/me", headers=auth))
    check("GET", "/me", await wx.http.get("/me"))
    phone = {"code": wx.sim.phone_code(APPID, "a")}
    check("POST", "/me/phone", await wx.http.post("/me/phone", json=phone, headers=auth))
    profile = await wx.http.patch("/me/profile", json={"nickname": "N"}, headers=auth)
    check("PATCH", "/me/profile", profile)
    multipart = {**auth, "content-type": content_type()}
    uploads = (
        (form(file_part(image("avatar.webp"))), multipart, "200"),
        (form(file_part(b"%PDF-1.7")), multipart, "unsupported_image"),
        (form(file_part(b"x" * (3 << 20))), multipart, "payload_too_large"),
        (form(), multipart, "invalid_request"),
        (b"{}", {**auth, "content-type": "application/json"}, "unsupported_media_type"),
        (form(file_part(image("avatar.png"))), {"content-type": content_type()}, "unauthorized"),
    )
    for body, headers, outcome in uploads:
        avatar = await wx.http.post("/me/avatar", content=body, headers=headers)
        got = str(avatar.status_code) if avatar.is_success else avatar.json()["error"]["code"]
        assert got == outcome
        check("POST", "/me/avatar", avatar)
    url = (await wx.http.get("/me", headers=auth)).json()["avatar_url"]
    for target, status in ((url, 200), (url.replace(".webp", ".png"), 404)):
        served = await wx.http.get(target)
        assert served.status_code == status
        check("GET", "/avatars/{name}", served)
    for path in ("/.well-known/openid-configuration", "/.well-known/jwks.json"):
        check("GET", path, await wx.http.get(path))
    for path in ("/healthz", "/readyz"):
        check("GET", path, await wx.http.get(path))
    pair = await wx.http.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    check("POST", "/auth/refresh", pair)
    reused = await wx.http.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    check("POST", "/auth/refresh", reused)
    check("POST", "/auth/logout", await wx.http.post("/auth/logout", headers=auth))
    big = await wx.http.post("/auth/refresh", content=b"{" * (2 << 20))
    check("POST", "/auth/refresh", big)


# ---------------------------------------------------------------------------- /docs


class References(HTMLParser):
    """Every URL an HTML page makes the browser load or link to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "action", "poster", "data", "srcset") and value:
                self.urls.append(value)
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)


def sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


async def test_docs_load_nothing_from_anywhere_but_us(wx: Harness) -> None:
    response = await wx.http.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    # No absolute URL at all: not in a tag, not in the script, not in the style.
    assert not re.search(r"(https?:)?//[a-z0-9]", page, re.IGNORECASE), "absolute URL in /docs"
    parser = References()
    parser.feed(page)
    [script] = parser.scripts
    [style] = parser.styles
    # What the script fetches, and what the tags reference: all relative, all served by us.
    fetched = re.findall(r"fetch\(\"([^\"]+)\"", script)
    assert fetched == ["openapi.json"]
    for url in {*parser.urls, *fetched}:
        assert not url.startswith(("//", "http:", "https:", "data:", "javascript:")), url
        target = urljoin(f"{ISSUER}/docs", url)
        assert target.startswith(ISSUER + "/"), url
        assert (await wx.http.get(target)).status_code == 200, url
    assert "@import" not in style and "url(" not in style
    # The browser is told to load nothing else: only this page's own script and style.
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == sha256(script)
    assert policy["style-src"] == sha256(style)
    assert policy["connect-src"] == "'self'"


@pytest.mark.parametrize("path", ["/docs", "/openapi.json"])
async def test_docs_pages_answer_head(wx: Harness, path: str) -> None:
    response = await wx.http.head(path)
    assert response.status_code == 200 and response.content == b""

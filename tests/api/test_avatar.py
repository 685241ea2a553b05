"""POST /me/avatar and GET /avatars/{name}: what wx.uploadFile sends, and what is served back."""

from __future__ import annotations

import io
import logging
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.api.conftest import ISSUER, Harness, HarnessFactory, bearer
from tests.api.forms import Part, content_type, file_part, form, image
from tests.api.test_http_face import Exchange, endless_chunks, http_scope
from wxlogin.api.multipart import FormLimits
from wxlogin.errors import UnsupportedImage
from wxlogin.service.avatars import AVATAR_NAME, sniff_image

MiB = 1024 * 1024
DEFAULT_LIMIT = 2 * MiB
PNG_MAGIC = image("avatar.png")[:16]  # signature and IHDR: a PNG as far as the bytes say


async def upload(
    wx: Harness, token: str | None, body: bytes, *, ctype: str | None = None
) -> httpx2.Response:
    headers = {"content-type": ctype or content_type()}
    if token is not None:
        headers |= bearer(token)
    return await wx.http.post("/me/avatar", content=body, headers=headers)


def avatars_dir(wx: Harness) -> Path:
    return wx.settings.data_dir / "avatars"


def stored(wx: Harness) -> list[str]:
    directory = avatars_dir(wx)
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def name_of(url: str) -> str:
    assert url.startswith(f"{ISSUER}/avatars/"), url
    return url.rsplit("/", 1)[1]


# ---------------------------------------------------------------------------- accepted


@pytest.mark.parametrize(
    ("file", "media_type", "extension"),
    [
        ("avatar.jpg", "image/jpeg", "jpg"),
        ("avatar.png", "image/png", "png"),
        ("avatar.webp", "image/webp", "webp"),
    ],
)
async def test_each_image_type_is_accepted_by_its_bytes_and_served_back(
    wx: Harness, file: str, media_type: str, extension: str
) -> None:
    tokens = await wx.login("alice")
    data = image(file)
    # Name and part type say GIF: only the bytes count.
    body = form(
        Part("scene", b"profile"),  # wx.uploadFile's formData: ignored
        file_part(data, filename="wxfile_tmp.gif", content_type="image/gif"),
    )
    response = await upload(wx, tokens["access_token"], body)
    assert response.status_code == 200, response.text
    user = response.json()
    assert user["id"] == tokens["user"]["id"]
    name = name_of(user["avatar_url"])
    assert AVATAR_NAME.fullmatch(name) and name.endswith(f".{extension}")
    me = await wx.http.get("/me", headers=bearer(tokens["access_token"]))
    assert me.json() == user  # shaped like GET /me, and what GET /me now says
    served = await wx.http.get(user["avatar_url"])  # no token: avatars are public
    assert served.status_code == 200
    assert served.content == data
    assert served.headers["content-type"] == media_type
    assert served.headers["content-length"] == str(len(data))
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in served.headers["cache-control"]
    assert "sandbox" in served.headers["content-security-policy"]
    head = await wx.http.head(user["avatar_url"])
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len(data))


async def test_a_png_named_jpg_is_stored_and_served_as_a_png(wx: Harness) -> None:
    tokens = await wx.login("alice")
    body = form(file_part(image("avatar.png"), filename="photo.jpg", content_type="image/jpeg"))
    response = await upload(wx, tokens["access_token"], body)
    assert response.status_code == 200, response.text
    url = response.json()["avatar_url"]
    assert url.endswith(".png")
    assert (await wx.http.get(url)).headers["content-type"] == "image/png"


def zip_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("avatar.png", image("avatar.png"))
    return buffer.getvalue()


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.mark.parametrize(
    ("data", "filename", "part_type"),
    [
        (b"just some text, not an image\n", "avatar.png", "image/png"),
        (SVG, "avatar.svg", "image/svg+xml"),
        (b'<?xml version="1.0"?>' + SVG, "avatar.png", "image/png"),
        (zip_archive(), "avatar.jpg", "image/jpeg"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "avatar.gif", "image/gif"),
        (b"<html><script>alert(1)</script></html>", "avatar.webp", "image/webp"),
        (b"", "avatar.jpg", "image/jpeg"),
    ],
)
async def test_what_is_not_a_jpeg_png_or_webp_by_its_bytes_is_refused(
    wx: Harness, data: bytes, filename: str, part_type: str
) -> None:
    tokens = await wx.login("alice")
    body = form(file_part(data, filename=filename, content_type=part_type))
    response = await upload(wx, tokens["access_token"], body)
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "unsupported_image"
    assert stored(wx) == []
    me = await wx.http.get("/me", headers=bearer(tokens["access_token"]))
    assert me.json()["avatar_url"] is None


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 8,  # a signature, but no IHDR chunk
        b"RIFF\x00\x00\x00\x00WEBPJUNK",  # a RIFF WebP container without a VP8 chunk
        b"RIFF\x00\x00\x00\x00AVI LIST",  # RIFF, but a video
        b"\xff\xd8",  # a JPEG's first marker, cut short
    ],
)
def test_near_misses_are_not_images(data: bytes) -> None:
    with pytest.raises(UnsupportedImage):
        sniff_image(data)


@pytest.mark.parametrize("chunk", [b"VP8 ", b"VP8L", b"VP8X"])
def test_every_webp_flavour_is_a_webp(chunk: bytes) -> None:
    assert sniff_image(b"RIFF\x20\x00\x00\x00WEBP" + chunk + b"\x00" * 8).media_type == "image/webp"


# ---------------------------------------------------------------------------- size


async def test_an_image_of_exactly_the_limit_is_accepted(wx: Harness) -> None:
    tokens = await wx.login("alice")
    data = PNG_MAGIC + b"\x00" * (DEFAULT_LIMIT - len(PNG_MAGIC))
    response = await upload(wx, tokens["access_token"], form(file_part(data)))
    assert response.status_code == 200, response.text
    assert (await wx.http.get(response.json()["avatar_url"])).content == data


async def test_two_mib_and_one_byte_is_a_413(wx: Harness) -> None:
    tokens = await wx.login("alice")
    data = PNG_MAGIC + b"\x00" * (DEFAULT_LIMIT + 1 - len(PNG_MAGIC))
    response = await upload(wx, tokens["access_token"], form(file_part(data)))
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"
    assert stored(wx) == []


def chunked(body: bytes, size: int) -> Iterator[dict[str, Any]]:
    """The body in ``size``-byte messages with no Content-Length, as a chunked upload arrives."""
    for at in range(0, len(body), size):
        last = at + size >= len(body)
        yield {"type": "http.request", "body": body[at : at + size], "more_body": not last}


def upload_scope(token: str, *extra: tuple[bytes, bytes]) -> Any:
    headers = [
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", content_type().encode()),
        *extra,
    ]
    return http_scope("/me/avatar", headers=headers)


async def test_an_undeclared_oversize_image_is_refused_where_it_crosses_the_limit(
    wx: Harness,
) -> None:
    tokens = await wx.login("alice")
    data = PNG_MAGIC + b"\x00" * (DEFAULT_LIMIT + 1 - len(PNG_MAGIC))
    body = form(file_part(data)) + b"\x00" * (4 * MiB)  # and a lot more that is never read
    size = 64 * 1024
    exchange = Exchange(chunked(body, size))
    await wx.app(upload_scope(tokens["access_token"]), exchange.receive, exchange.send)
    assert exchange.status == 413
    assert b'"payload_too_large"' in exchange.body
    # The parser refuses the chunk that takes the file past 2 MiB, not the body's end.
    assert exchange.received == DEFAULT_LIMIT // size + 1
    assert stored(wx) == []


async def test_a_body_longer_than_any_form_within_the_limits_is_never_read(wx: Harness) -> None:
    tokens = await wx.login("alice")
    body_limit = FormLimits(max_file_bytes=DEFAULT_LIMIT).max_body_bytes
    assert DEFAULT_LIMIT < body_limit < DEFAULT_LIMIT + 64 * 1024
    declared = (b"content-length", str(body_limit + 1).encode())
    exchange = Exchange(endless_chunks(64 * 1024))
    await wx.app(upload_scope(tokens["access_token"], declared), exchange.receive, exchange.send)
    assert (exchange.status, exchange.received) == (413, 0)
    # Undeclared: a preamble that never ends stops at its own small bound.
    exchange = Exchange(endless_chunks(64 * 1024))
    await wx.app(upload_scope(tokens["access_token"]), exchange.receive, exchange.send)
    assert (exchange.status, exchange.received) == (400, 1)


async def test_the_limit_is_a_setting(harness_factory: HarnessFactory) -> None:
    wx: Harness = await harness_factory(avatar_max_bytes=1000)
    tokens = await wx.login("alice")
    fits = PNG_MAGIC + b"\x00" * (1000 - len(PNG_MAGIC))
    assert (await upload(wx, tokens["access_token"], form(file_part(fits)))).status_code == 200
    over = await upload(wx, tokens["access_token"], form(file_part(fits + b"\x00")))
    assert (over.status_code, over.json()["error"]["code"]) == (413, "payload_too_large")
    # The JSON routes keep their own 1 MiB limit.
    json_body = b'{"nickname": "' + b"n" * (2 * MiB) + b'"}'
    big = await wx.http.patch(
        "/me/profile",
        content=json_body,
        headers={**bearer(tokens["access_token"]), "content-type": "application/json"},
    )
    assert big.status_code == 413


# ---------------------------------------------------------------------------- malformed


async def test_malformed_uploads_are_400s_and_other_media_types_415s(wx: Harness) -> None:
    token = (await wx.login("alice"))["access_token"]
    png = image("avatar.png")
    nine_fields = [Part(f"f{i}", b"1") for i in range(9)]
    cases = {
        "no boundary": (form(file_part(png)), "multipart/form-data", 400),
        "no closing boundary": (form(file_part(png), close=False), None, 400),
        "oversize part headers": (form(file_part(png, filename="x" * 2000)), None, 400),
        "too many parts": (form(*nine_fields, file_part(png)), None, 400),
        "no file field": (form(Part("avatar", png, "a.png", "image/png")), None, 400),
        "JSON": (b'{"file": "..."}', "application/json", 415),
        "no content type": (form(file_part(png)), "", 415),
    }
    for label, (body, ctype, status) in cases.items():
        headers = bearer(token) | {"content-type": content_type() if ctype is None else ctype}
        if ctype == "":
            del headers["content-type"]
        response = await wx.http.post("/me/avatar", content=body, headers=headers)
        assert response.status_code == status, (label, response.text)
        expected = "invalid_request" if status == 400 else "unsupported_media_type"
        assert response.json()["error"]["code"] == expected, label
    assert stored(wx) == []


# ---------------------------------------------------------------------------- replacing


async def test_a_new_upload_replaces_the_old_file(wx: Harness) -> None:
    tokens = await wx.login("alice")
    first = await upload(wx, tokens["access_token"], form(file_part(image("avatar.png"))))
    old_url = first.json()["avatar_url"]
    assert stored(wx) == [name_of(old_url)]
    jpeg = image("avatar.jpg")
    second = await upload(wx, tokens["access_token"], form(file_part(jpeg)))
    assert second.status_code == 200
    new_url = second.json()["avatar_url"]
    assert new_url != old_url
    assert stored(wx) == [name_of(new_url)]  # the old file is gone from disk
    gone = await wx.http.get(old_url)
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "not_found")
    served = await wx.http.get(new_url)
    assert (served.content, served.headers["content-type"]) == (jpeg, "image/jpeg")


async def test_files_are_private_to_the_server_process(wx: Harness) -> None:
    tokens = await wx.login("alice")
    await upload(wx, tokens["access_token"], form(file_part(image("avatar.webp"))))
    directory = avatars_dir(wx)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    [file] = directory.iterdir()
    assert stat.S_IMODE(file.stat().st_mode) == 0o600


async def test_uploading_never_deletes_a_file_another_user_uploaded(wx: Harness) -> None:
    alice = await wx.login("alice")
    bob = await wx.login("bob")
    mine = await upload(wx, alice["access_token"], form(file_part(image("avatar.png"))))
    alice_url = mine.json()["avatar_url"]
    # Bob points his profile at Alice's file, then uploads his own avatar.
    patched = await wx.http.patch(
        "/me/profile", json={"avatar_url": alice_url}, headers=bearer(bob["access_token"])
    )
    assert patched.json()["avatar_url"] == alice_url
    await upload(wx, bob["access_token"], form(file_part(image("avatar.jpg"))))
    assert (await wx.http.get(alice_url)).status_code == 200
    assert len(stored(wx)) == 2


async def test_an_avatar_set_by_url_is_left_alone_by_an_upload(wx: Harness) -> None:
    tokens = await wx.login("alice")
    auth = bearer(tokens["access_token"])
    await wx.http.patch(
        "/me/profile", json={"avatar_url": "https://cdn.example/a.png"}, headers=auth
    )
    response = await upload(wx, tokens["access_token"], form(file_part(image("avatar.png"))))
    assert response.status_code == 200
    assert len(stored(wx)) == 1


# ---------------------------------------------------------------------------- access


async def test_an_upload_without_a_valid_token_is_a_401(wx: Harness) -> None:
    body = form(file_part(image("avatar.png")))
    for token in (None, "not.a.token"):
        response = await upload(wx, token, body)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert stored(wx) == []


@pytest.mark.parametrize(
    "path",
    [
        "/avatars/../keys.json",
        "/avatars/../../etc/passwd",
        "/avatars/..%2Fkeys.json",
        "/avatars/%2e%2e/wxlogin.db",
        "/avatars/keys.json",
        "/avatars/",
        "/avatars/.",
        "/avatars/x/../NAME",
        "/avatars/NAME/",
        "/avatars/NAME%00.png",
        "/avatars/NAME.png",  # the right name with another type's extension
        "/avatars/UPPER",  # the right name in capitals
        "/avatars/notes.txt",  # a file in the directory that is not an avatar
    ],
)
async def test_anything_but_an_exact_avatar_name_is_a_404(wx: Harness, path: str) -> None:
    tokens = await wx.login("alice")
    response = await upload(wx, tokens["access_token"], form(file_part(image("avatar.jpg"))))
    name = name_of(response.json()["avatar_url"])
    (avatars_dir(wx) / "notes.txt").write_text("not for you")
    path = path.replace("NAME", name.removesuffix(".jpg")).replace("UPPER", name.upper())
    # Straight to the app: an HTTP client would tidy the dots away before sending.
    exchange = Exchange(iter([{"type": "http.request", "body": b"", "more_body": False}]))
    scope = http_scope(path, method="GET", headers=[])
    await wx.app(scope, exchange.receive, exchange.send)
    assert exchange.status == 404, path
    assert b'"not_found"' in exchange.body
    assert str(wx.settings.data_dir).encode() not in exchange.body


async def test_avatar_files_answer_get_and_head_only(wx: Harness) -> None:
    tokens = await wx.login("alice")
    response = await upload(wx, tokens["access_token"], form(file_part(image("avatar.png"))))
    url = response.json()["avatar_url"]
    for method in ("POST", "PUT", "DELETE"):
        refused = await wx.http.request(method, url, headers=bearer(tokens["access_token"]))
        assert (refused.status_code, refused.headers["allow"]) == (405, "GET"), method
    assert (await wx.http.get(url)).status_code == 200


async def test_a_storage_failure_is_a_503_that_names_no_path(
    wx: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    tokens = await wx.login("alice")
    avatars_dir(wx).write_bytes(b"")  # a file where the directory should be: every write fails
    with caplog.at_level(logging.DEBUG):
        response = await upload(wx, tokens["access_token"], form(file_part(image("avatar.png"))))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "not_ready"
    assert "retry-after" in response.headers
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "avatar store: cannot write a file (EEXIST)" in logged
    for text in (logged, response.text):
        assert str(wx.settings.data_dir) not in text and "avatars/" not in text
    me = await wx.http.get("/me", headers=bearer(tokens["access_token"]))
    assert me.json()["avatar_url"] is None


async def test_the_listener_hears_of_each_replaced_avatar(wx: Harness) -> None:
    tokens = await wx.login("alice")
    avatars = wx.service.avatars
    assert avatars is not None
    heard: list[tuple[str, dict[str, object]]] = []
    avatars.listener = lambda event, fields: heard.append((event, dict(fields)))
    data = image("avatar.webp")
    await upload(wx, tokens["access_token"], form(file_part(b"not an image")))
    await upload(wx, tokens["access_token"], form(file_part(data)))
    user_id = tokens["user"]["id"]
    assert heard == [
        ("avatar_replaced", {"user_id": user_id, "media_type": "image/webp", "size": len(data)})
    ]

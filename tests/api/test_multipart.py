"""The multipart/form-data parser on its own: chunking, bounds, and strictness."""

from __future__ import annotations

import random

import pytest

from tests.api.forms import BOUNDARY, Part, file_part, form, image
from wxlogin.api.errors import BodyTooLarge, UnsupportedMediaType
from wxlogin.api.multipart import FormLimits, FormParser, boundary_of
from wxlogin.errors import InvalidRequest

LIMITS = FormLimits(max_file_bytes=4096)


def parse(body: bytes, *, limits: FormLimits = LIMITS, chunk: int | None = None) -> bytes:
    parser = FormParser(BOUNDARY, limits)
    step = chunk or max(1, len(body))
    for at in range(0, len(body), step):
        parser.feed(body[at : at + step])
    return parser.finish()


def refused(body: bytes, *, limits: FormLimits = LIMITS) -> str:
    with pytest.raises(InvalidRequest) as caught:
        parse(body, limits=limits)
    assert caught.value.http_status == 400
    return caught.value.message


# ---------------------------------------------------------------------------- Content-Type


@pytest.mark.parametrize(
    ("header", "boundary"),
    [
        (b"multipart/form-data; boundary=abc", b"abc"),
        (b'multipart/form-data; boundary="a b:c"', b"a b:c"),
        (b"Multipart/Form-Data; charset=utf-8; BOUNDARY=xyz", b"xyz"),
        (b"multipart/form-data;boundary=" + b"7" * 70, b"7" * 70),
    ],
)
def test_the_boundary_comes_from_the_content_type(header: bytes, boundary: bytes) -> None:
    assert boundary_of(header) == boundary


@pytest.mark.parametrize(
    "header",
    [
        b"multipart/form-data",
        b"multipart/form-data; charset=utf-8",
        b"multipart/form-data; boundary=",
        b'multipart/form-data; boundary=""',
        b"multipart/form-data; boundary=" + b"7" * 71,
        b"multipart/form-data; boundary=a\x00b",
        b'multipart/form-data; boundary="ends with space "',
        b"multipart/form-data; boundary=a; boundary=b",
    ],
)
def test_a_missing_or_invalid_boundary_is_a_400(header: bytes) -> None:
    with pytest.raises(InvalidRequest):
        boundary_of(header)


@pytest.mark.parametrize(
    "header", [None, b"application/json", b"multipart/mixed; boundary=a", b"image/png"]
)
def test_other_media_types_are_a_415(header: bytes | None) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        boundary_of(header)
    assert "multipart/form-data" in caught.value.message


# ---------------------------------------------------------------------------- parsing


def test_the_file_is_found_among_other_fields_at_every_chunk_split() -> None:
    data = image("avatar.png")
    body = form(
        Part("nickname", "小明".encode()),
        file_part(data),
        Part("note", b"--" + BOUNDARY[:-1]),  # almost a delimiter, inside a field
    )
    assert parse(body) == data
    for chunk in (1, 2, 3, 7, 64):
        assert parse(body, chunk=chunk) == data
    # Every place a split can fall between two chunks.
    for at in range(1, len(body)):
        parser = FormParser(BOUNDARY, LIMITS)
        parser.feed(body[:at])
        parser.feed(body[at:])
        assert parser.finish() == data, at


def test_the_first_delimiter_may_follow_a_small_preamble_and_an_epilogue_is_dropped() -> None:
    body = b"a preamble\r\n" + form(file_part(b"x")) + b"an epilogue"
    assert parse(body) == b"x"


def test_an_empty_file_and_quoted_parameters_parse() -> None:
    disposition = b'Content-Disposition: form-data; filename="a;b \\"c\\".jpg"; name="file"'
    body = b"--" + BOUNDARY + b"\r\n" + disposition + b"\r\n\r\n\r\n--" + BOUNDARY + b"--\r\n"
    assert parse(body) == b""


def test_a_file_over_its_limit_is_refused_as_it_arrives() -> None:
    limits = FormLimits(max_file_bytes=1000)
    assert parse(form(file_part(b"x" * 1000)), limits=limits) == b"x" * 1000
    parser = FormParser(BOUNDARY, limits)
    parser.feed(form(file_part(b"x" * 900), close=False)[:-2])
    with pytest.raises(BodyTooLarge):  # raised by this chunk, before any closing delimiter
        parser.feed(b"x" * 200)


def test_the_largest_legitimate_form_fits_the_body_limit() -> None:
    """No form within the per-piece limits is refused by the body limit first."""
    limits = FormLimits(max_file_bytes=5000)
    boundary = b"b" * 70
    disposition = b'Content-Disposition: form-data; name="f0"'
    padding = b"\r\nX-Padding: " + b"p" * (limits.max_header_bytes - len(disposition) - 13)
    # A field at both of its limits: as many characters as allowed, of 4 UTF-8 bytes each.
    value = "😀".encode() * limits.max_field_chars
    assert len(value) == limits.max_field_bytes
    fields = [Part(f"f{i}", value, content_type=None) for i in range(limits.max_parts - 1)]
    parts = [*fields, Part("file", b"i" * limits.max_file_bytes)]
    body = b"e" * limits.max_extra_bytes + b"\r\n" + form(*parts, boundary=boundary)
    body = body.replace(disposition, disposition + padding, 1)
    assert len(disposition + padding) == limits.max_header_bytes
    body += b"e" * (limits.max_extra_bytes - 2)
    assert len(body) <= limits.max_body_bytes
    parser = FormParser(boundary, limits)
    parser.feed(body)
    assert parser.finish() == b"i" * limits.max_file_bytes


def test_no_file_field_is_a_400() -> None:
    assert "`file`" in refused(form(Part("nickname", b"x")))
    assert "`file`" in refused(form())  # only the closing delimiter


def test_two_file_fields_are_a_400() -> None:
    assert "more than one" in refused(form(file_part(b"a"), file_part(b"b")))


def test_a_missing_closing_boundary_is_a_400() -> None:
    body = form(file_part(image("avatar.png")), close=False)
    assert "closing boundary" in refused(body)
    assert "closing boundary" in refused(body[: len(body) // 2])  # cut off mid-file
    assert "closing boundary" in refused(b"")


def test_oversize_part_headers_are_a_400() -> None:
    long_name = "x" * LIMITS.max_header_bytes
    assert "headers are longer" in refused(form(file_part(b"a", filename=long_name)))
    # Also when the block never ends: the parser gives up at the limit, not at the body's end.
    parser = FormParser(BOUNDARY, LIMITS)
    parser.feed(b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=")
    with pytest.raises(InvalidRequest, match="headers are longer"):
        parser.feed(b"a" * (LIMITS.max_header_bytes + 8))


def test_too_many_parts_are_a_400() -> None:
    fields = [Part(f"f{i}", b"v") for i in range(LIMITS.max_parts)]
    assert "more than 8 parts" in refused(form(*fields, file_part(b"a")))
    assert parse(form(*fields[:-1], file_part(b"a"))) == b"a"


def test_an_oversize_field_is_a_400() -> None:
    big = Part("note", b"v" * (LIMITS.max_field_bytes + 1))
    assert "form field is longer" in refused(form(big, file_part(b"a")))


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"no boundary anywhere" * 100, "does not begin with"),
        (b"--" + BOUNDARY + b"XX\r\n", "boundary line is malformed"),
        (b"--" + BOUNDARY + b" \r\n", "boundary line is malformed"),
        (b"--" + BOUNDARY + b"\r\n\r\nx\r\n--" + BOUNDARY + b"--", "no Content-Disposition"),
        (b"--" + BOUNDARY + b"\r\nno colon here\r\n\r\n", "malformed header line"),
        (b"--" + BOUNDARY + b"\r\n folded: x\r\n\r\n", "malformed header line"),
        (b"--" + BOUNDARY + b"\r\nContent-Disposition: attachment\r\n\r\n", "not form-data"),
        (b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data\r\n\r\n", "no field name"),
        (b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="a\r\n\r\n', "quoted"),
        (b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="a\\\r\n\r\n', "quoted"),
        (b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name\r\n\r\n", "malformed"),
        (
            b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="\xff"\r\n\r\n',
            "not UTF-8",
        ),
        (
            b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data; name=a; name=b\r\n\r\n",
            "repeats a parameter",
        ),
        (
            b"--"
            + BOUNDARY
            + b"\r\nContent-Disposition: form-data; name=a\r\n"
            + b"Content-Disposition: form-data; name=file\r\n\r\n",
            "two Content-Disposition",
        ),
        (form(file_part(b"a")) + b"e" * 2000, "after the closing"),
    ],
)
def test_malformed_forms_are_a_400_naming_the_problem(body: bytes, words: str) -> None:
    assert words in refused(body)


def test_damaged_forms_only_ever_raise_our_4xx_errors() -> None:
    """Random damage at random places, fed in random chunks: a 400, 413 or a result, never a
    crash of another kind (which the face would answer with a 500)."""
    rng = random.Random(20261201)  # fixed: a failure can be replayed
    original = form(Part("nickname", b"n"), file_part(image("avatar.png")), Part("x", b"y"))
    noise = [b"\r", b"\n", b"\r\n", b"--", b"\r\n--" + BOUNDARY, b'"', b";", b":", b"=", b"\\"]
    outcomes: set[str] = set()
    headers_end = original.index(b"\r\n\r\n", original.index(b'name="file"'))
    for _ in range(6000):
        body = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            # Mostly where the parser has the most to say: delimiters and part headers.
            end = headers_end + 4 if rng.random() < 0.7 else len(body)
            at = rng.randrange(min(end, len(body)) + 1)
            roll = rng.random()
            if roll < 0.4:
                body[at:at] = rng.choice(noise)
            elif roll < 0.7:
                del body[at : at + rng.randint(1, 8)]
            else:
                body[at : at + 1] = bytes([rng.randrange(256)])
        parser = FormParser(BOUNDARY, FormLimits(max_file_bytes=len(original)))
        try:
            position = 0
            while position < len(body):
                step = rng.randint(1, 96)
                parser.feed(bytes(body[position : position + step]))
                position += step
            parser.finish()
            outcomes.add("parsed")
        except (InvalidRequest, BodyTooLarge) as exc:
            outcomes.add(type(exc).__name__)
    assert outcomes == {"parsed", "InvalidRequest"}  # damage in the file's bytes still parses

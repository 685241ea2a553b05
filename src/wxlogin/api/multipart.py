"""``multipart/form-data`` as ``wx.uploadFile`` sends it: a small, strict, incremental parser.

The body is fed chunk by chunk as the server receives it, so a file over its limit is
refused at the byte that crosses the limit, and nothing but the one file is kept: the other
form fields (``formData``) are counted and dropped. Every piece has a bound — the preamble,
each part's header block, the number of parts, each other field, the epilogue — so the
largest body a well-formed form can have is known in advance (``FormLimits.max_body_bytes``)
and the HTTP face refuses anything longer before reading it.

Strict on purpose (RFC 7578 / RFC 2046, no leniency a browser or WeChat does not need): the
boundary comes from the Content-Type and must be a valid one; every part needs a
``Content-Disposition: form-data; name=...``; a delimiter line is followed by CRLF or ``--``
and nothing else; the body must end with the closing delimiter. Malformed input is a 400
``invalid_request`` with a sentence saying what is wrong, never an exception of another kind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wxlogin.api.errors import BodyTooLarge, UnsupportedMediaType
from wxlogin.errors import InvalidRequest

__all__ = ["FormLimits", "FormParser", "boundary_of"]

_MEDIA_TYPE = b"multipart/form-data"
_NOT_MULTIPART = "send the file as multipart/form-data (wx.uploadFile)"
# RFC 2046 bchars: 1 to 70 of them, and the last one is not a space.
_BOUNDARY = re.compile(rb"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_MAX_BOUNDARY = 70
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CRLF = b"\r\n"
_HEADER_END = b"\r\n\r\n"
# UTF-8 continuation bytes: what is left once they are deleted is one byte per character.
_CONTINUATION = bytes(range(0x80, 0xC0))


@dataclass(frozen=True, slots=True)
class FormLimits:
    """How much of each piece of a form is accepted."""

    max_file_bytes: int
    max_parts: int = 8
    max_header_bytes: int = 1024  # one part's header block
    max_field_bytes: int = 4096  # one form field other than the file
    # The same bounds in characters, as /openapi.json's JSON Schema can say them (a field's
    # maxLength, a name's): each within its byte bound at 4 UTF-8 bytes a character.
    max_field_chars: int = 1024
    max_name_chars: int = 128
    max_extra_bytes: int = 1024  # the preamble, and the epilogue

    @property
    def max_body_bytes(self) -> int:
        """The longest body that stays within every other limit (an upper bound)."""
        delimiter = len(b"\r\n--") + _MAX_BOUNDARY + len(_CRLF)
        per_part = delimiter + self.max_header_bytes + len(_HEADER_END)
        return (
            2 * self.max_extra_bytes
            + self.max_parts * (per_part + self.max_field_bytes)
            + self.max_file_bytes
            + delimiter
        )


def boundary_of(content_type: bytes | None) -> bytes:
    """The boundary of a ``multipart/form-data`` Content-Type; 415 for any other type."""
    if content_type is None:
        raise UnsupportedMediaType(_NOT_MULTIPART)
    media, _, parameters = content_type.partition(b";")
    if media.strip().lower() != _MEDIA_TYPE:
        raise UnsupportedMediaType(_NOT_MULTIPART)
    boundary: bytes | None = None
    for parameter in parameters.split(b";"):
        name, equals, value = parameter.partition(b"=")
        if name.strip().lower() != b"boundary" or not equals:
            continue
        if boundary is not None:
            raise InvalidRequest("the Content-Type names two multipart boundaries")
        value = value.strip()
        if len(value) >= 2 and value[:1] == value[-1:] == b'"':
            value = value[1:-1]
        boundary = value
    if boundary is None or not _BOUNDARY.fullmatch(boundary):
        raise InvalidRequest("the Content-Type has no valid multipart boundary")
    return boundary


# Where the parser is in the body.
_PREAMBLE, _AFTER_DELIMITER, _HEADERS, _DATA, _EPILOGUE = range(5)


class FormParser:
    """Feed the body with ``feed``; ``finish`` returns the bytes of the one file field.

    Parts other than ``file_field`` are checked for shape and size, then dropped.
    """

    def __init__(self, boundary: bytes, limits: FormLimits, *, file_field: str = "file") -> None:
        self._limits = limits
        self._file_field = file_field
        self._delimiter = b"\r\n--" + boundary
        # A CRLF in front, so a first delimiter at the very start of the body is found by the
        # same search as every later one (RFC 2046 lets the first one skip its CRLF).
        self._buffer = bytearray(_CRLF)
        self._state = _PREAMBLE
        self._parts = 0
        self._file: bytearray | None = None
        self._in_file = False
        self._field_bytes = 0
        self._field_chars = 0
        self._epilogue_bytes = 0

    def feed(self, chunk: bytes) -> None:
        if self._state == _EPILOGUE:  # nothing after the closing delimiter is kept
            self._count_epilogue(len(chunk))
            return
        self._buffer += chunk
        while self._step():
            pass

    def finish(self) -> bytes:
        if self._state != _EPILOGUE:
            raise InvalidRequest("the form ends before its closing boundary")
        if self._file is None:
            raise InvalidRequest(f"the form has no `{self._file_field}` field")
        return bytes(self._file)

    # ------------------------------------------------------------------ states

    def _step(self) -> bool:
        """Advance through what is buffered; False when more input is needed."""
        state = self._state
        if state == _DATA:
            return self._data()
        if state == _HEADERS:
            return self._headers()
        if state == _AFTER_DELIMITER:
            return self._after_delimiter()
        if state == _PREAMBLE:
            return self._preamble()
        self._count_epilogue(len(self._buffer))
        self._buffer.clear()
        return False

    def _preamble(self) -> bool:
        buffer = self._buffer
        at = buffer.find(self._delimiter)
        # The preamble is what precedes the first delimiter, less the CRLF we put in front;
        # while none is found, the buffer's tail may still be the start of one.
        limit = self._limits.max_extra_bytes + len(_CRLF)
        if at < 0:
            if len(buffer) > limit + len(self._delimiter):
                raise InvalidRequest("the body does not begin with the multipart boundary")
            return False
        if at > limit:
            raise InvalidRequest("the body does not begin with the multipart boundary")
        del buffer[: at + len(self._delimiter)]
        self._state = _AFTER_DELIMITER
        return True

    def _after_delimiter(self) -> bool:
        buffer = self._buffer
        if len(buffer) < 2:
            return False
        follows = bytes(buffer[:2])
        del buffer[:2]
        if follows == b"--":
            self._end_part()
            self._state = _EPILOGUE
            return True
        if follows != _CRLF:
            raise InvalidRequest("a multipart boundary line is malformed")
        self._end_part()
        self._parts += 1
        if self._parts > self._limits.max_parts:
            raise InvalidRequest(f"the form has more than {self._limits.max_parts} parts")
        self._state = _HEADERS
        return True

    def _headers(self) -> bool:
        buffer = self._buffer
        limit = self._limits.max_header_bytes
        # An empty header block is a bare CRLF; it fails below for want of a name.
        at = 0 if buffer.startswith(_CRLF) else buffer.find(_HEADER_END)
        if at < 0:
            if len(buffer) > limit + len(_HEADER_END):
                raise InvalidRequest(f"a form part's headers are longer than {limit} bytes")
            return False
        if at > limit:
            raise InvalidRequest(f"a form part's headers are longer than {limit} bytes")
        block = bytes(buffer[:at])
        del buffer[: at + (len(_CRLF) if at == 0 else len(_HEADER_END))]
        name = _field_name(block)
        if len(name) > self._limits.max_name_chars:
            raise InvalidRequest(
                f"a form field name is longer than {self._limits.max_name_chars} characters"
            )
        if name == self._file_field:
            if self._file is not None:
                raise InvalidRequest(f"the form has more than one `{self._file_field}` field")
            self._file = bytearray()
            self._in_file = True
        else:
            self._in_file = False
            self._field_bytes = 0
            self._field_chars = 0
        self._state = _DATA
        return True

    def _data(self) -> bool:
        buffer = self._buffer
        at = buffer.find(self._delimiter)
        if at < 0:
            # Keep what could be the start of a delimiter split across two chunks.
            at = len(buffer) - (len(self._delimiter) - 1)
            if at > 0:
                self._take(at)
            return False
        self._take(at)
        del buffer[: len(self._delimiter)]
        self._state = _AFTER_DELIMITER
        return True

    def _take(self, size: int) -> None:
        """Move the first ``size`` buffered bytes into the current part."""
        if self._in_file:
            assert self._file is not None
            limit = self._limits.max_file_bytes
            if len(self._file) + size > limit:
                raise BodyTooLarge(f"the file is larger than {limit} bytes")
            with memoryview(self._buffer) as view:
                self._file += view[:size]
        else:
            self._field_bytes += size
            limit = self._limits.max_field_bytes
            if self._field_bytes > limit:
                raise InvalidRequest(f"a form field is longer than {limit} bytes")
            self._field_chars += len(self._buffer[:size].translate(None, _CONTINUATION))
            if self._field_chars > self._limits.max_field_chars:
                limit = self._limits.max_field_chars
                raise InvalidRequest(f"a form field is longer than {limit} characters")
        del self._buffer[:size]

    def _end_part(self) -> None:
        self._in_file = False

    def _count_epilogue(self, size: int) -> None:
        self._epilogue_bytes += size
        if self._epilogue_bytes > self._limits.max_extra_bytes:
            raise InvalidRequest("too much data after the closing multipart boundary")


def _field_name(block: bytes) -> str:
    """The form field name of a part, from its header block; 400 when it has none."""
    disposition: bytes | None = None
    for line in block.split(_CRLF) if block else ():
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name) or b"\n" in value or b"\r" in value:
            raise InvalidRequest("a form part has a malformed header line")
        if name.lower() == b"content-disposition":
            if disposition is not None:
                raise InvalidRequest("a form part has two Content-Disposition headers")
            disposition = value
    if disposition is None:
        raise InvalidRequest("a form part has no Content-Disposition header")
    kind, _, rest = disposition.strip().partition(b";")
    if kind.strip().lower() != b"form-data":
        raise InvalidRequest("a form part is not form-data")
    raw_name = _parameters(rest).get(b"name")
    if not raw_name:
        raise InvalidRequest("a form part has no field name")
    try:
        return raw_name.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("a form field name is not UTF-8") from None


def _parameters(text: bytes) -> dict[bytes, bytes]:
    """``; name="file"; filename="a;b.jpg"`` as {b"name": b"file", b"filename": b"a;b.jpg"}.

    Quoted values may hold ``;`` and backslash escapes; a parameter seen twice is refused.
    """
    found: dict[bytes, bytes] = {}
    at, end = 0, len(text)
    while at < end:
        while at < end and text[at] in b" \t;":
            at += 1
        if at >= end:
            break
        equals = text.find(b"=", at)
        if equals < 0:
            raise InvalidRequest("a form part has a malformed Content-Disposition")
        key = text[at:equals].strip().lower()
        if not _TOKEN.fullmatch(key):
            raise InvalidRequest("a form part has a malformed Content-Disposition")
        at = equals + 1
        while at < end and text[at] in b" \t":
            at += 1
        if at < end and text[at] == ord('"'):
            value, at = _quoted(text, at + 1)
        else:
            stop = text.find(b";", at)
            stop = end if stop < 0 else stop
            value, at = text[at:stop].strip(), stop
        if key in found:
            raise InvalidRequest("a form part's Content-Disposition repeats a parameter")
        found[key] = value
    return found


def _quoted(text: bytes, at: int) -> tuple[bytes, int]:
    """The quoted-string starting just after its opening quote, and where it ends."""
    value = bytearray()
    end = len(text)
    while at < end:
        char = text[at]
        if char == ord("\\") and at + 1 < end:
            value.append(text[at + 1])
            at += 2
        elif char == ord('"'):
            return bytes(value), at + 1
        else:
            value.append(char)
            at += 1
    raise InvalidRequest("a form part has an unterminated quoted string")

"""multipart/form-data bodies built byte by byte, as wx.uploadFile (or a browser) sends them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IMAGES = Path(__file__).resolve().parent / "images"
BOUNDARY = b"----WebKitFormBoundaryq8Z2xGmJcT4vR1sE"


def image(name: str) -> bytes:
    """A real 16×16 image (made with Pillow, which the suite does not depend on)."""
    return (IMAGES / name).read_bytes()


@dataclass(frozen=True)
class Part:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    def encode(self) -> bytes:
        disposition = f'form-data; name="{self.name}"'
        if self.filename is not None:
            disposition += f'; filename="{self.filename}"'
        headers = f"Content-Disposition: {disposition}\r\n"
        if self.content_type is not None:
            headers += f"Content-Type: {self.content_type}\r\n"
        return headers.encode() + b"\r\n" + self.data


def form(*parts: Part, boundary: bytes = BOUNDARY, close: bool = True) -> bytes:
    """The body: each part after a delimiter line, then the closing delimiter and a CRLF."""
    body = b"".join(b"--" + boundary + b"\r\n" + part.encode() + b"\r\n" for part in parts)
    return body + (b"--" + boundary + b"--\r\n" if close else b"")


def content_type(boundary: bytes = BOUNDARY) -> str:
    return f"multipart/form-data; boundary={boundary.decode()}"


def file_part(
    data: bytes, *, filename: str = "tmp_9a4e0c.jpg", content_type: str = "image/jpeg"
) -> Part:
    """The part wx.uploadFile makes of `filePath` with `name: "file"`."""
    return Part("file", data, filename, content_type)

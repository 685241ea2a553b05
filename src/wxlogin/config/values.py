"""What a setting's value is, as pure functions: a database URL with the driver wxlogin uses,
a URL with its password redacted, a 32-byte key from base64, a placeholder left from an example.

Apart from ``Settings`` because layers above use them on their own (``store`` redacts URLs,
``private_files`` decodes keys) and because every check module asks ``is_placeholder``; they
read no setting and import nothing of the package, so each part of it can use them.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["decode_key32", "is_placeholder", "normalize_database_url", "redact_url"]

# Values people leave in example configs. Compared after lower-casing and dropping -_. and
# spaces; see is_placeholder for the patterns that are not exact words.
_PLACEHOLDERS = frozenset(
    {
        "",
        "changeme",
        "changethis",
        "secret",
        "appsecret",
        "yourappsecret",
        "yoursecret",
        "mysecret",
        "xxx",
        "placeholder",
        "todo",
        "fixme",
        "example",
        "default",
        "password",
        "none",
        "null",
        "test",
    }
)


def is_placeholder(value: str) -> bool:
    squashed = re.sub(r"[\s\-_.]", "", value.strip().lower())
    return (
        squashed in _PLACEHOLDERS
        or "changeme" in squashed
        or "placeholder" in squashed
        or squashed.startswith("your")
        or (squashed.startswith("<") and squashed.endswith(">"))
        # "xxxxxxxx", "00000000": one character repeated is never a real secret.
        or len(set(squashed)) == 1
    )


# --------------------------------------------------------------------------- URLs


def normalize_database_url(url: str) -> str:
    """Give a database URL the async driver wxlogin uses.

    ``postgres://`` and ``postgresql://`` (what hosting providers hand out) become
    ``postgresql+asyncpg://``; ``sqlite://`` becomes ``sqlite+aiosqlite://``. Anything else is
    returned unchanged.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    lowered = scheme.lower()
    if lowered in ("postgres", "postgresql"):
        return f"postgresql+asyncpg://{rest}"
    if lowered == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    return url


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``, for logs and CLI output."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostinfo}"))


# --------------------------------------------------------------------------- keys


def decode_key32(value: str) -> bytes | None:
    """Standard or URL-safe base64 of exactly 32 bytes, else None."""
    text = value.strip()
    padded = text + "=" * (-len(text) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decode(padded.encode("ascii"))
        except (binascii.Error, ValueError):
            continue
        if len(raw) == 32:
            return raw
    return None

"""Avatars: an uploaded image, checked by its bytes, kept behind a small storage interface.

``AvatarService.replace`` is the use-case behind ``POST /me/avatar``: recognise the image by
its magic numbers, store it under a fresh name, point the user's ``avatar_url`` at it, then
delete the file it replaces. Where the bytes live is an ``AvatarStore``'s business: the local
one keeps them under ``data_dir/avatars/``; an object store can follow with the same three
calls. Nothing here knows about HTTP beyond the URL path the files are served under.

Names are chosen here, not by a store: 128 random bits (nobody can guess another user's
file) and a 64-bit tag derived from the owner's id and those bits, so that replacing an
avatar only ever deletes a file this user uploaded — ``avatar_url`` can also be set to any
string through ``PATCH /me/profile``, including someone else's avatar URL.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from wxlogin.errors import NotReady, UnsupportedImage, UserNotFound, WxLoginError
from wxlogin.private_files import ensure_private_dir, write_private_file
from wxlogin.store.records import User
from wxlogin.store.repository import Store

__all__ = [
    "AVATAR_NAME",
    "AVATAR_PATH",
    "IMAGE_KINDS",
    "AvatarService",
    "AvatarStore",
    "ImageKind",
    "LocalAvatarStore",
    "StoredAvatar",
    "new_avatar_name",
    "owned_by",
    "sniff_image",
]

_log = logging.getLogger("wxlogin.service")

# Where the HTTP faces serve the files: ``{public_url}{AVATAR_PATH}{name}``.
AVATAR_PATH = "/avatars/"


@dataclass(frozen=True, slots=True)
class ImageKind:
    media_type: str
    extension: str


JPEG = ImageKind("image/jpeg", "jpg")
PNG = ImageKind("image/png", "png")
WEBP = ImageKind("image/webp", "webp")
IMAGE_KINDS = (JPEG, PNG, WEBP)
_KIND_BY_EXTENSION = {kind.extension: kind for kind in IMAGE_KINDS}

_RANDOM_HEX = 32  # 128 bits
_TAG_HEX = 16  # 64 bits
AVATAR_NAME = re.compile(rf"[0-9a-f]{{{_RANDOM_HEX + _TAG_HEX}}}\.(?:jpg|png|webp)")
"""A stored avatar's name, exactly: anything else (a path, a dot-dot, a capital) is unknown."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_WEBP_CHUNKS = (b"VP8 ", b"VP8L", b"VP8X")


def sniff_image(data: bytes) -> ImageKind:
    """The image type the bytes themselves say, or ``UnsupportedImage``.

    Only the first 16 bytes are read: JPEG's start-of-image marker, PNG's signature followed
    by its mandatory first chunk (IHDR), WebP's RIFF container with a VP8 chunk. The image is
    not decoded: it is only ever served back with this type and ``nosniff``.
    """
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(_PNG_SIGNATURE) and data[12:16] == b"IHDR":
        return PNG
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and data[12:16] in _WEBP_CHUNKS:
        return WEBP
    if not data:
        raise UnsupportedImage("the file is empty")
    raise UnsupportedImage(
        "the file is not a JPEG, PNG or WebP image (judged by its bytes, not its name)"
    )


def _tag(user_id: str, random_part: str) -> str:
    digest = hashlib.sha256(f"wxlogin-avatar\0{user_id}\0{random_part}".encode()).hexdigest()
    return digest[:_TAG_HEX]


def new_avatar_name(user_id: str, kind: ImageKind) -> str:
    """A fresh, unguessable file name that says (to us) whose upload it is."""
    random_part = secrets.token_hex(_RANDOM_HEX // 2)
    return f"{random_part}{_tag(user_id, random_part)}.{kind.extension}"


def owned_by(name: str, user_id: str) -> bool:
    """Whether ``name`` is a stored avatar's name that ``user_id`` uploaded."""
    if not AVATAR_NAME.fullmatch(name):
        return False
    random_part, tag = name[:_RANDOM_HEX], name[_RANDOM_HEX : _RANDOM_HEX + _TAG_HEX]
    return secrets.compare_digest(tag, _tag(user_id, random_part))


@dataclass(frozen=True, slots=True)
class StoredAvatar:
    data: bytes
    media_type: str


class AvatarStore(Protocol):
    """Where avatar bytes live. ``name`` always matches ``AVATAR_NAME`` (the service checks)."""

    async def put(self, name: str, data: bytes, media_type: str) -> None:
        """Store a new file; readers see all of it or nothing."""
        ...

    async def open(self, name: str) -> StoredAvatar | None:
        """The file, or None when there is none by that name."""
        ...

    async def delete(self, name: str) -> None:
        """Remove the file; a missing one is not an error."""
        ...


class LocalAvatarStore:
    """Avatar files in one owner-only directory (0700), each file 0600, written atomically.

    File I/O runs in a worker thread: an fsync can take long enough to stall every other
    request on the event loop. OS errors are logged by errno name only (never the path) and
    surface as a retryable 503.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _path(self, name: str) -> Path:
        # The service checked the name already; a store never joins an unchecked one to a path.
        if not AVATAR_NAME.fullmatch(name):
            raise ValueError("not an avatar name")
        return self._directory / name

    async def put(self, name: str, data: bytes, media_type: str) -> None:
        path = self._path(name)
        try:
            await asyncio.to_thread(self._write, path, data)
        except OSError as exc:
            raise _unavailable("write", exc) from None

    def _write(self, path: Path, data: bytes) -> None:
        ensure_private_dir(self._directory)  # 0700 when it is created
        # A temporary file, fsync, rename: a reader sees the whole file or none. Not the
        # exclusive (hard link) mode: names never repeat, and some volumes have no links.
        write_private_file(path, data)

    async def open(self, name: str) -> StoredAvatar | None:
        if not AVATAR_NAME.fullmatch(name):
            return None
        path = self._directory / name
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _unavailable("read", exc) from None
        kind = _KIND_BY_EXTENSION[name.rpartition(".")[2]]
        return StoredAvatar(data, kind.media_type)

    async def delete(self, name: str) -> None:
        path = self._path(name)
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as exc:
            # The user already points at the new file; an orphan is better than a failed request.
            _log.warning("avatar store: could not delete a replaced file (%s)", _errno_name(exc))


def _errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, "unknown error")


def _unavailable(action: str, exc: OSError) -> NotReady:
    _log.error("avatar store: cannot %s a file (%s)", action, _errno_name(exc))
    return NotReady("avatar storage is unavailable; try again later")


class AvatarService:
    """Upload, serve and replace avatars. ``base_url`` is ``{public_url}`` + ``AVATAR_PATH``."""

    def __init__(
        self,
        files: AvatarStore,
        store: Store,
        *,
        base_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.files = files
        self._store = store
        self._base_url = base_url
        self._clock = clock
        # Told of each replaced avatar (``wxlogin dev`` sets it for /demo); None otherwise.
        self.listener: Callable[[str, Mapping[str, object]], None] | None = None

    def url_of(self, name: str) -> str:
        return f"{self._base_url}{name}"

    def _own_name(self, url: str | None, *owners: str) -> str | None:
        """The name in ``url`` when it is one of our avatar URLs uploaded by one of ``owners``."""
        if url is None or not url.startswith(self._base_url):
            return None
        name = url[len(self._base_url) :]
        return name if any(owned_by(name, owner) for owner in owners) else None

    async def replace(self, user_id: str, data: bytes) -> User:
        """Store ``data`` as the user's avatar and delete the avatar file it replaces.

        The old file goes only after the user's record points at the new one, so the user
        never has a URL that answers 404. Two uploads racing for one user can leave the
        loser's file unreferenced (unguessable, never served by a URL anyone holds).
        """
        kind = sniff_image(data)
        user = await self._store.get_user(user_id)
        if user is None:
            raise UserNotFound()
        name = new_avatar_name(user.id, kind)
        await self.files.put(name, data, kind.media_type)
        try:
            updated = await self._store.update_profile(
                user.id,
                avatar_url=self.url_of(name),
                now=datetime.fromtimestamp(self._clock(), UTC),
            )
        except WxLoginError:
            # The store refused (the user is gone): nothing points at the file. Other failures
            # leave it, since the update may have committed before the error reached us.
            await self.files.delete(name)
            raise
        old = self._own_name(user.avatar_url, user.id, user_id)
        if old is not None and old != name:
            await self.files.delete(old)
        if self.listener is not None:
            fields = {"user_id": updated.id, "media_type": kind.media_type, "size": len(data)}
            self.listener("avatar_replaced", fields)
        return updated

    async def open(self, name: str) -> StoredAvatar | None:
        """The avatar file called ``name``; None for anything that is not one."""
        if not AVATAR_NAME.fullmatch(name):
            return None
        return await self.files.open(name)

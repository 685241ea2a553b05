"""The one module that touches wxlogin's private files in ``data_dir``.

Settings (``config``) and tokens (``tokens``) do no file I/O; whatever must live on disk and
be readable by the owner only goes through here:

* the generated session_key encryption key (``session_key_encryption.key``), used when
  ``WXLOGIN_SESSION_KEY_ENCRYPTION_KEY`` is unset — fine for one machine, never for several;
* the legacy signing-key file ``keys.json``: the keys live in the database now, and this file
  is only read once, to import the keys of a deployment that predates that;
* the directories and atomic 0600 writes other parts need (uploaded avatars, SQLite's
  directory).

Nothing here logs or raises with a file's contents: they are secrets.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Final

from wxlogin.config import Settings, decode_key32
from wxlogin.errors import ConfigurationError

__all__ = [
    "LEGACY_KEYS_FILE",
    "SESSION_KEY_FILE",
    "ensure_private_dir",
    "read_legacy_keys_file",
    "session_key_encryption_key",
    "write_private_file",
]

SESSION_KEY_FILE: Final = "session_key_encryption.key"
LEGACY_KEYS_FILE: Final = "keys.json"


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) if needed; a directory we create is owner-only (0700)."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)


def write_private_file(path: Path, data: bytes, *, exclusive: bool = False) -> bool:
    """Write ``data`` to ``path`` atomically with mode 0600.

    The bytes go to a temporary file in the same directory first, so readers only ever see a
    complete file. With ``exclusive`` the file is only created when missing (a hard link
    fails if the name exists): returns False when another writer got there first. Without
    it the file is replaced (``os.replace``) and True is returned.
    """
    ensure_private_dir(path.parent)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            return True
        os.replace(tmp, path)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def session_key_encryption_key(settings: Settings) -> bytes:
    """The 32-byte key that seals session_keys (and the signing keys) at rest.

    From ``session_key_encryption_key`` when set; otherwise from
    ``data_dir/session_key_encryption.key``, created (0600) on first use. Several processes
    starting at once on one ``data_dir`` agree on one key (exclusive create). Processes on
    several machines must be given the same key explicitly.
    """
    configured = settings.configured_encryption_key()
    if configured is not None:
        return configured
    path = settings.data_dir / SESSION_KEY_FILE
    if not path.exists():
        fresh = base64.b64encode(secrets.token_bytes(32)) + b"\n"
        write_private_file(path, fresh, exclusive=True)
    try:
        raw = decode_key32(path.read_text("ascii"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"{path}: cannot read the key file ({type(exc).__name__})"
        ) from None
    if raw is None:
        raise ConfigurationError(
            f"{path}: the session_key encryption key file is corrupt (expected base64 of 32 bytes)"
        )
    return raw


def read_legacy_keys_file(data_dir: Path) -> bytes | None:
    """The bytes of ``data_dir/keys.json`` (signing keys of an older version), None if absent."""
    path = data_dir / LEGACY_KEYS_FILE
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigurationError(
            f"{path}: cannot read ({exc.strerror or type(exc).__name__})"
        ) from None

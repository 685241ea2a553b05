"""wxlogin's private files in data_dir: owner-only, written atomically, created once."""

from __future__ import annotations

import base64
import multiprocessing
import stat
from pathlib import Path
from typing import Any

import pytest

from wxlogin.config import Settings
from wxlogin.errors import ConfigurationError
from wxlogin.private_files import (
    SESSION_KEY_FILE,
    read_legacy_keys_file,
    session_key_encryption_key,
    write_private_file,
)

KEY = base64.b64encode(bytes(range(32))).decode()


def test_the_generated_encryption_key_is_private_and_created_once(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path / "new" / "data")
    first = session_key_encryption_key(settings)
    assert len(first) == 32
    path = tmp_path / "new" / "data" / SESSION_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert session_key_encryption_key(settings) == first  # read back, not regenerated
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_a_configured_key_wins_and_no_file_is_made(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path / "data", session_key_encryption_key=KEY)
    assert session_key_encryption_key(settings) == bytes(range(32))
    assert not (tmp_path / "data").exists()


def test_a_corrupt_key_file_is_named_not_quoted(tmp_path: Path) -> None:
    (tmp_path / SESSION_KEY_FILE).write_text("c2VjcmV0LWJ1dC1zaG9ydA==\n")
    with pytest.raises(ConfigurationError) as caught:
        session_key_encryption_key(Settings.load(data_dir=tmp_path))
    assert SESSION_KEY_FILE in caught.value.message
    assert "c2VjcmV0" not in caught.value.message


def _generate(data_dir: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    results.put(session_key_encryption_key(Settings.load(data_dir=Path(data_dir))))


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(4), context.Queue()
    workers = [
        context.Process(target=_generate, args=(str(tmp_path / "d"), barrier, results))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    keys = {results.get(timeout=60) for _ in workers}
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert len(keys) == 1


def test_exclusive_writes_never_replace(tmp_path: Path) -> None:
    path = tmp_path / "f"
    assert write_private_file(path, b"one", exclusive=True) is True
    assert write_private_file(path, b"two", exclusive=True) is False
    assert path.read_bytes() == b"one"
    assert write_private_file(path, b"three") is True
    assert path.read_bytes() == b"three"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_legacy_key_file_is_read_when_present(tmp_path: Path) -> None:
    assert read_legacy_keys_file(tmp_path) is None
    (tmp_path / "keys.json").write_bytes(b'{"keys": []}')
    assert read_legacy_keys_file(tmp_path) == b'{"keys": []}'

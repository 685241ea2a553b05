"""The mini-program SDK's ES module, served to ``/demo`` from its package directory.

``/demo`` must run the very SDK a mini program gets, so nothing is copied or bundled: the
package directory is found (``--sdk-dir``, else ``clients/miniprogram`` of the checkout this
wxlogin runs from), its ``package.json`` names the ES module entry, and the ``.mjs`` files
beside that entry are read from disk on each request — an edit to the SDK shows on reload.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Final

import wxlogin

__all__ = ["PACKAGE_NAME", "SdkModule", "SdkNotFound"]

PACKAGE_NAME: Final = "wxlogin-miniprogram"
ENTRY_NAME: Final = "index.mjs"  # what /demo imports; the package's entry is served under it
# Flat module names only: no directories, no dot-files, nothing but the ES modules.
_MODULE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\.mjs")
_MAX_MODULE_BYTES: Final = 512 * 1024


class SdkNotFound(Exception):
    """No usable ``wxlogin-miniprogram`` package directory; the message says what to do."""


def _checkout_package_dir() -> Path:
    # src/wxlogin/__init__.py → the repository root, for a checkout installed with `pip -e`.
    return Path(wxlogin.__file__).resolve().parents[2] / "clients" / "miniprogram"


class SdkModule:
    """The ES module files of one ``wxlogin-miniprogram`` package directory."""

    def __init__(self, package_dir: Path) -> None:
        manifest_path = package_dir / "package.json"
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SdkNotFound(
                f"{manifest_path}: cannot read it ({exc.__class__.__name__})"
            ) from None
        if not isinstance(manifest, dict) or manifest.get("name") != PACKAGE_NAME:
            raise SdkNotFound(f"{package_dir} is not the {PACKAGE_NAME} package")
        entry = _es_module_entry(manifest)
        if entry is None:
            raise SdkNotFound(f"{manifest_path} names no ES module entry")
        entry_path = (package_dir / entry).resolve()
        if not entry_path.is_file() or _MODULE_NAME.fullmatch(entry_path.name) is None:
            raise SdkNotFound(f"{entry_path} (the ES module entry) is missing")
        self.package_dir = package_dir.resolve()
        self.module_dir = entry_path.parent
        self.entry = entry_path.name

    def __repr__(self) -> str:
        return f"SdkModule({str(self.package_dir)!r})"

    @classmethod
    def locate(cls, package_dir: Path | None) -> SdkModule:
        """The package at ``package_dir``, else the one in this wxlogin's checkout."""
        return cls(package_dir if package_dir is not None else _checkout_package_dir())

    def read(self, name: str) -> bytes | None:
        """The module ``name`` (``index.mjs`` is the package's entry), or None."""
        if name == ENTRY_NAME:
            name = self.entry
        if _MODULE_NAME.fullmatch(name) is None:
            return None
        path = self.module_dir / name
        try:
            # Resolving again catches a symlink that leads out of the module directory.
            if path.resolve().parent != self.module_dir or not path.is_file():
                return None
            if path.stat().st_size > _MAX_MODULE_BYTES:
                return None
            return path.read_bytes()
        except OSError:
            return None


def _es_module_entry(manifest: dict[str, object]) -> str | None:
    exports = manifest.get("exports")
    if isinstance(exports, dict):
        root = exports.get(".")
        if isinstance(root, dict) and isinstance(root.get("import"), str):
            return str(root["import"])
    module = manifest.get("module")
    return module if isinstance(module, str) else None

"""Where settings come from and how their raw text becomes values: the TOML file (which one,
reading it, the settings source that puts it below the environment), the strings environment
variables give for lists and tables (``WXLOGIN_APPS``, ``WXLOGIN_SERVICE_TOKENS``,
``WXLOGIN_MESSAGE_TEMPLATES``), and pydantic's errors turned into one line per setting.

Apart from ``Settings`` because none of it is about what a setting means: this is the input
side, the one place that reads a file (see the package docstring).
"""

from __future__ import annotations

import contextvars
import json
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

from wxlogin.errors import ConfigurationError

__all__ = [
    "CONFIG_FILE_ENV",
    "DEFAULT_CONFIG_FILE",
    "ENV_PREFIX",
    "TomlSource",
    "config_path",
    "format_validation_error",
    "parse_apps",
    "parse_json_object",
    "parse_service_tokens",
    "read_toml",
    "toml_data",
]

ENV_PREFIX = "WXLOGIN_"
CONFIG_FILE_ENV = "WXLOGIN_CONFIG"
DEFAULT_CONFIG_FILE = "wxlogin.toml"


def parse_apps(value: Any) -> Any:
    """Accept ``"APPID:SECRET[,APPID:SECRET...]"`` or JSON, as given in ``WXLOGIN_APPS``."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return []
    if text.startswith(("[", "{")):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            # Deliberately no detail: the text holds secrets.
            raise ValueError("looks like JSON but does not parse") from None
        return [parsed] if isinstance(parsed, dict) else parsed
    apps: list[dict[str, str]] = []
    for index, item in enumerate(text.split(",")):
        appid, sep, secret = item.strip().partition(":")
        if not sep:
            raise ValueError(f"entry {index + 1} is not APPID:SECRET")
        apps.append({"appid": appid.strip(), "secret": secret.strip()})
    return apps


def parse_service_tokens(value: Any) -> Any:
    """``"TOKEN[,TOKEN...]"`` or a JSON list, as given in ``WXLOGIN_SERVICE_TOKENS``."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise ValueError("looks like JSON but does not parse") from None  # holds secrets
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_json_object(value: Any) -> Any:
    """A JSON object given as text (an environment variable); anything else as it is."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at character {exc.pos})") from None


# load() hands the parsed TOML to settings_customise_sources through this variable, so the
# TOML sits between env vars and defaults without a global or a subclass per call.
toml_data: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "wxlogin_toml_data", default=None
)


class TomlSource(PydanticBaseSettingsSource):
    """The TOML table ``load()`` read, as a settings source below the environment."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        data = toml_data.get() or {}
        return data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(toml_data.get() or {})


def config_path(config_file: Path | None) -> Path | None:
    if config_file is not None:
        explicit: Path | None = Path(config_file)
        source = "config_file"
    elif os.environ.get(CONFIG_FILE_ENV):
        explicit = Path(os.environ[CONFIG_FILE_ENV])
        source = CONFIG_FILE_ENV
    else:
        default = Path.cwd() / DEFAULT_CONFIG_FILE
        return default if default.is_file() else None
    assert explicit is not None
    if not explicit.is_file():
        raise ConfigurationError(f"{source}: config file {explicit} does not exist")
    return explicit


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        # The decoder's message gives line and column, never the value.
        raise ConfigurationError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read ({exc.strerror})") from None
    return data


def format_validation_error(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = error["loc"]
        name = ""
        for part in loc:
            name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
        head = str(loc[0]) if loc else ""
        env = f" ({ENV_PREFIX}{head.upper()})" if head else ""
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        lines.append(f"{name or 'settings'}{env}: {message}")
    return "\n".join(lines)

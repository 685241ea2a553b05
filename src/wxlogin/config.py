"""Settings: one validated object, built from overrides, ``WXLOGIN_*`` env vars and a TOML file.

Nothing is read at import time: callers build a ``Settings`` with ``Settings.load()`` (which
also reads ``wxlogin.toml``) or ``Settings(...)`` (env vars and arguments only). Either way an
invalid configuration raises ``wxlogin.errors.ConfigurationError`` with one line per problem,
each naming the setting and its environment variable. Outside dev mode placeholder secrets are
refused (fail closed).

Precedence, highest first: keyword overrides > environment > TOML file > defaults.

Reading the TOML file is the only I/O here; private files in ``data_dir`` (a generated
encryption key, the legacy signing-key file) belong to ``wxlogin.private_files``.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import ipaddress
import json
import logging
import os
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from wxlogin.errors import ConfigurationError, UnknownApp

__all__ = [
    "AppConfig",
    "PayConfig",
    "Settings",
    "decode_key32",
    "normalize_database_url",
    "redact_url",
]

_log = logging.getLogger("wxlogin.config")

ENV_PREFIX = "WXLOGIN_"
CONFIG_FILE_ENV = "WXLOGIN_CONFIG"
DEFAULT_CONFIG_FILE = "wxlogin.toml"

# A real appid is "wx" + 16 alphanumerics; anything else only earns a warning, because the
# simulator and tests use readable fake ids.
_APPID_SHAPE = re.compile(r"^wx[0-9a-zA-Z]{16}$")
# Values people leave in example configs. Compared after lower-casing and dropping -_. and
# spaces; see _is_placeholder for the patterns that are not exact words.
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


def _is_placeholder(value: str) -> bool:
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


# --------------------------------------------------------------------------- models


# --------------------------------------------------------------------------- WeChat Pay

# WeChat Pay's APIv3 key is 32 characters; AES-256-GCM takes it as its 32 bytes.
_APIV3_KEY_BYTES = 32
_MCHID_SHAPE = re.compile(r"[0-9]{1,32}")
_SERIAL_SHAPE = re.compile(r"[0-9A-F]{8,64}")
_PUBLIC_KEY_ID_SHAPE = re.compile(r"PUB_KEY_ID_[0-9A-Za-z]{1,64}")


class PayConfig(BaseModel):
    """An app's WeChat Pay merchant (API v3), the ``pay`` table of an ``[[apps]]`` entry.

    Keys stay in files (paths here; relative ones from the working directory): the merchant
    private key (``apiclient_key.pem``) and WeChat Pay's key — a WeChat Pay public key with its
    ``PUB_KEY_ID_...`` id, or a platform certificate with its serial, or both while moving from
    one to the other. ``merchant_certificate_file`` (``apiclient_cert.pem``) is optional and
    only lets ``wxlogin doctor`` check the private key against ``merchant_serial``. The APIv3
    key is a secret like the AppSecret. In the environment, give the app as JSON in
    ``WXLOGIN_APPS``: ``[{"appid": ..., "secret": ..., "pay": {"mchid": ..., ...}}]``.
    Nothing is read here: ``wxlogin.pay.check_merchant_files`` (run by ``wxlogin doctor`` and
    at startup) opens the files.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    mchid: str
    merchant_serial: str
    private_key_file: Path
    apiv3_key: SecretStr
    public_key_file: Path | None = None
    public_key_id: str | None = None
    platform_certificate_file: Path | None = None
    platform_certificate_serial: str | None = None
    merchant_certificate_file: Path | None = None

    @field_validator("mchid")
    @classmethod
    def _check_mchid(cls, value: str) -> str:
        value = value.strip()
        if not _MCHID_SHAPE.fullmatch(value):
            raise ValueError("must be the merchant number (digits only)")
        return value

    @field_validator("merchant_serial", "platform_certificate_serial")
    @classmethod
    def _check_serial(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().upper()
        if not _SERIAL_SHAPE.fullmatch(value):
            raise ValueError("must be a certificate serial number in hex (8 to 64 digits)")
        return value

    @field_validator("public_key_id")
    @classmethod
    def _check_public_key_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not _PUBLIC_KEY_ID_SHAPE.fullmatch(value):
            raise ValueError("must be the WeChat Pay public key's id, PUB_KEY_ID_...")
        return value

    @field_validator(
        "private_key_file",
        "public_key_file",
        "platform_certificate_file",
        "merchant_certificate_file",
    )
    @classmethod
    def _expand_path(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser()

    @model_validator(mode="after")
    def _one_way_to_verify(self) -> PayConfig:
        public = (self.public_key_file is None, self.public_key_id is None)
        certificate = (
            self.platform_certificate_file is None,
            self.platform_certificate_serial is None,
        )
        if public[0] != public[1]:
            raise ValueError("public_key_file and public_key_id go together")
        if certificate[0] != certificate[1]:
            raise ValueError(
                "platform_certificate_file and platform_certificate_serial go together"
            )
        if public[0] and certificate[0]:
            raise ValueError(
                "set public_key_file + public_key_id (WeChat Pay public key) or "
                "platform_certificate_file + platform_certificate_serial"
            )
        return self

    def merchant_files(self) -> dict[str, Any]:
        """The keyword arguments of ``wxlogin.pay.Merchant.from_files`` and
        ``check_merchant_files`` (the APIv3 key unwrapped: hand it on, never print it)."""
        return {
            "mchid": self.mchid,
            "merchant_serial": self.merchant_serial,
            "private_key_file": self.private_key_file,
            "apiv3_key": self.apiv3_key.get_secret_value(),
            "public_key_file": self.public_key_file,
            "public_key_id": self.public_key_id,
            "platform_certificate_file": self.platform_certificate_file,
            "platform_certificate_serial": self.platform_certificate_serial,
            "merchant_certificate_file": self.merchant_certificate_file,
        }


def _pay_problems(where: str, pay: PayConfig, *, dev: bool) -> list[str]:
    """The APIv3 key's problems: a placeholder outside dev mode, a length that cannot work."""
    name = f"{where}.pay.apiv3_key (WXLOGIN_APPS)"
    key = pay.apiv3_key.get_secret_value()
    if not dev and _is_placeholder(key):
        return [
            f"{name}: is empty or a placeholder; set the APIv3 key from the merchant platform "
            "(placeholders are only allowed with WXLOGIN_DEV=1)"
        ]
    if len(key.encode("utf-8")) != _APIV3_KEY_BYTES:
        return [f"{name}: must be {_APIV3_KEY_BYTES} bytes, as the merchant platform sets it"]
    return []


class AppConfig(BaseModel):
    """One mini program this server logs users in for (and, optionally, takes payments for)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    appid: str
    secret: SecretStr
    pay: PayConfig | None = None

    @field_validator("appid")
    @classmethod
    def _check_appid(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("appid must not be empty")
        if any(ch in value for ch in ":,") or any(ch.isspace() for ch in value):
            raise ValueError("appid must not contain ':', ',' or whitespace")
        return value


def _parse_apps(value: Any) -> Any:
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


# load() hands the parsed TOML to settings_customise_sources through this variable, so the
# TOML sits between env vars and defaults without a global or a subclass per call.
_toml_data: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "wxlogin_toml_data", default=None
)


class _TomlSource(PydanticBaseSettingsSource):
    """The TOML table ``load()`` read, as a settings source below the environment."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        data = _toml_data.get() or {}
        return data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_toml_data.get() or {})


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Everything configurable about a wxlogin deployment. See the module docstring."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    apps: Annotated[list[AppConfig], NoDecode] = Field(default_factory=list)
    data_dir: Path = Path(".wxlogin")
    database_url: str | None = None
    redis_url: str | None = None

    wechat_base_url: str = "https://api.weixin.qq.com"
    wechat_timeout: float = Field(default=5.0, gt=0)
    wechat_token_endpoint: Literal["stable", "plain"] = "stable"
    # None: the pay client's default, WeChat Pay's own host. The simulator serves the pay API
    # at its root, so `wxlogin simulate`'s address goes here to test against it.
    pay_base_url: str | None = None
    pay_timeout: float = Field(default=10.0, gt=0)

    public_url: str = "http://127.0.0.1:8000"
    audience: str = Field(default="wxlogin", min_length=1)
    access_token_ttl: int = Field(default=900, gt=0)
    refresh_token_ttl: int = Field(default=2_592_000, gt=0)
    # Seconds after a refresh during which the spent refresh token, presented again, gets the
    # same successor back instead of revoking the session: a client whose answer was lost
    # (a dropped connection, an app killed mid-request) retries with the old token. 0: off.
    refresh_reuse_grace: int = Field(default=30, ge=0, le=300)
    token_leeway: int = Field(default=30, ge=0)

    session_key_encryption_key: SecretStr | None = None

    # Logins per minute. Per IP: generous, because mobile carriers put many users behind one
    # address. Per app: off by default; a cap there only protects the WeChat quota.
    login_rate_limit_per_ip: int = Field(default=300, ge=0)
    login_rate_limit_per_app: int = Field(default=0, ge=0)
    # Behind a reverse proxy: let `wxlogin serve` take the client address from
    # X-Forwarded-For, but only when the connection comes from one of these proxies.
    trust_forwarded_for: bool = False
    forwarded_allow_ips: str = "127.0.0.1"
    # The largest avatar image POST /me/avatar takes, in bytes (the form around it may add a
    # few KiB). Capped so a typo cannot let one upload hold a large buffer in memory.
    avatar_max_bytes: int = Field(default=2 * 1024 * 1024, gt=0, le=16 * 1024 * 1024)
    # The largest JSON request body, in bytes: 413 beyond it, refused from Content-Length
    # before any of it is read. Our bodies are a few hundred bytes; 1 MiB is generous.
    max_body_bytes: int = Field(default=1024 * 1024, ge=4096, le=16 * 1024 * 1024)
    # Seconds a client has, after its headers, to send the whole body: 408 body_timeout after
    # that (checked once a second), so stalled or trickling clients cannot hold workers.
    body_read_timeout: float = Field(default=15.0, gt=0, le=600)

    # ---------------------------------------------------------------- server to server
    # Bearer secrets a host app's backend sends on the server-to-server routes (POST /messages,
    # and the payment routes): ``Authorization: Bearer <token>``. Any one of them is accepted,
    # so a token is rotated by adding the new one, moving the callers, removing the old one.
    # No token: those routes refuse every call. Never logged, never shown.
    service_tokens: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # Subscribe-message templates: template id → {keyword: kind}, e.g.
    # {"W25vrVdF…": {"thing1": "thing", "time2": "time"}}. One table for all apps: WeChat issues
    # each mini program its own template ids, so they do not collide. Values are checked
    # against the kinds before anything is sent (the kinds are checked when the service starts).
    message_templates: Annotated[dict[str, dict[str, str]], NoDecode] = Field(default_factory=dict)

    # ---------------------------------------------------------------- pruning (seconds)
    # A prune every prune_interval in the background (0: only `wxlogin db prune`). Sessions
    # expired or revoked longer than session_retention ago go, with the refresh tokens they
    # spent; spent tokens of live sessions go refresh_token_ttl after use; WeChat Pay
    # callbacks and subscribe-message records after their retention (see service/pruner.py).
    prune_interval: int = Field(default=3600, ge=0)
    session_retention: int = Field(default=7 * 86_400, gt=0)
    # WeChat Pay retries a callback for about a day: its record must outlive the retries.
    pay_event_retention: int = Field(default=90 * 86_400, ge=2 * 86_400)
    message_send_retention: int = Field(default=90 * 86_400, gt=0)

    dev: bool = False
    log_level: LogLevel = "INFO"
    # "json": a JSON object per log line (for a log pipeline); "text": lines for a terminal.
    # Unset: json under `wxlogin serve`, text under `wxlogin dev` and the other commands.
    log_format: Literal["json", "text"] | None = None
    # GET /metrics (Prometheus): served to the bearer of metrics_token when it is set; to
    # anyone when metrics_public (a proxy or the network keeps it internal) or in dev mode;
    # otherwise not served at all (404). The token is never logged, never shown.
    metrics_token: SecretStr | None = None
    metrics_public: bool = False
    # Where worker processes add up their metrics: a directory only they share. `wxlogin
    # serve --workers N` makes one of its own; set it to run several workers another way.
    metrics_dir: Path | None = None

    # ------------------------------------------------------------------ construction

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            # `from None`: pydantic's error text quotes the input, which may be a secret.
            raise ConfigurationError(_format_validation_error(exc)) from None

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> Settings:
        """Build settings from ``overrides``, the environment and a TOML file.

        The file is ``config_file`` if given, else the path in ``WXLOGIN_CONFIG``, else
        ``./wxlogin.toml`` when it exists. An explicitly named file that is missing is an
        error.
        """
        path = _config_path(config_file)
        data = _read_toml(path) if path is not None else {}
        token = _toml_data.set(data)
        try:
            return cls(**overrides)
        finally:
            _toml_data.reset(token)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _TomlSource(settings_cls)

    # ------------------------------------------------------------------ field parsing

    @field_validator("apps", mode="before")
    @classmethod
    def _apps_from_string(cls, value: Any) -> Any:
        return _parse_apps(value)

    @field_validator("service_tokens", mode="before")
    @classmethod
    def _service_tokens_from_string(cls, value: Any) -> Any:
        return _parse_service_tokens(value)

    @field_validator("message_templates", mode="before")
    @classmethod
    def _message_templates_from_string(cls, value: Any) -> Any:
        return _parse_json_object(value)

    @field_validator("database_url", "redis_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url")
    @classmethod
    def _normalize_database_url(cls, value: str | None) -> str | None:
        return None if value is None else normalize_database_url(value.strip())

    @field_validator("public_url", "wechat_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("pay_base_url")
    @classmethod
    def _pay_url(cls, value: str | None) -> str | None:
        return None if value is None else cls._http_url(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("data_dir")
    @classmethod
    def _expand_data_dir(cls, value: Path) -> Path:
        return value.expanduser()

    # ------------------------------------------------------------------ cross-field checks

    @model_validator(mode="after")
    def _cross_field_checks(self) -> Settings:
        # ConfigurationError is not a ValueError, so pydantic lets it through untouched.
        problems = self._problems()
        if problems:
            raise ConfigurationError("\n".join(problems))
        return self

    def _problems(self) -> list[str]:
        problems: list[str] = []
        seen: set[str] = set()
        for index, app in enumerate(self.apps):
            where = f"apps[{index}]"
            if app.appid in seen:
                problems.append(f"{where}.appid (WXLOGIN_APPS): duplicate appid {app.appid!r}")
            seen.add(app.appid)
            if not _APPID_SHAPE.match(app.appid) and not self.dev:
                _log.warning(
                    "appid %r does not look like a WeChat appid (wx + 16 characters)", app.appid
                )
            if not self.dev and _is_placeholder(app.secret.get_secret_value()):
                problems.append(
                    f"{where}.secret (WXLOGIN_APPS): the AppSecret for {app.appid!r} is empty "
                    "or a placeholder; set the real AppSecret (placeholders are only allowed "
                    "with WXLOGIN_DEV=1)"
                )
            if app.pay is not None:
                problems += _pay_problems(where, app.pay, dev=self.dev)
        key = self.session_key_encryption_key
        if key is not None:
            name = "session_key_encryption_key (WXLOGIN_SESSION_KEY_ENCRYPTION_KEY)"
            if not self.dev and _is_placeholder(key.get_secret_value()):
                problems.append(
                    f"{name}: is a placeholder; generate one with `python -c 'import os,"
                    "base64;print(base64.b64encode(os.urandom(32)).decode())'` or leave it "
                    "unset to use a key file in data_dir"
                )
            elif decode_key32(key.get_secret_value()) is None:
                problems.append(f"{name}: must be base64 of exactly 32 bytes")
        if self.database_url is not None and not self.database_url.startswith(
            ("sqlite+aiosqlite://", "postgresql+asyncpg://")
        ):
            problems.append(
                "database_url (WXLOGIN_DATABASE_URL): only sqlite and postgresql URLs are supported"
            )
        if self.redis_url is not None and not self.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            problems.append(
                "redis_url (WXLOGIN_REDIS_URL): must start with redis://, rediss:// or unix://"
            )
        if self.session_retention < self.access_token_ttl + self.token_leeway:
            problems.append(
                "session_retention (WXLOGIN_SESSION_RETENTION): must be at least "
                "access_token_ttl + token_leeway: processes without Redis learn revocations "
                "from the sessions it keeps"
            )
        problems += _url_password_problems(self)
        problems += _forwarded_allow_ips_problems(self.forwarded_allow_ips)
        problems += _server_to_server_problems(self)
        problems += _metrics_problems(self)
        return problems

    # ------------------------------------------------------------------ derived values

    @property
    def effective_database_url(self) -> str:
        """``database_url``, or a SQLite file in ``data_dir`` when it is unset."""
        if self.database_url is not None:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir}/wxlogin.db"

    @property
    def appids(self) -> tuple[str, ...]:
        return tuple(app.appid for app in self.apps)

    def app_secret(self, appid: str) -> str:
        """The AppSecret of ``appid``; ``UnknownApp`` when it is not configured."""
        for app in self.apps:
            if app.appid == appid:
                return app.secret.get_secret_value()
        raise UnknownApp()

    def pay_config(self, appid: str) -> PayConfig | None:
        """The WeChat Pay merchant settings of ``appid`` (None: the app takes no payments);
        ``UnknownApp`` when it is not configured."""
        for app in self.apps:
            if app.appid == appid:
                return app.pay
        raise UnknownApp()

    def configured_encryption_key(self) -> bytes | None:
        """The 32 bytes of ``session_key_encryption_key``; None when it is unset (then
        ``wxlogin.private_files.session_key_encryption_key`` keeps one in ``data_dir``)."""
        if self.session_key_encryption_key is None:
            return None
        raw = decode_key32(self.session_key_encryption_key.get_secret_value())
        if raw is None:  # pragma: no cover - rejected by validation
            raise ConfigurationError("session_key_encryption_key is not 32 bytes")
        return raw

    # ------------------------------------------------------------------ repr

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # SecretStr fields already print as '**********'; URLs may carry a password.
        for name, value in super().__repr_args__():
            if name in ("database_url", "redis_url") and isinstance(value, str):
                yield name, redact_url(value)
            else:
                yield name, value


# --------------------------------------------------------------------------- helpers


def _config_path(config_file: Path | None) -> Path | None:
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


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        # The decoder's message gives line and column, never the value.
        raise ConfigurationError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read ({exc.strerror})") from None
    return data


# --------------------------------------------------------------------------- server to server

# A service token travels in a header: printable ASCII, no spaces, no commas (the list's
# separator in WXLOGIN_SERVICE_TOKENS).
_SERVICE_TOKEN_SHAPE = re.compile(r"[!-+\--~]+")
SERVICE_TOKEN_MIN_LENGTH = 32
_TEMPLATE_ID_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,128}")
_KEYWORD_SHAPE = re.compile(r"[a-z_]{1,32}[0-9]{1,3}")


def _parse_service_tokens(value: Any) -> Any:
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


def _parse_json_object(value: Any) -> Any:
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


def _url_password_problems(settings: Settings) -> list[str]:
    """A password left as the example's placeholder would only fail when the server refuses
    the connection, later and less clearly than here."""
    problems: list[str] = []
    if settings.dev:
        return problems
    for name, url in (
        ("database_url (WXLOGIN_DATABASE_URL)", settings.database_url),
        ("redis_url (WXLOGIN_REDIS_URL)", settings.redis_url),
    ):
        if url is None:
            continue
        try:
            password = urlsplit(url).password
        except ValueError:
            continue  # the URL's own check says what is wrong with it
        if password is not None and _is_example_password(unquote(password)):
            problems.append(f"{name}: the password is a placeholder; set the real one")
    return problems


def _is_example_password(value: str) -> bool:
    """Narrower than ``_is_placeholder``: a short local password ("p", "test") can be real on a
    development database; what an example file writes instead of one cannot."""
    squashed = re.sub(r"[\s\-_.]", "", value.strip().lower())
    return (
        (squashed.startswith("<") and squashed.endswith(">"))
        or "changeme" in squashed
        or "placeholder" in squashed
        or squashed.startswith("your")
    )


def _forwarded_allow_ips_problems(value: str) -> list[str]:
    """Each entry an address or a network, or "*": the server would silently take a
    misspelt entry for a host name that never matches, and read no client address at all."""
    bad: list[str] = []
    for entry in (part.strip() for part in value.split(",")):
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            bad.append(entry)
    if not bad:
        return []
    return [
        "forwarded_allow_ips (WXLOGIN_FORWARDED_ALLOW_IPS): not an IP address or network: "
        + ", ".join(repr(entry[:64]) for entry in bad[:5])
    ]


def _metrics_problems(settings: Settings) -> list[str]:
    token = settings.metrics_token
    if token is None or settings.dev:
        return []
    value = token.get_secret_value()
    name = "metrics_token (WXLOGIN_METRICS_TOKEN)"
    if not _SERVICE_TOKEN_SHAPE.fullmatch(value):
        return [f"{name}: must be printable ASCII with no spaces or commas"]
    if _is_placeholder(value) or len(value) < SERVICE_TOKEN_MIN_LENGTH:
        return [
            f"{name}: a placeholder or shorter than {SERVICE_TOKEN_MIN_LENGTH} characters; "
            "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
        ]
    return []


def _server_to_server_problems(settings: Settings) -> list[str]:
    problems: list[str] = []
    name = "service_tokens (WXLOGIN_SERVICE_TOKENS)"
    for index, token in enumerate(settings.service_tokens):
        value = token.get_secret_value()
        if not _SERVICE_TOKEN_SHAPE.fullmatch(value):
            problems.append(f"{name}[{index}]: must be printable ASCII with no spaces or commas")
        elif not settings.dev and _is_placeholder(value):
            problems.append(
                f"{name}[{index}]: is a placeholder; generate one with `python -c 'import "
                "secrets; print(secrets.token_urlsafe(32))'` (placeholders only with "
                "WXLOGIN_DEV=1)"
            )
        elif not settings.dev and len(value) < SERVICE_TOKEN_MIN_LENGTH:
            problems.append(
                f"{name}[{index}]: shorter than {SERVICE_TOKEN_MIN_LENGTH} characters; "
                "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
    where = "message_templates (WXLOGIN_MESSAGE_TEMPLATES)"
    for template_id, fields in settings.message_templates.items():
        if not _TEMPLATE_ID_SHAPE.fullmatch(template_id):
            problems.append(f"{where}: {template_id[:40]!r} is not a template id ([A-Za-z0-9_-])")
        elif not fields:
            problems.append(f"{where}.{template_id}: names no keyword")
        for keyword in fields:
            if not _KEYWORD_SHAPE.fullmatch(keyword):
                problems.append(
                    f"{where}.{template_id[:40]}: {keyword[:40]!r} is not a keyword name "
                    "like thing1 or time2"
                )
    return problems


def _format_validation_error(exc: ValidationError) -> str:
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

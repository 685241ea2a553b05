"""``Settings`` and ``AppConfig``: the fields, their defaults and per-field parsing, how they are
built (``Settings.load``) and the values derived from them.

The package's other modules hold what ``Settings`` uses: ``sources`` (the TOML file, the
environment's strings), ``checks`` (the cross-field checks), ``pay`` (``PayConfig``) and
``values`` (URLs, keys, placeholders). This module is what a deployment configures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from wxlogin.config.checks import settings_problems
from wxlogin.config.pay import PayConfig
from wxlogin.config.sources import (
    ENV_PREFIX,
    TomlSource,
    config_path,
    format_validation_error,
    parse_apps,
    parse_json_object,
    parse_service_tokens,
    read_toml,
    toml_data,
)
from wxlogin.config.values import decode_key32, normalize_database_url, redact_url
from wxlogin.errors import ConfigurationError, UnknownApp

__all__ = ["AppConfig", "LogLevel", "Settings"]


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
            raise ConfigurationError(format_validation_error(exc)) from None

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> Settings:
        """Build settings from ``overrides``, the environment and a TOML file.

        The file is ``config_file`` if given, else the path in ``WXLOGIN_CONFIG``, else
        ``./wxlogin.toml`` when it exists. An explicitly named file that is missing is an
        error.
        """
        path = config_path(config_file)
        data = read_toml(path) if path is not None else {}
        token = toml_data.set(data)
        try:
            return cls(**overrides)
        finally:
            toml_data.reset(token)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, TomlSource(settings_cls)

    # ------------------------------------------------------------------ field parsing

    @field_validator("apps", mode="before")
    @classmethod
    def _apps_from_string(cls, value: Any) -> Any:
        return parse_apps(value)

    @field_validator("service_tokens", mode="before")
    @classmethod
    def _service_tokens_from_string(cls, value: Any) -> Any:
        return parse_service_tokens(value)

    @field_validator("message_templates", mode="before")
    @classmethod
    def _message_templates_from_string(cls, value: Any) -> Any:
        return parse_json_object(value)

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
        problems = settings_problems(self)
        if problems:
            raise ConfigurationError("\n".join(problems))
        return self

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

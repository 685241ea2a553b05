"""Settings: sources and their precedence, validation that fails closed, no secret in a repr."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest

from wxlogin.config import (
    AppConfig,
    Settings,
    normalize_database_url,
    redact_url,
)
from wxlogin.errors import ConfigurationError, UnknownApp

APPID = "wx1234567890abcdef"
APPID_B = "wxfedcba0987654321"
SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
SECRET_B = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No WXLOGIN_* from the developer's shell, and a cwd without a wxlogin.toml."""
    for name in list(os.environ):
        if name.startswith("WXLOGIN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_toml(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- sources


def test_defaults() -> None:
    settings = Settings.load()
    assert settings.apps == []
    assert settings.data_dir == Path(".wxlogin")
    assert settings.effective_database_url == "sqlite+aiosqlite:///.wxlogin/wxlogin.db"
    assert settings.access_token_ttl == 900
    assert settings.refresh_token_ttl == 2_592_000
    assert settings.wechat_token_endpoint == "stable"
    assert settings.dev is False


def test_env_string_form_of_apps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WXLOGIN_APPS", f"{APPID}:{SECRET}, {APPID_B}:{SECRET_B}")
    settings = Settings.load()
    assert settings.appids == (APPID, APPID_B)
    assert settings.app_secret(APPID) == SECRET
    assert settings.app_secret(APPID_B) == SECRET_B


def test_env_json_form_of_apps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WXLOGIN_APPS", f'[{{"appid": "{APPID}", "secret": "{SECRET}"}}]')
    assert Settings.load().app_secret(APPID) == SECRET


def test_env_scalars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WXLOGIN_ACCESS_TOKEN_TTL", "60")
    monkeypatch.setenv("WXLOGIN_DEV", "true")
    monkeypatch.setenv("WXLOGIN_LOG_LEVEL", "debug")
    settings = Settings.load()
    assert (settings.access_token_ttl, settings.dev, settings.log_level) == (60, True, "DEBUG")


def test_toml_apps_tables(clean_env: Path) -> None:
    write_toml(
        clean_env / "wxlogin.toml",
        f"""
        access_token_ttl = 300
        data_dir = "/var/lib/wxlogin"

        [[apps]]
        appid = "{APPID}"
        secret = "{SECRET}"

        [[apps]]
        appid = "{APPID_B}"
        secret = "{SECRET_B}"
        """,
    )
    settings = Settings.load()  # found in the cwd
    assert settings.appids == (APPID, APPID_B)
    assert settings.access_token_ttl == 300
    assert settings.data_dir == Path("/var/lib/wxlogin")


def test_config_file_from_env_var_and_argument(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = write_toml(tmp_path / "from-env.toml", "access_token_ttl = 111\n")
    arg_file = write_toml(tmp_path / "from-arg.toml", "access_token_ttl = 222\n")
    monkeypatch.setenv("WXLOGIN_CONFIG", str(env_file))
    assert Settings.load().access_token_ttl == 111
    assert Settings.load(arg_file).access_token_ttl == 222


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        Settings.load(tmp_path / "nope.toml")


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    bad = write_toml(tmp_path / "bad.toml", "access_token_ttl = = 3\n")
    with pytest.raises(ConfigurationError, match=r"bad\.toml: not valid TOML"):
        Settings.load(bad)


def test_precedence_overrides_env_toml_defaults(
    monkeypatch: pytest.MonkeyPatch, clean_env: Path
) -> None:
    write_toml(
        clean_env / "wxlogin.toml",
        'access_token_ttl = 100\nrefresh_token_ttl = 200\naudience = "from-toml"\n',
    )
    monkeypatch.setenv("WXLOGIN_ACCESS_TOKEN_TTL", "101")
    monkeypatch.setenv("WXLOGIN_REFRESH_TOKEN_TTL", "201")
    settings = Settings.load(access_token_ttl=102)
    assert settings.access_token_ttl == 102  # override beats env
    assert settings.refresh_token_ttl == 201  # env beats TOML
    assert settings.audience == "from-toml"  # TOML beats default
    assert settings.token_leeway == 30  # default


def test_env_apps_replace_toml_apps(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    write_toml(clean_env / "wxlogin.toml", f'[[apps]]\nappid = "{APPID}"\nsecret = "{SECRET}"\n')
    monkeypatch.setenv("WXLOGIN_APPS", f"{APPID_B}:{SECRET_B}")
    assert Settings.load().appids == (APPID_B,)


def test_unknown_toml_key_is_reported(clean_env: Path) -> None:
    write_toml(clean_env / "wxlogin.toml", "acess_token_ttl = 5\n")
    with pytest.raises(ConfigurationError, match=r"acess_token_ttl.*unknown setting"):
        Settings.load()


# --------------------------------------------------------------------------- database URLs


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgresql://u@h:5433/db", "postgresql+asyncpg://u@h:5433/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_url_normalised(given: str, expected: str) -> None:
    assert normalize_database_url(given) == expected
    assert Settings.load(database_url=given).effective_database_url == expected


def test_default_database_url_follows_data_dir(tmp_path: Path) -> None:
    settings = Settings.load(data_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path}/wxlogin.db"


def test_unsupported_database_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="database_url"):
        Settings.load(database_url="mysql://u@h/db")


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("setting", "url"),
    [
        ("database_url", "postgresql+asyncpg://wxlogin:<generate>@db/wxlogin"),
        ("database_url", "postgresql+asyncpg://wxlogin:%3Cgenerate%3E@db/wxlogin"),
        ("redis_url", "redis://:changeme@redis:6379/0"),
        ("redis_url", "redis://default:your-password@redis:6379/0"),
    ],
)
def test_an_example_password_in_a_url_is_refused_outside_dev(setting: str, url: str) -> None:
    overrides: dict[str, Any] = {setting: url}
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(**overrides)
    assert f"{setting} (WXLOGIN_{setting.upper()}): the password is a placeholder" in (
        caught.value.message
    )
    assert "generate" not in caught.value.message and "changeme" not in caught.value.message
    assert Settings.load(dev=True, **overrides)  # dev mode: anything goes


def test_a_real_looking_password_in_a_url_is_kept() -> None:
    for password in ("p", "test", "Zk3v9Q_rT7w"):
        url = f"postgresql+asyncpg://wxlogin:{password}@db/wxlogin"
        assert Settings.load(database_url=url).database_url == url


@pytest.mark.parametrize("entry", ["10.0.0.1,proxy.internal", "10.0.0.0/33", "127.0.0.1 ; x"])
def test_forwarded_allow_ips_must_be_addresses_or_networks(entry: str) -> None:
    with pytest.raises(ConfigurationError, match=r"forwarded_allow_ips.*not an IP address"):
        Settings.load(forwarded_allow_ips=entry)


def test_forwarded_allow_ips_takes_addresses_networks_and_star() -> None:
    for value in ("127.0.0.1", "*", "10.0.0.0/8, 172.28.0.1", "::1,fd00::/8"):
        assert Settings.load(forwarded_allow_ips=value).forwarded_allow_ips == value


@pytest.mark.parametrize(
    "placeholder",
    ["changeme", "secret", "your-app-secret", "xxx", "placeholder", "", "CHANGE_ME", "xxxxxxxx"],
)
def test_placeholder_app_secret_refused_outside_dev(placeholder: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(apps=[{"appid": APPID, "secret": placeholder}])
    assert "apps[0].secret" in caught.value.message
    assert APPID in caught.value.message


def test_placeholder_app_secret_allowed_in_dev() -> None:
    settings = Settings.load(dev=True, apps=[{"appid": APPID, "secret": "changeme"}])
    assert settings.app_secret(APPID) == "changeme"


def test_placeholder_encryption_key_refused_outside_dev() -> None:
    with pytest.raises(ConfigurationError, match="session_key_encryption_key"):
        Settings.load(session_key_encryption_key="changeme")


def test_encryption_key_must_be_32_bytes() -> None:
    short = base64.b64encode(b"x" * 16).decode()
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(dev=True, session_key_encryption_key=short)
    assert "WXLOGIN_SESSION_KEY_ENCRYPTION_KEY" in caught.value.message
    assert "32 bytes" in caught.value.message
    assert Settings.load(session_key_encryption_key=KEY).configured_encryption_key() == bytes(
        range(32)
    )
    assert Settings.load().configured_encryption_key() is None  # a file in data_dir, then


def test_duplicate_appids_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"apps\[1\]\.appid.*duplicate"):
        Settings.load(apps=f"{APPID}:{SECRET},{APPID}:{SECRET_B}")


@pytest.mark.parametrize("appid", ["", "wx:1", "wx,1", "wx 1"])
def test_malformed_appid_refused(appid: str) -> None:
    with pytest.raises(ConfigurationError, match="appid"):
        Settings.load(apps=[{"appid": appid, "secret": SECRET}])


def test_malformed_apps_string_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WXLOGIN_APPS", f"{APPID}{SECRET}")
    with pytest.raises(ConfigurationError, match=r"WXLOGIN_APPS.*APPID:SECRET"):
        Settings.load()


@pytest.mark.parametrize("name", ["access_token_ttl", "refresh_token_ttl"])
def test_ttls_must_be_positive(name: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(None, **{name: 0})
    assert caught.value.message.startswith(f"{name} (WXLOGIN_{name.upper()})")


def test_every_problem_on_its_own_line() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(
            apps=f"{APPID}:changeme,{APPID_B}:secret", session_key_encryption_key="too-short"
        )
    lines = caught.value.message.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("apps[0].secret")
    assert lines[1].startswith("apps[1].secret")
    assert lines[2].startswith("session_key_encryption_key")


def test_type_errors_are_configuration_errors_not_pydantic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WXLOGIN_ACCESS_TOKEN_TTL", "soon")
    monkeypatch.setenv("WXLOGIN_WECHAT_TOKEN_ENDPOINT", "fancy")
    with pytest.raises(ConfigurationError) as caught:
        Settings.load()
    lines = caught.value.message.splitlines()
    assert sorted(line.split(" ")[0] for line in lines) == [
        "access_token_ttl",
        "wechat_token_endpoint",
    ]
    assert caught.value.__cause__ is None  # pydantic's text (which quotes input) is not chained


def test_direct_construction_validates_too() -> None:
    with pytest.raises(ConfigurationError):
        Settings(apps=[AppConfig(appid=APPID, secret="changeme")])  # type: ignore[arg-type]


def test_app_secret_of_unknown_app() -> None:
    with pytest.raises(UnknownApp):
        Settings.load(apps=f"{APPID}:{SECRET}").app_secret(APPID_B)


# --------------------------------------------------------------------------- secrets stay secret


def test_repr_and_errors_hide_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.load(
        apps=f"{APPID}:{SECRET}",
        session_key_encryption_key=KEY,
        database_url="postgresql://wx:db-password-123@db/wx",
        redis_url="redis://:redis-password-456@cache:6379/0",
    )
    shown = repr(settings) + str(settings) + repr(settings.apps[0])
    for secret in (SECRET, KEY, "db-password-123", "redis-password-456"):
        assert secret not in shown
    assert APPID in shown  # the repr is still useful
    assert "postgresql+asyncpg://wx:***@db/wx" in shown

    monkeypatch.setenv("WXLOGIN_APPS", f"{APPID}:{SECRET},{APPID}:{SECRET_B}")
    with pytest.raises(ConfigurationError) as caught:
        Settings.load(access_token_ttl="x")
    assert SECRET not in str(caught.value) and SECRET_B not in str(caught.value)


def test_redact_url() -> None:
    assert redact_url("postgresql://u:pw@h:5432/db?x=1") == "postgresql://u:***@h:5432/db?x=1"
    assert redact_url("redis://:pw@h/0") == "redis://:***@h/0"
    assert redact_url("sqlite+aiosqlite:///x.db") == "sqlite+aiosqlite:///x.db"

"""Merchant settings per app: from wxlogin.toml and from WXLOGIN_APPS JSON, validated without
reading a file, the APIv3 key treated like the AppSecret (placeholders refused, never shown)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wxlogin.config import PayConfig, Settings
from wxlogin.errors import ConfigurationError, UnknownApp

APPID = "wx1234567890abcdef"
SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
APIV3_KEY = "k7Hq2ZpX9vLm4TnB8cRw3YsD6fGj1aQe"
PUBLIC_KEY_ID = "PUB_KEY_ID_0119000001092025010100123456789012"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def pay(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "mchid": "1900000109",
        "merchant_serial": "3775b6a45acd588826d15e583a95f5dd6c1d1f9f",
        "private_key_file": "/etc/wxlogin/apiclient_key.pem",
        "apiv3_key": APIV3_KEY,
        "public_key_file": "/etc/wxlogin/pub_key.pem",
        "public_key_id": PUBLIC_KEY_ID,
    }
    values.update(overrides)
    return {key: value for key, value in values.items() if value is not None}


def app_with(pay_table: dict[str, Any] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"appid": APPID, "secret": SECRET}
    if pay_table is not None:
        entry["pay"] = pay_table
    return entry


def test_from_toml(tmp_path: Path) -> None:
    config = tmp_path / "wxlogin.toml"
    config.write_text(
        f"""
[[apps]]
appid = "{APPID}"
secret = "{SECRET}"

[apps.pay]
mchid = "1900000109"
merchant_serial = "3775B6A45ACD588826D15E583A95F5DD6C1D1F9F"
private_key_file = "~/keys/apiclient_key.pem"
apiv3_key = "{APIV3_KEY}"
platform_certificate_file = "keys/wechatpay.pem"
platform_certificate_serial = "5157f09efdc096de15ebe81a47057a7232f1b8e1"
""",
        encoding="utf-8",
    )
    settings = Settings.load()
    got = settings.pay_config(APPID)
    assert isinstance(got, PayConfig)
    assert got.mchid == "1900000109"
    assert got.private_key_file == Path("~/keys/apiclient_key.pem").expanduser()
    assert got.platform_certificate_serial == "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
    assert got.apiv3_key.get_secret_value() == APIV3_KEY
    assert got.public_key_file is None


def test_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WXLOGIN_APPS", json.dumps([app_with(pay())]))
    got = Settings.load().pay_config(APPID)
    assert got is not None
    assert got.public_key_id == PUBLIC_KEY_ID
    assert got.merchant_serial == "3775B6A45ACD588826D15E583A95F5DD6C1D1F9F"


def test_an_app_without_pay_and_an_unknown_app() -> None:
    settings = Settings(apps=[app_with(None)])
    assert settings.pay_config(APPID) is None
    with pytest.raises(UnknownApp):
        settings.pay_config("wxffffffffffffffff")


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        ({"mchid": "mch-1"}, "apps[0].pay.mchid (WXLOGIN_APPS): Value error, must be the merchant"),
        ({"merchant_serial": "xyz"}, "apps[0].pay.merchant_serial (WXLOGIN_APPS)"),
        ({"public_key_id": "0119000001"}, "apps[0].pay.public_key_id (WXLOGIN_APPS)"),
        ({"public_key_id": None}, "public_key_file and public_key_id go together"),
        ({"public_key_file": None, "public_key_id": None}, "set public_key_file + public_key_id"),
        (
            {"platform_certificate_file": "/x.pem"},
            "platform_certificate_file and platform_certificate_serial go together",
        ),
        ({"apiv3_key": "short"}, "apps[0].pay.apiv3_key (WXLOGIN_APPS): must be 32 bytes"),
        ({"apiv3_key": "changeme"}, "apps[0].pay.apiv3_key (WXLOGIN_APPS): is empty or a place"),
        ({"apiv3_key": "x" * 32}, "apps[0].pay.apiv3_key (WXLOGIN_APPS): is empty or a placeh"),
        ({"mchd": "1900000109"}, "apps[0].pay.mchd (WXLOGIN_APPS): unknown setting"),
    ],
)
def test_each_problem_is_one_line_naming_the_setting(overrides: dict[str, Any], line: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings(apps=[app_with(pay(**overrides))])
    message = caught.value.message
    assert line in message
    assert len(message.splitlines()) == 1
    for value in overrides.values():
        if isinstance(value, str) and len(value) >= 8:
            assert value not in message


def test_placeholders_pass_in_dev_mode_but_the_length_still_counts() -> None:
    settings = Settings(dev=True, apps=[app_with(pay(apiv3_key="x" * 32))])
    assert settings.pay_config(APPID) is not None
    with pytest.raises(ConfigurationError, match="32 bytes"):
        Settings(dev=True, apps=[app_with(pay(apiv3_key="changeme"))])


def test_the_apiv3_key_is_never_shown() -> None:
    settings = Settings(apps=[app_with(pay())])
    assert APIV3_KEY not in repr(settings)
    assert APIV3_KEY not in str(settings.apps)
    assert APIV3_KEY not in repr(settings.pay_config(APPID))


def test_pay_base_url_defaults_to_the_client_and_must_be_http() -> None:
    assert Settings().pay_base_url is None
    assert Settings(pay_base_url="http://127.0.0.1:8900/").pay_base_url == "http://127.0.0.1:8900"
    with pytest.raises(ConfigurationError, match="pay_base_url"):
        Settings(pay_base_url="ftp://pay.example")

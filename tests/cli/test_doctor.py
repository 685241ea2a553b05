"""``wxlogin doctor``: the merchant key files checked from a wxlogin.toml, nothing secret shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pay.conftest import APIV3_KEY, MCHID, PUBLIC_KEY_ID, Keys, new_keys
from wxlogin import paycrypto
from wxlogin.cli import main

APPID = "wx1234567890abcdef"
SECRET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


@pytest.fixture(scope="module")
def keys() -> Keys:
    return new_keys()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)


def config(tmp_path: Path, keys: Keys, *, apiv3_key: str = APIV3_KEY, pub: str = "pub.pem") -> Path:
    private = tmp_path / "apiclient_key.pem"
    private.write_bytes(paycrypto.private_key_pem(keys.merchant))
    private.chmod(0o600)
    (tmp_path / "pub.pem").write_bytes(paycrypto.public_key_pem(keys.wechatpay))
    path = tmp_path / "wxlogin.toml"
    path.write_text(
        f"""
[[apps]]
appid = "{APPID}"
secret = "{SECRET}"

[apps.pay]
mchid = "{MCHID}"
merchant_serial = "3775B6A45ACD588826D15E583A95F5DD6C1D1F9F"
private_key_file = "{private}"
apiv3_key = "{apiv3_key}"
public_key_file = "{tmp_path / pub}"
public_key_id = "{PUBLIC_KEY_ID}"
""",
        encoding="utf-8",
    )
    return path


def test_a_good_merchant(tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--config", str(config(tmp_path, keys))]) == 0
    out = capsys.readouterr().out
    assert f"apps[0].pay ({APPID}): merchant {MCHID} ok, verifying WeChat Pay with" in out
    assert PUBLIC_KEY_ID in out and "no problems" in out
    assert APIV3_KEY not in out and SECRET not in out


def test_problems_are_listed_and_fail(
    tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor", "--config", str(config(tmp_path, keys, pub="missing.pem"))]) == 1
    out = capsys.readouterr().out
    assert f"problem: apps[0].pay ({APPID}): WeChat Pay public key file" in out
    assert "no such file" in out and "1 problem" in out


def test_settings_that_do_not_load(
    tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config(tmp_path, keys, apiv3_key="too-short-key")
    assert main(["doctor", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "apps[0].pay.apiv3_key" in err and "too-short-key" not in err

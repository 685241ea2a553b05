"""Merchant keys from files: every problem one clear line, never a key in it or in a repr."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.pay.conftest import (
    APIV3_KEY,
    DAY,
    MCHID,
    MERCHANT_SERIAL,
    NOW,
    PLATFORM_SERIAL,
    PUBLIC_KEY_ID,
    Keys,
    platform_certificate,
)
from wxlogin import paycrypto
from wxlogin.errors import ConfigurationError, InvalidPayKey
from wxlogin.pay import Merchant, check_merchant_files


def write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


@pytest.fixture
def files(tmp_path: Path, keys: Keys) -> dict[str, Path]:
    merchant_cert = paycrypto.make_certificate(
        keys.merchant,
        serial_number=int(MERCHANT_SERIAL, 16),
        common_name=MCHID,
        not_valid_before=NOW - DAY,
        not_valid_after=NOW + 365 * DAY,
        issuer_key=keys.stranger,
    )
    return {
        "private_key_file": write(
            tmp_path / "apiclient_key.pem", paycrypto.private_key_pem(keys.merchant)
        ),
        "public_key_file": write(
            tmp_path / "pub_key.pem", paycrypto.public_key_pem(keys.wechatpay)
        ),
        "platform_certificate_file": write(tmp_path / "wechatpay.pem", platform_certificate(keys)),
        "merchant_certificate_file": write(tmp_path / "apiclient_cert.pem", merchant_cert),
    }


def settings(files: dict[str, Path], **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "mchid": MCHID,
        "merchant_serial": MERCHANT_SERIAL,
        "private_key_file": files["private_key_file"],
        "apiv3_key": APIV3_KEY,
        "public_key_file": files["public_key_file"],
        "public_key_id": PUBLIC_KEY_ID,
        "merchant_certificate_file": files["merchant_certificate_file"],
        "label": "apps[0].pay",
        "now": NOW,
    }
    values.update(overrides)
    return values


def test_good_files_in_public_key_mode(files: dict[str, Path], keys: Keys) -> None:
    check = check_merchant_files(**settings(files))
    assert check.problems == [] and check.warnings == []
    assert check.merchant is not None
    assert sorted(check.merchant.wechatpay_keys) == [PUBLIC_KEY_ID]
    assert check.merchant.owns(keys.merchant.public_key())


def test_good_files_in_certificate_mode_and_both(files: dict[str, Path]) -> None:
    cert_only = settings(
        files,
        public_key_file=None,
        public_key_id=None,
        platform_certificate_file=files["platform_certificate_file"],
        platform_certificate_serial=PLATFORM_SERIAL.lower(),
    )
    check = check_merchant_files(**cert_only)
    assert check.merchant is not None and check.problems == []
    assert sorted(check.merchant.wechatpay_keys) == [PLATFORM_SERIAL]
    both = {
        **cert_only,
        "public_key_file": files["public_key_file"],
        "public_key_id": PUBLIC_KEY_ID,
    }
    check = check_merchant_files(**both)
    assert check.merchant is not None
    assert sorted(check.merchant.wechatpay_keys) == [PLATFORM_SERIAL, PUBLIC_KEY_ID]


def problems_of(**values: Any) -> list[str]:
    check = check_merchant_files(**values)
    assert check.merchant is None
    return check.problems


def test_a_missing_file_and_a_directory(files: dict[str, Path], tmp_path: Path) -> None:
    (problem,) = problems_of(**settings(files, private_key_file=tmp_path / "nope.pem"))
    assert (
        problem == f"apps[0].pay: merchant private key file {tmp_path / 'nope.pem'}: no such file"
    )
    (problem,) = problems_of(**settings(files, public_key_file=tmp_path))
    assert "is a directory" in problem


def test_files_holding_the_wrong_thing(files: dict[str, Path]) -> None:
    swapped = settings(
        files,
        private_key_file=files["public_key_file"],
        public_key_file=files["private_key_file"],
    )
    found = problems_of(**swapped)
    assert any("not a PEM private key" in line for line in found)
    assert any("holds a private key" in line for line in found)
    private_pem = files["public_key_file"].read_text()
    assert all(private_pem.splitlines()[1] not in line for line in found)


def test_an_oversized_file_is_not_read(files: dict[str, Path], tmp_path: Path) -> None:
    big = write(tmp_path / "big.pem", b"x" * (65 * 1024))
    (problem,) = problems_of(**settings(files, private_key_file=big))
    assert "larger than 64 KiB" in problem


@pytest.mark.parametrize("key", ["short", "x" * 33])
def test_an_apiv3_key_of_the_wrong_length(files: dict[str, Path], key: str) -> None:
    (problem,) = problems_of(**settings(files, apiv3_key=key))
    assert problem.startswith("apps[0].pay: apiv3_key: the APIv3 key must be 32 bytes")
    assert key not in problem


def test_a_platform_serial_that_is_not_the_certificates(files: dict[str, Path]) -> None:
    found = problems_of(
        **settings(
            files,
            platform_certificate_file=files["platform_certificate_file"],
            platform_certificate_serial="ABCDEF",
        )
    )
    assert found == [
        f"apps[0].pay: platform_certificate_serial: the certificate's serial is {PLATFORM_SERIAL};"
        " the setting must name it"
    ]


def test_an_expired_or_expiring_platform_certificate(files: dict[str, Path], keys: Keys) -> None:
    cert = settings(
        files,
        public_key_file=None,
        public_key_id=None,
        platform_certificate_file=files["platform_certificate_file"],
        platform_certificate_serial=PLATFORM_SERIAL,
    )
    (problem,) = problems_of(**{**cert, "now": NOW + 400 * DAY})
    assert "expired or not yet valid" in problem
    check = check_merchant_files(**{**cert, "now": NOW + 350 * DAY})
    assert check.merchant is not None
    assert check.warnings == [
        f"apps[0].pay: platform certificate {PLATFORM_SERIAL} expires within 30 days"
    ]


def test_a_merchant_certificate_that_does_not_match(files: dict[str, Path], keys: Keys) -> None:
    (problem,) = problems_of(**settings(files, merchant_serial="0123ABCD"))
    assert "merchant_serial" in problem and MERCHANT_SERIAL in problem and "SIGN_ERROR" in problem
    other = write(
        files["private_key_file"].with_name("other_key.pem"),
        paycrypto.private_key_pem(keys.stranger),
    )
    (problem,) = problems_of(**settings(files, private_key_file=other))
    assert "does not belong to the merchant certificate" in problem


def test_a_public_key_needs_its_id_and_some_key_is_needed(files: dict[str, Path]) -> None:
    (problem,) = problems_of(**settings(files, public_key_id="0123"))
    assert "PUB_KEY_ID_" in problem
    (problem,) = problems_of(**settings(files, public_key_file=None, public_key_id=None))
    assert "public_key_file" in problem and "platform_certificate_file" in problem


def test_a_private_key_others_can_read_is_a_warning(files: dict[str, Path]) -> None:
    files["private_key_file"].chmod(0o644)
    check = check_merchant_files(**settings(files))
    assert check.merchant is not None
    assert check.warnings == [
        f"apps[0].pay: merchant private key file {files['private_key_file']} is readable by "
        "others (mode 0644); chmod 600 it"
    ]


def test_from_files_raises_every_problem_at_once(files: dict[str, Path], tmp_path: Path) -> None:
    values = settings(files, apiv3_key="short", public_key_file=tmp_path / "missing.pem")
    del values["now"]
    with pytest.raises(ConfigurationError) as caught:
        Merchant.from_files(**values)
    lines = caught.value.message.splitlines()
    assert len(lines) == 2 and "apiv3_key" in lines[0] and "no such file" in lines[1]


def test_repr_shows_ids_never_keys(keys: Keys) -> None:
    merchant = Merchant.from_pem(
        mchid=MCHID,
        merchant_serial=MERCHANT_SERIAL.lower(),
        private_key_pem=paycrypto.private_key_pem(keys.merchant),
        apiv3_key=APIV3_KEY,
        public_key_pem=paycrypto.public_key_pem(keys.wechatpay),
        public_key_id=PUBLIC_KEY_ID,
    )
    text = repr(merchant)
    assert MCHID in text and MERCHANT_SERIAL in text and PUBLIC_KEY_ID in text
    assert APIV3_KEY not in text and "PRIVATE" not in text
    assert merchant.merchant_serial == MERCHANT_SERIAL


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"mchid": "19000x"}, "mchid"),
        ({"merchant_serial": "not hex"}, "merchant_serial"),
        ({"public_key_id": None}, "PUB_KEY_ID_"),
        ({"public_key_pem": None}, "no WeChat Pay public key"),
        ({"platform_certificate_serial": "ABC"}, "platform_certificate_serial"),
    ],
)
def test_from_pem_refusals(keys: Keys, overrides: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {
        "mchid": MCHID,
        "merchant_serial": MERCHANT_SERIAL,
        "private_key_pem": paycrypto.private_key_pem(keys.merchant),
        "apiv3_key": APIV3_KEY,
        "public_key_pem": paycrypto.public_key_pem(keys.wechatpay),
        "public_key_id": PUBLIC_KEY_ID,
    }
    if "platform_certificate_serial" in overrides:
        values["platform_certificate_pem"] = platform_certificate(keys)
    values.update(overrides)
    with pytest.raises(InvalidPayKey, match=message):
        Merchant.from_pem(**values)

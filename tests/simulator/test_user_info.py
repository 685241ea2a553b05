"""/__sim/user-info output is real WeChat open data: three independent decryptions agree.

1. ``wxlogin.crypto.decrypt_data``;
2. the ``wxlogin decrypt`` command, run as a user runs it;
3. a WXBizDataCrypt-style implementation written here from scratch with ``cryptography``
   (no wxlogin code), the way WeChat's sample code does it.
The rawData signature is checked with a plain ``sha1(rawData + session_key)``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from typing import Any

import httpx2
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.simulator.support import APPID, APPID_SOLO, T0
from wxlogin.crypto import decrypt_data
from wxlogin.errors import StaleSessionKey
from wxlogin.simulator import Simulator


def wxbizdatacrypt_decrypt(
    appid: str, session_key: str, encrypted_data: str, iv: str
) -> dict[str, Any]:
    """WeChat's sample algorithm, independently: AES-128-CBC, PKCS#7, JSON, watermark."""
    key = base64.b64decode(session_key)
    cipher = Cipher(algorithms.AES(key), modes.CBC(base64.b64decode(iv)))
    decryptor = cipher.decryptor()
    padded = decryptor.update(base64.b64decode(encrypted_data)) + decryptor.finalize()
    pad = padded[-1]
    assert 1 <= pad <= 16 and padded.endswith(bytes([pad]) * pad)
    data: dict[str, Any] = json.loads(padded[:-pad].decode("utf-8"))
    if data["watermark"]["appid"] != appid:
        raise ValueError("Invalid Buffer")
    return data


async def user_info(http: httpx2.AsyncClient, **body: str) -> dict[str, Any]:
    response = await http.post("/__sim/user-info", json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def test_user_info_decrypts_everywhere_and_its_signature_verifies(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    sim.login(APPID, "alice")
    key = sim.session_key(APPID, "alice")
    assert key is not None
    info = await user_info(http, appid=APPID, user="alice", nickname="小明")
    assert list(info) == ["rawData", "signature", "encryptedData", "iv", "userInfo"]

    expected_sig = hashlib.sha1((info["rawData"] + key).encode("utf-8")).hexdigest()
    assert info["signature"] == expected_sig
    assert json.loads(info["rawData"]) == info["userInfo"]
    assert info["userInfo"]["nickName"] == "小明"

    ours = decrypt_data(key, info["encryptedData"], info["iv"], appid=APPID)
    theirs = wxbizdatacrypt_decrypt(APPID, key, info["encryptedData"], info["iv"])
    assert ours == theirs
    assert list(theirs) == [
        "openId",
        "nickName",
        "gender",
        "language",
        "city",
        "province",
        "country",
        "avatarUrl",
        "unionId",
        "watermark",
    ]
    assert theirs["openId"] == sim.openid(APPID, "alice")
    assert theirs["unionId"] == sim.unionid(APPID, "alice")
    assert theirs["watermark"] == {"timestamp": int(T0), "appid": APPID}


def test_user_info_decrypts_with_the_wxlogin_decrypt_command(sim: Simulator) -> None:
    sim.login(APPID, "alice")
    key = sim.session_key(APPID, "alice")
    assert key is not None
    info = sim.user_info(APPID, "alice", nickname="小明")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wxlogin.cli",
            "decrypt",
            "--appid",
            APPID,
            "--session-key",
            key,
            "--iv",
            info["iv"],
            info["encryptedData"],
        ],
        capture_output=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout.decode("utf-8"))
    assert data == wxbizdatacrypt_decrypt(APPID, key, info["encryptedData"], info["iv"])
    assert data["nickName"] == "小明"


async def test_the_default_profile_is_the_anonymous_one(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    sim.login(APPID_SOLO, "bob")
    info = await user_info(http, appid=APPID_SOLO, user="bob")
    assert info["userInfo"]["nickName"] == "微信用户"
    assert info["userInfo"]["gender"] == 0
    key = sim.session_key(APPID_SOLO, "bob")
    assert key is not None
    data = wxbizdatacrypt_decrypt(APPID_SOLO, key, info["encryptedData"], info["iv"])
    assert "unionId" not in data  # no open account, no unionId


async def test_data_made_before_a_rotation_no_longer_decrypts(
    sim: Simulator, http: httpx2.AsyncClient
) -> None:
    sim.login(APPID, "alice")
    info = await user_info(http, appid=APPID, user="alice")
    sim.advance(sim.config.session_key_min_rotation)
    sim.login(APPID, "alice")  # the classic mistake: wx.login after getUserInfo
    key = sim.session_key(APPID, "alice")
    assert key is not None
    with pytest.raises(StaleSessionKey):
        decrypt_data(key, info["encryptedData"], info["iv"], appid=APPID)

"""GET /me, phone binding, profile, and linking users across apps through unionid."""

from __future__ import annotations

import jwt
import orjson
import pytest

from tests.api.conftest import APPID, APPID_B, Harness, HarnessFactory, bearer, profile_body
from wxlogin.wechat.protocol import CODE2SESSION


async def test_me(wx: Harness) -> None:
    body = await wx.login("alice")
    response = await wx.http.get("/me", headers=bearer(body["access_token"]))
    assert response.status_code == 200
    me = response.json()
    assert set(me) == {
        "id",
        "unionid",
        "identities",
        "phone",
        "nickname",
        "avatar_url",
        "created_at",
        "last_login_at",
    }
    assert me["id"] == body["user"]["id"]
    assert me["phone"] is None


# ---------------------------------------------------------------------------- phone


async def test_bind_phone_with_the_button_code(wx: Harness) -> None:
    body = await wx.login("alice")
    code = wx.sim.phone_code(APPID, "alice", phone="13912345678")
    response = await wx.http.post(
        "/me/phone", json={"code": code}, headers=bearer(body["access_token"])
    )
    assert response.status_code == 200, response.text
    assert response.json()["phone"] == "13912345678"
    me = await wx.http.get("/me", headers=bearer(body["access_token"]))
    assert me.json()["phone"] == "13912345678"
    reused = await wx.http.post(
        "/me/phone", json={"code": code}, headers=bearer(body["access_token"])
    )
    assert (reused.status_code, reused.json()["error"]["code"]) == (400, "invalid_code")
    assert reused.json()["error"]["wechat_errcode"] == 40029


async def test_phone_code_from_another_app_is_refused(wx: Harness) -> None:
    body = await wx.login("alice")
    code = wx.sim.phone_code(APPID_B, "alice")
    response = await wx.http.post(
        "/me/phone", json={"code": code}, headers=bearer(body["access_token"])
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_code")


async def test_bind_phone_with_legacy_encrypted_data(wx: Harness) -> None:
    body = await wx.login("alice")
    key = wx.sim.session_key(APPID, "alice")
    assert key is not None
    phone = {"phoneNumber": "+8613800138000", "purePhoneNumber": "13800138000", "countryCode": "86"}
    response = await wx.post_encrypted_phone(body["access_token"], key, phone)
    assert response.status_code == 200, response.text
    assert response.json()["phone"] == "+8613800138000"


async def test_stale_session_key_is_a_409_with_a_hint(wx: Harness) -> None:
    body = await wx.login("alice")
    # The phone calls wx.login again (rotating the key) but never tells our server: data it
    # encrypts now cannot be read with the key we hold.
    wx.sim.advance(3600)
    wx.sim.login(APPID, "alice")
    rotated = wx.sim.session_key(APPID, "alice")
    assert rotated is not None
    response = await wx.post_encrypted_phone(
        body["access_token"], rotated, {"phoneNumber": "13800138000"}
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "session_key_stale"
    assert "wx.login" in error["message"]


async def test_watermark_of_another_app_is_refused(wx: Harness) -> None:
    body = await wx.login("alice")
    key = wx.sim.session_key(APPID, "alice")
    assert key is not None
    response = await wx.post_encrypted_phone(
        body["access_token"], key, {"phoneNumber": "13800138000"}, appid=APPID_B
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "watermark_mismatch")


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"code": "abc", "encrypted_data": "x", "iv": "y"},
        {"encrypted_data": "x"},
        {"iv": "y"},
    ],
)
async def test_phone_request_needs_exactly_one_form(wx: Harness, payload: dict[str, str]) -> None:
    body = await wx.login("alice")
    response = await wx.http.post("/me/phone", json=payload, headers=bearer(body["access_token"]))
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_request")


async def test_malformed_encrypted_data(wx: Harness) -> None:
    body = await wx.login("alice")
    response = await wx.http.post(
        "/me/phone",
        json={"encrypted_data": "%%%", "iv": "r7BXXKkLb8qrSNn05n0qiA=="},
        headers=bearer(body["access_token"]),
    )
    assert (response.status_code, response.json()["error"]["code"]) == (
        400,
        "malformed_encrypted_data",
    )


@pytest.mark.parametrize(
    "iv", ["short", "r7BXXKkLb8qrSNn05n0qiA", "r7BXXKkLb8qrSNn05n0qiAAA", "%" * 24]
)
async def test_an_iv_is_24_characters_of_base64_as_documented(wx: Harness, iv: str) -> None:
    """/openapi.json says what an iv looks like (16 bytes in base64), and the body is held to
    it before anything is decrypted."""
    body = await wx.login("alice")
    response = await wx.http.post(
        "/me/phone",
        json={"encrypted_data": "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZM", "iv": iv},
        headers=bearer(body["access_token"]),
    )
    error = response.json()["error"]
    assert (response.status_code, error["code"]) == (400, "invalid_request")
    assert error["message"].startswith("iv: ")


# ---------------------------------------------------------------------------- profile


async def test_update_profile_from_fill_in_components(wx: Harness) -> None:
    body = await wx.login("alice")
    headers = bearer(body["access_token"])
    response = await wx.http.patch(
        "/me/profile",
        json={"nickname": "小明", "avatar_url": "https://cdn.test/a.png"},
        headers=headers,
    )
    assert response.status_code == 200
    assert (response.json()["nickname"], response.json()["avatar_url"]) == (
        "小明",
        "https://cdn.test/a.png",
    )
    only_nick = await wx.http.patch("/me/profile", json={"nickname": "Ming"}, headers=headers)
    assert only_nick.json()["avatar_url"] == "https://cdn.test/a.png"
    bad = await wx.http.patch("/me/profile", json={"nickname": ""}, headers=headers)
    assert bad.status_code == 400


async def test_post_profile_does_what_patch_does_for_wx_request(wx: Harness) -> None:
    """wx.request has no PATCH method: a mini program sends POST."""
    body = await wx.login("alice")
    headers = bearer(body["access_token"])
    response = await wx.http.post("/me/profile", json={"nickname": "小明"}, headers=headers)
    assert (response.status_code, response.json()["nickname"]) == (200, "小明")
    me = await wx.http.get("/me", headers=headers)
    assert me.json()["nickname"] == "小明"
    assert (
        await wx.http.post("/me/profile", json={"nick": "x"}, headers=headers)
    ).status_code == 400
    assert (await wx.http.post("/me/profile", json={"nickname": "x"})).status_code == 401


async def test_legacy_wechat_profile(wx: Harness) -> None:
    body = await wx.login("alice")
    info = wx.sim.user_info(APPID, "alice", nickname="Band", avatar_url="https://wx.test/0")
    response = await wx.http.post(
        "/me/profile/wechat",
        json=profile_body(info),
        headers=bearer(body["access_token"]),
    )
    assert response.status_code == 200, response.text
    assert response.json()["nickname"] == "Band"
    assert response.json()["avatar_url"] == "https://wx.test/0"


async def test_legacy_wechat_profile_with_a_bad_signature(wx: Harness) -> None:
    body = await wx.login("alice")
    info = wx.sim.user_info(APPID, "alice", nickname="Band")
    response = await wx.http.post(
        "/me/profile/wechat",
        json=profile_body(info) | {"raw_data": info["rawData"].replace("Band", "Evil")},
        headers=bearer(body["access_token"]),
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "invalid_signature")


# ---------------------------------------------------------------------------- linking


@pytest.mark.parametrize("order", [(APPID, APPID_B), (APPID_B, APPID)])
async def test_apps_on_one_open_account_share_one_user(wx: Harness, order: tuple[str, str]) -> None:
    first = await wx.login("alice", appid=order[0])
    second = await wx.login("alice", appid=order[1])
    assert second["user"]["id"] == first["user"]["id"]
    assert second["new_user"] is False
    me = (await wx.http.get("/me", headers=bearer(first["access_token"]))).json()
    assert {(i["appid"], i["openid"]) for i in me["identities"]} == {
        (APPID, wx.sim.openid(APPID, "alice")),
        (APPID_B, wx.sim.openid(APPID_B, "alice")),
    }
    assert me["unionid"] == wx.sim.unionid(APPID, "alice")


async def test_unionid_learned_later_merges_users_without_losing_sessions(wx: Harness) -> None:
    # App A's code2Session happens to carry no unionid (as before an app is bound to the open
    # account), so "dave" becomes a user without one...
    code = wx.sim.login(APPID, "dave")
    key = wx.sim.session_key(APPID, "dave")
    wx.sim.add_fault(
        CODE2SESSION,
        body=orjson.dumps({"session_key": key, "openid": wx.sim.openid(APPID, "dave")}).decode(),
    )
    in_a = await wx.http.post("/auth/login", json={"code": code, "appid": APPID})
    assert in_a.status_code == 200, in_a.text
    a = in_a.json()
    assert a["user"]["unionid"] is None
    # ...then dave logs into app B, which knows his unionid: a second user, for now.
    b = await wx.login("dave", appid=APPID_B)
    assert b["user"]["id"] != a["user"]["id"]
    # Back in app A, getUserInfo reveals the unionid: the two users become one.
    info = wx.sim.user_info(APPID, "dave", nickname="Dave")
    merged = await wx.http.post(
        "/me/profile/wechat",
        json=profile_body(info),
        headers=bearer(a["access_token"]),
    )
    assert merged.status_code == 200, merged.text
    # Both sessions still work and see the same user with both identities.
    views = [
        (await wx.http.get("/me", headers=bearer(t))).json()
        for t in (a["access_token"], b["access_token"])
    ]
    assert views[0] == views[1]
    assert views[0]["unionid"] == wx.sim.unionid(APPID, "dave")
    assert len(views[0]["identities"]) == 2
    for token in (a["refresh_token"], b["refresh_token"]):
        refreshed = await wx.http.post("/auth/refresh", json={"refresh_token": token})
        assert refreshed.status_code == 200
        again = await wx.http.get("/me", headers=bearer(refreshed.json()["access_token"]))
        assert again.json()["id"] == views[0]["id"]


async def test_users_in_unrelated_apps_stay_apart(harness_factory: HarnessFactory) -> None:
    wx: Harness = await harness_factory(
        apps=[
            {"appid": APPID, "secret": "app-a-secret-0123456789abcdef"},
            {"appid": "wx00000000000000aa", "secret": "lonely-app-secret-0123456789"},
        ]
    )
    wx.sim.register_app("wx00000000000000aa", "lonely-app-secret-0123456789")
    a = await wx.login("alice", appid=APPID)
    other = await wx.login("alice", appid="wx00000000000000aa")
    assert other["user"]["id"] != a["user"]["id"]
    assert other["user"]["unionid"] is None


async def test_wechats_anonymous_profile_never_overwrites_a_real_one(wx: Harness) -> None:
    body = await wx.login("amy")
    headers = bearer(body["access_token"])
    await wx.http.patch(
        "/me/profile",
        json={"nickname": "Amy", "avatar_url": "https://cdn.test/amy.png"},
        headers=headers,
    )
    anonymous = wx.sim.user_info(APPID, "amy")  # "微信用户" and the grey avatar, as since 2021
    assert anonymous["userInfo"]["nickName"] == "微信用户"
    response = await wx.http.post(
        "/me/profile/wechat", json=profile_body(anonymous), headers=headers
    )
    assert response.status_code == 200
    assert response.json()["nickname"] == "Amy"
    assert response.json()["avatar_url"] == "https://cdn.test/amy.png"


async def test_legacy_wechat_profile_with_a_stale_key_is_409(wx: Harness) -> None:
    body = await wx.login("alice")
    wx.sim.advance(3600)
    wx.sim.login(APPID, "alice")  # rotates the key; our server never hears of it
    info = wx.sim.user_info(APPID, "alice", nickname="Band")
    response = await wx.http.post(
        "/me/profile/wechat", json=profile_body(info), headers=bearer(body["access_token"])
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "session_key_stale"


async def test_every_session_of_a_user_decrypts_with_the_latest_key(wx: Harness) -> None:
    phone = await wx.login("alice")
    wx.sim.advance(3600)
    await wx.login("alice")  # a second device logs in: WeChat rotates alice's session_key
    current = wx.sim.session_key(APPID, "alice")
    assert current is not None
    response = await wx.post_encrypted_phone(
        phone["access_token"], current, {"phoneNumber": "13700000000"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["phone"] == "13700000000"


async def test_a_user_that_is_gone_is_not_found_in_one_sentence(wx: Harness) -> None:
    """A valid token for a user the database no longer has: every /me* route answers the
    documented 404 not_found, in the same words."""
    body = await wx.login("alice")
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    headers = bearer(wx.forge({**claims, "sub": "u_" + "0" * 26}))
    spec = (await wx.http.get("/openapi.json")).json()
    answers = {
        ("GET", "/me"): await wx.http.get("/me", headers=headers),
        ("PATCH", "/me/profile"): await wx.http.patch(
            "/me/profile", json={"nickname": "N"}, headers=headers
        ),
        ("POST", "/me/profile"): await wx.http.post(
            "/me/profile", json={"nickname": "N"}, headers=headers
        ),
        ("POST", "/me/phone"): await wx.http.post(
            "/me/phone", json={"code": wx.sim.phone_code(APPID, "alice")}, headers=headers
        ),
    }
    for (method, path), response in answers.items():
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"] == {"code": "not_found", "message": "no such user"}, path
        documented = spec["paths"][path][method.lower()]["responses"]["404"]["x-error-codes"]
        assert "not_found" in documented, path

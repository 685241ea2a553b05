"""``/demo`` as ``wxlogin dev`` serves it: the page and its policy, its files, the SDK from the
package directory, the forwarded simulator routes — and none of it in ``wxlogin serve``."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from tests.api.conftest import APPID, ISSUER, make_settings
from tests.api.demo_support import SDK_DIR, Demo, running_demo
from wxlogin.api import create_app
from wxlogin.api.demo import CATALOGUE, SdkModule, SdkNotFound
from wxlogin.cache.base import Cache
from wxlogin.simulator import Simulator


@pytest.fixture
async def demo(
    sim: Simulator, database_url: str, cache: Cache, tmp_path: Path
) -> AsyncIterator[Demo]:
    async with running_demo(sim, database_url, cache, tmp_path / "data") as running:
        yield running


async def test_the_page_loads_only_our_own_files_under_a_strict_policy(demo: Demo) -> None:
    page = await demo.http.get("/demo")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["x-content-type-options"] == "nosniff"
    policy = page.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # no inline script, no other host
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["img-src"] == f"'self' {ISSUER} blob: data:"
    assert "unsafe" not in policy
    # Every file the page names is one of ours (the icon is an empty data: URL).
    linked = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert linked, page.text
    assert all(u.startswith("/demo/static/") or u == "data:," for u in linked), linked
    for url in linked:
        if url.startswith("/"):
            assert (await demo.http.get(url)).status_code == 200, url
    assert (await demo.http.get("/demo/")).text == page.text


async def test_static_files_have_their_types_and_methods_are_limited(demo: Demo) -> None:
    script = await demo.http.get("/demo/static/app.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    style = await demo.http.get("/demo/static/demo.css")
    assert style.headers["content-type"] == "text/css; charset=utf-8"
    head = await demo.http.head("/demo/static/app.js")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(script.content))
    refused = await demo.http.post("/demo", json={})
    assert refused.status_code == 405
    assert refused.json()["error"]["code"] == "method_not_allowed"
    for path in ("/demo/static/nope.js", "/demo/static/", "/demo/other", "/demo/static/../x"):
        missing = await demo.http.get(path)
        assert missing.status_code == 404, path
        assert missing.json()["error"]["code"] == "not_found"


async def test_the_sdk_is_served_from_its_package_directory(demo: Demo) -> None:
    entry = await demo.http.get("/demo/sdk/index.mjs")
    assert entry.status_code == 200
    assert entry.headers["content-type"] == "text/javascript; charset=utf-8"
    assert entry.content == (SDK_DIR / "src" / "index.mjs").read_bytes()
    # The modules it imports, by the names the SDK's own imports use.
    for name in re.findall(r"from '\./([a-z0-9-]+\.mjs)'", entry.text):
        module = await demo.http.get(f"/demo/sdk/{name}")
        assert module.content == (SDK_DIR / "src" / name).read_bytes(), name
    for path in (
        "/demo/sdk/../package.json",
        "/demo/sdk/..%2Fpackage.json",
        "/demo/sdk/%2e%2e/package.json",
        "/demo/sdk/.npmrc",
        "/demo/sdk/index.d.ts",
        "/demo/sdk/auth.js",
        "/demo/sdk/",
    ):
        assert (await demo.http.get(path)).status_code == 404, path


def test_an_sdk_directory_is_checked_before_it_is_served(tmp_path: Path) -> None:
    with pytest.raises(SdkNotFound, match=r"package\.json"):
        SdkModule(tmp_path)
    (tmp_path / "package.json").write_text('{"name": "left-pad", "module": "index.mjs"}')
    with pytest.raises(SdkNotFound, match="not the wxlogin-miniprogram package"):
        SdkModule(tmp_path)
    (tmp_path / "package.json").write_text('{"name": "wxlogin-miniprogram"}')
    with pytest.raises(SdkNotFound, match="no ES module entry"):
        SdkModule(tmp_path)
    (tmp_path / "package.json").write_text(
        '{"name": "wxlogin-miniprogram", "exports": {".": {"import": "./lib/main.mjs"}}}'
    )
    with pytest.raises(SdkNotFound, match="missing"):
        SdkModule(tmp_path)
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "main.mjs").write_text("export const x = 1;\n")
    (tmp_path / "secret.mjs").write_text("outside the module directory\n")
    (tmp_path / "lib" / "escape.mjs").symlink_to(tmp_path / "secret.mjs")
    sdk = SdkModule(tmp_path)
    assert sdk.read("index.mjs") == b"export const x = 1;\n"  # the entry, whatever its name
    assert sdk.read("main.mjs") == b"export const x = 1;\n"
    assert sdk.read("escape.mjs") is None
    assert sdk.read("../secret.mjs") is None


async def test_config_tells_the_page_what_it_needs_and_no_secret(demo: Demo) -> None:
    config = (await demo.http.get("/demo/config.json")).json()
    assert config == {
        "appid": APPID,
        "access_token_ttl": 900,
        "feed_last": demo.feed.last,
        "sdk": True,
        "sdk_hint": "",
        "notify_template": None,
        "pay": False,  # no merchant here (tests/api/test_demo_pay.py has one)
        "catalogue": [item.as_json() for item in CATALOGUE],
    }


async def test_only_the_phones_routes_of_the_simulator_are_forwarded(demo: Demo) -> None:
    minted = await demo.http.post("/__sim/login", json={"appid": APPID, "user": "alice"})
    assert minted.status_code == 200
    login = await demo.http.post(
        "/auth/login", json={"code": minted.json()["code"], "appid": APPID}
    )
    assert login.status_code == 200, login.text
    phone = await demo.http.post("/__sim/phone-code", json={"appid": APPID, "user": "alice"})
    assert phone.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{64}", phone.json()["code"])
    # The person's own part of the state, read only: where the phone finds its messages.
    person = await demo.http.get("/__sim/users/alice")
    assert person.status_code == 200 and person.json()["messages"] == []
    # The pay sheet's choice: the simulator's own answer (no such merchant), not a 404 route.
    sheet = await demo.http.post(
        "/__sim/pay", json={"mchid": "1", "out_trade_no": "wx0123456789", "outcome": "cancel"}
    )
    assert sheet.status_code == 404 and isinstance(sheet.json()["error"], str)
    # The rest of the control API stays on the simulator's own port.
    for path in ("/__sim/state", "/__sim/health"):
        assert (await demo.http.get(path)).status_code == 404, path
    assert (await demo.http.post("/__sim/clock", json={"advance": 60})).status_code == 404
    changed = await demo.http.patch("/__sim/users/alice", json={"high_risk": True})
    assert changed.status_code == 404
    assert demo.sim.describe_user("alice")["high_risk"] is False


async def test_wxlogin_serve_has_no_demo(database_url: str, cache: Cache, tmp_path: Path) -> None:
    """What ``wxlogin serve`` runs (``create_app``) knows nothing of /demo or the simulator."""
    app = create_app(make_settings(database_url, tmp_path / "data"), cache=cache)
    async with app.running() as service:
        assert service.listener is None
        assert service.avatars is not None
        assert service.avatars.listener is None
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url=ISSUER) as http:
            for path in ("/demo", "/demo/static/app.js", "/demo/events", "/demo/sdk/index.mjs"):
                assert (await http.get(path)).status_code == 404, path
            login = await http.post("/__sim/login", json={"appid": APPID, "user": "alice"})
            assert login.status_code == 404

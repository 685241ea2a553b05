"""The pytest plugin: its fixtures come through the entry point; the documented examples run."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wxlogin.simulator import Simulator, SimulatorConfig
from wxlogin.wechat import protocol as wx
from wxlogin.wechat.transport import AsgiTransport

DOCS = Path(__file__).resolve().parents[2] / "docs" / "simulator.md"
EXAMPLE_RE = re.compile(r"<!-- example: pytest-plugin -->\n```python\n(.*?)```", re.DOTALL)


async def test_the_fixture_is_a_fresh_in_process_simulator(wechat_simulator: Simulator) -> None:
    assert isinstance(wechat_simulator, Simulator)
    assert wechat_simulator.state()["apps"] == []
    assert wechat_simulator.base_url == wx.DEFAULT_BASE_URL
    assert isinstance(wechat_simulator.transport, AsgiTransport)
    app = wechat_simulator.register_app(appid="wx1234567890abcdef", secret="s", open_account=None)
    code = wechat_simulator.login(app.appid, "alice")
    answer = await wechat_simulator.transport.request(
        "GET",
        wechat_simulator.base_url + wx.CODE2SESSION,
        params={
            "appid": app.appid,
            "secret": "s",
            "js_code": code,
            "grant_type": "authorization_code",
        },
        json_body=None,
        timeout=5,
    )
    assert answer.status == 200 and answer.content_type == "text/plain"


class TestConfigOverride:
    @pytest.fixture
    def wechat_simulator_config(self) -> SimulatorConfig:
        return SimulatorConfig(code_ttl=7)

    def test_overriding_the_config_fixture_tunes_the_simulator(
        self, wechat_simulator: Simulator
    ) -> None:
        assert wechat_simulator.config.code_ttl == 7


def test_the_documented_examples_pass(tmp_path: Path) -> None:
    examples = EXAMPLE_RE.findall(DOCS.read_text(encoding="utf-8"))
    assert len(examples) == 2
    for n, source in enumerate(examples):
        if importlib.util.find_spec("httpx") is None:
            # httpx2 is httpx's API under another name; the docs speak to httpx users.
            source = source.replace("import httpx\n", "import httpx2 as httpx\n")
        (tmp_path / f"test_example_{n}.py").write_text(source, encoding="utf-8")
    # A separate pytest run, in a directory with no configuration: as a user's project would.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout

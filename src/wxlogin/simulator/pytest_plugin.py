"""pytest plugin: a fresh in-process WeChat simulator per test.

Installed with wxlogin (entry point ``pytest11``), so any project that has wxlogin in its
test environment gets the fixtures with no configuration:

* ``wechat_simulator`` — a new ``Simulator`` for each test. Its ``transport`` sends requests
  straight into the simulator (no socket), ``base_url`` is ``https://api.weixin.qq.com``, and
  ``register_app`` / ``login`` / ``phone_code`` / ``user_info`` / ``advance`` drive it.
* ``wechat_simulator_config`` — the ``SimulatorConfig`` it is built with; override this
  fixture in a conftest.py to change lifetimes or limits for a module or a whole suite.
* ``wechat_pay_merchant`` — a merchant registered with that simulator, with fresh keys on both
  sides (``MerchantKit``: mchid, merchant private key and serial, APIv3 key, the simulated
  WeChat Pay's public key and serial) to configure a pay client with. ``pay_order`` plays the
  pay sheet; ``await deliver_callbacks()`` delivers callbacks, into ``route_callbacks(app)``.

wxlogin is imported inside the fixtures, not at plugin load: pytest loads plugins before
coverage starts measuring, and importing the package here would hide its import-time lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from wxlogin.simulator import MerchantKit, Simulator, SimulatorConfig

__all__ = ["wechat_pay_merchant", "wechat_simulator", "wechat_simulator_config"]

PLUGIN_MCHID = "1900000109"


@pytest.fixture
def wechat_simulator_config() -> SimulatorConfig:
    """The configuration ``wechat_simulator`` uses; override it to tune the simulator."""
    from wxlogin.simulator import SimulatorConfig

    return SimulatorConfig()


@pytest.fixture
def wechat_simulator(wechat_simulator_config: SimulatorConfig) -> Simulator:
    """A fresh WeChat simulator, reachable in-process through ``.transport``."""
    from wxlogin.simulator import Simulator

    return Simulator(wechat_simulator_config)


@pytest.fixture
def wechat_pay_merchant(wechat_simulator: Simulator) -> MerchantKit:
    """A WeChat Pay merchant (public-key mode) registered with ``wechat_simulator``."""
    return wechat_simulator.new_merchant(PLUGIN_MCHID)

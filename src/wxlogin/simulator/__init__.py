"""A stateful fake of api.weixin.qq.com and api.mch.weixin.qq.com, for tests without WeChat.

``Simulator`` holds the simulated world (apps, people, codes, session keys, tokens, payments;
WeChat Pay merchants, orders, refunds and callbacks) and serves it as an ASGI app: the seven
WeChat endpoints and the WeChat Pay v3 endpoints with their real rules, signatures and wire
format, and a JSON control API under ``/__sim/`` that plays the phone's side (``wx.login``,
the phone-number button, ``wx.getUserInfo``, the pay sheet), moves the simulated clock and
injects faults.

    sim = Simulator()
    sim.register_app("wx1234567890abcdef", "s3cret")
    code = sim.login("wx1234567890abcdef", "alice")
    # ... point your backend at sim.app (in-process: sim.transport) and exchange the code.

It deliberately shares nothing with the clients but the protocol facts (``wxlogin.wechat.protocol``,
``wxlogin.pay.protocol``) and the crypto layer, so a misreading of WeChat cannot hide on both
sides. See docs/simulator.md.
"""

from wxlogin.simulator.clock import SimClock
from wxlogin.simulator.config import SimulatorConfig
from wxlogin.simulator.core import PaymentRecord, RegisteredApp, Simulator, UserInfo
from wxlogin.simulator.errors import (
    InvalidControlRequest,
    NoSession,
    PayConflict,
    SimulatorError,
    UnknownApp,
    UnknownMerchant,
    UnknownOrder,
)
from wxlogin.simulator.pay_control import MerchantKit, PayResult, RegisteredMerchant
from wxlogin.simulator.state import ACCESS_TOKEN_RE

__all__ = [
    "ACCESS_TOKEN_RE",
    "InvalidControlRequest",
    "MerchantKit",
    "NoSession",
    "PayConflict",
    "PayResult",
    "PaymentRecord",
    "RegisteredApp",
    "RegisteredMerchant",
    "SimClock",
    "Simulator",
    "SimulatorConfig",
    "SimulatorError",
    "UnknownApp",
    "UnknownMerchant",
    "UnknownOrder",
    "UserInfo",
    "create_app",
]


def create_app(
    config: SimulatorConfig | None = None,
    *,
    apps: list[RegisteredApp] | None = None,
) -> Simulator:
    """A new ``Simulator`` with ``apps`` registered.

    The simulator is itself an ASGI app, so ``uvicorn --factory wxlogin.simulator:create_app``
    serves it; returning it (rather than a bare callable) lets the caller keep driving it.
    """
    sim = Simulator(config)
    for app in apps or ():
        sim.register_app(app.appid, app.secret, app.open_account)
    return sim

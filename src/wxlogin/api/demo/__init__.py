"""``/demo``, served by ``wxlogin dev`` only: a mini program played in the browser on the real
SDK, beside a live timeline of what happened on the phone, in wxlogin and at WeChat.

``DemoFront`` is the ASGI app ``wxlogin dev`` serves in front of the service; ``EventFeed``
holds the timeline's server side, written by the service's listener hook
(``service_narrator``), by ``SimulatorWitness`` around the simulator, and by the shop
(``shop.DemoShop``: the demo's catalogue, its orders and WeChat Pay's callbacks).
"""

from wxlogin.api.demo.feed import DemoEvent, EventFeed
from wxlogin.api.demo.front import DEMO_PATH, FEED_PATH, NOTIFY_FIELDS, NOTIFY_PATH, DemoFront
from wxlogin.api.demo.narrator import service_narrator
from wxlogin.api.demo.sdk import SdkModule, SdkNotFound
from wxlogin.api.demo.shop import BUY_PATH, CATALOGUE, PAY_SHEET_PATH, Item
from wxlogin.api.demo.witness import SimulatorWitness

__all__ = [
    "BUY_PATH",
    "CATALOGUE",
    "DEMO_PATH",
    "FEED_PATH",
    "NOTIFY_FIELDS",
    "NOTIFY_PATH",
    "PAY_SHEET_PATH",
    "DemoEvent",
    "DemoFront",
    "EventFeed",
    "Item",
    "SdkModule",
    "SdkNotFound",
    "SimulatorWitness",
    "service_narrator",
]

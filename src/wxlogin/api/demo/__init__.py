"""``/demo``, served by ``wxlogin dev`` only: a mini program played in the browser on the real
SDK, beside a live timeline of what happened on the phone, in wxlogin and at WeChat.

``DemoFront`` is the ASGI app ``wxlogin dev`` serves in front of the service; ``EventFeed``
holds the timeline's server side, written by the service's listener hook
(``service_narrator``) and by ``SimulatorWitness`` around the simulator.
"""

from wxlogin.api.demo.feed import DemoEvent, EventFeed
from wxlogin.api.demo.front import DEMO_PATH, FEED_PATH, NOTIFY_FIELDS, NOTIFY_PATH, DemoFront
from wxlogin.api.demo.narrator import service_narrator
from wxlogin.api.demo.sdk import SdkModule, SdkNotFound
from wxlogin.api.demo.witness import SimulatorWitness

__all__ = [
    "DEMO_PATH",
    "FEED_PATH",
    "NOTIFY_FIELDS",
    "NOTIFY_PATH",
    "DemoEvent",
    "DemoFront",
    "EventFeed",
    "SdkModule",
    "SdkNotFound",
    "SimulatorWitness",
    "service_narrator",
]

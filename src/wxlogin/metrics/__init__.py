"""wxlogin's metrics: what is counted, in one place, and how it is exposed.

Every series wxlogin keeps is defined below, on one process-wide ``REGISTRY``; the code that
counts imports its metric from here and binds the series it needs once (``labels``), so the
hot paths pay one store per count. ``render`` writes them in Prometheus's text format for
``GET /metrics`` (``api/observe.py``). With several worker processes each keeps its values in
a file of a shared directory (``share``) and a scrape adds up all of them (``_registry.py``).

Labels carry outcomes, endpoints and codes only: never an id, an openid, a token or a value a
user sent. A label that could grow without bound (WeChat's errcodes) is capped per metric.
"""

from __future__ import annotations

from wxlogin.metrics._exposition import CONTENT_TYPE, Gauge, render
from wxlogin.metrics._registry import (
    Counter,
    CounterChild,
    Histogram,
    HistogramChild,
    Registry,
    clear_directory,
)

__all__ = [
    "ACCESS_TOKEN_FETCHES",
    "CONTENT_TYPE",
    "LOGINS",
    "MESSAGES",
    "PAY_CALLBACKS",
    "PAY_ORDERS",
    "PAY_REFUNDS",
    "REFRESHES",
    "REGISTRY",
    "STORE_BATCH_SECONDS",
    "STORE_BATCH_SIZE",
    "UPSTREAM_REQUESTS",
    "UPSTREAM_SECONDS",
    "Counter",
    "CounterChild",
    "Gauge",
    "Histogram",
    "HistogramChild",
    "Registry",
    "clear_directory",
    "observe_upstream",
    "render",
]

REGISTRY = Registry()

LOGINS = REGISTRY.counter(
    "wxlogin_logins_total",
    "Logins answered: new_user, returning, or the error code of a refused one.",
    ("outcome",),
)
REFRESHES = REGISTRY.counter(
    "wxlogin_refreshes_total",
    "Refresh-token presentations: rotated, replayed (within the grace window), reused, "
    "revoked, expired, unknown, malformed.",
    ("outcome",),
)
UPSTREAM_REQUESTS = REGISTRY.counter(
    "wxlogin_upstream_requests_total",
    "Requests to WeChat (api=wechat) and WeChat Pay (api=wechatpay), each attempt, by "
    "endpoint and errcode: 0 on success, WeChat's errcode or WeChat Pay's code on a refusal, "
    "wxlogin's error code when no answer was read (timeout, unavailable, bad_upstream_response).",
    ("api", "endpoint", "errcode"),
)
UPSTREAM_SECONDS = REGISTRY.histogram(
    "wxlogin_upstream_request_duration_seconds",
    "Time of each request to WeChat or WeChat Pay, answered or not.",
    ("api", "endpoint"),
    (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ACCESS_TOKEN_FETCHES = REGISTRY.counter(
    "wxlogin_access_token_fetches_total",
    "access_token fetches from WeChat (not cache hits), by appid and outcome: ok or the "
    "error code.",
    ("appid", "outcome"),
)
STORE_BATCH_SIZE = REGISTRY.histogram(
    "wxlogin_store_batch_size",
    "Units of work per write batch (one transaction), by kind: login, rotate, revoke on "
    "PostgreSQL; write (every write) on SQLite.",
    ("kind",),
    (1, 2, 4, 8, 16, 32, 64, 128, 256),
)
STORE_BATCH_SECONDS = REGISTRY.histogram(
    "wxlogin_store_batch_duration_seconds",
    "Time from a write batch's start to its commit (or failure), by kind.",
    ("kind",),
    (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
PAY_ORDERS = REGISTRY.counter(
    "wxlogin_pay_orders_total",
    "WeChat Pay orders, by event: created, prepay_failed (created, prepay_id not yet had), "
    "paid, closed.",
    ("event",),
)
PAY_REFUNDS = REGISTRY.counter(
    "wxlogin_pay_refunds_total",
    "Refunds asked of WeChat Pay, by outcome: success, processing, closed, abnormal, never_made "
    "(a lost request, found by the recheck), or the error code of a refusal.",
    ("outcome",),
)
PAY_CALLBACKS = REGISTRY.counter(
    "wxlogin_pay_callbacks_total",
    "WeChat Pay callbacks, by type (payment, refund, refused) and outcome: applied, "
    "no_change, duplicate, mismatch, unknown, or the error code of a refused one.",
    ("type", "outcome"),
)
MESSAGES = REGISTRY.counter(
    "wxlogin_messages_total",
    "Subscribe messages, by outcome: sent, refused, invalid, unknown, unsent.",
    ("outcome",),
)


# (api, endpoint, errcode) -> its bound counter and histogram: one dict lookup per WeChat
# call instead of two label lookups. Errcodes come from upstream, so the cache stops growing
# at a bound (the metrics themselves fold the excess into "other").
_UPSTREAM_SERIES: dict[tuple[str, str, str], tuple[CounterChild, HistogramChild]] = {}
_UPSTREAM_SERIES_MAX = 512


def observe_upstream(api: str, endpoint: str, errcode: str, seconds: float) -> None:
    """One attempt at WeChat or WeChat Pay: counted by answer, timed by endpoint."""
    key = (api, endpoint, errcode)
    series = _UPSTREAM_SERIES.get(key)
    if series is None:
        series = (
            UPSTREAM_REQUESTS.labels(api, endpoint, errcode),
            UPSTREAM_SECONDS.labels(api, endpoint),
        )
        if len(_UPSTREAM_SERIES) < _UPSTREAM_SERIES_MAX:
            _UPSTREAM_SERIES[key] = series
    series[0].inc()
    series[1].observe(seconds)

"""WeChat Pay's callbacks: signed, encrypted notifications, delivered and retried.

A payment's success (``TRANSACTION.SUCCESS``) and a refund's (``REFUND.SUCCESS``) become a
``Notification``: the body is built once — the resource encrypted with the merchant's APIv3 key
(AEAD_AES_256_GCM, associated data ``transaction`` / ``refund``) — and every delivery attempt
signs it afresh with the merchant's simulated WeChat Pay key, so a retry hours later still
carries a timestamp within the receiver's five minutes.

Each copy (the original, plus ``duplicates`` extra ones) is a ``Delivery`` with its own retry
chain: an answer that is not 2xx, a timeout or a refused connection schedules the next
attempt after WeChat's delays (15 s, 15 s, 30 s, 3 min, ... 6 h), measured on the *simulated*
clock — ``sim.advance(15)`` makes the next retry due at once. After the last delay WeChat
gives up. Every attempt is recorded for ``GET /__sim/state``.

Who sends, and when:

* ``deliver_due()`` sends everything due now, in order, and returns the attempts. In-process
  tests call it (``await sim.deliver_callbacks()``) and need no background task or sleep.
* Served (uvicorn's lifespan start-up), ``start()`` runs a task that sleeps until the next
  delivery is due and is woken early when one is added or the clock is advanced.
* Over a socket by default (``http_post``: a minimal HTTP/1.1 client on asyncio streams — the
  simulator may not use the clients' HTTP code, and no HTTP client library is a runtime
  dependency), or into an ASGI app for in-process runs: ``route(app, origin=None)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import ssl
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import orjson

from wxlogin.pay import protocol as wxpay
from wxlogin.paycrypto import aead_encrypt
from wxlogin.simulator.clock import SimClock
from wxlogin.simulator.config import SimulatorConfig
from wxlogin.simulator.pay_state import Merchant, Order, Refund
from wxlogin.simulator.pay_wire import (
    Headers,
    nonce,
    order_resource,
    refund_event_resource,
    rfc3339,
    signature_headers,
)

__all__ = ["CallbackDispatcher", "Notification", "http_post"]

_log = logging.getLogger("wxlogin.simulator.pay")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
AsgiApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]
]
_KEEP_ATTEMPTS: Final = 10_000
_MAX_ANSWER_HEAD: Final = 64 * 1024


@dataclass(slots=True, eq=False)
class Notification:
    """One event for one receiver; its body never changes between attempts."""

    id: str
    event_type: str
    merchant: Merchant
    url: str
    body: bytes = field(repr=False)
    out_trade_no: str
    out_refund_no: str | None
    created_at: float


@dataclass(slots=True, eq=False)
class Delivery:
    """One copy of a notification and where its retry chain stands."""

    notification: Notification
    copy: int  # 0 is the original, 1.. the duplicates asked for
    due_at: float
    attempts: int = 0


class CallbackError(Exception):
    """The receiver could not be reached or answered nothing usable."""


# --------------------------------------------------------------------------- senders


async def http_post(url: str, headers: Headers, body: bytes, *, verify_tls: bool = True) -> int:
    """POST over a fresh connection (``Connection: close``) and return the answer's status.

    Only what a callback needs: one request, the status line, the rest of the answer read and
    dropped. Raises ``CallbackError`` or ``OSError``; the caller bounds it with a timeout.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    context: ssl.SSLContext | None = None
    if https:
        context = ssl.create_default_context()
        if not verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(host, port, ssl=context)
    try:
        lines = [
            f"POST {parts.path or '/'} HTTP/1.1",
            f"Host: {parts.netloc}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Connection: close",
            "User-Agent: Mozilla/4.0 (wxlogin WeChat Pay simulator)",
        ]
        lines += [f"{name.decode('latin-1')}: {value.decode('latin-1')}" for name, value in headers]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        status_line = await reader.readline()
        fields = status_line.decode("latin-1").split()
        if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
            raise CallbackError("the receiver did not answer HTTP")
        # Only the status matters. Take what has arrived of the rest (bounded) before closing,
        # so a receiver still writing its answer is less likely to see a reset.
        with contextlib.suppress(asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            await reader.read(_MAX_ANSWER_HEAD)
        return int(fields[1])
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def asgi_post(app: AsgiApp, url: str, headers: Headers, body: bytes) -> int:
    """POST into an ASGI app in this event loop (no socket); its answer's status."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    asgi_headers = [
        (b"host", parts.netloc.encode("latin-1")),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
    ] + [(name.lower(), value) for name, value in headers]
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": parts.scheme or "http",
        "path": unquote(parts.path) or "/",
        "raw_path": (parts.path or "/").encode("latin-1"),
        "query_string": b"",
        "root_path": "",
        "headers": asgi_headers,
        "client": ("127.0.0.1", 0),
        "server": (parts.hostname or "localhost", parts.port or (443 if https else 80)),
    }
    answered = asyncio.Event()
    sent_body = False
    status: int | None = None

    async def receive() -> Message:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": body, "more_body": False}
        await answered.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            answered.set()

    try:
        await app(scope, receive, send)
    finally:
        answered.set()
    if status is None:
        raise CallbackError("the app ended without answering")
    return status


# --------------------------------------------------------------------------- dispatcher


class CallbackDispatcher:
    """Builds, schedules, delivers, retries and records WeChat Pay callbacks."""

    def __init__(self, config: SimulatorConfig, clock: SimClock) -> None:
        self._config = config
        self._clock = clock
        self._queue: list[tuple[float, int, Delivery]] = []  # a heap on (due_at, order added)
        self._order = itertools.count()
        self._routes: dict[str | None, AsgiApp] = {}
        self.attempts: deque[dict[str, Any]] = deque(maxlen=_KEEP_ATTEMPTS)
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"CallbackDispatcher(pending={len(self._queue)}, attempts={len(self.attempts)})"

    # ------------------------------------------------------------------ events

    def _notification(
        self,
        merchant: Merchant,
        *,
        event_type: str,
        original_type: str,
        summary: str,
        resource: dict[str, Any],
        url: str,
        out_trade_no: str,
        out_refund_no: str | None,
    ) -> Notification:
        now = self._clock.now()
        event_id = str(uuid.uuid4())
        aead_nonce = nonce(12)
        ciphertext = aead_encrypt(
            merchant.apiv3_key, aead_nonce, orjson.dumps(resource), original_type
        )
        event = {
            "id": event_id,
            "create_time": rfc3339(now),
            "resource_type": wxpay.RESOURCE_TYPE,
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": original_type,
                "algorithm": wxpay.AEAD_ALGORITHM,
                "ciphertext": ciphertext,
                "associated_data": original_type,
                "nonce": aead_nonce,
            },
        }
        return Notification(
            id=event_id,
            event_type=event_type,
            merchant=merchant,
            url=url,
            body=orjson.dumps(event),
            out_trade_no=out_trade_no,
            out_refund_no=out_refund_no,
            created_at=now,
        )

    def transaction_success(self, order: Order, *, duplicates: int = 0) -> Notification:
        """Queue TRANSACTION.SUCCESS for a paid order: due now, ``duplicates`` extra copies."""
        notification = self._notification(
            order.merchant,
            event_type=wxpay.EVENT_TRANSACTION_SUCCESS,
            original_type=wxpay.ORIGINAL_TYPE_TRANSACTION,
            summary="支付成功",
            resource=order_resource(order),
            url=order.notify_url,
            out_trade_no=order.out_trade_no,
            out_refund_no=None,
        )
        self._schedule(notification, copies=1 + duplicates, due_at=notification.created_at)
        return notification

    def refund_success(self, refund: Refund) -> Notification:
        """Queue REFUND.SUCCESS, due when the refund succeeds, to its notify_url or the order's."""
        order = refund.order
        notification = self._notification(
            order.merchant,
            event_type=wxpay.EVENT_REFUND_SUCCESS,
            original_type=wxpay.ORIGINAL_TYPE_REFUND,
            summary="退款成功",
            resource=refund_event_resource(refund),
            url=refund.notify_url or order.notify_url,
            out_trade_no=order.out_trade_no,
            out_refund_no=refund.out_refund_no,
        )
        self._schedule(notification, copies=1, due_at=refund.succeeds_at)
        return notification

    def _schedule(self, notification: Notification, *, copies: int, due_at: float) -> None:
        for copy in range(copies):
            self._push(Delivery(notification, copy, due_at))
        self.wake()

    def _push(self, delivery: Delivery) -> None:
        heapq.heappush(self._queue, (delivery.due_at, next(self._order), delivery))

    # ------------------------------------------------------------------ delivery

    def route(self, app: AsgiApp, origin: str | None = None) -> None:
        """Deliver callbacks for ``origin`` (``"https://shop.example"``; None: every URL) into
        ``app`` in this process instead of over a socket."""
        self._routes[origin.rstrip("/") if origin else None] = app

    async def _post(self, url: str, headers: Headers, body: bytes) -> int:
        parts = urlsplit(url)
        app = self._routes.get(f"{parts.scheme}://{parts.netloc}") or self._routes.get(None)
        if app is not None:
            return await asgi_post(app, url, headers, body)
        return await http_post(url, headers, body, verify_tls=self._config.pay_callback_verify_tls)

    async def _attempt(self, delivery: Delivery) -> dict[str, Any]:
        notification = delivery.notification
        now = self._clock.now()
        headers = signature_headers(notification.merchant, notification.body, now)
        delivery.attempts += 1
        status: int | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(self._config.pay_callback_timeout):
                status = await self._post(notification.url, headers, notification.body)
        except TimeoutError:
            error = f"no answer within {self._config.pay_callback_timeout:g} s"
        except (OSError, CallbackError, ssl.SSLError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        except Exception as exc:  # an in-process receiver that raised: a 500 to WeChat
            error = f"the receiver raised {type(exc).__name__}"
        acknowledged = status is not None and 200 <= status < 300
        schedule = self._config.pay_callback_schedule
        retry_at: float | None = None
        if not acknowledged and delivery.attempts <= len(schedule):
            delay = schedule[delivery.attempts - 1] * self._config.pay_callback_scale
            retry_at = self._clock.now() + delay
            delivery.due_at = retry_at
            self._push(delivery)
        record: dict[str, Any] = {
            "id": notification.id,
            "event_type": notification.event_type,
            "mchid": notification.merchant.mchid,
            "out_trade_no": notification.out_trade_no,
            "out_refund_no": notification.out_refund_no,
            "url": notification.url,
            "copy": delivery.copy,
            "attempt": delivery.attempts,
            "at": now,
            "status": status,
            "error": error,
            "acknowledged": acknowledged,
            "retry_at": retry_at,
        }
        self.attempts.append(record)
        return record

    async def deliver_due(self) -> list[dict[str, Any]]:
        """Send every delivery due now on the simulated clock, in order; their attempts."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            now = self._clock.now()
            due: list[Delivery] = []
            while self._queue and self._queue[0][0] <= now:
                due.append(heapq.heappop(self._queue)[2])
            return [await self._attempt(delivery) for delivery in due]

    def pending(self) -> list[dict[str, Any]]:
        """Deliveries waiting for their time, soonest first."""
        return [
            {
                "id": d.notification.id,
                "event_type": d.notification.event_type,
                "out_trade_no": d.notification.out_trade_no,
                "out_refund_no": d.notification.out_refund_no,
                "copy": d.copy,
                "attempts": d.attempts,
                "due_at": due_at,
            }
            for due_at, _, d in sorted(self._queue, key=lambda item: item[:2])
        ]

    # ------------------------------------------------------------------ background

    def wake(self) -> None:
        """Something changed (a new callback, the clock moved): look at the queue again."""
        if self._wake is not None:
            self._wake.set()

    def start(self) -> None:
        """Deliver in the background from now on (call inside the serving event loop)."""
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        while True:
            wake.clear()
            try:
                await self.deliver_due()
            except Exception:  # keep delivering the others; the attempt log says what failed
                _log.exception("callback delivery failed")
            if self._queue:
                delay = self._queue[0][0] - self._clock.now()
                if delay <= 0:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=delay)
            else:
                await wake.wait()

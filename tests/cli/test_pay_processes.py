"""WeChat Pay end to end on real processes: `wxlogin simulate`, `wxlogin serve` and the
`wxlogin orders` admin commands, talking HTTP on 127.0.0.1.

Between the simulator and the server sits a relay (the server's public address): it passes
WeChat Pay's callbacks on and keeps a copy of each, as anyone on the path could, and it can
fail one delivery so that WeChat Pay sends it again later — after the order has changed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests import support
from tests.conftest import TEST_DATABASE_URL
from tests.support import free_port, postgres_schema, spawn
from wxlogin import paycrypto

pytestmark = pytest.mark.socket

APPID = "wx1234567890abcdef"
SECRET = "pay-process-secret-0123456789"
MCHID = "1900000109"
MERCHANT_SERIAL = "5A1B2C3D4E5F60718293A4B5C6D7E8F901234567"
APIV3_KEY = "Vq3mX8rT2kLp9sWd4fGh7jKz1cBn6yAe"
SERVICE_TOKEN = "pay-process-service-token-0123456789abcdef"
AMOUNT = 2500


def wait_until(check: Any, what: str, timeout: float = 30.0) -> None:
    support.wait_until(check, what, timeout=timeout, ignore=(httpx2.TransportError,))


@dataclass
class Relay:
    """The server's public address: WeChat Pay's callbacks pass through here."""

    target: str
    port: int = field(default_factory=free_port)
    seen: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)
    fail: set[int] = field(default_factory=set)  # these deliveries (0-based) get a 503

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve(self) -> ThreadingHTTPServer:
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k: v for k, v in self.headers.items() if k.lower().startswith("wech")}
                if len(relay.seen) in relay.fail:
                    status = 503
                else:
                    answer = httpx2.post(
                        relay.target + self.path,
                        content=body,
                        headers=headers | {"Content-Type": "application/json"},
                    )
                    status = answer.status_code
                relay.seen.append((headers, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


@dataclass
class World:
    sim: str
    api: str
    relay: Relay
    env: dict[str, str]
    cwd: Path

    def wxlogin(self, *args: str) -> subprocess.CompletedProcess[str]:
        return support.run_wxlogin(*args, env=self.env, cwd=self.cwd)

    def order_as_admin(self, order_id: str) -> dict[str, Any]:
        shown = self.wxlogin("orders", "show", order_id)
        assert shown.returncode == 0, shown.stderr
        order: dict[str, Any] = json.loads(shown.stdout)
        return order

    def advance(self, seconds: float) -> None:
        httpx2.post(f"{self.sim}/__sim/clock", json={"advance": seconds}).raise_for_status()


def _merchant_files(sim: str, directory: Path) -> dict[str, str]:
    """Register a merchant at the simulator and keep its keys as a merchant does."""
    key = paycrypto.generate_private_key()
    registered = httpx2.post(
        f"{sim}/__sim/merchants",
        json={
            "mchid": MCHID,
            "apiv3_key": APIV3_KEY,
            "merchant_serial": MERCHANT_SERIAL,
            "merchant_public_key": paycrypto.public_key_pem(key).decode(),
            "mode": "public_key",
        },
    )
    assert registered.status_code == 201, registered.text
    private, public = directory / "apiclient_key.pem", directory / "pub_key.pem"
    private.touch(mode=0o600)
    private.write_bytes(paycrypto.private_key_pem(key))
    public.write_text(registered.json()["wechatpay_public_key"])
    return {
        "mchid": MCHID,
        "merchant_serial": MERCHANT_SERIAL,
        "private_key_file": str(private),
        "apiv3_key": APIV3_KEY,
        "public_key_file": str(public),
        "public_key_id": registered.json()["wechatpay_serial"],
    }


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    if TEST_DATABASE_URL:  # captured at import: the test runs with no WXLOGIN_* set
        with postgres_schema() as database_url:
            yield from _world(tmp_path, database_url)
    else:
        yield from _world(tmp_path, None)


def _world(tmp_path: Path, database_url: str | None) -> Iterator[World]:
    sim_port, api_port = free_port(), free_port()
    sim, api = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{api_port}"
    env = support.clean_env(
        WXLOGIN_DATA_DIR=str(tmp_path / "data"),
        WXLOGIN_SESSION_KEY_ENCRYPTION_KEY="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        WXLOGIN_WECHAT_BASE_URL=sim,
        WXLOGIN_PAY_BASE_URL=sim,
        WXLOGIN_SERVICE_TOKENS=SERVICE_TOKEN,
        PYTHONUNBUFFERED="1",
    )
    if database_url:
        env["WXLOGIN_DATABASE_URL"] = database_url
    relay = Relay(api)
    env["WXLOGIN_PUBLIC_URL"] = relay.url  # so WeChat Pay's notify_url goes through the relay
    command = [sys.executable, "-m", "wxlogin.cli"]
    procs: list[subprocess.Popen[bytes]] = []
    server = relay.serve()
    try:
        procs.append(
            spawn(
                [*command, "simulate", "--port", str(sim_port), "--app", f"{APPID}:{SECRET}"],
                tmp_path / "simulate.log",
                env=env,
                cwd=tmp_path,
            )
        )
        wait_until(lambda: httpx2.get(f"{sim}/__sim/health").status_code == 200, "simulator")
        pay = _merchant_files(sim, tmp_path)
        env["WXLOGIN_APPS"] = json.dumps([{"appid": APPID, "secret": SECRET, "pay": pay}])
        procs.append(
            spawn(
                [*command, "serve", "--port", str(api_port)],
                tmp_path / "serve.log",
                env=env,
                cwd=tmp_path,
            )
        )
        wait_until(lambda: httpx2.get(f"{api}/readyz").status_code == 200, "wxlogin serve")
        yield World(sim, api, relay, env, tmp_path)
    finally:
        server.shutdown()
        server.server_close()  # the listening socket: shutdown() only stops the loop
        support.stop(procs)
        logs = " ".join(p.read_text() for p in tmp_path.glob("*.log"))
        # Nothing the merchant keeps secret ever reaches a log line.
        assert APIV3_KEY not in logs and SECRET not in logs
        private = (tmp_path / "apiclient_key.pem").read_text().splitlines()[1:-1]
        assert not any(line in logs for line in private)


def _login(w: World, user: str) -> tuple[str, str]:
    code = httpx2.post(f"{w.sim}/__sim/login", json={"appid": APPID, "user": user}).json()["code"]
    answer = httpx2.post(f"{w.api}/auth/login", json={"code": code})
    assert answer.status_code == 200, answer.text
    return answer.json()["user"]["id"], answer.json()["access_token"]


def _order(w: World, user_id: str, token: str) -> dict[str, Any]:
    made = httpx2.post(
        f"{w.api}/pay/orders",
        json={"user_id": user_id, "amount": AMOUNT, "description": "年卡"},
        headers={"Authorization": f"Bearer {SERVICE_TOKEN}"},
    )
    assert made.status_code == 201, made.text
    order: dict[str, Any] = made.json()
    params = httpx2.post(
        f"{w.api}/pay/orders/{order['id']}/params", headers={"Authorization": f"Bearer {token}"}
    )
    assert params.status_code == 200, params.text
    return order


def _delivered(w: World) -> list[dict[str, Any]]:
    state = httpx2.get(f"{w.sim}/__sim/state").json()
    attempts: list[dict[str, Any]] = state["callbacks"]["delivered"]
    return attempts


def test_paid_exactly_once_refunded_and_what_is_not_wechat_pay_is_refused(world: World) -> None:
    w = world
    user_id, token = _login(w, "alice")
    order = _order(w, user_id, token)

    # Paid, with three duplicate callbacks; the relay fails the last copy, so WeChat Pay
    # delivers it again after the order has been refunded.
    w.relay.fail = {3}
    paid = httpx2.post(
        f"{w.sim}/__sim/pay",
        json={
            "mchid": MCHID,
            "out_trade_no": order["out_trade_no"],
            "outcome": "success",
            "duplicates": 3,
        },
    ).json()
    wait_until(lambda: len(w.relay.seen) == 4, "the callback and its three copies")
    assert [status for _, _, status in w.relay.seen] == [204, 204, 204, 503]
    admin = w.order_as_admin(order["id"])
    assert (admin["state"], admin["transaction_id"]) == ("paid", paid["transaction_id"])
    paid_at = admin["paid_at"]

    refunded = w.wxlogin("orders", "refund", order["id"], "--reason", "不想要了")
    assert refunded.returncode == 0, refunded.stderr
    assert "processing" in refunded.stdout
    w.advance(6)  # WeChat Pay finishes the refund, and says so
    wait_until(lambda: w.order_as_admin(order["id"])["state"] == "refunded", "the refund")
    w.advance(15)  # the failed copy's retry is due
    wait_until(lambda: len(w.relay.seen) == 6, "the late copy")
    _, late_body, late_status = w.relay.seen[-1]
    assert json.loads(late_body)["event_type"] == "TRANSACTION.SUCCESS" and late_status == 204
    admin = w.order_as_admin(order["id"])
    assert (admin["state"], admin["refunded_amount"], admin["paid_at"]) == (
        "refunded",
        AMOUNT,
        paid_at,
    )
    assert [(r["amount"], r["state"]) for r in admin["refunds"]] == [(AMOUNT, "success")]
    assert w.wxlogin("orders", "refund", order["id"]).returncode == 1  # nothing left

    # What is not WeChat Pay's, straight at the server: refused, and nothing changes.
    second = _order(w, user_id, token)
    headers, body, _ = w.relay.seen[0]
    stranger = paycrypto.generate_private_key()
    forged = paycrypto.sign_message(
        stranger,
        paycrypto.response_message(
            headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"], body
        ),
    )
    altered = body.replace(b'"summary":', b'"summary": ', 1)  # the same JSON, other bytes
    assert altered != body
    probe = "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]
    attempts = {
        "replayed": (headers, body),
        "altered": (headers, altered),
        "forged": (headers | {"Wechatpay-Signature": forged}, body),
        "probe": (headers | {"Wechatpay-Signature": probe}, body),
    }
    for name, (bad_headers, bad_body) in attempts.items():
        answer = httpx2.post(
            f"{w.api}/pay/notify",
            content=bad_body,
            headers=bad_headers | {"Content-Type": "application/json"},
        )
        assert answer.status_code == 401, name
        assert set(answer.json()) == {"error"}, name
    # An unpaid order closed by hand cannot be paid any more.
    third = _order(w, user_id, token)
    closed = w.wxlogin("orders", "close", third["id"])
    assert (closed.returncode, closed.stdout.strip()) == (0, f"order {third['id']}: closed")
    again = httpx2.post(
        f"{w.api}/pay/orders/{third['id']}/params", headers={"Authorization": f"Bearer {token}"}
    )
    assert again.status_code == 409
    unknown = w.wxlogin("orders", "show", "nope")
    assert unknown.returncode == 1 and "no order 'nope'" in unknown.stderr

    # Genuinely WeChat Pay's, but ten minutes out of time: stale, refused, retried later.
    w.advance(600)
    httpx2.post(
        f"{w.sim}/__sim/pay",
        json={"mchid": MCHID, "out_trade_no": second["out_trade_no"], "outcome": "success"},
    ).raise_for_status()
    wait_until(lambda: len(w.relay.seen) == 7, "the stale callback")
    assert w.relay.seen[-1][2] == 401
    assert w.order_as_admin(second["id"])["state"] == "created"
    assert w.order_as_admin(order["id"])["state"] == "refunded"
    assert [a["acknowledged"] for a in _delivered(w)][-1] is False

    # The operator's view and hands.
    listed = w.wxlogin("orders", "list")
    assert listed.returncode == 0, listed.stderr
    assert order["id"] in listed.stdout and second["id"] in listed.stdout
    assert "¥25.00" in listed.stdout
    as_json = json.loads(w.wxlogin("orders", "list", "--user", user_id, "--json").stdout)
    assert [o["id"] for o in as_json] == [third["id"], second["id"], order["id"]]

"""The control side of the simulated WeChat Pay: merchants, the pay sheet, what state shows.

``Simulator.register_merchant`` / ``new_merchant`` / ``pay_order`` and the ``/__sim/merchants``
and ``/__sim/pay`` routes all come here, so HTTP users and Python tests do the same things.
Nothing here ever shows an APIv3 key or a private key, but ``new_merchant``'s kit, which
exists to hand a test its merchant's own keys.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from wxlogin.pay.protocol import TradeState
from wxlogin.paycrypto import generate_private_key, private_key_pem, public_key_pem
from wxlogin.simulator.clock import SimClock
from wxlogin.simulator.config import SimulatorConfig
from wxlogin.simulator.errors import InvalidControlRequest
from wxlogin.simulator.pay_callbacks import CallbackDispatcher
from wxlogin.simulator.pay_state import Merchant, PayWorld
from wxlogin.simulator.state import World

__all__ = ["MerchantKit", "PayControl", "PayResult", "RegisteredMerchant"]

_MAX_DUPLICATES = 100


@dataclass(frozen=True, slots=True)
class RegisteredMerchant:
    """What registering a merchant hands back: how to verify the simulated WeChat Pay."""

    mchid: str
    mode: str
    wechatpay_serial: str
    wechatpay_public_key: str
    platform_certificate: str | None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "mchid": self.mchid,
            "wechatpay_serial": self.wechatpay_serial,
            "wechatpay_public_key": self.wechatpay_public_key,
        }
        if self.platform_certificate is not None:
            data["platform_certificate"] = self.platform_certificate
        return data


@dataclass(frozen=True, slots=True)
class MerchantKit:
    """A registered merchant with both sides' keys, to configure a pay client in tests and
    ``wxlogin dev``. The private key and the APIv3 key stay out of repr."""

    mchid: str
    mode: str
    merchant_serial: str
    merchant_private_key: str = field(repr=False)
    merchant_public_key: str
    apiv3_key: str = field(repr=False)
    wechatpay_serial: str
    wechatpay_public_key: str
    platform_certificate: str | None

    def write_files(self, directory: Path) -> dict[str, Any]:
        """Write the keys where a merchant keeps them (the private key readable by its owner
        only) and return the ``pay`` table of an app's settings that points at them."""
        directory.mkdir(parents=True, exist_ok=True)
        private = directory / f"{self.mchid}_apiclient_key.pem"
        private.touch(mode=0o600)
        private.chmod(0o600)
        private.write_text(self.merchant_private_key)
        table: dict[str, Any] = {
            "mchid": self.mchid,
            "merchant_serial": self.merchant_serial,
            "private_key_file": str(private),
            "apiv3_key": self.apiv3_key,
        }
        if self.platform_certificate is None:
            public = directory / f"{self.mchid}_pub_key.pem"
            public.write_text(self.wechatpay_public_key)
            table |= {"public_key_file": str(public), "public_key_id": self.wechatpay_serial}
        else:
            certificate = directory / f"{self.mchid}_wechatpay_cert.pem"
            certificate.write_text(self.platform_certificate)
            table |= {
                "platform_certificate_file": str(certificate),
                "platform_certificate_serial": self.wechatpay_serial,
            }
        return table


class PayResult(TypedDict):
    """The answer of the pay sheet: the order's state, and its transaction_id once paid."""

    trade_state: str
    transaction_id: NotRequired[str]


def _merchant_view(merchant: Merchant) -> RegisteredMerchant:
    return RegisteredMerchant(
        mchid=merchant.mchid,
        mode=merchant.mode,
        wechatpay_serial=merchant.wechatpay_serial,
        wechatpay_public_key=merchant.wechatpay_public_key,
        platform_certificate=merchant.platform_certificate
        if merchant.mode == "certificate"
        else None,
    )


class PayControl:
    """The simulated WeChat Pay as the control API drives it."""

    def __init__(
        self,
        apps: World,
        callbacks: CallbackDispatcher,
        config: SimulatorConfig,
        clock: SimClock,
    ) -> None:
        self.world = PayWorld(config, clock)
        self._apps = apps
        self._callbacks = callbacks
        self._clock = clock

    def __repr__(self) -> str:
        return f"PayControl({self.world!r})"

    def register_merchant(
        self,
        mchid: str,
        *,
        apiv3_key: str,
        merchant_serial: str,
        merchant_public_key: str,
        mode: str,
        appids: list[str] | None,
    ) -> RegisteredMerchant:
        if appids is not None and not isinstance(appids, list):
            raise InvalidControlRequest("appids must be a list of appids or null")
        merchant = self.world.register_merchant(
            mchid,
            apiv3_key=apiv3_key,
            merchant_serial=merchant_serial,
            merchant_public_key=merchant_public_key,
            mode=mode,
            appids=appids,
        )
        return _merchant_view(merchant)

    def new_merchant(self, mchid: str, *, mode: str) -> MerchantKit:
        key = generate_private_key()
        public = public_key_pem(key).decode("ascii")
        alphabet = string.ascii_letters + string.digits
        apiv3_key = "".join(secrets.choice(alphabet) for _ in range(32))
        serial = secrets.token_hex(20).upper()  # like a merchant API certificate's serial
        registered = self.register_merchant(
            mchid,
            apiv3_key=apiv3_key,
            merchant_serial=serial,
            merchant_public_key=public,
            mode=mode,
            appids=None,
        )
        return MerchantKit(
            mchid=mchid,
            mode=registered.mode,
            merchant_serial=serial,
            merchant_private_key=private_key_pem(key).decode("ascii"),
            merchant_public_key=public,
            apiv3_key=apiv3_key,
            wechatpay_serial=registered.wechatpay_serial,
            wechatpay_public_key=registered.wechatpay_public_key,
            platform_certificate=registered.platform_certificate,
        )

    def pay(self, mchid: str, out_trade_no: str, outcome: str, *, duplicates: int) -> PayResult:
        if (
            not isinstance(duplicates, int)
            or isinstance(duplicates, bool)
            or not 0 <= duplicates <= _MAX_DUPLICATES
        ):
            raise InvalidControlRequest(
                f"duplicates must be an integer from 0 to {_MAX_DUPLICATES}"
            )
        if not isinstance(out_trade_no, str) or not out_trade_no:
            raise InvalidControlRequest("out_trade_no must be a non-empty string")
        order = self.world.pay(mchid, out_trade_no, outcome)
        result: PayResult = {"trade_state": order.state.value}
        if order.state is TradeState.SUCCESS and order.transaction_id is not None:
            result["transaction_id"] = order.transaction_id
            self._callbacks.transaction_success(order, duplicates=duplicates)
            # The payer can now be looked up with getpaidunionid, as after a real payment.
            app = self._apps.apps.get(order.appid)
            member = app.members.get(order.openid) if app is not None else None
            if member is not None:
                self._apps.add_payment(
                    order.appid,
                    member.person.name,
                    transaction_id=order.transaction_id,
                    mch_id=mchid,
                    out_trade_no=out_trade_no,
                )
        return result

    def snapshot(self) -> dict[str, Any]:
        """Merchants, orders, refunds and callbacks for ``GET /__sim/state`` (no keys)."""
        now = self._clock.now()
        merchants, orders, refunds = [], [], []
        for merchant in self.world.merchants.values():
            merchants.append(
                {
                    "mchid": merchant.mchid,
                    "mode": merchant.mode,
                    "merchant_serial": merchant.merchant_serial,
                    "wechatpay_serial": merchant.wechatpay_serial,
                    "appids": sorted(merchant.appids) if merchant.appids is not None else None,
                    "orders": len(merchant.orders),
                    "refunds": len(merchant.refunds),
                }
            )
            for order in merchant.orders.values():
                self.world.settle(order, now)
                orders.append(
                    {
                        "mchid": merchant.mchid,
                        "appid": order.appid,
                        "out_trade_no": order.out_trade_no,
                        "openid": order.openid,
                        "description": order.description,
                        "total": order.total,
                        "trade_state": order.state.value,
                        "transaction_id": order.transaction_id,
                        "prepay_id": order.prepay_id,
                        "notify_url": order.notify_url,
                        "created_at": order.created_at,
                        "expires_at": order.expires_at,
                        "success_time": order.success_time,
                        "refunded": order.refunded,
                    }
                )
            for refund in merchant.refunds.values():
                refunds.append(
                    {
                        "mchid": merchant.mchid,
                        "out_trade_no": refund.order.out_trade_no,
                        "out_refund_no": refund.out_refund_no,
                        "refund_id": refund.refund_id,
                        "amount": refund.amount,
                        "status": refund.status(now).value,
                        "created_at": refund.created_at,
                        "succeeds_at": refund.succeeds_at,
                    }
                )
        return {
            "merchants": merchants,
            "orders": orders,
            "refunds": refunds,
            "callbacks": {
                "delivered": list(self._callbacks.attempts),
                "pending": self._callbacks.pending(),
            },
        }

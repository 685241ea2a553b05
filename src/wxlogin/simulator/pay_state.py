"""The simulated WeChat Pay: merchants, orders and refunds, and the rules that change them.

Pure domain, no HTTP. A refusal WeChat Pay would answer is ``PayRefused`` (code, message,
optional ``detail``), which ``pay_api`` renders as ``{"code","message","detail"?}`` with the
code's status; mistakes in *driving* the simulator raise the control errors of
``simulator.errors``. Time comes from the simulated clock; expiry (``time_expire``, the
prepay_id's two hours, refunds finishing) is worked out when an order is looked at, so nothing
has to run in the background for state to be right.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from wxlogin.errors import InvalidPayKey
from wxlogin.pay import protocol as wxpay
from wxlogin.pay.protocol import RefundStatus, TradeState
from wxlogin.paycrypto import (
    APIV3_KEY_BYTES,
    generate_private_key,
    load_public_key,
    make_certificate,
    public_key_pem,
)
from wxlogin.simulator.clock import SimClock
from wxlogin.simulator.config import SimulatorConfig
from wxlogin.simulator.errors import (
    InvalidControlRequest,
    PayConflict,
    UnknownMerchant,
    UnknownOrder,
)
from wxlogin.simulator.pay_errors import PayRefused, param_error

__all__ = [
    "Merchant",
    "MerchantMode",
    "Order",
    "Outcome",
    "PayWorld",
    "Refund",
]

MerchantMode = Literal["public_key", "certificate"]
Outcome = Literal["success", "cancel", "fail"]
MERCHANT_MODES: tuple[MerchantMode, ...] = ("public_key", "certificate")
OUTCOMES: tuple[Outcome, ...] = ("success", "cancel", "fail")
_CERT_LIFETIME = 5 * 365 * 86400.0


def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


class Merchant:
    """A registered merchant: its keys as WeChat Pay holds them, and its orders and refunds.

    The simulator makes its own RSA key per merchant (WeChat Pay's signing key) and, in
    certificate mode, a self-signed platform certificate for it. The APIv3 key and the signing
    key never leave this object but as callbacks' ciphertext and signatures.
    """

    def __init__(self, mchid: str, now: float) -> None:
        self.mchid = mchid
        self.signing_key = generate_private_key()
        self.wechatpay_public_key = public_key_pem(self.signing_key).decode("ascii")
        self.public_key_id = wxpay.PUBLIC_KEY_ID_PREFIX + "01" + _digits(32)
        self.created_at = now
        self.mode: MerchantMode = "public_key"
        self.platform_certificate: str | None = None
        self.platform_serial: str | None = None
        self.platform_not_before = 0.0
        self.platform_not_after = 0.0
        self.apiv3_key = ""
        self.merchant_serial = ""
        self.merchant_public_key = ""
        self.verify_key = load_public_key(self.wechatpay_public_key)  # replaced on configure
        self.appids: frozenset[str] | None = None
        self.orders: dict[str, Order] = {}  # out_trade_no -> order
        self.orders_by_transaction: dict[str, Order] = {}
        self.refunds: dict[str, Refund] = {}  # out_refund_no -> refund

    def __repr__(self) -> str:
        return f"Merchant(mchid={self.mchid!r}, mode={self.mode!r}, orders={len(self.orders)})"

    @property
    def wechatpay_serial(self) -> str:
        """What ``Wechatpay-Serial`` says: the public key id, or the certificate's serial."""
        if self.mode == "certificate":
            assert self.platform_serial is not None
            return self.platform_serial
        return self.public_key_id

    def ensure_certificate(self, now: float) -> None:
        if self.platform_certificate is not None:
            return
        serial_number = secrets.randbits(159) | (1 << 158)  # positive, 20 bytes: 40 hex digits
        self.platform_not_before = now - 86400.0
        self.platform_not_after = now + _CERT_LIFETIME
        pem = make_certificate(
            self.signing_key,
            serial_number=serial_number,
            common_name=f"WeChat Pay simulator platform certificate {self.mchid}",
            not_valid_before=self.platform_not_before,
            not_valid_after=self.platform_not_after,
        )
        self.platform_certificate = pem.decode("ascii")
        self.platform_serial = f"{serial_number:X}"


@dataclass(slots=True, eq=False)
class Order:
    merchant: Merchant
    appid: str
    out_trade_no: str
    description: str
    notify_url: str
    attach: str | None
    openid: str
    total: int
    currency: str
    time_expire: str | None  # as the merchant wrote it
    expires_at: float | None  # when an unpaid order closes, on the simulated clock
    fingerprint: bytes = field(repr=False)  # the create body, canonical: "the same order?"
    created_at: float
    prepay_id: str
    prepay_expires_at: float
    state: TradeState = TradeState.NOTPAY
    transaction_id: str | None = None
    success_time: float | None = None
    refunded: int = 0
    refunds: list[Refund] = field(default_factory=list, repr=False)

    @property
    def refundable(self) -> int:
        return self.total - self.refunded


@dataclass(slots=True, eq=False)
class Refund:
    order: Order
    refund_id: str
    out_refund_no: str
    amount: int
    reason: str | None
    notify_url: str | None
    created_at: float
    succeeds_at: float

    def status(self, now: float) -> RefundStatus:
        return RefundStatus.SUCCESS if now >= self.succeeds_at else RefundStatus.PROCESSING


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A validated create-order body (``pay_rules.parse_create``)."""

    appid: str
    mchid: str
    description: str
    out_trade_no: str
    notify_url: str
    attach: str | None
    time_expire: str | None
    expires_at: float | None
    total: int
    currency: str
    openid: str
    fingerprint: bytes


@dataclass(frozen=True, slots=True)
class NewRefund:
    """A validated refund body (``pay_rules.parse_refund``)."""

    out_trade_no: str | None
    transaction_id: str | None
    out_refund_no: str
    reason: str | None
    notify_url: str | None
    refund: int
    total: int
    currency: str


class PayWorld:
    """Every merchant, order and refund, and the rules of WeChat Pay that change them."""

    def __init__(self, config: SimulatorConfig, clock: SimClock) -> None:
        self.config = config
        self.clock = clock
        self.merchants: dict[str, Merchant] = {}

    def __repr__(self) -> str:
        return f"PayWorld(merchants={len(self.merchants)})"

    # ------------------------------------------------------------------ merchants

    def register_merchant(
        self,
        mchid: str,
        *,
        apiv3_key: str,
        merchant_serial: str,
        merchant_public_key: str,
        mode: str,
        appids: Iterable[str] | None = None,
    ) -> Merchant:
        """Register (or re-register: keys and mode replaced, orders kept) a merchant."""
        if not isinstance(mchid, str) or not wxpay.MCHID_RE.fullmatch(mchid):
            raise InvalidControlRequest("mchid must be 1-32 digits")
        if not isinstance(apiv3_key, str) or len(apiv3_key.encode()) != APIV3_KEY_BYTES:
            raise InvalidControlRequest("apiv3_key must be 32 ASCII characters")
        if not isinstance(merchant_serial, str) or not wxpay.MERCHANT_SERIAL_RE.fullmatch(
            merchant_serial
        ):
            raise InvalidControlRequest("merchant_serial must be 1-64 hex digits")
        if mode not in MERCHANT_MODES:
            raise InvalidControlRequest("mode must be 'public_key' or 'certificate'")
        if not isinstance(merchant_public_key, str):
            raise InvalidControlRequest("merchant_public_key must be a PEM string")
        try:
            verify_key = load_public_key(merchant_public_key, what="merchant_public_key")
        except InvalidPayKey as exc:
            raise InvalidControlRequest(str(exc)) from None
        bound = None
        if appids is not None:
            bound = frozenset(appids)
            if not all(isinstance(a, str) and a for a in bound):
                raise InvalidControlRequest("appids must be a list of appids")
        now = self.clock.now()
        merchant = self.merchants.get(mchid)
        if merchant is None:
            merchant = Merchant(mchid, now)
        merchant.apiv3_key = apiv3_key
        merchant.merchant_serial = merchant_serial
        merchant.merchant_public_key = merchant_public_key
        merchant.verify_key = verify_key
        merchant.mode = "certificate" if mode == "certificate" else "public_key"
        merchant.appids = bound
        if merchant.mode == "certificate":
            merchant.ensure_certificate(now)
        self.merchants[mchid] = merchant
        return merchant

    def merchant(self, mchid: str) -> Merchant:
        merchant = self.merchants.get(mchid)
        if merchant is None:
            raise UnknownMerchant(mchid)
        return merchant

    # ------------------------------------------------------------------ orders

    def settle(self, order: Order, now: float) -> Order:
        """Apply what time did to an unpaid order: past its expiry it is closed."""
        if (
            order.state is TradeState.NOTPAY
            and order.expires_at is not None
            and now >= order.expires_at
        ):
            order.state = TradeState.CLOSED
        return order

    def create_order(self, merchant: Merchant, new: NewOrder) -> Order:
        """JSAPI create: the same body again gives the current prepay_id (renewed if lapsed)."""
        now = self.clock.now()
        existing = merchant.orders.get(new.out_trade_no)
        if existing is not None:
            self.settle(existing, now)
            if existing.state in (TradeState.SUCCESS, TradeState.REFUND):
                raise PayRefused("ORDERPAID", status=self.config.pay_orderpaid_status)
            if existing.state is TradeState.CLOSED:
                raise PayRefused("ORDER_CLOSED")
            if existing.fingerprint != new.fingerprint:
                code = self.config.pay_duplicate_order_code
                raise PayRefused(code, "201 商户订单号重复")
            if now >= existing.prepay_expires_at:
                existing.prepay_id = self._prepay_id()
                existing.prepay_expires_at = now + self.config.pay_prepay_ttl
            return existing
        expires_at = new.expires_at
        if expires_at is None and self.config.pay_order_ttl:
            expires_at = now + self.config.pay_order_ttl
        order = Order(
            merchant=merchant,
            appid=new.appid,
            out_trade_no=new.out_trade_no,
            description=new.description,
            notify_url=new.notify_url,
            attach=new.attach,
            openid=new.openid,
            total=new.total,
            currency=new.currency,
            time_expire=new.time_expire,
            expires_at=expires_at,
            fingerprint=new.fingerprint,
            created_at=now,
            prepay_id=self._prepay_id(),
            prepay_expires_at=now + self.config.pay_prepay_ttl,
        )
        merchant.orders[order.out_trade_no] = order
        return order

    @staticmethod
    def _prepay_id() -> str:
        # "wx" + 14-digit time-like digits + random, 36 characters like WeChat's.
        return "wx" + _digits(14) + secrets.token_hex(10)

    def order(self, merchant: Merchant, out_trade_no: str) -> Order:
        order = merchant.orders.get(out_trade_no)
        if order is None:
            raise PayRefused("ORDER_NOT_EXIST")
        return self.settle(order, self.clock.now())

    def order_by_transaction(self, merchant: Merchant, transaction_id: str) -> Order:
        order = merchant.orders_by_transaction.get(transaction_id)
        if order is None:
            raise PayRefused("ORDER_NOT_EXIST")
        return self.settle(order, self.clock.now())

    def close(self, merchant: Merchant, out_trade_no: str) -> Order:
        """Close an unpaid order (closing a closed one again is fine); a paid one: ORDERPAID."""
        order = self.order(merchant, out_trade_no)
        if order.state in (TradeState.SUCCESS, TradeState.REFUND):
            raise PayRefused("ORDERPAID", status=self.config.pay_orderpaid_status)
        order.state = TradeState.CLOSED
        return order

    # ------------------------------------------------------------------ the pay sheet

    def pay(self, mchid: str, out_trade_no: str, outcome: str) -> Order:
        """Play the user at the pay sheet: pay, cancel (nothing changes) or fail (PAYERROR)."""
        if outcome not in OUTCOMES:
            raise InvalidControlRequest("outcome must be 'success', 'cancel' or 'fail'")
        merchant = self.merchant(mchid)
        order = merchant.orders.get(out_trade_no)
        if order is None:
            raise UnknownOrder(mchid, out_trade_no)
        now = self.clock.now()
        self.settle(order, now)
        if order.state is not TradeState.NOTPAY:
            raise PayConflict(f"order {out_trade_no!r} is {order.state.value}, not payable")
        if now >= order.prepay_expires_at:
            raise PayConflict(
                f"the prepay_id of order {out_trade_no!r} lapsed: create the order again"
            )
        if outcome == "success":
            order.state = TradeState.SUCCESS
            order.transaction_id = "4200" + _digits(24)
            order.success_time = now
            merchant.orders_by_transaction[order.transaction_id] = order
        elif outcome == "fail":
            order.state = TradeState.PAYERROR
        return order

    # ------------------------------------------------------------------ refunds

    def refund(self, merchant: Merchant, new: NewRefund) -> tuple[Refund, bool]:
        """Apply for a refund; the same out_refund_no again returns it. True when new."""
        if new.transaction_id is not None:
            order = self.order_by_transaction(merchant, new.transaction_id)
        else:
            assert new.out_trade_no is not None
            order = self.order(merchant, new.out_trade_no)
        existing = merchant.refunds.get(new.out_refund_no)
        if existing is not None:
            if existing.order is not order or existing.amount != new.refund:
                raise PayRefused("INVALID_REQUEST", "退款单号重复")
            return existing, False
        if order.state not in (TradeState.SUCCESS, TradeState.REFUND):
            raise PayRefused("INVALID_REQUEST", "订单未支付，不能退款")
        if new.total != order.total:
            raise param_error("amount.total", new.total, "does not match the order's total")
        if new.refund > order.refundable:
            raise PayRefused(
                "NOT_ENOUGH",
                "申请退款金额超过订单可退金额",
                status=self.config.pay_not_enough_status,
            )
        now = self.clock.now()
        refund = Refund(
            order=order,
            refund_id="50" + _digits(28),
            out_refund_no=new.out_refund_no,
            amount=new.refund,
            reason=new.reason,
            notify_url=new.notify_url,
            created_at=now,
            succeeds_at=now + self.config.pay_refund_delay,
        )
        order.refunded += new.refund
        order.refunds.append(refund)
        order.state = TradeState.REFUND
        merchant.refunds[refund.out_refund_no] = refund
        return refund, True

    def refund_by_no(self, merchant: Merchant, out_refund_no: str) -> Refund:
        refund = merchant.refunds.get(out_refund_no)
        if refund is None:
            raise PayRefused("RESOURCE_NOT_EXISTS")
        return refund

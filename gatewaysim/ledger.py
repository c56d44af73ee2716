"""The simulator's books: paid trades and the refunds against them, and the merchant's orders
waiting to be paid (collections), thread-safe.

A merchant refund number is executed at most once per channel: a repeat is answered from the
book and never moves money again. Money moves when a refund reaches SUCCESS (at once, or after
a delay for ``processing_then_success``); every movement is logged so tests can count them.

A merchant order number (``out_trade_no``) opens one ``PaymentOrder`` per channel; opening it
again with the same amount and product answers the same order. It is paid at most once (the
student pressing "确认支付" on the cashier page, or ``GatewaySimulator.pay``): paying registers
the paid ``Trade``, so the refund endpoints can refund it like any other.
"""

from __future__ import annotations

import datetime
import itertools
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

PROCESSING = "PROCESSING"
SUCCESS = "SUCCESS"


class LedgerRefusal(Exception):
    """The book refuses a refund; ``reason`` is one of the constants below."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


TRADE_UNKNOWN = "trade_unknown"
ORDER_PAID = "order_paid"
ORDER_CLOSED = "order_closed"
ORDER_EXPIRED = "order_expired"
NUMBER_USED = "number_used"  # the same out_trade_no with another amount or product

# A payment order's states, WeChat's words (Alipay's WAIT_BUYER_PAY / TRADE_SUCCESS / TRADE_CLOSED).
NOTPAY = "NOTPAY"
PAID = "SUCCESS"
CLOSED = "CLOSED"
TOTAL_MISMATCH = "total_mismatch"
AMOUNT_MISMATCH = "amount_mismatch"
EXCEEDS_REMAINING = "exceeds_remaining"


@dataclass
class Trade:
    """One paid order at the gateway."""

    channel: str
    trade_no: str
    out_trade_no: str
    total: Decimal
    notify_url: str = ""  # the payment's notify_url: where Alipay sends refund notifications
    recv_account: str = "支付用户零钱"  # WeChat: where refunds land
    fund_channel: str = "ALIPAYACCOUNT"  # Alipay: the fund the buyer paid with
    reserved: Decimal = Decimal("0.00")  # accepted refunds, moved or not


@dataclass
class RefundRecord:
    """One merchant refund number as the gateway knows it."""

    channel: str
    payout_no: str
    refund_id: str
    trade: Trade
    amount: Decimal
    status: str
    notify_url: str
    reason: str = ""
    created_at: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(SHANGHAI))
    succeeded_at: datetime.datetime | None = None


@dataclass
class PaymentOrder:
    """One merchant order waiting to be paid at the gateway (a unified order, a precreate, a wap pay)."""

    channel: str
    out_trade_no: str
    amount: Decimal
    subject: str
    product: str  # WeChat NATIVE / MWEB, Alipay QR / WAP
    notify_url: str
    token: str  # the key of its cashier page
    expires_at: datetime.datetime | None = None
    return_url: str = ""
    prepay_id: str = ""
    status: str = NOTPAY
    # Alipay: a precreated order is a trade only once its QR code was opened (before that the query
    # and the close answer ACQ.TRADE_NOT_EXIST, and the code stays payable until it expires).
    scanned: bool = False
    trade_no: str = ""
    trade: Trade | None = None
    paid_at: datetime.datetime | None = None
    payer: str = ""
    created_at: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(SHANGHAI))

    def expired(self, now: datetime.datetime | None = None) -> bool:
        return self.expires_at is not None and (now or datetime.datetime.now(SHANGHAI)) >= self.expires_at


@dataclass(frozen=True)
class Movement:
    """Money that left the merchant account."""

    channel: str
    payout_no: str
    amount: Decimal
    at: datetime.datetime


class Ledger:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.trades: dict[tuple[str, str], Trade] = {}
            self.refunds: dict[tuple[str, str], RefundRecord] = {}
            self.movements: list[Movement] = []
            self.payments: dict[tuple[str, str], PaymentOrder] = {}
            self.payment_tokens: dict[str, PaymentOrder] = {}
            self.payments_received: list[PaymentOrder] = []
            self._changed.notify_all()

    def register_trade(
        self,
        channel: str,
        *,
        trade_no: str,
        total: Decimal,
        out_trade_no: str = "",
        notify_url: str = "",
        recv_account: str = "支付用户零钱",
        fund_channel: str = "ALIPAYACCOUNT",
    ) -> Trade:
        """Make a paid trade known, by the gateway's number and by our order number."""
        with self._lock:
            trade = Trade(
                channel=channel,
                trade_no=trade_no,
                out_trade_no=out_trade_no,
                total=Decimal(total),
                notify_url=notify_url,
                recv_account=recv_account,
                fund_channel=fund_channel,
            )
            self.trades[(channel, trade_no)] = trade
            if out_trade_no:
                self.trades[(channel, "out:" + out_trade_no)] = trade
            return trade

    def find_trade(self, channel: str, *, trade_no: str = "", out_trade_no: str = "") -> Trade | None:
        with self._lock:
            if trade_no and (channel, trade_no) in self.trades:
                return self.trades[(channel, trade_no)]
            if out_trade_no:
                return self.trades.get((channel, "out:" + out_trade_no))
            return None

    def find_refund(self, channel: str, payout_no: str) -> RefundRecord | None:
        with self._lock:
            return self.refunds.get((channel, payout_no))

    def refund_records(self, channel: str | None = None) -> list[RefundRecord]:
        with self._lock:
            return [r for r in self.refunds.values() if channel is None or r.channel == channel]

    def accept(
        self,
        channel: str,
        *,
        trade: Trade,
        payout_no: str,
        amount: Decimal,
        notify_url: str = "",
        reason: str = "",
        complete: bool = True,
    ) -> tuple[RefundRecord, bool]:
        """Accept a refund (or find the earlier one under the same number): ``(record, created)``.

        ``complete`` moves the money at once; otherwise the refund stays PROCESSING until
        ``complete()``. Raises ``LedgerRefusal`` for a number reused with another amount or trade,
        or an amount above what is left on the trade.
        """
        with self._lock:
            existing = self.refunds.get((channel, payout_no))
            if existing is not None:
                if existing.amount != amount or existing.trade is not trade:
                    raise LedgerRefusal(AMOUNT_MISMATCH, "the same refund number was used with another amount or trade")
                return existing, False
            remaining = trade.total - trade.reserved
            if amount <= 0 or amount > remaining:
                raise LedgerRefusal(
                    EXCEEDS_REMAINING, f"refund {amount} exceeds what is left on the trade ({remaining})"
                )
            trade.reserved += amount
            record = RefundRecord(
                channel=channel,
                payout_no=payout_no,
                refund_id=self._refund_id(channel),
                trade=trade,
                amount=amount,
                status=PROCESSING,
                notify_url=notify_url,
                reason=reason,
            )
            self.refunds[(channel, payout_no)] = record
            if complete:
                self.complete(record)
            else:
                self._changed.notify_all()
            return record, True

    def complete(self, record: RefundRecord) -> bool:
        """Move the money of a PROCESSING refund; False if it had already moved."""
        with self._lock:
            if record.status == SUCCESS:
                return False
            record.status = SUCCESS
            record.succeeded_at = datetime.datetime.now(SHANGHAI)
            self.movements.append(Movement(record.channel, record.payout_no, record.amount, record.succeeded_at))
            self._changed.notify_all()
            return True

    def refunded_on(self, trade: Trade) -> Decimal:
        """What has actually left on ``trade`` so far (Alipay's cumulative ``refund_fee``)."""
        with self._lock:
            return sum(
                (r.amount for r in self.refunds.values() if r.trade is trade and r.status == SUCCESS),
                Decimal("0.00"),
            )

    def movements_by_number(self, channel: str | None = None) -> Counter[str]:
        with self._lock:
            return Counter(m.payout_no for m in self.movements if channel is None or m.channel == channel)

    def total_moved(self) -> Decimal:
        with self._lock:
            return sum((m.amount for m in self.movements), Decimal("0.00"))

    def wait_for_movement(self, payout_no: str | None, timeout: float, *, after: int = 0) -> Movement | None:
        """Block until a movement (for ``payout_no``, or any beyond the first ``after``) is logged."""

        def found() -> Movement | None:
            for movement in self.movements[after:] if payout_no is None else self.movements:
                if payout_no is None or movement.payout_no == payout_no:
                    return movement
            return None

        with self._changed:
            self._changed.wait_for(found, timeout=timeout)
            return found()

    # --- payments (collections)

    def open_payment(
        self,
        channel: str,
        *,
        out_trade_no: str,
        amount: Decimal,
        subject: str,
        product: str,
        notify_url: str,
        expires_at: datetime.datetime | None = None,
        return_url: str = "",
    ) -> tuple[PaymentOrder, bool]:
        """Open a payment order (or find the one under the same number): ``(order, created)``.
        Raises ``LedgerRefusal`` for a number paid, closed, or used with another amount or product."""
        with self._lock:
            existing = self.payments.get((channel, out_trade_no))
            if existing is not None:
                if existing.status == PAID:
                    raise LedgerRefusal(ORDER_PAID, "the order is paid")
                if existing.status == CLOSED:
                    raise LedgerRefusal(ORDER_CLOSED, "the order is closed")
                if existing.amount != amount or existing.product != product:
                    raise LedgerRefusal(NUMBER_USED, "the order number was used with another amount or product")
                return existing, False
            if amount <= 0:
                raise LedgerRefusal(NUMBER_USED, "the amount must be positive")
            order = PaymentOrder(
                channel=channel,
                out_trade_no=out_trade_no,
                amount=amount,
                subject=subject,
                product=product,
                notify_url=notify_url,
                token=secrets.token_urlsafe(12),
                expires_at=expires_at,
                return_url=return_url,
                prepay_id=f"wx{datetime.datetime.now(SHANGHAI):%d%H%M%S}{secrets.token_hex(11)}",
            )
            self.payments[(channel, out_trade_no)] = order
            self.payment_tokens[order.token] = order
            return order, True

    def find_payment(self, channel: str | None, *, out_trade_no: str = "", trade_no: str = "") -> PaymentOrder | None:
        """A payment order by our number (or the gateway's trade number), on ``channel`` or either."""
        with self._lock:
            for order in self.payments.values():
                if channel is not None and order.channel != channel:
                    continue
                if (out_trade_no and order.out_trade_no == out_trade_no) or (trade_no and order.trade_no == trade_no):
                    return order
            return None

    def payment_by_token(self, token: str) -> PaymentOrder | None:
        with self._lock:
            return self.payment_tokens.get(token)

    def scan(self, order: PaymentOrder) -> None:
        """The payer opened the order's cashier: for Alipay the trade exists from now (WAIT_BUYER_PAY)."""
        with self._lock:
            if not order.scanned:
                order.scanned = True
                if not order.trade_no:
                    order.trade_no = self._trade_no(order.channel)

    def pay(self, order: PaymentOrder, *, payer: str) -> None:
        """The payer confirmed: the order is paid once, and its trade can be refunded."""
        with self._lock:
            if order.status == PAID:
                raise LedgerRefusal(ORDER_PAID, "the order is paid")
            if order.status == CLOSED:
                raise LedgerRefusal(ORDER_CLOSED, "the order is closed")
            if order.expired():
                raise LedgerRefusal(ORDER_EXPIRED, "the order has expired")
            order.scanned = True
            order.trade_no = order.trade_no or self._trade_no(order.channel)
            order.status = PAID
            order.payer = payer
            order.paid_at = datetime.datetime.now(SHANGHAI)
            order.trade = self.register_trade(
                order.channel,
                trade_no=order.trade_no,
                out_trade_no=order.out_trade_no,
                total=order.amount,
                notify_url=order.notify_url,
            )
            self.payments_received.append(order)
            self._changed.notify_all()

    def close_payment(self, order: PaymentOrder) -> None:
        """Close an unpaid order: it can no longer be paid. Raises ``LedgerRefusal`` when paid."""
        with self._lock:
            if order.status == PAID:
                raise LedgerRefusal(ORDER_PAID, "the order is paid")
            order.status = CLOSED

    def refunded_in_full(self, order: PaymentOrder) -> bool:
        with self._lock:
            return order.trade is not None and self.refunded_on(order.trade) >= order.amount

    def refunds_on(self, order: PaymentOrder) -> list[RefundRecord]:
        with self._lock:
            return [r for r in self.refunds.values() if order.trade is not None and r.trade is order.trade]

    def payments_by_number(self, channel: str | None = None) -> Counter[str]:
        """Payments received per merchant order number (a correct gateway never shows a 2)."""
        with self._lock:
            return Counter(o.out_trade_no for o in self.payments_received if channel is None or o.channel == channel)

    def _trade_no(self, channel: str) -> str:
        """28 digits: WeChat's 4200… transaction_id, Alipay's yyyyMMdd22… trade_no."""
        now = datetime.datetime.now(SHANGHAI)
        if channel == "wechat":
            return f"4200{now:%Y%m%d}{next(self._ids):016d}"
        return f"{now:%Y%m%d}22{next(self._ids):018d}"

    def _refund_id(self, channel: str) -> str:
        now = datetime.datetime.now(SHANGHAI)
        prefix = "5030" if channel == "wechat" else "2088"
        return f"{prefix}{now:%Y%m%d}{next(self._ids):012d}"

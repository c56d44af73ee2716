"""The contract every refund gateway keeps: refund, query, verify-and-parse callback, arrival;
and, for the gateways that also collect money from students (收款), create, query and close a
trade, and verify-and-parse its payment notification.

One class per channel, in its own module, registered by channel (``payments.gateways.registry``),
and the one home of what we know about that channel: the API calls below, the path of our
callback endpoint, the ledger account the money leaves from, where the money lands and what the
student is told about it, and the statement file finance reconciles (``statement``). The callback
view, the payout service, the voucher, the student's pages and finance's reconciliation ask the
class; none of them keeps a table by channel.

Adapters never see Django's request or the database: they take a ``RefundCall`` and answer a
``GatewayAnswer``, or raise one of the two errors below. The payout service decides what an
answer means for the request; the adapter only reports what the gateway said, faithfully.

Amounts are ``Decimal`` CNY with two places; adapters convert to fen or strings themselves.

Collecting works the same way: the adapter takes a ``CollectionCall`` and answers a
``CollectionAnswer`` (a ``PaymentState``) or raises; a payment notification becomes a
``PaymentNotice`` (or, for a refund of a collected trade, the usual ``CallbackNotice``). The
collection service (``payments.collections``) decides what an answer means.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

# Where the money lands (decides what the student is told about when): one enum, the payout's own.
from ..models import ArrivalKind as ArrivalKind
from .statements import StatementFormat

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class Outcome:
    """What the gateway says happened to one merchant refund number.

    Every answer of a refund call, a query or a callback falls in one of four classes:
    succeeded (SUCCEEDED), refused and never paid (FAILED, or ``GatewayFinalError`` from a refund
    call), never heard of it (NOT_FOUND, queries only), and unknown (PROCESSING, NEEDS_CHECK, or
    ``GatewayRetryableError``). Only the second and third may ever lead to sending the money again.
    """

    SUCCEEDED = "succeeded"  # the money left the merchant account
    PROCESSING = "processing"  # accepted; the result comes later (callback or query)
    FAILED = "failed"  # the gateway refused or closed this refund for good: no money moved
    NOT_FOUND = "not_found"  # the gateway has never seen this merchant refund number (query only)
    # The gateway took the refund but reports a case a person must handle there (WeChat's CHANGE:
    # the card it went back to refused it). Unknown for us until a query says succeeded or closed.
    NEEDS_CHECK = "needs_check"


@dataclass(frozen=True)
class RefundCall:
    """One refund as we ask for it. ``payout_no`` is fixed once and reused by every retry."""

    payout_no: str  # WeChat out_refund_no, Alipay out_request_no
    order_no: str  # our order number (WeChat out_trade_no, Alipay out_trade_no)
    trade_no: str  # the gateway's transaction number of the original payment
    order_total: Decimal  # what the student paid on the order
    amount: Decimal  # what this payout returns
    reason: str = ""
    notify_url: str = ""


@dataclass
class GatewayAnswer:
    """What the gateway answered, after its signature was checked."""

    outcome: str
    gateway_refund_id: str = ""
    amount: Decimal | None = None  # the amount the gateway reports for this refund, when it does
    arrival: str = ArrivalKind.BALANCE
    arrival_account: str = ""  # e.g. "支付用户零钱" or "招商银行信用卡0403", as the gateway says
    code: str = ""  # the gateway's business error code when outcome is FAILED
    message: str = ""
    raw_request: dict[str, Any] = field(default_factory=dict)  # secrets removed
    raw_response: Any = None


@dataclass
class CallbackNotice:
    """A verified callback: the gateway vouched for this outcome of this merchant refund number."""

    payout_no: str
    outcome: str
    amount: Decimal | None
    gateway_refund_id: str = ""
    arrival: str = ArrivalKind.BALANCE
    arrival_account: str = ""
    merchant_id: str = ""
    raw: Any = None


class GatewayError(Exception):
    """Base of the gateway errors. ``raw`` keeps whatever came back, for the payout's record."""

    def __init__(
        self, message: str, *, code: str = "", raw: Any = None, raw_request: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.raw = raw
        self.raw_request = raw_request or {}


class GatewayRetryableError(GatewayError):
    """The outcome is unknown or the gateway asked us to try again (network, HTTP 5xx, SYSTEMERROR,
    a bad signature on the answer). Query before retrying: the refund may have gone through."""


class GatewayFinalError(GatewayError):
    """The gateway refused this refund for good (insufficient balance, trade too old, ...):
    a person must decide what happens next."""


def as_unknown(error: GatewayError, *, what: str, subject: str = "refund") -> GatewayRetryableError:
    """A query (or a confirmation by query) that failed: whatever the gateway's code says, it
    says nothing about the refund (or the ``subject``) itself, so the outcome is unknown."""
    if isinstance(error, GatewayRetryableError):
        return error
    return GatewayRetryableError(
        f"{what} failed, so the {subject}'s outcome is unknown: {error.message}",
        code=error.code,
        raw=error.raw,
        raw_request=error.raw_request,
    )


class PaymentState:
    """What the gateway says of a trade we opened to collect money (one merchant order number)."""

    PAID = "paid"  # the student paid: the money is in (a later refund of it changes nothing here)
    OPEN = "open"  # the trade exists and waits for the payer (or a payment attempt failed)
    CLOSED = "closed"  # closed or revoked at the gateway: it can no longer be paid
    NOT_FOUND = "not_found"  # no trade under this number (never opened, or a QR code not yet scanned)


@dataclass(frozen=True)
class CollectionCall:
    """One trade as we ask for it. Every field is fixed when the collection is recorded, so a
    repeated create asks for exactly the same trade (the gateways answer it from their books)."""

    collection_no: str  # our merchant order number (WeChat and Alipay out_trade_no)
    amount: Decimal
    mode: str  # ``payments.models.CollectionMode``
    description: str  # the goods name the gateway shows the payer
    notify_url: str  # our payment notification endpoint for this gateway
    started_at: datetime.datetime
    expires_at: datetime.datetime  # the gateway refuses payment after it, too
    client_ip: str = ""  # the payer's address (WeChat H5 requires it)
    return_url: str = ""  # where the phone's browser goes back to after paying (H5, wap)


@dataclass
class CollectionAnswer:
    """What the gateway answered about a trade, after its signature was checked."""

    state: str  # ``PaymentState``
    pay_url: str = ""  # create: where the payer pays (code_url, mweb_url, qr_code, the wap URL)
    gateway_trade_no: str = ""
    amount: Decimal | None = None  # the trade's amount, when the gateway reports it
    paid_at: datetime.datetime | None = None
    payer: str = ""  # the payer's account as the gateway names it (openid, buyer id or logon id)
    code: str = ""
    message: str = ""
    raw_request: dict[str, Any] = field(default_factory=dict)  # secrets removed
    raw_response: Any = None


@dataclass
class PaymentNotice:
    """A verified payment notification: the gateway vouched for this state of this trade."""

    collection_no: str
    state: str  # ``PaymentState.PAID``, or another state the gateway notifies (nothing to do)
    amount: Decimal | None
    gateway_trade_no: str = ""
    paid_at: datetime.datetime | None = None
    payer: str = ""
    merchant_id: str = ""
    raw: Any = None


class CallbackRejected(Exception):
    """A callback that failed verification (signature, decryption, merchant id, malformed).
    Nothing may change because of it; the reason is logged."""


@dataclass(frozen=True)
class CallbackReply:
    """What the gateway expects back from our callback endpoint."""

    body: bytes
    content_type: str
    status: int = 200


class RefundGateway:
    """Base class: one subclass per channel. Instances are cheap; build them per use."""

    # The order's payment channel this class pays back (``orders.PaymentChannel``).
    channel: ClassVar[str]
    # True when a person records the payout by hand (no API call, no callback).
    manual: ClassVar[bool] = False
    # Our endpoint for this gateway's callbacks, under /payments/ (``payments.urls`` routes it to the
    # one callback view as ``payments:<channel>-notify``); empty when it sends none.
    notify_path: ClassVar[str] = ""
    # The chart-of-accounts line the money leaves from: the credit side of the refund voucher.
    ledger_account: ClassVar[tuple[str, str]]
    # Where the money usually lands; an answer may say otherwise (a refund back to a card).
    arrival: ClassVar[str] = ArrivalKind.BALANCE
    # What the student is told, before the payout, about when her money arrives.
    arrival_note: ClassVar[StrOrPromise]
    # The statement file of this gateway's refunds that finance reconciles; None when it has none.
    statement: ClassVar[StatementFormat | None] = None

    # Collecting: the ``CollectionMode`` values this gateway opens trades for (none: it does not
    # collect), and our endpoint for its payment notifications (``payments:<channel>-pay-notify``).
    collection_modes: ClassVar[tuple[str, ...]] = ()
    collection_notify_path: ClassVar[str] = ""
    # The shortest time a trade may be open for: the gateway refuses an earlier time_expire.
    collection_min_lifetime: ClassVar[datetime.timedelta] = datetime.timedelta(minutes=1)

    @classmethod
    def notify_route(cls) -> str:
        """The URL name of our callback endpoint for this gateway; "" when it sends none."""
        return f"payments:{cls.channel}-notify" if cls.notify_path else ""

    @classmethod
    def collection_notify_route(cls) -> str:
        """The URL name of our payment notification endpoint for this gateway; "" when it collects nothing."""
        return f"payments:{cls.channel}-pay-notify" if cls.collection_notify_path else ""

    def refund(self, call: RefundCall) -> GatewayAnswer:
        """Ask for the refund. Idempotent at the gateway for the same ``call.payout_no``.

        Returns SUCCEEDED or PROCESSING (FAILED only when the gateway reports a closed refund
        in a signed answer); raises ``GatewayRetryableError`` when the outcome is unknown and
        ``GatewayFinalError`` when the gateway refuses for good.
        """
        raise NotImplementedError

    def query(self, call: RefundCall) -> GatewayAnswer:
        """Ask what became of ``call.payout_no``: any ``Outcome``, NOT_FOUND included.

        Never raises ``GatewayFinalError``: a query that fails, whatever the gateway's code, says
        nothing about the refund, so it raises ``GatewayRetryableError`` (outcome unknown). Only a
        definite "no such refund" answer is NOT_FOUND.
        """
        raise NotImplementedError

    def parse_callback(self, *, body: bytes, content_type: str, post: dict[str, str]) -> CallbackNotice:
        """Verify a callback (signature or decryption, our merchant id) and parse it.

        Raises ``CallbackRejected`` for anything not vouched for by the gateway. Matching the
        number and amount against our payout is the caller's job.
        """
        raise NotImplementedError

    def callback_reply(self, *, ok: bool) -> CallbackReply:
        """The answer the gateway expects: ``ok`` acknowledges, otherwise it will retry."""
        raise NotImplementedError

    # --- Collecting (only the gateways with ``collection_modes``)

    def collection_create(self, call: CollectionCall) -> CollectionAnswer:
        """Open the trade and return OPEN with its ``pay_url``. Repeating it with the same call is
        safe (the gateway answers the same trade). Raises ``GatewayRetryableError`` when the outcome
        is unknown, ``GatewayFinalError`` when the gateway refuses it."""
        raise NotImplementedError

    def collection_query(self, call: CollectionCall) -> CollectionAnswer:
        """Ask what became of the trade: any ``PaymentState``; PAID with the amount, the gateway's
        trade number, the time and the payer. Never raises ``GatewayFinalError``: a query that
        fails says nothing about the trade (``GatewayRetryableError``)."""
        raise NotImplementedError

    def collection_close(self, call: CollectionCall) -> CollectionAnswer:
        """Close the trade so it can no longer be paid: CLOSED (closed now or before), NOT_FOUND
        (the gateway has no trade under the number), or PAID, as a query tells it, when it was paid
        first. Raises ``GatewayRetryableError`` when it may still be open."""
        raise NotImplementedError

    def parse_collection_callback(
        self, *, body: bytes, content_type: str, post: dict[str, str]
    ) -> PaymentNotice | CallbackNotice:
        """Verify a notification sent to our payment endpoint and parse it: a ``PaymentNotice``, or
        a ``CallbackNotice`` when it reports a refund of a collected trade (``payout_no`` is then
        the collection's refund number). Raises ``CallbackRejected`` for anything not vouched for.
        Matching the number and amount against our collection is the caller's job."""
        raise CallbackRejected(f"{self.channel} collects no payments")


class RefundStep:
    """Which call of ``refund_once`` is under way (and so, which one an error came from)."""

    QUERY = "query"
    REFUND = "refund"


def refund_once(
    gateway: RefundGateway,
    call: RefundCall,
    *,
    needs_query: bool,
    record: Callable[[str, GatewayAnswer], None],
) -> GatewayAnswer:
    """Refund ``call`` at most once under its fixed number: when it may have reached the gateway
    (``needs_query``), ask first and send it again only if the gateway never heard of it. Each
    answer is handed to ``record(step, answer)`` as it comes. Returns the last answer.

    A ``GatewayRetryableError`` or ``GatewayFinalError`` propagates with ``exc.step`` set to the call
    it came from; a query that fails for good is raised as unknown (it never says the refund was
    refused), so a ``GatewayFinalError`` here always comes from a refund call: no money moved.
    """
    step = RefundStep.QUERY if needs_query else RefundStep.REFUND
    try:
        if needs_query:
            try:
                answer = gateway.query(call)
            except GatewayFinalError as exc:
                raise as_unknown(exc, what="The refund query") from exc
            record(RefundStep.QUERY, answer)
            if answer.outcome != Outcome.NOT_FOUND:
                return answer
            step = RefundStep.REFUND
        answer = gateway.refund(call)
        record(RefundStep.REFUND, answer)
        return answer
    except GatewayError as exc:
        exc.step = step  # type: ignore[attr-defined]  # read back by the caller's error handling
        raise

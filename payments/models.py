"""Paying approved refunds back: one ``Payout`` per refund, every exchange with the gateway kept,
and the working-day calendar that tells the student when a bank card sees it. (The voucher
written when the money has left is finance's, ``finance.models.Voucher``: finance hears of the
payout through ``payments.events``.)

Collecting money from students (``Collection``, 收款): one per payment we ask for, its exchanges
with the gateway and its events (``payments.collections`` writes them).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, transition
from simple_history.models import HistoricalRecords

from orders.models import PaymentChannel
from refunds.payee import mask_account_no
from schoolops.fields import MoneyField

if TYPE_CHECKING:
    # As in refunds.models.requests: django-stubs types a model built on django-fsm's model mixin as
    # Any; the mixin only guards save() against concurrent transitions, nothing the checker reads.
    class ConcurrentTransitionMixin:
        """Stands in for ``django_fsm.ConcurrentTransitionMixin`` when type checking."""

else:
    from django_fsm import ConcurrentTransitionMixin


class PayoutStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent to the gateway")
    UNKNOWN = "unknown", _("Outcome unknown: checking with the gateway")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


FINAL_PAYOUT_STATES = (PayoutStatus.SUCCEEDED, PayoutStatus.FAILED)
# A payout in one of these may still move money: no second payout may be opened beside it.
LIVE_PAYOUT_STATES = (PayoutStatus.QUEUED, PayoutStatus.SENT, PayoutStatus.UNKNOWN, PayoutStatus.SUCCEEDED)
# Money that may be on its way out: counted against the order by the guard (``payout_guard``).
IN_FLIGHT_PAYOUT_STATES = (PayoutStatus.QUEUED, PayoutStatus.SENT, PayoutStatus.UNKNOWN)


class ArrivalKind(models.TextChoices):
    BALANCE = "balance", _("WeChat / Alipay balance")
    BANK_CARD = "bank_card", _("Bank card")
    BANK_TRANSFER = "bank_transfer", _("Bank transfer")


def transfer_scan_upload_to(instance: Payout, filename: str) -> str:
    """A random name: the uploader's file name is not kept on disk."""
    import uuid
    from pathlib import PurePath

    from django.utils import timezone

    return f"transfers/{timezone.now():%Y/%m}/{uuid.uuid4().hex}{PurePath(filename).suffix.lower()[:8]}"


class Payout(models.Model):
    """The money of one approved refund on its way back, by the order's original route.

    ``payout_no`` is the merchant refund number (WeChat ``out_refund_no``, Alipay
    ``out_request_no``): fixed when the payout is opened and sent unchanged on every retry, so
    the gateway can never pay it twice.
    """

    request = models.ForeignKey(
        "refunds.RefundRequest", on_delete=models.PROTECT, related_name="payouts", verbose_name=_("refund request")
    )
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="payouts", verbose_name=_("order"))
    channel = models.CharField(_("channel"), max_length=10, choices=PaymentChannel.choices)
    amount = MoneyField(_("amount (CNY)"), validators=[MinValueValidator(Decimal("0.01"))])
    payout_no = models.CharField(_("merchant refund number"), max_length=32, unique=True)
    status = models.CharField(_("status"), max_length=10, choices=PayoutStatus.choices, default=PayoutStatus.QUEUED)
    gateway_refund_id = models.CharField(_("gateway refund id"), max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(_("calls to the gateway"), default=0)
    lease_until = models.DateTimeField(
        _("being worked on until"),
        null=True,
        blank=True,
        help_text=_("A worker holds the payout until then; after that a check may pick it up."),
    )
    error_code = models.CharField(_("last error code"), max_length=64, blank=True)
    error_message = models.TextField(_("last error"), blank=True)
    needs_check_since = models.DateTimeField(
        _("needs a manual check since"),
        null=True,
        blank=True,
        help_text=_(
            "The gateway's outcome stayed unknown after repeated queries, or it reported a case a person "
            "must handle: finance checks it at the gateway. Until a query settles it, nothing is sent again."
        ),
    )
    arrival_kind = models.CharField(_("arrives in"), max_length=16, choices=ArrivalKind.choices, blank=True)
    arrival_account = models.CharField(_("account credited"), max_length=100, blank=True)
    arrival_earliest = models.DateField(_("expected arrival from"), null=True, blank=True)
    arrival_latest = models.DateField(_("expected arrival by"), null=True, blank=True)
    # Where a transfer made by hand goes (bank-card and offline orders): the student's account.
    payee_name = models.CharField(_("payee name"), max_length=60, blank=True)
    payee_bank = models.CharField(_("payee bank"), max_length=60, blank=True)
    payee_branch = models.CharField(_("payee bank branch"), max_length=100, blank=True)
    payee_account_no = models.CharField(_("payee card or account number"), max_length=34, blank=True)
    bank_reference = models.CharField(_("bank reference"), max_length=64, blank=True)
    transfer_scan = models.FileField(_("transfer slip"), upload_to=transfer_scan_upload_to, max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    created_at = models.DateTimeField(_("opened at"))
    sent_at = models.DateTimeField(_("first sent at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()
    campus_lookup = "request__campus"

    class Meta:
        verbose_name = _("payout")
        verbose_name_plural = _("payouts")
        permissions = [
            ("record_transfer", _("Can record bank transfers of refunds")),
            ("retry_payout", _("Can check or send again a refund payment")),
        ]
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "lease_until"]),
            models.Index(fields=["request", "status"]),
            # Finance's ledger reads payouts in this order, and by the day they were paid.
            models.Index(fields=["created_at", "id"], name="payout_created"),
            models.Index(fields=["finished_at"], name="payout_finished"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["request"],
                condition=Q(status__in=LIVE_PAYOUT_STATES),
                name="one_live_payout_per_request",
                violation_error_message=_("This refund already has a payout that may move money."),
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive"),
            models.CheckConstraint(
                condition=~Q(status=PayoutStatus.SUCCEEDED) | Q(finished_at__isnull=False),
                name="payout_success_has_time",
            ),
        ]

    def __str__(self) -> str:
        return self.payout_no

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_PAYOUT_STATES

    @property
    def payee_account_masked(self) -> str:
        return mask_account_no(self.payee_account_no)


class ExchangeKind(models.TextChoices):
    REFUND = "refund", _("Refund call")
    QUERY = "query", _("Query")
    CALLBACK = "callback", _("Callback")
    MANUAL = "manual", _("Recorded by finance")


class PayoutExchange(models.Model):
    """One conversation with the gateway about a payout, raw, as it happened (secrets removed)."""

    payout = models.ForeignKey(Payout, on_delete=models.CASCADE, related_name="exchanges", verbose_name=_("payout"))
    kind = models.CharField(_("kind"), max_length=10, choices=ExchangeKind.choices)
    outcome = models.CharField(_("outcome"), max_length=20, blank=True)
    request_data = models.JSONField(_("sent"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    response_data = models.JSONField(_("received"), null=True, blank=True, encoder=DjangoJSONEncoder)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("at"))

    campus_lookup = "payout__request__campus"

    class Meta:
        verbose_name = _("gateway exchange")
        verbose_name_plural = _("gateway exchanges")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.payout} {self.kind} {self.outcome}"


class RejectedCallback(models.Model):
    """A callback that failed verification or did not match our payout: kept, never acted on."""

    channel = models.CharField(_("channel"), max_length=10, choices=PaymentChannel.choices)
    reason = models.TextField(_("why it was refused"))
    payout_no = models.CharField(_("merchant refund number it named"), max_length=64, blank=True)
    remote_addr = models.GenericIPAddressField(_("from"), null=True, blank=True)
    body = models.TextField(_("body"), blank=True)
    received_at = models.DateTimeField(_("received at"))

    class Meta:
        verbose_name = _("refused callback")
        verbose_name_plural = _("refused callbacks")
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.channel} {self.received_at:%Y-%m-%d %H:%M} {self.payout_no}"


class CalendarDay(models.Model):
    """A day that breaks the Monday-to-Friday rule: a public holiday, or a weekend made a
    working day (调休). Banks count arrival in working days by this table."""

    date = models.DateField(_("date"), unique=True)
    is_workday = models.BooleanField(_("working day"), default=False)
    name = models.CharField(_("name"), max_length=40)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("holiday calendar")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


# --- Collecting (收款) -------------------------------------------------------------------------


class CollectionMode(models.TextChoices):
    """How the student pays: which gateway product, and so what ``pay_url`` is."""

    WECHAT_NATIVE = "wechat_native", _("WeChat Pay QR code")
    WECHAT_H5 = "wechat_h5", _("WeChat Pay in the phone's browser")
    ALIPAY_QR = "alipay_qr", _("Alipay QR code")
    ALIPAY_WAP = "alipay_wap", _("Alipay in the phone's browser")


class CollectionStatus(models.TextChoices):
    CREATED = "created", _("Being opened")
    OPEN = "open", _("Waiting for payment")
    PAID = "paid", _("Paid")
    CLOSED = "closed", _("Closed")
    EXPIRED = "expired", _("Expired")
    FAILED = "failed", _("Could not be opened")
    REFUNDING = "refunding", _("Being refunded")
    REFUNDED = "refunded", _("Refunded")


# The student may still pay: the gateway has (or may soon have) a trade under the number.
PAYABLE_COLLECTION_STATES = (CollectionStatus.CREATED, CollectionStatus.OPEN)
# The money came in (and may since be on its way back).
PAID_COLLECTION_STATES = (CollectionStatus.PAID, CollectionStatus.REFUNDING, CollectionStatus.REFUNDED)
# Nothing was paid and nothing more can be: a payment the gateway reports all the same is still
# recorded (``Collection.paid_after_close``).
SHUT_COLLECTION_STATES = (CollectionStatus.CLOSED, CollectionStatus.EXPIRED, CollectionStatus.FAILED)


class Collection(ConcurrentTransitionMixin, models.Model):
    """A payment we ask a student to make (收款), through one gateway trade.

    ``collection_no`` is our merchant order number (WeChat and Alipay ``out_trade_no``): fixed
    when the collection is recorded and sent unchanged on every call, so its trade can be paid
    only once. ``purpose`` and ``purpose_id`` name what the money is for in the calling app
    (e.g. "exchange" and the exchange's pk); a purpose may have several collections (a second QR
    code), and what a second paid one means is for the caller to decide.
    """

    collection_no = models.CharField(_("merchant order number"), max_length=32, unique=True)
    purpose = models.CharField(_("purpose"), max_length=32)
    purpose_id = models.PositiveBigIntegerField(_("for (id)"))
    student = models.ForeignKey(
        "students.Student", on_delete=models.PROTECT, related_name="collections", verbose_name=_("student")
    )
    campus = models.ForeignKey(
        "schoolops.Campus", on_delete=models.PROTECT, related_name="collections", verbose_name=_("campus")
    )
    amount = MoneyField(_("amount (CNY)"), validators=[MinValueValidator(Decimal("0.01"))])
    channel = models.CharField(_("channel"), max_length=10, choices=PaymentChannel.choices)
    mode = models.CharField(_("how the student pays"), max_length=16, choices=CollectionMode.choices)
    description = models.CharField(_("goods name shown by the gateway"), max_length=128)
    status = FSMField(
        _("status"), max_length=12, choices=CollectionStatus.choices, default=CollectionStatus.CREATED, protected=True
    )
    pay_url = models.TextField(
        _("payment link"),
        blank=True,
        help_text=_("WeChat code_url or mweb_url; Alipay qr_code or the signed mobile payment URL."),
    )
    expires_at = models.DateTimeField(_("expires at"))
    client_ip = models.GenericIPAddressField(_("payer's IP address"), null=True, blank=True)
    return_url = models.URLField(_("back to us after paying"), max_length=500, blank=True)
    open_attempts = models.PositiveSmallIntegerField(_("calls to open it"), default=0)
    gateway_trade_no = models.CharField(_("gateway trade number"), max_length=64, blank=True)
    paid_at = models.DateTimeField(_("paid at"), null=True, blank=True)
    paid_amount = MoneyField(_("amount paid (CNY)"), null=True, blank=True)
    payer_account = models.CharField(_("payer"), max_length=100, blank=True)
    paid_after_close = models.BooleanField(
        _("paid after it was closed"),
        default=False,
        help_text=_("The gateway reported the payment after we had closed or expired the collection."),
    )
    refund_no = models.CharField(
        _("merchant refund number"),
        max_length=32,
        blank=True,
        help_text=_("Fixed the first time a duplicate payment is refunded, and sent unchanged on every call."),
    )
    refund_reason = models.CharField(_("why it is refunded"), max_length=200, blank=True)
    refund_attempts = models.PositiveSmallIntegerField(_("calls to refund it"), default=0)
    gateway_refund_id = models.CharField(_("gateway refund id"), max_length=64, blank=True)
    refunded_at = models.DateTimeField(_("refunded at"), null=True, blank=True)
    error_code = models.CharField(_("last error code"), max_length=64, blank=True)
    error_message = models.TextField(_("last error"), blank=True)
    needs_check_since = models.DateTimeField(
        _("needs a manual check since"),
        null=True,
        blank=True,
        help_text=_(
            "The gateway reported something a person must look at there (an amount that is not ours, a refused refund)."
        ),
    )
    created_at = models.DateTimeField(_("created at"))
    opened_at = models.DateTimeField(_("opened at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()
    campus_lookup = "campus"

    class Meta:
        verbose_name = _("collection")
        verbose_name_plural = _("collections")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["purpose", "purpose_id"], name="collection_purpose"),
            models.Index(fields=["status", "expires_at"], name="collection_status_expiry"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="collection_amount_positive"),
            models.UniqueConstraint(
                fields=["refund_no"], condition=~Q(refund_no=""), name="collection_refund_no_unique"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=PAID_COLLECTION_STATES)
                | (Q(paid_at__isnull=False) & Q(paid_amount__isnull=False)),
                name="collection_paid_has_time_and_amount",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=(CollectionStatus.REFUNDING, CollectionStatus.REFUNDED)) | ~Q(refund_no=""),
                name="collection_refund_has_number",
            ),
        ]

    def __str__(self) -> str:
        return self.collection_no

    @property
    def is_payable(self) -> bool:
        return self.status in PAYABLE_COLLECTION_STATES

    @property
    def is_paid(self) -> bool:
        """The money came in (it may since have been refunded as a duplicate)."""
        return self.status in PAID_COLLECTION_STATES

    # Transitions. Each only moves the state; ``payments.collections`` calls them under a lock,
    # with the exchange and the event in the same transaction.

    @transition(field=status, source=CollectionStatus.CREATED, target=CollectionStatus.OPEN)
    def open(self) -> None:
        """The gateway gave us the payment link."""

    @transition(field=status, source=CollectionStatus.CREATED, target=CollectionStatus.FAILED)
    def fail_to_open(self) -> None:
        """The gateway refused to open the trade for good, and has no trade under the number."""

    @transition(
        field=status, source=[*PAYABLE_COLLECTION_STATES, *SHUT_COLLECTION_STATES], target=CollectionStatus.PAID
    )
    def pay(self) -> None:
        """A verified notification or query says the money came in (even after we closed it)."""

    @transition(field=status, source=list(PAYABLE_COLLECTION_STATES), target=CollectionStatus.CLOSED)
    def close(self) -> None:
        """Closed before its time: the gateway closed the trade, or never had one."""

    @transition(field=status, source=list(PAYABLE_COLLECTION_STATES), target=CollectionStatus.EXPIRED)
    def expire(self) -> None:
        """Past its time unpaid: the gateway closed the trade, or never had one."""

    @transition(field=status, source=CollectionStatus.PAID, target=CollectionStatus.REFUNDING)
    def start_refund(self) -> None:
        """The whole payment is being refunded over its own trade (a duplicate)."""

    @transition(field=status, source=CollectionStatus.REFUNDING, target=CollectionStatus.REFUNDED)
    def confirm_refund(self) -> None:
        """The gateway confirmed the money went back."""

    @transition(field=status, source=CollectionStatus.REFUNDING, target=CollectionStatus.PAID)
    def refund_refused(self) -> None:
        """The gateway refused or closed the refund: no money moved; a person looks."""


class CollectionExchangeKind(models.TextChoices):
    CREATE = "create", _("Open the trade")
    QUERY = "query", _("Trade query")
    CLOSE = "close", _("Close the trade")
    CALLBACK = "callback", _("Notification")
    REFUND = "refund", _("Refund call")
    REFUND_QUERY = "refund_query", _("Refund query")


class CollectionExchange(models.Model):
    """One conversation with the gateway about a collection, raw, as it happened (secrets removed)."""

    collection = models.ForeignKey(
        Collection, on_delete=models.CASCADE, related_name="exchanges", verbose_name=_("collection")
    )
    kind = models.CharField(_("kind"), max_length=12, choices=CollectionExchangeKind.choices)
    outcome = models.CharField(_("outcome"), max_length=20, blank=True)
    request_data = models.JSONField(_("sent"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    response_data = models.JSONField(_("received"), null=True, blank=True, encoder=DjangoJSONEncoder)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("at"))

    campus_lookup = "collection__campus"

    class Meta:
        verbose_name = _("collection gateway exchange")
        verbose_name_plural = _("collection gateway exchanges")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.collection} {self.kind} {self.outcome}"


class CollectionEventKind(models.TextChoices):
    PAID = "paid", _("Paid")
    CLOSED = "closed", _("Closed")
    EXPIRED = "expired", _("Expired")
    OPEN_FAILED = "open_failed", _("Could not be opened")
    REFUNDED = "refunded", _("Refunded")
    NEEDS_CHECK = "needs_check", _("Needs a check at the gateway")


class CollectionEvent(models.Model):
    """What happened to a collection, recorded in the transaction that changed it
    (``payments.collection_events``: writers run inside it, listeners after its commit)."""

    collection = models.ForeignKey(
        Collection, on_delete=models.CASCADE, related_name="events", verbose_name=_("collection")
    )
    kind = models.CharField(_("event"), max_length=12, choices=CollectionEventKind.choices)
    payload = models.JSONField(_("details"), default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(_("at"))

    campus_lookup = "collection__campus"

    class Meta:
        verbose_name = _("collection event")
        verbose_name_plural = _("collection events")
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["kind", "created_at"], name="collection_event_kind")]

    def __str__(self) -> str:
        return f"{self.collection} {self.kind}"

"""Paying approved refunds back: one ``Payout`` per refund, every exchange with the gateway kept,
and the working-day calendar that tells the student when a bank card sees it. (The voucher
written when the money has left is finance's, ``finance.models.Voucher``: finance hears of the
payout through ``payments.events``.)
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from orders.models import PaymentChannel
from schoolops.fields import MoneyField


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

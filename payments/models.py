"""Paying approved refunds back: one ``Payout`` per refund, every exchange with the gateway kept,
the finance voucher written when the money has left, and the working-day calendar that tells
the student when a bank card sees it.
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


class VoucherKind(models.TextChoices):
    REFUND = "refund", _("Refund paid")
    REVERSAL = "reversal", _("Reversal")


class VoucherImmutableError(Exception):
    """A voucher or voucher line was about to be changed or deleted: they are written once."""


def _write_once(instance: models.Model, save, *args, **kwargs) -> None:
    """Insert ``instance``; refuse any save of a row that already exists."""
    if not instance._state.adding:
        raise VoucherImmutableError(
            f"{instance._meta.label} {instance.pk} ({instance}) cannot be changed: "
            "vouchers are never edited after creation; correct one with a reversing voucher."
        )
    kwargs["force_insert"] = True  # a primary key set by hand must not turn the insert into an update
    save(*args, **kwargs)


def _refuse_delete(instance: models.Model) -> None:
    raise VoucherImmutableError(
        f"{instance._meta.label} {instance.pk} ({instance}) cannot be deleted: "
        "vouchers are kept for good; correct one with a reversing voucher."
    )


class VoucherSequence(models.Model):
    """The last voucher number used in a month: locked while a voucher is numbered, so numbers
    have no gaps and no duplicates however many payouts finish at once."""

    period = models.CharField(_("month"), max_length=7, primary_key=True)  # "2026-12"
    last_number = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("voucher sequence")
        verbose_name_plural = _("voucher sequences")

    def __str__(self) -> str:
        return f"{self.period}: {self.last_number}"


class Voucher(models.Model):
    """A finance voucher (记账凭证): never edited after creation; a correction is a reversal."""

    period = models.CharField(_("month"), max_length=7)
    number = models.PositiveIntegerField(_("number in the month"))
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=10, choices=VoucherKind.choices, default=VoucherKind.REFUND)
    summary = models.CharField(_("summary"), max_length=200)
    amount = MoneyField(_("amount (CNY)"))
    payout = models.ForeignKey(
        Payout, on_delete=models.PROTECT, null=True, blank=True, related_name="vouchers", verbose_name=_("payout")
    )
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by", verbose_name=_("reverses")
    )
    created_at = models.DateTimeField(_("created at"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
        help_text=_("Empty: written by the system when the gateway confirmed the refund."),
    )

    campus_lookup = "payout__request__campus"

    class Meta:
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        ordering = ["-period", "-number"]
        permissions = [("reverse_voucher", _("Can reverse vouchers"))]
        constraints = [
            models.UniqueConstraint(fields=["period", "number"], name="voucher_number_unique_in_month"),
            models.UniqueConstraint(
                fields=["payout"],
                condition=Q(kind="refund"),
                name="one_refund_voucher_per_payout",
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="voucher_number_positive"),
        ]

    def __str__(self) -> str:
        return self.code

    def save(self, *args, **kwargs) -> None:
        _write_once(self, super().save, *args, **kwargs)

    def delete(self, *args, **kwargs):
        _refuse_delete(self)

    @property
    def code(self) -> str:
        """The number finance writes on paper: 记-2026-12-0001."""
        return f"记-{self.period}-{self.number:04d}"


class VoucherLine(models.Model):
    """One side of a voucher: an account, debit or credit. A voucher's lines balance."""

    voucher = models.ForeignKey(Voucher, on_delete=models.PROTECT, related_name="lines", verbose_name=_("voucher"))
    position = models.PositiveSmallIntegerField(_("line"))
    account_code = models.CharField(_("account code"), max_length=20)
    account_name = models.CharField(_("account"), max_length=60)
    debit = MoneyField(_("debit (CNY)"), default=Decimal("0.00"))
    credit = MoneyField(_("credit (CNY)"), default=Decimal("0.00"))
    memo = models.CharField(_("memo"), max_length=200, blank=True)

    campus_lookup = "voucher__payout__request__campus"

    class Meta:
        verbose_name = _("voucher line")
        verbose_name_plural = _("voucher lines")
        ordering = ["voucher", "position"]
        constraints = [
            models.UniqueConstraint(fields=["voucher", "position"], name="voucher_line_position_unique"),
            models.CheckConstraint(
                condition=(Q(debit=0) & ~Q(credit=0)) | (Q(credit=0) & ~Q(debit=0)),
                name="voucher_line_one_side",
            ),
            models.CheckConstraint(condition=Q(debit__gte=0) & Q(credit__gte=0), name="voucher_line_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.voucher} {self.position} {self.account_name}"

    def save(self, *args, **kwargs) -> None:
        _write_once(self, super().save, *args, **kwargs)

    def delete(self, *args, **kwargs):
        _refuse_delete(self)


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

"""Finance's own records: the vouchers of the money paid back, exports prepared in the background,
reconciliation runs against the gateways' statements, e-receipts and the paper copies students
ask for.

Payouts live in ``payments``; this app reads them and never changes them. A voucher is written
when payments reports a payout succeeded (``finance.vouchers``, a ``payments.events`` writer).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import PurePath
from typing import Any, NoReturn

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.models import PaymentChannel
from payments.gateways.registry import statement_kind_choices
from schoolops.fields import MoneyField


def _private_name(folder: str, filename: str) -> str:
    """A random stored name under ``folder/YYYY/MM``: uploaders' file names are not kept on disk."""
    return f"{folder}/{timezone.now():%Y/%m}/{uuid.uuid4().hex}{PurePath(filename).suffix.lower()[:8]}"


def export_upload_to(instance: ExportJob, filename: str) -> str:
    return _private_name("exports", filename)


def statement_upload_to(instance: ReconciliationRun, filename: str) -> str:
    return _private_name("statements", filename)


def receipt_upload_to(instance: Receipt, filename: str) -> str:
    return _private_name("receipts", filename)


# --- Vouchers ------------------------------------------------------------------------------------
# Moved from payments with their tables (payments_voucher, payments_voucherline,
# payments_vouchersequence): finance/migrations/0003 and payments/migrations/0006 move the state only.


class VoucherKind(models.TextChoices):
    REFUND = "refund", _("Refund paid")
    EXCHANGE = "exchange", _("Course exchange")
    REVERSAL = "reversal", _("Reversal")


class VoucherImmutableError(Exception):
    """A voucher or voucher line was about to be changed or deleted: they are written once."""


def _write_once(instance: models.Model, save: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """Insert ``instance``; refuse any save of a row that already exists."""
    if not instance._state.adding:
        raise VoucherImmutableError(
            f"{instance._meta.label} {instance.pk} ({instance}) cannot be changed: "
            "vouchers are never edited after creation; correct one with a reversing voucher."
        )
    kwargs["force_insert"] = True  # a primary key set by hand must not turn the insert into an update
    save(*args, **kwargs)


def _refuse_delete(instance: models.Model) -> NoReturn:
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
        db_table = "payments_vouchersequence"  # the table it had in payments (moved, not copied)
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
        "payments.Payout",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="vouchers",
        verbose_name=_("payout"),
    )
    # The request the voucher books: a refund's payout, or a course exchange (which may move no money).
    request = models.ForeignKey(
        "refunds.RefundRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="vouchers",
        verbose_name=_("request"),
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

    campus_lookup = "request__campus"

    class Meta:
        db_table = "payments_voucher"  # the table it had in payments (moved, not copied)
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
            models.UniqueConstraint(
                fields=["request"],
                condition=Q(kind="exchange"),
                name="one_exchange_voucher_per_request",
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="voucher_number_positive"),
        ]

    def __str__(self) -> str:
        return self.code

    def save(self, *args: Any, **kwargs: Any) -> None:
        _write_once(self, super().save, *args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
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

    campus_lookup = "voucher__request__campus"

    class Meta:
        db_table = "payments_voucherline"  # the table it had in payments (moved, not copied)
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

    def save(self, *args: Any, **kwargs: Any) -> None:
        _write_once(self, super().save, *args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        _refuse_delete(self)


# --- Exports -------------------------------------------------------------------------------------


class ExportReport(models.TextChoices):
    LEDGER = "ledger", _("Refund ledger")
    VOUCHERS = "vouchers", _("Voucher journal")
    SUMMARY = "summary", _("Monthly summary")
    RECONCILIATION = "reconciliation", _("Reconciliation run")


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "Excel XLSX"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Being prepared")
    DONE = "done", _("Ready")
    FAILED = "failed", _("Failed")


class ExportJob(models.Model):
    """An export too large to stream while the browser waits: prepared by a worker, then offered
    for download to the person who asked for it (and to nobody else)."""

    report = models.CharField(_("report"), max_length=20, choices=ExportReport.choices)
    format = models.CharField(_("format"), max_length=5, choices=ExportFormat.choices)
    filters = models.JSONField(_("filters"), default=dict, encoder=DjangoJSONEncoder)
    description = models.CharField(_("what"), max_length=300, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    status = models.CharField(_("status"), max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED)
    file = models.FileField(_("file"), upload_to=export_upload_to, max_length=200, blank=True)
    file_name = models.CharField(_("file name"), max_length=120, blank=True)
    row_count = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("asked for at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at", "-pk"]
        permissions = [("export_reports", _("Can export finance reports"))]
        indexes = [models.Index(fields=["requested_by", "-created_at"])]

    def __str__(self) -> str:
        return self.file_name or f"{self.get_report_display()} #{self.pk}"


# --- Reconciliation ------------------------------------------------------------------------------


class ReconciliationRun(models.Model):
    """One gateway statement checked against our payouts: saved with every row's result."""

    # The gateways name their statements (``RefundGateway.statement``): a new one needs no migration.
    kind = models.CharField(_("statement"), max_length=20, choices=statement_kind_choices)
    channel = models.CharField(_("channel"), max_length=10, choices=PaymentChannel.choices)
    period_start = models.DateField(_("statement from"))
    period_end = models.DateField(_("statement to"))
    source_name = models.CharField(_("file uploaded"), max_length=200)
    source_file = models.FileField(_("statement file"), upload_to=statement_upload_to, max_length=200)
    sha256 = models.CharField(_("SHA-256 of the file"), max_length=64)
    statement_rows = models.PositiveIntegerField(_("refund rows on the statement"), default=0)
    statement_total = MoneyField(_("refunds on the statement (CNY)"), default=0)
    our_total = MoneyField(_("our payouts in the period (CNY)"), default=0)
    matched = models.PositiveIntegerField(_("matched"), default=0)
    amount_mismatches = models.PositiveIntegerField(_("amount mismatches"), default=0)
    not_ours = models.PositiveIntegerField(_("on the statement, not ours"), default=0)
    missing = models.PositiveIntegerField(_("ours, not on the statement"), default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("uploaded by")
    )
    created_at = models.DateTimeField(_("run at"), default=timezone.now)

    class Meta:
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")
        ordering = ["-created_at", "-pk"]
        permissions = [("reconcile_statement", _("Can reconcile gateway statements"))]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.period_start}–{self.period_end}"

    @property
    def has_problems(self) -> bool:
        return bool(self.amount_mismatches or self.not_ours or self.missing)


class LineResult(models.TextChoices):
    MATCHED = "matched", _("Matched")
    AMOUNT_MISMATCH = "amount_mismatch", _("Amount mismatch")
    NOT_OURS = "not_ours", _("On the statement, not ours")
    MISSING = "missing", _("Ours, not on the statement")


class ReconciliationLine(models.Model):
    """One result of a run: a statement row, or a payout of ours the statement lacks."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="lines", verbose_name=_("run"))
    result = models.CharField(_("result"), max_length=20, choices=LineResult.choices)
    payout = models.ForeignKey(
        "payments.Payout", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("payout")
    )
    payout_no = models.CharField(_("merchant refund number"), max_length=64, blank=True)
    gateway_refund_id = models.CharField(_("gateway refund id"), max_length=64, blank=True)
    statement_amount = MoneyField(_("amount on the statement (CNY)"), null=True, blank=True)
    our_amount = MoneyField(_("our amount (CNY)"), null=True, blank=True)
    statement_time = models.DateTimeField(_("time on the statement"), null=True, blank=True)
    line_number = models.PositiveIntegerField(_("line in the file"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)
    raw = models.JSONField(_("row as in the file"), default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        verbose_name = _("reconciliation line")
        verbose_name_plural = _("reconciliation lines")
        ordering = ["run", "line_number", "pk"]
        indexes = [models.Index(fields=["run", "result"])]

    def __str__(self) -> str:
        return f"{self.payout_no} {self.get_result_display()}"


# --- E-receipts ----------------------------------------------------------------------------------


class Receipt(models.Model):
    """The e-receipt (电子凭证) of a refunded request: numbered once, its PDF kept as issued."""

    request = models.OneToOneField(
        "refunds.RefundRequest", on_delete=models.PROTECT, related_name="receipt", verbose_name=_("refund request")
    )
    payout = models.OneToOneField(
        "payments.Payout", on_delete=models.PROTECT, related_name="receipt", verbose_name=_("payout")
    )
    number = models.CharField(_("receipt number"), max_length=32, unique=True)
    file = models.FileField(_("PDF"), upload_to=receipt_upload_to, max_length=200)
    sha256 = models.CharField(_("SHA-256 of the PDF"), max_length=64)
    issued_at = models.DateTimeField(_("issued at"))

    campus_lookup = "request__campus"

    class Meta:
        verbose_name = _("e-receipt")
        verbose_name_plural = _("e-receipts")
        ordering = ["-issued_at", "-pk"]

    def __str__(self) -> str:
        return self.number


class PaperCopyStatus(models.TextChoices):
    REQUESTED = "requested", _("Waiting for finance to mail it")
    MAILED = "mailed", _("Mailed")
    CANCELLED = "cancelled", _("Cancelled")


class PaperCopyRequest(models.Model):
    """A student's request for a stamped paper copy of her e-receipt: a task for finance."""

    receipt = models.ForeignKey(
        Receipt, on_delete=models.PROTECT, related_name="paper_copies", verbose_name=_("e-receipt")
    )
    recipient = models.CharField(_("recipient"), max_length=50)
    phone = models.CharField(_("phone"), max_length=20)
    address = models.CharField(_("mailing address"), max_length=300)
    note = models.CharField(_("note for finance"), max_length=300, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=PaperCopyStatus.choices, default=PaperCopyStatus.REQUESTED
    )
    requested_at = models.DateTimeField(_("asked for at"), default=timezone.now)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("handled by"),
    )
    handled_at = models.DateTimeField(_("handled at"), null=True, blank=True)
    carrier = models.CharField(_("carrier"), max_length=40, blank=True)
    tracking_no = models.CharField(_("tracking number"), max_length=64, blank=True)
    finance_note = models.CharField(_("finance's note"), max_length=300, blank=True)

    campus_lookup = "receipt__request__campus"

    class Meta:
        verbose_name = _("paper receipt request")
        verbose_name_plural = _("paper receipt requests")
        ordering = ["status", "requested_at", "pk"]
        permissions = [("handle_paper_copy", _("Can mail stamped paper receipts"))]
        constraints = [
            models.UniqueConstraint(
                fields=["receipt"],
                condition=Q(status="requested"),
                name="one_open_paper_copy_per_receipt",
                violation_error_message=_("A paper copy of this receipt is already waiting for finance."),
            ),
            models.CheckConstraint(
                condition=~Q(status="mailed") | ~Q(tracking_no=""),
                name="mailed_paper_copy_has_tracking_no",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.receipt} → {self.recipient}"

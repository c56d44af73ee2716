"""The refund request: its states, its route's tiers, the django-fsm transitions, its evidence."""

from __future__ import annotations

import datetime
import uuid
from pathlib import PurePath
from typing import TYPE_CHECKING

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, FSMField, transition
from simple_history.models import HistoricalRecords

from schoolops.fields import MoneyField

from .policies import RefundReason
from .quotes import QuoteSnapshot

if TYPE_CHECKING:
    # django-stubs types a model built on django-fsm's model mixin as Any (the mixin is a Model outside
    # any app); the mixin only guards save() against concurrent transitions, nothing the checker reads.
    class ConcurrentTransitionMixin:
        """Stands in for ``django_fsm.ConcurrentTransitionMixin`` when type checking."""

else:
    from django_fsm import ConcurrentTransitionMixin


class RequestKind(models.TextChoices):
    """What the student asks for on an order (seed 004's after-sale outcomes)."""

    REFUND = "refund", _("Refund")
    EXCHANGE = "exchange", _("Course exchange")


class RefundStatus(models.TextChoices):
    PENDING_SERVICE = "pending_service", _("Waiting for customer service")
    PENDING_HOMEROOM = "pending_homeroom", _("Waiting for the homeroom teacher")
    PENDING_QUALITY = "pending_quality", _("Waiting for quality review")
    PENDING_SUPERVISOR = "pending_supervisor", _("Waiting for the teaching supervisor")
    PENDING_CAMPUS_HEAD = "pending_campus_head", _("Waiting for the campus head")
    PENDING_FINANCE = "pending_finance", _("Waiting for finance")
    NEEDS_INFO = "needs_info", _("Waiting for more information")
    APPROVED = "approved", _("Approved")
    PAYING = "paying", _("Refunding")
    PAYOUT_FAILED = "payout_failed", _("Refund failed")
    REFUNDED = "refunded", _("Refunded")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")
    CLOSED = "closed", _("Closed, nothing to refund")


PENDING_STATES = (
    RefundStatus.PENDING_SERVICE,
    RefundStatus.PENDING_HOMEROOM,
    RefundStatus.PENDING_QUALITY,
    RefundStatus.PENDING_SUPERVISOR,
    RefundStatus.PENDING_CAMPUS_HEAD,
    RefundStatus.PENDING_FINANCE,
)
# A request in one of these states still holds its order: no second request may be opened.
CLOSED_STATES = (RefundStatus.REFUNDED, RefundStatus.REJECTED, RefundStatus.CANCELLED, RefundStatus.CLOSED)
OPEN_STATES = tuple(s for s in RefundStatus if s not in CLOSED_STATES)
# Money on its way back: counted as "in flight" by quotes of the same order.
MONEY_STATES = (RefundStatus.APPROVED, RefundStatus.PAYING, RefundStatus.PAYOUT_FAILED)


class ApprovalTier(models.TextChoices):
    SERVICE = "service", _("Customer service review")
    HOMEROOM = "homeroom", _("Homeroom teacher review")
    AUTO = "auto", _("Automatic check")
    QUALITY = "quality", _("Quality review")
    SUPERVISOR = "supervisor", _("Teaching supervisor review")
    CAMPUS_HEAD = "campus_head", _("Campus head approval")
    FINANCE = "finance", _("Finance approval")


TIER_STATUS: dict[str, RefundStatus] = {
    ApprovalTier.SERVICE: RefundStatus.PENDING_SERVICE,
    ApprovalTier.HOMEROOM: RefundStatus.PENDING_HOMEROOM,
    ApprovalTier.QUALITY: RefundStatus.PENDING_QUALITY,
    ApprovalTier.SUPERVISOR: RefundStatus.PENDING_SUPERVISOR,
    ApprovalTier.CAMPUS_HEAD: RefundStatus.PENDING_CAMPUS_HEAD,
    ApprovalTier.FINANCE: RefundStatus.PENDING_FINANCE,
}


class ConsentChannel(models.TextChoices):
    """How a student agreed to customer service filing a refund request for her."""

    PHONE = "phone", _("On the phone")
    WECHAT = "wechat", _("On WeChat")
    WALK_IN = "walk_in", _("In person")
    WRITTEN = "written", _("In writing (e-mail, letter)")


class RefundRequest(ConcurrentTransitionMixin, models.Model):
    """A student's request to get money back on one order, from submission to the last cent.

    ``status`` changes only through the transitions below, called by ``refunds.services``.
    """

    request_no = models.CharField(_("request number"), max_length=24, unique=True)
    kind = models.CharField(
        _("kind"),
        max_length=10,
        choices=RequestKind.choices,
        default=RequestKind.REFUND,
        help_text=_("A refund, or a course exchange (its details in the exchange)."),
    )
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="refund_requests", verbose_name=_("order")
    )
    student = models.ForeignKey(
        "students.Student", on_delete=models.PROTECT, related_name="refund_requests", verbose_name=_("student")
    )
    campus = models.ForeignKey(
        "schoolops.Campus", on_delete=models.PROTECT, related_name="refund_requests", verbose_name=_("campus")
    )
    status = FSMField(
        _("status"), max_length=24, choices=RefundStatus.choices, default=RefundStatus.PENDING_HOMEROOM, protected=True
    )
    reason = models.CharField(_("reason"), max_length=20, choices=RefundReason.choices)
    details = models.TextField(_("details"), blank=True)
    quote = models.ForeignKey(
        QuoteSnapshot, on_delete=models.PROTECT, related_name="refund_requests", verbose_name=_("quote")
    )
    requested_amount = MoneyField(_("requested amount (CNY)"))
    approved_amount = MoneyField(
        _("amount to refund (CNY)"), help_text=_("The quote's total unless an approver adjusted it.")
    )
    amount_confirmed = models.BooleanField(
        _("amount set by an approver"),
        default=False,
        help_text=_("Contract courses: an approver must set the amount before the last approval."),
    )
    route = models.JSONField(_("approval route"), default=list, help_text=_("The tiers, in order."))
    route_position = models.PositiveSmallIntegerField(_("current tier (position in the route)"), default=0)
    returned_tier = models.CharField(_("returned by tier"), max_length=20, choices=ApprovalTier.choices, blank=True)
    rejected_tier = models.CharField(_("rejected at tier"), max_length=20, choices=ApprovalTier.choices, blank=True)
    appealed_at = models.DateTimeField(_("appealed at"), null=True, blank=True)
    appeal_reason = models.TextField(_("appeal reason"), blank=True)
    risk_flags = models.JSONField(
        _("risk flags"), default=list, blank=True, help_text=_("Why a person must review this request.")
    )
    submitted_at = models.DateTimeField(_("submitted at"))
    # Filed by customer service on the student's behalf (the refund desk), with her consent.
    filed_by = models.ForeignKey(
        "schoolops.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("filed on the student's behalf by"),
    )
    consent_channel = models.CharField(
        _("the student consented"), max_length=10, choices=ConsentChannel.choices, blank=True
    )
    consent_at = models.DateTimeField(_("consent given at"), null=True, blank=True)
    consent_note = models.CharField(
        _("consent record"), max_length=300, blank=True, help_text=_("e.g. the call recording's number, her words.")
    )
    # Where a refund paid by hand goes (an order paid by bank card or offline): the account she
    # named when applying (refunds.payee), copied onto the payout.
    payee_name = models.CharField(_("account holder"), max_length=60, blank=True)
    payee_bank = models.CharField(_("payee bank"), max_length=60, blank=True)
    payee_branch = models.CharField(_("payee bank branch"), max_length=100, blank=True)
    payee_account_no = models.CharField(_("payee card or account number"), max_length=34, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()
    campus_lookup = "campus"

    class Meta:
        verbose_name = _("refund request")
        verbose_name_plural = _("refund requests")
        ordering = ["-submitted_at"]
        indexes = [
            models.Index(fields=["status", "submitted_at"]),
            models.Index(fields=["student", "-submitted_at"]),
            # The admin's lists: a campus's requests newest first, and its filters.
            models.Index(fields=["campus", "-submitted_at"], name="refund_campus_submitted"),
            models.Index(fields=["campus", "status", "approved_amount"], name="refund_campus_status_amount"),
            models.Index(fields=["campus", "reason", "-submitted_at"], name="refund_campus_reason"),
            # Head office sees every campus: newest first, and by reason.
            models.Index(fields=["-submitted_at", "-id"], name="refund_submitted_newest"),
            models.Index(fields=["reason", "-submitted_at"], name="refund_reason_newest"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["order"],
                condition=~Q(status__in=CLOSED_STATES),
                name="one_open_refund_per_order",
                violation_error_message=_("This order already has a refund request in progress."),
            ),
            models.CheckConstraint(condition=Q(requested_amount__gte=0), name="refund_requested_not_negative"),
            models.CheckConstraint(condition=Q(approved_amount__gte=0), name="refund_approved_not_negative"),
            models.CheckConstraint(
                condition=Q(filed_by__isnull=True) | (~Q(consent_channel="") & Q(consent_at__isnull=False)),
                name="refund_filed_for_student_with_consent",
                violation_error_message=_("A request filed for a student needs her consent: how and when."),
            ),
        ]

    def __str__(self) -> str:
        return self.request_no

    @property
    def current_tier(self) -> str | None:
        if self.status not in PENDING_STATES:
            return None
        return self.route[self.route_position] if self.route_position < len(self.route) else None

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED_STATES

    def appeal_deadline(self, *, appeal_days: int) -> datetime.datetime | None:
        """Until when this rejection may be appealed (the campus's ``appeal_days`` after the decision);
        None when it is not rejected or was appealed already."""
        if self.status != RefundStatus.REJECTED or self.appealed_at is not None or self.decided_at is None:
            return None
        return self.decided_at + datetime.timedelta(days=appeal_days)

    # Transitions. Each only moves the state; the service around it checks who may act,
    # records the step, the log row and the event in the same transaction.

    @transition(field=status, source=list(PENDING_STATES), target=RETURN_VALUE(*PENDING_STATES, RefundStatus.APPROVED))
    def advance(self, target: str) -> str:
        """Approve the current tier: on to ``target`` (the next tier's state, or approved)."""
        return target

    @transition(field=status, source=list(PENDING_STATES), target=RefundStatus.REJECTED)
    def reject(self) -> None:
        """Refuse the request at the current tier."""

    @transition(field=status, source=list(PENDING_STATES), target=RefundStatus.NEEDS_INFO)
    def return_for_info(self) -> None:
        """Send the request back to the student for what is missing."""

    @transition(field=status, source=RefundStatus.NEEDS_INFO, target=RETURN_VALUE(*PENDING_STATES))
    def resubmit(self, target: str) -> str:
        """The student supplied what was missing: back to the tier that asked."""
        return target

    @transition(field=status, source=[*PENDING_STATES, RefundStatus.NEEDS_INFO], target=RefundStatus.CANCELLED)
    def cancel(self) -> None:
        """The student withdraws the request, or it expired waiting for information."""

    @transition(field=status, source=RefundStatus.REJECTED, target=RETURN_VALUE(*PENDING_STATES))
    def appeal(self, target: str) -> str:
        """The student appeals a rejection: to the tier above the one that rejected."""
        return target

    # Payout transitions, called by ``payments.services`` when the money moves.

    @transition(field=status, source=[RefundStatus.APPROVED, RefundStatus.PAYOUT_FAILED], target=RefundStatus.PAYING)
    def start_payout(self) -> None:
        """A payout was handed to the gateway (or finance is recording a transfer)."""

    @transition(field=status, source=RefundStatus.PAYING, target=RefundStatus.REFUNDED)
    def confirm_payout(self) -> None:
        """The gateway confirmed the money left: only a verified callback or query gets here."""

    @transition(field=status, source=RefundStatus.PAYING, target=RefundStatus.PAYOUT_FAILED)
    def fail_payout(self) -> None:
        """The gateway refused the refund for good: finance decides what happens next."""

    @transition(field=status, source=[RefundStatus.APPROVED, RefundStatus.PAYOUT_FAILED], target=RefundStatus.CLOSED)
    def close_without_payout(self) -> None:
        """Nothing is to be paid: approved at 0.00, or finance closes a refund the order no longer owes."""


def evidence_upload_to(instance: RefundEvidence, filename: str) -> str:
    """A random name under evidence/: the student's file name is kept in the row, never on disk."""
    suffix = PurePath(filename).suffix.lower()[:8]
    return f"evidence/{timezone.now():%Y/%m}/{uuid.uuid4().hex}{suffix}"


class RefundEvidence(models.Model):
    """A file the student gave as proof: PDF, JPEG or PNG, checked by content."""

    request = models.ForeignKey(RefundRequest, on_delete=models.CASCADE, related_name="evidence")
    file = models.FileField(_("file"), upload_to=evidence_upload_to, max_length=200)
    original_name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("type"), max_length=40)
    size = models.PositiveIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    for_appeal = models.BooleanField(
        _("appeal evidence"), default=False, help_text=_("Uploaded with the student's appeal of a rejection.")
    )

    campus_lookup = "request__campus"

    class Meta:
        verbose_name = _("evidence")
        verbose_name_plural = _("evidence")
        ordering = ["uploaded_at", "pk"]

    def __str__(self) -> str:
        return self.original_name

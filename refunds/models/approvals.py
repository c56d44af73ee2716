"""The approval side of a request: each campus's routing settings, the steps put in front of
approvers, and the approval queue (a proxy of the request)."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from schoolops.fields import MoneyField

from .fields import PercentField
from .policies import PERCENT_VALIDATORS
from .requests import TIER_STATUS, ApprovalTier, RefundRequest


class ApprovalSettings(models.Model):
    """How refunds of one campus are routed: thresholds, limits, deadlines. Defaults from the SOP."""

    campus = models.OneToOneField(
        "schoolops.Campus", on_delete=models.CASCADE, related_name="approval_settings", verbose_name=_("campus")
    )
    small_below = MoneyField(
        _("small refunds below (CNY)"),
        default=Decimal("500.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Below this: homeroom teacher, then the automatic check, then finance pays."),
    )
    large_above = MoneyField(
        _("large refunds above (CNY)"),
        default=Decimal("2000.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Above this the campus head approves too. In between: homeroom, supervisor, finance."),
    )
    service_limit = MoneyField(
        _("customer service may approve up to (CNY)"),
        default=Decimal("200.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Customer service may approve a request directly when its amount is not above this."),
    )
    auto_max_progress = PercentField(
        _("automatic check: progress at most (%)"),
        default=Decimal("30.00"),
        validators=PERCENT_VALIDATORS,
    )
    auto_max_recent_refunds = models.PositiveSmallIntegerField(
        _("automatic check: earlier refunds in 12 months at most"), default=1
    )
    risk_refunds_per_year = models.PositiveSmallIntegerField(
        _("repeated refunds: more than this many in 12 months"),
        default=3,
        help_text=_("A student with more refunds than this in 12 months is always reviewed by a person."),
    )
    appeal_days = models.PositiveSmallIntegerField(_("days to appeal a rejection"), default=7)
    needs_info_days = models.PositiveSmallIntegerField(
        _("days to supply missing information"),
        default=14,
        help_text=_("A request still waiting for information after this many days is cancelled."),
    )
    exchange_head_above = MoneyField(
        _("course exchanges: campus head approves differences above (CNY)"),
        default=Decimal("2000.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_(
            "A course exchange is reviewed by customer service, then approved by the teaching supervisor; "
            "when the difference to refund or to pay is above this, the campus head approves too."
        ),
    )
    sla_service_hours = models.PositiveSmallIntegerField(_("customer service: hours to review"), default=24)
    sla_homeroom_hours = models.PositiveSmallIntegerField(_("homeroom teacher: hours to decide"), default=24)
    sla_quality_hours = models.PositiveSmallIntegerField(_("quality review: hours to decide"), default=24)
    sla_supervisor_hours = models.PositiveSmallIntegerField(_("teaching supervisor: hours to decide"), default=24)
    sla_campus_head_hours = models.PositiveSmallIntegerField(_("campus head: hours to decide"), default=24)
    sla_finance_hours = models.PositiveSmallIntegerField(_("finance: hours to decide"), default=24)

    history = HistoricalRecords()
    campus_lookup = "campus"

    class Meta:
        verbose_name = _("approval settings")
        verbose_name_plural = _("approval settings")
        constraints = [
            models.CheckConstraint(
                condition=Q(large_above__gte=F("small_below")),
                name="approval_thresholds_ordered",
                violation_error_message=_("The large threshold cannot be below the small one."),
            ),
            models.CheckConstraint(condition=Q(sla_service_hours__gte=1), name="approval_sla_service_positive"),
            models.CheckConstraint(condition=Q(sla_homeroom_hours__gte=1), name="approval_sla_homeroom_positive"),
            models.CheckConstraint(condition=Q(sla_quality_hours__gte=1), name="approval_sla_quality_positive"),
            models.CheckConstraint(condition=Q(sla_supervisor_hours__gte=1), name="approval_sla_supervisor_positive"),
            models.CheckConstraint(condition=Q(sla_campus_head_hours__gte=1), name="approval_sla_campus_head_positive"),
            models.CheckConstraint(condition=Q(sla_finance_hours__gte=1), name="approval_sla_finance_positive"),
        ]

    def __str__(self) -> str:
        return str(self.campus)

    def clean(self) -> None:
        if self.large_above is not None and self.small_below is not None and self.large_above < self.small_below:
            raise ValidationError({"large_above": _("The large threshold cannot be below the small one.")})
        for tier in TIER_STATUS:
            if getattr(self, f"sla_{tier}_hours", 1) < 1:
                raise ValidationError({f"sla_{tier}_hours": _("Give at least one hour.")})

    def sla_hours(self, tier: str) -> int:
        return getattr(self, f"sla_{tier}_hours")


class ApprovalQueueItem(RefundRequest):
    """The approval queue (待我审批) in the admin: the same requests, listed per approver."""

    class Meta:
        proxy = True
        verbose_name = _("request awaiting my approval")
        verbose_name_plural = _("awaiting my approval")


class StepDecision(models.TextChoices):
    PENDING = "pending", _("Waiting")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    RETURNED = "returned", _("Returned for information")
    CANCELLED = "cancelled", _("Closed: the student cancelled")
    AUTO_PASSED = "auto_passed", _("Passed the automatic check")
    AUTO_REFERRED = "auto_referred", _("Referred to a person by the automatic check")
    SKIPPED = "skipped", _("Not needed: approved by customer service")


class ApprovalStep(models.Model):
    """One tier of one request's route, each time it is put in front of someone."""

    request = models.ForeignKey(RefundRequest, on_delete=models.CASCADE, related_name="steps")
    tier = models.CharField(_("tier"), max_length=20, choices=ApprovalTier.choices)
    assignee = models.ForeignKey(
        "schoolops.Staff",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_steps",
        verbose_name=_("assigned to"),
        help_text=_("Empty: anyone of the tier's role at the campus (finance, quality review)."),
    )
    decision = models.CharField(
        _("decision"), max_length=16, choices=StepDecision.choices, default=StepDecision.PENDING
    )
    decided_by = models.ForeignKey(
        "schoolops.Staff",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="decided_steps",
        verbose_name=_("decided by"),
    )
    delegate_used = models.BooleanField(_("decided by a delegate"), default=False)
    comment = models.TextField(_("comment"), blank=True)
    created_at = models.DateTimeField(_("in front of the approver since"))
    due_at = models.DateTimeField(_("due at"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated at"), null=True, blank=True)
    escalated_to = models.ForeignKey(
        "schoolops.Staff",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="escalated_steps",
        verbose_name=_("escalated to"),
    )

    campus_lookup = "request__campus"

    class Meta:
        verbose_name = _("approval step")
        verbose_name_plural = _("approval steps")
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(fields=["decision", "due_at"]),
            models.Index(fields=["assignee", "decision"]),
            models.Index(fields=["escalated_to", "decision"]),
            # The approval queue: pool tiers waiting for anyone of the role.
            models.Index(
                fields=["tier"],
                condition=Q(decision="pending", assignee__isnull=True),
                name="approvalstep_pending_pool",
            ),
            # The analytics facts of a day: the steps decided that day.
            models.Index(fields=["decided_at"], condition=Q(decided_at__isnull=False), name="approvalstep_decided_at"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["request"],
                condition=Q(decision="pending"),
                name="one_pending_step_per_request",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request} · {self.get_tier_display()}"

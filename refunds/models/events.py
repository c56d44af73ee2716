"""What happened to a request: the audit log of its transitions and the domain events that
``refunds.events`` records for the listeners (notifications, payments, finance)."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _

from .requests import RefundRequest, RefundStatus

# The actions of the audit log, as staff read them (``RefundTransition.name`` keeps the code).
TRANSITION_LABELS = {
    "submit": _("Submitted"),
    "approve": _("Approved"),
    "approve_directly": _("Approved directly by customer service"),
    "reject": _("Rejected"),
    "return": _("Returned for information"),
    "auto_return": _("Returned by the automatic check"),
    "resubmit": _("Information supplied"),
    "cancel": _("Withdrawn by the student"),
    "appeal": _("Appealed"),
    "escalate": _("Escalated"),
    "adjust_amount": _("Amount adjusted"),
    "expire": _("Closed: no information before the deadline"),
    "close": _("Closed with nothing to refund"),
    "start_payout": _("Payout started"),
    "confirm_payout": _("Money returned"),
    "fail_payout": _("Payout failed"),
}


class RefundTransition(models.Model):
    """The audit log: every change of a request, who made it, and why. Written with the change."""

    request = models.ForeignKey(RefundRequest, on_delete=models.CASCADE, related_name="transitions")
    name = models.CharField(_("action"), max_length=30)
    actor = models.ForeignKey(
        "schoolops.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
        help_text=_("Empty: the system (automatic check, deadlines)."),
    )
    from_status = models.CharField(_("from"), max_length=24, choices=RefundStatus.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=24, choices=RefundStatus.choices)
    comment = models.TextField(_("comment"), blank=True)
    created_at = models.DateTimeField(_("at"))

    campus_lookup = "request__campus"

    class Meta:
        verbose_name = _("refund transition")
        verbose_name_plural = _("refund transitions")
        ordering = ["created_at", "pk"]
        indexes = [
            # The analytics facts of a day: the decisions and refunds taken that day.
            models.Index(fields=["to_status", "created_at"], name="refundtransition_to_at"),
        ]

    def __str__(self) -> str:
        return f"{self.request} {self.from_status or '-'} → {self.to_status}"

    @property
    def label(self) -> str:
        """The action in words (the code itself for one without a label)."""
        return str(TRANSITION_LABELS.get(self.name, self.name))


class RefundEventKind(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    ASSIGNED = "assigned", _("Assigned to an approver")
    ADVANCED = "advanced", _("Passed a review step, on to the next")
    ESCALATED = "escalated", _("Escalated")
    RETURNED = "returned", _("Returned for information")
    RESUBMITTED = "resubmitted", _("Information supplied")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")
    APPEALED = "appealed", _("Appealed")
    AMOUNT_ADJUSTED = "amount_adjusted", _("Amount adjusted")
    PAYOUT_SUCCEEDED = "payout_succeeded", _("Money returned")
    PAYOUT_FAILED = "payout_failed", _("Refund payment failed")
    PAYOUT_NEEDS_CHECK = "payout_needs_check", _("Refund payment needs a check at the gateway")
    CLOSED = "closed", _("Closed with nothing to refund")


class RefundEvent(models.Model):
    """A domain event, recorded in the transaction that caused it, for notifications to deliver."""

    request = models.ForeignKey(RefundRequest, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("event"), max_length=20, choices=RefundEventKind.choices)
    actor = models.ForeignKey(
        "schoolops.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("by")
    )
    payload = models.JSONField(_("details"), default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(_("at"))
    handled_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    campus_lookup = "request__campus"

    class Meta:
        verbose_name = _("refund event")
        verbose_name_plural = _("refund events")
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["handled_at", "created_at"])]

    def __str__(self) -> str:
        return f"{self.request} {self.kind}"

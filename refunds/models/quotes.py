"""Quote snapshots: a quote as it was computed, written once and never changed, so a refund
request (and the student) can rely on it whatever later happens to the policy."""

from __future__ import annotations

from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from schoolops.fields import MoneyField

from .fields import PercentField
from .policies import ConsumptionBasis, RefundPolicy, RefundReason


class QuoteMethod(models.TextChoices):
    COOLING_OFF = "cooling_off", _("Cooling-off full refund")
    SPECIAL_RULE = "special_rule", _("Special circumstances rule")
    RULES = "rules", _("Consumption and time rules")
    CONTRACT = "contract", _("By contract")


class QuoteLineKind(models.TextChoices):
    PAID = "paid", _("Amount paid")
    COOLING_OFF = "cooling_off", _("Cooling-off full refund")
    CONSUMPTION = "consumption", _("Consumed lessons deduction")
    SPECIAL_RULE = "special_rule", _("Special circumstances deduction")
    TIME_TIER = "time_tier", _("Time tier deduction")
    HANDLING_FEE = "handling_fee", _("Handling fee")
    MATERIALS = "materials", _("Materials fee")
    REFUNDED = "refunded", _("Already refunded")
    IN_FLIGHT = "in_flight", _("Refund in progress")
    FLOOR = "floor", _("Raised to zero")
    CAP = "cap", _("Refundable limit")
    CONTRACT = "contract", _("Set by the approver under the contract")


class QuoteSnapshot(models.Model):
    """A quote as it was computed: written once, never changed, so a refund request can rely on it."""

    campus_lookup = "order__course__campus"  # path to the campus, for staff scoping

    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="quote_snapshots", verbose_name=_("order")
    )
    policy = models.ForeignKey(
        RefundPolicy, on_delete=models.PROTECT, related_name="quote_snapshots", verbose_name=_("policy")
    )
    policy_version = models.PositiveIntegerField(_("policy version"))
    policy_name = models.CharField(_("policy name"), max_length=120)
    policy_terms = models.JSONField(_("policy terms used"), encoder=DjangoJSONEncoder)
    reason = models.CharField(_("reason"), max_length=20, choices=RefundReason.choices)
    method = models.CharField(_("method"), max_length=20, choices=QuoteMethod.choices)
    total = MoneyField(_("refundable amount (CNY)"))
    refundable = MoneyField(_("still refundable on the order (CNY)"), help_text=_("Paid − refunded − in flight."))
    needs_approver_amount = models.BooleanField(_("approver sets the amount"), default=False)
    is_estimate = models.BooleanField(_("what-if estimate"), default=False)
    evidence_required = models.TextField(_("evidence required"), blank=True)
    quoted_at = models.DateTimeField(_("quoted for"))
    day_from_purchase = models.PositiveIntegerField(_("day since purchase"))
    day_from_start = models.PositiveIntegerField(_("day since course start"))
    consumption_basis = models.CharField(_("consumption counted as"), max_length=20, choices=ConsumptionBasis.choices)
    units_consumed = models.PositiveIntegerField(_("units consumed"))
    lessons = models.PositiveIntegerField(_("lessons"))
    progress_percent = PercentField(_("progress (%)"))
    amount_paid = MoneyField(_("amount paid (CNY)"))
    refunded_before = MoneyField(_("refunded before (CNY)"))
    in_flight = MoneyField(_("refunds in flight (CNY)"))
    notify_channels = models.JSONField(_("channels to notify"), default=list)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("quote snapshot")
        verbose_name_plural = _("quote snapshots")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["order", "-created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(total__gte=0), name="quotesnapshot_total_not_negative"),
            models.CheckConstraint(condition=Q(total__lte=F("refundable")), name="quotesnapshot_total_within"),
        ]

    def __str__(self) -> str:
        return f"{self.order} · {self.total}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("A quote snapshot is written once and never changed.")
        super().save(*args, **kwargs)


class QuoteSnapshotLine(models.Model):
    campus_lookup = "snapshot__order__course__campus"

    snapshot = models.ForeignKey(QuoteSnapshot, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveSmallIntegerField(_("position"))
    kind = models.CharField(_("kind"), max_length=20, choices=QuoteLineKind.choices)
    label = models.CharField(_("label"), max_length=200)
    amount = MoneyField(_("amount (CNY)"))
    formula = models.CharField(_("formula"), max_length=300)
    explanation = models.TextField(_("explanation"))

    class Meta:
        verbose_name = _("quote line")
        verbose_name_plural = _("quote lines")
        ordering = ["snapshot_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "position"], name="quotesnapshotline_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.label}: {self.amount}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("A quote line is written once and never changed.")
        super().save(*args, **kwargs)

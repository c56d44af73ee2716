"""Refund policies (the rules as data, versioned) and the quote snapshots computed from them.

A ``RefundPolicy`` applies to a course type or to one course (a course's own policy wins).
Its pieces (cooling-off window, time tiers, consumption, handling fee, materials, special rules
per reason, by-contract mode) are combined by ``refunds.quotes``; see that module's docstring.

Version: ``RefundPolicy.version`` is an integer that goes up by one on every save of the policy
(the admin saves the policy on every change, inline tiers and special rules included). The
simple-history records of the policy, its tiers and its special rules keep every earlier state;
a quote names the version it used and a ``QuoteSnapshot`` copies the terms themselves, so a
later edit of the policy never changes a stored quote.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, ConcurrentTransitionMixin, FSMField, transition
from simple_history.models import HistoricalRecords

from orders.models import CourseType
from schoolops.fields import MoneyField

PERCENT = {"max_digits": 5, "decimal_places": 2}
PERCENT_VALIDATORS = [MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))]
MAX_POLICY_DAYS = 3650


class RefundReason(models.TextChoices):
    TIME_CONFLICT = "time_conflict", _("Time conflict")
    CONTENT_MISMATCH = "content_mismatch", _("Content not as expected")
    QUALITY = "quality", _("Quality not satisfactory")
    ILLNESS = "illness", _("Illness or pregnancy")
    RELOCATION = "relocation", _("Relocation abroad")
    DUPLICATE_PURCHASE = "duplicate_purchase", _("Duplicate purchase")
    TECHNICAL = "technical", _("Technical problems")
    OTHER = "other", _("Other")


class PolicyMode(models.TextChoices):
    RULES = "rules", _("Calculated by the rules below")
    CONTRACT = "contract", _("By contract: the approver sets the amount")


class DayAnchor(models.TextChoices):
    PURCHASE = "purchase", _("From the day of purchase")
    COURSE_START = "course_start", _("From the day the course starts")


class ConsumptionBasis(models.TextChoices):
    NONE = "none", _("No deduction for consumption")
    PER_LESSON = "per_lesson", _("Per lesson: lessons the school counts as delivered")
    WATCHED = "watched", _("Recorded: lessons watched")
    LIVE = "live", _("Live: sessions attended")
    HOURS = "hours", _("One-on-one: hours consumed")


class NotifyChannel(models.TextChoices):
    INBOX = "inbox", _("In-app inbox")
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    WECHAT = "wechat", _("WeChat message")
    CALL_TASK = "call_task", _("Call task for the account manager")


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


def default_notify_channels() -> list[str]:
    return [NotifyChannel.INBOX.value, NotifyChannel.EMAIL.value]


class RefundPolicy(models.Model):
    """The refund rules of a course type, or of one course (which then wins over its type's)."""

    name = models.CharField(_("name"), max_length=120)
    course_type = models.CharField(
        _("course type"),
        max_length=20,
        choices=CourseType.choices,
        blank=True,
        help_text=_("The course type this policy applies to. Leave empty when it applies to a single course."),
    )
    course = models.ForeignKey(
        "orders.Course",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refund_policies",
        verbose_name=_("single course"),
        help_text=_("A course's own policy wins over the policy of its course type."),
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Only one active policy per course type and per course.")
    )
    mode = models.CharField(_("mode"), max_length=10, choices=PolicyMode.choices, default=PolicyMode.RULES)
    description = models.TextField(
        _("description"), blank=True, help_text=_("The refund terms as shown to the student at purchase.")
    )

    cooling_off_days = models.PositiveSmallIntegerField(
        _("cooling-off days"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_POLICY_DAYS)],
        help_text=_(
            "Full refund within this many days, counted in Asia/Shanghai calendar days with the anchor day as "
            "day 1. Counted from the course start, any time before the start is day 0, so 0 days means "
            "'any time before the course starts'. Empty: no cooling-off window."
        ),
    )
    cooling_off_anchor = models.CharField(
        _("cooling-off counted"), max_length=20, choices=DayAnchor.choices, default=DayAnchor.PURCHASE
    )
    cooling_off_progress_ceiling = models.DecimalField(
        _("cooling-off progress ceiling (%)"),
        **PERCENT,
        null=True,
        blank=True,
        validators=PERCENT_VALIDATORS,
        help_text=_("The most progress that still gets the full refund inside the window."),
    )

    tier_anchor = models.CharField(
        _("time tiers counted"), max_length=20, choices=DayAnchor.choices, default=DayAnchor.PURCHASE
    )

    consumption_basis = models.CharField(
        _("consumption counted as"),
        max_length=20,
        choices=ConsumptionBasis.choices,
        default=ConsumptionBasis.NONE,
        help_text=_("Deducts paid ÷ lessons × units used; the remaining value is what the tiers apply to."),
    )
    count_replays = models.BooleanField(
        _("count replays of missed live sessions"),
        default=False,
        help_text=_("Live courses: a missed session watched as a replay counts as attended."),
    )

    handling_fee_percent = models.DecimalField(
        _("handling fee (%)"), **PERCENT, default=Decimal("0.00"), validators=PERCENT_VALIDATORS
    )
    materials_fee = MoneyField(
        _("delivered materials deduction (CNY)"),
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("A fixed amount for materials already delivered, disclosed at purchase."),
    )
    materials_description = models.CharField(_("materials"), max_length=200, blank=True)

    notify_channels = models.JSONField(
        _("channels to notify"),
        default=default_notify_channels,
        help_text=_("Channels the refund notifications of this policy go out on."),
    )

    version = models.PositiveIntegerField(_("version"), default=1, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("refund policy")
        verbose_name_plural = _("refund policies")
        ordering = ["course_type", "course__code", "name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(course__isnull=True) & ~Q(course_type="")) | Q(course__isnull=False, course_type=""),
                name="refundpolicy_type_or_course",
                violation_error_message=_("A policy applies to a course type or to a single course, not both."),
            ),
            models.UniqueConstraint(
                fields=["course_type"],
                condition=Q(is_active=True, course__isnull=True),
                name="refundpolicy_one_active_per_type",
                violation_error_message=_("This course type already has an active refund policy."),
            ),
            models.UniqueConstraint(
                fields=["course"],
                condition=Q(is_active=True, course__isnull=False),
                name="refundpolicy_one_active_per_course",
                violation_error_message=_("This course already has an active refund policy."),
            ),
            models.CheckConstraint(
                condition=Q(cooling_off_days__isnull=True) | Q(cooling_off_progress_ceiling__isnull=False),
                name="refundpolicy_cooling_off_has_ceiling",
            ),
            models.CheckConstraint(
                condition=Q(cooling_off_progress_ceiling__isnull=True)
                | Q(cooling_off_progress_ceiling__gte=0, cooling_off_progress_ceiling__lte=100),
                name="refundpolicy_ceiling_0_100",
            ),
            models.CheckConstraint(
                condition=Q(handling_fee_percent__gte=0, handling_fee_percent__lte=100),
                name="refundpolicy_fee_0_100",
            ),
            models.CheckConstraint(condition=Q(materials_fee__gte=0), name="refundpolicy_materials_not_negative"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        """Save and count a new version; the increment is taken under a row lock."""
        if self._state.adding or self.pk is None:
            super().save(*args, **kwargs)
            return
        with transaction.atomic(using=kwargs.get("using")):
            current = (
                type(self)
                ._default_manager.select_for_update()
                .filter(pk=self.pk)
                .order_by()  # the default ordering joins the course, which FOR UPDATE refuses
                .values_list("version", flat=True)
                .first()
            )
            self.version = (current or 0) + 1
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "version"}
            super().save(*args, **kwargs)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.course_id and self.course_type:
            errors["course_type"] = _("Choose either a course type or a single course, not both.")
        elif not self.course_id and not self.course_type:
            errors["course_type"] = _("Choose the course type this policy applies to, or a single course.")
        elif self.is_active:
            others = RefundPolicy.objects.filter(is_active=True).exclude(pk=self.pk)
            if self.course_id and others.filter(course_id=self.course_id).exists():
                errors["course"] = _("This course already has an active refund policy.")
            elif self.course_type and others.filter(course__isnull=True, course_type=self.course_type).exists():
                errors["course_type"] = _("This course type already has an active refund policy.")
        if self.cooling_off_days is not None and self.cooling_off_progress_ceiling is None:
            errors["cooling_off_progress_ceiling"] = _(
                "A cooling-off window needs a progress ceiling: the most progress (%) that still gets a full refund."
            )
        elif self.cooling_off_days is None and self.cooling_off_progress_ceiling is not None:
            errors["cooling_off_days"] = _("Give the length of the cooling-off window, or clear the progress ceiling.")
        channels = self.notify_channels
        if not isinstance(channels, list) or not channels:
            errors["notify_channels"] = _("Choose at least one channel to notify.")
        else:
            unknown = sorted({str(c) for c in channels} - set(NotifyChannel.values))
            if unknown:
                errors["notify_channels"] = _("Unknown channels: %(channels)s.") % {"channels": ", ".join(unknown)}
        if errors:
            raise ValidationError(errors)

    @property
    def scope_label(self) -> str:
        if self.course_id:
            return str(self.course)
        return str(CourseType(self.course_type).label) if self.course_type else ""

    @property
    def notify_channel_set(self) -> frozenset[str]:
        return frozenset(self.notify_channels or ())

    @staticmethod
    def validate_tiers(tiers: Sequence[RefundTier]) -> None:
        """Check a whole set of tiers (gaps, overlaps, order); errors keyed ``tiers``."""
        problems = tier_set_errors([(t.from_day, t.to_day, t.percent) for t in tiers])
        if problems:
            raise ValidationError({"tiers": [message for _index, _field, message in problems]})


class RefundTier(models.Model):
    """Days (from purchase or course start) -> the percentage of the remaining value refunded."""

    policy = models.ForeignKey(RefundPolicy, on_delete=models.CASCADE, related_name="tiers", verbose_name=_("policy"))
    from_day = models.PositiveSmallIntegerField(
        _("from day"),
        validators=[MaxValueValidator(MAX_POLICY_DAYS)],
        help_text=_("Day 1 is the anchor day; day 0 is any time before the course starts."),
    )
    to_day = models.PositiveSmallIntegerField(
        _("to day"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(MAX_POLICY_DAYS)],
        help_text=_("Inclusive. Empty on the last tier: every later day."),
    )
    percent = models.DecimalField(_("refund (%)"), **PERCENT, validators=PERCENT_VALIDATORS)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("time tier")
        verbose_name_plural = _("time tiers")
        ordering = ["policy_id", "from_day"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "from_day"], name="refundtier_unique_start"),
            models.CheckConstraint(condition=Q(percent__gte=0, percent__lte=100), name="refundtier_percent_0_100"),
            models.CheckConstraint(
                condition=Q(to_day__isnull=True) | Q(to_day__gte=F("from_day")), name="refundtier_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        if self.to_day is None:
            return _("day %(start)s and later: %(percent)s%%") % {"start": self.from_day, "percent": self.percent}
        return _("days %(start)s–%(end)s: %(percent)s%%") % {
            "start": self.from_day,
            "end": self.to_day,
            "percent": self.percent,
        }

    def clean(self) -> None:
        if self.to_day is not None and self.from_day is not None and self.to_day < self.from_day:
            raise ValidationError({"to_day": _("The last day of a tier cannot be before its first day.")})


def tier_set_errors(
    tiers: Sequence[tuple[int | None, int | None, Decimal | None]],
) -> list[tuple[int, str, str]]:
    """Problems of a whole set of tiers as (index into ``tiers``, field, message).

    A valid set starts at day 0 or 1, runs without gaps or overlaps, ends with an open-ended
    tier, and never refunds a larger percentage on a later day than on an earlier one.
    """
    order = sorted(range(len(tiers)), key=lambda i: (tiers[i][0] or 0, i))
    problems: list[tuple[int, str, str]] = []
    if not order:
        return problems
    first = order[0]
    if (tiers[first][0] or 0) > 1:
        problems.append((first, "from_day", str(_("The first tier must start at day 1 (or day 0, before the start)."))))
    for prev, cur in zip(order, order[1:], strict=False):
        prev_from, prev_to, prev_pct = tiers[prev]
        cur_from, _cur_to, cur_pct = tiers[cur]
        if prev_to is None:
            problems.append((prev, "to_day", str(_("Only the last tier can be open-ended; give its last day."))))
        elif cur_from is not None and cur_from <= prev_to:
            problems.append(
                (
                    cur,
                    "from_day",
                    str(
                        _("Overlaps the tier of days %(start)s–%(end)s; start at day %(next)s.")
                        % {"start": prev_from, "end": prev_to, "next": prev_to + 1}
                    ),
                )
            )
        elif cur_from is not None and cur_from > prev_to + 1:
            problems.append(
                (
                    cur,
                    "from_day",
                    str(
                        _("Days %(start)s–%(end)s are not covered by any tier; start at day %(next)s.")
                        % {"start": prev_to + 1, "end": cur_from - 1, "next": prev_to + 1}
                    ),
                )
            )
        if prev_pct is not None and cur_pct is not None and cur_pct > prev_pct:
            problems.append(
                (
                    cur,
                    "percent",
                    str(
                        _("A later tier cannot refund more than an earlier one (%(percent)s%%).")
                        % {"percent": prev_pct}
                    ),
                )
            )
    last = order[-1]
    if tiers[last][1] is not None:
        problems.append(
            (last, "to_day", str(_("Leave the last day of the last tier empty so it covers every later day.")))
        )
    return problems


class RefundSpecialRule(models.Model):
    """A reason's own rule (illness, relocation abroad, school-side quality...) and its evidence."""

    policy = models.ForeignKey(
        RefundPolicy, on_delete=models.CASCADE, related_name="special_rules", verbose_name=_("policy")
    )
    reason = models.CharField(_("reason"), max_length=20, choices=RefundReason.choices)
    percent = models.DecimalField(
        _("refund (%)"),
        **PERCENT,
        default=Decimal("100.00"),
        validators=PERCENT_VALIDATORS,
        help_text=_("Of the remaining value; replaces the cooling-off window and the time tiers."),
    )
    ignore_consumption = models.BooleanField(
        _("ignore consumption"), default=False, help_text=_("Refund from the amount paid, not the remaining value.")
    )
    waive_handling_fee = models.BooleanField(_("waive handling fee"), default=True)
    waive_materials_fee = models.BooleanField(_("waive materials deduction"), default=False)
    # blank=True so that clean() can give the clear message below; the constraint keeps it non-empty.
    evidence = models.TextField(
        _("evidence required"), blank=True, help_text=_("What the student must supply, e.g. a hospital certificate.")
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("special rule")
        verbose_name_plural = _("special rules")
        ordering = ["policy_id", "reason"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "reason"],
                name="refundspecialrule_one_per_reason",
                violation_error_message=_("This policy already has a rule for this reason."),
            ),
            models.CheckConstraint(
                condition=Q(percent__gte=0, percent__lte=100), name="refundspecialrule_percent_0_100"
            ),
            models.CheckConstraint(condition=~Q(evidence=""), name="refundspecialrule_names_evidence"),
        ]

    def __str__(self) -> str:
        return str(self.get_reason_display())

    def clean(self) -> None:
        self.evidence = (self.evidence or "").strip()
        if not self.evidence:
            raise ValidationError(
                {"evidence": _("Name the evidence the student must supply for this rule, e.g. a hospital certificate.")}
            )


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
    progress_percent = models.DecimalField(_("progress (%)"), **PERCENT)
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

    def save(self, *args, **kwargs) -> None:
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

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValueError("A quote line is written once and never changed.")
        super().save(*args, **kwargs)


# --- The refund request and its approval ------------------------------------------------------


class RefundStatus(models.TextChoices):
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
    HOMEROOM = "homeroom", _("Homeroom teacher review")
    AUTO = "auto", _("Automatic check")
    QUALITY = "quality", _("Quality review")
    SUPERVISOR = "supervisor", _("Teaching supervisor review")
    CAMPUS_HEAD = "campus_head", _("Campus head approval")
    FINANCE = "finance", _("Finance approval")


TIER_STATUS = {
    ApprovalTier.HOMEROOM: RefundStatus.PENDING_HOMEROOM,
    ApprovalTier.QUALITY: RefundStatus.PENDING_QUALITY,
    ApprovalTier.SUPERVISOR: RefundStatus.PENDING_SUPERVISOR,
    ApprovalTier.CAMPUS_HEAD: RefundStatus.PENDING_CAMPUS_HEAD,
    ApprovalTier.FINANCE: RefundStatus.PENDING_FINANCE,
}


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
    auto_max_progress = models.DecimalField(
        _("automatic check: progress at most (%)"),
        **PERCENT,
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


class RefundRequest(ConcurrentTransitionMixin, models.Model):
    """A student's request to get money back on one order, from submission to the last cent.

    ``status`` changes only through the transitions below, called by ``refunds.services``.
    """

    request_no = models.CharField(_("request number"), max_length=24, unique=True)
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


class ApprovalQueueItem(RefundRequest):
    """The approval queue (待我审批) in the admin: the same requests, listed per approver."""

    class Meta:
        proxy = True
        verbose_name = _("request awaiting my approval")
        verbose_name_plural = _("awaiting my approval")


def evidence_upload_to(instance: RefundEvidence, filename: str) -> str:
    """A random name under evidence/: the student's file name is kept in the row, never on disk."""
    import uuid
    from pathlib import PurePath

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

    campus_lookup = "request__campus"

    class Meta:
        verbose_name = _("evidence")
        verbose_name_plural = _("evidence")
        ordering = ["uploaded_at", "pk"]

    def __str__(self) -> str:
        return self.original_name


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

    def __str__(self) -> str:
        return f"{self.request} {self.from_status or '-'} → {self.to_status}"


class RefundEventKind(models.TextChoices):
    SUBMITTED = "submitted", _("Submitted")
    ASSIGNED = "assigned", _("Assigned to an approver")
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

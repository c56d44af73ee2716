"""Refund policies: the rules as data, versioned.

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

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from orders.models import CourseType
from schoolops.fields import MoneyField
from schoolops.versioning import VersionedOnSave

from .fields import PercentField

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

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


def default_notify_channels() -> list[str]:
    return [NotifyChannel.INBOX.value, NotifyChannel.EMAIL.value]


class RefundPolicy(VersionedOnSave):
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
    cooling_off_progress_ceiling = PercentField(
        _("cooling-off progress ceiling (%)"),
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

    handling_fee_percent = PercentField(_("handling fee (%)"), default=Decimal("0.00"), validators=PERCENT_VALIDATORS)
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

    def clean(self) -> None:
        errors: dict[str, StrOrPromise] = {}
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
    percent = PercentField(_("refund (%)"), validators=PERCENT_VALIDATORS)

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
    percent = PercentField(
        _("refund (%)"),
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

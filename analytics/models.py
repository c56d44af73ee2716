"""Daily aggregates ("facts") the analytics dashboard reads instead of the raw tables.

Each row is one Asia/Shanghai day of one combination of the dashboard's dimensions. Every
metric counts on its own day: applications on the day the request was submitted, decisions on
the day they were taken, refunds on the day the money left. ``analytics.services`` keeps them:
``facts_refresh`` recomputes whole (day, campus) slices from the raw tables, so a slice is always
what a rebuild would write.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from schoolops.fields import MoneyField


class _DimensionFields(models.Model):
    """The dimensions every fact row shares (reason only where it has a meaning)."""

    day = models.DateField(_("day"))
    campus = models.ForeignKey(
        "schoolops.Campus", on_delete=models.CASCADE, related_name="+", verbose_name=_("campus"), db_index=False
    )
    course = models.ForeignKey(
        "orders.Course", on_delete=models.CASCADE, related_name="+", verbose_name=_("course"), db_index=False
    )
    teacher = models.ForeignKey(
        "schoolops.Staff",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("homeroom teacher"),
        db_index=False,
    )
    channel = models.CharField(_("payment channel"), max_length=10)

    campus_lookup = "campus"

    class Meta:
        abstract = True


class RefundFact(_DimensionFields):
    """Refund requests of one day and one (campus, course, homeroom teacher, channel, reason).

    ``decided`` counts final decisions (approved: the last tier approved; rejected: a tier
    rejected), each on its day; ``decision_seconds`` sums their time since submission;
    ``refund_seconds`` sums, over the refunds of the day, the time since submission.
    """

    reason = models.CharField(_("reason"), max_length=20)
    applications = models.PositiveIntegerField(_("applications"), default=0)
    decided = models.PositiveIntegerField(_("decided"), default=0)
    approved = models.PositiveIntegerField(_("approved"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    decision_seconds = models.BigIntegerField(_("seconds to decision (sum)"), default=0)
    refunded_count = models.PositiveIntegerField(_("refunded"), default=0)
    refunded_amount = MoneyField(_("refunded amount (CNY)"), default=0)
    refund_seconds = models.BigIntegerField(_("seconds to refund (sum)"), default=0)

    class Meta:
        verbose_name = _("refund fact")
        verbose_name_plural = _("refund facts")
        permissions = [("view_dashboard", _("Can view the refund analytics dashboard"))]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "campus", "course", "teacher", "channel", "reason"],
                nulls_distinct=False,
                name="refundfact_one_row_per_key",
            ),
        ]
        indexes = [
            # The dashboard: a period of the user's campuses, narrowed by course or teacher.
            models.Index(fields=["campus", "day"], name="refundfact_campus_day"),
            models.Index(fields=["course", "day"], name="refundfact_course_day"),
            models.Index(fields=["teacher", "day"], name="refundfact_teacher_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.campus_id}/{self.course_id}/{self.teacher_id}/{self.channel}/{self.reason}"


class TierFact(_DimensionFields):
    """Approval steps decided by a person on one day, per tier: how long each tier takes."""

    reason = models.CharField(_("reason"), max_length=20)
    tier = models.CharField(_("tier"), max_length=20)
    steps = models.PositiveIntegerField(_("steps decided"), default=0)
    step_seconds = models.BigIntegerField(_("seconds in front of the approver (sum)"), default=0)

    class Meta:
        verbose_name = _("approval tier fact")
        verbose_name_plural = _("approval tier facts")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "campus", "course", "teacher", "channel", "reason", "tier"],
                nulls_distinct=False,
                name="tierfact_one_row_per_key",
            ),
        ]
        indexes = [
            models.Index(fields=["campus", "day"], name="tierfact_campus_day"),
            # A view narrowed to a course or a teacher (the roll-up cannot answer it): at a million
            # requests, without these the tiers' sums read every step of the period.
            models.Index(fields=["course", "day"], name="tierfact_course_day"),
            models.Index(fields=["teacher", "day"], name="tierfact_teacher_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.campus_id} {self.tier}"


class RevenueFact(_DimensionFields):
    """Orders paid on one day per (campus, course, homeroom teacher, channel)."""

    orders = models.PositiveIntegerField(_("orders paid"), default=0)
    revenue = MoneyField(_("revenue (CNY)"), default=0)

    class Meta:
        verbose_name = _("revenue fact")
        verbose_name_plural = _("revenue facts")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "campus", "course", "teacher", "channel"],
                nulls_distinct=False,
                name="revenuefact_one_row_per_key",
            ),
        ]
        indexes = [
            models.Index(fields=["campus", "day"], name="revenuefact_campus_day"),
            models.Index(fields=["course", "day"], name="revenuefact_course_day"),
            models.Index(fields=["teacher", "day"], name="revenuefact_teacher_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.campus_id}/{self.course_id}/{self.channel}"


class FactsRefresh(models.Model):
    """When the facts of a campus were last refreshed: the dashboard's "as of"."""

    campus = models.OneToOneField(
        "schoolops.Campus", on_delete=models.CASCADE, related_name="+", verbose_name=_("campus")
    )
    refreshed_at = models.DateTimeField(_("refreshed at"))

    campus_lookup = "campus"

    class Meta:
        verbose_name = _("facts refresh")
        verbose_name_plural = _("facts refreshes")

    def __str__(self) -> str:
        return f"{self.campus_id} {self.refreshed_at}"


class DailyRollup(models.Model):
    """The facts of one day and campus summed over every dimension but one (``dimension``): one
    row per value of it. The dashboard reads these when it is narrowed by nothing finer than a
    campus, which is most views: a year of five campuses is ~100,000 rows here against millions of
    facts at a million requests (the facts' key has so many dimensions that they hold about as many
    rows as the raw events). ``facts_refresh`` writes them from the facts of the same slices.

    ``dimension`` is "campus" (the campus's totals: every other dimension column empty), "course",
    "teacher", "channel", "reason" (refund figures only: revenue has no reason) or "tier" (approval
    steps only); the column of that dimension holds the value, the others stay empty.
    """

    day = models.DateField(_("day"))
    campus = models.ForeignKey(
        "schoolops.Campus", on_delete=models.CASCADE, related_name="+", verbose_name=_("campus"), db_index=False
    )
    dimension = models.CharField(_("dimension"), max_length=10)
    course = models.ForeignKey(
        "orders.Course",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("course"),
        db_index=False,
    )
    teacher = models.ForeignKey(
        "schoolops.Staff",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("homeroom teacher"),
        db_index=False,
    )
    channel = models.CharField(_("payment channel"), max_length=10, blank=True)
    reason = models.CharField(_("reason"), max_length=20, blank=True)
    tier = models.CharField(_("tier"), max_length=20, blank=True)
    # RefundFact's figures
    applications = models.PositiveIntegerField(_("applications"), default=0)
    decided = models.PositiveIntegerField(_("decided"), default=0)
    approved = models.PositiveIntegerField(_("approved"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    decision_seconds = models.BigIntegerField(_("seconds to decision (sum)"), default=0)
    refunded_count = models.PositiveIntegerField(_("refunded"), default=0)
    refunded_amount = MoneyField(_("refunded amount (CNY)"), default=0)
    refund_seconds = models.BigIntegerField(_("seconds to refund (sum)"), default=0)
    # RevenueFact's
    orders = models.PositiveIntegerField(_("orders paid"), default=0)
    revenue = MoneyField(_("revenue (CNY)"), default=0)
    # TierFact's
    steps = models.PositiveIntegerField(_("steps decided"), default=0)
    step_seconds = models.BigIntegerField(_("seconds in front of the approver (sum)"), default=0)

    campus_lookup = "campus"

    class Meta:
        verbose_name = _("daily roll-up")
        verbose_name_plural = _("daily roll-ups")
        constraints = [
            # Also the campus head's index: one dimension of one campus over a period.
            models.UniqueConstraint(
                fields=["dimension", "campus", "day", "course", "teacher", "channel", "reason", "tier"],
                nulls_distinct=False,
                name="dailyrollup_one_row_per_key",
            ),
        ]
        # Operations (every campus): one dimension over a period.
        indexes = [models.Index(fields=["dimension", "day"], name="dailyrollup_dimension_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.campus_id} {self.dimension}"

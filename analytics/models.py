"""Daily aggregates ("facts") the analytics dashboard reads instead of the raw tables.

Each row is one Asia/Shanghai day of one combination of the dashboard's dimensions. Every
metric counts on its own day: applications on the day the request was submitted, decisions on
the day they were taken, refunds on the day the money left. ``analytics.services`` keeps them:
``facts_refresh`` recomputes whole (day, campus) slices from the raw tables, so a slice is always
what a rebuild would write.
"""

from __future__ import annotations

import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

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
    dimension = models.CharField(_("dimension"), max_length=20)
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


def weekly_review_upload_to(instance: WeeklyReview, filename: str) -> str:
    """A random name under ``weekly-reviews/YYYY/``: private, served only through the admin's view."""
    return f"weekly-reviews/{instance.week_start:%Y}/{uuid.uuid4().hex}.pdf"


class WeeklyReview(models.Model):
    """The weekly review (周复盘) of one campus, or of the whole school (no campus), for one week
    (Monday to Sunday, Asia/Shanghai) against the week before: the figures it was made from and
    its one-page PDF, as sent. Made by ``analytics.weekly``; never changed afterwards."""

    campus = models.ForeignKey(
        "schoolops.Campus",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("campus"),
        help_text=_("Empty: the whole school."),
    )
    week_start = models.DateField(_("week of (Monday)"))
    figures = models.JSONField(_("figures"), encoder=DjangoJSONEncoder)
    pdf = models.FileField(_("PDF"), upload_to=weekly_review_upload_to, max_length=200)
    sha256 = models.CharField(_("SHA-256 of the PDF"), max_length=64)
    created_at = models.DateTimeField(_("created at"))

    campus_lookup = "campus"

    class Meta:
        verbose_name = _("weekly review")
        verbose_name_plural = _("weekly reviews")
        ordering = ["-week_start", "campus__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["campus", "week_start"], nulls_distinct=False, name="weeklyreview_one_per_scope_and_week"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.week_start} {self.campus or '*'}"


# --- Alert rules, the alerts they raise, and course quality reviews -------------------------------


class AlertKind(models.TextChoices):
    SPIKE = "spike", _("Applications spike")
    HIGH_RISK_STUDENT = "high_risk_student", _("Student with many refunds")
    COURSE_REFUND_RATE = "course_refund_rate", _("Course refund rate too high")
    TEACHER_REFUND_RATE = "teacher_refund_rate", _("Homeroom teacher's refund rate far above the campus")


class AlertScope(models.TextChoices):
    CAMPUS = "campus", _("Each campus")
    SCHOOL = "school", _("The whole school")


class AlertRule(models.Model):
    """One alert rule as data: its kind and its figures, edited by operations.

    The meaning of each figure depends on the kind (``analytics.alerts`` evaluates them):

    ==================  ==================================  ==================  ===================
    kind                threshold                           window_days         streak_days / min
    ==================  ==================================  ==================  ===================
    spike               % of the trailing daily average     trailing days       - / applications
    high_risk_student   refunds (more than) in the window   days (365)          - / -
    course_refund_rate  % refunded ÷ revenue                trailing days (30)  days in a row / orders
    teacher_refund_rate × the campus's rate                 trailing days (90)  - / orders
    ==================  ==================================  ==================  ===================
    """

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=30, choices=AlertKind.choices)
    scope = models.CharField(
        _("scope"),
        max_length=10,
        choices=AlertScope.choices,
        default=AlertScope.CAMPUS,
        help_text=_("Spikes only: count each campus on its own, or the whole school together."),
    )
    campus = models.ForeignKey(
        "schoolops.Campus",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("only at campus"),
        help_text=_("Empty: every campus."),
    )
    threshold = models.DecimalField(_("threshold"), max_digits=8, decimal_places=2)
    window_days = models.PositiveIntegerField(_("window (days)"))
    streak_days = models.PositiveIntegerField(
        _("days in a row"), default=1, help_text=_("How many days in a row the condition must hold before it fires.")
    )
    minimum = models.PositiveIntegerField(
        _("minimum volume"),
        default=0,
        help_text=_("Below this many applications (spikes) or orders (rates) the rule stays quiet."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    evaluated_through = models.DateField(_("evaluated through"), null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")
        ordering = ["kind", "pk"]

    def __str__(self) -> str:
        return self.name


class AlertStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    CLOSED = "closed", _("Closed")


class Alert(models.Model):
    """One occurrence of a rule's condition: stored once with the figures that fired it."""

    rule = models.ForeignKey(AlertRule, on_delete=models.PROTECT, related_name="alerts", verbose_name=_("rule"))
    kind = models.CharField(_("kind"), max_length=30, choices=AlertKind.choices)
    occurrence = models.CharField(
        _("occurrence"), max_length=120, help_text=_("What makes this occurrence one: it fires once.")
    )
    campus = models.ForeignKey(
        "schoolops.Campus",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("campus"),
        help_text=_("Empty: the whole school."),
    )
    course = models.ForeignKey(
        "orders.Course", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("course")
    )
    teacher = models.ForeignKey(
        "schoolops.Staff",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("homeroom teacher"),
    )
    student = models.ForeignKey(
        "students.Student",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("student"),
    )
    day = models.DateField(_("day"), help_text=_("The day the condition was met (Asia/Shanghai)."))
    since = models.DateField(_("since"), help_text=_("The first day of the run of days that fired it."))
    figures = models.JSONField(_("figures"), default=dict)
    status = models.CharField(_("status"), max_length=20, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    created_at = models.DateTimeField(_("raised at"))
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        "schoolops.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("acknowledged by"),
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        "schoolops.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("closed by")
    )
    note = models.TextField(_("what was done"), blank=True)

    campus_lookup = "campus"

    class Meta:
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        permissions = [("handle_alert", _("Can acknowledge and close alerts"))]
        ordering = ["-day", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "occurrence"], name="alert_fires_once_per_occurrence"),
        ]
        indexes = [
            models.Index(fields=["status", "-day"], name="alert_status_day"),
            models.Index(fields=["campus", "-day"], name="alert_campus_day"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.day}"


class ReviewOutcome(models.TextChoices):
    CONTENT_IMPROVED = "content_improved", _("Course content improved")
    TEACHER_CHANGED = "teacher_changed", _("Teacher coached or changed")
    MARKETING_CORRECTED = "marketing_corrected", _("Sales description corrected")
    POLICY_CHANGED = "policy_changed", _("Refund or exchange policy changed")
    COURSE_CLOSED = "course_closed", _("Course stopped selling")
    NO_ACTION = "no_action", _("No problem found")


class CourseReviewStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class CourseReview(models.Model):
    """A course quality review, opened by a course refund rate alert: an owner, a deadline,
    findings and an outcome (DESIGN.md §10)."""

    course = models.ForeignKey("orders.Course", on_delete=models.PROTECT, related_name="+", verbose_name=_("course"))
    campus = models.ForeignKey("schoolops.Campus", on_delete=models.PROTECT, related_name="+", verbose_name=_("campus"))
    alert = models.OneToOneField(
        Alert,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="course_review",
        verbose_name=_("alert"),
    )
    owner = models.ForeignKey(
        "schoolops.Staff",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner"),
        help_text=_("A quality reviewer or the teaching supervisor of the campus."),
    )
    deadline = models.DateField(_("deadline"))
    status = models.CharField(
        _("status"), max_length=10, choices=CourseReviewStatus.choices, default=CourseReviewStatus.OPEN
    )
    findings = models.TextField(_("findings"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=30, choices=ReviewOutcome.choices, blank=True)
    outcome_note = models.TextField(_("what is done about it"), blank=True)
    opened_at = models.DateTimeField(_("opened at"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    closed_by = models.ForeignKey(
        "schoolops.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("closed by")
    )

    campus_lookup = "campus"
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("course quality review")
        verbose_name_plural = _("course quality reviews")
        ordering = ["status", "deadline", "pk"]
        indexes = [models.Index(fields=["campus", "status", "deadline"], name="coursereview_campus_open")]

    def __str__(self) -> str:
        return f"{self.course} ({self.opened_at:%Y-%m-%d})"

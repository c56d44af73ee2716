"""Students, their enrollments with learning progress, and the learning events behind it."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from schoolops.models import StaffRole


class Student(models.Model):
    """A student of the school. Her login is ``user``; phone and name live on the user."""

    campus_lookup = "campus"

    user = models.OneToOneField(
        "schoolops.User", on_delete=models.PROTECT, related_name="student", verbose_name=_("user")
    )
    student_no = models.CharField(
        _("student number"), max_length=32, unique=True, help_text=_("The student's number on the learning platform.")
    )
    campus = models.ForeignKey(
        "schoolops.Campus", on_delete=models.PROTECT, related_name="students", verbose_name=_("campus")
    )
    wechat_openid = models.CharField(_("WeChat openid"), max_length=64, blank=True)
    high_risk = models.BooleanField(
        _("high risk"),
        default=False,
        help_text=_("The student's refund requests are always reviewed by a person, whatever the amount."),
    )
    high_risk_note = models.CharField(_("why high risk"), max_length=200, blank=True)
    high_risk_at = models.DateTimeField(_("flagged high risk at"), null=True, blank=True)
    high_risk_by = models.ForeignKey(
        "schoolops.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("flagged high risk by"),
        help_text=_("Empty when an alert rule flagged the student."),
    )
    high_risk_cleared_at = models.DateTimeField(_("high risk cleared at"), null=True, blank=True)
    high_risk_cleared_by = models.ForeignKey(
        "schoolops.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("high risk cleared by"),
    )
    high_risk_cleared_reason = models.CharField(_("why the flag was cleared"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("registered at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("student")
        verbose_name_plural = _("students")
        ordering = ["student_no"]
        permissions = [("manage_high_risk", _("Can flag a student high-risk or clear the flag"))]
        constraints = [
            models.UniqueConstraint(
                fields=["wechat_openid"], condition=~Q(wechat_openid=""), name="student_wechat_openid_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.student_no})"

    @property
    def name(self) -> str:
        return str(self.user)

    def high_risk_summary(self) -> str:
        """Why, since when and by whom the student is high-risk, in one line ("" if she is not)."""
        if not self.high_risk:
            return ""
        by = str(self.high_risk_by) if self.high_risk_by_id else _("an alert rule")
        when = f"{timezone.localtime(self.high_risk_at):%Y-%m-%d %H:%M}" if self.high_risk_at else "-"
        return str(
            _("High-risk student: %(note)s (flagged %(when)s by %(by)s)")
            % {"note": self.high_risk_note or "-", "when": when, "by": by}
        )

    @property
    def phone(self) -> str:
        return self.user.phone or ""

    @property
    def email(self) -> str:
        return self.user.email


class Enrollment(models.Model):
    """A student's place in a course through one order, with the progress counted so far."""

    campus_lookup = "order__course__campus"

    order = models.OneToOneField(
        "orders.Order", on_delete=models.PROTECT, related_name="enrollment", verbose_name=_("order")
    )
    homeroom_teacher = models.ForeignKey(
        "schoolops.Staff",
        on_delete=models.PROTECT,
        related_name="enrollments",
        limit_choices_to={"role": "homeroom"},
        verbose_name=_("homeroom teacher"),
    )
    lessons_consumed = models.PositiveIntegerField(
        _("lessons consumed"),
        default=0,
        help_text=_("Lessons (for one-on-one: hours) the school counts as delivered."),
    )
    lessons_watched = models.PositiveIntegerField(_("lessons watched"), default=0)
    watch_progress = models.DecimalField(
        _("watch progress (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    study_seconds = models.PositiveIntegerField(_("study time (seconds)"), default=0)
    live_sessions_attended = models.PositiveIntegerField(_("live sessions attended"), default=0)
    replays_watched = models.PositiveIntegerField(_("missed live sessions watched as replay"), default=0)
    homework_submitted = models.PositiveIntegerField(_("homework submitted"), default=0)
    rating = models.PositiveSmallIntegerField(
        _("course rating"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    tests_taken = models.PositiveIntegerField(_("tests taken"), default=0)
    test_score_avg = models.DecimalField(
        _("average test score"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    last_learning_at = models.DateTimeField(_("last learning time"), null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("enrollment")
        verbose_name_plural = _("enrollments")
        ordering = ["-order__paid_at"]
        indexes = [models.Index(fields=["homeroom_teacher", "last_learning_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(watch_progress__gte=0, watch_progress__lte=100), name="enrollment_progress_0_100"
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5), name="enrollment_rating_1_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order.student} · {self.order.course}"


class LearningEventKind(models.TextChoices):
    LESSON_WATCHED = "lesson_watched", _("Lesson watched")
    LIVE_ATTENDED = "live_attended", _("Live session attended")
    HOMEWORK_SUBMITTED = "homework_submitted", _("Homework submitted")
    RATING = "rating", _("Course rated")
    TEST_SCORED = "test_scored", _("Test scored")


class LearningEventSource(models.TextChoices):
    API = "api", _("Signed endpoint")
    CSV = "csv", _("CSV import")


class LearningEvent(models.Model):
    """One fact from the learning platform. ``event_id`` makes a re-sent event harmless."""

    campus_lookup = "enrollment__order__course__campus"

    event_id = models.CharField(_("event id"), max_length=64, unique=True)
    enrollment = models.ForeignKey(
        Enrollment, on_delete=models.CASCADE, related_name="events", verbose_name=_("enrollment")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=LearningEventKind.choices)
    lesson_no = models.PositiveIntegerField(_("lesson number"), null=True, blank=True)
    seconds = models.PositiveIntegerField(_("duration (seconds)"), default=0)
    completed = models.BooleanField(_("completed"), default=True)
    rating = models.PositiveSmallIntegerField(_("rating"), null=True, blank=True)
    # A decimal like the enrollment's average: platforms give scores such as 87.5, and an integer
    # field would round them before they are averaged.
    score = models.DecimalField(_("test score"), max_digits=5, decimal_places=2, null=True, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    source = models.CharField(_("source"), max_length=8, choices=LearningEventSource.choices)

    class Meta:
        verbose_name = _("learning event")
        verbose_name_plural = _("learning events")
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["enrollment", "kind", "lesson_no"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5), name="learningevent_rating_1_5"
            ),
            # A test may name the lesson it belongs to; a rating belongs to the whole course.
            models.CheckConstraint(
                condition=Q(kind__in=[LearningEventKind.RATING, LearningEventKind.TEST_SCORED])
                | Q(lesson_no__isnull=False),
                name="learningevent_lesson_needed",
            ),
            models.CheckConstraint(
                # score__isnull=False is needed: a CHECK whose expression is NULL passes.
                condition=Q(kind=LearningEventKind.TEST_SCORED, score__isnull=False, score__gte=0, score__lte=100)
                | (~Q(kind=LearningEventKind.TEST_SCORED) & Q(score__isnull=True)),
                name="learningevent_score_for_tests_0_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.lesson_no or '-'} ({self.event_id})"


class IngestionSender(models.TextChoices):
    """The systems that post signed requests to us (``students.signing``)."""

    LEARNING_PLATFORM = "learning_platform", _("Learning platform")
    ORDER_SYSTEM = "order_system", _("School order system")


class IngestionNonce(models.Model):
    """A signature already accepted from a signed sender, kept to refuse replays."""

    signature = models.CharField(max_length=64, unique=True)
    sender = models.CharField(max_length=20, choices=IngestionSender.choices, default=IngestionSender.LEARNING_PLATFORM)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("ingestion nonce")
        verbose_name_plural = _("ingestion nonces")

    def __str__(self) -> str:
        return self.signature


class HomeroomAssignment(models.Model):
    """Who takes the new orders of a campus (``course`` empty) or of one of its courses.

    The order intake picks a new enrollment's homeroom teacher by these rules: the course's rule,
    else the campus's rule, else the campus's active homeroom teacher with the fewest active
    enrollments (``students.selectors.HomeroomChooser``). A rule whose teacher has left or moved
    is passed over.
    """

    campus_lookup = "campus"

    campus = models.ForeignKey(
        "schoolops.Campus", on_delete=models.CASCADE, related_name="homeroom_assignments", verbose_name=_("campus")
    )
    course = models.ForeignKey(
        "orders.Course",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="homeroom_assignments",
        verbose_name=_("course"),
        help_text=_("Empty: every course of the campus that has no rule of its own."),
    )
    teacher = models.ForeignKey(
        "schoolops.Staff",
        on_delete=models.CASCADE,
        related_name="homeroom_assignments",
        limit_choices_to={"role": "homeroom"},
        verbose_name=_("homeroom teacher"),
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("homeroom assignment rule")
        verbose_name_plural = _("homeroom assignment rules")
        ordering = ["campus__code", "course__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["campus", "course"],
                condition=Q(course__isnull=False),
                name="homeroomassignment_one_per_course",
                violation_error_message=_("This campus already has a rule for this course."),
            ),
            models.UniqueConstraint(
                fields=["campus"],
                condition=Q(course__isnull=True),
                name="homeroomassignment_one_per_campus",
                violation_error_message=_("This campus already has a rule for all its courses."),
            ),
        ]

    def __str__(self) -> str:
        scope = self.course.name if self.course is not None else _("every course")
        return f"{self.campus} · {scope} → {self.teacher.name}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.course is not None and self.campus_id and self.course.campus_id != self.campus_id:
            errors["course"] = str(_("The course belongs to another campus."))
        if self.teacher_id and self.campus_id:
            if self.teacher.role != StaffRole.HOMEROOM:
                errors["teacher"] = str(_("Choose a homeroom teacher."))
            elif self.teacher.campus_id != self.campus_id:
                errors["teacher"] = str(_("The homeroom teacher works at another campus."))
        if errors:
            raise ValidationError(errors)

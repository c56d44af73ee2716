"""The homeroom teacher's service of a student from enrollment to renewal (seed 003): tasks made
by events and the clock, the contact log, the script library, first-lesson feedback, referrals,
and each campus's service settings."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from schoolops.fields import MoneyField
from students.models import Enrollment


class ServiceSettings(models.Model):
    """A campus's service timings (seed 003). A campus without a row uses the defaults."""

    campus = models.OneToOneField(
        "schoolops.Campus", on_delete=models.CASCADE, related_name="service_settings", verbose_name=_("campus")
    )
    first_contact_hours = models.PositiveIntegerField(
        _("first contact within (hours of payment)"), default=24, validators=[MinValueValidator(1)]
    )
    reminder_minutes = models.PositiveIntegerField(
        _("first-lesson reminder (minutes before)"), default=60, validators=[MinValueValidator(5)]
    )
    feedback_after_minutes = models.PositiveIntegerField(
        _("ask how the first lesson went (minutes after it starts)"),
        default=120,
        validators=[MinValueValidator(30)],
    )
    inactive_days = models.PositiveIntegerField(
        _("no learning for (days) makes a student at risk"), default=7, validators=[MinValueValidator(1)]
    )
    follow_up_days = models.PositiveIntegerField(
        _("follow-up every (days) for courses of one to three months"),
        default=14,
        validators=[MinValueValidator(3)],
        help_text=_(
            "Courses up to a month get one follow-up mid-course; courses of three months or more, one a month."
        ),
    )
    renewal_lead_days = models.PositiveIntegerField(
        _("renewal talk starts (days before the course ends)"), default=30, validators=[MinValueValidator(1)]
    )
    task_days = models.PositiveIntegerField(
        _("days to do a follow-up or renewal task"), default=3, validators=[MinValueValidator(1)]
    )
    escalate_after_hours = models.PositiveIntegerField(
        _("tell the supervisor when a task is overdue by (hours)"), default=4
    )
    low_score = models.PositiveSmallIntegerField(
        _("a test score below this is low"), default=60, validators=[MaxValueValidator(100)]
    )
    referrer_reward = MoneyField(_("referral reward to the referrer (CNY)"), default=Decimal("200.00"))
    referee_reward = MoneyField(_("referral reward to the new student (CNY)"), default=Decimal("100.00"))
    behind_points = models.PositiveSmallIntegerField(
        _("falling behind: completion this many points below the course's elapsed time"),
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )

    campus_lookup = "campus"
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("student service settings")
        verbose_name_plural = _("student service settings")

    def __str__(self) -> str:
        return str(self.campus)


class TaskKind(models.TextChoices):
    FIRST_CONTACT = "first_contact", _("First contact")
    LESSON_REMINDER = "lesson_reminder", _("First lesson: check attendance")
    FEEDBACK = "feedback", _("First-lesson feedback follow-up")
    INACTIVE = "inactive", _("Inactive student")
    FOLLOW_UP = "follow_up", _("Progress follow-up")
    RENEWAL = "renewal", _("Renewal talk")


class TaskStatus(models.TextChoices):
    OPEN = "open", _("To do")
    DONE = "done", _("Done")
    CLOSED = "closed", _("Closed: the student left")


class ContactChannel(models.TextChoices):
    PHONE = "phone", _("Phone call")
    WECHAT = "wechat", _("WeChat")
    VISIT = "visit", _("In person")
    APP = "app", _("In-app message")


class RenewalOutcome(models.TextChoices):
    RENEWED = "renewed", _("Renewed")
    THINKING = "thinking", _("Thinking it over")
    DECLINED = "declined", _("Declined")


class ServiceTask(models.Model):
    """One thing the homeroom teacher owes a student. ``trigger`` names the occurrence within its
    kind (``""`` for once-only tasks, ``m2`` for the second monthly follow-up, the last learning
    day for an inactivity episode), so the same trigger never makes a second task."""

    campus_lookup = "campus"

    enrollment = models.ForeignKey(
        "students.Enrollment", on_delete=models.CASCADE, related_name="service_tasks", verbose_name=_("enrollment")
    )
    student = models.ForeignKey(
        "students.Student", on_delete=models.CASCADE, related_name="service_tasks", verbose_name=_("student")
    )
    campus = models.ForeignKey(
        "schoolops.Campus", on_delete=models.PROTECT, related_name="service_tasks", verbose_name=_("campus")
    )
    teacher = models.ForeignKey(
        "schoolops.Staff", on_delete=models.PROTECT, related_name="service_tasks", verbose_name=_("homeroom teacher")
    )
    kind = models.CharField(_("task"), max_length=20, choices=TaskKind.choices)
    trigger = models.CharField(_("trigger"), max_length=20, blank=True)
    due_at = models.DateTimeField(_("due at"))
    status = models.CharField(_("status"), max_length=10, choices=TaskStatus.choices, default=TaskStatus.OPEN)
    facts = models.JSONField(_("the student's figures when the task was made"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"))
    escalated_at = models.DateTimeField(_("supervisor told at"), null=True, blank=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    done_by = models.ForeignKey(
        "schoolops.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("done by")
    )
    closed_reason = models.CharField(_("why closed"), max_length=200, blank=True)
    # The outcome (seed 003: channel, duration, the student's goal and level, next step).
    channel = models.CharField(_("contact channel"), max_length=10, choices=ContactChannel.choices, blank=True)
    minutes = models.PositiveIntegerField(_("duration (minutes)"), null=True, blank=True)
    student_goal = models.CharField(_("the student's goal"), max_length=300, blank=True)
    student_level = models.CharField(_("the student's level"), max_length=200, blank=True)
    next_step = models.CharField(_("next step"), max_length=300, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    attended = models.BooleanField(_("attended the first lesson"), null=True, blank=True)
    renewal_outcome = models.CharField(_("renewal outcome"), max_length=10, choices=RenewalOutcome.choices, blank=True)
    renewal_reason = models.CharField(_("reason"), max_length=300, blank=True)

    history = HistoricalRecords(excluded_fields=["facts"])

    class Meta:
        verbose_name = _("service task")
        verbose_name_plural = _("service tasks")
        ordering = ["due_at", "pk"]
        indexes = [
            models.Index(fields=["teacher", "status", "due_at"]),
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["campus", "kind", "created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "kind", "trigger"], name="servicetask_once_per_trigger"),
            models.CheckConstraint(
                condition=Q(status=TaskStatus.OPEN, done_at__isnull=True) | ~Q(status=TaskStatus.OPEN),
                name="servicetask_open_not_done",
            ),
            models.CheckConstraint(
                condition=~Q(status=TaskStatus.DONE) | Q(done_at__isnull=False),
                name="servicetask_done_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status=TaskStatus.DONE, kind=TaskKind.RENEWAL) | ~Q(renewal_outcome=""),
                name="servicetask_renewal_has_outcome",
                violation_error_message=_("A renewal talk is done only with its outcome."),
            ),
            models.CheckConstraint(
                condition=~Q(renewal_outcome=RenewalOutcome.DECLINED) | ~Q(renewal_reason=""),
                name="servicetask_declined_has_reason",
                violation_error_message=_("Say why the student declined."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.student_id}"


class TaskReschedule(models.Model):
    """A task moved to another time, with why and by whom."""

    task = models.ForeignKey(ServiceTask, on_delete=models.CASCADE, related_name="reschedules", verbose_name=_("task"))
    from_due_at = models.DateTimeField(_("was due at"))
    to_due_at = models.DateTimeField(_("now due at"))
    reason = models.CharField(_("reason"), max_length=300)
    by = models.ForeignKey("schoolops.User", on_delete=models.PROTECT, related_name="+", verbose_name=_("by"))
    at = models.DateTimeField(_("at"))

    class Meta:
        verbose_name = _("task rescheduled")
        verbose_name_plural = _("tasks rescheduled")
        ordering = ["-at"]
        constraints = [models.CheckConstraint(condition=~Q(reason=""), name="taskreschedule_has_reason")]

    def __str__(self) -> str:
        return f"{self.from_due_at:%Y-%m-%d %H:%M} → {self.to_due_at:%Y-%m-%d %H:%M}"


class ContactSource(models.TextChoices):
    TASK = "task", _("Service task")
    TICKET = "ticket", _("Ticket")
    CALL = "call", _("Call or chat")


class ContactLog(models.Model):
    """Every contact with a student, whatever made it: a task done, a ticket answered, a call."""

    campus_lookup = "student__campus"

    student = models.ForeignKey(
        "students.Student", on_delete=models.CASCADE, related_name="contacts", verbose_name=_("student")
    )
    staff = models.ForeignKey(
        "schoolops.Staff",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contacts",
        verbose_name=_("staff member"),
    )
    at = models.DateTimeField(_("at"))
    channel = models.CharField(_("contact channel"), max_length=10, choices=ContactChannel.choices)
    minutes = models.PositiveIntegerField(_("duration (minutes)"), null=True, blank=True)
    summary = models.TextField(_("summary"))
    source = models.CharField(_("source"), max_length=10, choices=ContactSource.choices)
    task = models.ForeignKey(
        ServiceTask, on_delete=models.SET_NULL, null=True, blank=True, related_name="contacts", verbose_name=_("task")
    )
    ticket = models.ForeignKey(
        "servicedesk.Ticket",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="contacts",
        verbose_name=_("ticket"),
    )

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contact log")
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["student", "-at"])]
        constraints = [
            models.UniqueConstraint(fields=["task"], condition=Q(task__isnull=False), name="contactlog_one_per_task"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.at:%Y-%m-%d %H:%M}"


class ScriptScenario(models.TextChoices):
    FIRST_CONTACT = "first_contact", _("First contact")
    LESSON_REMINDER = "lesson_reminder", _("First-lesson reminder")
    FEEDBACK = "feedback", _("First-lesson feedback")
    INACTIVE = "inactive", _("Inactive student")
    FOLLOW_UP = "follow_up", _("Progress follow-up")
    COMPLAINT = "complaint", _("Complaint handling")
    RENEWAL = "renewal", _("Renewal")
    REFERRAL = "referral", _("Referral")


class Script(models.Model):
    """A script of the library (话术库): what to say in a scenario, its key points and cautions.
    ``body`` may name the student's data as ``{{ student_name }}``, ``{{ course }}`` and so on."""

    scenario = models.CharField(_("scenario"), max_length=20, choices=ScriptScenario.choices)
    title = models.CharField(_("title"), max_length=100)
    key_points = models.CharField(_("key points"), max_length=300)
    cautions = models.CharField(_("cautions"), max_length=300, blank=True)
    body = models.TextField(_("script"))
    language = models.CharField(_("language"), max_length=10, default="zh-hans")
    active = models.BooleanField(_("in use"), default=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("script")
        verbose_name_plural = _("script library")
        ordering = ["scenario", "position", "pk"]

    def __str__(self) -> str:
        return self.title


class FeedbackAnswer(models.TextChoices):
    GOOD = "good", _("Good")
    OKAY = "okay", _("Okay")
    BAD = "bad", _("Not good")


class LessonFeedback(models.Model):
    """The first-lesson question ("感觉怎么样"), answered from her page or the message's link."""

    enrollment = models.OneToOneField(
        "students.Enrollment", on_delete=models.CASCADE, related_name="lesson_feedback", verbose_name=_("enrollment")
    )
    asked_at = models.DateTimeField(_("asked at"))
    answer = models.CharField(_("answer"), max_length=10, choices=FeedbackAnswer.choices, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("first-lesson feedback")
        verbose_name_plural = _("first-lesson feedback")
        ordering = ["-asked_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(answer="", answered_at__isnull=True) | (~Q(answer="") & Q(answered_at__isnull=False)),
                name="lessonfeedback_answer_has_time",
            ),
        ]

    def __str__(self) -> str:
        return self.get_answer_display() or "-"


class ReferralCode(models.Model):
    """A student's own referral code (老带新), printed on her page with a link to share."""

    student = models.OneToOneField(
        "students.Student", on_delete=models.CASCADE, related_name="referral_code", verbose_name=_("student")
    )
    code = models.CharField(_("referral code"), max_length=16, unique=True)
    created_at = models.DateTimeField(_("created at"))

    class Meta:
        verbose_name = _("referral code")
        verbose_name_plural = _("referral codes")

    def __str__(self) -> str:
        return self.code


class Referral(models.Model):
    """A new order that named a student's code. The rewards are recorded here, paid elsewhere."""

    campus_lookup = "referrer__campus"

    order = models.OneToOneField(
        "orders.Order", on_delete=models.CASCADE, related_name="referral", verbose_name=_("order")
    )
    referrer = models.ForeignKey(
        "students.Student", on_delete=models.PROTECT, related_name="referrals_made", verbose_name=_("referred by")
    )
    referee = models.ForeignKey(
        "students.Student", on_delete=models.PROTECT, related_name="referrals_received", verbose_name=_("new student")
    )
    teacher = models.ForeignKey(
        "schoolops.Staff",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("the referrer's homeroom teacher"),
    )
    code = models.CharField(_("referral code"), max_length=16)
    referrer_reward = MoneyField(_("reward to the referrer (CNY)"), default=Decimal("0.00"))
    referee_reward = MoneyField(_("reward to the new student (CNY)"), default=Decimal("0.00"))
    recorded_at = models.DateTimeField(_("recorded at"))

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-recorded_at"]
        indexes = [models.Index(fields=["teacher", "recorded_at"]), models.Index(fields=["referrer", "recorded_at"])]
        constraints = [
            models.CheckConstraint(condition=~Q(referrer=models.F("referee")), name="referral_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.code} → {self.order_id}"


class LearningWatch(Enrollment):
    """The learning watch (学习看板): the enrollments as homeroom teachers, supervisors and campus
    heads follow them. A proxy without data of its own; it carries the page's permission and its
    place on the admin index."""

    class Meta:
        proxy = True
        default_permissions = ()
        permissions = [("view_learning_watch", _("Can view the learning watch"))]
        verbose_name = _("learning watch")
        verbose_name_plural = _("learning watch")

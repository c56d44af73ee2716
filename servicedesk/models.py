"""Tickets (工单): a student's question, complaint or dispute, the conversation about it, the
clocks it runs against, its escalations, and the four steps of the SOP it went through
(registered → assessed → resolved → reviewed and archived)."""

from __future__ import annotations

import datetime
import uuid
from pathlib import PurePath

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from simple_history.models import HistoricalRecords


class TicketCategory(models.TextChoices):
    QUESTION = "question", _("Question")
    COMPLAINT = "complaint", _("Complaint")
    TECHNICAL = "technical", _("Technical problem")
    REFUND_DISPUTE = "refund_dispute", _("Refund dispute")
    COURSE_CHANGE = "course_change", _("Course change")


# Complaints and disputes must be closed within the complaint target and archived with a root cause.
COMPLAINT_CATEGORIES = (TicketCategory.COMPLAINT, TicketCategory.REFUND_DISPUTE)


class TicketPriority(models.TextChoices):
    NORMAL = "normal", _("Normal")
    URGENT = "urgent", _("Urgent")


class TicketChannel(models.TextChoices):
    PORTAL = "portal", _("Personal center")
    PHONE = "phone", _("Phone")
    WECHAT = "wechat", _("WeChat")
    WALK_IN = "walk_in", _("Walk-in")
    EMAIL = "email", _("E-mail")


class TicketStatus(models.TextChoices):
    OPEN = "open", _("Waiting for us")
    WAITING = "waiting", _("Waiting for the student")
    RESOLVED = "resolved", _("Resolved")
    ARCHIVED = "archived", _("Reviewed and archived")


ACTIVE_STATUSES = (TicketStatus.OPEN, TicketStatus.WAITING)


class SolutionKind(models.TextChoices):
    ANSWER = "answer", _("An answer")
    REFUND_OPENED = "refund_opened", _("A refund request opened")
    REFUND_DECIDED = "refund_decided", _("A refund request decided")
    COURSE_CHANGE = "course_change", _("A course change")
    COMPENSATION = "compensation", _("A compensation")


class RootCause(models.TextChoices):
    COURSE_CONTENT = "course_content", _("Course content")
    TEACHER = "teacher", _("Teacher")
    TECHNICAL = "technical", _("Technical")
    POLICY = "policy", _("Policy")
    EXPECTATION = "expectation", _("Expectation")
    OTHER = "other", _("Other")


class EscalationLevel(models.IntegerChoices):
    SERVICE = 1, _("L1 customer service")
    SUPERVISOR = 2, _("L2 teaching supervisor")
    CAMPUS_HEAD = 3, _("L3 campus head")


class SlaClock(models.TextChoices):
    RESPONSE = "response", _("Response")
    RESOLUTION = "resolution", _("Resolution")


class DeskSettings(models.Model):
    """The campus's service-desk clock (business hours; holidays and 调休 come from the working-day
    calendar) and its targets. A campus without a row uses the defaults."""

    campus = models.OneToOneField(
        "schoolops.Campus", on_delete=models.CASCADE, related_name="desk_settings", verbose_name=_("campus")
    )
    opens_at = models.TimeField(_("desk opens at"), default=datetime.time(9, 0))
    closes_at = models.TimeField(_("desk closes at"), default=datetime.time(21, 0))
    open_on_weekends = models.BooleanField(
        _("open on weekends"),
        default=False,
        help_text=_(
            "Public holidays are closed and make-up working days (调休) open, as the working-day calendar says."
        ),
    )
    response_minutes = models.PositiveIntegerField(
        _("first response within (minutes)"), default=240, validators=[MinValueValidator(5)]
    )
    urgent_response_minutes = models.PositiveIntegerField(
        _("urgent: first response within (minutes)"), default=30, validators=[MinValueValidator(5)]
    )
    complaint_resolution_hours = models.PositiveIntegerField(
        _("complaints and disputes closed within (hours)"), default=48, validators=[MinValueValidator(1)]
    )
    resolution_hours = models.PositiveIntegerField(
        _("other tickets closed within (hours)"), default=72, validators=[MinValueValidator(1)]
    )
    warn_at_percent = models.PositiveSmallIntegerField(
        _("warn when this share of the time is used (%)"),
        default=80,
        validators=[MinValueValidator(10), MaxValueValidator(99)],
        help_text=_("Customer service is told a ticket is about to breach when this much of its time has passed."),
    )

    campus_lookup = "campus"
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("service desk settings")
        verbose_name_plural = _("service desk settings")
        constraints = [
            models.CheckConstraint(
                condition=Q(opens_at__lt=models.F("closes_at")),
                name="desk_opens_before_it_closes",
                violation_error_message=_("The desk must open before it closes."),
            ),
        ]

    def __str__(self) -> str:
        return str(self.campus)


class Ticket(models.Model):
    ticket_no = models.CharField(_("ticket number"), max_length=20, unique=True)
    student = models.ForeignKey(
        "students.Student", on_delete=models.PROTECT, related_name="tickets", verbose_name=_("student")
    )
    campus = models.ForeignKey(
        "schoolops.Campus", on_delete=models.PROTECT, related_name="tickets", verbose_name=_("campus")
    )
    category = models.CharField(_("category"), max_length=20, choices=TicketCategory.choices)
    priority = models.CharField(
        _("priority"), max_length=10, choices=TicketPriority.choices, default=TicketPriority.NORMAL
    )
    urgent_reason = models.CharField(_("why urgent"), max_length=300, blank=True)
    subject = models.CharField(_("subject"), max_length=120)
    description = models.TextField(_("description"), max_length=4000)
    order = models.ForeignKey(
        "orders.Order",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("order"),
    )
    refund_request = models.ForeignKey(
        "refunds.RefundRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("refund request"),
    )
    status = models.CharField(_("status"), max_length=10, choices=TicketStatus.choices, default=TicketStatus.OPEN)
    owner = models.ForeignKey(
        "schoolops.Staff",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("owner"),
    )

    # Step 1, registered: how the contact came in (staff register phone, WeChat and walk-in contacts).
    channel = models.CharField(
        pgettext_lazy("contact", "channel"), max_length=10, choices=TicketChannel.choices, default=TicketChannel.PORTAL
    )
    contact_name = models.CharField(_("who contacted us"), max_length=64, blank=True)
    contacted_at = models.DateTimeField(_("contacted at"))
    registered_by = models.ForeignKey(
        "schoolops.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("registered by"),
        help_text=_("Empty when the student opened the ticket herself."),
    )
    created_at = models.DateTimeField(_("registered at"), default=timezone.now)

    # Step 2, assessed.
    assessment = models.TextField(_("finding"), blank=True)
    policy_point = models.CharField(_("policy point"), max_length=200, blank=True)
    assessed_at = models.DateTimeField(_("assessed at"), null=True, blank=True)
    assessed_by = models.ForeignKey(
        "schoolops.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("assessed by"),
    )

    # Step 3, resolved: the solution, linked to what it did.
    solution_kind = models.CharField(_("solution"), max_length=20, choices=SolutionKind.choices, blank=True)
    solution = models.TextField(_("solution given"), blank=True)
    solution_refund = models.ForeignKey(
        "refunds.RefundRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("refund request of the solution"),
    )
    compensation = models.DecimalField(_("compensation (yuan)"), max_digits=10, decimal_places=2, null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        "schoolops.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("resolved by"),
    )

    # Step 4, reviewed and archived.
    root_cause = models.CharField(_("root cause"), max_length=20, choices=RootCause.choices, blank=True)
    root_course = models.ForeignKey(
        "orders.Course",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("course concerned"),
    )
    root_teacher = models.ForeignKey(
        "schoolops.Staff",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("teacher concerned"),
    )
    review_note = models.TextField(_("review"), blank=True)
    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True)
    archived_by = models.ForeignKey(
        "schoolops.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("archived by"),
    )

    # The clocks (business time on the campus's desk clock).
    response_due_at = models.DateTimeField(
        _("reply due by"), null=True, blank=True, help_text=_("Empty while nothing waits for our reply.")
    )
    response_warn_at = models.DateTimeField(_("reply warning at"), null=True, blank=True)
    awaiting_reply_since = models.DateTimeField(_("waiting for our reply since"), null=True, blank=True)
    first_response_at = models.DateTimeField(_("first response at"), null=True, blank=True)
    first_response_seconds = models.PositiveIntegerField(
        _("first response time (business seconds)"), null=True, blank=True
    )
    resolution_due_at = models.DateTimeField(_("resolution due by"), null=True, blank=True)
    resolution_warn_at = models.DateTimeField(_("resolution warning at"), null=True, blank=True)
    paused_at = models.DateTimeField(
        _("clock paused at"),
        null=True,
        blank=True,
        help_text=_("The resolution clock stops while we wait for the student."),
    )
    paused_seconds = models.PositiveIntegerField(_("paused (business seconds)"), default=0)
    resolution_seconds = models.PositiveIntegerField(_("resolution time (business seconds)"), null=True, blank=True)
    next_escalation_at = models.DateTimeField(
        _("next escalation check at"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("When the escalation beat next looks at the ticket: its earliest level not yet reached."),
    )
    escalation_level = models.PositiveSmallIntegerField(
        _("escalation level"), choices=[(0, _("Not escalated")), *EscalationLevel.choices], default=0
    )

    campus_lookup = "campus"
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("handle_ticket", _("Can answer, assess and resolve tickets")),
            ("archive_ticket", _("Can review and archive tickets")),
        ]
        indexes = [
            models.Index(fields=["campus", "status"]),
            models.Index(fields=["status", "next_escalation_at"], name="ticket_next_escalation"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status__in=["resolved", "archived"]) | ~Q(solution_kind=""),
                name="ticket_resolved_has_solution",
                violation_error_message=_("A ticket cannot be closed without its solution."),
            ),
            models.CheckConstraint(
                condition=~Q(status="archived", category__in=["complaint", "refund_dispute"], root_cause=""),
                name="ticket_complaint_archived_with_root_cause",
                violation_error_message=_("A complaint cannot be archived without its root cause."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_no} · {self.subject}"

    @property
    def is_complaint(self) -> bool:
        return self.category in COMPLAINT_CATEGORIES


class MessageKind(models.TextChoices):
    STUDENT = "student", _("From the student")
    REPLY = "reply", _("Reply to the student")
    NOTE = "note", _("Internal note")
    SYSTEM = "system", _("System")


class TicketMessage(models.Model):
    """One turn of the conversation; internal notes never reach the student."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages", verbose_name=_("ticket"))
    kind = models.CharField(_("kind"), max_length=10, choices=MessageKind.choices)
    author = models.ForeignKey(
        "schoolops.User", on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("author")
    )
    body = models.TextField(_("message"), max_length=4000)
    created_at = models.DateTimeField(_("written at"), default=timezone.now)

    campus_lookup = "ticket__campus"

    class Meta:
        verbose_name = _("ticket message")
        verbose_name_plural = _("ticket messages")
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.ticket.ticket_no} · {self.get_kind_display()}"

    @property
    def is_internal(self) -> bool:
        return self.kind == MessageKind.NOTE


def attachment_upload_to(instance: TicketAttachment, filename: str) -> str:
    """A random name under tickets/: the sender's file name is kept in the row, never on disk."""
    suffix = PurePath(filename).suffix.lower()[:8]
    return f"tickets/{timezone.now():%Y/%m}/{uuid.uuid4().hex}{suffix}"


class TicketAttachment(models.Model):
    """A file with a message: PDF, JPEG or PNG, checked by content."""

    message = models.ForeignKey(
        TicketMessage, on_delete=models.CASCADE, related_name="attachments", verbose_name=_("message")
    )
    file = models.FileField(_("file"), upload_to=attachment_upload_to, max_length=200)
    original_name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("type"), max_length=40)
    size = models.PositiveIntegerField(_("size (bytes)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)

    campus_lookup = "message__ticket__campus"

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.original_name


class TicketEscalation(models.Model):
    """A ticket about to breach (level 1) or breached (levels 2 and 3) one of its clocks: who was
    told and when. One row per ticket, clock, deadline and level."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="escalations", verbose_name=_("ticket"))
    clock = models.CharField(_("clock"), max_length=10, choices=SlaClock.choices)
    level = models.PositiveSmallIntegerField(_("level"), choices=EscalationLevel.choices)
    due_at = models.DateTimeField(_("deadline"))
    at = models.DateTimeField(_("escalated at"))
    told = models.ManyToManyField("schoolops.Staff", related_name="+", blank=True, verbose_name=_("told"))

    campus_lookup = "ticket__campus"

    class Meta:
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        ordering = ["at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["ticket", "clock", "due_at", "level"], name="ticket_escalation_once"),
        ]

    def __str__(self) -> str:
        return f"{self.ticket.ticket_no} · {self.get_clock_display()} · {self.get_level_display()}"


class RatingSubject(models.TextChoices):
    TICKET = "ticket", _("Ticket")
    REFUND = "refund", _("Refund request")


class Rating(models.Model):
    """The student's satisfaction (1–5 and a comment) with a ticket or a finished refund, tied to
    the staff member who served her and the campus. One per ticket or request; she may revise it."""

    student = models.ForeignKey(
        "students.Student", on_delete=models.PROTECT, related_name="ratings", verbose_name=_("student")
    )
    campus = models.ForeignKey(
        "schoolops.Campus", on_delete=models.PROTECT, related_name="ratings", verbose_name=_("campus")
    )
    staff = models.ForeignKey(
        "schoolops.Staff",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ratings",
        verbose_name=_("staff member rated"),
    )
    subject = models.CharField(_("about"), max_length=10, choices=RatingSubject.choices)
    ticket = models.OneToOneField(
        Ticket, on_delete=models.CASCADE, null=True, blank=True, related_name="rating", verbose_name=_("ticket")
    )
    refund_request = models.OneToOneField(
        "refunds.RefundRequest",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="rating",
        verbose_name=_("refund request"),
    )
    score = models.PositiveSmallIntegerField(
        _("score"),
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text=_("1 (very unhappy) to 5 (very happy)"),
    )
    comment = models.TextField(_("comment"), max_length=1000, blank=True)
    created_at = models.DateTimeField(_("rated at"), default=timezone.now)
    updated_at = models.DateTimeField(_("revised at"), default=timezone.now)

    campus_lookup = "campus"
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("satisfaction rating")
        verbose_name_plural = _("satisfaction ratings")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["campus", "created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=1, score__lte=5), name="rating_score_1_to_5"),
            models.CheckConstraint(
                condition=(
                    Q(subject="ticket", ticket__isnull=False, refund_request__isnull=True)
                    | Q(subject="refund", ticket__isnull=True, refund_request__isnull=False)
                ),
                name="rating_has_its_subject",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_subject_display()} · {self.score}/5"


class HelpSection(models.TextChoices):
    REFUNDS = "refunds", _("Refunds")
    COURSES = "courses", _("Courses and course changes")
    LEARNING = "learning", _("Learning and live classes")
    PAYMENT = "payment", _("Payment and invoices")
    ACCOUNT = "account", _("Account")


class HelpArticle(models.Model):
    """An answer of the help center, offered to the student while she writes a ticket; operations
    edit them. ``heading_tokens`` is the question and its other words cut into words (jieba),
    ``search_tokens`` the answer's."""

    title = models.CharField(_("question"), max_length=120)
    section = models.CharField(_("section"), max_length=20, choices=HelpSection.choices)
    body = models.TextField(_("answer"), max_length=6000)
    keywords = models.CharField(
        _("other words for it"),
        max_length=300,
        blank=True,
        help_text=_("How students may say it, separated by spaces (e.g. 退款 到账 多久 钱什么时候回来)."),
    )
    is_published = models.BooleanField(_("published"), default=True)
    position = models.PositiveSmallIntegerField(_("order in its section"), default=0)
    heading_tokens = models.TextField(_("search words of the question"), blank=True, editable=False)
    search_tokens = models.TextField(_("search words"), blank=True, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("help article")
        verbose_name_plural = _("help articles")
        ordering = ["section", "position", "pk"]

    def __str__(self) -> str:
        return self.title


class ArticleSolved(models.Model):
    """A student said an article solved her problem instead of opening a ticket (这解决了我的问题)."""

    article = models.ForeignKey(HelpArticle, on_delete=models.CASCADE, related_name="solved", verbose_name=_("article"))
    student = models.ForeignKey(
        "students.Student", on_delete=models.CASCADE, related_name="+", verbose_name=_("student")
    )
    at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("article that solved a problem")
        verbose_name_plural = _("articles that solved a problem")
        constraints = [models.UniqueConstraint(fields=["article", "student"], name="article_solved_once_per_student")]

    def __str__(self) -> str:
        return f"{self.article} · {self.at:%Y-%m-%d}"

"""Course exchange (换课): the policy that says what may be exchanged for what, and the exchange.

An exchange rides on an after-sale request of kind ``exchange`` (``refunds.RefundRequest``): the
request takes the approval route (customer service, the teaching supervisor, the campus head above
a set difference) with the refund's decision pages, delegation, deadlines and escalation. The
``Exchange`` keeps what is its own: the target course, the calculation as the student saw it,
the policy's terms it was made under, the difference and how it was settled, the new order, the
student's rating.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from orders.models import CourseType
from refunds.models import MAX_POLICY_DAYS, PERCENT_VALIDATORS, DayAnchor, PercentField
from schoolops.fields import MoneyField
from schoolops.versioning import VersionedOnSave


class CampusScope(models.TextChoices):
    SAME = "same", _("Courses of the same campus")
    ANY = "any", _("Courses of any campus")


class TypeScope(models.TextChoices):
    SAME = "same", _("Courses of the same type")
    ANY = "any", _("Courses of any type")


class ExchangePolicy(VersionedOnSave):
    """Which courses a course of one type may be exchanged for, and how its value is carried.

    Inside the window (counted like the refund windows, in Asia/Shanghai calendar days from the
    anchor day as day 1, with a progress ceiling) the whole unconsumed value is carried, without
    the refund's handling fee; outside it, what a refund would give now (the refund policy's
    tiers and fees). The exchange fee, if any, is taken from the value carried.
    """

    name = models.CharField(_("name"), max_length=120)
    course_type = models.CharField(
        _("course type"),
        max_length=20,
        choices=CourseType.choices,
        help_text=_("Orders of courses of this type may be exchanged under this policy."),
    )
    is_active = models.BooleanField(_("active"), default=True, help_text=_("Only one active policy per course type."))
    description = models.TextField(_("description"), blank=True, help_text=_("The terms as shown to the student."))
    target_campus = models.CharField(
        _("may move to"), max_length=10, choices=CampusScope.choices, default=CampusScope.SAME
    )
    target_type = models.CharField(_("course types"), max_length=10, choices=TypeScope.choices, default=TypeScope.SAME)
    window_days = models.PositiveSmallIntegerField(
        _("window (days)"),
        default=30,
        validators=[MaxValueValidator(MAX_POLICY_DAYS)],
        help_text=_("Inside the window the whole unconsumed value is carried over, without handling fee."),
    )
    window_anchor = models.CharField(
        _("window counted"), max_length=20, choices=DayAnchor.choices, default=DayAnchor.PURCHASE
    )
    window_progress_ceiling = PercentField(
        _("window progress ceiling (%)"),
        default=Decimal("50.00"),
        validators=PERCENT_VALIDATORS,
        help_text=_("Above this progress the window no longer applies."),
    )
    allow_after_window = models.BooleanField(
        _("exchange after the window"),
        default=True,
        help_text=_("After the window, carry what a refund would give now; otherwise no exchange after it."),
    )
    max_exchanges = models.PositiveSmallIntegerField(
        _("exchanges per order at most"),
        default=1,
        validators=[MinValueValidator(1)],
        help_text=_("Counted along the chain: an order made by an exchange counts the exchanges before it."),
    )
    exchange_fee = MoneyField(
        _("exchange fee (CNY)"),
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Taken from the value carried over."),
    )
    prorate_started_target = models.BooleanField(
        _("price a started course by the lessons ahead"),
        default=True,
        help_text=_("A target course that has started costs its price × lessons still ahead ÷ lessons."),
    )
    carry_progress = models.BooleanField(
        _("carry the lessons done"),
        default=False,
        help_text=_(
            "The courses of this type share their lessons (the same syllabus in another class or term): "
            "the lessons done count in the new course too."
        ),
    )
    pay_within_hours = models.PositiveSmallIntegerField(
        _("hours to pay a difference"),
        default=48,
        validators=[MinValueValidator(1)],
        help_text=_("After approval the student pays the difference within this time, or the exchange lapses."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("exchange policy")
        verbose_name_plural = _("exchange policies")
        ordering = ["course_type", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["course_type"],
                condition=Q(is_active=True),
                name="exchangepolicy_one_active_per_type",
                violation_error_message=_("This course type already has an active exchange policy."),
            ),
            models.CheckConstraint(
                condition=Q(window_progress_ceiling__gte=0, window_progress_ceiling__lte=100),
                name="exchangepolicy_ceiling_0_100",
            ),
            models.CheckConstraint(condition=Q(exchange_fee__gte=0), name="exchangepolicy_fee_not_negative"),
            models.CheckConstraint(condition=Q(max_exchanges__gte=1), name="exchangepolicy_max_at_least_one"),
            models.CheckConstraint(condition=Q(pay_within_hours__gte=1), name="exchangepolicy_pay_hours_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if (
            self.is_active
            and self.course_type
            and ExchangePolicy.objects.filter(is_active=True, course_type=self.course_type).exclude(pk=self.pk).exists()
        ):
            raise ValidationError({"course_type": _("This course type already has an active exchange policy.")})


class ExchangeStatus(models.TextChoices):
    IN_REVIEW = "in_review", _("Under review")
    AWAITING_PAYMENT = "awaiting_payment", _("Waiting for the difference to be paid")
    REFUNDING = "refunding", _("Refunding the difference")
    COMPLETED = "completed", _("Completed")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")
    LAPSED = "lapsed", _("Lapsed: the difference was not paid in time")


OPEN_EXCHANGE_STATES = (ExchangeStatus.IN_REVIEW, ExchangeStatus.AWAITING_PAYMENT, ExchangeStatus.REFUNDING)


class Exchange(models.Model):
    """One course exchange: from the order of one course to a new order of another."""

    request = models.OneToOneField(
        "refunds.RefundRequest", on_delete=models.PROTECT, related_name="exchange", verbose_name=_("request")
    )
    old_order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="exchanges_out", verbose_name=_("order exchanged")
    )
    target_course = models.ForeignKey(
        "orders.Course", on_delete=models.PROTECT, related_name="exchanges_in", verbose_name=_("new course")
    )
    new_order = models.OneToOneField(
        "orders.Order",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exchange_in",
        verbose_name=_("new order"),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=ExchangeStatus.choices, default=ExchangeStatus.IN_REVIEW
    )
    policy = models.ForeignKey(
        ExchangePolicy, on_delete=models.PROTECT, related_name="exchanges", verbose_name=_("exchange policy")
    )
    policy_version = models.PositiveIntegerField(_("policy version"))
    policy_terms = models.JSONField(_("policy terms used"), encoder=DjangoJSONEncoder)
    lines = models.JSONField(
        _("calculation"), encoder=DjangoJSONEncoder, help_text=_("The lines as the student saw and confirmed them.")
    )
    method = models.CharField(_("value carried as"), max_length=20)
    carried_value = MoneyField(_("value carried over (CNY)"))
    target_price = MoneyField(_("price of the new course (CNY)"))
    refund_amount = MoneyField(_("difference refunded (CNY)"), default=Decimal("0.00"))
    pay_amount = MoneyField(_("difference to pay (CNY)"), default=Decimal("0.00"))
    carried_lessons = models.PositiveIntegerField(_("lessons carried to the new course"), default=0)
    quoted_at = models.DateTimeField(_("calculated at"))
    pay_deadline = models.DateTimeField(_("pay the difference by"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    closed_reason = models.CharField(_("why it ended"), max_length=300, blank=True)
    rating = models.PositiveSmallIntegerField(
        _("student's rating"), null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    rating_comment = models.TextField(_("student's comment"), blank=True)
    confirmed_at = models.DateTimeField(_("confirmed by the student at"), null=True, blank=True)

    history = HistoricalRecords()
    campus_lookup = "request__campus"

    class Meta:
        verbose_name = _("course exchange")
        verbose_name_plural = _("course exchanges")
        ordering = ["-quoted_at"]
        indexes = [models.Index(fields=["status", "pay_deadline"], name="exchange_status_deadline")]
        constraints = [
            models.CheckConstraint(
                condition=Q(refund_amount=0) | Q(pay_amount=0),
                name="exchange_one_direction",
                violation_error_message=_("A difference is either refunded or paid, not both."),
            ),
            models.CheckConstraint(
                condition=Q(refund_amount__gte=0, pay_amount__gte=0, carried_value__gte=0, target_price__gte=0),
                name="exchange_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5), name="exchange_rating_1_5"
            ),
            models.CheckConstraint(
                condition=~Q(status=ExchangeStatus.COMPLETED) | Q(new_order__isnull=False),
                name="exchange_completed_has_new_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.old_order} → {self.target_course}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_EXCHANGE_STATES

    @property
    def direction(self) -> str:
        if self.refund_amount > 0:
            return "refund"
        if self.pay_amount > 0:
            return "pay"
        return "even"

"""Courses and the orders students paid for them."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from schoolops.fields import MoneyField


class CourseType(models.TextChoices):
    TRIAL = "trial", _("Trial course")
    RECORDED = "recorded", _("Recorded course")
    LIVE = "live", _("Live course")
    ONE_ON_ONE = "one_on_one", _("One-on-one course")
    PREMIUM = "premium", _("Premium course")


class Course(models.Model):
    campus_lookup = "campus"  # path to the campus, for staff scoping

    code = models.SlugField(_("course code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    course_type = models.CharField(_("course type"), max_length=20, choices=CourseType.choices)
    campus = models.ForeignKey(
        "schoolops.Campus", on_delete=models.PROTECT, related_name="courses", verbose_name=_("campus")
    )
    lessons = models.PositiveIntegerField(
        _("lessons"),
        validators=[MinValueValidator(1)],
        help_text=_("Number of lessons; for one-on-one courses, the number of hours."),
    )
    price = MoneyField(_("price (CNY)"), validators=[MinValueValidator(Decimal("0"))])
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    description = models.TextField(_("description"), blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("course")
        verbose_name_plural = _("courses")
        ordering = ["-starts_at", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="course_price_not_negative"),
            models.CheckConstraint(condition=Q(lessons__gte=1), name="course_has_lessons"),
            models.CheckConstraint(
                condition=Q(ends_at__gte=F("starts_at")),
                name="course_ends_after_start",
                violation_error_message=_("The course cannot end before it starts."),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class PaymentChannel(models.TextChoices):
    WECHAT = "wechat", _("WeChat Pay")
    ALIPAY = "alipay", _("Alipay")
    CARD = "card", _("Bank card")
    OFFLINE = "offline", _("Offline transfer")


class OrderStatus(models.TextChoices):
    PAID = "paid", _("Paid")
    PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
    REFUNDED = "refunded", _("Refunded")
    # The school's order system voided the order (students.services.orders); it refunds nothing here.
    CANCELLED = "cancelled", _("Order cancelled")
    # Closed by a course exchange (exchanges): its value went to another order, what it refunded
    # stays in ``refunded_total`` and what it carried over in ``credited_total``.
    EXCHANGED = "exchanged", _("Exchanged for another course")


# The orders a student is actually taking: what a homeroom teacher's load counts.
ACTIVE_ORDER_STATUSES = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)


class Order(models.Model):
    campus_lookup = "course__campus"

    order_no = models.CharField(_("order number"), max_length=32, unique=True)
    student = models.ForeignKey(
        "students.Student", on_delete=models.PROTECT, related_name="orders", verbose_name=_("student")
    )
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="orders", verbose_name=_("course"))
    amount_paid = MoneyField(_("amount paid (CNY)"), validators=[MinValueValidator(Decimal("0"))])
    paid_at = models.DateTimeField(_("paid at"))
    channel = models.CharField(_("payment channel"), max_length=10, choices=PaymentChannel.choices)
    gateway_trade_no = models.CharField(
        _("gateway transaction number"),
        max_length=64,
        blank=True,
        help_text=_("The transaction number WeChat Pay, Alipay or the bank gave the payment."),
    )
    refunded_total = MoneyField(
        _("refunded total (CNY)"), default=Decimal("0.00"), validators=[MinValueValidator(Decimal("0"))]
    )
    credited_total = MoneyField(
        _("carried to another course (CNY)"),
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("The value a course exchange moved from this order to the order of the new course."),
    )
    exchanged_from = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="exchanged_to",
        verbose_name=_("exchanged from order"),
        help_text=_("This order was created by a course exchange from that order."),
    )
    carried_in = MoneyField(
        _("value carried in (CNY)"),
        default=Decimal("0.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("The part of the amount paid that came from the exchanged order, not new money."),
    )
    status = models.CharField(_("status"), max_length=20, choices=OrderStatus.choices, default=OrderStatus.PAID)
    referral_code = models.CharField(
        _("referral code"),
        max_length=16,
        blank=True,
        db_index=True,
        help_text=_("The referral code named on the order in the school's order system."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["-paid_at"]
        indexes = [
            models.Index(fields=["student", "-paid_at"]),
            models.Index(fields=["course", "-paid_at"]),
            # The analytics revenue facts of a day: the orders paid that day.
            models.Index(fields=["paid_at"], name="order_paid_at"),
            models.Index(fields=["channel", "gateway_trade_no"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount_paid__gte=0), name="order_amount_paid_not_negative"),
            models.CheckConstraint(condition=Q(refunded_total__gte=0), name="order_refunded_not_negative"),
            models.CheckConstraint(
                condition=Q(refunded_total__lte=F("amount_paid")),
                name="order_refunded_within_paid",
                violation_error_message=_("The refunded total cannot exceed the amount paid."),
            ),
            models.CheckConstraint(condition=Q(credited_total__gte=0), name="order_credited_not_negative"),
            models.CheckConstraint(
                condition=Q(refunded_total__lte=F("amount_paid") - F("credited_total")),
                name="order_refunded_and_credited_within_paid",
                violation_error_message=_(
                    "What was refunded and carried to another course cannot exceed the amount paid."
                ),
            ),
            models.CheckConstraint(
                condition=Q(carried_in__gte=0, carried_in__lte=F("amount_paid")),
                name="order_carried_in_within_paid",
                violation_error_message=_("The value carried in cannot exceed the amount paid."),
            ),
            models.CheckConstraint(
                condition=Q(credited_total=0) | Q(status="exchanged"),
                name="order_credited_only_when_exchanged",
                violation_error_message=_("Only an exchanged order carries value to another course."),
            ),
            models.CheckConstraint(
                condition=(
                    Q(status=OrderStatus.PAID, refunded_total=0)
                    | Q(
                        status=OrderStatus.PARTIALLY_REFUNDED,
                        refunded_total__gt=0,
                        refunded_total__lt=F("amount_paid"),
                    )
                    | Q(status=OrderStatus.REFUNDED, refunded_total=F("amount_paid"), amount_paid__gt=0)
                    | Q(status=OrderStatus.CANCELLED, refunded_total=0)
                    | Q(status=OrderStatus.EXCHANGED)
                ),
                name="order_status_matches_refunded_total",
                violation_error_message=_("The order status does not match its refunded total."),
            ),
            # The order a course exchange creates keeps the first order's payment (its money went
            # there first, and goes back by that route), so it shares the transaction number.
            models.UniqueConstraint(
                fields=["channel", "gateway_trade_no"],
                condition=~Q(gateway_trade_no="") & Q(exchanged_from__isnull=True),
                name="order_gateway_trade_no_unique",
                violation_error_message=_("This gateway transaction number belongs to another order."),
            ),
            models.CheckConstraint(
                condition=Q(channel=PaymentChannel.OFFLINE) | ~Q(gateway_trade_no=""),
                name="order_online_payment_has_trade_no",
                violation_error_message=_("An online payment needs the gateway's transaction number."),
            ),
        ]

    def __str__(self) -> str:
        return self.order_no

    @property
    def is_cancelled(self) -> bool:
        return self.status == OrderStatus.CANCELLED

    @property
    def is_exchanged(self) -> bool:
        return self.status == OrderStatus.EXCHANGED

    @property
    def is_closed(self) -> bool:
        """Cancelled by the order system or closed by a course exchange: nothing more goes back."""
        return self.status in (OrderStatus.CANCELLED, OrderStatus.EXCHANGED)

    @property
    def refundable_remaining(self) -> Decimal:
        """Paid minus already refunded and carried to another course (refunds in flight are
        subtracted by the quote); nothing on a cancelled or exchanged order."""
        if self.is_closed:
            return Decimal("0.00")
        return self.amount_paid - self.refunded_total - self.credited_total

    @property
    def new_money(self) -> Decimal:
        """What the student actually paid into this order (the amount paid less the value carried in
        from an exchanged order): the revenue of the order."""
        return self.amount_paid - self.carried_in

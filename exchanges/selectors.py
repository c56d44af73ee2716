"""Reads for the exchange pages: the policy of a course, the courses an order may move to, the
length of an order's exchange chain, a student's exchanges."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from orders.models import Course, Order
from refunds.models import RefundReason

from .models import CampusScope, Exchange, ExchangePolicy, ExchangeStatus, TypeScope


def exchange_policy_for(*, course: Course) -> ExchangePolicy | None:
    """The active exchange policy of ``course``'s type, if there is one."""
    return ExchangePolicy.objects.filter(is_active=True, course_type=course.course_type).first()


def exchange_targets(*, order: Order, policy: ExchangePolicy, at: datetime.datetime) -> QuerySet[Course]:
    """The courses ``order`` may be exchanged for under ``policy`` at ``at``: not its own course,
    not ended, at its campus and of its type unless the policy says any; soonest first."""
    course = order.course
    courses = Course.objects.select_related("campus").exclude(pk=course.pk).filter(ends_at__gt=at)
    if policy.target_campus == CampusScope.SAME:
        courses = courses.filter(campus_id=course.campus_id)
    if policy.target_type == TypeScope.SAME:
        courses = courses.filter(course_type=course.course_type)
    return courses.order_by("starts_at", "code")


def exchange_chain_length(*, order: Order) -> int:
    """How many exchanges led to ``order`` (0 for an order bought as it is)."""
    count, current = 0, order
    while current.exchanged_from_id is not None:
        count += 1
        current = Order.objects.only("exchanged_from_id").get(pk=current.exchanged_from_id)
    return count


def exchanges_of_student(*, student_id: int) -> QuerySet[Exchange]:
    return (
        Exchange.objects.filter(request__student_id=student_id)
        .select_related("request", "old_order__course", "target_course", "new_order")
        .order_by("-quoted_at")
    )


def exchange_of_request(*, request_id: int) -> Exchange | None:
    return (
        Exchange.objects.select_related("old_order__course", "target_course", "new_order", "policy")
        .filter(request_id=request_id)
        .first()
    )


@dataclass(frozen=True)
class ExchangeFigures:
    """Exchanges of one course (the course moved from) or one reason in a period."""

    label: str
    asked: int
    completed: int
    refunds_replaced: Decimal  # what a refund would have given when they asked, for the completed ones
    difference_refunded: Decimal
    difference_paid: Decimal


def exchange_figures(
    *, start: datetime.datetime, end: datetime.datetime, campus_ids: list[int] | None, by: str = "course"
) -> list[ExchangeFigures]:
    """Exchanges asked for between ``start`` and ``end`` (exclusive), by the course moved from or by
    reason, most asked first: how many, how many completed, the refunds they replaced (each
    request keeps the refund quote of the moment it was made) and the differences settled."""
    exchanges = Exchange.objects.filter(request__submitted_at__gte=start, request__submitted_at__lt=end)
    if campus_ids is not None:
        exchanges = exchanges.filter(request__campus_id__in=campus_ids)
    field = "old_order__course__name" if by == "course" else "request__reason"
    done = Q(status=ExchangeStatus.COMPLETED)
    zero = Value(Decimal("0.00"))
    rows = (
        exchanges.values(field)
        .annotate(
            asked=Count("pk"),
            completed=Count("pk", filter=done),
            replaced=Coalesce(Sum("request__quote__total", filter=done), zero),
            refunded=Coalesce(Sum("refund_amount", filter=done), zero),
            paid=Coalesce(Sum("pay_amount", filter=done), zero),
        )
        .order_by("-asked", field)
    )
    labels = dict(RefundReason.choices)
    return [
        ExchangeFigures(
            label=str(labels.get(row[field], row[field])) if by == "reason" else row[field],
            asked=row["asked"],
            completed=row["completed"],
            refunds_replaced=row["replaced"],
            difference_refunded=row["refunded"],
            difference_paid=row["paid"],
        )
        for row in rows
    ]

"""Reads for the exchange pages: the policy of a course, the courses an order may move to, the
length of an order's exchange chain, a student's exchanges."""

from __future__ import annotations

import datetime

from django.db.models import QuerySet

from orders.models import Course, Order

from .models import CampusScope, Exchange, ExchangePolicy, TypeScope


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

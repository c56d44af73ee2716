"""Reads the refund services, views and reports share."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Q

from orders.models import Course, Order

from .models import RefundPolicy


def refund_policy_for_course(*, course: Course) -> RefundPolicy | None:
    """The active policy of ``course``: its own if it has one, else its course type's.

    One query for both candidates, plus one each for their tiers and special rules (prefetched).
    """
    candidates = list(
        RefundPolicy.objects.filter(is_active=True)
        .filter(Q(course_id=course.pk) | Q(course__isnull=True, course_type=course.course_type))
        .order_by()  # chosen below; the default ordering would join the course
        .prefetch_related("tiers", "special_rules")
    )
    for policy in candidates:
        if policy.course_id == course.pk:
            return policy
    return candidates[0] if candidates else None


def refund_in_flight_total(*, order: Order) -> Decimal:
    """Money of ``order`` already on its way back: approved or paying refunds not yet refunded.

    The single place the refund-request issue extends. Refund requests do not exist yet, so this
    is always ``Decimal("0.00")`` and costs no query. When it becomes a query, keep the quote
    within its query budget (e.g. accept an ``order`` annotated with the sum and use it).
    """
    return Decimal("0.00")

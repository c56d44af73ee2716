"""Reads of the exchange admin: an exchange as its request's decision page shows it, and the
orders the exchange desk offers for a student."""

from __future__ import annotations

from django.db.models import QuerySet

from orders.models import Order, OrderStatus

from .models import Exchange


def exchange_for_review(*, request_id: int) -> Exchange | None:
    """The exchange of a request with what its box shows (both courses, the new order, the policy). One query."""
    return (
        Exchange.objects.select_related(
            "old_order__course", "target_course__campus", "new_order", "policy", "request__campus"
        )
        .filter(request_id=request_id)
        .first()
    )


def desk_orders(*, student_id: int) -> QuerySet[Order]:
    """The student's orders the desk lists, newest first: a cancelled one is not (nothing to carry)."""
    return (
        Order.objects.filter(student_id=student_id)
        .exclude(status=OrderStatus.CANCELLED)
        .select_related("course__campus")
        .order_by("-paid_at", "-pk")
    )

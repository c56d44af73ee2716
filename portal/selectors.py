"""Reads for the personal center; every lookup is scoped to the student (or user) asking."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

from django.contrib.auth.models import AnonymousUser
from django.db.models import Max, Prefetch, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from notifications.models import InboxMessage, NotificationPreference
from orders.models import CourseType, Order
from refunds import rules
from refunds.models import RefundPolicy, RefundReason, RefundRequest
from refunds.quotes import Quote
from refunds.selectors import orders_with_in_flight, refund_policies_for_courses
from refunds.services.quoting import refund_quote
from schoolops.models import User
from servicedesk.models import MessageKind, Ticket
from servicedesk.selectors import tickets_of_student
from students.models import Student

# The reason a quote is shown for when the student has not chosen one: it has no special rule,
# so the quote is what the general rules (window, consumption, tiers, fees) give.
GENERIC_REASON = RefundReason.TIME_CONFLICT


@dataclass(frozen=True)
class OrderRefundSummary:
    """One order as the student sees it: what it would refund now, under which policy, and its requests."""

    order: Order
    policy: RefundPolicy | None  # None when no active policy covers the course
    quote: Quote | None  # None without a policy
    requests: tuple[RefundRequest, ...]  # newest first

    @property
    def latest_request(self) -> RefundRequest | None:
        return self.requests[0] if self.requests else None

    @property
    def open_request(self) -> RefundRequest | None:
        return next((request for request in self.requests if request.is_open), None)

    @property
    def refundable_now(self) -> Decimal:
        """The most a request could get now: the quote's total, or for a contract what is left to set."""
        if self.quote is None:
            return Decimal("0.00")
        return self.quote.refundable if self.quote.needs_approver_amount else self.quote.total

    @cached_property
    def refusal(self) -> str:
        """Why nothing on the order can be refunded whatever the reason (it was cancelled), or ""."""
        refusal = rules.order_refusal(self.order)
        return refusal.message if refusal is not None else ""

    @cached_property
    def can_apply(self) -> bool:
        """No request in progress and some reason that would refund something now.

        Past the regular window the default reason may give nothing while illness or relocation
        still would; the apply page quotes each reason, and ``refund_submit`` checks again.
        Pure calculation on the loaded policy: no query.
        """
        if self.refusal or self.open_request is not None or self.quote is None or self.quote.refundable <= 0:
            return False
        if self.refundable_now > 0:
            return True
        return any(
            refund_quote(order=self.order, reason=reason, at=self.quote.at, policy=self.policy).total > 0
            for reason in RefundReason.values
        )


def student_for_user(*, user: User | AnonymousUser) -> Student | None:
    """The student record of a logged-in user, or None for staff and strangers."""
    if not user.is_authenticated:
        return None
    return Student.objects.filter(user=user).select_related("campus", "user").first()


def order_list_for_student(*, student: Student) -> QuerySet[Order]:
    return (
        Order.objects.filter(student=student)
        .select_related("course", "course__campus", "enrollment", "enrollment__homeroom_teacher__user")
        .order_by("-paid_at")
    )


def _orders_for_summaries(*, student: Student) -> QuerySet[Order]:
    """Her orders with what a quote reads loaded: the in-flight sum annotated, the requests prefetched."""
    return orders_with_in_flight(order_list_for_student(student=student)).prefetch_related(
        Prefetch(
            "refund_requests", queryset=RefundRequest.objects.select_related("quote").order_by("-submitted_at", "-pk")
        )
    )


def order_get_for_student(*, student: Student, order_no: str) -> Order | None:
    """Her order ``order_no`` (course, enrollment and in-flight sum loaded), or None if she has no such order."""
    return orders_with_in_flight(order_list_for_student(student=student)).filter(order_no=order_no).first()


def order_summaries_for_student(
    *, student: Student, reason: str = GENERIC_REASON, at: datetime.datetime | None = None
) -> list[OrderRefundSummary]:
    """Every order of hers, newest first, with its quote for ``reason`` and its refund requests.

    Six queries however many orders: the orders, their requests, and the policies with their
    tiers and special rules; the quotes are computed in Python.
    """
    orders = list(_orders_for_summaries(student=student))
    return _summaries(orders, reason=reason, at=at or timezone.now())


def order_summary_for_student(
    *, student: Student, order_no: str, reason: str = GENERIC_REASON, at: datetime.datetime | None = None
) -> OrderRefundSummary | None:
    """Her order ``order_no`` summarised as in the list, or None if she has no such order."""
    orders = list(_orders_for_summaries(student=student).filter(order_no=order_no))
    if not orders:
        return None
    return _summaries(orders, reason=reason, at=at or timezone.now())[0]


def course_type_policies() -> list[RefundPolicy]:
    """The active policy of each course type, in the order of the course types; three queries."""
    policies = (
        RefundPolicy.objects.filter(is_active=True, course__isnull=True)
        .order_by()
        .prefetch_related("tiers", "special_rules")
    )
    rank = {value: index for index, value in enumerate(CourseType.values)}
    return sorted(policies, key=lambda policy: rank.get(policy.course_type, len(rank)))


def _summaries(orders: list[Order], *, reason: str, at: datetime.datetime) -> list[OrderRefundSummary]:
    policies = refund_policies_for_courses(courses=[order.course for order in orders])
    summaries = []
    for order in orders:
        policy = policies.get(order.course_id)
        summaries.append(
            OrderRefundSummary(
                order=order,
                policy=policy,
                quote=refund_quote(order=order, reason=reason, at=at, policy=policy) if policy is not None else None,
                requests=tuple(order.refund_requests.all()),  # prefetched newest first
            )
        )
    return summaries


def inbox_messages_for_user(*, user: User) -> QuerySet[InboxMessage]:
    """Her inbox (站内信), newest first, each message with the request it is about."""
    return InboxMessage.objects.filter(recipient=user).select_related("refund_request")


def inbox_message_for_user(*, user: User, pk: int) -> InboxMessage | None:
    """Her message ``pk``, or None if her inbox has no such message."""
    return inbox_messages_for_user(user=user).filter(pk=pk).first()


def notification_preference_for_user(*, user: User) -> NotificationPreference:
    """Her channel settings; an unsaved default (every channel on) until she changes them."""
    return NotificationPreference.objects.filter(user=user).first() or NotificationPreference(user=user)


def ticket_list_for_student(*, student: Student) -> QuerySet[Ticket]:
    """Her tickets, newest first, each with ``last_update``: the last change she can see (a
    message of the conversation, never an internal note, or the archiving)."""
    public = Q(messages__kind__in=[kind for kind in MessageKind.values if kind != MessageKind.NOTE])
    return (
        tickets_of_student(student=student)
        .annotate(last_update=Coalesce("archived_at", Max("messages__created_at", filter=public), "created_at"))
        .order_by("-created_at", "-pk")
    )

"""Reads the refund services, views and reports share."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone

from orders.models import Course, Order
from schoolops.models import Campus

from .models import MONEY_STATES, ApprovalSettings, RefundPolicy, RefundRequest, RefundStatus


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


def refund_policies_for_courses(*, courses: Iterable[Course]) -> dict[int, RefundPolicy]:
    """The active policy of each course, keyed by course id; a course without one is left out.

    The batch form of ``refund_policy_for_course``, for lists: three queries however many courses
    (the candidates, their tiers, their special rules).
    """
    by_id = {course.pk: course for course in courses}
    if not by_id:
        return {}
    candidates = (
        RefundPolicy.objects.filter(is_active=True)
        .filter(
            Q(course_id__in=by_id) | Q(course__isnull=True, course_type__in={c.course_type for c in by_id.values()})
        )
        .order_by()  # the default ordering would join the course
        .prefetch_related("tiers", "special_rules")
    )
    own: dict[int, RefundPolicy] = {}
    of_type: dict[str, RefundPolicy] = {}
    for policy in candidates:
        if policy.course_id is not None:
            own[policy.course_id] = policy
        else:
            of_type[policy.course_type] = policy
    found = {pk: own.get(pk) or of_type.get(course.course_type) for pk, course in by_id.items()}
    return {pk: policy for pk, policy in found.items() if policy is not None}


def refund_in_flight_total(*, order: Order, exclude: RefundRequest | None = None) -> Decimal:
    """Money of ``order`` already on its way back: approved, paying or failed payouts not yet refunded.

    Uses ``order.in_flight_total`` when the order was loaded with ``orders_with_in_flight`` (no
    query); otherwise one query.
    """
    annotated = getattr(order, "in_flight_total", None)
    if annotated is not None and exclude is None:
        return annotated
    requests = RefundRequest.objects.filter(order=order, status__in=MONEY_STATES)
    if exclude is not None:
        requests = requests.exclude(pk=exclude.pk)
    return requests.aggregate(total=Sum("approved_amount", default=Decimal("0.00")))["total"]


def orders_with_in_flight(queryset):
    """Annotate ``in_flight_total`` on orders so quotes need no query for it."""
    return queryset.annotate(
        in_flight_total=Sum(
            "refund_requests__approved_amount",
            filter=Q(refund_requests__status__in=MONEY_STATES),
            default=Decimal("0.00"),
        )
    )


def approval_settings_for(*, campus: Campus | int) -> ApprovalSettings:
    """The campus's approval settings, or the defaults (unsaved) when operations set none."""
    campus_id = campus if isinstance(campus, int) else campus.pk
    found = ApprovalSettings.objects.filter(campus_id=campus_id).first()
    return found if found is not None else ApprovalSettings(campus_id=campus_id)


def student_recent_refund_count(*, student_id: int, now: datetime.datetime, exclude_id: int | None = None) -> int:
    """Refunds of the student in the 12 months before ``now``: paid out or on their way."""
    requests = RefundRequest.objects.filter(
        student_id=student_id,
        submitted_at__gte=now - datetime.timedelta(days=365),
        status__in=[*MONEY_STATES, RefundStatus.REFUNDED],
    )
    if exclude_id is not None:
        requests = requests.exclude(pk=exclude_id)
    return requests.count()


def refund_queue_for_staff(*, user, on: datetime.date | None = None):
    """The requests whose current step ``user`` may decide today (待我审批): the same rule as
    ``services.step_can_act`` — assigned to them, delegated to them, escalated to them, or a
    pool tier of their role — at their campus. Annotated with the pending step's ``step_due_at``,
    ``step_created_at`` and ``step_escalated`` (escalations first, then the oldest).

    Empty for anyone who is not active staff.
    """
    from django.db.models import Exists, OuterRef, Subquery

    from schoolops.models import Staff

    from .models import PENDING_STATES, ApprovalStep, StepDecision
    from .services.requests import TIER_ROLE

    staff = Staff.objects.filter(user=user, user__is_active=True).first() if user.is_authenticated else None
    if staff is None:
        return RefundRequest.objects.none()
    day = on or timezone.localdate()
    delegators = Staff.objects.filter(
        delegate=staff, delegate_from__lte=day, delegate_until__gte=day, campus_id=staff.campus_id
    ).values("pk")
    pool_tiers = [tier for tier, role in TIER_ROLE.items() if role == staff.role]
    mine = Q(assignee=staff) | Q(escalated_to=staff) | Q(assignee__in=delegators)
    if pool_tiers:
        mine |= Q(assignee__isnull=True, tier__in=pool_tiers)
    pending = ApprovalStep.objects.filter(request=OuterRef("pk"), decision=StepDecision.PENDING)
    return (
        RefundRequest.objects.filter(campus_id=staff.campus_id, status__in=PENDING_STATES)
        .filter(Exists(pending.filter(mine)))
        .annotate(
            step_due_at=Subquery(pending.values("due_at")[:1]),
            step_created_at=Subquery(pending.values("created_at")[:1]),
            step_escalated=Exists(pending.filter(escalated_at__isnull=False)),
        )
        .order_by("-step_escalated", "step_created_at", "pk")
    )

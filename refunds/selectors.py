"""Reads the refund services, views and reports share."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db.models import (
    Avg,
    Count,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    prefetch_related_objects,
)
from django.db.models.lookups import IsNull
from django.utils import timezone

from orders.models import Course, Order, OrderStatus
from schoolops.models import Campus, Staff, User
from students.models import Enrollment, Student

from .models import (
    MONEY_STATES,
    PENDING_STATES,
    ApprovalSettings,
    ApprovalStep,
    ConsumptionBasis,
    QuoteSnapshot,
    QuoteSnapshotLine,
    RefundEvidence,
    RefundPolicy,
    RefundRequest,
    RefundStatus,
    RefundTransition,
    RequestKind,
    StepDecision,
)
from .quotes import STAFF, STUDENT, OrderFacts, PolicyTerms, Progress, Quote, QuoteLine, calculate_quote
from .routing import route_step_words
from .rules import TIER_ROLE


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
    annotated: Decimal | None = getattr(order, "in_flight_total", None)
    if annotated is not None and exclude is None:
        return annotated
    requests = RefundRequest.objects.filter(order=order, status__in=MONEY_STATES)
    if exclude is not None:
        requests = requests.exclude(pk=exclude.pk)
    total: Decimal = requests.aggregate(total=Sum("approved_amount", default=Decimal("0.00")))["total"]
    return total


def order_money_left(*, order: Order, exclude: RefundRequest | None = None) -> Decimal:
    """What may still be paid back on ``order``: paid − refunded − in flight (other requests'
    approved amounts still on their way), never below 0, and nothing on a cancelled order.
    Payments' ``payout_guard`` checks the same under a lock on the order, from the payouts
    themselves, before any money moves."""
    left: Decimal = order.refundable_remaining - refund_in_flight_total(order=order, exclude=exclude)
    return max(Decimal("0.00"), left)


def orders_with_in_flight(queryset: QuerySet[Order]) -> QuerySet[Order]:
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
    """Refunds of the student in the 12 months before ``now``: paid out or on their way (course
    exchanges are not refunds, even when a difference goes back)."""
    requests = RefundRequest.objects.filter(
        kind=RequestKind.REFUND,
        student_id=student_id,
        submitted_at__gte=now - datetime.timedelta(days=365),
        status__in=[*MONEY_STATES, RefundStatus.REFUNDED],
    )
    if exclude_id is not None:
        requests = requests.exclude(pk=exclude_id)
    return requests.count()


def refund_queue_for_staff(*, user: User | AnonymousUser, on: datetime.date | None = None) -> QuerySet[RefundRequest]:
    """The requests whose current step ``user`` may decide today (待我审批): the same rule as
    ``rules.step_can_act`` — assigned to them, delegated to them, escalated to them, or a
    pool tier of their role — at their campus, less what separation of duties would refuse them
    (their own request, a second tier of one request, the appeal of their own rejection).
    Annotated with the pending step's ``step_due_at``, ``step_created_at`` and ``step_escalated``
    (escalations first, then the oldest).

    Empty (and annotated all the same) for anyone who is not active staff.
    """
    staff = Staff.objects.filter(user=user, user__is_active=True).first() if user.is_authenticated else None
    pending = ApprovalStep.objects.filter(request=OuterRef("pk"), decision=StepDecision.PENDING)
    if staff is None:
        # Still annotated: callers order and aggregate by the annotations whoever asks.
        requests = RefundRequest.objects.none()
    else:
        day = on or timezone.localdate()
        delegators = Staff.objects.filter(
            delegate=staff, delegate_from__lte=day, delegate_until__gte=day, campus_id=staff.campus_id
        ).values("pk")
        pool_tiers = [tier for tier, role in TIER_ROLE.items() if role == staff.role]
        # Her own pending steps, read first (one query): each way a step is hers is its own SELECT
        # on its own index ((assignee, decision), (escalated_to, decision)). As one OR inside the
        # queue's query PostgreSQL guessed at its selectivity and walked every pending step of the
        # school (30,000 at 100,000 requests) to find her few hundred. A pool tier's steps stay a
        # condition on the request (the pending pool's index): they can be a campus's thousands.
        waiting = ApprovalStep.objects.filter(decision=StepDecision.PENDING).order_by().values("request_id")
        ways = [
            waiting.filter(assignee=staff),
            waiting.filter(escalated_to=staff),
            waiting.filter(assignee__in=delegators),
        ]
        mine = Q(pk__in={row["request_id"] for row in ways[0].union(*ways[1:])})
        if pool_tiers:
            mine |= Q(Exists(pending.filter(assignee__isnull=True, tier__in=pool_tiers)))
        # Separation of duties, as ``rules.separation_refusal`` refuses it: not her own request, not
        # a request she approved a tier of, not the appeal of a request she rejected. Without this a
        # delegate or a pool member saw requests that every decision on them would refuse.
        decided_by_me = ApprovalStep.objects.filter(request=OuterRef("pk"), decided_by=staff)
        requests = (
            RefundRequest.objects.filter(campus_id=staff.campus_id, status__in=PENDING_STATES)
            .filter(mine)
            .exclude(student_id__in=Student.objects.filter(user_id=staff.user_id).values("pk"))
            .exclude(Exists(decided_by_me.filter(decision=StepDecision.APPROVED)))
            .exclude(Exists(decided_by_me.filter(decision=StepDecision.REJECTED)), appealed_at__isnull=False)
        )
    return requests.annotate(
        step_due_at=Subquery(pending.values("due_at")[:1]),
        step_created_at=Subquery(pending.values("created_at")[:1]),
        # The one pending step, looked up per row: an EXISTS was hashed over every pending step.
        step_escalated=IsNull(Subquery(pending.values("escalated_at")[:1]), False),
    ).order_by("-step_escalated", "step_created_at", "pk")


# --- The approval admin: the queue's rows and the request page's decision support ------

RECENT_REFUNDS_DAYS = 365
# Enough for any real request; the page says when a list was cut.
REVIEW_LIST_LIMIT = 50


# The queue's order: escalations first, then the oldest step.
QUEUE_ORDERING = ("-step_escalated", "step_created_at", "pk")


def next_in_queue(*, user: User | AnonymousUser, on: datetime.date, after: RefundRequest) -> RefundRequest | None:
    """The first request of her queue other than ``after`` (offered once ``after`` is decided)."""
    return (
        refund_queue_for_staff(user=user, on=on)
        .exclude(pk=after.pk)
        .order_by(*QUEUE_ORDERING)
        .only("pk", "request_no")
        .first()
    )


def approval_queue_for_admin(*, user: User | AnonymousUser, on: datetime.date | None = None) -> QuerySet[RefundRequest]:
    """``refund_queue_for_staff`` with what the queue's columns show: the campus joined; the student
    (with her user), the order (with its course) and the pending step (with its people, into
    ``pending_steps``) prefetched.

    Four queries for a page however many rows it has: the rows, their students, orders and pending
    steps. The student and order are not joined: past eight joined tables PostgreSQL stops
    reordering joins, and it joined a campus's every open request to the whole student table before
    keeping the few hundred in her queue (200–450 ms on 100,000 requests; 30–60 ms now).
    """
    return (
        refund_queue_for_staff(user=user, on=on)
        .select_related("campus")
        .prefetch_related(
            Prefetch("student", queryset=Student.objects.select_related("user", "high_risk_by")),
            Prefetch("order", queryset=Order.objects.select_related("course")),
            Prefetch(
                "steps",
                queryset=ApprovalStep.objects.filter(decision=StepDecision.PENDING).select_related(
                    "assignee__user", "assignee__delegate", "escalated_to__user"
                ),
                to_attr="pending_steps",
            ),
        )
    )


@dataclass(frozen=True)
class LearningSummary:
    """What the learning platform says the student did in the course of the request."""

    lessons: int
    study_hours: Decimal
    watch_progress: Decimal
    lessons_watched: int
    lessons_consumed: int
    live_attended: int
    replays_watched: int
    homework_submitted: int
    rating: int | None
    last_learning_at: datetime.datetime | None

    @property
    def live_attendance_percent(self) -> Decimal:
        return _percent(self.live_attended, self.lessons)

    @property
    def homework_percent(self) -> Decimal:
        return _percent(self.homework_submitted, self.lessons)


@dataclass(frozen=True)
class CourseRefundStats:
    """How often a course's orders were refunded, and how its students rated it."""

    orders: int
    refunded_orders: int
    open_requests: int
    rating_average: Decimal | None
    ratings: int

    @property
    def refund_rate(self) -> Decimal | None:
        return _percent(self.refunded_orders, self.orders) if self.orders else None


@dataclass(frozen=True)
class RefundDecisionContext:
    """Everything an approver reads on the request page, loaded in a fixed number of queries."""

    request: RefundRequest
    learning: LearningSummary | None
    recent_refunds: list[RefundRequest]
    recent_refunds_money: Decimal  # of those, the money approved, paying or paid out
    course_stats: CourseRefundStats
    quote_lines: list[QuoteLine] | list[QuoteSnapshotLine]  # worded for staff (quote_lines_for_staff)
    evidence: list[RefundEvidence]
    steps: list[ApprovalStep]
    transitions: list[RefundTransition]
    # Rows of the apps above (outbox messages, payouts) and simple-history's records, read through
    # the request's relations: refunds imports neither app, so their types are not named here.
    notifications: list[Any]
    payouts: list[Any]
    history: list[Any]
    history_more: bool  # more history than shown: the history page has it all


def _percent(part: int, whole: int) -> Decimal:
    if not whole:
        return Decimal("0.0")
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"))


def learning_summary(*, enrollment: Enrollment, lessons: int) -> LearningSummary:
    """The enrollment's progress fields, as the request page shows them (no query)."""
    return LearningSummary(
        lessons=lessons,
        study_hours=(Decimal(enrollment.study_seconds) / 3600).quantize(Decimal("0.1")),
        watch_progress=enrollment.watch_progress,
        lessons_watched=enrollment.lessons_watched,
        lessons_consumed=enrollment.lessons_consumed,
        live_attended=enrollment.live_sessions_attended,
        replays_watched=enrollment.replays_watched,
        homework_submitted=enrollment.homework_submitted,
        rating=enrollment.rating,
        last_learning_at=enrollment.last_learning_at,
    )


def course_refund_stats(*, course: Course | int) -> CourseRefundStats:
    """The course's orders, how many were refunded (approved, paying or paid out), how many have a
    request in progress, and the average of the ratings its students gave. One query.
    """
    course_id = course if isinstance(course, int) else course.pk
    requests = RefundRequest.objects.filter(order=OuterRef("pk"))
    row = (
        Order.objects.filter(course_id=course_id)
        .exclude(status=OrderStatus.CANCELLED)  # voided by the order system: not a sale
        .annotate(
            was_refunded=Exists(requests.filter(status__in=[*MONEY_STATES, RefundStatus.REFUNDED])),
            in_review=Exists(requests.filter(status__in=[*PENDING_STATES, RefundStatus.NEEDS_INFO])),
        )
        .aggregate(
            orders=Count("pk"),
            refunded_orders=Count("pk", filter=Q(was_refunded=True)),
            open_requests=Count("pk", filter=Q(in_review=True)),
            rating_average=Avg("enrollment__rating"),
            ratings=Count("enrollment__rating"),
        )
    )
    average = row["rating_average"]
    return CourseRefundStats(
        orders=row["orders"],
        refunded_orders=row["refunded_orders"],
        open_requests=row["open_requests"],
        rating_average=Decimal(str(average)).quantize(Decimal("0.1")) if average is not None else None,
        ratings=row["ratings"],
    )


def student_refunds_last_year(
    *, student_id: int, now: datetime.datetime, exclude_id: int | None = None, limit: int = REVIEW_LIST_LIMIT
) -> list[RefundRequest]:
    """The student's refund requests of the 12 months before ``now``, newest first, any status. One query."""
    requests = (
        RefundRequest.objects.filter(
            student_id=student_id, submitted_at__gte=now - datetime.timedelta(days=RECENT_REFUNDS_DAYS)
        )
        .select_related("order__course")
        .order_by("-submitted_at", "-pk")
    )
    if exclude_id is not None:
        requests = requests.exclude(pk=exclude_id)
    return list(requests[:limit])


def refund_request_decision_context(
    *, request: RefundRequest, now: datetime.datetime | None = None
) -> RefundDecisionContext:
    """The decision support of one request (DESIGN §5): learning data, the student's refunds of the
    last 12 months, the course's refund rate and rating, the quote's lines, the evidence, the
    steps with their people, the transition log, the notifications sent and the history.

    ``request`` is loaded with its order, course, enrollment, student and quote (the admin's
    ``get_object`` does). Nine queries however many rows each part has: steps, transitions,
    quote lines, evidence, notifications, payouts, history, the student's refunds, the course's figures.
    The steps and transitions are left prefetched on ``request`` (``refunds.timeline`` reads them).
    """
    now = now or timezone.now()
    prefetch_related_objects(
        [request],
        Prefetch(
            "steps",
            queryset=ApprovalStep.objects.select_related(
                "assignee__user", "assignee__delegate", "decided_by__user", "escalated_to__user"
            ).order_by("created_at", "pk"),
        ),
        Prefetch("transitions", queryset=RefundTransition.objects.select_related("actor").order_by("created_at", "pk")),
        Prefetch("quote__lines", queryset=QuoteSnapshotLine.objects.order_by("position")),
        Prefetch("evidence", queryset=RefundEvidence.objects.order_by("uploaded_at", "pk")),
        "notifications",  # the outbox's rows through the relation: refunds does not import notifications
        "payouts",  # payments' rows, read through the relation: refunds does not import payments
    )
    history_rows = list(
        request.history.select_related("history_user").order_by("-history_date", "-history_id")[: REVIEW_LIST_LIMIT + 1]
    )
    for record in history_rows:  # the step in words, not "6 / 5" once the route is done
        record.step_words = route_step_words(route=record.route, position=record.route_position)
    recent = student_refunds_last_year(student_id=request.student_id, now=now, exclude_id=request.pk)
    enrollment = getattr(request.order, "enrollment", None)
    course = request.order.course
    return RefundDecisionContext(
        request=request,
        learning=learning_summary(enrollment=enrollment, lessons=course.lessons) if enrollment else None,
        recent_refunds=recent,
        recent_refunds_money=sum(
            (r.approved_amount for r in recent if r.status in (*MONEY_STATES, RefundStatus.REFUNDED)),
            Decimal("0.00"),
        ),
        course_stats=course_refund_stats(course=course),
        quote_lines=quote_lines_for_staff(snapshot=request.quote, order=request.order),
        evidence=list(request.evidence.all()),
        steps=list(request.steps.all()),
        transitions=list(request.transitions.all()),
        notifications=sorted(request.notifications.all(), key=lambda message: (message.created_at, message.pk)),
        payouts=sorted(request.payouts.all(), key=lambda payout: (payout.created_at, payout.pk)),
        history=history_rows[:REVIEW_LIST_LIMIT],
        history_more=len(history_rows) > REVIEW_LIST_LIMIT,
    )


def quote_from_snapshot(*, snapshot: QuoteSnapshot, order: Order, audience: str = STUDENT) -> Quote | None:
    """The quote a snapshot kept, computed again by the same ``calculate_quote`` from the snapshot's
    own inputs (its copy of the policy terms, amounts, units and time), worded for ``audience``; None
    when the result differs from the kept lines in anything but wording (the order's dates changed
    since, say), so a page shows the kept lines as they are. No rule is written twice, and no query
    beyond the snapshot's lines (``order.course`` loaded)."""
    kept = list(snapshot.lines.all())
    basis = snapshot.consumption_basis
    units = snapshot.units_consumed
    if basis == ConsumptionBasis.WATCHED:
        progress = Progress(lessons_watched=units)
    elif basis == ConsumptionBasis.LIVE:
        progress = Progress(live_sessions_attended=units)
    else:
        progress = Progress(lessons_consumed=units)
    money_left = snapshot.amount_paid - snapshot.refunded_before - snapshot.in_flight
    try:
        quote = calculate_quote(
            terms=PolicyTerms.from_dict(snapshot.policy_terms),
            order=OrderFacts(
                amount_paid=snapshot.amount_paid,
                paid_at=order.paid_at,
                course_starts_at=order.course.starts_at,
                lessons=snapshot.lessons,
                refunded=snapshot.refunded_before,
                order_id=order.pk,
                # Nothing refundable although money was left: the order was cancelled then.
                cancelled=snapshot.refundable == 0 and money_left > 0,
            ),
            progress=progress,
            reason=snapshot.reason,
            at=snapshot.quoted_at,
            in_flight=snapshot.in_flight,
            consumed_override=units if snapshot.is_estimate else None,
            audience=audience,
        )
    except (ValueError, TypeError, KeyError, ArithmeticError, ValidationError):
        return None
    same = [(line.kind, line.amount, line.formula) for line in quote.lines] == [
        (line.kind, line.amount, line.formula) for line in kept
    ]
    return quote if same else None


def quote_lines_for_staff(*, snapshot: QuoteSnapshot, order: Order) -> list[QuoteLine] | list[QuoteSnapshotLine]:
    """The snapshot's lines with their explanations worded for staff ("The student paid …"), or the
    kept lines (the student's wording) when they cannot be computed again (``quote_from_snapshot``)."""
    quote = quote_from_snapshot(snapshot=snapshot, order=order, audience=STAFF)
    if quote is None:
        kept: list[QuoteSnapshotLine] = list(snapshot.lines.all())
        return kept
    return list(quote.lines)

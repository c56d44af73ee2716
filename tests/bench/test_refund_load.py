"""The load generator: bulk rows that keep every rule the services keep, and a queue to work."""

from __future__ import annotations

from collections import Counter
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count, Q

from bench.refund_load import Command as RefundLoad
from orders.models import Order, OrderStatus
from refunds.models import (
    CLOSED_STATES,
    PENDING_STATES,
    TIER_STATUS,
    ApprovalStep,
    ApprovalTier,
    QuoteSnapshot,
    RefundRequest,
    RefundStatus,
    RefundTransition,
    StepDecision,
)
from refunds.rules import TIER_ROLE
from refunds.selectors import refund_queue_for_staff
from schoolops.models import Campus, Staff, StaffRole, User
from schoolops.roles import role_group_name
from students.models import Enrollment

pytestmark = pytest.mark.django_db

REQUESTS = 300


def generate(**options) -> str:
    out = StringIO()
    call_command(RefundLoad(), requests=REQUESTS, campuses=2, seed=1, stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def generated() -> str:
    return generate()


def test_it_creates_the_requested_rows(generated):
    assert Campus.objects.filter(code__startswith="load-").count() == 2
    assert RefundRequest.objects.count() == REQUESTS
    assert Order.objects.count() == QuoteSnapshot.objects.count() == Enrollment.objects.count() == REQUESTS
    assert RefundTransition.objects.filter(name="submit").count() == REQUESTS
    per_campus = Counter(RefundRequest.objects.values_list("campus__code", flat=True))
    assert per_campus == {"load-001": 150, "load-002": 150}


def test_every_row_passes_its_model_constraints(generated):
    """The database enforced them on insert; Django's own check of each constraint agrees."""
    for label in ("orders.Order", "refunds.QuoteSnapshot", "refunds.RefundRequest", "refunds.ApprovalStep"):
        model = apps.get_model(label)
        for obj in model.objects.all()[:REQUESTS]:
            obj.validate_constraints()


def test_the_spread_is_realistic(generated):
    statuses = Counter(RefundRequest.objects.values_list("status", flat=True))
    assert sum(statuses[s] for s in PENDING_STATES) > REQUESTS * 0.15
    assert statuses[RefundStatus.REFUNDED] > REQUESTS * 0.2
    for status in (RefundStatus.REJECTED, RefundStatus.CANCELLED, RefundStatus.NEEDS_INFO):
        assert statuses[status] > 0
    assert len({r for r in RefundRequest.objects.values_list("reason", flat=True)}) >= 5
    assert ApprovalStep.objects.filter(decision=StepDecision.PENDING, escalated_at__isnull=False).exists()
    assert RefundRequest.objects.exclude(risk_flags=[]).exists()
    oldest = RefundRequest.objects.order_by("submitted_at").first().submitted_at
    newest = RefundRequest.objects.order_by("-submitted_at").first().submitted_at
    assert (newest - oldest).days > 200


def test_each_request_waits_on_exactly_one_step_of_its_current_tier(generated):
    pending = Count("steps", filter=Q(steps__decision=StepDecision.PENDING))
    for request in RefundRequest.objects.annotate(pending=pending).prefetch_related("steps"):
        if request.status in PENDING_STATES:
            tier = request.route[request.route_position]
            assert TIER_STATUS[tier] == request.status
            assert request.pending == 1
            step = next(s for s in request.steps.all() if s.decision == StepDecision.PENDING)
            assert step.tier == tier
            assert step.due_at > step.created_at
        else:
            assert request.pending == 0
        decided = [s for s in request.steps.all() if s.decided_by_id]
        assert len({s.decided_by_id for s in decided}) == len(decided), "nobody decides two tiers"


def test_steps_go_to_the_people_the_services_would_choose(generated):
    steps = ApprovalStep.objects.filter(decision=StepDecision.PENDING).select_related(
        "assignee", "request__order__enrollment__homeroom_teacher"
    )
    for step in steps:
        teacher = step.request.order.enrollment.homeroom_teacher
        if step.tier == ApprovalTier.HOMEROOM:
            assert step.assignee_id == teacher.pk
        elif step.tier == ApprovalTier.SUPERVISOR:
            assert step.assignee_id == teacher.manager_id
        elif step.tier in (ApprovalTier.QUALITY, ApprovalTier.FINANCE):
            assert step.assignee_id is None
        if step.assignee_id:
            assert step.assignee.role == TIER_ROLE[step.tier]
            assert step.assignee.campus_id == step.request.campus_id


def test_money_of_refunded_requests_is_on_their_orders(generated):
    for request in RefundRequest.objects.select_related("order", "quote"):
        order = request.order
        assert request.approved_amount <= request.quote.refundable == order.amount_paid
        if request.status == RefundStatus.REFUNDED:
            assert order.refunded_total == request.approved_amount
            assert order.status in (OrderStatus.REFUNDED, OrderStatus.PARTIALLY_REFUNDED)
        else:
            assert (order.refunded_total, order.status) == (0, OrderStatus.PAID)
        if request.status in CLOSED_STATES or request.status == RefundStatus.APPROVED:
            assert request.decided_at is not None


def test_the_bench_users_have_a_queue(generated):
    teacher = User.objects.get(username="load001-teacher01")
    supervisor = User.objects.get(username="load001-supervisor01")
    assert refund_queue_for_staff(user=teacher).count() > 0
    assert refund_queue_for_staff(user=supervisor).count() > 0
    away = Staff.objects.get(user__username="load001-teacher02")
    assert away.delegate.user == teacher  # teacher 1 also works teacher 2's queue
    assert "load001-teacher01" in generated and "load001-ops" in generated


def test_generated_staff_are_in_their_role_groups(generated):
    for staff in Staff.objects.filter(campus__code__startswith="load-").select_related("user"):
        assert staff.user.is_staff
        assert list(staff.user.groups.values_list("name", flat=True)) == [role_group_name(staff.role)]
    assert Staff.objects.filter(role=StaffRole.OPERATIONS, campus__code="load-001").exists()


def test_it_refuses_to_run_twice(generated):
    with pytest.raises(CommandError, match="--force"):
        generate()
    assert RefundRequest.objects.count() == REQUESTS


def test_force_adds_more_campuses_after_the_existing_ones(generated):
    generate(force=True)
    codes = sorted(Campus.objects.filter(code__startswith="load-").values_list("code", flat=True))
    assert codes == ["load-001", "load-002", "load-003", "load-004"]
    assert RefundRequest.objects.count() == 2 * REQUESTS


def test_inside_a_transaction_it_writes_on_the_callers_connection(generated):
    """Worker processes would commit outside the caller's (here the test's) transaction: one is used."""
    assert "campus load-004" in generate(force=True, jobs=4)
    assert RefundRequest.objects.count() == 2 * REQUESTS


def test_orders_beyond_the_requests_are_paid_over_two_years_without_a_request():
    call_command(RefundLoad(), requests=100, orders=400, campuses=2, seed=1, stdout=StringIO())
    assert RefundRequest.objects.count() == 100
    assert Order.objects.count() == Enrollment.objects.count() == 400
    plain = Order.objects.filter(refund_requests__isnull=True).select_related("course", "enrollment__homeroom_teacher")
    assert plain.count() == 300
    for order in plain:
        assert (order.status, order.refunded_total, order.amount_paid) == (OrderStatus.PAID, 0, order.course.price)
        teacher = order.enrollment.homeroom_teacher
        assert (teacher.role, teacher.campus_id) == (StaffRole.HOMEROOM, order.course.campus_id)
        assert order.enrollment.lessons_consumed <= order.course.lessons
        order.validate_constraints()
    oldest = plain.order_by("paid_at").first().paid_at
    newest = plain.order_by("-paid_at").first().paid_at
    assert (newest - oldest).days > 500


def test_fewer_orders_than_requests_are_refused():
    with pytest.raises(CommandError, match="--orders"):
        call_command(RefundLoad(), requests=100, orders=50, stdout=StringIO())

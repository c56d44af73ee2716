"""The refund request from submission to approval: routes, decisions, the log and the events."""

from __future__ import annotations

import pytest

from refunds.models import (
    ApprovalStep,
    RefundEvent,
    RefundRequest,
    RefundStatus,
    RefundTransition,
    StepDecision,
)
from refunds.services import (
    RefundActionError,
    refund_approve,
    refund_cancel,
    refund_reject,
    refund_resubmit,
    refund_return_for_info,
)

from .helpers import money, order_at, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def buy(student, homeroom, campus):
    def _buy(price: str, **kwargs):
        return order_at(student=student, homeroom=homeroom, campus=campus, price=price, **kwargs)

    return _buy


def test_a_large_request_passes_every_tier_to_approved(buy, homeroom, supervisor, campus_head, finance):
    request = submit(buy("3000.00"))
    assert request.requested_amount == money("2700.00")
    assert request.route == ["homeroom", "supervisor", "campus_head", "finance"]
    assert request.status == RefundStatus.PENDING_HOMEROOM
    for staff, after in [
        (homeroom, RefundStatus.PENDING_SUPERVISOR),
        (supervisor, RefundStatus.PENDING_CAMPUS_HEAD),
        (campus_head, RefundStatus.PENDING_FINANCE),
        (finance, RefundStatus.APPROVED),
    ]:
        request = refund_approve(request_id=request.pk, actor=staff.user, comment="同意")
        assert request.status == after
    names = list(RefundTransition.objects.filter(request=request).values_list("name", "to_status"))
    assert names == [
        ("submit", "pending_homeroom"),
        ("approve", "pending_supervisor"),
        ("approve", "pending_campus_head"),
        ("approve", "pending_finance"),
        ("approve", "approved"),
    ]
    steps = list(request.steps.values_list("tier", "decision", "decided_by"))
    assert steps == [
        ("homeroom", "approved", homeroom.pk),
        ("supervisor", "approved", supervisor.pk),
        ("campus_head", "approved", campus_head.pk),
        ("finance", "approved", finance.pk),
    ]
    kinds = list(RefundEvent.objects.filter(request=request).values_list("kind", flat=True))
    assert kinds[0] == "submitted" and kinds[-1] == "approved" and kinds.count("assigned") == 4


def test_a_small_request_passes_the_automatic_check_after_the_homeroom_teacher(buy, homeroom):
    request = submit(buy("300.00"))
    assert request.route == ["homeroom", "auto"]
    request = refund_approve(request_id=request.pk, actor=homeroom.user)
    assert request.status == RefundStatus.APPROVED
    auto = request.steps.get(tier="auto")
    assert auto.decision == StepDecision.AUTO_PASSED


def test_a_small_request_with_high_progress_is_referred_to_a_person(buy, homeroom, supervisor, finance):
    request = submit(buy("300.00", lessons_consumed=1, lessons_watched=12))
    request = refund_approve(request_id=request.pk, actor=homeroom.user)
    assert request.status == RefundStatus.PENDING_SUPERVISOR
    assert request.route == ["homeroom", "auto", "supervisor", "finance"]
    assert request.steps.get(tier="auto").decision == StepDecision.AUTO_REFERRED


def test_rejection_needs_a_reason_and_changes_nothing_without_one(buy, homeroom):
    request = submit(buy("1000.00"))
    with pytest.raises(RefundActionError):
        refund_reject(request_id=request.pk, actor=homeroom.user, reason="  ")
    request.refresh_from_db()
    assert request.status == RefundStatus.PENDING_HOMEROOM
    assert RefundTransition.objects.filter(request=request).count() == 1


def test_returned_request_goes_back_to_the_tier_that_asked(buy, homeroom, supervisor, student):
    request = submit(buy("1000.00"))
    refund_approve(request_id=request.pk, actor=homeroom.user)
    request = refund_return_for_info(request_id=request.pk, actor=supervisor.user, missing="请补充上课时间冲突的说明")
    assert request.status == RefundStatus.NEEDS_INFO
    request = refund_resubmit(request_id=request.pk, student=student, details="新工作每周一三五晚上加班")
    assert request.status == RefundStatus.PENDING_SUPERVISOR
    assert request.steps.filter(tier="supervisor").count() == 2


def test_student_cancels_before_approval_and_the_order_is_free_again(buy, student):
    order = buy("1000.00")
    request = submit(order)
    request = refund_cancel(request_id=request.pk, student=student)
    assert request.status == RefundStatus.CANCELLED
    assert not ApprovalStep.objects.filter(request=request, decision=StepDecision.PENDING).exists()
    assert submit(order).status == RefundStatus.PENDING_HOMEROOM


def test_a_second_open_request_for_the_order_is_refused(buy):
    order = buy("1000.00")
    submit(order)
    with pytest.raises(RefundActionError) as excinfo:
        submit(order)
    assert excinfo.value.code == "open_request"
    assert RefundRequest.objects.filter(order=order).count() == 1


def test_an_order_without_enrollment_is_refused_clearly(buy):
    order = buy("1000.00")
    order.enrollment.delete()
    with pytest.raises(RefundActionError) as excinfo:
        submit(order)
    assert excinfo.value.code == "no_enrollment"
    assert not RefundRequest.objects.exists()


def test_history_records_carry_the_time_the_service_acted_at(buy, homeroom):
    import datetime

    from django.utils import timezone

    submitted = timezone.now() - datetime.timedelta(days=2)
    request = submit(buy("1000.00"), at=submitted)
    approved = submitted + datetime.timedelta(hours=3)
    refund_approve(request_id=request.pk, actor=homeroom.user, at=approved)
    dates = list(request.history.order_by("history_date").values_list("history_date", "history_user"))
    assert dates == [(submitted, request.student.user_id), (approved, homeroom.user_id)]

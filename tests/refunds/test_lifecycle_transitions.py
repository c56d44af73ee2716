"""Every transition of a refund request: the model's guarded state machine, then each use case that drives it."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone
from django_fsm import InvalidResultState, TransitionNotAllowed, can_proceed

from orders.models import CourseType
from refunds.models import (
    PENDING_STATES,
    RefundEvent,
    RefundRequest,
    RefundStatus,
    RefundTransition,
    StepDecision,
)
from refunds.services import (
    refund_adjust_amount,
    refund_appeal,
    refund_approve,
    refund_approve_directly,
    refund_cancel,
    refund_reject,
    refund_resubmit,
    refund_return_for_info,
)
from schoolops.models import StaffRole
from tests import factories

from .helpers import (
    approved_refund,
    assert_refused,
    event_kinds,
    footprint,
    log_of,
    money,
    order_at,
    pdf,
    set_settings,
    submit,
)

D = Decimal
ALL_STATES = list(RefundStatus.values)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def buy(student, homeroom, campus):
    def _buy(price: str = "1000.00", **kwargs):
        return order_at(student=student, homeroom=homeroom, campus=campus, price=price, **kwargs)

    return _buy


@pytest.fixture
def quality(campus):
    return factories.make_staff(role=StaffRole.QUALITY, campus=campus, name="质检老师")


@pytest.fixture
def service(campus):
    return factories.make_staff(role=StaffRole.SERVICE, campus=campus, name="客服小刘")


def approve_as(request, *staff, at=None):
    for person in staff:
        request = refund_approve(request_id=request.pk, actor=person.user, comment="同意", at=at)
    return request


# --- The state machine on the model (django-fsm) ------------------------------------------------

# transition -> (source states, an argument that is a valid target, the resulting state)
TRANSITIONS = {
    "advance": (set(PENDING_STATES), ("approved",), "approved"),
    "reject": (set(PENDING_STATES), (), "rejected"),
    "return_for_info": (set(PENDING_STATES), (), "needs_info"),
    "resubmit": ({RefundStatus.NEEDS_INFO}, ("pending_supervisor",), "pending_supervisor"),
    "cancel": ({*PENDING_STATES, RefundStatus.NEEDS_INFO}, (), "cancelled"),
    "appeal": ({RefundStatus.REJECTED}, ("pending_campus_head",), "pending_campus_head"),
}


def in_memory(status: str) -> RefundRequest:
    return RefundRequest(status=status, route=["homeroom", "supervisor", "finance"])


def test_status_cannot_be_assigned_directly():
    request = in_memory(RefundStatus.PENDING_HOMEROOM)
    with pytest.raises(AttributeError):
        request.status = RefundStatus.APPROVED
    assert request.status == RefundStatus.PENDING_HOMEROOM


@pytest.mark.django_db
def test_status_of_a_saved_request_cannot_be_assigned_directly(buy):
    request = submit(buy())
    with pytest.raises(AttributeError):
        request.status = "approved"
    request.refresh_from_db()  # a reload is allowed and changes nothing
    assert request.status == RefundStatus.PENDING_HOMEROOM


@pytest.mark.parametrize("state", ALL_STATES)
@pytest.mark.parametrize("name", sorted(TRANSITIONS))
def test_each_transition_from_each_state_is_allowed_exactly_from_its_sources(state, name):
    sources, args, target = TRANSITIONS[name]
    request = in_memory(state)
    method = getattr(request, name)
    if state in sources:
        assert can_proceed(method)
        method(*args)
        assert request.status == target
    else:
        assert not can_proceed(method)
        with pytest.raises(TransitionNotAllowed):
            method(*args)
        assert request.status == state


@pytest.mark.parametrize(
    ("source", "name", "bad_target"),
    [
        ("pending_homeroom", "advance", "rejected"),
        ("pending_homeroom", "advance", "refunded"),
        ("pending_finance", "advance", "paying"),
        ("needs_info", "resubmit", "approved"),
        ("needs_info", "resubmit", "needs_info"),
        ("rejected", "appeal", "approved"),
        ("rejected", "appeal", "rejected"),
    ],
)
def test_a_transition_with_a_chosen_target_refuses_targets_outside_its_list(source, name, bad_target):
    request = in_memory(source)
    with pytest.raises(InvalidResultState):
        getattr(request, name)(bad_target)


@pytest.mark.parametrize("target", [*PENDING_STATES, "approved"])
def test_advance_reaches_every_pending_tier_and_approved(target):
    request = in_memory("pending_homeroom")
    request.advance(target)
    assert request.status == target


@pytest.mark.parametrize("state", ["approved", "paying", "payout_failed", "refunded", "rejected", "cancelled"])
def test_no_transition_leads_out_of_a_decided_state_except_an_appeal(state):
    request = in_memory(state)
    possible = {name for name in TRANSITIONS if can_proceed(getattr(request, name))}
    assert possible == ({"appeal"} if state == "rejected" else set())


# --- Approve ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("price", "approvers", "statuses"),
    [
        ("300.00", ["homeroom"], ["approved"]),
        ("1000.00", ["homeroom", "supervisor", "finance"], ["pending_supervisor", "pending_finance", "approved"]),
        (
            "3000.00",
            ["homeroom", "supervisor", "campus_head", "finance"],
            ["pending_supervisor", "pending_campus_head", "pending_finance", "approved"],
        ),
    ],
)
def test_approval_moves_to_the_next_tier_and_to_approved_after_the_last(buy, request, price, approvers, statuses):
    refund = submit(buy(price))
    for name, after in zip(approvers, statuses, strict=True):
        refund = refund_approve(request_id=refund.pk, actor=request.getfixturevalue(name).user)
        assert refund.status == after
        if after != "approved":
            assert refund.route[refund.route_position] == after.removeprefix("pending_")
    assert refund.route_position == len(refund.route)
    assert refund.decided_at is not None
    assert not refund.steps.filter(decision=StepDecision.PENDING).exists()


@pytest.mark.django_db
def test_an_approval_closes_the_step_and_opens_the_next_one(buy, homeroom, supervisor):
    at = timezone.now()
    request = submit(buy(), at=at - datetime.timedelta(hours=2))
    request = refund_approve(request_id=request.pk, actor=homeroom.user, comment="情况属实", at=at)
    first, second = request.steps.order_by("pk")
    assert (first.decision, first.decided_by, first.comment, first.decided_at) == (
        StepDecision.APPROVED,
        homeroom,
        "情况属实",
        at,
    )
    assert (second.tier, second.assignee, second.decision, second.created_at) == (
        "supervisor",
        supervisor,
        StepDecision.PENDING,
        at,
    )
    assert second.due_at == at + datetime.timedelta(hours=24)
    assert log_of(request)[-1] == ("approve", "pending_homeroom", "pending_supervisor")
    assert event_kinds(request)[-2:] == ["assigned", "advanced"]  # the approver's task, then the student's news


@pytest.mark.django_db
def test_the_last_approval_records_the_approved_event_with_the_amount(buy, homeroom, supervisor, finance):
    request = approve_as(submit(buy()), homeroom, supervisor, finance)
    event = RefundEvent.objects.filter(request=request).last()
    assert (event.kind, event.actor, event.payload["amount"]) == ("approved", finance.user, "900.00")


# --- Reject ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
def test_a_rejection_without_a_reason_is_refused(buy, homeroom, reason):
    request = submit(buy())
    assert_refused(
        lambda: refund_reject(request_id=request.pk, actor=homeroom.user, reason=reason),
        code="comment",
        request=request,
    )


@pytest.mark.django_db
def test_a_rejection_closes_the_request_at_its_tier_and_names_the_appeal_deadline(buy, homeroom, supervisor):
    request = approve_as(submit(buy()), homeroom)
    at = (timezone.now() + datetime.timedelta(minutes=1)).replace(microsecond=0)
    request = refund_reject(request_id=request.pk, actor=supervisor.user, reason=" 课时已大量使用 ", at=at)
    assert (request.status, request.rejected_tier, request.decided_at) == ("rejected", "supervisor", at)
    step = request.steps.get(tier="supervisor")
    assert (step.decision, step.decided_by, step.comment) == (StepDecision.REJECTED, supervisor, "课时已大量使用")
    row = RefundTransition.objects.filter(request=request).last()
    assert (row.name, row.actor, row.from_status, row.to_status, row.comment) == (
        "reject",
        supervisor.user,
        "pending_supervisor",
        "rejected",
        "课时已大量使用",
    )
    event = RefundEvent.objects.filter(request=request).last()
    assert event.kind == "rejected"
    assert event.payload["appeal_until"] == (at + datetime.timedelta(days=7)).isoformat().replace("+00:00", "Z")


# --- Return for information and resubmit -----------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("missing", ["", "  "])
def test_a_return_without_saying_what_is_missing_is_refused(buy, homeroom, missing):
    request = submit(buy())
    assert_refused(
        lambda: refund_return_for_info(request_id=request.pk, actor=homeroom.user, missing=missing),
        code="comment",
        request=request,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("approvers", "returner"),
    [
        ([], "quality"),
        (["quality"], "homeroom"),
        (["quality", "homeroom"], "supervisor"),
        (["quality", "homeroom", "supervisor"], "campus_head"),
        (["quality", "homeroom", "supervisor", "campus_head"], "finance"),
    ],
)
def test_a_resubmitted_request_goes_back_to_the_tier_that_returned_it(
    buy, request, student, quality, homeroom, supervisor, campus_head, finance, approvers, returner
):
    refund = submit(buy("3000.00"), reason="quality", details="老师经常迟到，直播多次中断", evidence=[pdf()])
    assert refund.route == ["quality", "homeroom", "supervisor", "campus_head", "finance"]
    refund = approve_as(refund, *[request.getfixturevalue(name) for name in approvers])
    actor = request.getfixturevalue(returner)
    refund = refund_return_for_info(request_id=refund.pk, actor=actor.user, missing="请补充截图")
    assert (refund.status, refund.returned_tier) == ("needs_info", returner)
    assert refund.steps.filter(decision=StepDecision.PENDING).count() == 0
    refund = refund_resubmit(request_id=refund.pk, student=student, evidence=[pdf("截图.pdf")])
    assert refund.status == f"pending_{returner}"
    pending = refund.steps.get(decision=StepDecision.PENDING)
    assert pending.tier == returner
    assert log_of(refund)[-2:] == [
        ("return", f"pending_{returner}", "needs_info"),
        ("resubmit", "needs_info", f"pending_{returner}"),
    ]
    assert event_kinds(refund)[-3:] == ["returned", "resubmitted", "assigned"]


@pytest.mark.django_db
def test_the_approver_who_returned_a_request_decides_it_again_after_the_resubmission(
    buy, student, homeroom, supervisor
):
    request = refund_approve(request_id=submit(buy()).pk, actor=homeroom.user)
    request = refund_return_for_info(request_id=request.pk, actor=supervisor.user, missing="请附排班表")
    request = refund_resubmit(request_id=request.pk, student=student, evidence=[pdf("排班表.pdf")])
    assert request.steps.get(decision=StepDecision.PENDING).assignee == supervisor
    request = refund_approve(request_id=request.pk, actor=supervisor.user)
    assert request.status == "pending_finance"
    assert list(request.steps.filter(tier="supervisor").values_list("decision", flat=True)) == [
        StepDecision.RETURNED,
        StepDecision.APPROVED,
    ]


@pytest.mark.django_db
def test_a_resubmission_with_nothing_new_is_refused(buy, homeroom, student):
    request = refund_return_for_info(request_id=submit(buy()).pk, actor=homeroom.user, missing="请说明原因")
    assert_refused(
        lambda: refund_resubmit(request_id=request.pk, student=student, details="  "), code="empty", request=request
    )


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["pending_homeroom", "approved", "rejected", "cancelled"])
def test_only_a_returned_request_can_be_resubmitted(buy, student, homeroom, state):
    request = submit(buy("300.00"))
    if state == "approved":
        request = approve_as(request, homeroom)
    elif state == "rejected":
        request = refund_reject(request_id=request.pk, actor=homeroom.user, reason="不符合条件")
    elif state == "cancelled":
        request = refund_cancel(request_id=request.pk, student=student)
    assert_refused(
        lambda: refund_resubmit(request_id=request.pk, student=student, details="补充说明：时间冲突"),
        code="state",
        request=request,
    )


# --- Cancel ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("approvals", [0, 1, 2, 3])
def test_the_student_can_cancel_at_every_tier_before_approval(
    buy, student, homeroom, supervisor, campus_head, approvals
):
    request = approve_as(submit(buy("3000.00")), *[homeroom, supervisor, campus_head][:approvals])
    from_status = request.status
    request = refund_cancel(request_id=request.pk, student=student)
    assert request.status == "cancelled" and request.decided_at is not None
    assert request.steps.order_by("pk").last().decision == StepDecision.CANCELLED
    assert log_of(request)[-1] == ("cancel", from_status, "cancelled")
    assert RefundTransition.objects.filter(request=request).last().actor == student.user
    assert event_kinds(request)[-1] == "cancelled"


@pytest.mark.django_db
def test_the_student_can_cancel_a_returned_request(buy, student, homeroom):
    request = refund_return_for_info(request_id=submit(buy()).pk, actor=homeroom.user, missing="请说明原因")
    request = refund_cancel(request_id=request.pk, student=student)
    assert request.status == "cancelled"
    assert log_of(request)[-1] == ("cancel", "needs_info", "cancelled")


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["approved", "rejected", "cancelled"])
def test_a_decided_request_cannot_be_cancelled(buy, student, homeroom, state):
    request = submit(buy("300.00"))
    if state == "approved":
        request = approve_as(request, homeroom)
    elif state == "rejected":
        request = refund_reject(request_id=request.pk, actor=homeroom.user, reason="不符合条件")
    else:
        request = refund_cancel(request_id=request.pk, student=student)
    assert request.status == state
    assert_refused(lambda: refund_cancel(request_id=request.pk, student=student), code="state", request=request)


# --- Appeal ----------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("price", "approvers", "rejecter", "appeal_tier", "route_after"),
    [
        ("300.00", [], "homeroom", "supervisor", ["homeroom", "supervisor", "finance"]),
        ("1000.00", [], "homeroom", "supervisor", ["homeroom", "supervisor", "finance"]),
        ("1000.00", ["homeroom"], "supervisor", "campus_head", ["homeroom", "supervisor", "campus_head", "finance"]),
        (
            "1000.00",
            ["homeroom", "supervisor"],
            "finance",
            "campus_head",
            ["homeroom", "supervisor", "finance", "campus_head", "finance"],
        ),
    ],
)
def test_an_appeal_goes_to_the_tier_above_the_one_that_rejected(
    buy, request, student, price, approvers, rejecter, appeal_tier, route_after
):
    refund = approve_as(submit(buy(price)), *[request.getfixturevalue(name) for name in approvers])
    refund = refund_reject(request_id=refund.pk, actor=request.getfixturevalue(rejecter).user, reason="材料不足")
    refund = refund_appeal(request_id=refund.pk, student=student, reason="我有新的证明材料")
    assert refund.status == f"pending_{appeal_tier}"
    assert refund.route == route_after
    assert refund.route[refund.route_position] == appeal_tier
    assert (refund.appeal_reason, refund.decided_at) == ("我有新的证明材料", None)
    assert refund.appealed_at is not None
    pending = refund.steps.get(decision=StepDecision.PENDING)
    assert pending.tier == appeal_tier
    assert log_of(refund)[-1] == ("appeal", "rejected", f"pending_{appeal_tier}")
    assert event_kinds(refund)[-2:] == ["appealed", "assigned"]


@pytest.mark.django_db
def test_an_appealed_request_can_be_approved_to_the_end(buy, student, homeroom, supervisor, campus_head, finance):
    request = approve_as(submit(buy()), homeroom)
    request = refund_reject(request_id=request.pk, actor=supervisor.user, reason="进度过高")
    request = refund_appeal(request_id=request.pk, student=student, reason="进度统计有误")
    request = approve_as(request, campus_head, finance)
    assert request.status == "approved"


@pytest.mark.django_db
def test_a_request_can_be_appealed_only_once(buy, student, homeroom, supervisor):
    request = refund_reject(request_id=submit(buy()).pk, actor=homeroom.user, reason="材料不足")
    request = refund_appeal(request_id=request.pk, student=student, reason="我有新的证明材料")
    request = refund_reject(request_id=request.pk, actor=supervisor.user, reason="仍不符合条件")
    assert RefundEvent.objects.filter(request=request).last().payload["appeal_until"] is None
    assert_refused(
        lambda: refund_appeal(request_id=request.pk, student=student, reason="再申诉"), code="once", request=request
    )


@pytest.mark.django_db
@pytest.mark.parametrize("reason", ["", "   "])
def test_an_appeal_needs_the_students_reason(buy, student, homeroom, reason):
    request = refund_reject(request_id=submit(buy()).pk, actor=homeroom.user, reason="材料不足")
    assert_refused(
        lambda: refund_appeal(request_id=request.pk, student=student, reason=reason), code="comment", request=request
    )


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["pending_homeroom", "needs_info", "approved", "cancelled"])
def test_only_a_rejected_request_can_be_appealed(buy, student, homeroom, state):
    request = submit(buy("300.00"))
    if state == "needs_info":
        request = refund_return_for_info(request_id=request.pk, actor=homeroom.user, missing="请说明")
    elif state == "approved":
        request = approve_as(request, homeroom)
    elif state == "cancelled":
        request = refund_cancel(request_id=request.pk, student=student)
    assert_refused(
        lambda: refund_appeal(request_id=request.pk, student=student, reason="不服"), code="state", request=request
    )


@pytest.mark.django_db
def test_an_appeal_while_a_newer_request_holds_the_order_is_refused_clearly(buy, student, homeroom):
    order = buy()
    rejected = refund_reject(request_id=submit(order).pk, actor=homeroom.user, reason="材料不足")
    newer = submit(order, details="重新申请：工作调动")
    newer_before = footprint(newer.pk)
    error = assert_refused(
        lambda: refund_appeal(request_id=rejected.pk, student=student, reason="我不服"),
        code="open_request",
        request=rejected,
    )
    assert "another refund request" in error.message
    assert footprint(newer.pk) == newer_before


@pytest.mark.django_db
def test_an_appeal_is_possible_once_the_newer_request_is_cancelled(buy, student, homeroom):
    order = buy()
    rejected = refund_reject(request_id=submit(order).pk, actor=homeroom.user, reason="材料不足")
    refund_cancel(request_id=submit(order).pk, student=student)
    assert refund_appeal(request_id=rejected.pk, student=student, reason="我不服").status == "pending_supervisor"


# --- Adjust the amount -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("amount", ["0", "0.00", "450.5", "899.99", "1000.00"])
def test_an_approver_can_set_any_amount_from_zero_to_the_refundable(buy, homeroom, amount):
    request = submit(buy("1000.00"))
    assert request.quote.refundable == money("1000.00")
    request = refund_adjust_amount(
        request_id=request.pk, actor=homeroom.user, amount=D(amount), reason="按实际课时核算"
    )
    assert request.approved_amount == D(amount).quantize(D("0.01"))
    assert request.amount_confirmed
    assert request.requested_amount == money("900.00")
    assert request.status == "pending_homeroom"


@pytest.mark.django_db
@pytest.mark.parametrize("amount", ["-0.01", "-100", "1000.01", "5000", "NaN", "Infinity", "abc"])
def test_an_amount_outside_zero_to_the_refundable_is_refused(buy, homeroom, amount):
    request = submit(buy("1000.00"))
    assert_refused(
        lambda: refund_adjust_amount(request_id=request.pk, actor=homeroom.user, amount=amount, reason="核算"),
        code="amount",
        request=request,
    )


@pytest.mark.django_db
@pytest.mark.parametrize("reason", ["", "  "])
def test_an_adjustment_needs_a_reason(buy, homeroom, reason):
    request = submit(buy())
    assert_refused(
        lambda: refund_adjust_amount(request_id=request.pk, actor=homeroom.user, amount=D("100"), reason=reason),
        code="comment",
        request=request,
    )


@pytest.mark.django_db
def test_an_adjustment_is_logged_and_announced_without_changing_the_state(buy, homeroom):
    request = submit(buy())
    request = refund_adjust_amount(request_id=request.pk, actor=homeroom.user, amount=D("800"), reason="扣除教材费")
    row = RefundTransition.objects.filter(request=request).last()
    assert (row.name, row.actor, row.from_status, row.to_status) == (
        "adjust_amount",
        homeroom.user,
        "pending_homeroom",
        "pending_homeroom",
    )
    assert "900.00" in row.comment and "800.00" in row.comment and "扣除教材费" in row.comment
    event = RefundEvent.objects.filter(request=request).last()
    assert (event.kind, event.payload["old_amount"], event.payload["amount"]) == ("amount_adjusted", "900.00", "800.00")
    assert request.steps.get().decision == StepDecision.PENDING


@pytest.mark.django_db
@pytest.mark.parametrize("adjuster", ["homeroom", "supervisor"])
def test_raising_a_middle_request_above_the_large_threshold_adds_the_campus_head_before_finance(
    buy, request, homeroom, supervisor, campus_head, finance, adjuster
):
    refund = submit(buy("2200.00"))  # 1980.00: middle; 2200.00 refundable
    assert refund.route == ["homeroom", "supervisor", "finance"]
    if adjuster == "supervisor":
        refund = approve_as(refund, homeroom)
    actor = request.getfixturevalue(adjuster)
    refund = refund_adjust_amount(request_id=refund.pk, actor=actor.user, amount=D("2000.01"), reason="退还教材费")
    assert refund.route == ["homeroom", "supervisor", "campus_head", "finance"]
    refund = approve_as(refund, *([homeroom] if adjuster == "homeroom" else []), supervisor)
    assert refund.status == "pending_campus_head"
    refund = approve_as(refund, campus_head, finance)
    assert (refund.status, refund.approved_amount) == ("approved", money("2000.01"))


@pytest.mark.django_db
def test_raising_a_small_request_replaces_the_automatic_check_with_people(buy, homeroom):
    request = submit(buy("300.00"))
    request = refund_adjust_amount(request_id=request.pk, actor=homeroom.user, amount=D("300.00"), reason="全额退")
    assert request.route == ["homeroom", "auto"]  # 300.00 is still small
    set_settings(request.campus, small_below="250.00")
    request = refund_adjust_amount(request_id=request.pk, actor=homeroom.user, amount=D("280.00"), reason="核算")
    assert request.route == ["homeroom", "supervisor", "finance"]
    request = approve_as(request, homeroom)
    assert request.status == "pending_supervisor"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("price", "new_amount"), [("1000.00", "100.00"), ("3000.00", "100.00"), ("3000.00", "1000.00")]
)
def test_lowering_the_amount_keeps_the_route_and_adds_no_automatic_check(buy, homeroom, price, new_amount):
    request = submit(buy(price))
    route = list(request.route)
    request = refund_adjust_amount(request_id=request.pk, actor=homeroom.user, amount=D(new_amount), reason="扣费")
    assert request.route == route
    assert "auto" not in request.route


@pytest.mark.django_db
def test_a_lowered_request_is_still_approved_by_its_last_person(buy, homeroom, supervisor, finance):
    request = submit(buy("1000.00"))
    request = refund_adjust_amount(request_id=request.pk, actor=homeroom.user, amount=D("100.00"), reason="扣费")
    request = approve_as(request, homeroom, supervisor, finance)
    assert (request.status, request.approved_amount) == ("approved", money("100.00"))
    assert not request.steps.filter(tier="auto").exists()


# --- Contract (premium) courses: the approver sets the amount -------------------------------


@pytest.mark.django_db
def test_a_contract_request_starts_at_zero_and_is_routed_by_what_it_could_refund(buy):
    request = submit(buy("3000.00", course_type=CourseType.PREMIUM))
    assert request.quote.needs_approver_amount
    assert (request.requested_amount, request.approved_amount) == (money("0.00"), money("0.00"))
    assert request.route == ["homeroom", "supervisor", "campus_head", "finance"]


@pytest.mark.django_db
def test_a_contract_request_cannot_get_its_last_approval_without_an_amount(
    buy, homeroom, supervisor, campus_head, finance
):
    request = approve_as(submit(buy("3000.00", course_type=CourseType.PREMIUM)), homeroom, supervisor, campus_head)
    assert_refused(lambda: refund_approve(request_id=request.pk, actor=finance.user), code="amount", request=request)
    request = refund_adjust_amount(request_id=request.pk, actor=finance.user, amount=D("1800.00"), reason="按合同第5条")
    request = approve_as(request, finance)
    assert (request.status, request.approved_amount) == ("approved", money("1800.00"))


@pytest.mark.django_db
def test_a_contract_amount_set_early_carries_to_the_last_approval(buy, homeroom, supervisor, campus_head, finance):
    request = submit(buy("3000.00", course_type=CourseType.PREMIUM))
    request = refund_adjust_amount(request_id=request.pk, actor=homeroom.user, amount=D("2500.00"), reason="合同")
    request = approve_as(request, homeroom, supervisor, campus_head, finance)
    assert (request.status, request.approved_amount) == ("approved", money("2500.00"))


@pytest.mark.django_db
def test_a_small_contract_request_cannot_pass_the_automatic_check_without_an_amount(buy, homeroom):
    request = submit(buy("300.00", course_type=CourseType.PREMIUM))
    assert request.route == ["homeroom", "auto"]
    assert_refused(lambda: refund_approve(request_id=request.pk, actor=homeroom.user), code="amount", request=request)
    request = refund_adjust_amount(request_id=request.pk, actor=homeroom.user, amount=D("200.00"), reason="合同")
    request = approve_as(request, homeroom)
    assert (request.status, request.approved_amount) == ("approved", money("200.00"))


@pytest.mark.django_db
def test_a_contract_request_cannot_be_approved_directly_without_an_amount(buy, service):
    request = submit(buy("150.00", course_type=CourseType.PREMIUM))
    assert_refused(
        lambda: refund_approve_directly(request_id=request.pk, actor=service.user), code="amount", request=request
    )


@pytest.mark.django_db
def test_a_contract_amount_cannot_exceed_what_is_refundable(buy, homeroom):
    request = submit(buy("3000.00", course_type=CourseType.PREMIUM))
    assert_refused(
        lambda: refund_adjust_amount(request_id=request.pk, actor=homeroom.user, amount=D("3000.01"), reason="合同"),
        code="amount",
        request=request,
    )


# --- The automatic check of small refunds ----------------------------------------------------


@pytest.mark.django_db
def test_a_small_request_that_passes_the_check_is_approved_by_the_system(buy, homeroom):
    request = submit(buy("300.00"))
    at = timezone.now() + datetime.timedelta(minutes=1)
    request = approve_as(request, homeroom, at=at)
    assert (request.status, request.decided_at) == ("approved", at)
    auto = request.steps.get(tier="auto")
    assert (auto.decision, auto.decided_by, auto.assignee, auto.decided_at) == (
        StepDecision.AUTO_PASSED,
        None,
        None,
        at,
    )
    assert log_of(request)[-1] == ("approve", "pending_homeroom", "approved")
    assert event_kinds(request)[-1] == "approved"


@pytest.mark.django_db
@pytest.mark.parametrize(("watched", "passes"), [(0, True), (9, True), (10, False), (20, False)])
def test_the_check_refers_progress_above_the_limit(buy, homeroom, watched, passes):
    request = submit(buy("300.00", lessons_watched=watched))  # 30 lessons: 9 = 30.00 %, 10 = 33.33 %
    request = approve_as(request, homeroom)
    assert request.status == ("approved" if passes else "pending_supervisor")


@pytest.mark.django_db
def test_the_campus_sets_the_progress_limit(buy, homeroom, campus):
    set_settings(campus, auto_max_progress="10.00")
    request = approve_as(submit(buy("300.00", lessons_watched=4)), homeroom)  # 13.33 %
    assert request.status == "pending_supervisor"
    assert "13.33%" in request.steps.get(tier="auto").comment


@pytest.mark.django_db
@pytest.mark.parametrize(("earlier", "passes"), [(0, True), (1, True), (2, False), (3, False)])
def test_the_check_refers_a_student_with_too_many_recent_refunds(buy, homeroom, earlier, passes):
    for _ in range(earlier):
        approved_refund(buy(), at=timezone.now() - datetime.timedelta(days=60))
    request = submit(buy("300.00"))
    assert request.route == ["homeroom", "auto"]  # up to 3 a year is no risk flag
    request = approve_as(request, homeroom)
    assert request.status == ("approved" if passes else "pending_supervisor")


@pytest.mark.django_db
def test_the_check_refers_a_student_flagged_after_she_submitted(buy, homeroom, student):
    request = submit(buy("300.00"))
    student.high_risk = True
    student.save()
    request = approve_as(request, homeroom)
    assert request.status == "pending_supervisor"
    assert "flagged" in request.steps.get(tier="auto").comment


@pytest.mark.django_db
def test_a_referred_request_gains_supervisor_and_finance_and_they_approve_it(
    buy, homeroom, supervisor, finance, student
):
    request = submit(buy("300.00", lessons_watched=15))
    request = approve_as(request, homeroom)
    assert request.route == ["homeroom", "auto", "supervisor", "finance"]
    assert request.route_position == 2
    auto = request.steps.get(tier="auto")
    assert auto.decision == StepDecision.AUTO_REFERRED and "50.00%" in auto.comment
    assert request.steps.get(decision=StepDecision.PENDING).assignee == supervisor
    request = approve_as(request, supervisor, finance)
    assert request.status == "approved"
    assert [s.tier for s in request.steps.order_by("pk")] == ["homeroom", "auto", "supervisor", "finance"]


# --- Customer service approves directly ------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("limit", "allowed"), [("270.00", True), ("1000.00", True), ("269.99", False), ("0.00", False)]
)
def test_customer_service_approves_directly_within_the_campus_limit(buy, service, campus, limit, allowed):
    set_settings(campus, service_limit=limit)
    request = submit(buy("300.00"))  # 270.00
    if allowed:
        request = refund_approve_directly(request_id=request.pk, actor=service.user, comment="小额直退")
        assert request.status == "approved"
        first = request.steps.get(tier="homeroom")
        assert (first.decision, first.decided_by, first.comment) == (StepDecision.APPROVED, service, "小额直退")
        assert log_of(request)[-1] == ("approve_directly", "pending_homeroom", "approved")
        assert event_kinds(request)[-1] == "approved"
        assert not request.steps.filter(tier="auto").exists()
    else:
        assert_refused(
            lambda: refund_approve_directly(request_id=request.pk, actor=service.user), code="limit", request=request
        )


@pytest.mark.django_db
def test_the_default_service_limit_is_200(buy, service):
    assert (
        refund_approve_directly(request_id=submit(buy("222.00")).pk, actor=service.user).status == "approved"
    )  # 199.80
    request = submit(buy("223.00"))  # 200.70
    assert_refused(
        lambda: refund_approve_directly(request_id=request.pk, actor=service.user), code="limit", request=request
    )


@pytest.mark.django_db
def test_customer_service_can_approve_directly_at_any_pending_tier(buy, service, homeroom, campus):
    set_settings(campus, service_limit="1000.00")
    request = approve_as(submit(buy("1000.00")), homeroom)
    request = refund_approve_directly(request_id=request.pk, actor=service.user)
    assert request.status == "approved"


@pytest.mark.django_db
def test_customer_service_cannot_approve_a_flagged_request(buy, service, student):
    student.high_risk = True
    student.save()
    request = submit(buy("200.00"))
    assert_refused(
        lambda: refund_approve_directly(request_id=request.pk, actor=service.user), code="risk", request=request
    )


@pytest.mark.django_db
def test_customer_service_of_another_campus_cannot_approve_directly(buy, other_campus):
    other_service = factories.make_staff(role=StaffRole.SERVICE, campus=other_campus)
    request = submit(buy("200.00"))
    assert_refused(
        lambda: refund_approve_directly(request_id=request.pk, actor=other_service.user),
        code="not_found",  # another campus's request is not even there for them
        request=request,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "who", ["homeroom", "supervisor", "campus_head", "finance", "operations", "outsider", "student"]
)
def test_only_customer_service_approves_directly(buy, request, who):
    refund = submit(buy("200.00"))
    person = request.getfixturevalue(who)
    user = getattr(person, "user", person)
    assert_refused(lambda: refund_approve_directly(request_id=refund.pk, actor=user), code="forbidden", request=refund)


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["needs_info", "approved", "rejected", "cancelled"])
def test_customer_service_cannot_approve_a_request_not_waiting_for_approval(buy, service, homeroom, student, state):
    request = submit(buy("200.00"))
    if state == "needs_info":
        request = refund_return_for_info(request_id=request.pk, actor=homeroom.user, missing="请说明")
    elif state == "approved":
        request = approve_as(request, homeroom)
    elif state == "rejected":
        request = refund_reject(request_id=request.pk, actor=homeroom.user, reason="不符合")
    else:
        request = refund_cancel(request_id=request.pk, student=student)
    assert_refused(
        lambda: refund_approve_directly(request_id=request.pk, actor=service.user), code="state", request=request
    )


# --- Events and history ---------------------------------------------------------------------


@pytest.mark.django_db
def test_every_transition_records_its_event_in_order(buy, student, homeroom, supervisor, campus_head, finance):
    request = submit(buy("1000.00"))
    request = refund_return_for_info(request_id=request.pk, actor=homeroom.user, missing="请说明")
    request = refund_resubmit(request_id=request.pk, student=student, details="新工作需要出差")
    request = refund_adjust_amount(request_id=request.pk, actor=homeroom.user, amount=D("850"), reason="扣费")
    request = approve_as(request, homeroom)
    request = refund_reject(request_id=request.pk, actor=supervisor.user, reason="不符合")
    request = refund_appeal(request_id=request.pk, student=student, reason="不服")
    request = approve_as(request, campus_head, finance)
    assert event_kinds(request) == [
        "submitted",
        "assigned",
        "returned",
        "resubmitted",
        "assigned",
        "amount_adjusted",
        "assigned",
        "advanced",
        "rejected",
        "appealed",
        "assigned",
        "assigned",
        "advanced",
        "approved",
    ]
    actors = list(RefundEvent.objects.filter(request=request).order_by("pk").values_list("kind", "actor"))
    assert ("submitted", student.user.pk) in actors
    assert ("rejected", supervisor.user.pk) in actors
    assert all(actor is None for kind, actor in actors if kind == "assigned")


@pytest.mark.django_db
def test_after_a_full_approval_the_history_and_the_log_tell_the_whole_story(
    buy, student, homeroom, supervisor, campus_head, finance
):
    start = timezone.now() - datetime.timedelta(hours=10)
    request = submit(buy("3000.00"), details="工作调动到外地", at=start)
    steps = [(homeroom, 1, "情况属实"), (supervisor, 2, "同意"), (campus_head, 3, "同意退款"), (finance, 4, "核对无误")]
    for staff, hours, comment in steps:
        request = refund_approve(
            request_id=request.pk, actor=staff.user, comment=comment, at=start + datetime.timedelta(hours=hours)
        )
    log = list(
        RefundTransition.objects.filter(request=request)
        .order_by("created_at", "pk")
        .values_list("name", "actor", "from_status", "to_status", "comment", "created_at")
    )
    assert log == [
        ("submit", student.user.pk, "", "pending_homeroom", "工作调动到外地", start),
        (
            "approve",
            homeroom.user.pk,
            "pending_homeroom",
            "pending_supervisor",
            "情况属实",
            start + datetime.timedelta(hours=1),
        ),
        (
            "approve",
            supervisor.user.pk,
            "pending_supervisor",
            "pending_campus_head",
            "同意",
            start + datetime.timedelta(hours=2),
        ),
        (
            "approve",
            campus_head.user.pk,
            "pending_campus_head",
            "pending_finance",
            "同意退款",
            start + datetime.timedelta(hours=3),
        ),
        ("approve", finance.user.pk, "pending_finance", "approved", "核对无误", start + datetime.timedelta(hours=4)),
    ]
    history = list(request.history.order_by("history_date", "history_id"))
    assert [(h.status, h.history_user) for h in history] == [
        ("pending_homeroom", student.user),
        ("pending_supervisor", homeroom.user),
        ("pending_campus_head", supervisor.user),
        ("pending_finance", campus_head.user),
        ("approved", finance.user),
    ]
    assert [h.history_type for h in history] == ["+", "~", "~", "~", "~"]
    assert history[-1].decided_at == start + datetime.timedelta(hours=4)
    assert [h.route_position for h in history] == [0, 1, 2, 3, 4]
    steps_seen = list(request.steps.order_by("pk").values_list("tier", "decided_by", "comment", "decided_at"))
    assert steps_seen == [
        (tier, staff.pk, comment, start + datetime.timedelta(hours=hours))
        for tier, (staff, hours, comment) in zip(
            ["homeroom", "supervisor", "campus_head", "finance"], steps, strict=True
        )
    ]


@pytest.mark.django_db
def test_system_changes_are_recorded_without_a_user(buy, homeroom):
    request = approve_as(submit(buy("300.00")), homeroom)
    assert request.history.latest().history_user == homeroom.user  # the approval that ran the check
    request = submit(buy("300.00"), reason="other", details="")
    assert request.history.latest().history_user is None
    assert RefundTransition.objects.filter(request=request).last().actor is None

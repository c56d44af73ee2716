"""Who may do what to a refund request: every action, in every state, tried by every member of the cast."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from refunds.models import ApprovalStep, StepDecision
from refunds.rules import step_can_act
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
from schoolops.models import Staff, StaffRole
from tests import factories

from .helpers import assert_refused, footprint, log_of, order_at, pdf, submit

pytestmark = pytest.mark.django_db

ROUTE = ["quality", "homeroom", "supervisor", "campus_head", "finance"]
STATES = [
    "pending_quality",
    "pending_homeroom",
    "pending_supervisor",
    "pending_campus_head",
    "pending_finance",
    "needs_info",
    "approved",
    "rejected",
    "cancelled",
]
NO_STAFF = ["student", "other_student", "outsider"]
OTHER_CAMPUS = ["other_campus_homeroom", "other_campus_finance"]
SAME_CAMPUS = [
    "operations",
    "service",
    "quality",
    "second_quality",
    "homeroom",
    "second_homeroom",
    "supervisor",
    "campus_head",
    "finance",
    "second_finance",
]
ACTORS = NO_STAFF + SAME_CAMPUS + OTHER_CAMPUS
# Who decides each tier: the concrete person, or anyone of the role for the pools.
DECIDERS = {
    "quality": {"quality", "second_quality"},
    "homeroom": {"homeroom"},
    "supervisor": {"supervisor"},
    "campus_head": {"campus_head"},
    "finance": {"finance", "second_finance"},
}
# The person who moves the request past each tier while driving it to a state.
DRIVER = {"quality": "quality", "homeroom": "homeroom", "supervisor": "supervisor", "campus_head": "campus_head"}
NEXT = {f"pending_{tier}": f"pending_{ROUTE[i + 1]}" for i, tier in enumerate(ROUTE[:-1])} | {
    "pending_finance": "approved"
}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def quality(campus):
    return factories.make_staff(role=StaffRole.QUALITY, campus=campus, name="质检一")


@pytest.fixture
def second_quality(campus):
    return factories.make_staff(role=StaffRole.QUALITY, campus=campus, name="质检二")


@pytest.fixture
def second_homeroom(campus, supervisor):
    return factories.make_staff(role=StaffRole.HOMEROOM, campus=campus, manager=supervisor, name="周老师")


@pytest.fixture
def second_finance(campus):
    return factories.make_staff(role=StaffRole.FINANCE, campus=campus, name="出纳二")


@pytest.fixture
def service(campus):
    return factories.make_staff(role=StaffRole.SERVICE, campus=campus, name="客服")


@pytest.fixture
def other_campus_finance(other_campus):
    return factories.make_staff(role=StaffRole.FINANCE, campus=other_campus, name="南校会计")


@pytest.fixture
def cast(request, quality, homeroom, supervisor, campus_head, finance):
    """Every actor of the matrix by name (created up front so that pools are complete)."""
    return {name: request.getfixturevalue(name) for name in ACTORS}


def user_of(person):
    return getattr(person, "user", person)


def quality_complaint(student, homeroom, campus):
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="3000.00")
    request = submit(order, reason="quality", details="直播课多次中断，老师经常迟到", evidence=[pdf()])
    assert request.route == ROUTE
    return request


def drive(request, state: str, cast: dict):
    """Take a fresh quality complaint (pending_quality) to ``state`` through the services."""
    student = cast["student"]
    if state == "needs_info":
        return refund_return_for_info(request_id=request.pk, actor=cast["quality"].user, missing="请补充录屏")
    if state == "rejected":
        return refund_reject(request_id=request.pk, actor=cast["quality"].user, reason="非校方原因")
    if state == "cancelled":
        return refund_cancel(request_id=request.pk, student=student)
    while request.status != state:
        tier = request.status.removeprefix("pending_")
        request = refund_approve(request_id=request.pk, actor=cast[DRIVER.get(tier, "finance")].user)
    return request


def expected_refusal(state: str, actor: str) -> str | None:
    if actor in NO_STAFF:
        return "forbidden"
    if actor in OTHER_CAMPUS:
        return "not_found"
    if not state.startswith("pending_"):
        return "state"
    return None if actor in DECIDERS[state.removeprefix("pending_")] else "forbidden"


STAFF_ACTIONS = {
    "approve": lambda pk, user: refund_approve(request_id=pk, actor=user, comment="同意"),
    "reject": lambda pk, user: refund_reject(request_id=pk, actor=user, reason="不符合退款条件"),
    "return": lambda pk, user: refund_return_for_info(request_id=pk, actor=user, missing="请补充材料"),
    "adjust": lambda pk, user: refund_adjust_amount(
        request_id=pk, actor=user, amount=Decimal("2500.00"), reason="核算"
    ),
}


REFUSED = [(state, actor) for state in STATES for actor in ACTORS if expected_refusal(state, actor) is not None]
ALLOWED = [(state, actor) for state in STATES for actor in ACTORS if expected_refusal(state, actor) is None]


def test_the_matrix_covers_every_state_and_actor():
    assert len(REFUSED) + len(ALLOWED) == len(STATES) * len(ACTORS)
    assert {state for state, _actor in ALLOWED} == {s for s in STATES if s.startswith("pending_")}


@pytest.mark.parametrize(("state", "actor"), REFUSED)
def test_no_staff_decision_is_possible_for_anyone_but_the_tiers_approver(cast, student, homeroom, campus, state, actor):
    request = drive(quality_complaint(student, homeroom, campus), state, cast)
    assert request.status == state
    user = user_of(cast[actor])
    for action, call in STAFF_ACTIONS.items():
        error = assert_refused(
            lambda call=call: call(request.pk, user), code=expected_refusal(state, actor), request=request
        )
        assert error.message, action


@pytest.mark.parametrize("action", sorted(STAFF_ACTIONS))
@pytest.mark.parametrize(("state", "actor"), ALLOWED)
def test_the_tiers_approver_may_take_every_decision(cast, student, homeroom, campus, state, actor, action):
    request = drive(quality_complaint(student, homeroom, campus), state, cast)
    person = cast[actor]
    before = footprint(request.pk)
    request = STAFF_ACTIONS[action](request.pk, person.user)
    after = {"approve": NEXT[state], "reject": "rejected", "return": "needs_info", "adjust": state}[action]
    assert request.status == after
    assert footprint(request.pk)["transitions"] == before["transitions"] + 1
    if action == "adjust":
        assert request.approved_amount == Decimal("2500.00")
    else:
        decided = ApprovalStep.objects.filter(request=request).exclude(decision=StepDecision.PENDING).last()
        assert decided.decided_by == person


STUDENT_ACTIONS = {
    "cancel": ({"needs_info", *[s for s in STATES if s.startswith("pending_")]}, "cancelled"),
    "resubmit": ({"needs_info"}, "pending_quality"),
    "appeal": ({"rejected"}, "pending_supervisor"),
}


def student_call(action: str, pk: int, who):
    if action == "cancel":
        return refund_cancel(request_id=pk, student=who)
    if action == "resubmit":
        return refund_resubmit(request_id=pk, student=who, details="补充：录屏已上传", evidence=[pdf("录屏截图.pdf")])
    return refund_appeal(request_id=pk, student=who, reason="问题确实是校方原因")


@pytest.mark.parametrize("who", ["student", "other_student"])
@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", sorted(STUDENT_ACTIONS))
def test_a_students_action_is_hers_alone_and_only_from_its_states(cast, student, homeroom, campus, action, state, who):
    request = drive(quality_complaint(student, homeroom, campus), state, cast)
    sources, target = STUDENT_ACTIONS[action]
    if who == "other_student":
        assert_refused(lambda: student_call(action, request.pk, cast[who]), code="not_found", request=request)
    elif state not in sources:
        assert_refused(lambda: student_call(action, request.pk, cast[who]), code="state", request=request)
    else:
        request = student_call(action, request.pk, student)
        assert request.status == target
        assert log_of(request)[-1][0] == action


@pytest.mark.parametrize("actor", ACTORS)
def test_only_customer_service_of_the_campus_approves_directly(cast, student, homeroom, campus, actor):
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="200.00")
    request = submit(order)
    if actor == "service":
        assert refund_approve_directly(request_id=request.pk, actor=cast[actor].user).status == "approved"
    else:
        assert_refused(
            lambda: refund_approve_directly(request_id=request.pk, actor=user_of(cast[actor])),
            code="forbidden",
            request=request,
        )


def test_a_no_such_request_is_not_found_for_staff(homeroom):
    assert_refused(lambda: refund_approve(request_id=987654, actor=homeroom.user), code="not_found")


def test_a_deactivated_approver_can_no_longer_decide(student, homeroom, campus):
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))
    homeroom.user.is_active = False
    homeroom.user.save()
    assert_refused(
        lambda: refund_approve(request_id=request.pk, actor=homeroom.user), code="forbidden", request=request
    )


# --- Delegates, pools, escalation targets -----------------------------------------------------


def test_an_active_delegate_decides_for_the_absent_approver(student, homeroom, campus, second_homeroom):
    today = timezone.localdate()
    Staff.objects.filter(pk=homeroom.pk).update(delegate=second_homeroom, delegate_from=today, delegate_until=today)
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))
    request = refund_approve(request_id=request.pk, actor=second_homeroom.user)
    step = request.steps.get(tier="homeroom")
    assert (step.decided_by, step.delegate_used, step.assignee) == (second_homeroom, True, homeroom)
    assert request.status == "pending_supervisor"


def test_the_absent_approver_can_still_decide_while_a_delegate_covers(student, homeroom, campus, second_homeroom):
    today = timezone.localdate()
    Staff.objects.filter(pk=homeroom.pk).update(delegate=second_homeroom, delegate_from=today, delegate_until=today)
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))
    request = refund_approve(request_id=request.pk, actor=homeroom.user)
    assert request.steps.get(tier="homeroom").delegate_used is False


def test_a_delegate_can_reject_and_return_too(student, homeroom, campus, second_homeroom):
    today = timezone.localdate()
    Staff.objects.filter(pk=homeroom.pk).update(delegate=second_homeroom, delegate_from=today, delegate_until=today)
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00")
    request = refund_return_for_info(request_id=submit(order).pk, actor=second_homeroom.user, missing="请说明")
    assert request.steps.get().delegate_used
    request = refund_resubmit(request_id=request.pk, student=student, details="工作日晚上要加班")
    request = refund_reject(request_id=request.pk, actor=second_homeroom.user, reason="不符合")
    assert request.status == "rejected"


def test_a_delegate_of_another_campus_cannot_act(student, homeroom, campus, other_campus_homeroom):
    today = timezone.localdate()
    Staff.objects.filter(pk=homeroom.pk).update(
        delegate=other_campus_homeroom, delegate_from=today, delegate_until=today
    )
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))
    assert_refused(
        lambda: refund_approve(request_id=request.pk, actor=other_campus_homeroom.user),
        code="not_found",
        request=request,
    )


@pytest.mark.parametrize("who", ["finance", "second_finance"])
def test_anyone_in_the_finance_pool_of_the_campus_decides_the_finance_tier(cast, student, homeroom, campus, who):
    request = drive(quality_complaint(student, homeroom, campus), "pending_finance", cast)
    assert request.steps.get(decision=StepDecision.PENDING).assignee is None
    assert refund_approve(request_id=request.pk, actor=cast[who].user).status == "approved"


def test_the_pool_is_the_role_not_a_person(student, homeroom, supervisor, campus):
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))
    request = refund_approve(request_id=request.pk, actor=homeroom.user)
    request = refund_approve(request_id=request.pk, actor=supervisor.user)
    late_hire = factories.make_staff(role=StaffRole.FINANCE, campus=campus, name="新会计")
    assert refund_approve(request_id=request.pk, actor=late_hire.user).status == "approved"


def test_step_can_act_tells_who_and_whether_as_a_delegate(student, homeroom, supervisor, campus, second_homeroom):
    today = timezone.localdate()
    Staff.objects.filter(pk=homeroom.pk).update(delegate=second_homeroom, delegate_from=today, delegate_until=today)
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))
    step = request.steps.select_related("assignee__delegate", "request").get()
    assert step_can_act(step=step, staff=homeroom, on=today) == (True, False)
    assert step_can_act(step=step, staff=second_homeroom, on=today) == (True, True)
    assert step_can_act(step=step, staff=supervisor, on=today) == (False, False)


# --- Separation of duties ---------------------------------------------------------------------


def test_nobody_decides_their_own_request(student, campus, supervisor):
    own_staff = Staff.objects.create(user=student.user, role=StaffRole.HOMEROOM, campus=campus, manager=supervisor)
    request = submit(order_at(student=student, homeroom=own_staff, campus=campus, price="1000.00"))
    assert request.steps.get().assignee == own_staff
    for action in ("approve", "reject", "return", "adjust"):
        assert_refused(
            lambda action=action: STAFF_ACTIONS[action](request.pk, student.user), code="own", request=request
        )


def test_a_finance_clerk_who_is_the_student_cannot_approve_her_own_refund_from_the_pool(
    student, homeroom, supervisor, finance, campus
):
    Staff.objects.create(user=student.user, role=StaffRole.FINANCE, campus=campus)
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))
    for staff in (homeroom, supervisor):
        request = refund_approve(request_id=request.pk, actor=staff.user)
    assert_refused(lambda: refund_approve(request_id=request.pk, actor=student.user), code="own", request=request)
    assert refund_approve(request_id=request.pk, actor=finance.user).status == "approved"


def test_customer_service_cannot_approve_her_own_request_directly(campus, homeroom):
    clerk = factories.make_student(campus=campus)
    Staff.objects.create(user=clerk.user, role=StaffRole.SERVICE, campus=campus)
    request = submit(order_at(student=clerk, homeroom=homeroom, campus=campus, price="200.00"))
    assert_refused(
        lambda: refund_approve_directly(request_id=request.pk, actor=clerk.user), code="own", request=request
    )


def test_a_delegate_who_approved_one_tier_cannot_approve_the_next(
    student, homeroom, supervisor, campus_head, finance, campus
):
    today = timezone.localdate()
    Staff.objects.filter(pk=campus_head.pk).update(delegate=supervisor, delegate_from=today, delegate_until=today)
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="3000.00"))
    request = refund_approve(request_id=request.pk, actor=homeroom.user)
    request = refund_approve(request_id=request.pk, actor=supervisor.user)
    assert request.status == "pending_campus_head"
    error = assert_refused(
        lambda: refund_approve(request_id=request.pk, actor=supervisor.user), code="twice", request=request
    )
    assert "second person" in error.message
    assert refund_approve(request_id=request.pk, actor=campus_head.user).status == "pending_finance"


def test_a_delegate_who_approved_one_tier_cannot_reject_return_or_adjust_the_next(
    student, homeroom, supervisor, campus_head, campus
):
    today = timezone.localdate()
    Staff.objects.filter(pk=campus_head.pk).update(delegate=supervisor, delegate_from=today, delegate_until=today)
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="3000.00"))
    for staff in (homeroom, supervisor):
        request = refund_approve(request_id=request.pk, actor=staff.user)
    for action in ("reject", "return", "adjust"):
        assert_refused(
            lambda action=action: STAFF_ACTIONS[action](request.pk, supervisor.user), code="twice", request=request
        )


def test_a_supervisor_who_teaches_the_class_is_passed_over_for_her_own_tier(
    student, supervisor, campus_head, finance, campus
):
    """The homeroom teacher of the enrollment is the supervisor herself: one person, two tiers."""
    request = submit(order_at(student=student, homeroom=supervisor, campus=campus, price="1000.00"))
    assert request.steps.get().assignee == supervisor
    request = refund_approve(request_id=request.pk, actor=supervisor.user)
    pending = request.steps.get(decision=StepDecision.PENDING)
    assert (pending.tier, pending.assignee) == ("supervisor", campus_head)
    assert_refused(
        lambda: refund_approve(request_id=request.pk, actor=supervisor.user), code="forbidden", request=request
    )
    request = refund_approve(request_id=request.pk, actor=campus_head.user)
    assert refund_approve(request_id=request.pk, actor=finance.user).status == "approved"


def test_an_escalation_target_who_approved_an_earlier_tier_cannot_approve_again(
    student, homeroom, supervisor, campus_head, campus
):
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))
    request = refund_approve(request_id=request.pk, actor=homeroom.user)
    ApprovalStep.objects.filter(request=request, decision=StepDecision.PENDING).update(
        escalated_at=timezone.now(), escalated_to=homeroom
    )
    assert_refused(lambda: refund_approve(request_id=request.pk, actor=homeroom.user), code="twice", request=request)


def test_the_finance_clerk_who_rejected_cannot_decide_the_appeal(
    cast, student, homeroom, supervisor, campus_head, finance, second_finance, campus
):
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))
    for staff in (homeroom, supervisor):
        request = refund_approve(request_id=request.pk, actor=staff.user)
    request = refund_reject(request_id=request.pk, actor=finance.user, reason="账目不符")
    request = refund_appeal(request_id=request.pk, student=student, reason="请重新核对")
    request = refund_approve(request_id=request.pk, actor=campus_head.user)
    assert request.status == "pending_finance"
    error = assert_refused(
        lambda: refund_approve(request_id=request.pk, actor=finance.user), code="twice", request=request
    )
    assert "appeal" in error.message
    assert refund_approve(request_id=request.pk, actor=second_finance.user).status == "approved"


def test_a_campus_heads_rejection_is_appealed_to_another_campus_head(
    student, homeroom, supervisor, campus_head, finance, campus
):
    deputy = factories.make_staff(role=StaffRole.CAMPUS_HEAD, campus=campus, name="副校长")
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="3000.00"))
    for staff in (homeroom, supervisor):
        request = refund_approve(request_id=request.pk, actor=staff.user)
    request = refund_reject(request_id=request.pk, actor=campus_head.user, reason="超出政策")
    request = refund_appeal(request_id=request.pk, student=student, reason="请校区复核")
    assert request.status == "pending_campus_head"
    pending = request.steps.get(decision=StepDecision.PENDING)
    assert pending.assignee != campus_head
    assert_refused(lambda: refund_approve(request_id=request.pk, actor=campus_head.user), code="twice", request=request)
    request = refund_approve(request_id=request.pk, actor=deputy.user)
    assert refund_approve(request_id=request.pk, actor=finance.user).status == "approved"


def test_the_approver_who_rejected_before_an_appeal_may_not_reject_again(
    student, homeroom, supervisor, campus_head, campus
):
    """An appeal goes up a tier; the homeroom teacher who rejected is not asked again."""
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00"))
    request = refund_reject(request_id=request.pk, actor=homeroom.user, reason="材料不足")
    request = refund_appeal(request_id=request.pk, student=student, reason="补充了材料")
    assert request.steps.get(decision=StepDecision.PENDING).assignee == supervisor
    assert_refused(
        lambda: refund_reject(request_id=request.pk, actor=homeroom.user, reason="仍然不足"),
        code="forbidden",
        request=request,
    )

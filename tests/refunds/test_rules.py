"""The decision rules as pure functions: unsaved rows in, a refusal (or none) out, no database."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from orders.models import Order
from refunds import rules
from refunds.models import (
    ApprovalSettings,
    ApprovalStep,
    ApprovalTier,
    QuoteSnapshot,
    RefundRequest,
    RefundStatus,
    StepDecision,
)
from refunds.rules import DecisionRight, Refusal
from schoolops.models import Staff, StaffRole, User
from students.models import Student

CAMPUS, OTHER_CAMPUS = 1, 2
TODAY = datetime.date(2026, 3, 10)
NOW = timezone.make_aware(datetime.datetime(2026, 3, 10, 12))


def person(pk: int, role: str = StaffRole.HOMEROOM, *, campus: int = CAMPUS, active: bool = True, **fields) -> Staff:
    return Staff(pk=pk, user=User(pk=pk, is_active=active), role=role, campus_id=campus, **fields)


def refund(
    status: str = RefundStatus.PENDING_HOMEROOM,
    *,
    route: tuple[str, ...] = (ApprovalTier.HOMEROOM, ApprovalTier.SUPERVISOR, ApprovalTier.FINANCE),
    position: int = 0,
    student_user: int = 100,
    contract: bool = False,
    **fields,
) -> RefundRequest:
    quote = QuoteSnapshot(total=Decimal("900.00"), refundable=Decimal("1000.00"), needs_approver_amount=contract)
    return RefundRequest(
        status=status,
        campus_id=CAMPUS,
        route=list(route),
        route_position=position,
        student=Student(pk=student_user, user_id=student_user),
        order=Order(order_no="OD1", amount_paid=Decimal("1000.00"), refunded_total=Decimal("100.00")),
        quote=quote,
        approved_amount=Decimal("900.00"),
        **fields,
    )


def step_of(request: RefundRequest, assignee: Staff | None, tier: str = ApprovalTier.HOMEROOM) -> ApprovalStep:
    return ApprovalStep(request=request, tier=tier, assignee=assignee, decision=StepDecision.PENDING)


def right(request, staff, step, decisions=frozenset(), on=TODAY):
    return rules.decision_right(request=request, staff=staff, step=step, decisions=decisions, on=on)


# --- Who may decide ---------------------------------------------------------------------------


def test_the_assignee_may_decide_her_step():
    teacher = person(1)
    request = refund()
    step = step_of(request, teacher)
    assert right(request, teacher, step) == DecisionRight(step=step, as_delegate=False)
    assert rules.decision_refusal(request=request, staff=teacher, step=step, decisions=(), on=TODAY) is None


def test_an_active_delegate_decides_as_the_delegate_and_only_within_her_dates():
    stand_in = person(2)
    teacher = person(1, delegate=stand_in, delegate_from=TODAY, delegate_until=TODAY)
    request = refund()
    step = step_of(request, teacher)
    assert right(request, stand_in, step) == DecisionRight(step=step, as_delegate=True)
    later = right(request, stand_in, step, on=TODAY + datetime.timedelta(days=1))
    assert isinstance(later, Refusal) and later.code == "forbidden"


def test_a_pool_tier_is_anyones_of_its_role_at_the_campus():
    request = refund(RefundStatus.PENDING_FINANCE, position=2)
    step = step_of(request, None, ApprovalTier.FINANCE)
    assert isinstance(right(request, person(5, StaffRole.FINANCE), step), DecisionRight)
    assert right(request, person(6, StaffRole.SUPERVISOR), step).code == "forbidden"
    assert right(request, person(7, StaffRole.FINANCE, campus=OTHER_CAMPUS), step).code == "forbidden"


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("not staff", "forbidden"),
        ("inactive account", "forbidden"),
        ("not in review", "state"),
        ("no pending step", "state"),
        ("someone else's step", "forbidden"),
        ("her own request", "own"),
        ("approved another tier", "twice"),
        ("appeal of her own rejection", "twice"),
    ],
)
def test_every_refusal_of_a_decision_names_its_reason(case, code):
    teacher = person(1)
    request = refund()
    step: ApprovalStep | None = step_of(request, teacher)
    staff: Staff | None = teacher
    decisions: frozenset[str] = frozenset()
    if case == "not staff":
        staff = None
    elif case == "inactive account":
        staff = person(1, active=False)
    elif case == "not in review":
        request = refund(RefundStatus.APPROVED)
    elif case == "no pending step":
        step = None
    elif case == "someone else's step":
        staff = person(3)
    elif case == "her own request":
        request.student = Student(pk=1, user_id=teacher.user_id)
    elif case == "approved another tier":
        decisions = frozenset({StepDecision.APPROVED})
    elif case == "appeal of her own rejection":
        decisions = frozenset({StepDecision.REJECTED})
        request.appealed_at = NOW
    refusal = right(request, staff, step, decisions)
    assert isinstance(refusal, Refusal)
    assert refusal.code == code
    assert refusal.message


def test_a_rejection_before_the_appeal_does_not_bar_a_later_decision():
    teacher = person(1)
    request = refund()
    assert isinstance(
        right(request, teacher, step_of(request, teacher), frozenset({StepDecision.REJECTED})), DecisionRight
    )


def test_the_last_person_is_the_one_only_the_automatic_check_follows():
    assert rules.is_last_person(refund(route=(ApprovalTier.HOMEROOM, ApprovalTier.AUTO)))
    assert not rules.is_last_person(refund(route=(ApprovalTier.HOMEROOM, ApprovalTier.FINANCE)))


# --- Money ------------------------------------------------------------------------------------


def test_a_contract_quote_is_limited_by_what_the_order_still_has():
    assert rules.quote_limit(QuoteSnapshot(total=Decimal("0.00"), refundable=Decimal("500.00"))) == Decimal("0.00")
    contract = QuoteSnapshot(total=Decimal("0.00"), refundable=Decimal("500.00"), needs_approver_amount=True)
    assert rules.quote_limit(contract) == Decimal("500.00")
    assert rules.apply_refusal(contract) is None
    assert rules.apply_refusal(QuoteSnapshot(total=Decimal("0.00"), refundable=Decimal("500.00"))).code == (
        "nothing_refundable"
    )


def test_an_approver_sets_an_amount_between_zero_and_what_the_order_still_has():
    request = refund()
    limit = rules.adjust_limit(request, order_left=Decimal("800.00"))
    assert limit == Decimal("800.00")  # the quote allows 1000.00, the order has 800.00 left
    assert rules.adjust_limit(request, order_left=Decimal("5000.00")) == Decimal("1000.00")
    assert rules.adjust_amount_refusal(Decimal("800.00"), limit=limit) is None
    assert rules.adjust_amount_refusal(Decimal("0.00"), limit=limit) is None
    assert rules.adjust_amount_refusal(Decimal("800.01"), limit=limit).code == "amount"
    assert rules.adjust_amount_refusal(Decimal("-0.01"), limit=limit).code == "amount"


def test_the_last_approval_needs_a_contract_amount_set_and_an_amount_the_order_can_pay():
    contract = refund(contract=True)
    assert rules.final_approval_refusal(contract, order_left=Decimal("5000.00")).code == "amount"
    contract.amount_confirmed = True
    assert rules.final_approval_refusal(contract, order_left=Decimal("5000.00")) is None
    assert rules.final_approval_refusal(refund(), order_left=Decimal("899.99")).code == "exceeds_order"
    assert rules.final_approval_refusal(refund(), order_left=Decimal("900.00")) is None


# --- The student's actions --------------------------------------------------------------------

SETTINGS = ApprovalSettings(appeal_days=7)


def actions(request: RefundRequest, now: datetime.datetime = NOW) -> rules.StudentActions:
    return rules.student_actions(request, settings=SETTINGS, now=now)


def test_a_request_in_review_may_be_cancelled_but_neither_resubmitted_nor_appealed():
    open_actions = actions(refund())
    assert open_actions.can_cancel
    assert open_actions.resubmit.code == "state"
    assert open_actions.appeal.code == "state"
    assert open_actions.appeal_deadline is None


def test_a_returned_request_may_be_resubmitted_or_cancelled():
    returned = actions(refund(RefundStatus.NEEDS_INFO))
    assert returned.can_resubmit and returned.can_cancel and not returned.can_appeal


@pytest.mark.parametrize("status", [RefundStatus.APPROVED, RefundStatus.PAYING, RefundStatus.REFUNDED])
def test_an_approved_request_can_no_longer_be_cancelled(status):
    assert actions(refund(status)).cancel.code == "state"


def test_a_rejection_may_be_appealed_once_until_its_deadline():
    decided = NOW - datetime.timedelta(days=7)
    rejected = refund(RefundStatus.REJECTED, decided_at=decided)
    on_time = actions(rejected)
    assert on_time.can_appeal
    assert on_time.appeal_deadline == decided + datetime.timedelta(days=7)
    assert not on_time.can_cancel
    late = actions(rejected, now=NOW + datetime.timedelta(seconds=1))
    assert late.appeal.code == "late"
    assert timezone.localtime(on_time.appeal_deadline).strftime("%Y-%m-%d %H:%M") in late.appeal.message
    appealed = refund(RefundStatus.REJECTED, decided_at=decided, appealed_at=NOW)
    assert actions(appealed).appeal.code == "once"
    assert actions(appealed).appeal_deadline is None

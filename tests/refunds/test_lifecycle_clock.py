"""The clock of the lifecycle, by time travel (the services take ``at=``/``now=``): escalation past the SLA,
expiry of requests waiting for information, the appeal window, and delegation dates."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from refunds.models import ApprovalStep, RefundEvent, RefundTransition, StepDecision
from refunds.services import (
    refund_appeal,
    refund_approve,
    refund_reject,
    refund_requests_expire,
    refund_resubmit,
    refund_return_for_info,
    refund_steps_escalate,
)
from schoolops.models import Staff, StaffRole
from tests import factories

from .helpers import assert_refused, event_kinds, footprint, log_of, order_at, set_settings, submit

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")
MINUTE = datetime.timedelta(minutes=1)
DAY = datetime.timedelta(days=1)


@pytest.fixture
def buy(student, homeroom, campus):
    def _buy(price: str = "1000.00", **kwargs):
        return order_at(student=student, homeroom=homeroom, campus=campus, price=price, **kwargs)

    return _buy


@pytest.fixture
def t0():
    """The moment of submission: now, to the second (the quotes count course days from real dates)."""
    return timezone.now().replace(microsecond=0)


def pending_step(request) -> ApprovalStep:
    return ApprovalStep.objects.select_related("assignee", "escalated_to").get(
        request=request, decision=StepDecision.PENDING
    )


# --- Escalation ------------------------------------------------------------------------------


def test_a_step_one_minute_before_its_deadline_is_not_escalated(buy, t0):
    request = submit(buy(), at=t0)
    due = pending_step(request).due_at
    assert due == t0 + datetime.timedelta(hours=24)
    before = footprint(request.pk)
    assert refund_steps_escalate(now=due - MINUTE) == 0
    assert footprint(request.pk) == before


def test_a_step_one_minute_past_its_deadline_escalates_to_the_assignees_manager(buy, t0, homeroom, supervisor):
    request = submit(buy(), at=t0)
    due = pending_step(request).due_at
    assert refund_steps_escalate(now=due + MINUTE) == 1
    step = pending_step(request)
    assert (step.assignee, step.escalated_to, step.escalated_at) == (homeroom, supervisor, due + MINUTE)
    row = RefundTransition.objects.filter(request=request).last()
    assert (row.name, row.actor, row.from_status, row.to_status, row.created_at) == (
        "escalate",
        None,
        "pending_homeroom",
        "pending_homeroom",
        due + MINUTE,
    )
    assert supervisor.name in row.comment
    event = RefundEvent.objects.filter(request=request).last()
    assert (event.kind, event.actor) == ("escalated", None)
    assert event.payload == {"tier": "homeroom", "from_staff": homeroom.pk, "to_staff": supervisor.pk}


def test_a_step_exactly_at_its_deadline_escalates(buy, t0):
    request = submit(buy(), at=t0)
    assert refund_steps_escalate(now=pending_step(request).due_at) == 1


def test_escalation_leaves_the_state_and_the_step_open(buy, t0):
    request = submit(buy(), at=t0)
    refund_steps_escalate(now=t0 + DAY + MINUTE)
    request.refresh_from_db()
    assert request.status == "pending_homeroom"
    assert pending_step(request).decision == StepDecision.PENDING


def test_running_the_escalation_twice_escalates_once(buy, t0):
    request = submit(buy(), at=t0)
    assert refund_steps_escalate(now=t0 + DAY + MINUTE) == 1
    after_first = footprint(request.pk)
    assert refund_steps_escalate(now=t0 + 3 * DAY) == 0
    assert footprint(request.pk) == after_first
    assert [name for name, _f, _t in log_of(request)].count("escalate") == 1
    assert event_kinds(request).count("escalated") == 1


def test_the_escalation_target_can_decide_the_step(buy, t0, supervisor, campus_head):
    request = submit(buy(), at=t0)
    refund_steps_escalate(now=t0 + DAY + MINUTE)
    request = refund_approve(request_id=request.pk, actor=supervisor.user, at=t0 + DAY + 2 * MINUTE)
    decided = request.steps.get(tier="homeroom")
    assert (decided.decided_by, decided.delegate_used) == (supervisor, False)
    # The supervisor approved a tier already, so her own tier goes to the next person up.
    assert pending_step(request).assignee == campus_head


def test_the_original_assignee_can_still_decide_after_escalation(buy, t0, homeroom):
    request = submit(buy(), at=t0)
    refund_steps_escalate(now=t0 + DAY + MINUTE)
    request = refund_approve(request_id=request.pk, actor=homeroom.user, at=t0 + DAY + 2 * MINUTE)
    assert request.status == "pending_supervisor"


def test_before_escalation_the_manager_cannot_decide(buy, t0, supervisor):
    request = submit(buy(), at=t0)
    assert_refused(
        lambda: refund_approve(request_id=request.pk, actor=supervisor.user, at=t0 + DAY - MINUTE),
        code="forbidden",
        request=request,
    )


def test_an_overdue_finance_step_escalates_to_the_campus_head_who_can_then_approve(
    buy, t0, homeroom, supervisor, campus_head
):
    request = submit(buy(), at=t0)
    for staff, hours in [(homeroom, 1), (supervisor, 2)]:
        request = refund_approve(request_id=request.pk, actor=staff.user, at=t0 + datetime.timedelta(hours=hours))
    step = pending_step(request)
    assert (step.tier, step.assignee, step.due_at) == ("finance", None, t0 + datetime.timedelta(hours=26))
    assert refund_steps_escalate(now=step.due_at - MINUTE) == 0
    assert refund_steps_escalate(now=step.due_at + MINUTE) == 1
    assert pending_step(request).escalated_to == campus_head
    request = refund_approve(request_id=request.pk, actor=campus_head.user, at=step.due_at + 2 * MINUTE)
    assert request.status == "approved"


@pytest.mark.parametrize(
    ("tier_setting", "hours"),
    [("sla_homeroom_hours", 48), ("sla_homeroom_hours", 1)],
)
def test_the_campus_sets_each_tiers_deadline(buy, t0, campus, tier_setting, hours):
    set_settings(campus, **{tier_setting: hours})
    request = submit(buy(), at=t0)
    deadline = t0 + datetime.timedelta(hours=hours)
    assert pending_step(request).due_at == deadline
    assert refund_steps_escalate(now=deadline - MINUTE) == 0
    assert refund_steps_escalate(now=deadline + MINUTE) == 1


def test_the_next_tiers_deadline_counts_from_when_it_was_put_in_front_of_its_approver(buy, t0, campus, homeroom):
    set_settings(campus, sla_supervisor_hours=8)
    request = submit(buy(), at=t0)
    approved_at = t0 + datetime.timedelta(hours=20)
    request = refund_approve(request_id=request.pk, actor=homeroom.user, at=approved_at)
    assert pending_step(request).due_at == approved_at + datetime.timedelta(hours=8)
    assert refund_steps_escalate(now=approved_at + datetime.timedelta(hours=8) - MINUTE) == 0


def test_decided_and_returned_steps_are_never_escalated(buy, t0, homeroom):
    request = submit(buy(), at=t0)
    refund_return_for_info(request_id=request.pk, actor=homeroom.user, missing="请说明", at=t0 + MINUTE)
    assert refund_steps_escalate(now=t0 + 10 * DAY) == 0


def test_every_overdue_step_is_escalated_in_one_run(buy, t0):
    first = submit(buy(), at=t0)
    second = submit(buy("3000.00"), at=t0 + datetime.timedelta(hours=1))
    third = submit(buy("300.00"), at=t0 + datetime.timedelta(hours=30))
    assert refund_steps_escalate(now=t0 + datetime.timedelta(hours=25, minutes=1)) == 2
    assert pending_step(first).escalated_at is not None
    assert pending_step(second).escalated_at is not None
    assert pending_step(third).escalated_at is None


# --- Expiry of requests waiting for information ----------------------------------------------


def test_a_request_waiting_for_information_not_yet_too_long_is_untouched(buy, t0, homeroom):
    request = refund_return_for_info(request_id=submit(buy(), at=t0).pk, actor=homeroom.user, missing="请说明", at=t0)
    before = footprint(request.pk)
    assert refund_requests_expire(now=t0 + 14 * DAY - MINUTE) == 0
    assert footprint(request.pk) == before


def test_a_request_waiting_for_information_too_long_is_cancelled_by_the_system(buy, t0, homeroom):
    request = refund_return_for_info(request_id=submit(buy(), at=t0).pk, actor=homeroom.user, missing="请说明", at=t0)
    now = t0 + 14 * DAY + MINUTE
    assert refund_requests_expire(now=now) == 1
    request.refresh_from_db()
    assert (request.status, request.decided_at) == ("cancelled", now)
    row = RefundTransition.objects.filter(request=request).last()
    assert (row.name, row.actor, row.from_status, row.to_status, row.created_at) == (
        "expire",
        None,
        "needs_info",
        "cancelled",
        now,
    )
    assert "14" in row.comment
    event = RefundEvent.objects.filter(request=request).last()
    assert (event.kind, event.actor, event.payload) == ("cancelled", None, {"expired": True})
    assert request.history.latest().history_user is None


def test_expiry_runs_once(buy, t0, homeroom):
    request = refund_return_for_info(request_id=submit(buy(), at=t0).pk, actor=homeroom.user, missing="请说明", at=t0)
    assert refund_requests_expire(now=t0 + 15 * DAY) == 1
    assert refund_requests_expire(now=t0 + 16 * DAY) == 0
    assert [name for name, _f, _t in log_of(request)].count("expire") == 1


def test_the_campus_sets_how_long_information_may_take(buy, t0, homeroom, campus):
    set_settings(campus, needs_info_days=3)
    request = refund_return_for_info(request_id=submit(buy(), at=t0).pk, actor=homeroom.user, missing="请说明", at=t0)
    assert refund_requests_expire(now=t0 + 3 * DAY - MINUTE) == 0
    assert refund_requests_expire(now=t0 + 3 * DAY + MINUTE) == 1
    request.refresh_from_db()
    assert request.status == "cancelled"


def test_an_application_returned_at_submission_expires_too(buy, t0):
    request = submit(buy(), reason="other", details="不想学", at=t0)
    assert request.status == "needs_info"
    assert refund_requests_expire(now=t0 + 14 * DAY - MINUTE) == 0
    assert refund_requests_expire(now=t0 + 14 * DAY + MINUTE) == 1


def test_the_waiting_time_counts_from_the_latest_return(buy, t0, homeroom, student):
    request = refund_return_for_info(request_id=submit(buy(), at=t0).pk, actor=homeroom.user, missing="请说明", at=t0)
    refund_resubmit(request_id=request.pk, student=student, details="补充：换了工作", at=t0 + 10 * DAY)
    again = t0 + 11 * DAY
    refund_return_for_info(request_id=request.pk, actor=homeroom.user, missing="请附证明", at=again)
    assert refund_requests_expire(now=t0 + 15 * DAY) == 0
    assert refund_requests_expire(now=again + 14 * DAY + MINUTE) == 1


def test_requests_waiting_for_staff_never_expire(buy, t0):
    request = submit(buy(), at=t0)
    assert refund_requests_expire(now=t0 + 365 * DAY) == 0
    request.refresh_from_db()
    assert request.status == "pending_homeroom"


def test_a_resubmitted_request_no_longer_expires(buy, t0, homeroom, student):
    request = refund_return_for_info(request_id=submit(buy(), at=t0).pk, actor=homeroom.user, missing="请说明", at=t0)
    refund_resubmit(request_id=request.pk, student=student, details="补充：换了工作", at=t0 + DAY)
    assert refund_requests_expire(now=t0 + 30 * DAY) == 0


# --- The appeal window -----------------------------------------------------------------------


@pytest.fixture
def rejected(buy, t0, homeroom):
    """A request the homeroom teacher rejected one hour after submission; returns it and the moment."""
    rejected_at = t0 + datetime.timedelta(hours=1)
    request = refund_reject(request_id=submit(buy(), at=t0).pk, actor=homeroom.user, reason="材料不足", at=rejected_at)
    return request, rejected_at


def test_an_appeal_exactly_at_the_deadline_is_accepted(rejected, student):
    request, rejected_at = rejected
    request = refund_appeal(request_id=request.pk, student=student, reason="有新材料", at=rejected_at + 7 * DAY)
    assert request.status == "pending_supervisor"
    assert request.appealed_at == rejected_at + 7 * DAY


def test_an_appeal_one_minute_after_the_deadline_is_refused(rejected, student):
    request, rejected_at = rejected
    error = assert_refused(
        lambda: refund_appeal(
            request_id=request.pk, student=student, reason="有新材料", at=rejected_at + 7 * DAY + MINUTE
        ),
        code="late",
        request=request,
    )
    deadline = timezone.localtime(rejected_at + 7 * DAY)
    assert f"{deadline:%Y-%m-%d %H:%M}" in error.message


def test_an_appeal_right_after_the_rejection_is_accepted(rejected, student):
    request, rejected_at = rejected
    assert refund_appeal(request_id=request.pk, student=student, reason="不服", at=rejected_at + MINUTE).is_open


@pytest.mark.parametrize(("after", "accepted"), [(2 * DAY, True), (2 * DAY + MINUTE, False)])
def test_the_campus_sets_the_appeal_window(buy, t0, homeroom, student, campus, after, accepted):
    set_settings(campus, appeal_days=2)
    request = refund_reject(request_id=submit(buy(), at=t0).pk, actor=homeroom.user, reason="材料不足", at=t0)
    call = lambda: refund_appeal(request_id=request.pk, student=student, reason="不服", at=t0 + after)  # noqa: E731
    if accepted:
        assert call().status == "pending_supervisor"
    else:
        assert_refused(call, code="late", request=request)


def test_the_appeal_step_gets_its_own_deadline(rejected, student, t0):
    request, rejected_at = rejected
    appealed_at = rejected_at + 3 * DAY
    request = refund_appeal(request_id=request.pk, student=student, reason="不服", at=appealed_at)
    assert pending_step(request).due_at == appealed_at + datetime.timedelta(hours=24)


# --- Delegation dates (Asia/Shanghai calendar days) --------------------------------------------


@pytest.fixture
def first_day():
    return timezone.localdate() + datetime.timedelta(days=5)


@pytest.fixture
def delegated(homeroom, campus, supervisor, first_day):
    """The homeroom teacher is away for three days; a colleague acts for her."""
    colleague = factories.make_staff(role=StaffRole.HOMEROOM, campus=campus, manager=supervisor, name="代班老师")
    Staff.objects.filter(pk=homeroom.pk).update(
        delegate=colleague, delegate_from=first_day, delegate_until=first_day + datetime.timedelta(days=2)
    )
    return colleague


def shanghai(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(day.year, day.month, day.day, hour, minute, tzinfo=SH)


@pytest.mark.parametrize(
    ("offset", "hour", "minute", "allowed"),
    [
        (-1, 12, 0, False),  # the day before
        (-1, 23, 59, False),  # the last minute of the day before
        (0, 0, 0, True),  # the first minute of the first day (16:00 UTC the day before)
        (0, 12, 0, True),
        (1, 12, 0, True),
        (2, 23, 59, True),  # the last minute of the last day
        (3, 0, 0, False),  # the day after
        (3, 12, 0, False),
    ],
)
def test_a_delegate_acts_only_on_the_days_of_the_delegation(buy, delegated, first_day, offset, hour, minute, allowed):
    request = submit(buy())
    at = shanghai(first_day + datetime.timedelta(days=offset), hour, minute)
    call = lambda: refund_approve(request_id=request.pk, actor=delegated.user, at=at)  # noqa: E731
    if allowed:
        request = call()
        step = request.steps.get(tier="homeroom")
        assert (step.decided_by, step.delegate_used, step.decided_at) == (delegated, True, at)
    else:
        assert_refused(call, code="forbidden", request=request)


def test_the_delegation_day_is_the_shanghai_day_not_the_utc_day(buy, delegated, first_day):
    request = submit(buy())
    at = shanghai(first_day, 7).astimezone(datetime.UTC)  # still the day before in UTC
    assert at.date() == first_day - datetime.timedelta(days=1)
    assert refund_approve(request_id=request.pk, actor=delegated.user, at=at).status == "pending_supervisor"


def test_the_absent_approver_keeps_her_queue_during_the_delegation(buy, delegated, first_day, homeroom):
    request = submit(buy())
    at = shanghai(first_day + datetime.timedelta(days=1), 10)
    request = refund_approve(request_id=request.pk, actor=homeroom.user, at=at)
    assert request.steps.get(tier="homeroom").delegate_used is False


def test_a_campus_head_without_a_manager_is_not_escalated_to_himself(buy, homeroom, supervisor, campus_head, campus):
    """The last person tier has nobody above: another campus head if there is one, never the same person."""

    def at_campus_head():
        request = submit(buy("3000.00"))
        refund_approve(request_id=request.pk, actor=homeroom.user)
        refund_approve(request_id=request.pk, actor=supervisor.user)
        return ApprovalStep.objects.get(request=request, tier="campus_head")

    step = at_campus_head()
    assert step.assignee == campus_head and campus_head.manager is None
    late = step.due_at + MINUTE
    assert refund_steps_escalate(now=late) == 1
    step.refresh_from_db()
    assert (step.escalated_at, step.escalated_to) == (late, None)

    second_head = factories.make_staff(role=StaffRole.CAMPUS_HEAD, campus=campus)
    other = at_campus_head()
    refund_steps_escalate(now=other.due_at + MINUTE)
    other.refresh_from_db()
    assert other.escalated_to == second_head

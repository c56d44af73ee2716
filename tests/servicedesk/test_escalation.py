"""The escalation beat: about to breach → L1 customer service, breached → L2 supervisor, late by
a quarter of the time → L3 campus head; once per level and deadline, on the campus's clock (time
travel: the services take the moment, nothing sleeps)."""

from __future__ import annotations

import pytest

from notifications.models import Notification
from servicedesk import services
from servicedesk.models import (
    EscalationLevel,
    SlaClock,
    SolutionKind,
    TicketCategory,
    TicketEscalation,
    TicketPriority,
)
from servicedesk.services import tickets_escalate

from .conftest import at

pytestmark = pytest.mark.django_db


def new_year_ticket(student, **extra):
    """Opened Thursday 19:00 before 元旦 (a Friday holiday, seeded by the migrations) and a weekend:
    reply due in 4 business hours = Thursday 2 h + Monday 2 h = Monday 11:00; warned at 80%
    (3 h 12 min) = Monday 10:12; L3 once 1 h late = Monday 12:00."""
    values = {
        "category": TicketCategory.QUESTION,
        "subject": "发票",
        "description": "怎么开发票？",
        "at": at("2026-12-31 19:00"),
    }
    values.update(extra)
    return services.ticket_open(student=student, **values)


def levels(ticket, clock=SlaClock.RESPONSE):
    return list(ticket.escalations.filter(clock=clock).order_by("level").values_list("level", flat=True))


def test_each_level_just_before_and_at_its_moment(shipped_data, student, agent, supervisor, campus_head):
    ticket = new_year_ticket(student)
    assert (ticket.response_warn_at, ticket.response_due_at) == (at("2027-01-04 10:12"), at("2027-01-04 11:00"))

    for before, moment, level in (
        ("2027-01-04 10:11:59", "2027-01-04 10:12", EscalationLevel.SERVICE),
        ("2027-01-04 10:59:59", "2027-01-04 11:00", EscalationLevel.SUPERVISOR),
        ("2027-01-04 11:59:59", "2027-01-04 12:00", EscalationLevel.CAMPUS_HEAD),
    ):
        assert tickets_escalate(now=at(before)) == 0
        assert tickets_escalate(now=at(moment)) == 1
        assert tickets_escalate(now=at(moment)) == 0  # once per level
        ticket.refresh_from_db()
        assert ticket.escalation_level == level
    assert levels(ticket) == [1, 2, 3]

    told = {
        row.level: set(row.told.values_list("pk", flat=True))
        for row in TicketEscalation.objects.filter(ticket=ticket).prefetch_related("told")
    }
    assert told == {1: {agent.pk}, 2: {supervisor.pk, agent.pk}, 3: {campus_head.pk, agent.pk}}
    escalated = Notification.objects.filter(event="ticket.escalated", channel="inbox")
    assert set(escalated.values_list("recipient_id", flat=True)) == {
        agent.user_id,
        supervisor.user_id,
        campus_head.user_id,
    }
    late = escalated.get(recipient=campus_head.user)
    assert ticket.ticket_no in late.subject and "1 小时" in late.body


def test_nothing_escalates_over_the_holiday_and_the_weekend(student, agent):
    ticket = new_year_ticket(student)
    assert tickets_escalate(now=at("2027-01-03 23:59")) == 0  # Sunday night: only 2 business hours used
    assert not ticket.escalations.exists()


def test_a_late_run_records_every_level_once(student, agent, supervisor, campus_head):
    ticket = new_year_ticket(student)
    assert tickets_escalate(now=at("2027-01-04 15:00")) == 3
    assert tickets_escalate(now=at("2027-01-04 16:00")) == 0
    assert levels(ticket) == [1, 2, 3]


def test_a_reply_in_time_escalates_nothing(student, agent):
    ticket = new_year_ticket(student)
    services.ticket_reply(actor=agent.user, ticket_id=ticket.pk, body="您好", at=at("2027-01-04 09:30"))
    assert tickets_escalate(now=at("2027-01-04 12:00")) == 0


def test_urgent_escalates_within_its_thirty_minutes(student, agent, supervisor):
    ticket = new_year_ticket(
        student, priority=TicketPriority.URGENT, urgent_reason="马上要上课", at=at("2027-01-04 09:00")
    )
    assert ticket.response_due_at == at("2027-01-04 09:30")
    assert tickets_escalate(now=at("2027-01-04 09:23")) == 0
    assert tickets_escalate(now=at("2027-01-04 09:24")) == 1  # 80% of 30 minutes
    assert tickets_escalate(now=at("2027-01-04 09:30")) == 1
    assert tickets_escalate(now=at("2027-01-04 09:59")) == 0
    assert tickets_escalate(now=at("2027-01-04 10:00")) == 1  # L3 once at least 30 minutes late
    assert levels(ticket) == [1, 2, 3]


def test_an_unowned_ticket_warns_the_whole_service_team(student, campus, supervisor):
    from schoolops.models import StaffRole
    from tests import factories

    ticket = new_year_ticket(student)
    assert ticket.owner is None
    first = factories.make_staff(role=StaffRole.SERVICE, campus=campus)
    second = factories.make_staff(role=StaffRole.SERVICE, campus=campus)
    tickets_escalate(now=at("2027-01-04 10:12"))
    row = ticket.escalations.get()
    assert set(row.told.all()) == {first, second}


def test_a_complaint_escalates_on_its_48_hour_resolution_clock(student, agent, supervisor):
    # Monday 09:00 + 48 business hours (12 a day) = Thursday 21:00.
    ticket = new_year_ticket(student, category=TicketCategory.COMPLAINT, at=at("2027-01-04 09:00"))
    services.ticket_reply(actor=agent.user, ticket_id=ticket.pk, body="已收到，正在核实", at=at("2027-01-04 09:10"))
    ticket.refresh_from_db()
    assert ticket.resolution_due_at == at("2027-01-07 21:00")
    assert tickets_escalate(now=at("2027-01-07 20:59")) == 1  # the warning (due since 11:24)
    assert tickets_escalate(now=at("2027-01-07 21:00")) == 1  # breached
    # L3 once 12 business hours late (a quarter of 48): Friday 21:00.
    assert tickets_escalate(now=at("2027-01-08 20:59")) == 0
    assert tickets_escalate(now=at("2027-01-08 21:00")) == 1
    assert levels(ticket, SlaClock.RESOLUTION) == [1, 2, 3]


def test_a_paused_clock_does_not_escalate(student, agent):
    ticket = new_year_ticket(student, category=TicketCategory.COMPLAINT, at=at("2027-01-04 09:00"))
    services.ticket_reply(
        actor=agent.user, ticket_id=ticket.pk, body="请补充订单截图", wait_for_student=True, at=at("2027-01-04 09:10")
    )
    assert tickets_escalate(now=at("2027-01-20 12:00")) == 0
    assert not ticket.escalations.exists()


def test_the_beat_knows_when_to_look_next(student, agent):
    ticket = new_year_ticket(student, category=TicketCategory.COMPLAINT)
    assert ticket.next_escalation_at == ticket.response_warn_at == at("2027-01-04 10:12")
    tickets_escalate(now=at("2027-01-04 10:12"))
    ticket.refresh_from_db()
    assert ticket.next_escalation_at == at("2027-01-04 11:00")  # L2 of the reply clock
    services.ticket_reply(actor=agent.user, ticket_id=ticket.pk, body="您好", at=at("2027-01-04 10:30"))
    ticket.refresh_from_db()
    assert ticket.next_escalation_at == ticket.resolution_warn_at  # only the resolution clock runs
    services.ticket_reply(
        actor=agent.user, ticket_id=ticket.pk, body="请补充截图", wait_for_student=True, at=at("2027-01-04 10:40")
    )
    ticket.refresh_from_db()
    assert ticket.next_escalation_at is None  # paused: nothing can escalate
    services.ticket_student_reply(student=student, ticket_no=ticket.ticket_no, body="截图", at=at("2027-01-05 10:00"))
    ticket.refresh_from_db()
    assert ticket.next_escalation_at == ticket.response_warn_at  # her message is owed a reply
    services.ticket_resolve(actor=agent.user, ticket_id=ticket.pk, solution_kind=SolutionKind.ANSWER, solution="已处理")
    ticket.refresh_from_db()
    assert ticket.next_escalation_at is None


def test_the_beat_visits_only_the_tickets_whose_next_level_is_due(
    student, other_student, agent, django_assert_num_queries
):
    for who in (student, other_student, student):
        new_year_ticket(who)
    with django_assert_num_queries(1):  # the one query that finds nothing due
        assert tickets_escalate(now=at("2027-01-04 10:11")) == 0

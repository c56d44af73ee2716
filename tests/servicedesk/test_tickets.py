"""Tickets through the services: opened by the student or registered for her, the conversation,
the clocks, the four SOP steps, and who may do what."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from notifications.models import Notification
from servicedesk import services
from servicedesk.models import (
    MessageKind,
    RootCause,
    SolutionKind,
    Ticket,
    TicketAttachment,
    TicketCategory,
    TicketChannel,
    TicketPriority,
    TicketStatus,
)
from servicedesk.services import TicketError
from tests import factories

from .conftest import at, png

pytestmark = pytest.mark.django_db
THURSDAY = at("2026-12-03 10:00")


def open_ticket(student, **extra):
    values = {
        "category": TicketCategory.QUESTION,
        "subject": "回放打不开",
        "description": "昨晚的直播回放一直加载失败。",
        "at": THURSDAY,
    }
    values.update(extra)
    return services.ticket_open(student=student, **values)


def test_a_student_opens_a_ticket_and_is_told_when_to_expect_an_answer(shipped_data, student, agent, order):
    ticket = open_ticket(student, order_id=order.pk, attachments=[png()])

    assert ticket.ticket_no.startswith("TK20261203")
    assert (ticket.status, ticket.channel, ticket.owner, ticket.campus) == (
        TicketStatus.OPEN,
        TicketChannel.PORTAL,
        agent,
        order.course.campus,
    )
    assert ticket.response_due_at == at("2026-12-03 14:00")  # 4 business hours
    assert ticket.resolution_due_at == at("2026-12-11 10:00")  # 72 business hours, 12 a day, weekend closed
    message = ticket.messages.get()
    assert (message.kind, message.body) == (MessageKind.STUDENT, "昨晚的直播回放一直加载失败。")
    attachment = TicketAttachment.objects.get(message=message)
    assert attachment.content_type == "image/png" and attachment.file.name.startswith("tickets/")

    received = Notification.objects.filter(event="ticket.received", recipient=student.user)
    assert set(received.values_list("channel", flat=True)) == {"inbox", "email", "sms"}
    inbox = received.get(channel="inbox")
    assert "2026-12-03 14:00" in inbox.body and ticket.ticket_no in inbox.subject
    assert "09:00" in inbox.body and "21:00" in inbox.body
    assert "。。" not in received.get(channel="sms").body
    assert Notification.objects.filter(event="ticket.assigned", recipient=agent.user).exists()


def test_urgent_needs_a_reason_and_answers_within_thirty_minutes(student, agent):
    with pytest.raises(TicketError) as refused:
        open_ticket(student, priority=TicketPriority.URGENT)
    assert refused.value.code == "urgent_reason"
    assert not Ticket.objects.exists()

    ticket = open_ticket(student, priority=TicketPriority.URGENT, urgent_reason="明早考试，需要今晚看回放")
    assert ticket.response_due_at == at("2026-12-03 10:30")


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"description": "   "}, "description"),
        ({"category": "gossip"}, "category"),
        ({"priority": "critical"}, "priority"),
    ],
)
def test_bad_input_is_refused_naming_the_field(student, values, code):
    with pytest.raises(TicketError) as refused:
        open_ticket(student, **values)
    assert refused.value.code == code
    assert not Ticket.objects.exists()


def test_an_order_or_request_of_someone_else_is_refused(student, other_student, course, homeroom):
    hers = factories.make_order(student=other_student, course=course, homeroom_teacher=homeroom)
    with pytest.raises(TicketError) as refused:
        open_ticket(student, order_id=hers.pk)
    assert refused.value.code == "order"
    assert not Ticket.objects.exists()


def test_a_bad_file_saves_nothing(student):
    from django.core.files.uploadedfile import SimpleUploadedFile

    fake = SimpleUploadedFile("virus.png", b"MZ\x90\x00 not an image", content_type="image/png")
    with pytest.raises(TicketError) as refused:
        open_ticket(student, attachments=[fake])
    assert refused.value.code == "attachments" and "virus.png" in refused.value.message
    assert not Ticket.objects.exists() and not TicketAttachment.objects.exists()


def test_staff_register_a_phone_call_and_the_clock_starts_when_she_called(student, agent):
    called = at("2026-12-03 20:30")
    ticket = services.ticket_register(
        actor=agent.user,
        student_id=student.pk,
        channel=TicketChannel.PHONE,
        contact_name="王小明的妈妈",
        contacted_at=called,
        category=TicketCategory.COMPLAINT,
        subject="老师上课迟到",
        description="家长来电：本周两次直播课老师迟到十分钟以上。",
        at=at("2026-12-03 20:50"),
    )
    assert (ticket.channel, ticket.contact_name, ticket.registered_by) == (
        TicketChannel.PHONE,
        "王小明的妈妈",
        agent.user,
    )
    # 30 minutes on Thursday, 3.5 h on Friday; a complaint is closed within 48 business hours.
    assert ticket.response_due_at == at("2026-12-04 12:30")
    assert ticket.resolution_due_at == at("2026-12-09 20:30")


@pytest.mark.parametrize("channel", [TicketChannel.PORTAL, "fax"])
def test_a_registered_contact_needs_a_real_channel(student, agent, channel):
    with pytest.raises(TicketError) as refused:
        services.ticket_register(
            actor=agent.user,
            student_id=student.pk,
            channel=channel,
            contact_name="本人",
            contacted_at=THURSDAY,
            category=TicketCategory.QUESTION,
            subject="",
            description="问课表",
            at=THURSDAY,
        )
    assert refused.value.code == "channel"


def test_staff_without_the_permission_or_of_another_campus_cannot_register(student, homeroom, other_agent):
    for actor in (homeroom.user, other_agent.user):
        with pytest.raises(TicketError):
            services.ticket_register(
                actor=actor,
                student_id=student.pk,
                channel=TicketChannel.PHONE,
                contact_name="本人",
                contacted_at=THURSDAY,
                category=TicketCategory.QUESTION,
                subject="",
                description="问课表",
                at=THURSDAY,
            )
    assert not Ticket.objects.exists()


def test_a_reply_stops_the_clock_and_records_the_first_response_time(shipped_data, student, agent):
    ticket = open_ticket(student)
    services.ticket_reply(actor=agent.user, ticket_id=ticket.pk, body="请下拉刷新后再试。", at=at("2026-12-03 11:30"))
    ticket.refresh_from_db()
    assert ticket.first_response_at == at("2026-12-03 11:30")
    assert ticket.first_response_seconds == 90 * 60
    assert ticket.response_due_at is None and ticket.awaiting_reply_since is None
    assert Notification.objects.filter(event="ticket.replied", recipient=student.user, channel="inbox").exists()


def test_an_internal_note_is_not_a_reply_and_tells_the_student_nothing(shipped_data, student, agent):
    ticket = open_ticket(student)
    services.ticket_reply(
        actor=agent.user, ticket_id=ticket.pk, body="疑似设备问题，待技术确认", internal=True, at=at("2026-12-03 11:00")
    )
    ticket.refresh_from_db()
    assert ticket.response_due_at == at("2026-12-03 14:00") and ticket.first_response_at is None
    assert not Notification.objects.filter(recipient=student.user).exclude(event="ticket.received").exists()
    assert not Notification.objects.filter(body__contains="疑似设备问题").exists()


def test_waiting_for_the_student_pauses_the_resolution_clock(student, agent):
    ticket = open_ticket(student)
    assert ticket.resolution_due_at == at("2026-12-11 10:00")
    services.ticket_reply(
        actor=agent.user,
        ticket_id=ticket.pk,
        body="请发一张报错截图。",
        wait_for_student=True,
        at=at("2026-12-03 11:00"),
    )
    ticket.refresh_from_db()
    assert (ticket.status, ticket.paused_at) == (TicketStatus.WAITING, at("2026-12-03 11:00"))

    # She answers the next day at 10:00: 10 h Thursday + 1 h Friday of open time were paused.
    services.ticket_student_reply(
        student=student, ticket_no=ticket.ticket_no, body="截图在附件", attachments=[png()], at=at("2026-12-04 10:00")
    )
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN and ticket.paused_at is None
    assert ticket.paused_seconds == 11 * 3600
    assert ticket.resolution_due_at == at("2026-12-11 21:00")  # 11 business hours later
    assert ticket.response_due_at == at("2026-12-04 14:00")  # the next reply is owed within 4 h


def test_a_ticket_closes_only_with_its_solution(student, agent):
    ticket = open_ticket(student)
    with pytest.raises(TicketError) as refused:
        services.ticket_resolve(actor=agent.user, ticket_id=ticket.pk, solution_kind=SolutionKind.ANSWER, solution=" ")
    assert refused.value.code == "solution"
    with pytest.raises(TicketError) as refused:
        services.ticket_resolve(
            actor=agent.user, ticket_id=ticket.pk, solution_kind=SolutionKind.REFUND_OPENED, solution="已代为申请退费"
        )
    assert refused.value.code == "refund_request"
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN

    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.filter(pk=ticket.pk).update(status=TicketStatus.RESOLVED)


def test_resolving_records_the_time_and_answers_the_student(shipped_data, student, agent):
    ticket = open_ticket(student)
    services.ticket_resolve(
        actor=agent.user,
        ticket_id=ticket.pk,
        solution_kind=SolutionKind.COMPENSATION,
        solution="补偿一节一对一辅导课。",
        compensation="200",
        at=at("2026-12-04 10:00"),
    )
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.RESOLVED and ticket.compensation == Decimal("200.00")
    assert ticket.resolution_seconds == 12 * 3600  # Thursday 10:00-21:00 and Friday 09:00-10:00
    assert ticket.first_response_seconds == 12 * 3600
    assert ticket.messages.filter(kind=MessageKind.REPLY, body="补偿一节一对一辅导课。").exists()
    assert Notification.objects.filter(event="ticket.resolved", recipient=student.user).exists()


def test_her_reply_opens_a_resolved_ticket_again(student, agent):
    ticket = open_ticket(student)
    services.ticket_resolve(actor=agent.user, ticket_id=ticket.pk, solution_kind=SolutionKind.ANSWER, solution="已修复")
    services.ticket_student_reply(student=student, ticket_no=ticket.ticket_no, body="还是打不开")
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN and ticket.resolved_at is None and ticket.response_due_at is not None


def test_a_complaint_is_archived_only_with_its_root_cause(student, agent, order, supervisor):
    ticket = open_ticket(student, category=TicketCategory.COMPLAINT, order_id=order.pk)
    with pytest.raises(TicketError) as refused:
        services.ticket_archive(actor=agent.user, ticket_id=ticket.pk, root_cause=RootCause.TEACHER)
    assert refused.value.code == "state"  # not resolved yet
    services.ticket_assess(
        actor=agent.user, ticket_id=ticket.pk, finding="老师两次迟到属实", policy_point="教学规范 3.2"
    )
    services.ticket_resolve(
        actor=agent.user, ticket_id=ticket.pk, solution_kind=SolutionKind.ANSWER, solution="已约谈老师"
    )
    with pytest.raises(TicketError) as refused:
        services.ticket_archive(actor=agent.user, ticket_id=ticket.pk)
    assert refused.value.code == "root_cause"

    services.ticket_archive(
        actor=agent.user, ticket_id=ticket.pk, root_cause=RootCause.TEACHER, teacher_id=supervisor.pk, note="已复盘"
    )
    ticket.refresh_from_db()
    assert (ticket.status, ticket.root_cause, ticket.root_course, ticket.root_teacher) == (
        TicketStatus.ARCHIVED,
        RootCause.TEACHER,
        order.course,
        supervisor,
    )
    with pytest.raises(TicketError) as refused:
        services.ticket_student_reply(student=student, ticket_no=ticket.ticket_no, body="再问一下")
    assert refused.value.code == "state"


def test_a_student_cannot_write_on_someone_elses_ticket(student, other_student, agent):
    ticket = open_ticket(other_student)
    with pytest.raises(TicketError) as refused:
        services.ticket_student_reply(student=student, ticket_no=ticket.ticket_no, body="你好")
    assert refused.value.code == "not_found"


def test_staff_of_another_campus_cannot_touch_the_ticket(student, agent, other_agent):
    ticket = open_ticket(student)
    with pytest.raises(TicketError) as refused:
        services.ticket_reply(actor=other_agent.user, ticket_id=ticket.pk, body="你好")
    assert refused.value.code == "not_found"
    assert ticket.messages.count() == 1


def test_priority_changes_with_a_reason_and_moves_the_reply_deadline(student, agent):
    ticket = open_ticket(student)
    with pytest.raises(TicketError) as refused:
        services.ticket_set_priority(actor=agent.user, ticket_id=ticket.pk, priority=TicketPriority.URGENT, reason="")
    assert refused.value.code == "reason"
    services.ticket_set_priority(
        actor=agent.user, ticket_id=ticket.pk, priority=TicketPriority.URGENT, reason="学员明天考试"
    )
    ticket.refresh_from_db()
    assert ticket.response_due_at == at("2026-12-03 10:30")
    assert ticket.messages.filter(kind=MessageKind.NOTE, body__contains="学员明天考试").exists()


def test_assigning_needs_a_colleague_who_handles_tickets(student, agent, homeroom, supervisor):
    ticket = open_ticket(student)
    with pytest.raises(TicketError) as refused:
        services.ticket_assign(actor=agent.user, ticket_id=ticket.pk, owner_id=homeroom.pk)
    assert refused.value.code == "owner"
    services.ticket_assign(actor=agent.user, ticket_id=ticket.pk, owner_id=supervisor.pk)
    ticket.refresh_from_db()
    assert ticket.owner == supervisor


def test_new_tickets_go_to_the_least_busy_agent(student, other_student, agent, campus, supervisor):
    from schoolops.models import StaffRole

    second = factories.make_staff(role=StaffRole.SERVICE, campus=campus, manager=supervisor)
    first = open_ticket(student)
    other = open_ticket(other_student)
    assert {first.owner, other.owner} == {agent, second}


def test_the_date_of_the_ticket_number_is_the_schools(student, agent):
    ticket = open_ticket(student, at=at("2026-12-04 00:30"))  # 2026-12-03 16:30 UTC
    assert ticket.ticket_no.startswith("TK20261204")
    assert ticket.created_at.tzinfo is not None and ticket.created_at == at("2026-12-04 00:30")
    assert ticket.response_due_at == at("2026-12-04 13:00")

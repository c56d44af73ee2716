"""Tickets in the admin: the campus's list and its columns, the ticket page and each of its forms
(through the page, as staff use them), the refusals shown with nothing changed, the register form
for a phone or WeChat contact, and the desk settings."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from schoolops.models import StaffRole
from servicedesk import services
from servicedesk.models import (
    DeskSettings,
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
from tests import factories
from tests.refunds.helpers import zh

from .conftest import at, png

pytestmark = pytest.mark.django_db

LIST = reverse("admin:servicedesk_ticket_changelist")
REGISTER = reverse("admin:servicedesk_ticket_add")


def page(ticket) -> str:
    return reverse("admin:servicedesk_ticket_change", args=[ticket.pk])


def act(ticket, action: str) -> str:
    return reverse(f"admin:servicedesk_ticket_{action}", args=[ticket.pk])


def open_ticket(student, *, hours_ago: float = 0, **extra) -> Ticket:
    values = {
        "category": TicketCategory.QUESTION,
        "subject": "回放打不开",
        "description": "昨晚的直播回放一直加载失败。",
        "at": timezone.now() - datetime.timedelta(hours=hours_ago),
    }
    values.update(extra)
    return services.ticket_open(student=student, **values)


def said(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def resolved(ticket, agent, **extra) -> Ticket:
    values = {"solution_kind": SolutionKind.ANSWER, "solution": "已为您重新开通回放权限。"}
    values.update(extra)
    return services.ticket_resolve(actor=agent.user, ticket_id=ticket.pk, **values)


@pytest.fixture
def ticket(student, agent) -> Ticket:
    return open_ticket(student)


@pytest.fixture
def south_ticket(other_campus, other_agent) -> Ticket:
    return open_ticket(factories.make_student(campus=other_campus, name="刘小华"))


# --- The list ---------------------------------------------------------------------------------


def test_the_list_shows_the_campus_tickets_only_and_another_campus_ticket_answers_404(
    client, agent, ticket, south_ticket
):
    client.force_login(agent.user)
    response = client.get(LIST)
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [ticket]
    assert client.get(page(south_ticket)).status_code == 404
    history = "admin:servicedesk_ticket_history"
    assert client.get(reverse(history, args=[ticket.pk])).status_code == 200
    assert client.get(reverse(history, args=[south_ticket.pk])).status_code == 404
    assert client.post(act(south_ticket, "reply"), {"body": "您好"}).status_code == 404
    assert not south_ticket.messages.exclude(kind=MessageKind.STUDENT).exists()


def test_the_rows_show_the_urgent_the_late_and_the_time_left(
    client, agent, student, other_student, django_assert_max_num_queries
):
    urgent = open_ticket(student, priority=TicketPriority.URGENT, urgent_reason="明早考试，需要今晚看回放")
    late = open_ticket(other_student, hours_ago=24 * 8, subject="发票")
    for n in range(3):
        open_ticket(factories.make_student(campus=student.campus), subject=f"问题{n}")
    services.tickets_escalate()
    client.force_login(agent.user)
    with django_assert_max_num_queries(10):  # the session, the user and her staff row, a count, the rows
        response = client.get(LIST)
    html = response.content.decode()
    rows = {ticket.ticket_no: row for ticket, row in zip(response.context["cl"].result_list, _rows(html), strict=True)}
    assert len(rows) == 5
    # The late one first (its reply is the clock that ran out first), in red, escalated.
    assert list(rows)[0] == late.ticket_no
    late_row = rows[late.ticket_no]
    assert 'class="ticket-overdue"' in late_row and "发票" in late_row and other_student.name in late_row
    assert 'class="ticket-escalated"' in late_row
    assert agent.name in late_row
    urgent_row = rows[urgent.ticket_no]
    assert 'class="ticket-urgent"' in urgent_row and "明早考试" in urgent_row
    assert 'class="ticket-left"' in urgent_row and 'class="ticket-overdue"' not in urgent_row
    assert student.student_no in urgent_row
    for column in ("category_column", "status_column", "due_column", "escalation_column", "created"):
        assert f"field-{column}" in urgent_row
    assert "field-campus" not in urgent_row  # her campus's tickets only


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>.*?</tr>", body, flags=re.S)


def test_the_list_shows_the_active_tickets_unless_told_otherwise(client, agent, student, other_student):
    waiting = open_ticket(student)
    services.ticket_reply(actor=agent.user, ticket_id=waiting.pk, body="请截图。", wait_for_student=True)
    done = resolved(open_ticket(other_student), agent)
    client.force_login(agent.user)
    assert set(client.get(LIST).context["cl"].result_list) == {waiting}
    assert set(client.get(LIST, {"status": "all"}).context["cl"].result_list) == {waiting, done}
    assert set(client.get(LIST, {"status": TicketStatus.RESOLVED}).context["cl"].result_list) == {done}
    # The paused one says so instead of a time.
    assert zh("Paused: waiting for the student") in client.get(LIST).content.decode()


def test_mine_nobodys_escalated_and_the_search(client, agent, supervisor, student, other_student):
    mine = open_ticket(student, subject="发票怎么开")
    theirs = open_ticket(other_student, hours_ago=24 * 8)
    services.ticket_assign(actor=agent.user, ticket_id=theirs.pk, owner_id=supervisor.pk)
    services.tickets_escalate()
    client.force_login(agent.user)

    def listed(**query):
        return set(client.get(LIST, query).context["cl"].result_list)

    assert listed(owner="mine") == {mine}
    assert listed(escalated="yes") == {theirs} == listed(escalated="3")
    assert listed(escalated="no") == {mine}
    assert listed(q=other_student.phone) == {theirs}
    assert listed(q=mine.ticket_no) == {mine}
    assert listed(q="发票") == {mine}
    assert listed(q=student.student_no) == {mine}


def shown_filters(response) -> list[str]:
    return [getattr(spec, "parameter_name", "") for spec in response.context["cl"].filter_specs if spec.has_output()]


def test_head_office_filters_by_campus_and_a_campus_does_not(client, agent, operations, ticket, south_ticket):
    client.force_login(operations.user)
    response = client.get(LIST)
    assert set(response.context["cl"].result_list) == {ticket, south_ticket}
    assert "campus" in shown_filters(response)
    assert set(client.get(LIST, {"campus": ticket.campus_id}).context["cl"].result_list) == {ticket}
    assert "field-campus" in response.content.decode()

    client.force_login(agent.user)
    assert "campus" not in shown_filters(client.get(LIST))


def test_a_homeroom_teacher_may_not_see_tickets(client, homeroom, ticket):
    client.force_login(homeroom.user)
    assert client.get(LIST).status_code == 403
    assert client.get(page(ticket)).status_code == 403
    assert client.post(act(ticket, "reply"), {"body": "您好"}).status_code == 403
    assert client.get(REGISTER).status_code == 403
    assert ticket.messages.count() == 1


# --- The ticket page --------------------------------------------------------------------------


def test_the_page_shows_the_facts_the_clocks_the_steps_the_conversation_and_the_escalations(
    client, agent, supervisor, student, order, django_assert_max_num_queries
):
    ticket = open_ticket(student, hours_ago=24 * 8, order_id=order.pk, attachments=[png("截图.png")])
    services.ticket_reply(actor=agent.user, ticket_id=ticket.pk, body="正在核实，请稍候。", internal=True)
    services.tickets_escalate()
    client.force_login(agent.user)
    # The ticket, its conversation and escalations, the forms' choices (the refund desk's: her orders).
    with django_assert_max_num_queries(16):
        response = client.get(page(ticket))
    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("admin:students_student_change", args=[student.pk]) in html
    assert reverse("admin:orders_order_change", args=[order.pk]) in html and order.order_no in html
    attachment = TicketAttachment.objects.get()
    assert reverse("servicedesk:attachment", args=[attachment.pk]) in html and "截图.png" in html
    note = re.search(r'<li class="ticket-message ticket-message-note".*?</li>', html, flags=re.S)
    assert note is not None
    assert zh("Internal note") in note.group(0) and "正在核实" in note.group(0)
    assert 'class="ticket-overdue"' in html  # the reply is late
    steps = re.findall(r'class="ticket-step ticket-step-(\w+)"', html)
    assert steps == ["done", "current", "ahead", "ahead"]
    escalations = html.split('id="ticket-escalations"', 1)[1]
    assert supervisor.name in escalations and zh("L3 campus head") in escalations
    # An open ticket: every handling form but archiving.
    assert set(response.context["forms"]) == {"reply", "assign", "priority", "assess", "resolve", "file_refund"}


def test_a_registered_contact_shows_its_channel_and_who_called(client, agent, student, ticket):
    registered = services.ticket_register(
        actor=agent.user,
        student_id=student.pk,
        channel=TicketChannel.WECHAT,
        contact_name="王小明的妈妈",
        contacted_at=timezone.now() - datetime.timedelta(minutes=20),
        category=TicketCategory.COMPLAINT,
        subject="老师迟到",
        description="家长微信反映老师两次迟到。",
    )
    client.force_login(agent.user)
    channel = client.get(page(registered)).content.decode().split('id="ticket-channel"', 1)[1].split("</td>", 1)[0]
    assert "王小明的妈妈" in channel and agent.name in channel
    plain = client.get(page(ticket)).content.decode().split('id="ticket-channel"', 1)[1].split("</td>", 1)[0]
    assert "王小明的妈妈" not in plain


def test_the_page_offers_only_what_the_status_and_the_permissions_allow(client, agent, student, other_student):
    done = resolved(open_ticket(student), agent)
    client.force_login(agent.user)
    assert set(client.get(page(done)).context["forms"]) == {"reply", "assign", "archive"}
    archived = services.ticket_archive(actor=agent.user, ticket_id=done.pk)
    response = client.get(page(archived))
    assert response.context["forms"] == {} and 'id="no-actions"' in response.content.decode()

    reviewer = factories.make_staff(role=StaffRole.QUALITY, campus=student.campus)
    client.force_login(reviewer.user)
    assert set(client.get(page(open_ticket(other_student))).context["forms"]) == set()
    assert client.post(act(done, "reply"), {"body": "您好"}).status_code == 403


def test_reply_and_wait_for_the_student_with_a_file(client, agent, ticket):
    client.force_login(agent.user)
    response = client.post(
        act(ticket, "reply"), {"body": "请发一张报错截图。", "wait_for_student": "on", "attachments": [png("步骤.png")]}
    )
    assert response.status_code == 302 and response["Location"] == page(ticket)
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.WAITING and ticket.paused_at is not None
    assert ticket.first_response_at is not None and ticket.response_due_at is None
    reply = ticket.messages.get(kind=MessageKind.REPLY)
    assert (reply.body, reply.author, reply.attachments.get().original_name) == (
        "请发一张报错截图。",
        agent.user,
        "步骤.png",
    )
    assert said(response) == [zh("The reply is sent to the student; the ticket waits for her answer.")]


def test_an_internal_note_changes_nothing_the_student_sees(client, agent, ticket):
    client.force_login(agent.user)
    response = client.post(act(ticket, "reply"), {"body": "疑似 CDN 故障，已报技术部。", "as_note": "1"})
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN and ticket.first_response_at is None and ticket.response_due_at
    assert ticket.messages.get(kind=MessageKind.NOTE).body == "疑似 CDN 故障，已报技术部。"
    assert not ticket.messages.filter(kind=MessageKind.REPLY).exists()


def test_an_empty_reply_is_refused_and_nothing_is_written(client, agent, ticket):
    client.force_login(agent.user)
    response = client.post(act(ticket, "reply"), {"body": "  "})
    assert response.status_code == 200
    assert said(response) == [zh("Write the reply.")]
    assert ticket.messages.count() == 1


def test_assign_to_a_colleague_who_handles_tickets_only(client, agent, supervisor, homeroom, ticket):
    client.force_login(agent.user)
    offered = client.get(page(ticket)).context["forms"]["assign"][1].fields["owner"].queryset
    assert supervisor in offered and agent in offered and homeroom not in offered
    refused = client.post(act(ticket, "assign"), {"owner": homeroom.pk})
    assert refused.status_code == 200 and "owner" in refused.context["forms"]["assign"][1].errors
    ticket.refresh_from_db()
    assert ticket.owner == agent
    assert client.post(act(ticket, "assign"), {"owner": supervisor.pk}).status_code == 302
    ticket.refresh_from_db()
    assert ticket.owner == supervisor


def test_raise_the_priority_with_a_reason(client, agent, ticket):
    client.force_login(agent.user)
    refused = client.post(act(ticket, "priority"), {"priority": TicketPriority.URGENT, "reason": ""})
    assert said(refused) == [zh("Say why the priority changes.")]
    ticket.refresh_from_db()
    assert ticket.priority == TicketPriority.NORMAL
    response = client.post(act(ticket, "priority"), {"priority": TicketPriority.URGENT, "reason": "家长第二次来电"})
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert (ticket.priority, ticket.urgent_reason) == (TicketPriority.URGENT, "家长第二次来电")
    assert "家长第二次来电" in ticket.messages.get(kind=MessageKind.NOTE).body


def test_assess_with_the_finding_and_the_policy_point(client, agent, ticket):
    client.force_login(agent.user)
    response = client.post(
        act(ticket, "assess"), {"finding": "回放文件转码失败，非学员操作问题。", "policy_point": "服务标准 3.2"}
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert (ticket.assessment, ticket.policy_point, ticket.assessed_by) == (
        "回放文件转码失败，非学员操作问题。",
        "服务标准 3.2",
        agent.user,
    )
    html = client.get(page(ticket)).content.decode()
    assert re.findall(r'class="ticket-step ticket-step-(\w+)"', html) == ["done", "done", "current", "ahead"]


def test_resolve_needs_the_solution_and_keeps_what_was_typed(client, agent, ticket):
    client.force_login(agent.user)
    refused = client.post(act(ticket, "resolve"), {"solution_kind": SolutionKind.COMPENSATION, "solution": ""})
    assert refused.status_code == 200
    assert said(refused) == [zh("Write the solution the student is given.")]
    assert refused.context["forms"]["resolve"][1]["solution_kind"].value() == SolutionKind.COMPENSATION
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.OPEN and ticket.solution_kind == ""

    data = {"solution_kind": SolutionKind.COMPENSATION, "solution": "补偿一节一对一辅导课。", "compensation": ""}
    assert said(client.post(act(ticket, "resolve"), data)) == [zh("Give the compensation in yuan, e.g. 200.00.")]
    data["compensation"] = "200"
    assert client.post(act(ticket, "resolve"), data).status_code == 302
    ticket.refresh_from_db()
    assert (ticket.status, ticket.compensation, ticket.resolved_by) == (
        TicketStatus.RESOLVED,
        Decimal("200.00"),
        agent.user,
    )


def test_a_complaint_is_not_archived_without_its_root_cause(client, agent, campus_head, student, course, homeroom):
    complaint = resolved(open_ticket(student, category=TicketCategory.COMPLAINT), agent)
    client.force_login(campus_head.user)
    refused = client.post(act(complaint, "archive"), {"root_cause": "", "note": "家长情绪较大"})
    assert refused.status_code == 200
    assert said(refused) == [zh("A complaint cannot be archived without its root cause.")]
    assert refused.context["forms"]["archive"][1]["note"].value() == "家长情绪较大"
    complaint.refresh_from_db()
    assert complaint.status == TicketStatus.RESOLVED and complaint.archived_at is None

    data = {"root_cause": RootCause.TEACHER, "course": course.pk, "teacher": homeroom.pk, "note": "讲师已约谈"}
    assert client.post(act(complaint, "archive"), data).status_code == 302
    complaint.refresh_from_db()
    assert (complaint.status, complaint.root_cause, complaint.root_course, complaint.root_teacher) == (
        TicketStatus.ARCHIVED,
        RootCause.TEACHER,
        course,
        homeroom,
    )


def test_an_action_is_posted_never_fetched(client, agent, ticket):
    client.force_login(agent.user)
    assert client.get(act(ticket, "resolve")).status_code == 405
    assert client.post(page(ticket), {"status": "archived"}).status_code == 405


# --- A contact registered for a student ------------------------------------------------------------


def test_register_a_phone_call_for_the_student_with_the_clocks_from_the_call(client, agent, student, order):
    client.force_login(agent.user)
    assert client.get(REGISTER).status_code == 200
    data = {
        "student": student.pk,
        "channel": TicketChannel.PHONE,
        "contact_name": "王小明的妈妈",
        "contacted_at": "2025-11-13T10:00",  # a Thursday: 4 desk hours to reply, 48 to close a complaint
        "category": TicketCategory.COMPLAINT,
        "priority": TicketPriority.NORMAL,
        "subject": "老师上课迟到",
        "description": "家长来电：本周两次直播课老师迟到十分钟以上。",
        "order": order.pk,
        "attachments": [png("通话记录.png")],
    }
    response = client.post(REGISTER, data)
    ticket = Ticket.objects.get()
    assert response.status_code == 302 and response["Location"] == page(ticket)
    assert (ticket.student, ticket.channel, ticket.contact_name, ticket.registered_by, ticket.order) == (
        student,
        TicketChannel.PHONE,
        "王小明的妈妈",
        agent.user,
        order,
    )
    assert ticket.contacted_at == at("2025-11-13 10:00")
    assert ticket.response_due_at == at("2025-11-13 14:00")
    assert ticket.resolution_due_at == at("2025-11-19 10:00")
    assert ticket.messages.get().attachments.get().original_name == "通话记录.png"


def test_a_registration_refused_by_the_service_keeps_what_was_typed(client, agent, student):
    client.force_login(agent.user)
    data = {
        "student": student.pk,
        "channel": TicketChannel.WECHAT,
        "contact_name": "",
        "contacted_at": "2025-11-13T10:00",
        "category": TicketCategory.QUESTION,
        "priority": TicketPriority.NORMAL,
        "description": "微信咨询发票。",
    }
    response = client.post(REGISTER, data)
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["contact_name"] == [zh("Say who contacted us (the student, a parent…).")]
    assert form["description"].value() == "微信咨询发票。"
    assert not Ticket.objects.exists()


def test_a_student_of_another_campus_cannot_be_picked(client, agent, other_campus):
    stranger = factories.make_student(campus=other_campus)
    client.force_login(agent.user)
    data = {
        "student": stranger.pk,
        "channel": TicketChannel.PHONE,
        "contact_name": "本人",
        "contacted_at": "2025-11-13T10:00",
        "category": TicketCategory.QUESTION,
        "priority": TicketPriority.NORMAL,
        "description": "咨询。",
    }
    response = client.post(REGISTER, data)
    assert response.status_code == 200 and "student" in response.context["form"].errors
    assert not Ticket.objects.exists()
    # The search as she types offers her own campus's students only.
    found = client.get(
        reverse("admin:autocomplete"),
        {"app_label": "servicedesk", "model_name": "ticket", "field_name": "student", "term": stranger.name},
    )
    assert found.status_code == 200 and found.json()["results"] == []


# --- The desk settings ---------------------------------------------------------------------------


def test_operations_set_a_campus_desk_hours_and_the_list_shows_them(client, operations, agent, campus, other_campus):
    client.force_login(operations.user)
    listed = client.get(reverse("admin:servicedesk_desksettings_changelist")).content.decode()
    assert campus.name in listed.split('id="campuses-on-defaults"', 1)[1]
    data = {
        "campus": campus.pk,
        "opens_at": "08:30",
        "closes_at": "22:00",
        "open_on_weekends": "on",
        "response_minutes": 120,
        "urgent_response_minutes": 20,
        "complaint_resolution_hours": 24,
        "resolution_hours": 48,
        "warn_at_percent": 75,
    }
    assert client.post(reverse("admin:servicedesk_desksettings_add"), data).status_code == 302
    settings = DeskSettings.objects.get(campus=campus)
    assert (settings.opens_at, settings.response_minutes) == (datetime.time(8, 30), 120)
    listed = client.get(reverse("admin:servicedesk_desksettings_changelist")).content.decode()
    assert "08:30–22:00" in listed and "120" in listed

    client.force_login(agent.user)
    response = client.get(reverse("admin:servicedesk_desksettings_changelist"))
    assert list(response.context["cl"].result_list) == [settings]
    assert client.post(reverse("admin:servicedesk_desksettings_change", args=[settings.pk]), data).status_code == 403

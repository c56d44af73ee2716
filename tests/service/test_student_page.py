"""The student page: her learning per enrollment, orders, refund requests, tickets, the messages sent
to her and the contact log (contacts and ticket replies, newest first) with its form; who may open
it (404 outside the reach) and who may record; and a fixed number of queries."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from notifications.models import Notification
from service.models import ContactLog, ContactSource, TaskKind
from service.selectors import contact_rows
from service.services import Outcome, contact_record, task_complete
from servicedesk import services as desk
from servicedesk.models import TicketCategory
from tests import factories
from tests.refunds.helpers import submit

from .conftest import enrolled, logged_in, make_task

pytestmark = pytest.mark.django_db


def student_page(student) -> str:
    return reverse("admin:service_student", args=[student.pk])


def record(student) -> str:
    return reverse("admin:service_student_contact", args=[student.pk])


def section(html: str, element_id: str) -> str:
    return html.split(f'id="{element_id}"', 1)[1].split("</section>", 1)[0]


@pytest.fixture
def learning(order):
    enrollment = order.enrollment
    enrollment.lessons_consumed, enrollment.homework_submitted, enrollment.watch_progress = 12, 6, Decimal("41.50")
    enrollment.tests_taken, enrollment.test_score_avg, enrollment.rating = 2, Decimal("76.50"), 4
    enrollment.last_learning_at = timezone.now() - datetime.timedelta(days=3, hours=1)
    enrollment.save()
    return enrollment


def test_the_page_shows_her_learning_per_enrollment(client, homeroom, order, learning):
    html = logged_in(client, homeroom).get(student_page(order.student)).content.decode()
    learning_html = section(html, "student-learning")
    assert order.course.name in learning_html
    assert "40%" in learning_html and "12/30" in learning_html  # 12 of 30 lessons
    assert "41.50%" in learning_html  # watch progress
    assert "50%" in learning_html  # 6 homeworks for the 12 lessons she has had
    assert "76.50" in learning_html and "4/5" in learning_html
    assert timezone.localtime(learning.last_learning_at).strftime("%Y-%m-%d %H:%M") in learning_html


def test_the_page_lists_her_orders_refund_requests_tickets_and_messages(client, homeroom, agent, order, student):
    refund = submit(order)
    ticket = desk.ticket_open(
        student=student, category=TicketCategory.QUESTION, subject="回放打不开", description="昨晚的回放打不开"
    )
    Notification.objects.create(
        dedupe_key="test:1",
        recipient_key=f"user:{student.user_id}",
        event="service.lesson_reminder",
        channel="sms",
        recipient=student.user,
        body="您的课程 1 小时后开始",
        created_at=timezone.now(),
    )
    html = logged_in(client, homeroom).get(student_page(student)).content.decode()
    assert order.order_no in section(html, "student-orders")
    refunds = section(html, "student-refunds")
    assert reverse("admin:refunds_refundrequest_change", args=[refund.pk]) in refunds  # teachers review refunds
    tickets = section(html, "student-tickets")
    assert ticket.ticket_no in tickets and "回放打不开" in tickets
    assert reverse("admin:servicedesk_ticket_change", args=[ticket.pk]) not in tickets  # she may not open tickets
    messages = section(html, "student-messages")
    assert "First-lesson reminder" in messages or "首课" in messages
    assert "SMS" in messages or "短信" in messages


def test_customer_service_gets_the_ticket_links(client, agent, student):
    ticket = desk.ticket_open(
        student=student, category=TicketCategory.QUESTION, subject="回放打不开", description="打不开"
    )
    html = logged_in(client, agent).get(student_page(student)).content.decode()
    assert reverse("admin:servicedesk_ticket_change", args=[ticket.pk]) in section(html, "student-tickets")


def test_a_contact_recorded_on_the_page_appears_in_her_log(client, homeroom, order, student):
    client = logged_in(client, homeroom)
    response = client.post(
        record(student), {"channel": "wechat", "minutes": "12", "summary": "她问作业怎么提交，已发截图教程"}
    )
    assert response.status_code == 302
    assert response.url == student_page(student) + "#contacts"
    log = ContactLog.objects.get(student=student)
    assert (log.channel, log.minutes, log.staff, log.source) == ("wechat", 12, homeroom, ContactSource.CALL)
    contacts = section(client.get(student_page(student)).content.decode(), "contacts")
    assert "她问作业怎么提交，已发截图教程" in contacts and "孙老师" in contacts


def test_a_contact_without_channel_or_summary_is_refused_next_to_the_fields(client, homeroom, order, student):
    response = logged_in(client, homeroom).post(record(student), {"channel": "", "minutes": "", "summary": " "})
    assert response.status_code == 200
    assert sorted(response.context["contact_form"].errors) == ["channel", "summary"]
    assert 'id="error-summary"' in response.content.decode()
    assert not ContactLog.objects.exists()


def test_the_log_merges_contacts_and_ticket_replies_newest_first(homeroom, agent, order, student):
    now = timezone.now()
    ticket = desk.ticket_open(
        student=student, category=TicketCategory.QUESTION, subject="发票", description="怎么开发票"
    )
    contact_record(
        student=student, by=homeroom.user, channel="phone", summary="早上的电话", at=now - datetime.timedelta(hours=3)
    )
    desk.ticket_reply(
        actor=agent.user, ticket_id=ticket.pk, body="发票已开具，请查收邮箱。", at=now - datetime.timedelta(hours=2)
    )
    desk.ticket_reply(
        actor=agent.user,
        ticket_id=ticket.pk,
        body="内部：财务已处理",
        internal=True,
        at=now - datetime.timedelta(hours=1),
    )
    task = make_task(order)
    task_complete(
        task_id=task.pk,
        by=homeroom.user,
        outcome=Outcome(
            channel="phone", minutes=4, student_goal="过六级", student_level="四级已过", next_step="周末上课"
        ),
        at=now - datetime.timedelta(minutes=10),
    )
    rows = contact_rows(student=student)
    assert len(rows) == 3
    assert [row.at for row in rows] == sorted((row.at for row in rows), reverse=True)
    assert rows[0].task_id == task.pk and "周末上课" in rows[0].summary
    assert (rows[1].summary, rows[1].ticket_no, rows[1].by) == (
        "发票已开具，请查收邮箱。",
        ticket.ticket_no,
        "客服小林",
    )
    assert rows[2].summary == "早上的电话"
    assert all("内部" not in row.summary for row in rows)  # internal notes are not contacts


# --- Who may open it ------------------------------------------------------------------------------


def test_a_teacher_opens_only_the_students_she_serves(client, homeroom, colleague, campus, order):
    theirs = enrolled(campus, colleague, name="别班学员")
    client = logged_in(client, homeroom)
    assert client.get(student_page(order.student)).status_code == 200
    assert client.get(student_page(theirs.student)).status_code == 404
    assert client.post(record(theirs.student), {"channel": "phone", "summary": "x"}).status_code == 404
    assert not ContactLog.objects.exists()


def test_a_teacher_opens_a_colleagues_student_while_she_stands_in(client, homeroom, colleague, campus):
    theirs = enrolled(campus, colleague, name="别班学员")
    today = timezone.localdate()
    colleague.delegate, colleague.delegate_from, colleague.delegate_until = (
        homeroom,
        today,
        today + datetime.timedelta(days=3),
    )
    colleague.save()
    assert logged_in(client, homeroom).get(student_page(theirs.student)).status_code == 200


@pytest.mark.parametrize("who", ["supervisor", "campus_head", "agent"])
def test_campus_staff_open_any_student_of_their_campus(client, request, colleague, campus, who):
    theirs = enrolled(campus, colleague)
    assert logged_in(client, request.getfixturevalue(who)).get(student_page(theirs.student)).status_code == 200


@pytest.mark.parametrize("who", ["homeroom", "supervisor", "campus_head", "agent"])
def test_a_student_of_another_campus_answers_404(client, request, south_order, who):
    assert logged_in(client, request.getfixturevalue(who)).get(student_page(south_order.student)).status_code == 404


def test_customer_service_reads_the_log_but_records_nothing_here(client, agent, student, order):
    client = logged_in(client, agent)
    html = client.get(student_page(student)).content.decode()
    assert 'id="contact-form"' not in html
    assert client.post(record(student), {"channel": "phone", "summary": "x"}).status_code == 403


@pytest.mark.parametrize("role", ["finance", "quality", "operations"])
def test_staff_without_the_contact_log_may_not_open_the_page(client, campus, student, order, role):
    other = factories.make_staff(role=role, campus=campus)
    assert logged_in(client, other).get(student_page(student)).status_code == 403


def test_the_contact_form_needs_the_csrf_token(homeroom, student, order):
    client = Client(enforce_csrf_checks=True)
    client.force_login(homeroom.user)
    assert client.post(record(student), {"channel": "phone", "summary": "电话"}).status_code == 403
    assert not ContactLog.objects.exists()


def test_the_task_page_and_the_row_link_to_the_student_page(client, homeroom, order):
    task = make_task(order, kind=TaskKind.INACTIVE, trigger="x")
    client = logged_in(client, homeroom)
    url = student_page(order.student)
    assert url in client.get(reverse("admin:service_servicetask_change", args=[task.pk])).content.decode()
    assert url in client.get(reverse("admin:service_servicetask_changelist")).content.decode()
    assert reverse("admin:service_servicetask_change", args=[task.pk]) in client.get(url).content.decode()


# --- The contact log's own list ----------------------------------------------------------------------


def test_the_contact_log_list_is_read_only_and_scoped(client, homeroom, colleague, campus, order, student):
    theirs = enrolled(campus, colleague, name="别班学员")
    mine = contact_record(student=student, by=homeroom.user, channel="phone", summary="我的电话")
    contact_record(student=theirs.student, by=colleague.user, channel="phone", summary="别人的电话")
    response = logged_in(client, homeroom).get(reverse("admin:service_contactlog_changelist"))
    assert [row.pk for row in response.context["cl"].result_list] == [mine.pk]
    assert client.get(reverse("admin:service_contactlog_add")).status_code == 403


# --- Queries --------------------------------------------------------------------------------------


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_student_page_queries_do_not_grow_with_her_history(client, homeroom, agent, campus, student, order):
    client = logged_in(client, homeroom)
    url = student_page(student)
    few = _queries(client, url)
    for n in range(4):
        more = factories.make_order(
            student=student, course=factories.make_course(campus=campus), homeroom_teacher=homeroom
        )
        make_task(more, kind=TaskKind.FOLLOW_UP, trigger="m1")
        contact_record(student=student, by=homeroom.user, channel="phone", summary=f"第 {n} 次电话")
        ticket = desk.ticket_open(
            student=student, category=TicketCategory.QUESTION, subject=f"问题{n}", description="问题"
        )
        desk.ticket_reply(actor=agent.user, ticket_id=ticket.pk, body=f"回复{n}")
    many = _queries(client, url)
    assert many == few
    assert many <= 16

"""The inbox (站内信): her messages, newest first; opening one marks it read; the unread count."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import AnonymousUser, Permission
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from notifications.context_processors import inbox_unread
from notifications.models import InboxMessage
from refunds.services import refund_submit
from tests import factories


def make_message(recipient, *, subject: str = "退费申请已提交", minutes_ago: int = 0, **fields) -> InboxMessage:
    """A message as the notification services will write it; ``created_at`` set after the insert."""
    message = InboxMessage.objects.create(
        recipient=recipient, subject=subject, body=fields.pop("body", "正文"), **fields
    )
    if minutes_ago:
        created = timezone.now() - datetime.timedelta(minutes=minutes_ago)
        InboxMessage.objects.filter(pk=message.pk).update(created_at=created)
        message.created_at = created
    return message


def _inbox(client, **query):
    response = client.get(reverse("portal:inbox"), query)
    assert response.status_code == 200
    return response


# --- The list ---------------------------------------------------------------------------------


def test_empty_inbox_says_so_in_chinese(logged_in):
    assert "暂无消息" in _inbox(logged_in).content.decode()


def test_inbox_lists_her_messages_newest_first(logged_in, student):
    make_message(student.user, subject="较早的消息", minutes_ago=10)
    make_message(student.user, subject="最新的消息")
    page = _inbox(logged_in).content.decode()
    assert page.index("最新的消息") < page.index("较早的消息")


def test_inbox_never_lists_another_users_messages(logged_in, student, other_student):
    make_message(other_student.user, subject="别人的消息")
    assert "别人的消息" not in _inbox(logged_in).content.decode()


def test_inbox_shows_twenty_messages_a_page(logged_in, student):
    for minutes in range(25):
        make_message(student.user, subject=f"消息{minutes:02d}", minutes_ago=minutes)
    first = _inbox(logged_in)
    assert len(first.context["page"].object_list) == 20
    assert "第 1 / 2 页" in first.content.decode()
    second = _inbox(logged_in, page=2)
    assert [m.subject for m in second.context["page"].object_list] == [f"消息{m:02d}" for m in range(20, 25)]


def test_inbox_query_count_does_not_grow_with_messages(logged_in, student, django_assert_max_num_queries):
    # session, user, student, page count, page rows, unread count
    make_message(student.user)
    with django_assert_max_num_queries(6):
        _inbox(logged_in)
    for _ in range(29):
        make_message(student.user)
    with django_assert_max_num_queries(6):
        response = _inbox(logged_in)
    assert len(response.context["page"].object_list) == 20


# --- One message ------------------------------------------------------------------------------


def test_opening_a_message_marks_it_read(logged_in, student):
    message = make_message(student.user, body="您的退费申请已通过。")
    response = logged_in.get(reverse("portal:message", args=[message.pk]))
    assert response.status_code == 200
    assert "您的退费申请已通过。" in response.content.decode()
    message.refresh_from_db()
    assert message.read_at is not None


def test_opening_a_message_again_keeps_the_first_reading_time(logged_in, student):
    message = make_message(student.user)
    logged_in.get(reverse("portal:message", args=[message.pk]))
    message.refresh_from_db()
    first_read = message.read_at
    logged_in.get(reverse("portal:message", args=[message.pk]))
    message.refresh_from_db()
    assert message.read_at == first_read


def test_message_about_a_request_links_to_it(logged_in, student, order):
    request = refund_submit(student=student, order_no=order.order_no, reason="time_conflict", details="时间冲突。")
    message = make_message(student.user, refund_request=request)
    page = logged_in.get(reverse("portal:message", args=[message.pk])).content.decode()
    assert reverse("portal:request", args=[request.request_no]) in page


def test_another_users_message_answers_404_and_stays_unread(logged_in, other_student):
    message = make_message(other_student.user)
    assert logged_in.get(reverse("portal:message", args=[message.pk])).status_code == 404
    message.refresh_from_db()
    assert message.read_at is None


def test_an_unknown_message_answers_404(logged_in):
    assert logged_in.get(reverse("portal:message", args=[999999])).status_code == 404


def test_message_page_query_count_is_bounded(logged_in, student, django_assert_max_num_queries):
    message = make_message(student.user)
    # session, user, student, message, mark read, unread count
    with django_assert_max_num_queries(6):
        logged_in.get(reverse("portal:message", args=[message.pk]))


# --- Who may come in --------------------------------------------------------------------------


@pytest.fixture
def inbox_urls(student):
    message = make_message(student.user)
    return [reverse("portal:inbox"), reverse("portal:message", args=[message.pk])]


def test_anonymous_visitor_is_sent_to_login_from_the_inbox(client, inbox_urls):
    for url in inbox_urls:
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_staff_are_sent_to_the_admin_from_the_inbox(client, homeroom, inbox_urls):
    client.force_login(homeroom.user)
    for url in inbox_urls:
        assert client.get(url).url == reverse("admin:index")


def test_a_user_who_is_not_a_student_is_refused_the_inbox(client, outsider, inbox_urls):
    client.force_login(outsider)
    for url in inbox_urls:
        assert client.get(url).status_code == 403


# --- The unread count in the header -----------------------------------------------------------


def test_header_shows_the_unread_count_and_it_drops_once_read(logged_in, student):
    messages = [make_message(student.user) for _ in range(3)]
    make_message(student.user, read_at=timezone.now())
    assert '<span class="count">3<' in logged_in.get(reverse("portal:home")).content.decode()
    logged_in.get(reverse("portal:message", args=[messages[0].pk]))
    assert '<span class="count">2<' in logged_in.get(reverse("portal:home")).content.decode()


def test_header_shows_no_badge_without_unread_messages(logged_in):
    assert 'class="count"' not in logged_in.get(reverse("portal:home")).content.decode()


def test_unread_count_costs_anonymous_visitors_no_query(db, django_assert_num_queries):
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    with django_assert_num_queries(0):
        assert inbox_unread(request)["inbox_unread_count"] == 0


def test_unread_count_is_one_query_made_only_when_read(student, django_assert_num_queries):
    make_message(student.user)
    request = RequestFactory().get("/")
    request.user = student.user
    with django_assert_num_queries(0):
        count = inbox_unread(request)["inbox_unread_count"]
    with django_assert_num_queries(1):
        assert count == 1
        assert str(count) == "1"


# --- The admin --------------------------------------------------------------------------------


def _changelist() -> str:
    return reverse("admin:notifications_inboxmessage_changelist")


def test_superuser_reads_messages_in_the_admin_but_cannot_add_or_change(client, student, order):
    admin_user = factories.make_user(is_staff=True, is_superuser=True)
    request = refund_submit(student=student, order_no=order.order_no, reason="time_conflict", details="时间冲突。")
    message = make_message(student.user, subject="管理后台可见", refund_request=request)
    client.force_login(admin_user)
    assert "管理后台可见" in client.get(_changelist()).content.decode()
    assert client.get(reverse("admin:notifications_inboxmessage_add")).status_code == 403
    change = client.post(reverse("admin:notifications_inboxmessage_change", args=[message.pk]), {"subject": "改"})
    assert change.status_code == 403
    assert InboxMessage.objects.get(pk=message.pk).subject == "管理后台可见"


def test_operations_read_messages_in_the_admin(client, operations, student):
    make_message(student.user, subject="运营可见")
    client.force_login(operations.user)
    assert "运营可见" in client.get(_changelist()).content.decode()


def test_a_homeroom_teacher_sees_messages_about_her_campus_requests_only(client, homeroom, student, order):
    request = refund_submit(student=student, order_no=order.order_no, reason="time_conflict", details="时间冲突。")
    about_request = make_message(student.user, subject="关于退费申请", refund_request=request)
    unrelated = make_message(student.user, subject="与退费无关")
    client.force_login(homeroom.user)
    page = client.get(_changelist()).content.decode()
    assert about_request.subject in page
    assert unrelated.subject not in page


def test_staff_of_another_campus_never_see_messages_about_this_campus(client, other_campus_homeroom, student, order):
    request = refund_submit(student=student, order_no=order.order_no, reason="time_conflict", details="时间冲突。")
    message = make_message(student.user, subject="本校区的消息", refund_request=request)
    user = other_campus_homeroom.user
    user.user_permissions.add(Permission.objects.get(codename="view_inboxmessage"))
    client.force_login(user)
    assert "本校区的消息" not in client.get(_changelist()).content.decode()
    assert client.get(reverse("admin:notifications_inboxmessage_change", args=[message.pk])).status_code == 404

"""The inbox (站内信) below the pages: the unread count in the header, and the admin's read-only list."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, Permission
from django.test import RequestFactory
from django.urls import reverse

from notifications.context_processors import inbox_unread
from notifications.models import InboxMessage
from refunds.services import refund_submit
from tests import factories

from .helpers import make_message

pytestmark = pytest.mark.django_db


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

"""The inbox (站内信): her messages, newest first; opening one marks it read; the unread count."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from refunds.services import refund_submit
from tests.notifications.helpers import make_message


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


@pytest.mark.django_db
def test_all_read_at_once_and_only_hers(logged_in, student, other_student):
    from notifications.models import InboxMessage

    for n in range(3):
        make_message(student.user, subject=f"消息{n}")
    theirs = make_message(other_student.user, subject="别人的消息")
    page = logged_in.get(reverse("portal:inbox")).content.decode()
    assert reverse("portal:inbox_read_all") in page
    response = logged_in.post(reverse("portal:inbox_read_all"))
    assert response.status_code == 302
    assert not InboxMessage.objects.filter(recipient=student.user, read_at__isnull=True).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert reverse("portal:inbox_read_all") not in logged_in.get(reverse("portal:inbox")).content.decode()
    assert logged_in.get(reverse("portal:inbox_read_all")).status_code == 405


@pytest.mark.django_db
def test_links_in_a_message_can_be_tapped(logged_in, student):
    message = make_message(student.user, subject="退费进度", body="查看进度：http://127.0.0.1:8000/refunds/RF1/")
    page = logged_in.get(reverse("portal:message", args=[message.pk])).content.decode()
    assert '<a href="http://127.0.0.1:8000/refunds/RF1/"' in page


def test_linkify_escapes_first_and_links_only_addresses():
    from schoolops.templatetags.text import linkify

    assert linkify("见：https://a.example/x?y=1&z=2。谢谢") == (
        '见：<a href="https://a.example/x?y=1&amp;z=2" rel="noopener">https://a.example/x?y=1&amp;z=2</a>。谢谢'
    )
    assert linkify("<script>alert(1)</script> http://x.example/a.") == (
        '&lt;script&gt;alert(1)&lt;/script&gt; <a href="http://x.example/a" rel="noopener">http://x.example/a</a>.'
    )
    assert linkify("javascript:alert(1)") == "javascript:alert(1)"

"""The outbox, the request page's panel, her messages on her own page and the call tasks, by every kind of user."""

from __future__ import annotations

import pytest
from django.urls import reverse

from notifications.models import CallTask, Notification, NotificationStatus
from notifications.services import notification_deliver
from orders.models import CourseType
from tests.refunds.helpers import order_at, submit

from .helpers import permanent

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:notifications_notification_changelist")


@pytest.fixture
def refund(channels, student, homeroom, campus):
    return submit(order_at(student=student, homeroom=homeroom, campus=campus, price="300.00"))


@pytest.fixture
def failed_sms(channels, refund):
    channels["sms"].failures.append(permanent("number does not exist"))
    row = Notification.objects.get(refund_request=refund, channel="sms")
    notification_deliver(notification_id=row.pk)
    return row


def test_a_permanent_failure_is_visible_in_the_outbox_list(client, operations, failed_sms):
    client.force_login(operations.user)
    page = client.get(LIST_URL, {"status": "failed"}).content.decode()
    assert "number does not exist" in page
    detail = client.get(reverse("admin:notifications_notification_change", args=[failed_sms.pk]))
    assert detail.status_code == 200
    assert "number does not exist" in detail.content.decode()


def test_operations_send_a_failed_row_again(client, operations, failed_sms, django_capture_on_commit_callbacks):
    client.force_login(operations.user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(LIST_URL, {"action": "send_again", "_selected_action": [failed_sms.pk]})
    assert response.status_code == 302
    failed_sms.refresh_from_db()
    assert failed_sms.status == NotificationStatus.SENT


def test_staff_of_the_campus_see_its_outbox_but_cannot_send_again(client, homeroom, failed_sms):
    client.force_login(homeroom.user)
    response = client.get(LIST_URL)
    assert response.status_code == 200
    assert "send_again" not in response.content.decode()
    response = client.post(LIST_URL, {"action": "send_again", "_selected_action": [failed_sms.pk]})
    failed_sms.refresh_from_db()
    assert failed_sms.status == NotificationStatus.FAILED


def test_staff_of_another_campus_get_404_on_a_row(client, other_campus_homeroom, failed_sms):
    client.force_login(other_campus_homeroom.user)
    assert client.get(reverse("admin:notifications_notification_change", args=[failed_sms.pk])).status_code == 404
    assert "number does not exist" not in client.get(LIST_URL).content.decode()


def test_the_outsider_cannot_see_the_outbox(client, outsider, failed_sms):
    client.force_login(outsider)
    response = client.get(LIST_URL)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_request_page_shows_every_copy_with_its_status(client, homeroom, refund, failed_sms):
    client.force_login(homeroom.user)
    page = client.get(reverse("admin:refunds_refundrequest_change", args=[refund.pk])).content.decode()
    panel = page[page.index('id="notifications-panel"') :]
    panel = panel[: panel.index("</section>")]
    for row in Notification.objects.filter(refund_request=refund):
        assert row.subject.split("（")[0] in panel or row.body.split("，")[0] in panel
    assert "number does not exist" in panel
    assert all(row.channel_label in panel for row in Notification.objects.filter(refund_request=refund))


def test_the_students_page_shows_her_messages_only(
    client, student, homeroom, refund, django_capture_on_commit_callbacks
):
    client.force_login(student.user)
    page = client.get(reverse("portal:request", args=[refund.request_no])).content.decode()
    mine = Notification.objects.get(refund_request=refund, channel="email", recipient=student.user)
    theirs = Notification.objects.get(refund_request=refund, recipient=homeroom.user)
    assert mine.subject in page
    assert theirs.subject not in page


def test_call_tasks_are_listed_to_their_assignee_who_marks_them_done(
    client, student, homeroom, other_campus_homeroom, campus, channels, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        submit(
            order_at(student=student, homeroom=homeroom, campus=campus, price="5000.00", course_type=CourseType.PREMIUM)
        )
    task = CallTask.objects.get()
    url = reverse("admin:notifications_calltask_changelist")
    client.force_login(other_campus_homeroom.user)
    assert task.subject not in client.get(url).content.decode()
    client.force_login(homeroom.user)
    assert task.subject in client.get(url).content.decode()
    client.post(url, {"action": "mark_done", "_selected_action": [task.pk]})
    task.refresh_from_db()
    assert task.done_at is not None

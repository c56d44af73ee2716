"""Staff group robots: who subscribes to what, delivery to the simulator's robots, the admin by role."""

# ruff: noqa: F811 - the simulator's fixtures are imported here and taken as arguments

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from gatewaysim.testing import gateway_settings, gateway_sim  # noqa: F401
from notifications.models import Notification, NotificationStatus, StaffWebhook
from notifications.services import notification_deliver, notifications_for_refund_event
from refunds.models import RefundEvent
from refunds.services.requests import refund_steps_escalate
from schoolops.models import StaffRole
from tests import factories
from tests.refunds.helpers import order_at, submit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english_admin(client, settings):
    """The admin pages in English: the assertions below read its messages."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


LIST_URL = reverse("admin:notifications_staffwebhook_changelist")
ADD_URL = reverse("admin:notifications_staffwebhook_add")


def _robot(campus, *, kind="dingtalk", url="https://oapi.dingtalk.com/robot/send?access_token=a", **extra):
    values = {"name": f"{campus.name}退款群", "kind": kind, "url": url, "secret": "SECx"}
    values.update(extra)
    return StaffWebhook.objects.create(campus=campus, **values)


def _sim_robot(sim, campus, kind="dingtalk", **extra) -> StaffWebhook:
    target = sim.robot_target(kind)
    return _robot(campus, **{"kind": kind, "url": target["url"], "secret": target.get("secret", ""), **extra})


LATER = timezone.now() + datetime.timedelta(days=4)


def _escalated(student, homeroom, campus):
    refund = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="300.00"))
    refund_steps_escalate(now=LATER - datetime.timedelta(days=1))
    return refund


def _webhook_rows(refund, event="refund.escalated") -> list[str]:
    return sorted(
        Notification.objects.filter(refund_request=refund, event=event, channel="webhook").values_list(
            "recipient_name", flat=True
        )
    )


# --- Who is told -----------------------------------------------------------------------------------


def test_an_escalation_goes_to_the_subscribed_robots_of_the_campus_only(
    channels, student, homeroom, supervisor, campus, other_campus
):
    _robot(campus, name="退款审批群", url="https://oapi.dingtalk.com/robot/send?access_token=one")
    _robot(campus, name="企业微信群", kind="wecom", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=two")
    _robot(
        campus,
        name="财务群",
        url="https://oapi.dingtalk.com/robot/send?access_token=3",
        events=["refund.payout_failed"],
    )
    _robot(campus, name="停用的群", url="https://oapi.dingtalk.com/robot/send?access_token=4", is_active=False)
    _robot(other_campus, name="别校的群", url="https://oapi.dingtalk.com/robot/send?access_token=one")

    refund = _escalated(student, homeroom, campus)

    assert _webhook_rows(refund) == ["企业微信群", "退款审批群"]
    row = Notification.objects.get(refund_request=refund, event="refund.escalated", recipient_name="退款审批群")
    assert row.recipient_id is None
    assert row.webhook["kind"] == "dingtalk" and row.webhook["url"].endswith("access_token=one")
    assert refund.request_no in row.body
    # the robots' rows are extra: the people are still told on their own channels
    assert {
        n for n in Notification.objects.filter(event="refund.escalated").values_list("recipient_name", flat=True)
    } >= {
        "孙老师",
        "钱主管",
    }


def test_the_submission_tells_the_assigned_robot_but_no_student_event_reaches_robots(
    channels, student, homeroom, campus
):
    _robot(campus, name="退款审批群", events=["refund.assigned"])
    refund = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="300.00"))
    assert _webhook_rows(refund, "refund.assigned") == ["退款审批群"]
    assert not Notification.objects.filter(refund_request=refund, event="refund.submitted", channel="webhook").exists()


def test_handling_the_event_again_writes_nothing_and_costs_the_same_queries_for_more_robots(
    channels, student, homeroom, supervisor, campus
):
    _robot(campus, name="一号群", url="https://oapi.dingtalk.com/robot/send?access_token=1")
    refund = _escalated(student, homeroom, campus)
    event = RefundEvent.objects.get(request=refund, kind="escalated")

    with CaptureQueriesContext(connection) as one_robot:
        assert notifications_for_refund_event(event=event) >= 1  # rendered again, conflicts ignored
    assert _webhook_rows(refund) == ["一号群"]

    _robot(campus, name="二号群", url="https://oapi.dingtalk.com/robot/send?access_token=2")
    _robot(campus, name="三号群", kind="slack", url="https://hooks.slack.com/services/T/B/3")
    with CaptureQueriesContext(connection) as three_robots:
        notifications_for_refund_event(event=event)
    assert _webhook_rows(refund) == ["一号群", "三号群", "二号群"]
    assert len(three_robots) == len(one_robot)


def test_one_campus_cannot_register_the_same_robot_twice(campus):
    robot = _robot(campus)
    duplicate = StaffWebhook(campus=campus, name="again", kind=robot.kind, url=robot.url)
    with pytest.raises(ValidationError):
        duplicate.full_clean()


# --- Delivery to the simulator --------------------------------------------------------------------


def test_the_robots_row_is_posted_to_dingtalk_with_a_valid_signature(
    channels, gateway_settings, student, homeroom, supervisor, campus
):
    _sim_robot(gateway_settings, campus, name="退款审批群")
    refund = _escalated(student, homeroom, campus)
    row = Notification.objects.get(refund_request=refund, event="refund.escalated", channel="webhook")

    notification_deliver(notification_id=row.pk, now=LATER)

    row.refresh_from_db()
    assert row.status == NotificationStatus.SENT, row.last_error
    [received] = gateway_settings.messages_received("dingtalk")  # the simulator checks the signature
    assert received.payload["msgtype"] == "markdown"
    assert refund.request_no in received.payload["markdown"]["text"]


def test_a_robot_with_the_wrong_secret_fails_for_good(
    channels, gateway_settings, student, homeroom, supervisor, campus
):
    _sim_robot(gateway_settings, campus, secret="SECwrong")
    refund = _escalated(student, homeroom, campus)
    row = Notification.objects.get(refund_request=refund, event="refund.escalated", channel="webhook")

    notification_deliver(notification_id=row.pk, now=LATER)

    row.refresh_from_db()
    assert row.status == NotificationStatus.FAILED
    assert "310000" in row.last_error
    assert gateway_settings.messages_received("dingtalk") == []


# --- Validation ------------------------------------------------------------------------------------


def test_an_http_url_is_refused_when_debug_is_off(settings, campus):
    settings.DEBUG = False
    robot = StaffWebhook(campus=campus, name="群", kind="slack", url="http://hooks.example.com/x")
    with pytest.raises(ValidationError) as error:
        robot.full_clean()
    assert "url" in error.value.message_dict


def test_an_http_url_is_allowed_in_development(settings, campus):
    settings.DEBUG = True
    StaffWebhook(campus=campus, name="群", kind="slack", url="http://127.0.0.1:8000/hook").full_clean()


def test_only_known_staff_facing_events_can_be_subscribed(campus):
    robot = StaffWebhook(campus=campus, name="群", kind="wecom", url="https://qyapi.weixin.qq.com/x")
    # A new robot is told of every staff-facing event, the refund alerts included.
    assert robot.events == [
        "refund.assigned",
        "refund.escalated",
        "refund.payout_failed",
        "refund.payout_needs_check",
        "exchange.assigned",
        "exchange.escalated",
        "exchange.payout_failed",
        "exchange.payout_needs_check",
        "analytics.alert",
        "ticket.escalated",
        "service.tasks_overdue",
    ]
    for events in (["refund.nonsense"], ["refund.approved"], "refund.assigned"):
        robot.events = events
        with pytest.raises(ValidationError) as error:
            robot.full_clean()
        assert "events" in error.value.message_dict


# --- Admin -----------------------------------------------------------------------------------------


def _add_form(campus, **overrides):
    data = {
        "campus": campus.pk,
        "name": "退款审批群",
        "kind": "dingtalk",
        "url": "https://oapi.dingtalk.com/robot/send?access_token=abc",
        "secret": "SECtopsecret",
        "events": ["refund.assigned", "refund.escalated"],
        "is_active": "on",
    }
    data.update(overrides)
    return data


def test_operations_add_a_robot_and_never_see_its_secret_again(client, operations, campus):
    client.force_login(operations.user)
    assert client.get(ADD_URL).status_code == 200

    response = client.post(ADD_URL, _add_form(campus))

    assert response.status_code == 302, response.content.decode()[:2000]
    robot = StaffWebhook.objects.get()
    assert robot.secret == "SECtopsecret"
    assert robot.events == ["refund.assigned", "refund.escalated"]
    listing = client.get(LIST_URL).content.decode()
    assert "退款审批群" in listing and "SECtopsecret" not in listing
    change_url = reverse("admin:notifications_staffwebhook_change", args=[robot.pk])
    assert "SECtopsecret" not in client.get(change_url).content.decode()
    # saving without typing the secret again keeps it; the history keeps no copy of it
    response = client.post(change_url, _add_form(campus, name="改名的群", secret=""))
    assert response.status_code == 302
    robot.refresh_from_db()
    assert (robot.name, robot.secret) == ("改名的群", "SECtopsecret")
    assert not hasattr(robot.history.first(), "secret")


def test_operations_can_remove_the_secret(client, operations, campus):
    robot = _robot(campus)
    client.force_login(operations.user)
    change_url = reverse("admin:notifications_staffwebhook_change", args=[robot.pk])
    response = client.post(change_url, _add_form(campus, url=robot.url, secret="", clear_secret="on"))
    assert response.status_code == 302
    robot.refresh_from_db()
    assert robot.secret == ""


def test_the_admin_refuses_an_http_url(client, operations, campus, settings):
    settings.DEBUG = False
    client.force_login(operations.user)
    response = client.post(ADD_URL, _add_form(campus, url="http://oapi.dingtalk.com/robot/send?access_token=abc"))
    assert response.status_code == 200
    assert "must use https" in response.content.decode()
    assert not StaffWebhook.objects.exists()


def test_a_homeroom_teacher_cannot_add_or_see_robots(client, homeroom, campus):
    robot = _robot(campus)
    client.force_login(homeroom.user)
    assert client.get(ADD_URL).status_code == 403
    assert client.post(ADD_URL, _add_form(campus, url="https://x.example.com/hook")).status_code == 403
    assert client.get(LIST_URL).status_code == 403
    assert client.get(reverse("admin:notifications_staffwebhook_change", args=[robot.pk])).status_code == 403
    assert StaffWebhook.objects.count() == 1


def test_a_campus_head_of_another_campus_gets_404_even_with_the_view_permission(client, campus, other_campus):
    robot = _robot(campus)
    head = factories.make_staff(role=StaffRole.CAMPUS_HEAD, campus=other_campus, name="别校校长")
    own = _robot(other_campus, name="本校群")
    change_url = reverse("admin:notifications_staffwebhook_change", args=[robot.pk])
    client.force_login(head.user)
    assert client.get(change_url).status_code == 403  # no permission at all

    head.user.user_permissions.add(Permission.objects.get(codename="view_staffwebhook"))
    client.force_login(type(head.user).objects.get(pk=head.user.pk))
    assert client.get(change_url).status_code == 404
    listing = client.get(LIST_URL).content.decode()
    assert "本校群" in listing and robot.name not in listing
    assert client.get(reverse("admin:notifications_staffwebhook_change", args=[own.pk])).status_code == 200


def test_operations_see_every_campus(client, operations, campus, other_campus):
    _robot(other_campus, name="别校的群")
    client.force_login(operations.user)
    assert "别校的群" in client.get(LIST_URL).content.decode()


def test_the_test_message_action_posts_to_the_robot_and_says_so(client, operations, gateway_settings, campus):
    robot = _sim_robot(gateway_settings, campus, name="退款审批群")
    client.force_login(operations.user)

    response = client.post(LIST_URL, {"action": "send_test_message", "_selected_action": [robot.pk]}, follow=True)

    assert response.status_code == 200
    assert "The test message to 退款审批群 was sent." in response.content.decode()
    [received] = gateway_settings.messages_received("dingtalk")
    assert "退款审批群" in received.payload["markdown"]["text"]
    assert Notification.objects.count() == 0  # a test is not an outbox row


def test_the_test_message_action_reports_the_robots_error(client, operations, gateway_settings, campus):
    robot = _sim_robot(gateway_settings, campus, name="退款审批群", secret="SECwrong")
    client.force_login(operations.user)

    response = client.post(LIST_URL, {"action": "send_test_message", "_selected_action": [robot.pk]}, follow=True)

    page = response.content.decode()
    assert "The test message to 退款审批群 failed" in page and "310000" in page
    assert gateway_settings.messages_received("dingtalk") == []

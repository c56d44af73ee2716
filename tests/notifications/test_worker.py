"""With a real worker on Redis: a refund submitted while the broker is down is saved, and its
messages go out once the broker is back (the beat job hands the queued rows over)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from notifications.models import InboxMessage, Notification, NotificationStatus, NotificationTemplate
from notifications.services import notifications_send_pending
from refunds.models import RefundRequest
from schoolops.celery import app as celery_app
from tests.payments.helpers import wait_until
from tests.refunds.helpers import order_at, submit

from .helpers import fresh_broker_connections

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

CLOSED_PORT = "redis://127.0.0.1:1/0"


@pytest.fixture
def default_templates(transactional_db):
    """The seeded texts, put back after an earlier transactional test's flush emptied the table."""
    if not NotificationTemplate.objects.exists():
        importlib.import_module("notifications.migrations.0003_default_templates").seed(apps, None)


def test_a_refund_submitted_while_redis_is_down_is_saved_and_its_messages_go_out_later(
    celery_worker_queue, default_refund_policies, default_templates, channels, student, homeroom, campus
):
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="300.00")
    working = celery_app.conf.broker_url
    celery_app.conf.broker_url = CLOSED_PORT
    fresh_broker_connections()
    try:
        refund = submit(order)  # the commit's hand-over to the broker fails: logged, not raised
    finally:
        celery_app.conf.broker_url = working
        fresh_broker_connections()
    assert RefundRequest.objects.filter(pk=refund.pk).exists()
    queued = Notification.objects.filter(refund_request=refund)
    assert queued.count() == 4
    assert set(queued.values_list("status", flat=True)) == {NotificationStatus.QUEUED}

    assert notifications_send_pending(grace_seconds=0) == 4  # the beat job, once Redis is back
    wait_until(
        lambda: not Notification.objects.exclude(status=NotificationStatus.SENT).exists(),
        timeout=30,
        what="every notification sent by the worker",
    )
    assert InboxMessage.objects.filter(recipient=student.user, refund_request=refund).count() == 1
    assert InboxMessage.objects.filter(recipient=homeroom.user, refund_request=refund).count() == 1
    assert [m.recipient.email for m in channels["email"].sent] == [student.user.email]
    assert len(channels["sms"].sent) == 1


def test_with_redis_up_the_worker_delivers_right_after_the_commit(
    celery_worker_queue, default_refund_policies, default_templates, channels, student, homeroom, campus
):
    refund = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="300.00"))
    wait_until(
        lambda: Notification.objects.filter(refund_request=refund, status=NotificationStatus.SENT).count() == 4,
        timeout=30,
        what="the four notifications of the submission",
    )
    assert Notification.objects.filter(refund_request=refund, attempts=1).count() == 4

"""A new order from the school's order system becomes the homeroom teacher's first-contact task
(and a referral when it names a code); a cancelled order closes her tasks; a new teacher takes them."""

from __future__ import annotations

import datetime
import time
from decimal import Decimal

import pytest
from django.urls import reverse

from notifications.models import Notification
from orders.models import Order
from service.models import Referral, ServiceSettings, ServiceTask, TaskKind, TaskStatus
from service.services import referral_code_for
from tests import factories
from tests.students.order_helpers import order_raw, raw_of_order
from tests.students.test_order_endpoint import SECRET, post

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _secret(settings, shipped_data):
    settings.ORDER_SYSTEM_SECRET = SECRET
    settings.ORDER_SYSTEM_MAX_SKEW_SECONDS = 300


@pytest.fixture
def url():
    return reverse("order_api:orders")


def test_a_new_paid_order_gives_its_teacher_the_first_contact_task(client, url, course, homeroom):
    # Stamped explicitly: the batch again below is the same body, and the same body signed in the
    # same second is (rightly) a replay.
    stamp = int(time.time())
    response = post(client, url, {"orders": [order_raw(course)]}, timestamp=stamp)
    assert response.status_code == 200, response.content
    order = Order.objects.get()
    [task] = ServiceTask.objects.all()
    assert task.kind == TaskKind.FIRST_CONTACT and task.status == TaskStatus.OPEN
    assert task.enrollment == order.enrollment and task.teacher == homeroom
    assert task.due_at == order.paid_at + datetime.timedelta(hours=24)
    told = Notification.objects.get(event="service.task_new", channel="inbox")
    assert told.recipient_id == homeroom.user_id and order.student.name in told.body

    # The same batch again: no second task, no second message.
    sent = Notification.objects.filter(event="service.task_new").count()
    again = post(client, url, {"orders": [raw_of_order(order)]}, timestamp=stamp - 1)
    assert again.status_code == 200, again.content
    assert ServiceTask.objects.count() == 1
    assert Notification.objects.filter(event="service.task_new").count() == sent


def test_the_first_contact_deadline_is_the_campus_setting(client, url, course, campus, homeroom):
    ServiceSettings.objects.create(campus=campus, first_contact_hours=12)
    post(client, url, {"orders": [order_raw(course)]})
    task = ServiceTask.objects.get()
    assert task.due_at == Order.objects.get().paid_at + datetime.timedelta(hours=12)


def test_an_order_naming_a_code_records_the_referral_and_both_rewards(client, url, course, campus, homeroom, order):
    ServiceSettings.objects.create(campus=campus, referrer_reward=Decimal("300.00"), referee_reward=Decimal("150.00"))
    code = referral_code_for(student=order.student).code
    response = post(client, url, {"orders": [order_raw(course, referral_code=code.lower())]})
    assert response.status_code == 200, response.content
    referral = Referral.objects.get()
    new_order = Order.objects.exclude(pk=order.pk).get()
    assert referral.order == new_order and referral.referee == new_order.student
    assert referral.referrer == order.student and referral.teacher == homeroom
    assert (referral.referrer_reward, referral.referee_reward) == (Decimal("300.00"), Decimal("150.00"))


def test_an_unknown_code_records_no_referral_but_keeps_the_order(client, url, course, homeroom):
    response = post(client, url, {"orders": [order_raw(course, referral_code="NOSUCHCO")]})
    assert response.status_code == 200
    assert Order.objects.get().referral_code == "NOSUCHCO"
    assert not Referral.objects.exists()


def test_a_cancelled_order_closes_her_tasks(client, url, course, homeroom):
    post(client, url, {"orders": [order_raw(course)]})
    order = Order.objects.get()
    response = post(client, url, {"orders": [raw_of_order(order, status="cancelled")]})
    assert response.status_code == 200, response.content
    task = ServiceTask.objects.get()
    assert task.status == TaskStatus.CLOSED and task.closed_reason


def test_a_new_homeroom_teacher_takes_her_open_tasks(client, url, course, campus, supervisor, homeroom):
    other = factories.make_staff(role="homeroom", campus=campus, manager=supervisor, name="周老师")
    post(client, url, {"orders": [order_raw(course, homeroom_teacher=homeroom.user.username)]})
    order = Order.objects.get()
    response = post(client, url, {"orders": [raw_of_order(order, homeroom_teacher=other.user.username)]})
    assert response.status_code == 200, response.content
    assert ServiceTask.objects.get().teacher == other

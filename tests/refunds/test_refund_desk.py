"""Customer service's refund desk: a request approved outright from its page within the campus's
limit (one fen over: the normal route), and a request filed for a student with her consent."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from notifications.models import Notification
from refunds.admin.decisions import DIRECT
from refunds.models import ConsentChannel, RefundRequest, RefundStatus, RefundTransition
from refunds.services import refund_submit_for_student
from schoolops.models import StaffRole
from tests import factories

from .helpers import assert_refused, decide_url, order_at, page_url, set_settings, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def service(campus, supervisor):
    return factories.make_staff(role=StaffRole.SERVICE, campus=campus, manager=supervisor, name="客服小林")


@pytest.fixture
def buy(student, homeroom, campus):
    def _buy(price: str):
        return order_at(student=student, homeroom=homeroom, campus=campus, price=price)

    return _buy


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_request_page_offers_customer_service_the_direct_approval_at_the_limit(buy, service, campus):
    set_settings(campus, service_limit="270.00")
    request = submit(buy("300.00"))  # 270.00: at the limit
    client = _client(service.user)
    page = client.get(page_url(request)).content.decode()
    assert decide_url(request, DIRECT) in page

    confirm = client.get(decide_url(request, DIRECT))
    assert confirm.status_code == 200
    assert "¥270.00" in confirm.content.decode()
    done = client.post(decide_url(request, DIRECT), {"comment": "学员来电，小额直退"})
    assert done.status_code == 302
    request.refresh_from_db()
    assert request.status == RefundStatus.APPROVED
    assert RefundTransition.objects.filter(request=request, name="approve_directly", actor=service.user).exists()


def test_one_fen_over_the_limit_takes_the_normal_route(buy, service, homeroom, campus):
    set_settings(campus, service_limit="269.99")
    request = submit(buy("300.00"))  # 270.00
    client = _client(service.user)
    page = client.get(page_url(request)).content.decode()
    assert decide_url(request, DIRECT) not in page
    assert "269.99" in page and "须走正常审批流程" in page  # why not, in the page's language

    refused = client.post(decide_url(request, DIRECT), {"comment": "试试"}, follow=True)
    assert "269.99" in refused.content.decode()
    request.refresh_from_db()
    assert request.status == RefundStatus.PENDING_HOMEROOM
    assert request.steps.get().assignee == homeroom  # still in front of the homeroom teacher


def test_approvers_on_the_route_do_not_see_the_desks_button(buy, homeroom, campus):
    set_settings(campus, service_limit="1000.00")
    request = submit(buy("300.00"))
    page = _client(homeroom.user).get(page_url(request)).content.decode()
    assert decide_url(request, DIRECT) not in page
    assert _client(homeroom.user).get(decide_url(request, DIRECT)).status_code == 302  # sent back with why


def file_for(order, actor, **extra):
    values = {
        "actor": actor,
        "student_id": order.student_id,
        "order_no": order.order_no,
        "reason": "time_conflict",
        "details": "学员来电：工作调动，无法继续上课。",
        "consent_channel": ConsentChannel.PHONE,
        "consent_at": timezone.now() - datetime.timedelta(minutes=10),
        "consent_note": "通话录音 0412-1032",
    }
    values.update(extra)
    return refund_submit_for_student(**values)


def test_customer_service_files_a_request_for_a_student_with_her_consent(shipped_data, buy, service, student):
    order = buy("300.00")
    request = file_for(order, service.user)
    assert (request.student, request.filed_by, request.consent_channel, request.consent_note) == (
        student,
        service.user,
        ConsentChannel.PHONE,
        "通话录音 0412-1032",
    )
    assert request.status == RefundStatus.PENDING_HOMEROOM  # the normal route, like any request
    assert RefundTransition.objects.get(request=request, name="submit").actor == service.user
    # She is told a request was filed in her name.
    assert Notification.objects.filter(event="refund.submitted", recipient=student.user, channel="inbox").exists()


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"consent_channel": ""}, "consent_channel"),
        ({"consent_channel": "telepathy"}, "consent_channel"),
        ({"consent_at": None}, "consent_at"),
        ({"consent_at": timezone.now() + datetime.timedelta(hours=1)}, "consent_at"),
        ({"consent_at": timezone.now() - datetime.timedelta(days=8)}, "consent_at"),
    ],
)
def test_no_consent_no_request(buy, service, extra, code):
    order = buy("300.00")
    assert_refused(lambda: file_for(order, service.user, **extra), code=code)
    assert not RefundRequest.objects.exists()


def test_only_customer_service_of_the_students_campus_files_for_her(buy, homeroom, other_campus):
    order = buy("300.00")
    assert_refused(lambda: file_for(order, homeroom.user), code="forbidden")
    elsewhere = factories.make_staff(role=StaffRole.SERVICE, campus=other_campus)
    assert_refused(lambda: file_for(order, elsewhere.user), code="student")


def test_the_database_refuses_a_filed_request_without_consent(buy, service):
    from django.db import IntegrityError, transaction

    request = file_for(buy("300.00"), service.user)
    with pytest.raises(IntegrityError), transaction.atomic():
        RefundRequest.objects.filter(pk=request.pk).update(consent_at=None)

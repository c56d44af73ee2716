"""Who is told of each refund event, and on which channels (policy, preferences, addresses)."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from notifications.models import CallTask, Notification, NotificationPreference
from notifications.services import notifications_send_pending
from orders.models import CourseType
from refunds.events import refund_event_record
from refunds.models import RefundEventKind, RefundPolicy
from refunds.services import refund_approve, refund_cancel, refund_reject, refund_return_for_info
from refunds.services.requests import refund_steps_escalate
from schoolops.models import StaffRole
from tests import factories
from tests.refunds.helpers import order_at, submit

from .helpers import rows

pytestmark = pytest.mark.django_db


def _submitted(student, homeroom, campus, *, course_type=CourseType.RECORDED, price="300.00"):
    return submit(order_at(student=student, homeroom=homeroom, campus=campus, price=price, course_type=course_type))


def test_a_submitted_regular_refund_tells_the_student_on_inbox_email_and_sms(channels, student, homeroom, campus):
    refund = _submitted(student, homeroom, campus)
    assert rows(refund_request=refund, event="refund.submitted") == [
        ("refund.submitted", "email", "王小明"),
        ("refund.submitted", "inbox", "王小明"),
        ("refund.submitted", "sms", "王小明"),
    ]


def test_the_first_approver_gets_a_task_in_the_inbox_and_by_email_when_they_have_one(
    channels, student, homeroom, campus
):
    homeroom.user.email = "sun@example.com"
    homeroom.user.save()
    refund = _submitted(student, homeroom, campus)
    assert rows(refund_request=refund, event="refund.assigned") == [
        ("refund.assigned", "email", "孙老师"),
        ("refund.assigned", "inbox", "孙老师"),
    ]
    body = Notification.objects.get(refund_request=refund, event="refund.assigned", channel="inbox").body
    assert "王小明" in body and refund.order.course.name in body
    assert f"/admin/refunds/refundrequest/{refund.pk}/" in body


def test_a_trial_policy_tells_the_student_by_inbox_and_email_only(channels, student, homeroom, campus):
    trial = RefundPolicy.objects.get(course_type=CourseType.TRIAL, course=None, is_active=True)
    RefundPolicy.objects.filter(course_type=CourseType.RECORDED, is_active=True).update(
        notify_channels=trial.notify_channels
    )
    refund = _submitted(student, homeroom, campus)
    assert {c for _e, c, _n in rows(refund_request=refund, event="refund.submitted")} == {"inbox", "email"}


def test_a_premium_course_adds_a_call_task_for_the_homeroom_teacher(
    channels, student, homeroom, campus, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        refund = _submitted(student, homeroom, campus, course_type=CourseType.PREMIUM, price="5000.00")
    assert {c for _e, c, _n in rows(refund_request=refund, event="refund.submitted")} == {"inbox", "email", "call_task"}
    task = CallTask.objects.get(refund_request=refund)
    assert task.assignee == homeroom
    assert student.user.phone in task.note
    assert task.done_at is None


def test_a_student_who_turned_sms_off_gets_no_sms_but_still_the_inbox(channels, student, homeroom, campus):
    NotificationPreference.objects.create(user=student.user, sms_enabled=False)
    refund = _submitted(student, homeroom, campus)
    assert {c for _e, c, _n in rows(refund_request=refund, event="refund.submitted")} == {"inbox", "email"}


def test_the_inbox_cannot_be_turned_off_even_with_every_other_channel_off(channels, student, homeroom, campus):
    NotificationPreference.objects.create(user=student.user, sms_enabled=False, email_enabled=False)
    refund = _submitted(student, homeroom, campus)
    assert {c for _e, c, _n in rows(refund_request=refund, event="refund.submitted")} == {"inbox"}


def test_wechat_only_where_the_student_has_an_openid(channels, student, other_student, homeroom, campus):
    RefundPolicy.objects.filter(course_type=CourseType.RECORDED, is_active=True).update(
        notify_channels=["inbox", "wechat"]
    )
    other_student.wechat_openid = "oOPENID123"
    other_student.save()
    without = _submitted(student, homeroom, campus)
    with_openid = _submitted(other_student, homeroom, campus)
    assert {c for _e, c, _n in rows(refund_request=without, event="refund.submitted")} == {"inbox"}
    assert {c for _e, c, _n in rows(refund_request=with_openid, event="refund.submitted")} == {"inbox", "wechat"}
    assert Notification.objects.get(refund_request=with_openid, channel="wechat").address == "oOPENID123"


def test_a_pool_tier_tells_every_active_finance_clerk_of_the_campus(
    channels, student, homeroom, supervisor, finance, campus, other_campus
):
    second = factories.make_staff(role=StaffRole.FINANCE, campus=campus, name="周会计")
    factories.make_staff(role=StaffRole.FINANCE, campus=other_campus, name="别校会计")
    gone = factories.make_staff(role=StaffRole.FINANCE, campus=campus, name="离职会计")
    gone.user.is_active = False
    gone.user.save()
    refund = _submitted(student, homeroom, campus, price="1000.00")
    refund_approve(request_id=refund.pk, actor=homeroom.user)
    refund_approve(request_id=refund.pk, actor=supervisor.user)
    names = {n for _e, c, n in rows(refund_request=refund, event="refund.assigned") if c == "inbox"}
    assert names == {"孙老师", "钱主管", finance.user.name, second.user.name}


def test_an_escalation_tells_the_old_assignee_and_the_new_one(channels, student, homeroom, supervisor, campus):
    refund = _submitted(student, homeroom, campus)
    refund_steps_escalate(now=timezone.now() + datetime.timedelta(days=3))
    assert {n for _e, _c, n in rows(refund_request=refund, event="refund.escalated")} == {"孙老师", "钱主管"}


def test_returned_for_information_tells_the_student_what_is_missing(channels, student, homeroom, campus):
    refund = _submitted(student, homeroom, campus)
    refund_return_for_info(request_id=refund.pk, actor=homeroom.user, missing="请上传工作调动证明。")
    message = Notification.objects.get(refund_request=refund, event="refund.returned", channel="inbox")
    assert "请上传工作调动证明。" in message.body


def test_approval_tells_the_amount_and_the_expected_arrival(channels, student, homeroom, campus):
    refund = _submitted(student, homeroom, campus)
    refund_approve(request_id=refund.pk, actor=homeroom.user)
    message = Notification.objects.get(refund_request=refund, event="refund.approved", channel="email")
    refund.refresh_from_db()
    assert f"{refund.approved_amount:,}" in message.body
    assert "微信" in message.body  # paid by WeChat Pay: back to the WeChat balance


def test_a_rejection_gives_the_reason_and_the_appeal_deadline(channels, student, homeroom, campus):
    refund = _submitted(student, homeroom, campus)
    refund_reject(request_id=refund.pk, actor=homeroom.user, reason="已超过退费期限。")
    message = Notification.objects.get(refund_request=refund, event="refund.rejected", channel="inbox")
    deadline = timezone.localdate() + datetime.timedelta(days=7)
    assert "已超过退费期限。" in message.body
    assert deadline.isoformat() in message.body


def test_cancelling_tells_the_student_only(channels, student, homeroom, campus):
    refund = _submitted(student, homeroom, campus)
    refund_cancel(request_id=refund.pk, student=student)
    assert {n for _e, _c, n in rows(refund_request=refund, event="refund.cancelled")} == {"王小明"}


def test_money_returned_tells_amount_channel_and_arrival(channels, student, homeroom, campus):
    refund = _submitted(student, homeroom, campus)
    today = timezone.localdate()
    refund_event_record(
        request=refund,
        kind=RefundEventKind.PAYOUT_SUCCEEDED,
        actor=None,
        at=timezone.now(),
        amount=Decimal("270.00"),
        channel="wechat",
        payout_no="PO1",
        arrival_earliest=today,
        arrival_latest=today,
    )
    message = Notification.objects.get(refund_request=refund, event="refund.payout_succeeded", channel="email")
    assert "270.00" in message.body
    assert "微信" in message.body
    assert today.isoformat() in message.body
    assert f"/refunds/{refund.request_no}/" in message.body
    sms = Notification.objects.get(refund_request=refund, event="refund.payout_succeeded", channel="sms")
    assert sms.fields["amount"] == "270.00"


def test_a_failed_payout_tells_finance_not_the_student(channels, student, homeroom, finance, campus):
    refund = _submitted(student, homeroom, campus)
    refund_event_record(
        request=refund,
        kind=RefundEventKind.PAYOUT_FAILED,
        actor=None,
        at=timezone.now(),
        amount=Decimal("270.00"),
        channel="wechat",
        payout_no="PO1",
        code="NOTENOUGH",
        message="余额不足",
    )
    assert rows(refund_request=refund, event="refund.payout_failed") == [("refund.payout_failed", "inbox", "李会计")]
    assert "余额不足" in Notification.objects.get(event="refund.payout_failed").body


def test_english_speakers_get_the_english_text(channels, student, homeroom, campus):
    NotificationPreference.objects.create(user=student.user, language="en")
    refund = _submitted(student, homeroom, campus)
    message = Notification.objects.get(refund_request=refund, event="refund.submitted", channel="inbox")
    assert message.language == "en"
    assert message.subject.startswith("Your refund request")


def test_the_beat_job_has_nothing_to_do_when_everything_was_sent(channels, student, homeroom, campus):
    assert notifications_send_pending(grace_seconds=0) == 0

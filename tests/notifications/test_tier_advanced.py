"""The student hears when her request passes one review step and goes to the next (refund.advanced),
and a contract course's messages say the reviewer sets the amount instead of "0.00" (issue 20)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.utils import timezone

from notifications.models import Notification, NotificationPreference, NotificationTemplate
from notifications.rendering import EVENTS, template_errors
from orders.models import CourseType
from refunds.models import ApprovalStep, RefundEvent, RefundEventKind, StepDecision
from refunds.services import refund_adjust_amount, refund_approve
from tests.refunds.helpers import order_at, submit

from .helpers import rows

pytestmark = pytest.mark.django_db

MIGRATION = importlib.import_module("notifications.migrations.0009_contract_amount_and_advanced")
SHIPPED = importlib.import_module("notifications.migrations.0003_default_templates")


def _submitted(student, homeroom, campus, *, price="1000.00", course_type=CourseType.RECORDED):
    return submit(order_at(student=student, homeroom=homeroom, campus=campus, price=price, course_type=course_type))


def test_passing_the_first_tier_tells_the_student_once_per_channel(channels, student, homeroom, supervisor, campus):
    refund = _submitted(student, homeroom, campus)  # 900.00: homeroom -> supervisor -> finance
    refund_approve(request_id=refund.pk, actor=homeroom.user)
    assert rows(refund_request=refund, event="refund.advanced") == [
        ("refund.advanced", "email", "王小明"),
        ("refund.advanced", "inbox", "王小明"),
        ("refund.advanced", "sms", "王小明"),
    ]
    event = RefundEvent.objects.get(request=refund, kind=RefundEventKind.ADVANCED)
    assert (event.payload["passed_tier"], event.payload["next_tier"]) == ("homeroom", "supervisor")
    # The next approver still gets the task; the student gets no staff message.
    assert rows(refund_request=refund, event="refund.assigned", recipient=supervisor.user) != []
    assert not Notification.objects.filter(refund_request=refund, event="refund.advanced").exclude(
        recipient=student.user
    )


def test_the_message_names_the_step_passed_the_next_one_and_its_deadline(channels, student, homeroom, campus):
    refund = _submitted(student, homeroom, campus)
    refund_approve(request_id=refund.pk, actor=homeroom.user)
    step = ApprovalStep.objects.get(request=refund, decision=StepDecision.PENDING)
    due = timezone.localtime(step.due_at).strftime("%Y-%m-%d %H:%M")
    inbox = Notification.objects.get(refund_request=refund, event="refund.advanced", channel="inbox")
    assert "已通过班主任初审" in inbox.body
    assert "进入教学主管复核" in inbox.body
    assert f"预计 {due} 前处理" in inbox.body
    assert "900.00" in inbox.body
    assert "无需您做任何操作" in inbox.body  # what happens next
    sms = Notification.objects.get(refund_request=refund, event="refund.advanced", channel="sms")
    assert "班主任初审" in sms.body and due in sms.body
    assert "http" not in sms.body


def test_a_student_who_reads_english_gets_it_in_english(channels, student, homeroom, campus):
    NotificationPreference.objects.create(user=student.user, language="en")
    refund = _submitted(student, homeroom, campus)
    refund_approve(request_id=refund.pk, actor=homeroom.user)
    inbox = Notification.objects.get(refund_request=refund, event="refund.advanced", channel="inbox")
    assert "passed the Homeroom teacher review" in inbox.body
    assert "Teaching supervisor review" in inbox.body


def test_the_last_approval_tells_approved_not_advanced(channels, student, homeroom, supervisor, finance, campus):
    refund = _submitted(student, homeroom, campus)
    for person in (homeroom, supervisor, finance):
        refund_approve(request_id=refund.pk, actor=person.user)
    assert RefundEvent.objects.filter(request=refund, kind=RefundEventKind.ADVANCED).count() == 2
    assert Notification.objects.filter(refund_request=refund, event="refund.approved", recipient=student.user)
    assert Notification.objects.filter(refund_request=refund, event="refund.advanced", channel="inbox").count() == 2


def test_a_small_request_that_passes_the_automatic_check_is_approved_without_an_advance(
    channels, student, homeroom, campus
):
    refund = _submitted(student, homeroom, campus, price="400.00")  # homeroom -> automatic check
    refund_approve(request_id=refund.pk, actor=homeroom.user)
    assert not RefundEvent.objects.filter(request=refund, kind=RefundEventKind.ADVANCED).exists()


# --- A contract course ----------------------------------------------------------------------------------


def test_a_contract_course_advance_says_the_reviewer_sets_the_amount(channels, student, homeroom, supervisor, campus):
    refund = _submitted(student, homeroom, campus, price="20000.00", course_type=CourseType.PREMIUM)
    refund_approve(request_id=refund.pk, actor=homeroom.user)
    texts = Notification.objects.filter(refund_request=refund, event="refund.advanced").values_list("body", flat=True)
    assert texts
    for body in texts:
        assert "0.00" not in body
    inbox = Notification.objects.get(refund_request=refund, event="refund.advanced", channel="inbox")
    assert "退费金额由审核人按合同确定" in inbox.body
    assigned = Notification.objects.get(
        refund_request=refund, event="refund.assigned", channel="inbox", recipient=supervisor.user
    )
    assert "0.00" not in assigned.body
    assert "按合同确定" in assigned.body


def test_once_the_reviewer_set_the_contract_amount_messages_name_it(channels, student, homeroom, supervisor, campus):
    refund = _submitted(student, homeroom, campus, price="20000.00", course_type=CourseType.PREMIUM)
    refund_adjust_amount(request_id=refund.pk, actor=homeroom.user, amount="12000.00", reason="按合同第5条")
    refund_approve(request_id=refund.pk, actor=homeroom.user)
    inbox = Notification.objects.get(refund_request=refund, event="refund.advanced", channel="inbox")
    assert "12,000.00" in inbox.body
    assert "按合同确定" not in inbox.body


# --- The shipped texts ----------------------------------------------------------------------------------


def test_every_advanced_template_is_valid_for_its_channel(shipped_data):
    templates = NotificationTemplate.objects.filter(event="refund.advanced")
    assert sorted(set(templates.values_list("channel", "language"))) == sorted(
        (channel, language)
        for channel in ("call_task", "email", "inbox", "sms", "webhook", "wechat")
        for language in ("en", "zh-hans")
    )
    for template in templates:
        assert (
            template_errors(
                event="refund.advanced", channel=template.channel, subject=template.subject, body=template.body
            )
            == {}
        ), (template.channel, template.language)
    assert "passed_tier" in EVENTS["refund.advanced"].placeholders


def test_the_reworded_contract_templates_are_valid(shipped_data):
    for event in MIGRATION.CONTRACT_WORDING:
        for template in NotificationTemplate.objects.filter(event=event):
            assert (
                template_errors(event=event, channel=template.channel, subject=template.subject, body=template.body)
                == {}
            ), (event, template.channel, template.language)


def test_the_migration_rewords_only_texts_still_as_shipped(shipped_data):
    shipped = {
        (event, channel, language): (subject, body)
        for event, channel, language, subject, body in SHIPPED.templates()
        if event == "refund.submitted"
    }
    untouched = NotificationTemplate.objects.get(event="refund.submitted", channel="inbox", language="zh-hans")
    edited = NotificationTemplate.objects.get(event="refund.submitted", channel="email", language="zh-hans")
    untouched.subject, untouched.body = shipped[("refund.submitted", "inbox", "zh-hans")]
    untouched.save()
    edited.body = "运营改过的文字：金额 {{ amount }} 元。"
    edited.save()
    MIGRATION.seed(apps, None)
    untouched.refresh_from_db()
    edited.refresh_from_db()
    assert "{% if by_contract %}" in untouched.body
    assert "申请金额 {{ amount }} 元" in untouched.body  # the regular wording is still there
    assert edited.body == "运营改过的文字：金额 {{ amount }} 元。"
    MIGRATION.unseed(apps, None)
    untouched.refresh_from_db()
    assert (untouched.subject, untouched.body) == shipped[("refund.submitted", "inbox", "zh-hans")]

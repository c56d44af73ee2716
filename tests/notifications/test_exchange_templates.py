"""The course exchange messages: every shipped text, on every channel, in both languages, reads
cleanly with its sample values; the refund counterpart's channels are mirrored; the approved text
reads right whether the student pays, is refunded or neither; the completion is told to the
student and both homeroom teachers, once."""

from __future__ import annotations

import datetime
import importlib
import re
from decimal import Decimal

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from exchanges.models import Exchange, ExchangePolicy, ExchangeStatus
from exchanges.notices import EXCHANGE_COMPLETED, STUDENT_MOVED, exchange_completed_notify
from exchanges.services import exchange_submit
from notifications.models import Notification, NotificationPreference, NotificationTemplate
from notifications.rendering import EVENTS, ROBOT_EVENTS, render, template_errors
from notifications.services.exchange_words import EXCHANGE_NEXT_STEPS
from notifications.services.recipients import CALL_TASK_EVENTS, STUDENT_EVENTS
from orders.models import CourseType, OrderStatus
from refunds.models import RefundStatus
from refunds.services import refund_approve
from schoolops.models import StaffRole
from tests import factories

pytestmark = pytest.mark.django_db

SEEDED = [
    *importlib.import_module("notifications.migrations.0008_exchange_templates").templates(),
    *importlib.import_module("notifications.migrations.0010_exchange_advanced").templates(),
]
EXCHANGE_EVENTS = sorted(key for key in EVENTS if key.startswith("exchange."))

DOUBLED = re.compile(r"[。，、；：！？]{2,}|[。！？][，、；]|）。，|，。|。\.|\.\.(?!\.)")
LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}|%\(\w+\)")
LATIN = re.compile(r"[A-Za-z]+")


def _problems(text: str, *, language: str, values: dict[str, str]) -> list[str]:
    problems = [f"doubled {m.group()!r}" for m in DOUBLED.finditer(text)]
    problems += [f"leftover {m.group()!r}" for m in LEFTOVER.finditer(text)]
    if language == "zh-hans":
        frame = text
        for value in sorted(values.values(), key=len, reverse=True):
            if value:
                frame = frame.replace(value, "")
        problems += [f"English {m.group()!r} in the Chinese text" for m in LATIN.finditer(frame)]
    return problems


def test_every_registered_exchange_event_has_seeded_texts_in_both_languages():
    seeded = {(event, language) for event, _channel, language, _subject, _body in SEEDED}
    wanted = {(event, language) for event in EXCHANGE_EVENTS for language in ("zh-hans", "en")}
    assert wanted == seeded
    assert {EXCHANGE_COMPLETED, STUDENT_MOVED} <= set(EXCHANGE_EVENTS)
    stored = set(NotificationTemplate.objects.filter(event__startswith="exchange.").values_list("event", "channel"))
    assert stored == {(event, channel) for event, channel, *_rest in SEEDED}


@pytest.mark.parametrize("event", [e for e in EXCHANGE_EVENTS if e not in (EXCHANGE_COMPLETED, STUDENT_MOVED)])
def test_each_exchange_event_has_the_channels_its_refund_counterpart_is_sent_on(event):
    kind = event.removeprefix("exchange.")
    channels = {channel for e, channel, language, *_rest in SEEDED if e == event and language == "zh-hans"}
    if kind in STUDENT_EVENTS:  # the student: her policy's channels, a call task on the events that ask for one
        expected = {"inbox", "email", "sms", "wechat"} | ({"call_task"} if kind in CALL_TASK_EVENTS else set())
    else:  # staff: inbox and e-mail, and the staff group robots where they may subscribe
        expected = {"inbox", "email"} | ({"webhook"} if event in ROBOT_EVENTS else set())
    assert channels == expected
    assert f"refund.{kind}" in EVENTS


def test_the_completion_is_told_on_the_channels_its_function_uses():
    completed = {channel for e, channel, *_rest in SEEDED if e == EXCHANGE_COMPLETED}
    moved = {channel for e, channel, *_rest in SEEDED if e == STUDENT_MOVED}
    assert (completed, moved) == ({"inbox", "email", "sms"}, {"inbox", "email"})


@pytest.mark.parametrize(
    ("event", "channel", "language", "subject", "body"), SEEDED, ids=[f"{e}/{c}/{lang}" for e, c, lang, *_ in SEEDED]
)
def test_each_seeded_text_reads_cleanly_with_its_sample_values(event, channel, language, subject, body):
    sample = EVENTS[event].sample
    assert template_errors(event=event, channel=channel, subject=subject, body=body) == {}
    text = render(subject, sample) + "\n" + render(body, sample)
    assert not _problems(text, language=language, values=sample), text
    stored = NotificationTemplate.objects.get(event=event, channel=channel, language=language)
    assert (stored.subject, stored.body) == (subject, body)
    if language == "zh-hans" and channel in ("inbox", "email"):
        assert "换课" in text
    if channel in ("inbox", "email"):
        assert sample["new_course"] in text


def _approved(case: str, language: str) -> dict[str, str]:
    sample = dict(EVENTS["exchange.approved"].sample)
    sample["next_steps"] = EXCHANGE_NEXT_STEPS[f"approved_{case}"][language]
    difference = {"pay": "需您补交 600.00 元", "refund": "退还您 600.00 元", "even": "无需补交或退还差额"}
    sample["difference"] = difference[case]
    sample["amount"] = "600.00" if case == "pay" else "0.00"
    sample["deadline"] = "2026-03-03 10:30" if case == "pay" else ""
    return sample


@pytest.mark.parametrize("case", ["pay", "refund", "even"])
@pytest.mark.parametrize("language", ["zh-hans", "en"])
@pytest.mark.parametrize("channel", ["inbox", "sms", "wechat", "call_task"])
def test_the_approved_text_reads_right_whether_the_student_pays_is_refunded_or_neither(case, language, channel):
    template = NotificationTemplate.objects.get(event="exchange.approved", channel=channel, language=language)
    context = _approved(case, language)
    text = render(template.subject, context) + "\n" + render(template.body, context)
    assert not _problems(text, language=language, values=context), text
    asks_to_pay = "2026-03-03 10:30" in text and "600.00" in text
    assert asks_to_pay == (case == "pay"), text
    if case != "pay":
        assert context["difference"] in text, text
        assert not re.search(r"(?<![\d,])0\.00", text), text


@pytest.mark.parametrize(
    "reason",
    [
        "换课已完成。",
        "差额未按时支付，换课申请已失效。",
        "学员在支付差额前撤回了换课申请。",
        "Course exchange completed.",
    ],
)
@pytest.mark.parametrize("channel", ["inbox", "sms", "wechat"])
def test_the_closed_text_reads_right_for_completion_lapse_and_withdrawal(reason, channel):
    for language in ("zh-hans", "en"):
        template = NotificationTemplate.objects.get(event="exchange.closed", channel=channel, language=language)
        context = {**EVENTS["exchange.closed"].sample, "reason": reason}
        text = render(template.subject, context) + "\n" + render(template.body, context)
        assert reason in text
        assert not _problems(text, language=language, values=context), text


# --- The completion, told ------------------------------------------------------------------------


@pytest.fixture
def exchange_policy(db):
    return ExchangePolicy.objects.create(
        name="录播课换课", course_type=CourseType.RECORDED, target_campus="any", window_days=30
    )


@pytest.fixture
def service_staff(campus):
    return factories.make_staff(role=StaffRole.SERVICE, campus=campus, name="郑客服")


def _future_course(campus, price="3000.00"):
    """A course starting next week: it costs its full price (no lesson of it has been held)."""
    return factories.make_course(campus=campus, price=price, starts_at=timezone.now() + datetime.timedelta(days=7))


def _with_email(staff, address):
    staff.user.email = address
    staff.user.save(update_fields=["email"])
    return staff


def _completed_exchange(*, student, order, target, service_staff, supervisor) -> Exchange:
    """An exchange of ``order`` for ``target`` at the same price, submitted and approved: with
    nothing to move it completes on approval (the new order and its enrollment made)."""
    exchange = exchange_submit(
        student=student,
        order_no=order.order_no,
        target_code=target.code,
        reason="time_conflict",
        details="工作调整，想换到周末班。",
    )
    request_id = exchange.request_id
    refund_approve(request_id=request_id, actor=service_staff.user)
    refund_approve(request_id=request_id, actor=supervisor.user)
    exchange.refresh_from_db()
    assert exchange.status == ExchangeStatus.COMPLETED, exchange.get_status_display()
    assert exchange.request.status == RefundStatus.CLOSED
    return exchange


def _rows(exchange: Exchange) -> list[tuple[str, str, str]]:
    return sorted(
        Notification.objects.filter(dedupe_key__startswith=f"exchange-completed:{exchange.pk}").values_list(
            "event", "channel", "recipient_name"
        )
    )


def test_the_completion_tells_the_student_and_both_homeroom_teachers_once(
    channels, student, homeroom, other_campus, other_campus_homeroom, supervisor, service_staff, exchange_policy
):
    _with_email(homeroom, "sun@example.com")
    _with_email(other_campus_homeroom, "wu@example.com")
    old_course = factories.make_course(campus=homeroom.campus, price="3000.00")
    order = factories.make_order(student=student, course=old_course, homeroom_teacher=homeroom)
    target = _future_course(other_campus)  # its campus's teacher takes her
    exchange = _completed_exchange(
        student=student, order=order, target=target, service_staff=service_staff, supervisor=supervisor
    )
    new_order = exchange.new_order
    assert new_order.enrollment.homeroom_teacher == other_campus_homeroom
    order.refresh_from_db()
    assert order.status == OrderStatus.EXCHANGED
    at = exchange.completed_at

    # The completion itself told them (exchanges.services.exchange_complete calls the notice).
    assert _rows(exchange) == [
        (EXCHANGE_COMPLETED, "email", "王小明"),
        (EXCHANGE_COMPLETED, "inbox", "王小明"),
        (EXCHANGE_COMPLETED, "sms", "王小明"),
        (STUDENT_MOVED, "email", "吴老师"),
        (STUDENT_MOVED, "email", "孙老师"),
        (STUDENT_MOVED, "inbox", "吴老师"),
        (STUDENT_MOVED, "inbox", "孙老师"),
    ]
    # The default language is Chinese: the student reads the new course, the new order and the way back.
    mail = Notification.objects.get(event=EXCHANGE_COMPLETED, channel="inbox")
    assert mail.language == "zh-hans" and mail.refund_request_id == exchange.request_id
    for text in (old_course.name, target.name, new_order.order_no, order.order_no):
        assert text in mail.body
    try:  # the student's exchange page, or her personal center until that page exists
        page = reverse("portal:exchange", args=[exchange.request.request_no])
    except NoReverseMatch:
        page = reverse("portal:home")
    assert "确认并评价" in mail.body and mail.link.endswith(page)
    assert mail.link in mail.body
    sms = Notification.objects.get(event=EXCHANGE_COMPLETED, channel="sms")
    assert new_order.order_no in sms.body and "http" not in sms.body
    # Each teacher reads that she moved, with the next step of their side and their enrollment's page.
    old_side = Notification.objects.get(event=STUDENT_MOVED, channel="inbox", recipient_id=homeroom.user_id)
    new_side = Notification.objects.get(
        event=STUDENT_MOVED, channel="inbox", recipient_id=other_campus_homeroom.user_id
    )
    for note in (old_side, new_side):
        assert "王小明" in note.body and old_course.name in note.body and target.name in note.body
    assert f"/admin/students/enrollment/{order.enrollment.pk}/change/" in old_side.body
    assert f"/admin/students/enrollment/{new_order.enrollment.pk}/change/" in new_side.body
    assert "新课程的班主任跟进" in old_side.body and "欢迎其加入新课程" in new_side.body

    assert exchange_completed_notify(exchange=exchange, old_order=order, new_order=new_order, at=at) == 0
    assert Notification.objects.filter(dedupe_key__startswith=f"exchange-completed:{exchange.pk}").count() == 7


def test_one_teacher_of_both_courses_is_told_once_in_her_language(
    channels, student, homeroom, supervisor, service_staff, exchange_policy
):
    NotificationPreference.objects.create(user=homeroom.user, language="en")
    old_course = factories.make_course(campus=homeroom.campus, price="3000.00")
    order = factories.make_order(student=student, course=old_course, homeroom_teacher=homeroom)
    target = _future_course(homeroom.campus)  # same campus: she keeps her teacher
    exchange = _completed_exchange(
        student=student, order=order, target=target, service_staff=service_staff, supervisor=supervisor
    )
    new_order = exchange.new_order
    assert new_order.enrollment.homeroom_teacher == homeroom

    exchange_completed_notify(exchange=exchange, old_order=order, new_order=new_order, at=timezone.now())

    told = Notification.objects.filter(event=STUDENT_MOVED)
    assert list(told.values_list("channel", "recipient_name", "language")) == [("inbox", "孙老师", "en")]
    assert "You remain the student's homeroom teacher" in told.get().body
    student_text = Notification.objects.get(event=EXCHANGE_COMPLETED, channel="inbox").body
    with translation.override("zh-hans"):  # she reads the default language: nothing moved
        assert gettext("no difference to pay or refund") in student_text


def test_the_exchange_events_of_the_request_are_now_told_in_their_own_words(
    channels, student, homeroom, supervisor, service_staff, exchange_policy
):
    order = factories.make_order(
        student=student,
        course=factories.make_course(campus=homeroom.campus, price="3000.00"),
        homeroom_teacher=homeroom,
    )
    target = _future_course(homeroom.campus, price="3600.00")
    exchange = exchange_submit(
        student=student,
        order_no=order.order_no,
        target_code=target.code,
        reason="time_conflict",
        details="工作调整，想换到周末班。",
    )
    assert exchange.pay_amount > Decimal("0")
    submitted = Notification.objects.get(event="exchange.submitted", channel="inbox")
    assert target.name in submitted.body and order.course.name in submitted.body and "换课申请" in submitted.body
    assert Notification.objects.filter(event="exchange.assigned", recipient_id=service_staff.user_id).exists()

    refund_approve(request_id=exchange.request_id, actor=service_staff.user)
    # Customer service passed it: she hears it went on to the supervisor, in the exchange's words.
    advanced = Notification.objects.filter(event="exchange.advanced", recipient_id=student.user_id)
    assert sorted(advanced.values_list("channel", flat=True)) == ["email", "inbox", "sms"]
    advanced_text = advanced.get(channel="inbox").body
    assert target.name in advanced_text and "换课申请" in advanced_text and "进入教学主管" in advanced_text
    assert "原课程照常学习" in advanced_text
    refund_approve(request_id=exchange.request_id, actor=supervisor.user)
    exchange.refresh_from_db()
    assert exchange.status == ExchangeStatus.AWAITING_PAYMENT
    approved = Notification.objects.get(event="exchange.approved", channel="inbox").body
    assert f"{timezone.localtime(exchange.pay_deadline):%Y-%m-%d %H:%M}" in approved
    assert f"{exchange.pay_amount:,.2f}" in approved

"""The clock's side of student service (seed 003): each trigger at its boundary, once only."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from notifications.models import Notification
from orders.models import OrderStatus
from service.models import LessonFeedback, ServiceSettings, ServiceTask, TaskKind, TaskStatus
from service.planner import follow_up_trigger, service_plan
from tests import factories

pytestmark = pytest.mark.django_db

H = datetime.timedelta(hours=1)
M = datetime.timedelta(minutes=1)
D = datetime.timedelta(days=1)


def at(text: str) -> datetime.datetime:
    """A moment on the school's clock (Asia/Shanghai)."""
    return datetime.datetime.fromisoformat(text).replace(tzinfo=timezone.get_default_timezone())


def tasks(kind: str) -> list[ServiceTask]:
    return list(ServiceTask.objects.filter(kind=kind).order_by("pk"))


@pytest.fixture
def served(campus, homeroom, student, shipped_data):
    """A factory: her order of a course starting ``starts`` lasting ``days``, paid at ``paid``."""

    def make(*, starts: datetime.datetime, days: int = 90, paid: datetime.datetime | None = None, **enrollment):
        course = factories.make_course(campus=campus, starts_at=starts, days=days)
        return factories.make_order(
            student=student, course=course, homeroom_teacher=homeroom, paid_at=paid or starts - 3 * D, **enrollment
        )

    return make


def test_first_lesson_reminder_from_an_hour_before(served, student):
    order = served(starts=at("2026-12-10 19:30"))
    service_plan(now=at("2026-12-10 18:29"))  # 61 minutes before
    assert tasks(TaskKind.LESSON_REMINDER) == []
    assert not Notification.objects.filter(event="service.lesson_reminder").exists()

    service_plan(now=at("2026-12-10 18:31"))  # 59 minutes before
    [task] = tasks(TaskKind.LESSON_REMINDER)
    assert task.enrollment == order.enrollment and task.student == student
    assert task.due_at == at("2026-12-10 20:00")  # the teacher checks attendance once it runs
    sent = Notification.objects.filter(event="service.lesson_reminder")
    assert sorted(sent.values_list("channel", flat=True)) == ["email", "inbox", "sms"]
    assert all(n.recipient_id == student.user_id for n in sent)

    service_plan(now=at("2026-12-10 18:45"))  # again: nothing new
    assert len(tasks(TaskKind.LESSON_REMINDER)) == 1
    assert sent.count() == 3


def test_the_reminder_lead_is_the_campus_setting(served, campus):
    ServiceSettings.objects.create(campus=campus, reminder_minutes=30)
    served(starts=at("2026-12-10 19:30"))
    service_plan(now=at("2026-12-10 18:59"))
    assert tasks(TaskKind.LESSON_REMINDER) == []
    service_plan(now=at("2026-12-10 19:01"))
    assert len(tasks(TaskKind.LESSON_REMINDER)) == 1


def test_seven_days_without_learning_makes_one_at_risk_task(served, homeroom):
    last = at("2026-12-01 21:00")
    order = served(starts=at("2026-11-20 09:00"), last_learning_at=last, lessons_consumed=6)
    service_plan(now=last + 6 * D + 23 * H + 59 * M)  # day 6
    assert tasks(TaskKind.INACTIVE) == []

    service_plan(now=last + 7 * D)  # day 7
    [task] = tasks(TaskKind.INACTIVE)
    assert task.teacher == homeroom
    assert task.trigger == "20261201"
    assert task.facts["days_inactive"] == 7
    assert task.facts["completion"] == "20"  # 6 of 30 lessons
    assert task.facts["last_learning_at"] == "2026-12-01 21:00"
    alert = Notification.objects.get(event="service.at_risk", channel="inbox")
    assert alert.recipient_id == homeroom.user_id

    service_plan(now=last + 8 * D)  # still inactive: the same episode, no second task
    assert len(tasks(TaskKind.INACTIVE)) == 1
    assert Notification.objects.filter(event="service.at_risk", channel="inbox").count() == 1

    # She learns again, then stops again: a new episode, a new task.
    order.enrollment.last_learning_at = last + 9 * D
    order.enrollment.save()
    service_plan(now=last + 15 * D)
    assert len(tasks(TaskKind.INACTIVE)) == 1
    service_plan(now=last + 16 * D)
    assert [t.trigger for t in tasks(TaskKind.INACTIVE)] == ["20261201", "20261210"]


def test_the_inactive_episode_is_named_by_the_school_day(served):
    # 23:30 in Shanghai is 15:30 UTC the same day, 00:30 is 16:30 UTC the day before.
    served(starts=at("2026-11-20 09:00"), last_learning_at=at("2026-12-01 23:30"))
    served(starts=at("2026-11-20 09:00"), last_learning_at=at("2026-12-02 00:30"))
    service_plan(now=at("2026-12-09 23:59"))
    assert sorted(t.trigger for t in tasks(TaskKind.INACTIVE)) == ["20261201", "20261202"]
    service_plan(now=at("2026-12-10 00:01"))  # across the day line: still one each
    assert len(tasks(TaskKind.INACTIVE)) == 2


def test_a_student_who_never_learned_counts_from_the_course_start(served, campus):
    ServiceSettings.objects.create(campus=campus, inactive_days=10)
    served(starts=at("2026-12-01 09:00"), paid=at("2026-11-25 10:00"))
    service_plan(now=at("2026-12-11 08:59"))
    assert tasks(TaskKind.INACTIVE) == []
    service_plan(now=at("2026-12-11 09:00"))
    [task] = tasks(TaskKind.INACTIVE)
    assert task.facts["last_learning_at"] == ""


def test_no_at_risk_task_before_the_course_starts_or_after_it_ends(served):
    served(starts=at("2026-12-20 09:00"), paid=at("2026-11-01 10:00"))
    served(starts=at("2026-10-01 09:00"), days=30, last_learning_at=at("2026-10-05 09:00"))
    service_plan(now=at("2026-12-10 12:00"))
    assert tasks(TaskKind.INACTIVE) == []


@pytest.mark.parametrize(
    ("days", "elapsed", "expected"),
    [
        (20, 9.9, None),
        (20, 10, "mid"),  # a short course: once, mid-course
        (31, 16, "mid"),
        (60, 13.9, None),
        (60, 14, "c1"),  # between one and three months: the campus cadence (14 days)
        (60, 29, "c2"),
        (90, 29.9, None),
        (90, 30, "m1"),  # three months or more: monthly
        (120, 61, "m2"),
    ],
)
def test_follow_up_cadence_by_course_length(campus, days, elapsed, expected):
    course = factories.make_course(campus=campus, starts_at=at("2026-09-01 09:00"), days=days)
    now = course.starts_at + datetime.timedelta(days=elapsed)
    found = follow_up_trigger(course, ServiceSettings(campus=campus), now)
    assert (found[0] if found else None) == expected


def test_follow_ups_are_made_once_per_step(served):
    served(starts=at("2026-09-01 09:00"), days=120, last_learning_at=at("2026-12-01 10:00"))
    service_plan(now=at("2026-10-01 09:00"))
    service_plan(now=at("2026-10-05 09:00"))
    [first] = tasks(TaskKind.FOLLOW_UP)
    assert first.trigger == "m1"
    assert first.due_at == at("2026-10-04 09:00")  # the step plus the campus's three days
    service_plan(now=at("2026-10-31 09:00"))
    assert [t.trigger for t in tasks(TaskKind.FOLLOW_UP)] == ["m1", "m2"]


def test_renewal_talk_opens_a_month_before_the_end(served):
    order = served(starts=at("2026-09-01 09:00"), days=120, lessons_consumed=24, homework_submitted=20)
    ends = order.course.ends_at
    service_plan(now=ends - 30 * D - M)
    assert tasks(TaskKind.RENEWAL) == []
    service_plan(now=ends - 30 * D)
    [task] = tasks(TaskKind.RENEWAL)
    assert task.due_at == ends - 27 * D
    assert task.facts["completion"] == "80"
    assert task.facts["homework_rate"] == "83"  # 20 homework over 24 lessons had
    service_plan(now=ends - 2 * D)
    assert len(tasks(TaskKind.RENEWAL)) == 1


def test_the_first_contact_backfill_and_its_deadline(served, supervisor):
    served(starts=at("2026-12-20 09:00"), paid=at("2026-12-04 10:00"))
    service_plan(now=at("2026-12-05 09:59"))  # 23:59 after payment
    [task] = tasks(TaskKind.FIRST_CONTACT)
    assert task.due_at == at("2026-12-05 10:00")
    assert task.escalated_at is None


def test_overdue_tasks_are_told_to_the_supervisor_once(served, campus, supervisor):
    ServiceSettings.objects.create(campus=campus, escalate_after_hours=0)
    served(starts=at("2026-12-20 09:00"), paid=at("2026-12-04 10:00"))
    service_plan(now=at("2026-12-05 09:59"))  # 23:59 after payment: not yet late
    assert not ServiceTask.objects.filter(escalated_at__isnull=False).exists()
    assert not Notification.objects.filter(event="service.tasks_overdue").exists()

    service_plan(now=at("2026-12-05 10:01"))  # 24:01 after payment
    [task] = tasks(TaskKind.FIRST_CONTACT)
    assert task.escalated_at == at("2026-12-05 10:01")
    told = Notification.objects.filter(event="service.tasks_overdue", channel="inbox")
    assert list(told.values_list("recipient_id", flat=True)) == [supervisor.user_id]

    service_plan(now=at("2026-12-05 12:00"))
    assert told.count() == 1


def test_tasks_of_a_student_who_left_are_closed(served):
    order = served(starts=at("2026-09-01 09:00"), days=120, last_learning_at=at("2026-09-02 09:00"))
    service_plan(now=at("2026-10-01 09:00"))
    assert ServiceTask.objects.filter(status=TaskStatus.OPEN).count() == 2  # inactive + follow-up
    order.refunded_total = order.amount_paid
    order.status = OrderStatus.REFUNDED
    order.save()
    result = service_plan(now=at("2026-10-01 09:05"))
    assert result.closed == 2
    assert not ServiceTask.objects.filter(status=TaskStatus.OPEN).exists()
    assert set(ServiceTask.objects.values_list("closed_reason", flat=True)) != {""}
    service_plan(now=at("2026-11-01 09:00"))  # and no new ones for her
    assert not ServiceTask.objects.filter(status=TaskStatus.OPEN).exists()


def test_a_partly_refunded_student_is_still_served(served):
    order = served(starts=at("2026-09-01 09:00"), days=120, last_learning_at=at("2026-09-02 09:00"))
    order.refunded_total = Decimal("100.00")
    order.status = OrderStatus.PARTIALLY_REFUNDED
    order.save()
    service_plan(now=at("2026-10-01 09:00"))
    assert len(tasks(TaskKind.INACTIVE)) == 1


def test_the_first_lesson_question_is_asked_once_after_the_lesson(served, student):
    order = served(starts=at("2026-12-10 19:00"))
    service_plan(now=at("2026-12-10 20:59"))
    assert not LessonFeedback.objects.exists()
    service_plan(now=at("2026-12-10 21:00"))
    feedback = LessonFeedback.objects.get()
    assert feedback.enrollment == order.enrollment and feedback.answer == ""
    asked = Notification.objects.filter(event="service.feedback_asked", recipient=student.user)
    assert asked.count() == 3
    assert f"/orders/{order.order_no}/feedback/" in asked.get(channel="inbox").body
    service_plan(now=at("2026-12-11 09:00"))
    assert LessonFeedback.objects.count() == 1 and asked.count() == 3


def test_a_bad_first_lesson_makes_a_follow_up(served, homeroom):
    from service.services import feedback_answer

    order = served(starts=at("2026-12-10 19:00"))
    feedback_answer(enrollment=order.enrollment, answer="bad", comment="听不清", at=at("2026-12-10 21:30"))
    [task] = tasks(TaskKind.FEEDBACK)
    assert task.teacher == homeroom and task.due_at == at("2026-12-11 21:30")
    assert task.facts["comment"] == "听不清"
    assert Notification.objects.filter(event="service.task_new", recipient=homeroom.user).exists()


def test_a_repeated_run_makes_nothing_new(served):
    for n in range(3):
        served(starts=at("2026-09-01 09:00"), days=120 + n, last_learning_at=at("2026-09-02 09:00"))
    service_plan(now=at("2026-10-01 09:00"))
    count = ServiceTask.objects.count()
    assert count == 6
    second = service_plan(now=at("2026-10-01 09:00"))
    assert ServiceTask.objects.count() == count
    assert sum(second.created.values()) == 0


def test_her_tasks_close_once_the_whole_order_is_refunded(student, homeroom, campus, finance, default_refund_policies):
    from orders.models import PaymentChannel
    from payments.services import payout_record_transfer
    from service.services import first_contact_create
    from tests.payments.helpers import approved_request

    request, _payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=PaymentChannel.CARD)
    task = first_contact_create(enrollment=request.order.enrollment, at=timezone.now())
    assert task is not None and task.status == TaskStatus.OPEN
    payout_record_transfer(
        request_id=request.pk, actor=finance.user, bank_reference="BK20261204001", transferred_on=timezone.localdate()
    )
    request.order.refresh_from_db()
    task.refresh_from_db()
    # 90% came back: she still studies, her task stays.
    assert request.order.status == OrderStatus.PARTIALLY_REFUNDED
    assert task.status == TaskStatus.OPEN

    # The rest comes back (a second request's payout): the writer closes it in that transaction.
    from django.db import transaction

    from refunds.events import refund_event_record

    with transaction.atomic():
        request.order.refunded_total = request.order.amount_paid
        request.order.status = OrderStatus.REFUNDED
        request.order.save()
        refund_event_record(request=request, kind="payout_succeeded", actor=None, at=timezone.now())
        task.refresh_from_db()
        assert task.status == TaskStatus.CLOSED and task.closed_reason


def test_the_supervisor_gets_one_digest_for_all_her_teachers(campus, supervisor, homeroom, student, shipped_data):
    ServiceSettings.objects.create(campus=campus, escalate_after_hours=0)
    second = factories.make_staff(role="homeroom", campus=campus, manager=supervisor, name="周老师")
    course = factories.make_course(campus=campus, starts_at=at("2026-12-20 09:00"))
    for teacher in (homeroom, second, second):
        buyer = factories.make_student(campus=campus)
        factories.make_order(student=buyer, course=course, homeroom_teacher=teacher, paid_at=at("2026-12-04 10:00"))
    service_plan(now=at("2026-12-05 10:01"))
    [digest] = Notification.objects.filter(event="service.tasks_overdue", channel="inbox")
    assert digest.recipient_id == supervisor.user_id
    assert "3" in digest.subject
    assert "孙老师" in digest.body and "周老师" in digest.body
    assert ServiceTask.objects.filter(escalated_at__isnull=False).count() == 3

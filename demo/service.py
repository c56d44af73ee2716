"""The demo school's student service: what a homeroom teacher finds on her workbench in
``make run`` - new students to call, a first lesson within the hour, students who stopped
learning, a renewal talk due - and a week of work behind it for the service metrics.

Everything goes through the real services: the order intake (whose writer makes the first-contact
tasks and records a referral), the learning intake, the clock (``service_plan``) run a week ago
and now, and ``task_complete`` / ``feedback_answer`` for the work done.
"""

from __future__ import annotations

import datetime
import random
import zlib
from decimal import Decimal

from django.utils import timezone

from orders.models import Course, CourseType, PaymentChannel
from schoolops.models import Campus, Staff, StaffRole
from service.models import ContactChannel, FeedbackAnswer, RenewalOutcome, ServiceTask, TaskKind, TaskStatus
from service.planner import service_plan
from service.services import Outcome, ServiceError, feedback_answer, referral_code_for, task_complete
from students.models import Enrollment, LearningEventKind, LearningEventSource, Student
from students.services import LearningEventInput, OrderInput, StudentInput, learning_events_record, orders_record

NEW_STUDENTS = [("林", "可欣"), ("黄", "子涵"), ("郭", "天佑")]
TONIGHT = [("何", "思远"), ("罗", "梦琪")]
ENDING = [("梁", "嘉豪"), ("谢", "雨桐"), ("宋", "明轩"), ("唐", "若曦")]


def _course(campus: Campus, code: str, name: str, *, starts: datetime.datetime, days: int, lessons: int) -> Course:
    course, _ = Course.objects.get_or_create(
        code=code,
        defaults={
            "name": name,
            "course_type": CourseType.LIVE,
            "campus": campus,
            "lessons": lessons,
            "price": Decimal("2800.00"),
            "starts_at": starts,
            "ends_at": starts + datetime.timedelta(days=days),
        },
    )
    return course


def _orders(
    prefix: str,
    people: list[tuple[str, str]],
    course: Course,
    teacher: Staff,
    *,
    paid: list[datetime.datetime],
    **extra,
) -> list[str]:
    """New students' orders through the order intake (one batch, as the order system sends them)."""
    batch = []
    for n, ((surname, given), paid_at) in enumerate(zip(people, paid, strict=True), start=1):
        number = f"{prefix}{n:02d}"
        batch.append(
            OrderInput(
                order_no=f"SVC{number}",
                status="paid",
                student=StudentInput(
                    student_no=f"SV{number}",
                    name=surname + given,
                    phone=f"139{zlib.crc32(number.encode()) % 10**8:08d}",
                    email=f"sv{number.lower()}@demo.schoolops",
                    wechat_openid=None,
                ),
                course_code=course.code,
                amount_paid=course.price,
                paid_at=paid_at,
                channel=PaymentChannel.WECHAT,
                gateway_trade_no=f"SVCWX{number}{course.pk:08d}",
                homeroom_teacher=teacher.user.username,
                **extra,
            )
        )
    orders_record(orders=batch, source="demo")
    return [order.order_no for order in batch]


def _learned(order_no: str, *, lessons: int, last: datetime.datetime, score: Decimal | None = None) -> None:
    """Her lessons up to ``last`` (one a day back from it), and a test, through the learning intake."""
    enrollment = Enrollment.objects.select_related("order__student").get(order__order_no=order_no)

    def event(suffix: str, kind: str, lesson: int | None, at: datetime.datetime, **extra) -> LearningEventInput:
        return LearningEventInput(
            event_id=f"{order_no}-{suffix}",
            kind=kind,
            student_no=enrollment.order.student.student_no,
            order_no=order_no,
            lesson_no=lesson,
            seconds=2400 if lesson else 0,
            completed=True,
            rating=None,
            occurred_at=at,
            **extra,
        )

    events = [
        event(f"L{n}", LearningEventKind.LESSON_WATCHED, n, last - datetime.timedelta(days=lessons - n))
        for n in range(1, lessons + 1)
    ]
    if score is not None:
        events.append(event("T1", LearningEventKind.TEST_SCORED, None, last, score=score))
    learning_events_record(events=events, source=LearningEventSource.API)


def _work_last_week(campus: Campus, now: datetime.datetime, rng: random.Random) -> int:
    """The work done so far: tasks older than a week all done (a few late); last week's mostly
    done, some late, some still open (overdue on today's workbench). The metrics have weeks."""
    done = 0
    week_ago = now - datetime.timedelta(days=7)
    tasks = ServiceTask.objects.filter(
        campus=campus, status=TaskStatus.OPEN, created_at__lt=now - datetime.timedelta(days=1)
    )
    for task in tasks.select_related("teacher__user").order_by("pk"):
        roll = rng.random()
        if task.created_at >= week_ago and roll < 0.2:
            continue  # still open
        late = roll > 0.85
        if late:
            at = task.due_at + datetime.timedelta(hours=rng.randint(2, 30))
        else:
            at = task.created_at + (task.due_at - task.created_at) * rng.uniform(0.1, 0.9)
        at = min(at, now - datetime.timedelta(minutes=30))
        outcomes: dict[str, Outcome] = {
            TaskKind.FIRST_CONTACT: Outcome(
                channel=ContactChannel.PHONE,
                minutes=rng.randint(3, 6),
                student_goal="三个月内通过考试",
                student_level="零基础",
                next_step="周末前加微信发学习计划",
            ),
            TaskKind.LESSON_REMINDER: Outcome(attended=rng.random() > 0.2),
            TaskKind.RENEWAL: Outcome(
                channel=ContactChannel.PHONE,
                minutes=8,
                renewal_outcome=RenewalOutcome.RENEWED if roll < 0.5 else RenewalOutcome.THINKING,
            ),
        }
        outcome = outcomes.get(
            task.kind, Outcome(channel=ContactChannel.WECHAT, minutes=6, notes="问了学习进度，约了下周一次答疑。")
        )
        try:
            task_complete(task_id=task.pk, by=task.teacher.user, outcome=outcome, at=at)
            done += 1
        except ServiceError:
            continue
    return done


def seed_service(campus: Campus, prefix: str, staff: dict[str, list[Staff]], now: datetime.datetime) -> str:
    """The campus's student service (once); returns a line for the seed's report."""
    if Course.objects.filter(code=f"{prefix}-svc-ending").exists():
        return f"  student service at {campus.name}: already seeded"
    rng = random.Random(f"service-{campus.code}")  # noqa: S311 - demo data
    teacher = staff[StaffRole.HOMEROOM][0]
    real_now = timezone.now()
    week_ago = now - datetime.timedelta(days=7)

    # A week ago, the clock made that week's tasks; most were worked since.
    service_plan(now=week_ago)
    done = _work_last_week(campus, now, rng)

    # A course whose first lesson is within the hour, two students in it, paid last week.
    tonight = _course(
        campus,
        f"{prefix}-svc-tonight",
        "Python 入门直播课（今晚开课）",
        starts=real_now + datetime.timedelta(minutes=50),
        days=28,
        lessons=12,
    )
    _orders(
        f"{prefix.upper()}T",
        TONIGHT,
        tonight,
        teacher,
        paid=[now - datetime.timedelta(days=5, hours=h) for h in (2, 7)],
    )

    # A course ending in a fortnight: the renewal talk is due; two of its students stopped learning.
    ending = _course(
        campus,
        f"{prefix}-svc-ending",
        "高考数学冲刺直播班",
        starts=now - datetime.timedelta(days=75),
        days=90,
        lessons=30,
    )
    ending_orders = _orders(
        f"{prefix.upper()}E",
        ENDING,
        ending,
        teacher,
        paid=[now - datetime.timedelta(days=80 + n) for n in range(len(ENDING))],
    )
    for n, order_no in enumerate(ending_orders):
        inactive = n < 2
        last = now - datetime.timedelta(days=9 + n) if inactive else now - datetime.timedelta(hours=20 + n)
        score = [Decimal("52.50"), Decimal("71.00"), Decimal("88.50"), Decimal("93.00")][n]
        _learned(order_no, lessons=14 + 4 * n, last=last, score=score)

    # New students to call: paid in the last hours (one named a student's referral code).
    upcoming = Course.objects.get(code=f"{prefix}-live-next")
    referrer = Student.objects.filter(campus=campus, orders__isnull=False).order_by("student_no").first()
    code = referral_code_for(student=referrer).code if referrer else ""
    paid = [now - datetime.timedelta(hours=h) for h in (1, 3, 5)]
    _orders(f"{prefix.upper()}N", NEW_STUDENTS[:1], upcoming, teacher, paid=paid[:1], referral_code=code)
    _orders(f"{prefix.upper()}M", NEW_STUDENTS[1:], upcoming, teacher, paid=paid[1:])

    # How was the first lesson: answers from some students of the running live course.
    live = Enrollment.objects.filter(order__course__code=f"{prefix}-live").order_by("pk")[:3]
    answers = [FeedbackAnswer.GOOD, FeedbackAnswer.OKAY, FeedbackAnswer.BAD]
    for enrollment, answer in zip(live, answers, strict=False):
        comment = "老师讲得太快，回放有时候打不开。" if answer == FeedbackAnswer.BAD else ""
        feedback_answer(
            enrollment=enrollment, answer=answer, comment=comment, at=week_ago + datetime.timedelta(hours=3)
        )

    # And now: the clock makes today's tasks (the reminder, the inactive students, the renewals).
    result = service_plan(now=real_now)
    today = ServiceTask.objects.filter(campus=campus, teacher=teacher, status=TaskStatus.OPEN).count()
    return (
        f"  student service at {campus.name}: {done} tasks done so far; {teacher.user.username} has {today} open"
        f" ({sum(result.created.values())} made by the clock now)"
    )

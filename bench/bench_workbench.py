"""The homeroom teacher's workbench at a school's scale: the task list (each tab), a task's page and
the student page, as a teacher with 300 students and as her supervisor.

Run: ``DJANGO_DEBUG=1 PYTHONPATH=. .venv/bin/python bench/bench_workbench.py [--runs 30]``. Not a test.

Works in ``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/schoolops_bench_workbench``),
created and migrated on first use and filled once: one campus, a supervisor with ``--teachers``
homeroom teachers (default 10) of ``--students`` students each (default 300), each student with one
paid enrollment and four tasks (the first contact and the first-lesson check done, a progress
follow-up open or done, an inactivity follow-up or a renewal talk for some), spread over the
tabs: due earlier today, later today, overdue, in the coming week, done. The measured student also
has ten logged contacts, two tickets with replies and ten messages.

It prints, per page and user, the status, the number of queries (``CaptureQueriesContext``) and the
median and p95 time over ``--runs`` requests through Django's test client (the whole request:
session, middleware, template).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/schoolops_bench_workbench"
BENCH_URL = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
os.environ["DATABASE_URL"] = BENCH_URL  # before Django reads its settings
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "schoolops.settings")

from _postgres import django_on  # noqa: E402 - bench/ is the script's own directory
from _timing import timed  # noqa: E402

CAMPUS = "bench-workbench"


def fill(teachers: int, students: int) -> None:
    """The campus, its staff, students, enrollments and tasks (once)."""
    from decimal import Decimal

    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.utils import timezone

    from orders.models import Course, CourseType, Order
    from schoolops.models import Campus, Staff, StaffRole, User
    from service.models import ContactLog, ContactSource, ServiceTask, TaskKind, TaskStatus
    from students.models import Enrollment, Student

    campus, created = Campus.objects.get_or_create(code=CAMPUS, defaults={"name": "工作台压测校区"})
    if not created and Student.objects.filter(campus=campus).count() >= teachers * students:
        return
    started = time.perf_counter()
    password = make_password("bench-workbench")
    now = timezone.now()

    def staff(username: str, role: str, manager: Staff | None = None) -> Staff:
        user, _ = User.objects.get_or_create(username=username, defaults={"name": username, "password": password})
        found = Staff.objects.filter(user=user).first()
        return found or Staff.objects.create(user=user, role=role, campus=campus, manager=manager)

    head = staff("wb-head", StaffRole.CAMPUS_HEAD)
    supervisor = staff("wb-supervisor", StaffRole.SUPERVISOR, head)
    team = [staff(f"wb-teacher{n}", StaffRole.HOMEROOM, supervisor) for n in range(teachers)]
    courses = [
        Course.objects.create(
            code=f"wb-course{n}",
            campus=campus,
            name=f"2027 考研英语全程班 {n} 期",
            course_type=CourseType.LIVE,
            price=Decimal("3000.00"),
            lessons=40,
            starts_at=now - datetime.timedelta(days=30 + n),
            ends_at=now + datetime.timedelta(days=60 - n),
        )
        for n in range(6)
    ]
    total = teachers * students
    users = User.objects.bulk_create(
        (
            User(username=f"wb-student{n}", name=f"学员{n}", phone=f"139{n:08d}", password=password)
            for n in range(total)
        ),
        batch_size=2000,
    )
    people = Student.objects.bulk_create(
        (Student(user=user, student_no=f"WB{n:07d}", campus=campus) for n, user in enumerate(users)), batch_size=2000
    )
    orders = Order.objects.bulk_create(
        (
            Order(
                order_no=f"WBO{n:09d}",
                student=student,
                course=courses[n % len(courses)],
                amount_paid=Decimal("3000.00"),
                paid_at=now - datetime.timedelta(days=35),
                channel="wechat",
                gateway_trade_no=f"42WB{n:012d}",
            )
            for n, student in enumerate(people)
        ),
        batch_size=2000,
    )
    enrollments = Enrollment.objects.bulk_create(
        (
            Enrollment(
                order=order,
                homeroom_teacher=team[n // students],
                lessons_consumed=n % 30,
                homework_submitted=n % 20,
                watch_progress=Decimal(n % 100),
                tests_taken=n % 4,
                test_score_avg=Decimal(60 + n % 40) if n % 4 else None,
                last_learning_at=now - datetime.timedelta(days=n % 12, hours=3),
            )
            for n, order in enumerate(orders)
        ),
        batch_size=2000,
    )
    facts = {"completion": "45", "homework_rate": "40", "tests_taken": 2, "test_score_avg": "82.00", "days_inactive": 8}
    start_of_day = timezone.make_aware(datetime.datetime.combine(timezone.localdate(now), datetime.time.min))
    tasks = []
    for n, enrollment in enumerate(enrollments):
        base = {
            "enrollment": enrollment,
            "student_id": enrollment.order.student_id,
            "campus": campus,
            "teacher": enrollment.homeroom_teacher,
            "created_at": now - datetime.timedelta(days=30),
        }
        done = {
            "status": TaskStatus.DONE,
            "done_at": now - datetime.timedelta(days=29),
            "channel": "phone",
            "minutes": 5,
        }
        tasks.append(ServiceTask(**base, kind=TaskKind.FIRST_CONTACT, due_at=now - datetime.timedelta(days=34), **done))
        tasks.append(
            ServiceTask(
                **base,
                kind=TaskKind.LESSON_REMINDER,
                due_at=now - datetime.timedelta(days=30),
                **{**done, "attended": True},
            )
        )
        # The follow-up: done for two in three; else due earlier today, later today, overdue or next week.
        slot = n % 6
        if slot < 2:
            tasks.append(
                ServiceTask(
                    **base,
                    kind=TaskKind.FOLLOW_UP,
                    trigger="m1",
                    due_at=now - datetime.timedelta(days=2),
                    facts=facts,
                    **done,
                )
            )
        else:
            due = {
                2: start_of_day + datetime.timedelta(hours=1 + n % 8),
                3: start_of_day + datetime.timedelta(hours=16 + n % 7, minutes=30),
                4: now - datetime.timedelta(days=1 + n % 4),
                5: now + datetime.timedelta(days=2 + n % 5),
            }[slot]
            tasks.append(ServiceTask(**base, kind=TaskKind.FOLLOW_UP, trigger="m1", due_at=due, facts=facts))
        if n % 5 == 0:
            tasks.append(
                ServiceTask(
                    **base,
                    kind=TaskKind.INACTIVE,
                    trigger="x",
                    due_at=now + datetime.timedelta(hours=n % 30),
                    facts=facts,
                )
            )
        if n % 10 == 0:
            tasks.append(
                ServiceTask(**base, kind=TaskKind.RENEWAL, due_at=now + datetime.timedelta(days=3), facts=facts)
            )
    ServiceTask.objects.bulk_create(tasks, batch_size=2000)
    ContactLog.objects.bulk_create(
        (
            ContactLog(
                student_id=task.student_id,
                staff_id=task.teacher_id,
                at=task.done_at,
                channel="phone",
                minutes=5,
                summary="首次联系：目标、基础、下一步",
                source=ContactSource.TASK,
                task=task,
            )
            for task in tasks
            if task.kind == TaskKind.FIRST_CONTACT
        ),
        batch_size=2000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # as autovacuum would soon after such a load
    print(f"filled {total} students and {len(tasks)} tasks in {time.perf_counter() - started:.0f} s")


def measured_student_history(teacher) -> int:
    """Ten more contacts, two tickets with a reply each and ten messages for the teacher's first
    student (once); returns her id."""
    from django.utils import timezone

    from notifications.models import Notification
    from service.models import ContactLog
    from service.services import contact_record
    from servicedesk.models import MessageKind, Ticket, TicketMessage
    from students.models import Student

    student = (
        Student.objects.filter(orders__enrollment__homeroom_teacher=teacher)
        .order_by("pk")
        .select_related("user")
        .first()
    )
    if ContactLog.objects.filter(student=student).count() > 5:
        return student.pk
    now = timezone.now()
    for n in range(10):
        contact_record(
            student=student,
            by=teacher.user,
            channel="wechat",
            summary=f"第 {n} 次微信沟通",
            minutes=3,
            at=now - datetime.timedelta(days=n),
        )
    for n in range(2):
        ticket = Ticket.objects.create(
            ticket_no=f"TKWB{student.pk:08d}{n}",
            student=student,
            campus_id=student.campus_id,
            category="question",
            subject=f"问题 {n}",
            description="回放打不开",
            contacted_at=now - datetime.timedelta(days=n + 1),
            created_at=now - datetime.timedelta(days=n + 1),
        )
        TicketMessage.objects.create(ticket=ticket, kind=MessageKind.REPLY, body="已为您处理。", created_at=now)
    Notification.objects.bulk_create(
        Notification(
            dedupe_key=f"bench-wb:{student.pk}:{n}",
            recipient_key=f"user:{student.user_id}",
            event="service.lesson_reminder",
            channel="sms",
            recipient=student.user,
            body="您的课程 1 小时后开始",
            status="sent",
            created_at=now - datetime.timedelta(days=n),
        )
        for n in range(10)
    )
    return student.pk


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teachers", type=int, default=10)
    parser.add_argument("--students", type=int, default=300, help="students per teacher")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    stop = django_on(BENCH_URL)
    if stop is not None:
        return stop
    fill(args.teachers, args.students)

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from schoolops.models import Campus, Staff, StaffRole
    from service.models import ServiceTask, TaskStatus

    campus = Campus.objects.get(code=CAMPUS)
    teacher = Staff.objects.select_related("user").get(user__username="wb-teacher0")
    supervisor = Staff.objects.select_related("user").get(campus=campus, role=StaffRole.SUPERVISOR)
    student_id = measured_student_history(teacher)
    mine = ServiceTask.objects.filter(teacher=teacher)
    print(
        f"{ServiceTask.objects.filter(campus=campus).count()} tasks at the campus; the teacher's: {mine.count()} "
        f"({mine.filter(status=TaskStatus.OPEN).count()} open) for {args.students} students; PostgreSQL"
    )
    task = (
        mine.filter(status=TaskStatus.OPEN, student_id=student_id).first()
        or mine.filter(status=TaskStatus.OPEN).first()
    )
    workbench = reverse("admin:service_servicetask_changelist")
    pages = [
        ("workbench: today (default)", workbench),
        ("workbench: overdue", workbench + "?due=overdue"),
        ("workbench: next 7 days", workbench + "?due=upcoming"),
        ("workbench: done (first page of 50)", workbench + "?due=done"),
        ("workbench: search by name", workbench + "?due=done&q=学员1"),
        ("task page", reverse("admin:service_servicetask_change", args=[task.pk])),
        ("student page", reverse("admin:service_student", args=[student_id])),
    ]
    print(f"  {'page':<38} {'user':<11} {'status':>6} {'rows':>5} {'queries':>8} {'median ms':>10} {'p95 ms':>8}")
    for who, staff in (("teacher", teacher), ("supervisor", supervisor)):
        client = Client()
        client.force_login(staff.user)
        for label, url in pages:
            client.get(url)  # the session's first request writes it; count a request like the others
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url)
            count = len(queries)  # before the next request empties the log
            rows = len(response.context["cl"].result_list) if response.context and "cl" in response.context else ""
            median, p95 = timed(lambda url=url, client=client: client.get(url), args.runs)
            print(
                f"  {label:<38} {who:<11} {response.status_code:>6} {rows!s:>5} {count:>8} {median:>10.1f} {p95:>8.1f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The student-service clock at a school's scale: one beat run over 200,000 enrollments.

Run: ``DJANGO_DEBUG=1 PYTHONPATH=. .venv/bin/python bench/bench_service_plan.py [--enrollments 200000] [--runs 5]``.
Not a test.

Works in ``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/schoolops_bench_service``),
created and migrated on first use and filled once with ``--enrollments`` students, each with one
paid order and its enrollment, over 1,000 courses of two campuses (20, 60, 120 and 180 days long,
started between 200 days ago and 10 days ahead), 600 homeroom teachers, and learning that stopped
at a random day (a fifth never learned). It measures ``service_plan`` (median and p95 over
``--runs`` calls, and the queries of one call):

- the first run, which makes every task due now (first contacts, reminders, inactive students,
  follow-ups, renewals), asks the first-lesson question, alerts the teachers and escalates what
  is overdue - in a transaction rolled back afterwards, so each run finds the same work;
- a run with nothing new to do (the cost every 5 minutes once caught up).
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import sys
import time
from pathlib import Path

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/schoolops_bench_service"
BENCH_URL = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
os.environ["DATABASE_URL"] = BENCH_URL  # before Django reads its settings
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "schoolops.settings")

from _postgres import django_on  # noqa: E402 - bench/ is the script's own directory
from _timing import timed  # noqa: E402

CAMPUSES = ("bench-svc-a", "bench-svc-b")
COURSES = 1000
TEACHERS = 600


class Rollback(Exception):
    """Raised to undo what a measured call wrote."""


def fill(count: int, now: datetime.datetime) -> None:
    """Two campuses, their teachers, ``count`` students with one order and enrollment each (once)."""
    from decimal import Decimal

    from django.contrib.auth.hashers import make_password

    from orders.models import Course, CourseType, Order, PaymentChannel
    from schoolops.models import Campus, Staff, StaffRole, User
    from students.models import Enrollment, Student

    if Enrollment.objects.filter(order__course__campus__code__in=CAMPUSES).count() >= count:
        return
    started = time.perf_counter()
    password = make_password("bench-service")
    rng = random.Random(2026)
    campuses = [
        Campus.objects.get_or_create(code=code, defaults={"name": f"压测校区{code[-1]}"})[0] for code in CAMPUSES
    ]
    teachers = []
    for campus in campuses:
        head_user = User.objects.create(username=f"{campus.code}-head", name="校长", password=password)
        head = Staff.objects.create(user=head_user, role=StaffRole.CAMPUS_HEAD, campus=campus)
        sup_user = User.objects.create(username=f"{campus.code}-sup", name="主管", password=password)
        supervisor = Staff.objects.create(user=sup_user, role=StaffRole.SUPERVISOR, campus=campus, manager=head)
        users = User.objects.bulk_create(
            User(username=f"{campus.code}-t{n}", name=f"老师{n}", password=password) for n in range(TEACHERS // 2)
        )
        teachers += Staff.objects.bulk_create(
            Staff(user=u, role=StaffRole.HOMEROOM, campus=campus, manager=supervisor) for u in users
        )
    courses = []
    for n in range(COURSES):
        starts = now - datetime.timedelta(days=rng.randint(-10, 200), hours=rng.randint(0, 23))
        days = rng.choice((20, 60, 120, 180))
        courses.append(
            Course(
                code=f"bench-svc-{n}",
                name=f"压测课程{n}",
                course_type=CourseType.RECORDED,
                campus=campuses[n % 2],
                lessons=30,
                price=Decimal("3000.00"),
                starts_at=starts,
                ends_at=starts + datetime.timedelta(days=days),
            )
        )
    courses = Course.objects.bulk_create(courses)
    for start in range(0, count, 20_000):
        size = min(20_000, count - start)
        users = User.objects.bulk_create(
            (User(username=f"bsvc{start + n}", name=f"学员{start + n}", password=password) for n in range(size)),
            batch_size=5000,
        )
        students = Student.objects.bulk_create(
            (Student(user=u, student_no=f"BSVC{start + n:08d}", campus=campuses[0]) for n, u in enumerate(users)),
            batch_size=5000,
        )
        orders, enrollments = [], []
        for n, student in enumerate(students):
            course = courses[rng.randrange(COURSES)]
            paid = course.starts_at - datetime.timedelta(days=rng.randint(1, 20))
            orders.append(
                Order(
                    order_no=f"BSVC{start + n:012d}",
                    student=student,
                    course=course,
                    amount_paid=course.price,
                    paid_at=paid,
                    channel=PaymentChannel.WECHAT,
                    gateway_trade_no=f"BSVC{start + n:016d}",
                )
            )
        orders = Order.objects.bulk_create(orders, batch_size=5000)
        for order in orders:
            course = order.course
            teacher = [t for t in teachers if t.campus_id == course.campus_id][rng.randrange(TEACHERS // 2)]
            last = None
            if course.starts_at < now and rng.random() > 0.2:
                span = (min(now, course.ends_at) - course.starts_at).total_seconds()
                last = course.starts_at + datetime.timedelta(seconds=rng.random() * span)
            enrollments.append(
                Enrollment(
                    order=order,
                    homeroom_teacher=teacher,
                    lessons_consumed=rng.randint(0, 30),
                    homework_submitted=rng.randint(0, 20),
                    last_learning_at=last,
                )
            )
        Enrollment.objects.bulk_create(enrollments, batch_size=5000)
        print(f"  filled {start + size} enrollments", flush=True)
    print(f"filled {count} enrollments in {time.perf_counter() - started:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enrollments", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    stop = django_on(BENCH_URL)
    if stop is not None:
        return stop

    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    now = timezone.now().replace(microsecond=0)
    fill(args.enrollments, now)

    from notifications.models import Notification
    from service.models import ServiceTask
    from service.planner import service_plan
    from students.models import Enrollment

    ServiceTask.objects.all().delete()  # every run starts from no tasks at all
    total = Enrollment.objects.count()
    print(f"{total} enrollments, PostgreSQL; the clock at {timezone.localtime(now):%Y-%m-%d %H:%M}")

    outcome: dict[str, object] = {}
    count = [0]

    def counted(execute, sql, params, many, context):
        count[0] += 1
        return execute(sql, params, many, context)

    def first_run() -> None:
        try:
            with transaction.atomic():
                count[0] = 0
                with connection.execute_wrapper(counted):
                    result = service_plan(now=now)
                outcome["queries"] = count[0]
                outcome["result"] = result.as_dict()
                outcome["tasks"] = ServiceTask.objects.count()
                outcome["messages"] = Notification.objects.count()
                raise Rollback
        except Rollback:
            pass

    median, p95 = timed(first_run, args.runs, warm_up=False)
    print(f"  first run: median {median / 1000:6.2f} s   p95 {p95 / 1000:6.2f} s   queries {outcome['queries']}")
    print(f"    made {outcome['tasks']} tasks, {outcome['messages']} messages: {outcome['result']}")

    service_plan(now=now)  # caught up
    with connection.cursor() as cursor:  # as autovacuum would after so many new rows
        cursor.execute("ANALYZE service_servicetask")
    count[0] = 0
    with connection.execute_wrapper(counted):
        service_plan(now=now + datetime.timedelta(minutes=5))
    median, p95 = timed(lambda: service_plan(now=now + datetime.timedelta(minutes=5)), args.runs, warm_up=False)
    print(f"  caught up (every 5 minutes): median {median:7.0f} ms   p95 {p95:7.0f} ms   queries {count[0]}")
    ServiceTask.objects.all().delete()
    Notification.objects.filter(dedupe_key__startswith="service-").delete()
    return 0


if __name__ == "__main__":
    sys.exit(main())

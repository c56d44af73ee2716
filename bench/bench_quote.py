"""Refund quote benchmark: pure calculation speed, queries per quote, and quotes through the DB.

Run: ``.venv/bin/python bench/bench_quote.py [--seconds 2]``. The database part runs in a
throwaway test database (in-memory SQLite by default, ``test_<name>`` under DATABASE_URL), never
in ``var/db.sqlite3``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "schoolops.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment, teardown_test_environment  # noqa: E402

from refunds.quotes import (  # noqa: E402
    OrderFacts,
    PolicyTerms,
    Progress,
    SpecialRuleTerms,
    TierTerms,
    calculate_quote,
)

SH = ZoneInfo("Asia/Shanghai")


def rate(fn, seconds: float) -> tuple[float, int]:
    """Calls per second of ``fn`` over about ``seconds``."""
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(100):
            fn()
        count += 100
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start), count


def bench_pure(seconds: float) -> None:
    terms = PolicyTerms(
        policy_id=1,
        cooling_off_days=7,
        cooling_off_progress_ceiling=Decimal("20"),
        tiers=(
            TierTerms(1, 7, Decimal("100")),
            TierTerms(8, 15, Decimal("80")),
            TierTerms(16, 30, Decimal("50")),
            TierTerms(31, None, Decimal("0")),
        ),
        consumption_basis="per_lesson",
        handling_fee_percent=Decimal("10"),
        materials_fee=Decimal("100.00"),
        special_rules=(SpecialRuleTerms(reason="illness", evidence="医院证明"),),
    )
    order = OrderFacts(
        amount_paid=Decimal("3000.00"),
        paid_at=datetime.datetime(2026, 3, 1, 10, tzinfo=SH),
        course_starts_at=datetime.datetime(2026, 3, 5, 19, tzinfo=SH),
        lessons=30,
        refunded=Decimal("200.00"),
    )
    progress = Progress(lessons_consumed=12)
    at = datetime.datetime(2026, 3, 10, 12, tzinfo=SH)

    def one() -> None:
        calculate_quote(terms=terms, order=order, progress=progress, reason="other", at=at)

    per_second, count = rate(one, seconds)
    print(f"pure calculation (all rule pieces, 6 lines): {per_second:,.0f} quotes/s ({count:,} quotes)")


def bench_db(seconds: float) -> None:
    from orders.models import Course, Order
    from refunds.selectors import orders_with_in_flight
    from refunds.services import refund_quote
    from schoolops.models import Campus, Staff, User
    from students.models import Enrollment, Student

    campus = Campus.objects.create(code="bench", name="基准校区")
    teacher_user = User.objects.create(username="bench-teacher", name="基准老师")
    teacher = Staff.objects.create(user=teacher_user, role="homeroom", campus=campus)
    student = Student.objects.create(
        user=User.objects.create(username="bench-student", name="基准学员"), student_no="B000001", campus=campus
    )
    start = datetime.datetime(2026, 3, 5, 19, tzinfo=SH)
    course = Course.objects.create(
        code="bench-live",
        name="基准直播课",
        course_type="live",
        campus=campus,
        lessons=30,
        price=Decimal("3000.00"),
        starts_at=start,
        ends_at=start + datetime.timedelta(days=90),
    )
    order = Order.objects.create(
        order_no="BENCH0001",
        student=student,
        course=course,
        amount_paid=Decimal("3000.00"),
        paid_at=datetime.datetime(2026, 3, 1, 10, tzinfo=SH),
        channel="wechat",
        gateway_trade_no="4200000000BENCH",
    )
    Enrollment.objects.create(order=order, homeroom_teacher=teacher, live_sessions_attended=8, replays_watched=3)
    # Loaded as the personal center loads orders: course, enrollment and money in flight at once.
    order = orders_with_in_flight(Order.objects.select_related("course", "enrollment")).get(pk=order.pk)
    at = datetime.datetime(2026, 3, 9, 12, tzinfo=SH)

    with CaptureQueriesContext(connection) as queries:
        quote = refund_quote(order=order, reason="time_conflict", at=at)
    print(
        f"database service (seeded live-course policy): {len(queries)} queries per quote "
        f"(order loaded with course, enrollment and in-flight sum); total {quote.total}"
    )

    per_second, count = rate(lambda: refund_quote(order=order, reason="time_conflict", at=at), seconds)
    print(f"database service on {connection.vendor}: {per_second:,.0f} quotes/s ({count:,} quotes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement (default 2)")
    args = parser.parse_args()

    bench_pure(args.seconds)

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    if connection.vendor != "sqlite":  # SQLite tests run in memory; elsewhere never reuse a shared name
        connection.settings_dict["TEST"]["NAME"] = f"test_bench_quote_{os.getpid()}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        bench_db(args.seconds)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    main()

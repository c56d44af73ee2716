"""The small school the benchmarks work on: a campus, a homeroom teacher, a recorded course and
one submitted refund request per student (a student of her own each, so no request counts against
another's automatic check)."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from decimal import Decimal

from django.utils import timezone

from orders.models import Course, CourseType, Order
from refunds.payee import Payee
from refunds.services import refund_submit
from schoolops.models import Campus, Staff, StaffRole, User
from students.models import Enrollment, Student


def submitted_requests(count: int, *, channels: Sequence[str]) -> tuple[Staff, list[int]]:
    """The bench campus's homeroom teacher and ``count`` new submitted requests of 270 CNY, paid
    through ``channels`` in turn."""
    campus, _ = Campus.objects.get_or_create(code="bench", defaults={"name": "基准校区"})
    homeroom = Staff.objects.filter(campus=campus, role=StaffRole.HOMEROOM).first()
    if homeroom is None:
        user = User.objects.create_user(username="bench-teacher", password=None, name="基准老师", is_staff=True)
        homeroom = Staff.objects.create(user=user, role=StaffRole.HOMEROOM, campus=campus)
    run = uuid.uuid4().hex[:4]
    today = timezone.now()
    course = Course.objects.create(
        code=f"bench-{run}",
        campus=campus,
        name=f"基准录播课 {run}",
        course_type=CourseType.RECORDED,
        price=Decimal("300.00"),
        lessons=30,
        starts_at=today - datetime.timedelta(days=3),
        ends_at=today + datetime.timedelta(days=87),
    )
    ids = []
    for i in range(count):
        n = f"{run}{i:06d}"
        user = User.objects.create_user(
            username=f"bench-student-{n}", password=None, name=f"学生{n}", email=f"s{n}@example.com"
        )
        student = Student.objects.create(user=user, campus=campus, student_no=f"BS{n}")
        order = Order.objects.create(
            order_no=f"BO{n}",
            student=student,
            course=course,
            amount_paid=course.price,
            paid_at=today - datetime.timedelta(days=3),
            channel=channels[i % len(channels)],
            gateway_trade_no=f"42BENCH{n}",
        )
        Enrollment.objects.create(order=order, homeroom_teacher=homeroom)
        request = refund_submit(
            student=student,
            order_no=order.order_no,
            reason="time_conflict",
            details="上班时间调整，无法继续上课。",
            payee=Payee(name=student.name, bank="中国工商银行", branch="", account_no=f"6222{order.pk:015d}"),
        )
        ids.append(request.pk)
    return homeroom, ids

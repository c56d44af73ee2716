"""Orders as the school's order system sends them, and what the intake stored."""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Sequence

from django.utils import timezone

from orders.models import Course, Order
from schoolops.models import User
from students.events import EnrollmentNews
from students.models import Enrollment, IngestionNonce, Student

_numbers = itertools.count(1)
PAID_AT = timezone.now() - datetime.timedelta(days=2)


def next_number() -> int:
    return next(_numbers)


def student_raw(n: int | None = None, **overrides) -> dict:
    n = next_number() if n is None else n
    raw = {
        "student_no": f"OS{n:06d}",
        "name": f"新同学{n}",
        "phone": f"137{n:08d}",
        "email": f"os{n}@example.com",
        "wechat_openid": f"openid-{n}",
    }
    raw.update(overrides)
    return {key: value for key, value in raw.items() if value is not None}


def order_raw(course: Course, *, student: dict | None = None, **overrides) -> dict:
    """One order in the order system's JSON, paid by WeChat for the course's price."""
    n = next_number()
    raw = {
        "order_no": f"OS{n:010d}",
        "status": "paid",
        "student": student if student is not None else student_raw(),
        "course_code": course.code,
        "amount_paid": f"{course.price:.2f}",
        "paid_at": PAID_AT.isoformat(),
        "channel": "wechat",
        "gateway_trade_no": f"4200{n:016d}",
    }
    raw.update(overrides)
    return {key: value for key, value in raw.items() if value is not None}


def student_of_order(order: Order) -> dict:
    """A stored order's student as the order system describes her."""
    user = order.student.user
    return student_raw(
        student_no=order.student.student_no,
        name=user.name,
        phone=user.phone,
        email=user.email,
        wechat_openid=order.student.wechat_openid or None,
    )


def raw_of_order(order: Order, **overrides) -> dict:
    """A stored order as the order system would send it again."""
    raw = {
        "order_no": order.order_no,
        "status": "paid",
        "student": student_of_order(order),
        "course_code": order.course.code,
        "amount_paid": f"{order.amount_paid:.2f}",
        "paid_at": order.paid_at.isoformat(),
        "channel": order.channel,
        "gateway_trade_no": order.gateway_trade_no or None,
    }
    raw.update(overrides)
    return {key: value for key, value in raw.items() if value is not None}


def counts() -> dict[str, int]:
    """The rows the intake writes."""
    return {
        "users": User.objects.count(),
        "students": Student.objects.count(),
        "orders": Order.objects.count(),
        "enrollments": Enrollment.objects.count(),
        "nonces": IngestionNonce.objects.count(),
    }


class NewsRecorder:
    """A registered writer that keeps every batch of news it is handed."""

    def __init__(self) -> None:
        self.batches: list[list[EnrollmentNews]] = []

    def __call__(self, news: Sequence[EnrollmentNews]) -> None:
        self.batches.append(list(news))

    @property
    def news(self) -> list[EnrollmentNews]:
        return [item for batch in self.batches for item in batch]

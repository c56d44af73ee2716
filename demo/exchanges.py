"""The demo school's course exchanges (换课): the policies, the courses to move to, and for the
first student login two live-course orders to try both ways in ``make run`` - one to a cheaper
weekend class (the difference goes back through the simulator) and one to a dearer intensive
class (she pays the difference on the simulator's cashier page). One exchange already completed,
at an even price, so finance finds an exchange voucher in the ledger from the start.

Everything goes through the real services: the order intake, ``exchange_submit`` and the
approvals of customer service and the teaching supervisor.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from exchanges.models import CampusScope, ExchangePolicy, TypeScope
from exchanges.services import ExchangeError, exchange_submit
from orders.models import Course, CourseType, Order, PaymentChannel
from refunds.models import DayAnchor, RefundRequest
from refunds.services import RefundActionError, refund_approve
from schoolops.models import Campus, Staff, StaffRole
from students.models import Student
from students.services import OrderInput, StudentInput, orders_record

POLICIES = [
    # (course type, name, window days, anchor, fee, carry progress, description)
    (
        CourseType.LIVE,
        "直播班换课规则",
        30,
        DayAnchor.PURCHASE,
        "0.00",
        True,
        "购课 30 天内且学习进度不超过 50% 可免手续费换到同校区其他直播班，未上课时的价值全额结转；"
        "超过 30 天按退费规则计算可结转金额。已上课次可结转至新班级。每个订单可换课一次。",
    ),
    (
        CourseType.RECORDED,
        "录播课换课规则",
        14,
        DayAnchor.PURCHASE,
        "50.00",
        False,
        "购课 14 天内可换到同校区其他录播课，收取 50 元换课手续费；超过 14 天按退费规则计算可结转金额。",
    ),
]

# (code suffix, name, lessons, price, days from now to start, length in days)
TARGETS = [
    ("live-weekend", "雅思口语周末直播班", 30, "2600.00", 5, 90),
    ("live-intensive", "雅思口语精讲直播班", 30, "3600.00", 8, 90),
    ("live-even", "雅思口语晚间直播班", 30, "3000.00", 3, 90),
]


def seed_exchanges(
    campuses: list[tuple[Campus, dict[str, list[Staff]]]], prefixes: list[str], now: datetime.datetime
) -> str:
    """Policies, target courses on every campus, the first student's two orders to try, and one
    completed exchange. Idempotent."""
    for course_type, name, days, anchor, fee, carry, description in POLICIES:
        ExchangePolicy.objects.get_or_create(
            course_type=course_type,
            is_active=True,
            defaults={
                "name": name,
                "description": description,
                "target_campus": CampusScope.SAME,
                "target_type": TypeScope.SAME,
                "window_days": days,
                "window_anchor": anchor,
                "exchange_fee": Decimal(fee),
                "carry_progress": carry,
            },
        )
    for (campus, _staff), prefix in zip(campuses, prefixes, strict=True):
        for suffix, name, lessons, price, start_in, length in TARGETS:
            starts = (now + datetime.timedelta(days=start_in)).replace(hour=19)
            Course.objects.get_or_create(
                code=f"{prefix}-{suffix}",
                defaults={
                    "name": name,
                    "course_type": CourseType.LIVE,
                    "campus": campus,
                    "lessons": lessons,
                    "price": Decimal(price),
                    "starts_at": starts,
                    "ends_at": starts + datetime.timedelta(days=length),
                },
            )
    campus, staff = campuses[0]
    prefix = prefixes[0]
    student = Student.objects.select_related("user").get(student_no="S000001")
    teacher = staff[StaffRole.HOMEROOM][0]
    paid = now - datetime.timedelta(days=3)
    mine = [("EXA", f"{prefix}-live"), ("EXB", f"{prefix}-live-next"), ("EXC", f"{prefix}-live")]
    orders_record(
        orders=[
            OrderInput(
                order_no=f"DEMO-{tag}-{student.student_no}",
                status="paid",
                student=StudentInput(
                    student_no=student.student_no,
                    name=student.user.name,
                    phone=student.user.phone or "",
                    email=None,
                    wechat_openid=None,
                ),
                course_code=code,
                amount_paid=Course.objects.get(code=code).price,
                paid_at=paid,
                channel=PaymentChannel.WECHAT if tag != "EXB" else PaymentChannel.ALIPAY,
                gateway_trade_no=f"DEMO{tag}{student.student_no}",
                homeroom_teacher=teacher.user.username,
            )
            for tag, code in mine
        ],
        source="demo",
    )
    done = _completed_even(student, f"DEMO-EXC-{student.student_no}", f"{prefix}-live-even", staff)
    return f"  course exchanges: {ExchangePolicy.objects.count()} policies, {done} completed"


def _completed_even(student: Student, order_no: str, target_code: str, staff: dict[str, list[Staff]]) -> int:
    """One exchange at an even price, approved by customer service and the supervisor: completed."""
    order = Order.objects.get(order_no=order_no)
    if RefundRequest.objects.filter(order=order).exists():
        return 1
    try:
        exchange = exchange_submit(
            student=student,
            order_no=order_no,
            target_code=target_code,
            reason="time_conflict",
            details="工作日晚上要加班，想换到晚间班。",
        )
        for role in (StaffRole.SERVICE, StaffRole.SUPERVISOR):
            refund_approve(request_id=exchange.request_id, actor=staff[role][0].user, comment="同意换课。")
    except (ExchangeError, RefundActionError, KeyError):
        return 0
    return 1

"""Plain builders for test data. Each returns a saved object and takes only what varies."""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal

from django.contrib.auth.models import Permission
from django.utils import timezone

from orders.models import Course, CourseType, Order, PaymentChannel
from schoolops.models import Campus, Staff, StaffRole, User
from students.models import Enrollment, Student

_seq = itertools.count(1)
PASSWORD = "correct-horse-42"


def _n() -> int:
    return next(_seq)


def make_campus(*, code: str | None = None, name: str | None = None) -> Campus:
    n = _n()
    return Campus.objects.create(code=code or f"campus-{n}", name=name or f"校区{n}")


def make_user(*, username: str | None = None, name: str = "", phone: str | None = None, **extra) -> User:
    n = _n()
    user = User(username=username or f"user{n}", name=name or f"用户{n}", phone=phone, **extra)
    user.set_password(PASSWORD)
    user.save()
    return user


def make_staff(*, role: str, campus: Campus, manager: Staff | None = None, name: str = "", **extra) -> Staff:
    user = make_user(name=name or f"{StaffRole(role).label}{_n()}")
    return Staff.objects.create(user=user, role=role, campus=campus, manager=manager, **extra)


def make_head_office(*, role: str, campus: Campus, **extra) -> Staff:
    """Staff who see every campus: the head-office grant (schoolops.view_all_campuses) is the
    person's, on top of any role."""
    staff = make_staff(role=role, campus=campus, **extra)
    staff.user.user_permissions.add(
        Permission.objects.get(content_type__app_label="schoolops", codename="view_all_campuses")
    )
    return staff


def make_student(*, campus: Campus, name: str = "", phone: str | None = None, **extra) -> Student:
    n = _n()
    user = make_user(name=name or f"学员{n}", phone=phone or f"138{n:08d}", email=f"student{n}@example.com")
    return Student.objects.create(user=user, student_no=f"S{n:06d}", campus=campus, **extra)


def make_course(
    *,
    campus: Campus,
    course_type: str = CourseType.RECORDED,
    lessons: int = 30,
    price: Decimal | str = "3000.00",
    starts_at: datetime.datetime | None = None,
    days: int = 90,
) -> Course:
    n = _n()
    starts_at = starts_at or timezone.now() - datetime.timedelta(days=3)
    return Course.objects.create(
        code=f"course-{n}",
        name=f"课程{n}",
        course_type=course_type,
        campus=campus,
        lessons=lessons,
        price=Decimal(price),
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(days=days),
    )


def make_order(
    *,
    student: Student,
    course: Course,
    homeroom_teacher: Staff,
    amount_paid: Decimal | str | None = None,
    channel: str = PaymentChannel.WECHAT,
    paid_at: datetime.datetime | None = None,
    **enrollment,
) -> Order:
    n = _n()
    order = Order.objects.create(
        order_no=f"NO{n:010d}",
        student=student,
        course=course,
        amount_paid=Decimal(amount_paid) if amount_paid is not None else course.price,
        paid_at=paid_at or timezone.now() - datetime.timedelta(days=5),
        channel=channel,
        gateway_trade_no="" if channel == PaymentChannel.OFFLINE else f"42000{n:015d}",
    )
    Enrollment.objects.create(order=order, homeroom_teacher=homeroom_teacher, **enrollment)
    return order

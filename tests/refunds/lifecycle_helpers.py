"""Builders for lifecycle tests: an order at a price, submitted by its student."""

from __future__ import annotations

from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile

from orders.models import CourseType
from refunds.services import refund_submit
from tests import factories

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def pdf(name: str = "certificate.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def order_at(*, student, homeroom, campus, price: str, course_type: str = CourseType.RECORDED, **enrollment):
    """An order of ``student`` whose default quote (day 4 of the course, 10% fee) is 90% of ``price``."""
    course = factories.make_course(campus=campus, course_type=course_type, price=price)
    return factories.make_order(student=student, course=course, homeroom_teacher=homeroom, **enrollment)


def submit(order, *, reason: str = "time_conflict", details: str = "上班时间调整，无法继续上课。", **kwargs):
    return refund_submit(student=order.student, order_no=order.order_no, reason=reason, details=details, **kwargs)


def money(value: str) -> Decimal:
    return Decimal(value)

"""Builders for exchange tests: a policy, an order and the courses it may move to, the approvals."""

from __future__ import annotations

from decimal import Decimal

from exchanges.models import ExchangePolicy
from orders.models import CourseType, PaymentChannel
from refunds.models import RefundRequest
from refunds.services import refund_approve
from schoolops.models import StaffRole
from tests import factories


def policy(**overrides) -> ExchangePolicy:
    values = dict(name="录播课换课规则", course_type=CourseType.RECORDED, window_days=30, pay_within_hours=48)
    values.update(overrides)
    return ExchangePolicy.objects.create(**values)


def setup(*, student, homeroom, campus, channel=PaymentChannel.WECHAT, price="3000.00", **enrollment):
    """An order of ``price`` (day 5, nothing used unless told) and a service desk to review."""
    course = factories.make_course(campus=campus, price=price, lessons=20)
    order = factories.make_order(
        student=student, course=course, homeroom_teacher=homeroom, channel=channel, **enrollment
    )
    service = factories.make_staff(role=StaffRole.SERVICE, campus=campus, name="郑客服")
    return order, service


def target(campus, price: str, **kwargs):
    return factories.make_course(campus=campus, price=price, lessons=20, **kwargs)


def approve_all(request: RefundRequest, *, service, supervisor, campus_head=None) -> RefundRequest:
    """Customer service reviews, the supervisor (and the campus head when on the route) approves."""
    refund_approve(request_id=request.pk, actor=service.user)
    refund_approve(request_id=request.pk, actor=supervisor.user)
    request.refresh_from_db()
    if campus_head is not None and request.status == "pending_campus_head":
        refund_approve(request_id=request.pk, actor=campus_head.user)
        request.refresh_from_db()
    return request


D = Decimal

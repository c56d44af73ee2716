"""Builders for payout tests: a request approved and handed to its payout."""

from __future__ import annotations

from orders.models import PaymentChannel
from payments.models import Payout
from refunds.models import RefundRequest, RefundStatus
from refunds.services import refund_approve
from tests.refunds.lifecycle_helpers import order_at, submit


def approved_request(
    *, student, homeroom, campus, price: str = "300.00", channel: str = PaymentChannel.WECHAT
) -> tuple[RefundRequest, Payout]:
    """A small refund (the homeroom teacher approves, the automatic check passes) and its payout."""
    order = order_at(student=student, homeroom=homeroom, campus=campus, price=price, channel=channel)
    request = submit(order)
    refund_approve(request_id=request.pk, actor=homeroom.user)
    request.refresh_from_db()
    assert request.status == RefundStatus.APPROVED, request.status
    return request, request.payouts.get()

"""Builders for payout tests: a request approved and handed to its payout."""

from __future__ import annotations

import time

import pytest

from orders.models import PaymentChannel
from payments.models import Payout
from refunds.models import RefundRequest, RefundStatus
from refunds.services import refund_approve
from tests.refunds.helpers import order_at, submit


def approved_request(
    *, student, homeroom, campus, price: str = "300.00", channel: str = PaymentChannel.WECHAT
) -> tuple[RefundRequest, Payout]:
    """A small refund (the homeroom teacher approves, the automatic check passes) and its payout."""
    order = order_at(student=student, homeroom=homeroom, campus=campus, price=price, channel=channel)
    request = submit(order)
    refund_approve(request_id=request.pk, actor=homeroom.user)
    request.refresh_from_db()
    # Approved, and handed to its payout (which may have finished by now, when it ran on commit).
    assert request.decided_at is not None and request.status in MONEY_AND_DONE, request.status
    return request, request.payouts.get()


MONEY_AND_DONE = (RefundStatus.APPROVED, RefundStatus.PAYING, RefundStatus.PAYOUT_FAILED, RefundStatus.REFUNDED)


def wait_until(predicate, *, timeout: float = 15.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")

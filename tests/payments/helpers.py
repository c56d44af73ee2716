"""Builders for payout tests: a request approved and handed to its payout."""

from __future__ import annotations

import datetime
import time
from decimal import Decimal

import pytest
from django.utils import timezone

from orders.models import PaymentChannel
from payments.collections import collection_open
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


def open_collection(
    *,
    student,
    channel: str = "wechat",
    mode: str = "wechat_native",
    amount: str = "88.00",
    purpose_id: int = 1,
    minutes: float = 30,
    at=None,
):
    """A collection of ``amount`` for exchange ``purpose_id``, opened at the gateway (the simulator)."""
    now = at or timezone.now()
    return collection_open(
        purpose="exchange",
        purpose_id=purpose_id,
        student=student,
        campus_id=student.campus_id,
        amount=Decimal(amount),
        channel=channel,
        mode=mode,
        description="换课差价：Python 进阶班",
        expires_at=now + datetime.timedelta(minutes=minutes),
        client_ip="203.0.113.7",
        return_url="https://school.example.com/portal/exchanges/1/",
        at=now,
    )

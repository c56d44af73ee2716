"""Builders for finance tests: refunds paid back through the real payout services."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

from django.utils import timezone

from orders.models import PaymentChannel
from payments.gateways.base import GatewayAnswer, Outcome
from payments.models import Payout, PayoutStatus
from payments.services import MANUAL_CHANNELS, payout_answer_apply, payout_record_transfer
from refunds.models import RefundRequest
from refunds.services import refund_approve
from tests import factories
from tests.refunds.lifecycle_helpers import order_at, submit


def paid_refund(
    *,
    campus,
    homeroom,
    finance=None,
    student=None,
    channel: str = PaymentChannel.WECHAT,
    price: str = "300.00",
    paid_at: datetime.datetime | None = None,
    name: str = "",
) -> tuple[RefundRequest, Payout]:
    """A small refund approved by the homeroom teacher and paid back: a gateway's answer applied
    by ``payout_answer_apply`` (WeChat Pay, Alipay) or a transfer recorded by finance (card,
    offline). Needs the ``shipped_data`` (or ``default_refund_policies``) fixture.

    ``paid_at`` moves the payout's send and finish to that time afterwards (its voucher keeps
    today's date and number).
    """
    student = student or factories.make_student(campus=campus, name=name)
    order = order_at(student=student, homeroom=homeroom, campus=campus, price=price, channel=channel)
    request = submit(order)
    refund_approve(request_id=request.pk, actor=homeroom.user)
    payout = request.payouts.get()
    if channel in MANUAL_CHANNELS:
        actor = finance.user if finance is not None else factories.make_staff(role="finance", campus=campus).user
        payout_record_transfer(
            request_id=request.pk, actor=actor, bank_reference=f"BK{payout.pk}", transferred_on=timezone.localdate()
        )
    else:
        answer = GatewayAnswer(
            outcome=Outcome.SUCCEEDED,
            gateway_refund_id=f"50{uuid.uuid4().int % 10**26:026d}",
            amount=payout.amount,
        )
        payout_answer_apply(payout_id=payout.pk, answer=answer)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUCCEEDED, payout.status
    if paid_at is not None:
        Payout.objects.filter(pk=payout.pk).update(finished_at=paid_at, sent_at=paid_at)
        payout.refresh_from_db()
    request.refresh_from_db()
    return request, payout


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))

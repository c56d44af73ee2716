"""Money safety: no order paid back more than was paid, an unknown payout never given up, nothing-to-pay
requests closed. Against the gateway simulator over HTTPS with the real SDKs, as in production.

Each test here failed before the guard, the query classification and the ``closed`` state existed.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from orders.models import Order, PaymentChannel
from payments import services
from payments.models import Payout, PayoutStatus
from refunds.models import RefundEvent, RefundRequest, RefundStatus
from refunds.services import (
    RefundActionError,
    refund_adjust_amount,
    refund_appeal,
    refund_approve,
    refund_reject,
)
from tests.conftest import reseed_shipped_data
from tests.refunds.helpers import order_at, submit

from .helpers import approved_request

pytestmark = pytest.mark.django_db(transaction=True)

CHANNELS = [PaymentChannel.WECHAT, PaymentChannel.ALIPAY]


def _refresh(*objects):
    for obj in objects:
        obj.refresh_from_db()


def _settle(payout: Payout, rounds: int = 3) -> None:
    """What the periodic check does for a payout sent but not confirmed: query it (no callbacks here)."""
    for _ in range(rounds):
        payout.refresh_from_db()
        if payout.is_final:
            return
        services.payout_execute(payout_id=payout.pk)


def _moved_for(sim, order: Order) -> Decimal:
    return sum(
        (p.amount for p in Payout.objects.filter(order=order) if sim.refunds_executed().get(p.payout_no)),
        Decimal("0.00"),
    )


# --- 1. One guard for money out ----------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_an_appeal_after_a_later_request_refunded_the_order_is_refused_and_pays_nothing_again(
    gateways, student, homeroom, supervisor, campus, channel
):
    gateways.callbacks_enabled = False
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="300.00", channel=channel)
    first = submit(order)
    refund_reject(request_id=first.pk, actor=homeroom.user, reason="课程已过半，不符合退费条件。")
    second = submit(order)
    refund_approve(request_id=second.pk, actor=homeroom.user)
    _settle(second.payouts.get())
    _refresh(second, order)
    assert second.status == RefundStatus.REFUNDED
    assert order.refunded_total == Decimal("270.00")

    with pytest.raises(RefundActionError) as refused:
        refund_appeal(request_id=first.pk, student=student, reason="我认为应该退费。")

    assert refused.value.code == "nothing_refundable"
    assert "270.00" in refused.value.message and order.order_no in refused.value.message
    first.refresh_from_db()
    assert first.status == RefundStatus.REJECTED and first.appealed_at is None
    assert gateways.total_refunded == Decimal("270.00")
    assert sum(gateways.refunds_executed().values()) == 1


def test_an_appeal_is_requoted_against_what_is_left_and_pays_only_that(
    gateways, student, homeroom, supervisor, finance, campus
):
    gateways.callbacks_enabled = False
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="300.00")
    first = submit(order)
    refund_reject(request_id=first.pk, actor=homeroom.user, reason="材料不全。")
    second = submit(order)
    refund_adjust_amount(request_id=second.pk, actor=homeroom.user, amount=Decimal("100.00"), reason="部分退费")
    refund_approve(request_id=second.pk, actor=homeroom.user)
    _settle(second.payouts.get())

    appealed = refund_appeal(request_id=first.pk, student=student, reason="剩余部分也应退。")

    # 270 the rules give, 100 of it already paid back: 170 is what the appeal can still be worth.
    assert appealed.approved_amount == Decimal("170.00")
    assert appealed.quote.refunded_before == Decimal("100.00")
    with pytest.raises(RefundActionError):
        refund_adjust_amount(request_id=first.pk, actor=supervisor.user, amount=Decimal("270.00"), reason="全额")
    refund_approve(request_id=first.pk, actor=supervisor.user)
    refund_approve(request_id=first.pk, actor=finance.user)
    _settle(first.payouts.get())
    _refresh(first, order)
    assert first.status == RefundStatus.REFUNDED
    assert order.refunded_total == Decimal("270.00") == gateways.total_refunded
    assert _moved_for(gateways, order) <= order.amount_paid


def test_the_last_approval_is_refused_when_the_order_no_longer_covers_the_amount(gateways, student, homeroom, campus):
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="300.00")
    request = submit(order)
    # Money returned on the order by another way since the request was quoted (e.g. a transfer
    # booked on an earlier request): the amount no longer fits.
    Order.objects.filter(pk=order.pk).update(refunded_total=Decimal("100.00"), status="partially_refunded")

    with pytest.raises(RefundActionError) as refused:
        refund_approve(request_id=request.pk, actor=homeroom.user)

    assert refused.value.code == "exceeds_order"
    assert "200.00" in refused.value.message
    request.refresh_from_db()
    assert request.status == RefundStatus.PENDING_HOMEROOM
    assert not Payout.objects.exists()
    assert sum(gateways.refunds_executed().values()) == 0


def test_a_payout_the_order_no_longer_covers_is_never_sent_and_finance_is_told_why(
    gateways, student, homeroom, finance, campus
):
    # No callback from the gateway: the payout is removed below, before any could book it.
    gateways.callbacks_enabled = False
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="300.00")
    request = submit(order)
    # An approved request with no payout (as the periodic check finds one after a lost approval
    # commit hook), and meanwhile the order's money went back another way.
    refund_approve(request_id=request.pk, actor=homeroom.user)
    request.refresh_from_db()
    Payout.objects.filter(request=request).delete()
    RefundRequest.objects.filter(pk=request.pk).update(status=RefundStatus.APPROVED)
    Order.objects.filter(pk=order.pk).update(refunded_total=Decimal("300.00"), status="refunded")
    executed_before = sum(gateways.refunds_executed().values())

    services.payouts_check(older_than_seconds=0)

    request.refresh_from_db()
    payout = request.payouts.get()
    assert payout.status == PayoutStatus.FAILED and payout.error_code == "exceeds_order"
    assert payout.sent_at is None and payout.attempts == 0
    assert request.status == RefundStatus.PAYOUT_FAILED
    failed = RefundEvent.objects.get(request=request, kind="payout_failed")
    assert failed.payload["code"] == "exceeds_order" and "0.00" in failed.payload["message"]
    assert sum(gateways.refunds_executed().values()) == executed_before
    # Finance can neither send it again nor book a transfer for it: the order has nothing left.
    with pytest.raises(services.PayoutError) as again:
        services.payout_retry(request_id=request.pk, actor=finance.user)
    assert again.value.code == "exceeds_order"
    with pytest.raises(services.PayoutError):
        services.payout_record_transfer(
            request_id=request.pk, actor=finance.user, bank_reference="B1", transferred_on=order.paid_at.date()
        )
    # It closes it, with a reason the student reads, and the order is free again.
    services.payout_close_unpaid(request_id=request.pk, actor=finance.user, reason="该订单款项已全额退回。")
    request.refresh_from_db()
    assert request.status == RefundStatus.CLOSED
    assert RefundEvent.objects.get(request=request, kind="closed").payload["reason"] == "该订单款项已全额退回。"


def test_a_queued_payout_whose_order_was_refunded_meanwhile_fails_before_any_call(gateways, student, homeroom, campus):
    gateways.callbacks_enabled = False
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="300.00")
    request = submit(order)
    refund_approve(request_id=request.pk, actor=homeroom.user)
    payout = request.payouts.get()
    # Put it back in the queue as if the worker had not yet taken it, with the order refunded meanwhile.
    Payout.objects.filter(pk=payout.pk).update(status=PayoutStatus.QUEUED, lease_until=None)
    RefundRequest.objects.filter(pk=request.pk).update(status=RefundStatus.APPROVED)
    Order.objects.filter(pk=order.pk).update(refunded_total=Decimal("300.00"), status="refunded")
    calls_before = gateways.requests_received.copy()

    assert services.payout_execute(payout_id=payout.pk) == services.Step.DONE

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED and payout.error_code == "exceeds_order"
    assert gateways.requests_received == calls_before  # the gateway was never called


def test_recording_a_transfer_larger_than_what_is_left_is_refused(gateways, student, homeroom, finance, campus):
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="300.00", channel=PaymentChannel.OFFLINE)
    request = submit(order)
    refund_approve(request_id=request.pk, actor=homeroom.user)
    Order.objects.filter(pk=order.pk).update(refunded_total=Decimal("200.00"), status="partially_refunded")

    with pytest.raises(services.PayoutError) as refused:
        services.payout_record_transfer(
            request_id=request.pk, actor=finance.user, bank_reference="B42", transferred_on=order.paid_at.date()
        )

    assert refused.value.code == "exceeds_order"
    assert "100.00" in refused.value.message
    order.refresh_from_db()
    assert order.refunded_total == Decimal("200.00")
    assert not Payout.objects.filter(status=PayoutStatus.SUCCEEDED).exists()


# --- 2. Unknown stays unknown ------------------------------------------------------------------


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_query_error_after_a_lost_answer_keeps_the_payout_unknown_until_a_query_settles_it(
    gateways, student, homeroom, finance, campus, channel, settings
):
    settings.PAYOUT_MANUAL_CHECK_AFTER_ATTEMPTS = 3
    gateways.callbacks_enabled = False
    gateways.behave(channel, "crash_after_execute", times=1)  # the money moves, the answer is lost
    gateways.behave(channel, "query_error", times=3)  # then the queries answer a non-retry error

    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=channel)
    for _ in range(2):
        services.payout_execute(payout_id=payout.pk)

    _refresh(payout, request)
    assert payout.status == PayoutStatus.UNKNOWN
    assert request.status == RefundStatus.PAYING
    assert not RefundEvent.objects.filter(request=request, kind="payout_failed").exists()
    # Three calls with no answer: finance is asked, once, to check it at the gateway.
    assert payout.attempts == 3 and payout.needs_check_since is not None
    assert RefundEvent.objects.filter(request=request, kind="payout_needs_check").count() == 1
    with pytest.raises(services.PayoutError):
        services.payout_retry(request_id=request.pk, actor=finance.user)
    with pytest.raises(services.PayoutError):
        services.payout_record_transfer(
            request_id=request.pk, actor=finance.user, bank_reference="B9", transferred_on=payout.created_at.date()
        )

    services.payout_execute(payout_id=payout.pk)  # one more error: still unknown, not raised again
    assert RefundEvent.objects.filter(request=request, kind="payout_needs_check").count() == 1
    services.payout_execute(payout_id=payout.pk)  # the gateway answers: it had paid

    _refresh(payout, request)
    assert payout.status == PayoutStatus.SUCCEEDED
    assert request.status == RefundStatus.REFUNDED
    assert gateways.refunds_executed() == {payout.payout_no: 1}
    assert Payout.objects.filter(request=request).count() == 1


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_query_that_times_out_keeps_the_payout_unknown(gateways, student, homeroom, campus, channel, settings):
    settings.WECHAT_PAY = {**settings.WECHAT_PAY, "TIMEOUT": "1"}
    settings.ALIPAY = {**settings.ALIPAY, "TIMEOUT": "1"}
    gateways.callbacks_enabled = False
    gateways.behave(channel, "crash_after_execute", times=1)
    gateways.behave(channel, "query_timeout", times=1, delay=3)

    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=channel)
    services.payout_execute(payout_id=payout.pk)

    _refresh(payout, request)
    assert payout.status == PayoutStatus.UNKNOWN and request.status == RefundStatus.PAYING
    services.payout_execute(payout_id=payout.pk)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUCCEEDED
    assert gateways.refunds_executed() == {payout.payout_no: 1}


def test_a_query_that_has_not_heard_of_it_sends_it_again_under_the_same_number(gateways, student, homeroom, campus):
    gateways.callbacks_enabled = False
    gateways.behave("alipay", "crash_after_execute", times=1)
    gateways.behave("alipay", "query_not_found", times=1)

    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=PaymentChannel.ALIPAY)
    services.payout_execute(payout_id=payout.pk)

    _refresh(payout, request)
    # "Never heard of it" lets the refund be sent again, with the same number: the gateway pays it once.
    assert payout.status == PayoutStatus.SUCCEEDED
    assert gateways.refunds_executed() == {payout.payout_no: 1}
    assert Payout.objects.filter(request=request).count() == 1


def test_wechat_reporting_a_refund_abnormal_raises_it_to_finance_instead_of_failing_it(
    gateways, student, homeroom, finance, campus
):
    gateways.callbacks_enabled = False
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus)
    from payments.gateways.base import GatewayAnswer, Outcome

    step = services.payout_answer_apply(
        payout_id=payout.pk, answer=GatewayAnswer(outcome=Outcome.NEEDS_CHECK, code="CHANGE")
    )

    _refresh(payout, request)
    assert step == services.Step.RETRY
    assert payout.status == PayoutStatus.UNKNOWN and payout.needs_check_since is not None
    assert request.status == RefundStatus.PAYING
    with pytest.raises(services.PayoutError):
        services.payout_retry(request_id=request.pk, actor=finance.user)


# --- 3. Nothing to pay closes ------------------------------------------------------------------


def test_a_request_approved_at_zero_closes_tells_the_student_and_frees_the_order(gateways, student, homeroom, campus):
    reseed_shipped_data(templates=True)  # the student's messages are written from the shipped templates
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="300.00")
    request = submit(order)
    refund_adjust_amount(request_id=request.pk, actor=homeroom.user, amount=Decimal("0.00"), reason="课程已全部完成")

    refund_approve(request_id=request.pk, actor=homeroom.user)

    request.refresh_from_db()
    assert request.status == RefundStatus.CLOSED
    assert not Payout.objects.filter(request=request).exists()
    kinds = list(RefundEvent.objects.filter(request=request).values_list("kind", flat=True))
    assert "closed" in kinds and "approved" not in kinds
    inbox = request.notifications.filter(event="refund.closed", channel="inbox").get()
    assert "0 元" in inbox.body and "正在退款" not in inbox.body
    # The order is free: a later request may be opened on it.
    again = submit(order)
    assert again.status == RefundStatus.PENDING_HOMEROOM


def test_the_periodic_check_closes_a_request_left_approved_at_zero(gateways, student, homeroom, campus):
    gateways.callbacks_enabled = False  # the payout is removed below, before any callback could book it
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="300.00")
    request = submit(order)
    refund_approve(request_id=request.pk, actor=homeroom.user)
    Payout.objects.filter(request=request).delete()
    RefundRequest.objects.filter(pk=request.pk).update(status=RefundStatus.APPROVED, approved_amount=0)

    services.payouts_check(older_than_seconds=0)

    request.refresh_from_db()
    assert request.status == RefundStatus.CLOSED
    assert request.transitions.filter(name="close", to_status=RefundStatus.CLOSED).exists()

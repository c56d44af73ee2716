"""Approval to refunded against the gateway simulator over real HTTPS, with the real SDKs.

The database is committed (``transaction=True``) so the approval's on-commit hook runs the
payout (eagerly, in this process) and the live server can apply the gateway's callbacks.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from finance.models import Voucher
from orders.models import OrderStatus, PaymentChannel
from payments import services
from payments.models import ExchangeKind, Payout, PayoutStatus
from refunds.models import RefundEvent, RefundStatus

from .helpers import approved_request, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _refunded(request):
    request.refresh_from_db()
    return request.status == RefundStatus.REFUNDED


def _one_movement(sim, payout):
    assert sim.refunds_executed()[payout.payout_no] == 1
    assert sum(sim.refunds_executed().values()) == 1


def test_an_alipay_refund_is_confirmed_by_the_gateway_answer(gateways, student, homeroom, campus):
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=PaymentChannel.ALIPAY)

    payout.refresh_from_db()
    request.refresh_from_db()
    assert payout.status == PayoutStatus.SUCCEEDED
    assert request.status == RefundStatus.REFUNDED
    _one_movement(gateways, payout)
    assert gateways.total_refunded == payout.amount
    order = request.order
    order.refresh_from_db()
    assert order.refunded_total == payout.amount
    assert order.status == OrderStatus.PARTIALLY_REFUNDED
    voucher = Voucher.objects.get(payout=payout)
    assert [line.account_code for line in voucher.lines.all()] == ["2203", "1012.02"]
    assert payout.arrival_earliest == payout.arrival_latest
    event = RefundEvent.objects.get(request=request, kind="payout_succeeded")
    assert event.payload["payout_no"] == payout.payout_no


def test_a_wechat_refund_is_confirmed_only_by_the_callback(gateways, student, homeroom, campus):
    gateways.callbacks_enabled = False
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus)

    payout.refresh_from_db()
    request.refresh_from_db()
    # WeChat accepted the refund; until it confirms, the student is not told "refunded".
    assert payout.status == PayoutStatus.SENT
    assert request.status == RefundStatus.PAYING
    assert not RefundEvent.objects.filter(request=request, kind="payout_succeeded").exists()

    gateways.callbacks_enabled = True
    services.payout_execute(payout_id=payout.pk)  # a check: queries, finds success

    assert _refunded(request)
    _one_movement(gateways, payout)
    assert payout.exchanges.filter(kind=ExchangeKind.QUERY, outcome="succeeded").exists()


def test_a_wechat_refund_completes_through_its_callback(gateways, student, homeroom, campus):
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus)
    wait_until(lambda: _refunded(request), what="the callback to complete the refund")
    payout.refresh_from_db()
    assert payout.gateway_refund_id
    assert payout.exchanges.filter(kind=ExchangeKind.CALLBACK, outcome="succeeded").exists()
    _one_movement(gateways, payout)


@pytest.mark.parametrize("channel", [PaymentChannel.WECHAT, PaymentChannel.ALIPAY])
def test_insufficient_balance_fails_the_payout_and_tells_finance(gateways, student, homeroom, campus, channel):
    gateways.behave(channel, "insufficient_balance")
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=channel)

    payout.refresh_from_db()
    request.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    assert payout.error_code in ("NOTENOUGH", "ACQ.SELLER_BALANCE_NOT_ENOUGH")
    assert request.status == RefundStatus.PAYOUT_FAILED
    assert RefundEvent.objects.filter(request=request, kind="payout_failed").count() == 1
    assert gateways.refunds_executed() == {}
    assert not Voucher.objects.exists()
    request.order.refresh_from_db()
    assert request.order.refunded_total == Decimal("0.00")


@pytest.mark.parametrize("channel", [PaymentChannel.WECHAT, PaymentChannel.ALIPAY])
@pytest.mark.parametrize("behaviour", ["system_error", "http_500"])
def test_a_retry_safe_error_leaves_the_outcome_unknown_and_the_retry_pays_once(
    gateways, student, homeroom, campus, channel, behaviour
):
    gateways.behave(channel, behaviour, times=1)
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=channel)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.UNKNOWN
    assert gateways.refunds_executed() == {}

    services.payout_execute(payout_id=payout.pk)

    wait_until(lambda: _refunded(request), what="the retried refund to complete")
    _one_movement(gateways, payout)
    # The retry asked first, then sent the refund under the same number.
    kinds = list(payout.exchanges.values_list("kind", "outcome"))
    assert kinds[:3] == [("refund", "error"), ("query", "not_found"), ("refund", kinds[2][1])]


@pytest.mark.parametrize("channel", [PaymentChannel.WECHAT, PaymentChannel.ALIPAY])
@pytest.mark.parametrize("behaviour", ["crash_after_execute", "bad_signature"])
def test_money_that_moved_behind_an_unreadable_answer_is_found_by_the_query_not_paid_again(
    gateways, student, homeroom, campus, channel, behaviour
):
    gateways.callbacks_enabled = False
    gateways.behave(channel, behaviour, times=1)
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=channel)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.UNKNOWN
    assert gateways.refunds_executed()[payout.payout_no] == 1

    services.payout_execute(payout_id=payout.pk)

    assert _refunded(request)
    _one_movement(gateways, payout)
    refund_calls = "secapi/pay/refund" if channel == PaymentChannel.WECHAT else "alipay.trade.refund"
    assert gateways.requests_received[refund_calls] == 1


@pytest.mark.parametrize(("behaviour", "callbacks"), [("callback_before_response", 1), ("duplicate_callback", 2)])
def test_early_and_duplicate_callbacks_pay_and_book_once(gateways, student, homeroom, campus, behaviour, callbacks):
    gateways.behave("wechat", behaviour, times=1)
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus)
    wait_until(lambda: _refunded(request), what="the refund to complete")
    delivered = gateways.wait_for_callbacks(callbacks)

    assert [c.status for c in delivered] == [200] * callbacks
    assert Voucher.objects.filter(payout=payout).count() == 1
    assert RefundEvent.objects.filter(request=request, kind="payout_succeeded").count() == 1
    request.order.refresh_from_db()
    assert request.order.refunded_total == payout.amount
    _one_movement(gateways, payout)


def test_an_alipay_notice_while_the_worker_holds_the_payout_is_sent_again_not_queried(
    gateways, student, homeroom, campus
):
    # Alipay's notice names no amount of this refund, so alone it would take a query. Arriving
    # while the worker still waits for its call's answer, it is not acknowledged (no query): the
    # worker books the answer, and the notice sent again finds the payout final.
    gateways.callback_retry_delays = (0.5, 1.0)
    gateways.behave("alipay", "callback_before_response", times=1)
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=PaymentChannel.ALIPAY)

    assert _refunded(request)
    delivered = gateways.wait_for_callbacks(2)
    assert [d.reply.strip() for d in delivered[:2]] == [b"failure", b"success"]
    assert gateways.requests_received["alipay.trade.fastpay.refund.query"] == 0
    assert not payout.exchanges.filter(kind=ExchangeKind.QUERY).exists()
    assert payout.exchanges.filter(kind=ExchangeKind.CALLBACK).count() == 2
    assert Voucher.objects.filter(payout=payout).count() == 1
    _one_movement(gateways, payout)


def test_an_alipay_notice_for_a_payout_nobody_holds_is_confirmed_by_a_query(
    gateways, student, homeroom, campus, client
):
    gateways.callbacks_enabled = False
    gateways.behave("alipay", "http_500_after_execute", times=1)
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=PaymentChannel.ALIPAY)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.UNKNOWN and payout.lease_until is None  # nobody holds it

    response = client.post("/payments/alipay/notify/", gateways.alipay_notification(payout.payout_no))

    assert response.content.strip() == b"success"
    assert gateways.requests_received["alipay.trade.fastpay.refund.query"] == 1
    assert _refunded(request)
    _one_movement(gateways, payout)


def test_a_payout_already_final_is_left_alone_by_a_late_execution(gateways, student, homeroom, campus):
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=PaymentChannel.ALIPAY)
    before = gateways.requests_received.copy()

    assert services.payout_execute(payout_id=payout.pk) == services.Step.DONE

    assert gateways.requests_received == before
    assert Payout.objects.get(pk=payout.pk).attempts == 1


def test_the_periodic_check_finishes_a_payout_left_behind(gateways, student, homeroom, campus):
    gateways.callbacks_enabled = False
    gateways.behave("alipay", "crash_after_execute", times=1)
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=PaymentChannel.ALIPAY)
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.UNKNOWN

    assert services.payouts_check(older_than_seconds=0) == 1

    assert _refunded(request)
    _one_movement(gateways, payout)

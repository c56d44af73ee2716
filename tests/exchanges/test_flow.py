"""Course exchanges end to end: the student asks, customer service and the supervisor approve, the
difference goes back through the payout path or is paid through the collecting path, both against
the gateway simulator over HTTPS with the real SDKs and notifications coming back to a live server;
then the old order closes as exchanged and the new one opens, booked by finance."""

from __future__ import annotations

import datetime
import json

import pytest
from django.utils import timezone

from exchanges.models import Exchange, ExchangeStatus
from exchanges.services import ExchangeError, exchange_cancel, exchange_pay, exchange_submit, exchanges_settle
from finance.archive import archive_entries
from finance.models import Voucher
from orders.models import Order, OrderStatus, PaymentChannel
from payments.models import Collection, CollectionStatus, Payout, PayoutStatus
from refunds.models import RefundRequest, RefundStatus, RequestKind
from refunds.services import RefundActionError, refund_submit
from tests.payments.helpers import wait_until

from .helpers import D, approve_all, policy, setup, target

pytestmark = pytest.mark.django_db(transaction=True)


def _submit(order, course, **kwargs) -> Exchange:
    return exchange_submit(
        student=order.student,
        order_no=order.order_no,
        target_code=course.code,
        reason="time_conflict",
        details="上课时间冲突，想换到周末班。",
        **kwargs,
    )


def _fresh(exchange: Exchange) -> Exchange:
    return Exchange.objects.select_related("request", "new_order", "old_order").get(pk=exchange.pk)


@pytest.mark.parametrize("channel", [PaymentChannel.WECHAT, PaymentChannel.ALIPAY])
def test_a_cheaper_course_refunds_the_difference_by_the_original_route_then_opens(
    gateways, student, homeroom, supervisor, campus, channel
):
    policy()
    order, service = setup(student=student, homeroom=homeroom, campus=campus, channel=channel)
    cheaper = target(campus, "2000.00")
    exchange = _submit(order, cheaper, seen_refund=D("3000.00") - D("2000.00"), seen_pay=D("0.00"))
    request = exchange.request
    assert request.kind == RequestKind.EXCHANGE and request.route == ["service", "supervisor"]
    assert request.status == RefundStatus.PENDING_SERVICE
    assert (exchange.carried_value, exchange.refund_amount) == (D("3000.00"), D("1000.00"))

    approve_all(request, service=service, supervisor=supervisor)
    payout = Payout.objects.get(request=request)
    assert payout.amount == D("1000.00")
    wait_until(lambda: _fresh(exchange).status == ExchangeStatus.COMPLETED, what="the refund to complete the exchange")
    assert gateways.refunds_executed()[payout.payout_no] == 1

    exchange = _fresh(exchange)
    old = Order.objects.get(pk=order.pk)
    assert old.status == OrderStatus.EXCHANGED
    assert (old.refunded_total, old.credited_total) == (D("1000.00"), D("2000.00"))
    assert old.refundable_remaining == D("0.00")
    new = exchange.new_order
    assert (new.course_id, new.amount_paid, new.carried_in, new.new_money) == (
        cheaper.pk,
        D("2000.00"),
        D("2000.00"),
        D("0.00"),
    )
    assert new.exchanged_from_id == old.pk and new.enrollment.homeroom_teacher_id == homeroom.pk
    assert exchange.request.status == RefundStatus.REFUNDED
    kinds = sorted(Voucher.objects.filter(request=request).values_list("kind", flat=True))
    assert kinds == ["exchange", "refund"]
    moved = Voucher.objects.get(request=request, kind="exchange")
    lines = list(moved.lines.values_list("account_code", "debit", "credit"))
    assert lines == [("2203", D("2000.00"), D("0.00")), ("2203", D("0.00"), D("2000.00"))]


def test_an_equal_price_completes_at_approval_and_nothing_moves(gateways, student, homeroom, supervisor, campus):
    policy()
    order, service = setup(student=student, homeroom=homeroom, campus=campus)
    same = target(campus, "3000.00")
    exchange = _submit(order, same)
    request = approve_all(exchange.request, service=service, supervisor=supervisor)
    exchange = _fresh(exchange)
    assert exchange.status == ExchangeStatus.COMPLETED
    assert request.status == RefundStatus.CLOSED
    assert not Payout.objects.filter(request=request).exists()
    assert sum(gateways.refunds_executed().values()) == 0
    assert Order.objects.get(pk=order.pk).credited_total == D("3000.00")


@pytest.mark.parametrize(
    "channel, mode",
    [("wechat", "wechat_native"), ("wechat", "wechat_h5"), ("alipay", "alipay_qr"), ("alipay", "alipay_wap")],
)
def test_a_dearer_course_waits_for_the_difference_paid_online_then_opens(
    gateways, student, homeroom, supervisor, campus, channel, mode
):
    policy()
    order, service = setup(student=student, homeroom=homeroom, campus=campus)
    dearer = target(campus, "3600.00")
    exchange = _submit(order, dearer)
    approve_all(exchange.request, service=service, supervisor=supervisor)
    exchange = _fresh(exchange)
    assert exchange.status == ExchangeStatus.AWAITING_PAYMENT
    assert exchange.pay_amount == D("600.00") and exchange.pay_deadline is not None
    assert exchange.request.status == RefundStatus.APPROVED  # the order stays held

    collection = exchange_pay(
        exchange_id=exchange.pk, student=student, channel=channel, mode=mode, client_ip="203.0.113.9"
    )
    assert collection.status == CollectionStatus.OPEN and collection.amount == D("600.00")
    gateways.pay(collection.collection_no, pay_url=collection.pay_url)
    wait_until(lambda: _fresh(exchange).status == ExchangeStatus.COMPLETED, what="the payment to complete the exchange")

    exchange = _fresh(exchange)
    new = exchange.new_order
    assert (new.amount_paid, new.carried_in, new.new_money) == (D("3600.00"), D("3000.00"), D("600.00"))
    assert exchange.request.status == RefundStatus.CLOSED
    voucher = Voucher.objects.get(request=exchange.request, kind="exchange")
    assert voucher.amount == D("3600.00")
    lines = list(voucher.lines.values_list("account_code", "debit", "credit"))
    assert lines[2][1:] == (D("600.00"), D("0.00")) and lines[3] == ("2203", D("0.00"), D("600.00"))
    assert sum(gateways.refunds_executed().values()) == 0
    # The archive holds it all: the request's own parts and the exchange's.
    files = {entry.name: entry for entry in archive_entries(exchange.request)}
    assert {"exchange/exchange.json", "exchange/calculation.csv", "exchange/payments.json"} <= set(files)
    assert {"decisions/steps.csv", "vouchers/vouchers.csv", "messages/notifications.csv"} <= set(files)
    payments = json.loads(b"".join(files["exchange/payments.json"].content))
    assert [p["status"] for p in payments] == ["paid"] and payments[0]["gateway"]
    summary = json.loads(b"".join(files["exchange/exchange.json"].content))
    assert summary["new_order"] == new.order_no and summary["pay_amount"] == "600.00"


@pytest.mark.parametrize("fault", ["notify_bad_signature", "notify_wrong_amount"])
def test_a_forged_or_wrong_notification_changes_nothing(gateways, student, homeroom, supervisor, campus, fault):
    policy()
    order, service = setup(student=student, homeroom=homeroom, campus=campus)
    exchange = _submit(order, target(campus, "3600.00"))
    approve_all(exchange.request, service=service, supervisor=supervisor)
    gateways.behave("wechat", fault)
    collection = exchange_pay(exchange_id=exchange.pk, student=student, channel="wechat", mode="wechat_native")
    gateways.pay(collection.collection_no, pay_url=collection.pay_url)
    gateways.wait_for_callbacks(1)
    assert _fresh(exchange).status == ExchangeStatus.AWAITING_PAYMENT
    assert Collection.objects.get(pk=collection.pk).status == CollectionStatus.OPEN
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
    assert not Order.objects.filter(exchanged_from=order).exists()


def test_never_paid_the_exchange_lapses_nothing_is_created_and_the_code_is_closed(
    gateways, student, homeroom, supervisor, campus
):
    policy(pay_within_hours=1)
    order, service = setup(student=student, homeroom=homeroom, campus=campus)
    exchange = _submit(order, target(campus, "3600.00"))
    approve_all(exchange.request, service=service, supervisor=supervisor)
    collection = exchange_pay(exchange_id=exchange.pk, student=student, channel="alipay", mode="alipay_wap")
    later = timezone.now() + datetime.timedelta(hours=2)
    exchanges_settle(now=later)

    exchange = _fresh(exchange)
    assert exchange.status == ExchangeStatus.LAPSED and exchange.new_order is None
    assert exchange.request.status == RefundStatus.CLOSED
    order.refresh_from_db()
    assert (order.status, order.credited_total) == (OrderStatus.PAID, D("0.00"))
    assert Collection.objects.get(pk=collection.pk).status == CollectionStatus.CLOSED
    with pytest.raises(ExchangeError):
        exchange_pay(exchange_id=exchange.pk, student=student, channel="wechat", mode="wechat_native")
    # The order is free again: a refund may be asked for.
    assert refund_submit(student=student, order_no=order.order_no, reason="other", details="还是想退费，谢谢老师。")


def test_paid_twice_with_two_codes_the_second_payment_is_refunded_by_itself(
    gateways, student, homeroom, supervisor, campus
):
    policy()
    order, service = setup(student=student, homeroom=homeroom, campus=campus)
    exchange = _submit(order, target(campus, "3600.00"))
    approve_all(exchange.request, service=service, supervisor=supervisor)
    first = exchange_pay(exchange_id=exchange.pk, student=student, channel="wechat", mode="wechat_native")
    second = exchange_pay(exchange_id=exchange.pk, student=student, channel="alipay", mode="alipay_qr")
    gateways.pay(first.collection_no, pay_url=first.pay_url)
    wait_until(lambda: _fresh(exchange).status == ExchangeStatus.COMPLETED, what="the first payment")
    gateways.pay(second.collection_no, pay_url=second.pay_url)  # paid on the other phone before it closed
    wait_until(
        lambda: Collection.objects.get(pk=second.pk).status == CollectionStatus.REFUNDED,
        what="the second payment to be refunded",
    )
    assert Collection.objects.get(pk=first.pk).status == CollectionStatus.PAID
    assert Order.objects.filter(exchanged_from=order).count() == 1
    exchanges_settle()  # the sweep refunds nothing more
    assert sum(gateways.refunds_executed().values()) == 1


def test_the_student_withdraws_before_paying(gateways, student, homeroom, supervisor, campus):
    policy()
    order, service = setup(student=student, homeroom=homeroom, campus=campus)
    exchange = _submit(order, target(campus, "3600.00"))
    approve_all(exchange.request, service=service, supervisor=supervisor)
    exchange = exchange_cancel(exchange_id=exchange.pk, student=student)
    assert exchange.status == ExchangeStatus.CANCELLED
    assert RefundRequest.objects.get(pk=exchange.request_id).status == RefundStatus.CLOSED


def test_an_exchanged_order_can_never_be_refunded_or_credited_again(gateways, student, homeroom, supervisor, campus):
    policy()
    order, service = setup(student=student, homeroom=homeroom, campus=campus)
    exchange = _submit(order, target(campus, "3000.00"))
    approve_all(exchange.request, service=service, supervisor=supervisor)
    with pytest.raises(RefundActionError) as refused:
        refund_submit(student=student, order_no=order.order_no, reason="other", details="想把旧订单也退掉。")
    assert refused.value.code == "exchanged"
    with pytest.raises(ExchangeError):
        _submit(order, target(campus, "1000.00"))


def test_the_calculation_changed_since_she_looked_files_nothing(gateways, student, homeroom, campus):
    policy()
    order, _service = setup(student=student, homeroom=homeroom, campus=campus)
    with pytest.raises(ExchangeError) as refused:
        _submit(order, target(campus, "2000.00"), seen_refund=D("1200.00"))
    assert refused.value.code == "changed"
    assert not RefundRequest.objects.filter(order=order).exists()
    assert not Exchange.objects.exists()


def test_a_large_difference_goes_to_the_campus_head(gateways, student, homeroom, supervisor, campus_head, campus):
    policy()
    order, service = setup(student=student, homeroom=homeroom, campus=campus, price="8000.00")
    exchange = _submit(order, target(campus, "2000.00"))
    assert exchange.request.route == ["service", "supervisor", "campus_head"]
    request = approve_all(exchange.request, service=service, supervisor=supervisor, campus_head=campus_head)
    assert request.status in (RefundStatus.APPROVED, RefundStatus.PAYING, RefundStatus.REFUNDED)
    assert Payout.objects.get(request=request).status in (
        PayoutStatus.SENT,
        PayoutStatus.SUCCEEDED,
        PayoutStatus.QUEUED,
    )


def test_the_guard_never_lets_an_exchange_credit_more_than_is_left_on_the_order(
    gateways, student, homeroom, supervisor, campus
):
    policy()
    order, service = setup(student=student, homeroom=homeroom, campus=campus)
    exchange = _submit(order, target(campus, "3000.00"))
    # Meanwhile 2000.00 of the order went back by another way (recorded by the order system).
    Order.objects.filter(pk=order.pk).update(refunded_total=D("2000.00"), status=OrderStatus.PARTIALLY_REFUNDED)
    approve_all(exchange.request, service=service, supervisor=supervisor)
    assert exchanges_settle() == 0  # the sweep tries again, and the guard refuses again

    exchange = _fresh(exchange)
    assert exchange.status == ExchangeStatus.IN_REVIEW and exchange.new_order is None
    order.refresh_from_db()
    assert (order.status, order.refunded_total, order.credited_total) == (
        OrderStatus.PARTIALLY_REFUNDED,
        D("2000.00"),
        D("0.00"),
    )
    assert not Order.objects.filter(exchanged_from=order).exists()


def test_a_refund_of_the_new_order_goes_back_against_the_first_payment(gateways, student, homeroom, supervisor, campus):
    from payments.services import _refund_call

    policy()
    order, service = setup(student=student, homeroom=homeroom, campus=campus)
    exchange = _submit(order, target(campus, "2000.00"))
    approve_all(exchange.request, service=service, supervisor=supervisor)
    wait_until(lambda: _fresh(exchange).status == ExchangeStatus.COMPLETED, what="the exchange")
    new = _fresh(exchange).new_order
    refund = refund_submit(
        student=student, order_no=new.order_no, reason="time_conflict", details="家里有事，无法继续学习。"
    )
    payout = Payout(request=refund, order=new, amount=D("100.00"), payout_no="PO-TEST", channel=new.channel)
    call = _refund_call(payout)
    assert (call.order_no, call.trade_no, call.order_total) == (order.order_no, order.gateway_trade_no, D("3000.00"))

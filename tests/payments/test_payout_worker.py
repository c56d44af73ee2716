"""Exactly once with real workers: Celery worker processes on Redis, PostgreSQL, the simulator.

The approvals happen in this process; their payouts go through Redis to worker processes, which
call the simulator over HTTPS; its callbacks come back to this test's live server.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.db.models import Sum

from finance.models import Receipt
from notifications.models import Notification, NotificationStatus
from orders.models import PaymentChannel
from payments.models import Payout, PayoutStatus
from payments.tasks import check_payouts
from refunds.models import RefundRequest, RefundStatus
from schoolops import queues
from tests import factories
from tests.conftest import reseed_shipped_data

from .conftest import FAST
from .helpers import approved_request, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def test_two_hundred_refunds_across_both_gateways_are_paid_exactly_once_despite_failures(
    gateways, start_worker, campus, homeroom
):
    gateways.behave(None, "system_error", probability=0.2, first_attempt_only=True)
    worker = start_worker()
    requests = []
    for index in range(200):
        student = factories.make_student(campus=campus)
        channel = PaymentChannel.WECHAT if index % 2 else PaymentChannel.ALIPAY
        price = f"{200 + index}.00"
        requests.append(
            approved_request(student=student, homeroom=homeroom, campus=campus, price=price, channel=channel)[0]
        )
    approved_total = RefundRequest.objects.aggregate(total=Sum("approved_amount"))["total"]

    wait_until(
        lambda: RefundRequest.objects.filter(status=RefundStatus.REFUNDED).count() == 200,
        timeout=300,
        interval=0.5,
        what=f"200 refunds to be confirmed (worker log:\n{worker.log()})",
    )

    executed = gateways.refunds_executed()
    assert len(executed) == 200
    assert set(executed.values()) == {1}, "a merchant refund number moved money twice"
    assert set(executed) == set(Payout.objects.values_list("payout_no", flat=True))
    assert Payout.objects.count() == 200
    assert set(Payout.objects.values_list("status", flat=True)) == {PayoutStatus.SUCCEEDED}
    assert gateways.total_refunded == approved_total == Payout.objects.aggregate(total=Sum("amount"))["total"]
    # The failures really happened, and were retried (querying first) rather than paid again.
    retried = Payout.objects.filter(exchanges__outcome="error").distinct().count()
    assert 20 <= retried <= 70, retried


def test_payouts_never_wait_behind_notifications_or_receipts(gateways, start_worker, student, homeroom, campus):
    # Only the payouts queue has a worker: the refund is paid while its messages and its
    # e-receipt wait in queues of their own.
    reseed_shipped_data(templates=True)  # the messages are written from the shipped templates
    payouts = start_worker(consumes=(queues.PAYOUTS,))
    request, _payout = approved_request(student=student, homeroom=homeroom, campus=campus)
    wait_until(
        lambda: RefundRequest.objects.get(pk=request.pk).status == RefundStatus.REFUNDED,
        timeout=60,
        interval=0.2,
        what=f"the payout to be confirmed by the payouts worker alone (log:\n{payouts.log()})",
    )
    waiting = Notification.objects.filter(refund_request=request)
    assert waiting.exists() and set(waiting.values_list("status", flat=True)) == {NotificationStatus.QUEUED}
    assert not Receipt.objects.filter(request=request).exists()

    # The other queues' worker then sends the messages and issues the receipt.
    others = start_worker(consumes=(queues.NOTIFICATIONS, queues.DOCUMENTS, queues.DEFAULT))
    wait_until(
        lambda: (
            not waiting.filter(status__in=(NotificationStatus.QUEUED, NotificationStatus.SENDING)).exists()
            and Receipt.objects.filter(request=request).exists()
        ),
        timeout=90,
        interval=0.3,
        what=f"messages sent and the receipt issued by the other queues' worker (log:\n{others.log()})",
    )
    assert waiting.filter(status=NotificationStatus.SENT, channel="inbox").exists()


def test_a_worker_killed_after_the_gateway_paid_and_before_we_stored_it_pays_once(
    gateways, start_worker, student, homeroom, campus
):
    gateways.callbacks_enabled = False  # only our own query may find out what happened
    gateways.behave("wechat", "hang_after_execute", times=1, delay=60)
    first = start_worker()

    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus)
    moved = gateways.wait_for_refund(payout.payout_no, timeout=30)
    assert moved is not None, first.log()
    first.kill()
    gateways.release()

    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SENT  # we never heard the answer
    assert not payout.exchanges.exists()

    # Started again, the worker gets the beat's periodic check: the payout's lease has run out, so
    # it is handed on, and the new attempt asks the gateway before anything else. (The killed
    # worker's message also comes back once the broker's visibility timeout passes; it then finds
    # the payout final and does nothing.)
    second = start_worker()
    time.sleep(float(FAST["PAYOUT_LEASE_SECONDS"]))
    check_payouts.delay()
    wait_until(
        lambda: RefundRequest.objects.get(pk=request.pk).status == RefundStatus.REFUNDED,
        timeout=60,
        interval=0.2,
        what=f"the redelivered payout to be confirmed (worker log:\n{second.log()})",
    )
    assert gateways.refunds_executed() == {payout.payout_no: 1}
    assert gateways.requests_received["secapi/pay/refund"] == 1  # found by the query, not sent again
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUCCEEDED
    assert payout.exchanges.filter(kind="query", outcome="succeeded").exists()
    assert gateways.total_refunded == payout.amount == Decimal(request.approved_amount)

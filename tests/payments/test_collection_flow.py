"""End to end, with the simulator's notifications coming back to a live server: the student pays on
the cashier page, the gateway notifies, the collection is paid; the notification faults (never,
bad signature, wrong amount, replayed) change nothing a query would not; a duplicate's refund is
settled by its own notification."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from payments.collections import collection_query, collection_refund_duplicate
from payments.models import Collection, CollectionEvent, CollectionStatus, RejectedCallback

from .helpers import open_collection, wait_until

pytestmark = pytest.mark.usefixtures("transactional_db")

MODES = [("wechat", "wechat_native"), ("wechat", "wechat_h5"), ("alipay", "alipay_qr"), ("alipay", "alipay_wap")]


def _status(collection: Collection) -> str:
    return Collection.objects.get(pk=collection.pk).status


def _paid(collection: Collection) -> bool:
    return _status(collection) == CollectionStatus.PAID


@pytest.mark.parametrize("channel, mode", MODES)
def test_the_student_pays_on_the_cashier_page_and_the_notification_marks_it_paid(gateways, student, channel, mode):
    collection = open_collection(student=student, channel=channel, mode=mode)
    assert collection.status == CollectionStatus.OPEN, collection.error_message
    ca = str(gateways.material.ca_cert)
    page = requests.get(collection.pay_url, verify=ca, timeout=5)  # scanning the code / opening the link
    assert "确认支付" in page.text and "¥88.00" in page.text
    order = gateways.payment_order(collection.collection_no)
    done = requests.post(f"{gateways.url}cashier/{order.token}", data={"action": "pay"}, verify=ca, timeout=5)
    assert "支付成功" in done.text
    wait_until(lambda: _paid(collection), what="the payment notification")
    delivery = gateways.wait_for_callbacks(1)[0]
    assert delivery.status == 200 and delivery.payout_no == collection.collection_no
    assert (b"SUCCESS" in delivery.reply) if channel == "wechat" else delivery.reply == b"success"
    collection.refresh_from_db()
    assert collection.gateway_trade_no == order.trade_no and collection.paid_amount == Decimal("88.00")
    assert CollectionEvent.objects.filter(collection=collection, kind="paid").count() == 1


@pytest.mark.parametrize("channel, mode", [MODES[0], MODES[2]])
def test_a_replayed_notification_is_acknowledged_and_books_nothing_twice(gateways, student, channel, mode):
    gateways.behave(channel, "notify_replay")
    collection = open_collection(student=student, channel=channel, mode=mode)
    gateways.pay(collection.collection_no, pay_url=collection.pay_url)
    deliveries = gateways.wait_for_callbacks(2)
    assert len(deliveries) == 2 and deliveries[0].body == deliveries[1].body
    assert all(d.status == 200 for d in deliveries)
    assert _paid(collection)
    assert CollectionEvent.objects.filter(collection=collection).count() == 1
    assert not RejectedCallback.objects.exists()


@pytest.mark.parametrize("behaviour", ["notify_bad_signature", "notify_wrong_amount"])
@pytest.mark.parametrize("channel, mode", [MODES[1], MODES[3]])
def test_a_forged_or_wrong_amount_notification_changes_nothing_and_the_query_settles_it(
    gateways, student, channel, mode, behaviour
):
    gateways.callback_retry_delays = ()  # one refused delivery is enough to look at
    gateways.behave(channel, behaviour)
    collection = open_collection(student=student, channel=channel, mode=mode)
    gateways.pay(collection.collection_no, pay_url=collection.pay_url)
    delivery = gateways.wait_for_callbacks(1)[0]
    assert delivery.status == 200 and (b"FAIL" in delivery.reply or delivery.reply == b"failure")
    assert _status(collection) == CollectionStatus.OPEN
    refused = RejectedCallback.objects.get()
    assert refused.channel == channel
    if behaviour == "notify_wrong_amount":
        assert refused.payout_no == collection.collection_no and "88.01" in refused.reason
    assert collection_query(collection_id=collection.pk).status == CollectionStatus.PAID


@pytest.mark.parametrize("channel, mode", [MODES[0], MODES[2]])
def test_a_notification_never_sent_is_settled_by_the_query(gateways, student, channel, mode):
    gateways.behave(channel, "notify_never")
    collection = open_collection(student=student, channel=channel, mode=mode)
    gateways.pay(collection.collection_no, pay_url=collection.pay_url)
    assert gateways.wait_for_callbacks(1, timeout=0.5) == []
    assert _status(collection) == CollectionStatus.OPEN
    assert collection_query(collection_id=collection.pk).status == CollectionStatus.PAID


@pytest.mark.parametrize("channel, mode", [MODES[0], MODES[2]])
def test_the_duplicates_refund_is_settled_by_its_notification_at_the_payment_endpoint(gateways, student, channel, mode):
    first = open_collection(student=student, channel=channel, mode=mode, purpose_id=3)
    second = open_collection(student=student, channel=channel, mode=mode, purpose_id=3)
    for collection in (first, second):
        gateways.pay(collection.collection_no, pay_url=collection.pay_url)
    wait_until(lambda: _paid(first) and _paid(second), what="both payments")
    collection_refund_duplicate(collection_id=second.pk, reason="同一换课重复支付")
    wait_until(lambda: _status(second) == CollectionStatus.REFUNDED, what="the refund")
    second.refresh_from_db()
    # The refund's notification came to our payment endpoint and was taken (WeChat's settled it).
    refund_notice = wait_until(
        lambda: [d for d in gateways.wait_for_callbacks(3, timeout=0) if d.payout_no == second.refund_no],
        what="the refund notification",
    )[0]
    assert refund_notice.status == 200 and refund_notice.url.endswith(f"/payments/{channel}/pay-notify/")
    assert (b"SUCCESS" in refund_notice.reply) if channel == "wechat" else refund_notice.reply == b"success"
    assert gateways.refunds_executed() == {second.refund_no: 1}
    assert _status(first) == CollectionStatus.PAID
    assert not RejectedCallback.objects.exists()

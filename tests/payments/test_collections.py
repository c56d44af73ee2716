"""Collecting from students through the services, against the simulator over HTTPS with the real
SDKs: opening (and what a gateway error leaves), expiry (query first, then close), the query that
settles a lost notification, two paid collections and the duplicate's refund, exactly once."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from payments import collections
from payments.collection_events import _writers, collection_event_writer
from payments.collections import (
    CollectionError,
    collection_close,
    collection_prepare,
    collection_query,
    collection_refund_duplicate,
    collection_refunds_check,
    collection_send,
    collections_expire,
)
from payments.models import Collection, CollectionEvent, CollectionStatus
from payments.selectors import collection_for_display, collections_for
from payments.tasks import check_collection_refunds, expire_collections

from .helpers import open_collection

pytestmark = pytest.mark.django_db

MODES = [("wechat", "wechat_native"), ("wechat", "wechat_h5"), ("alipay", "alipay_qr"), ("alipay", "alipay_wap")]
QUERY = {"wechat": "pay/orderquery", "alipay": "alipay.trade.query"}
CLOSE = {"wechat": "pay/closeorder", "alipay": "alipay.trade.close"}


@pytest.fixture
def sim(gateway_settings):
    gateway_settings.callbacks_enabled = False  # only queries tell these tests what happened
    return gateway_settings


def _events(collection: Collection) -> list[str]:
    return list(CollectionEvent.objects.filter(collection=collection).values_list("kind", flat=True))


def _later(collection: Collection, seconds: int = 1) -> datetime.datetime:
    return collection.expires_at + datetime.timedelta(seconds=seconds)


# --- opening ------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel, mode", MODES)
def test_opening_a_collection_gives_the_student_a_link_to_pay(sim, student, channel, mode):
    collection = open_collection(student=student, channel=channel, mode=mode)
    assert collection.status == CollectionStatus.OPEN
    assert collection.pay_url.startswith(sim.url) and collection.opened_at is not None
    assert collection.collection_no.startswith("CO") and len(collection.collection_no) == 22
    assert collection.campus_id == student.campus_id
    assert collection.exchanges.get().kind == "create"


@pytest.mark.parametrize(
    "changes, code",
    [
        ({"amount": Decimal("0.00")}, "amount"),
        ({"amount": Decimal("1.234")}, "amount"),
        ({"mode": "alipay_qr"}, "mode"),
        ({"channel": "card", "mode": "card"}, "mode"),
        ({"description": "  "}, "description"),
        ({"purpose": ""}, "purpose"),
        ({"client_ip": "not-an-ip"}, "client_ip"),
        ({"expires_at": timezone.now() - datetime.timedelta(seconds=1)}, "expires_at"),
        ({"expires_at": timezone.now() + datetime.timedelta(minutes=4)}, "expires_at"),  # WeChat: 5 at least
        ({"return_url": "javascript:alert(1)"}, "return_url"),
    ],
)
def test_an_unusable_collection_is_refused_and_nothing_is_recorded(sim, student, changes, code):
    values = {
        "purpose": "exchange",
        "purpose_id": 1,
        "student": student,
        "campus_id": student.campus_id,
        "amount": Decimal("88.00"),
        "channel": "wechat",
        "mode": "wechat_native",
        "description": "换课差价",
        "expires_at": timezone.now() + datetime.timedelta(minutes=30),
        **changes,
    }
    with pytest.raises(CollectionError) as refused:
        collection_prepare(**values)
    assert refused.value.code == code
    assert not Collection.objects.exists()


@pytest.mark.parametrize("behaviour", ["system_error", "http_500", "crash_after_execute"])
def test_a_gateway_error_while_opening_leaves_it_created_and_sending_again_opens_the_same_trade(
    sim, student, behaviour
):
    sim.behave("wechat", behaviour, endpoint="create", times=1)
    collection = open_collection(student=student)
    assert collection.status == CollectionStatus.CREATED
    assert collection.error_code and collection.pay_url == ""
    display = collection_for_display(student=student, collection_no=collection.collection_no)
    assert display is not None and not display.payable and not display.final
    collection = collection_send(collection_id=collection.pk)
    assert collection.status == CollectionStatus.OPEN and collection.error_code == ""
    assert collection.open_attempts == 2
    assert len(sim.ledger.payments) == 1  # one trade at the gateway, whatever happened to the answers


def test_a_prepared_collection_is_sent_once_after_the_callers_commit(sim, student):
    collection = collection_prepare(
        purpose="exchange",
        purpose_id=9,
        student=student,
        campus_id=student.campus_id,
        amount=Decimal("10.00"),
        channel="alipay",
        mode="alipay_qr",
        description="换课差价",
        expires_at=timezone.now() + datetime.timedelta(minutes=15),
    )
    assert collection.status == CollectionStatus.CREATED and not sim.ledger.payments
    assert collection_send(collection_id=collection.pk).status == CollectionStatus.OPEN
    assert collection_send(collection_id=collection.pk).open_attempts == 1  # open: nothing more to send


def test_a_refusal_for_good_with_no_trade_at_the_gateway_fails_the_collection(sim, student):
    collection = collection_prepare(
        purpose="exchange",
        purpose_id=1,
        student=student,
        campus_id=student.campus_id,
        amount=Decimal("88.00"),
        channel="wechat",
        mode="wechat_native",
        description="换课差价",
        expires_at=timezone.now() + datetime.timedelta(minutes=15),
    )
    # The gateway has this number closed already (e.g. an order system that reused it).
    order, _ = sim.ledger.open_payment(
        "wechat",
        out_trade_no=collection.collection_no,
        amount=Decimal("88.00"),
        subject="x",
        product="NATIVE",
        notify_url="",
    )
    sim.ledger.close_payment(order)
    collection = collection_send(collection_id=collection.pk)
    assert collection.status == CollectionStatus.FAILED
    assert collection.error_code == "ORDERCLOSED"
    assert _events(collection) == ["open_failed"]
    display = collection_for_display(student=student, collection_no=collection.collection_no)
    assert display is not None and display.final and not display.payable


def test_a_refusal_for_good_while_a_trade_exists_leaves_it_created_for_the_expiry(sim, student):
    collection = collection_prepare(
        purpose="exchange",
        purpose_id=1,
        student=student,
        campus_id=student.campus_id,
        amount=Decimal("88.00"),
        channel="wechat",
        mode="wechat_native",
        description="换课差价",
        expires_at=timezone.now() + datetime.timedelta(minutes=15),
    )
    sim.ledger.open_payment(
        "wechat",
        out_trade_no=collection.collection_no,
        amount=Decimal("1.00"),
        subject="x",
        product="NATIVE",
        notify_url="",
    )
    collection = collection_send(collection_id=collection.pk)
    assert collection.status == CollectionStatus.CREATED and collection.error_code == "INVALID_REQUEST"
    assert _events(collection) == []


def test_several_collections_for_one_purpose_are_listed_newest_first(sim, student):
    first = open_collection(student=student, purpose_id=5)
    second = open_collection(student=student, purpose_id=5, channel="alipay", mode="alipay_qr")
    open_collection(student=student, purpose_id=6)
    assert list(collections_for(purpose="exchange", purpose_id=5)) == [second, first]


# --- the query settles what is unknown ---------------------------------------------------------


@pytest.mark.parametrize("channel, mode", MODES)
def test_a_lost_notification_is_settled_by_the_query(sim, student, channel, mode):
    collection = open_collection(student=student, channel=channel, mode=mode)
    order = sim.pay(collection.collection_no, pay_url=collection.pay_url)
    assert Collection.objects.get(pk=collection.pk).status == CollectionStatus.OPEN  # no notification
    collection = collection_query(collection_id=collection.pk)
    assert collection.status == CollectionStatus.PAID
    assert (collection.paid_amount, collection.gateway_trade_no) == (Decimal("88.00"), order.trade_no)
    assert _events(collection) == ["paid"]
    assert collection_query(collection_id=collection.pk).status == CollectionStatus.PAID
    assert _events(collection) == ["paid"]


def test_an_unpaid_collection_stays_open_after_a_query(sim, student):
    collection = open_collection(student=student)
    assert collection_query(collection_id=collection.pk).status == CollectionStatus.OPEN
    assert _events(collection) == []


def test_a_query_that_fails_changes_nothing_but_the_error(sim, student):
    collection = open_collection(student=student)
    sim.pay(collection.collection_no)
    sim.behave("wechat", "query_error", endpoint="pay_query", times=1)
    collection = collection_query(collection_id=collection.pk)
    assert collection.status == CollectionStatus.OPEN and collection.error_code == "ERROR"
    assert collection_query(collection_id=collection.pk).status == CollectionStatus.PAID


def test_a_query_reporting_another_amount_books_nothing_and_asks_a_person(sim, student):
    collection = open_collection(student=student)
    sim.pay(collection.collection_no)
    sim.payment_order(collection.collection_no).amount = Decimal("8.80")  # the gateway's books say otherwise
    collection = collection_query(collection_id=collection.pk)
    assert collection.status == CollectionStatus.OPEN
    assert collection.needs_check_since is not None and collection.error_code == "amount"
    assert _events(collection) == ["needs_check"]


# --- closing and expiring ----------------------------------------------------------------------


@pytest.mark.parametrize("channel, mode", MODES)
def test_a_collection_never_paid_expires_after_a_query_and_a_close_at_the_gateway(sim, student, channel, mode):
    collection = open_collection(student=student, channel=channel, mode=mode)
    sim.visit(collection.pay_url)  # the student looked at it, and did not pay
    assert collections_expire(now=collection.expires_at - datetime.timedelta(seconds=1)) == 0
    assert collections_expire(now=_later(collection)) == 1
    collection.refresh_from_db()
    assert collection.status == CollectionStatus.EXPIRED and collection.closed_at is not None
    assert sim.requests_received[QUERY[channel]] == 1
    assert sim.requests_received[CLOSE[channel]] == 1
    assert sim.payment_status(collection.collection_no) == "CLOSED"
    assert [e.kind for e in collection.exchanges.all()] == ["create", "query", "close"]
    assert _events(collection) == ["expired"]
    assert collections_expire(now=_later(collection, 60)) == 0


def test_an_alipay_qr_code_nobody_scanned_expires_with_nothing_to_close(sim, student):
    collection = open_collection(student=student, channel="alipay", mode="alipay_qr")
    assert collections_expire(now=_later(collection)) == 1
    assert sim.requests_received["alipay.trade.close"] == 1  # asked; Alipay had no trade yet
    assert Collection.objects.get(pk=collection.pk).status == CollectionStatus.EXPIRED


@pytest.mark.parametrize("channel, mode", [MODES[0], MODES[3]])
def test_paid_just_before_expiry_with_the_notification_late_it_is_paid_not_expired(sim, student, channel, mode):
    collection = open_collection(student=student, channel=channel, mode=mode)
    sim.pay(collection.collection_no, pay_url=collection.pay_url)
    assert collections_expire(now=_later(collection)) == 0
    collection.refresh_from_db()
    assert collection.status == CollectionStatus.PAID and not collection.paid_after_close
    assert sim.requests_received[CLOSE[channel]] == 0
    assert _events(collection) == ["paid"]


def test_paid_between_the_query_and_the_close_it_is_paid(sim, student):
    collection = open_collection(student=student)
    sim.pay(collection.collection_no)
    # A lagging gateway first says it has no such order; the close then answers ORDERPAID.
    sim.behave("wechat", "query_not_found", endpoint="pay_query", times=1)
    assert collections_expire(now=_later(collection)) == 0
    collection.refresh_from_db()
    assert collection.status == CollectionStatus.PAID
    assert sim.payment_status(collection.collection_no) == "SUCCESS"


def test_a_gateway_that_cannot_be_reached_leaves_it_for_the_next_run(sim, student):
    collection = open_collection(student=student)
    sim.behave("wechat", "http_500", endpoint="close", times=1)
    assert collections_expire(now=_later(collection)) == 0
    collection.refresh_from_db()
    assert collection.status == CollectionStatus.OPEN and collection.error_code == "HTTP"
    assert collections_expire(now=_later(collection)) == 1


def test_a_collection_never_sent_expires_without_asking_the_gateway(sim, student):
    collection = collection_prepare(
        purpose="exchange",
        purpose_id=1,
        student=student,
        campus_id=student.campus_id,
        amount=Decimal("88.00"),
        channel="wechat",
        mode="wechat_native",
        description="换课差价",
        expires_at=timezone.now() + datetime.timedelta(minutes=6),
    )
    assert collection_send(collection_id=collection.pk, at=_later(collection)).status == CollectionStatus.EXPIRED
    assert sum(sim.requests_received.values()) == 0


def test_closing_asks_first_and_a_close_is_final_at_the_gateway(sim, student):
    collection = open_collection(student=student)
    collection = collection_close(collection_id=collection.pk)
    assert collection.status == CollectionStatus.CLOSED
    assert _events(collection) == ["closed"]
    assert sim.payment_status(collection.collection_no) == "CLOSED"
    assert collection_close(collection_id=collection.pk).status == CollectionStatus.CLOSED
    display = collection_for_display(student=student, collection_no=collection.collection_no)
    assert display is not None and display.final and display.pay_url == ""


def test_closing_a_paid_collection_finds_the_payment(sim, student):
    collection = open_collection(student=student, channel="alipay", mode="alipay_qr")
    sim.pay(collection.collection_no)
    assert collection_close(collection_id=collection.pk).status == CollectionStatus.PAID
    assert sim.requests_received["alipay.trade.close"] == 0


def test_a_qr_code_paid_after_we_closed_it_is_still_recorded_as_paid(sim, student):
    collection = open_collection(student=student, channel="alipay", mode="alipay_qr")
    assert collection_close(collection_id=collection.pk).status == CollectionStatus.CLOSED
    sim.pay(collection.collection_no)  # Alipay had no trade to close: the code was still payable
    collection = collection_query(collection_id=collection.pk)
    assert collection.status == CollectionStatus.PAID and collection.paid_after_close
    event = CollectionEvent.objects.get(collection=collection, kind="paid")
    assert event.payload["paid_after_close"] is True


def test_the_beat_task_expires_what_is_overdue(sim, student):
    collection = open_collection(student=student)
    Collection.objects.filter(pk=collection.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert expire_collections.delay().get() == 1
    assert Collection.objects.get(pk=collection.pk).status == CollectionStatus.EXPIRED
    assert check_collection_refunds.delay().get() == 0


# --- two paid, one refunded --------------------------------------------------------------------


def _two_paid(sim, student, channel: str = "wechat", mode: str = "wechat_native") -> tuple[Collection, Collection]:
    """The student asked for a second QR code, then paid both."""
    first = open_collection(student=student, channel=channel, mode=mode, purpose_id=7)
    second = open_collection(student=student, channel=channel, mode=mode, purpose_id=7)
    for collection in (first, second):
        sim.pay(collection.collection_no, pay_url=collection.pay_url)
    return collection_query(collection_id=first.pk), collection_query(collection_id=second.pk)


@pytest.mark.parametrize("channel, mode", [MODES[0], MODES[2]])
def test_two_paid_collections_are_both_recorded_and_the_duplicate_is_refunded_once(sim, student, channel, mode):
    first, second = _two_paid(sim, student, channel, mode)
    assert (first.status, second.status) == (CollectionStatus.PAID, CollectionStatus.PAID)
    second = collection_refund_duplicate(collection_id=second.pk, reason="同一换课重复支付")
    if channel == "wechat":  # accepted; the notification (off here) or a query settles it
        assert second.status == CollectionStatus.REFUNDING
        second = collection_query(collection_id=second.pk)
    assert second.status == CollectionStatus.REFUNDED and second.refunded_at is not None
    assert second.refund_no.startswith("CR") and len(second.refund_no) == 22
    assert sim.refunds_executed() == {second.refund_no: 1}
    assert sim.total_refunded == Decimal("88.00")
    assert _events(second) == ["paid", "refunded"]
    assert Collection.objects.get(pk=first.pk).status == CollectionStatus.PAID
    again = collection_refund_duplicate(collection_id=second.pk, reason="再点一次")
    assert again.status == CollectionStatus.REFUNDED and sim.refunds_executed() == {second.refund_no: 1}


@pytest.mark.parametrize("channel, mode", [MODES[0], MODES[2]])
def test_a_refund_whose_answer_is_lost_stays_unknown_until_a_query_settles_it(sim, student, channel, mode):
    _first, second = _two_paid(sim, student, channel, mode)
    sim.behave(channel, "crash_after_execute", times=1)  # the money moves, the answer never comes
    second = collection_refund_duplicate(collection_id=second.pk, reason="同一换课重复支付")
    assert second.status == CollectionStatus.REFUNDING and second.error_code == "NETWORK"
    refund_no = second.refund_no
    second = collection_refund_duplicate(collection_id=second.pk, reason="同一换课重复支付")
    assert second.status == CollectionStatus.REFUNDED and second.refund_no == refund_no
    assert sim.refunds_executed() == {refund_no: 1}
    assert [e.kind for e in second.exchanges.filter(kind__startswith="refund")] == ["refund", "refund_query"]


def test_a_refund_that_never_reached_the_gateway_is_sent_again_under_the_same_number(sim, student):
    _first, second = _two_paid(sim, student)
    sim.behave("wechat", "http_500", times=1)  # nothing moved
    second = collection_refund_duplicate(collection_id=second.pk, reason="重复支付")
    assert second.status == CollectionStatus.REFUNDING
    assert collection_refunds_check(now=timezone.now() + datetime.timedelta(hours=1)) == 1
    second.refresh_from_db()
    assert second.status == CollectionStatus.REFUNDING  # queried, never heard of, sent: WeChat processes it
    assert sim.refunds_executed() == {second.refund_no: 1}
    assert collection_query(collection_id=second.pk).status == CollectionStatus.REFUNDED


def test_a_refused_refund_goes_back_to_paid_for_a_person_and_is_tried_again_under_the_same_number(sim, student):
    _first, second = _two_paid(sim, student, "alipay", "alipay_qr")
    sim.behave("alipay", "insufficient_balance", times=1)
    second = collection_refund_duplicate(collection_id=second.pk, reason="重复支付")
    assert second.status == CollectionStatus.PAID and second.needs_check_since is not None
    assert _events(second) == ["paid", "needs_check"]
    refund_no = second.refund_no
    second = collection_refund_duplicate(collection_id=second.pk, reason="重复支付")
    assert second.status == CollectionStatus.REFUNDED and second.refund_no == refund_no
    assert second.needs_check_since is None
    assert sim.refunds_executed() == {refund_no: 1}


def test_only_a_paid_collection_can_be_refunded(sim, student):
    collection = open_collection(student=student)
    with pytest.raises(CollectionError) as refused:
        collection_refund_duplicate(collection_id=collection.pk, reason="重复支付")
    assert refused.value.code == "state"
    with pytest.raises(CollectionError):
        collection_refund_duplicate(collection_id=collection.pk, reason=" ")


# --- events: the caller's work in the payment's transaction -------------------------------------


@pytest.fixture
def writers():
    registered: list = []

    def register(writer):
        registered.append(collection_event_writer(writer))
        return writer

    yield register
    for writer in registered:
        _writers.remove(writer)


def test_a_writer_runs_in_the_payments_transaction_and_its_failure_does_not_undo_the_payment(sim, student, writers):
    seen: list[tuple[str, str]] = []

    @writers
    def exchange_paid(event):
        seen.append((event.kind, event.collection.status))
        Collection.objects.filter(pk=event.collection.pk).update(description="已由换课处理")

    @writers
    def broken(event):
        Collection.objects.filter(pk=event.collection.pk).update(description="never")
        raise RuntimeError("the writer of another app fails")

    collection = open_collection(student=student)
    sim.pay(collection.collection_no)
    collection = collection_query(collection_id=collection.pk)
    assert seen == [("paid", "paid")]
    collection.refresh_from_db()
    assert collection.status == CollectionStatus.PAID
    assert collection.description == "已由换课处理"  # the broken writer's change rolled back alone


def test_the_display_shows_what_the_page_polls_for(sim, student, other_student):
    collection = open_collection(student=student, channel="alipay", mode="alipay_qr")
    assert collection_for_display(student=other_student, collection_no=collection.collection_no) is None
    display = collection_for_display(student=student, collection_no=collection.collection_no)
    assert display is not None
    assert display.payable and display.pay_url == collection.pay_url and display.amount == Decimal("88.00")
    assert 0 < display.seconds_left <= 30 * 60 and not display.final
    overdue = collection_for_display(student=student, collection_no=collection.collection_no, now=_later(collection))
    assert overdue is not None and overdue.status == "expired" and overdue.pay_url == "" and overdue.final
    sim.pay(collection.collection_no)
    collection_query(collection_id=collection.pk)
    paid = collection_for_display(student=student, collection_no=collection.collection_no)
    assert paid is not None and paid.status == "paid" and paid.final and not paid.payable


def test_collections_module_exports_what_the_report_names():
    for name in (
        "collection_prepare",
        "collection_open",
        "collection_send",
        "collection_on_callback",
        "collection_query",
        "collection_close",
        "collections_expire",
        "collection_refund_duplicate",
        "collection_refunds_check",
    ):
        assert callable(getattr(collections, name))

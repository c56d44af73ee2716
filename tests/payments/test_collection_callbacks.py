"""Payment notifications: only a verified notice for our number, on its channel, of our amount marks
a collection paid, once. The simulator builds the notices exactly as WeChat Pay and Alipay would; the
tests post them (or forgeries of them) to our endpoints with Django's test client."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import requests
from django.urls import reverse
from django.utils import translation

from payments.models import Collection, CollectionEvent, CollectionStatus, RejectedCallback

from .helpers import open_collection

pytestmark = pytest.mark.django_db

URLS = {"wechat": reverse("payments:wechat-pay-notify"), "alipay": reverse("payments:alipay-pay-notify")}
WECHAT_OK = b"<return_code><![CDATA[SUCCESS]]></return_code>"
MODES = [("wechat", "wechat_native"), ("wechat", "wechat_h5"), ("alipay", "alipay_qr"), ("alipay", "alipay_wap")]


@pytest.fixture
def sim(gateway_settings):
    gateway_settings.callbacks_enabled = False  # the tests deliver the notices themselves
    return gateway_settings


def _paid_at_the_gateway(sim, student, channel: str, mode: str, **kwargs) -> Collection:
    """An open collection the student has paid; its notification not delivered yet."""
    collection = open_collection(student=student, channel=channel, mode=mode, **kwargs)
    assert collection.status == CollectionStatus.OPEN, collection.error_message
    sim.pay(collection.collection_no, pay_url=collection.pay_url)
    return collection


def _post(client, channel: str, notice: bytes | dict[str, str]):
    if isinstance(notice, bytes):
        return client.post(URLS[channel], notice, content_type="text/xml")
    return client.post(URLS[channel], urlencode(notice), content_type="application/x-www-form-urlencoded")


def _acknowledged(channel: str, response) -> bool:
    assert response.status_code == 200
    return WECHAT_OK in response.content if channel == "wechat" else response.content == b"success"


def _unchanged(collection: Collection) -> None:
    collection.refresh_from_db()
    assert collection.status == CollectionStatus.OPEN
    assert collection.paid_at is None and collection.gateway_trade_no == ""
    assert not CollectionEvent.objects.filter(collection=collection).exists()


@pytest.mark.parametrize("channel, mode", MODES)
def test_a_genuine_notification_marks_the_collection_paid_with_the_gateways_trade(client, sim, student, channel, mode):
    collection = _paid_at_the_gateway(sim, student, channel, mode)
    order = sim.payment_order(collection.collection_no)
    assert _acknowledged(channel, _post(client, channel, sim.payment_notification(collection.collection_no)))
    collection.refresh_from_db()
    assert collection.status == CollectionStatus.PAID
    assert collection.paid_amount == collection.amount
    assert collection.gateway_trade_no == order.trade_no
    assert collection.payer_account and collection.paid_at is not None
    assert not collection.paid_after_close
    event = CollectionEvent.objects.get(collection=collection)
    assert event.kind == "paid"
    assert event.payload["collection_no"] == collection.collection_no
    assert event.payload["purpose"] == "exchange" and event.payload["purpose_id"] == 1
    assert event.payload["gateway_trade_no"] == order.trade_no


@pytest.mark.parametrize("channel, mode", [MODES[0], MODES[2]])
def test_a_replayed_notification_is_acknowledged_and_changes_nothing_more(client, sim, student, channel, mode):
    collection = _paid_at_the_gateway(sim, student, channel, mode)
    notice = sim.payment_notification(collection.collection_no)
    _post(client, channel, notice)
    paid_at = Collection.objects.get(pk=collection.pk).paid_at
    assert _acknowledged(channel, _post(client, channel, notice))  # so the gateway stops sending it
    collection.refresh_from_db()
    assert collection.status == CollectionStatus.PAID and collection.paid_at == paid_at
    assert CollectionEvent.objects.filter(collection=collection, kind="paid").count() == 1
    assert collection.exchanges.filter(kind="callback").count() == 2
    with translation.override("zh-hans"):
        said = translation.gettext("Arrived after the payment was recorded; nothing changed.")
    assert collection.exchanges.filter(kind="callback").last().note == said


def _wechat_forgeries():
    return [
        pytest.param(lambda sim, no: sim.payment_notification(no, bad_signature=True), id="bad-signature"),
        pytest.param(lambda sim, no: sim.payment_notification(no, total_fee="1", cash_fee="1"), id="wrong-amount"),
        pytest.param(lambda sim, no: sim.payment_notification(no, mch_id="1900000001"), id="other-merchant"),
        pytest.param(lambda sim, no: sim.payment_notification(no, appid="wx0000000000000000"), id="other-appid"),
        pytest.param(
            lambda sim, no: sim.payment_notification(no, out_trade_no="CO20260101AAAAAAAAAAAA"), id="unknown-number"
        ),
        pytest.param(lambda sim, no: sim.payment_notification(no).replace(b"<xml>", b"<xml><x>1</x>"), id="tampered"),
        pytest.param(lambda sim, no: b"not xml at all", id="garbage"),
        pytest.param(
            lambda sim, no: b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><a>&a;</a></xml>',
            id="entities",
        ),
    ]


@pytest.mark.parametrize("forge", _wechat_forgeries())
def test_a_forged_tampered_or_mismatched_wechat_notification_changes_nothing_and_is_kept(client, sim, student, forge):
    collection = _paid_at_the_gateway(sim, student, "wechat", "wechat_native")
    assert not _acknowledged("wechat", _post(client, "wechat", forge(sim, collection.collection_no)))
    _unchanged(collection)
    refused = RejectedCallback.objects.get()
    assert refused.channel == "wechat" and refused.reason


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda sim, no: sim.payment_notification(no, bad_signature=True), id="bad-signature"),
        pytest.param(lambda sim, no: sim.payment_notification(no, total_amount="0.01"), id="wrong-amount"),
        pytest.param(lambda sim, no: sim.payment_notification(no, app_id="2021000199999999"), id="other-app"),
        pytest.param(lambda sim, no: {**sim.payment_notification(no), "total_amount": "0.01"}, id="tampered"),
        pytest.param(
            lambda sim, no: {k: v for k, v in sim.payment_notification(no).items() if k != "sign"}, id="no-sign"
        ),
        pytest.param(lambda sim, no: sim.payment_notification(no, trade_status="WAIT_SELLER"), id="unknown-status"),
    ],
)
def test_a_forged_tampered_or_mismatched_alipay_notification_changes_nothing_and_is_kept(client, sim, student, forge):
    collection = _paid_at_the_gateway(sim, student, "alipay", "alipay_qr")
    assert not _acknowledged("alipay", _post(client, "alipay", forge(sim, collection.collection_no)))
    _unchanged(collection)
    assert RejectedCallback.objects.get().channel == "alipay"


def test_a_wrong_amount_is_refused_with_the_reason(client, sim, student):
    collection = _paid_at_the_gateway(sim, student, "alipay", "alipay_qr")
    _post(client, "alipay", sim.payment_notification(collection.collection_no, total_amount="88.01"))
    assert "88.01" in RejectedCallback.objects.get().reason


def test_a_genuine_notification_on_the_other_channels_endpoint_is_refused(client, sim, student):
    collection = _paid_at_the_gateway(sim, student, "alipay", "alipay_qr")
    wechat_collection = _paid_at_the_gateway(sim, student, "wechat", "wechat_native", purpose_id=2)
    # The Alipay notice posted to the WeChat endpoint is no WeChat XML.
    assert not _acknowledged("wechat", _post(client, "wechat", sim.payment_notification(collection.collection_no)))
    _unchanged(collection)
    _unchanged(wechat_collection)


def test_a_notification_that_is_not_a_payment_is_acknowledged_and_changes_nothing(client, sim, student):
    collection = open_collection(student=student, channel="alipay", mode="alipay_wap")
    # The phone's browser opens the wap link: the trade exists, waiting for the buyer.
    assert requests.get(collection.pay_url, verify=str(sim.material.ca_cert), timeout=5).status_code == 200
    notice = sim.payment_notification(collection.collection_no, trade_status="WAIT_BUYER_PAY")
    assert _acknowledged("alipay", _post(client, "alipay", notice))
    _unchanged(collection)
    assert collection.exchanges.filter(kind="callback").get().outcome == "open"


def test_the_endpoint_takes_only_posts_of_bounded_size(client, sim, student):
    assert client.get(URLS["wechat"]).status_code == 405
    response = client.post(URLS["wechat"], b"<xml>" + b"x" * (70 * 1024) + b"</xml>", content_type="text/xml")
    assert not _acknowledged("wechat", response)
    assert RejectedCallback.objects.get().reason == "Body too large."

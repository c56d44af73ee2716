"""Which gateway pays each channel back, and the offline one that a person operates."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from payments.gateways.alipay import AlipayGateway
from payments.gateways.base import ArrivalKind, CallbackRejected
from payments.gateways.card import CardGateway
from payments.gateways.offline import ManualPayoutRequired, OfflineGateway
from payments.gateways.registry import UnknownChannel, arrival_note, gateway_for, statement_formats
from payments.gateways.wechat import WeChatPayGateway


@pytest.mark.parametrize(
    ("channel", "gateway_class"),
    [("wechat", WeChatPayGateway), ("alipay", AlipayGateway), ("card", CardGateway), ("offline", OfflineGateway)],
)
def test_each_payment_channel_has_its_gateway(channel, gateway_class):
    assert type(gateway_for(channel)) is gateway_class


def test_the_registry_covers_every_payment_channel_of_an_order():
    from orders.models import PaymentChannel

    assert all(gateway_for(channel) for channel in PaymentChannel.values)


def test_an_unknown_channel_is_a_clear_key_error():
    with pytest.raises(UnknownChannel, match="No refund gateway for payment channel 'paypal'"):
        gateway_for("paypal")
    assert issubclass(UnknownChannel, KeyError)


def test_building_a_gateway_reads_no_settings(settings):
    del settings.WECHAT_PAY
    del settings.ALIPAY
    assert gateway_for("wechat") and gateway_for("alipay")


def test_only_the_offline_and_card_gateways_are_manual():
    assert [channel for channel in ("wechat", "alipay", "card", "offline") if gateway_for(channel).manual] == [
        "card",
        "offline",
    ]


def test_offline_and_card_payouts_arrive_by_bank_transfer():
    assert OfflineGateway.arrival == CardGateway.arrival == ArrivalKind.BANK_TRANSFER


@pytest.mark.parametrize(
    ("channel", "words"),
    [
        ("wechat", "WeChat Pay balance as soon as"),
        ("alipay", "Alipay balance as soon as"),
        ("card", "bank card 3–7 business days"),
        ("offline", "Finance will contact you"),
    ],
)
def test_each_gateway_tells_the_student_when_the_money_arrives(channel, words):
    with translation.override("en"):
        assert words in arrival_note(channel)


def test_callback_urls_come_from_the_gateways():
    assert reverse(WeChatPayGateway.notify_route()) == "/payments/wechat/refund-notify/"
    assert reverse(AlipayGateway.notify_route()) == "/payments/alipay/notify/"
    assert OfflineGateway.notify_route() == CardGateway.notify_route() == ""


def test_statements_are_named_by_their_gateways():
    assert statement_formats() == {
        "wechat_refund": ("wechat", WeChatPayGateway.statement),
        "alipay_account": ("alipay", AlipayGateway.statement),
    }


def test_an_offline_payout_cannot_be_sent_to_a_gateway(make_call):
    with pytest.raises(ManualPayoutRequired, match="finance"):
        OfflineGateway().refund(make_call())


def test_an_offline_payout_cannot_be_queried(make_call):
    with pytest.raises(NotImplementedError):
        OfflineGateway().query(make_call())


def test_an_offline_callback_is_always_rejected():
    with pytest.raises(CallbackRejected):
        OfflineGateway().parse_callback(body=b"", content_type="", post={})

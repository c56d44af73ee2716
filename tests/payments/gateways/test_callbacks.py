"""Refund notifications the simulator really sends, verified and parsed by the adapters."""

from __future__ import annotations

import base64
import re
from decimal import Decimal
from urllib.parse import parse_qsl

import pytest

from payments.gateways.alipay import AlipayGateway
from payments.gateways.base import ArrivalKind, CallbackRejected, Outcome
from payments.gateways.wechat import WeChatPayGateway

pytestmark = pytest.mark.usefixtures("gateway_settings")


def _parse_wechat(body: bytes):
    return WeChatPayGateway().parse_callback(body=body, content_type="text/xml", post={})


def _parse_alipay(form: dict[str, str]):
    return AlipayGateway().parse_callback(body=b"", content_type="application/x-www-form-urlencoded", post=form)


def _flip_last_cipher_byte(body: bytes) -> bytes:
    """One byte of the encrypted req_info changed (its last block: padding and the closing tag)."""
    match = re.search(rb"<req_info><!\[CDATA\[(.*?)\]\]></req_info>", body)
    assert match
    cipher = bytearray(base64.b64decode(match.group(1)))
    cipher[-1] ^= 0x01
    return body.replace(match.group(1), base64.b64encode(bytes(cipher)))


@pytest.fixture
def wechat_refund(make_call, callback_receiver):
    """A WeChat refund that went through, its notification POSTed to the receiver."""
    call = make_call(notify_url=callback_receiver.url("/payments/wechat/refund-notify/"))
    WeChatPayGateway().refund(call)
    return call


# --- WeChat ------------------------------------------------------------------------------------


def test_the_simulator_posts_the_wechat_notification_to_the_notify_url(wechat_refund, callback_receiver):
    [received] = callback_receiver.wait(1)
    assert received.path == "/payments/wechat/refund-notify/"
    assert b"<req_info>" in received.body


def test_a_notification_the_app_did_not_acknowledge_is_sent_again(make_call, callback_receiver, gateway_settings):
    gateway_settings.callback_retry_delays = (0.05, 1.0)  # time to change the reply before the third
    callback_receiver.reply = b"<xml><return_code><![CDATA[FAIL]]></return_code></xml>"
    WeChatPayGateway().refund(make_call(notify_url=callback_receiver.url()))
    callback_receiver.wait(2)
    callback_receiver.reply = b"<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>"

    deliveries = gateway_settings.wait_for_callbacks(3)

    assert len(callback_receiver.wait(3)) == 3  # refused twice, taken the third time, then no more
    assert [bool(d.reply and b"SUCCESS" in d.reply) for d in deliveries] == [False, False, True]


def test_a_real_wechat_notification_parses_to_a_succeeded_notice(wechat_refund, callback_receiver, settings):
    [received] = callback_receiver.wait(1)
    notice = _parse_wechat(received.body)
    assert notice.payout_no == wechat_refund.payout_no
    assert notice.outcome == Outcome.SUCCEEDED
    assert notice.amount == Decimal("30.00")
    assert (notice.arrival, notice.arrival_account) == (ArrivalKind.BALANCE, "支付用户零钱")
    assert notice.merchant_id == settings.WECHAT_PAY["MCH_ID"]


def test_the_simulator_records_our_acknowledgement(wechat_refund, callback_receiver, gateway_sim):
    [delivery] = gateway_sim.wait_for_callbacks(1)
    assert delivery.status == 200
    assert b"SUCCESS" in delivery.reply


def test_a_wechat_notification_with_one_byte_changed_is_rejected(wechat_refund, gateway_sim):
    body = _flip_last_cipher_byte(gateway_sim.wechat_notification(wechat_refund.payout_no))
    with pytest.raises(CallbackRejected):
        _parse_wechat(body)


def test_a_wechat_notification_for_another_merchant_is_rejected(wechat_refund, gateway_sim):
    body = gateway_sim.wechat_notification(wechat_refund.payout_no, mch_id="1900099999")
    with pytest.raises(CallbackRejected):
        _parse_wechat(body)


def test_a_wechat_notification_for_another_app_is_rejected(wechat_refund, gateway_sim):
    body = gateway_sim.wechat_notification(wechat_refund.payout_no, appid="wx0000000000000000")
    with pytest.raises(CallbackRejected):
        _parse_wechat(body)


def test_a_wechat_notification_encrypted_with_another_key_is_rejected(wechat_refund, gateway_sim, settings):
    settings.WECHAT_PAY = {**settings.WECHAT_PAY, "API_KEY": "x" * 32}
    with pytest.raises(CallbackRejected):
        _parse_wechat(gateway_sim.wechat_notification(wechat_refund.payout_no))


def test_a_wechat_notification_without_req_info_is_rejected(settings):
    body = (
        f"<xml><return_code>SUCCESS</return_code><appid>{settings.WECHAT_PAY['APPID']}</appid>"
        f"<mch_id>{settings.WECHAT_PAY['MCH_ID']}</mch_id></xml>"
    ).encode()
    with pytest.raises(CallbackRejected):
        _parse_wechat(body)


def test_a_body_that_is_not_xml_is_rejected():
    with pytest.raises(CallbackRejected):
        _parse_wechat(b"return_code=SUCCESS")


def test_wechat_is_acknowledged_with_its_success_xml():
    reply = WeChatPayGateway().callback_reply(ok=True)
    assert (
        reply.body
        == b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"
    )


def test_wechat_is_told_to_send_again_with_fail():
    assert b"<return_code><![CDATA[FAIL]]></return_code>" in WeChatPayGateway().callback_reply(ok=False).body


def test_a_duplicate_callback_arrives_twice(make_call, callback_receiver, gateway_sim):
    gateway_sim.behave("wechat", "duplicate_callback")
    WeChatPayGateway().refund(make_call(notify_url=callback_receiver.url()))
    first, second = callback_receiver.wait(2)
    assert _parse_wechat(first.body).payout_no == _parse_wechat(second.body).payout_no


def test_a_callback_can_arrive_before_the_refund_call_returns(make_call, callback_receiver, gateway_sim):
    gateway_sim.behave("wechat", "callback_before_response")
    WeChatPayGateway().refund(make_call(notify_url=callback_receiver.url()))
    assert len(callback_receiver.received) == 1  # no waiting: it was delivered before the answer


def test_a_refund_processing_first_is_notified_when_it_succeeds(make_call, callback_receiver, gateway_sim):
    gateway_sim.behave("wechat", "processing_then_success", delay=0.1)
    call = make_call(notify_url=callback_receiver.url())
    WeChatPayGateway().refund(call)
    [received] = callback_receiver.wait(1)
    assert _parse_wechat(received.body).outcome == Outcome.SUCCEEDED


# --- Alipay ------------------------------------------------------------------------------------


@pytest.fixture
def alipay_refund(make_call, callback_receiver, gateway_sim):
    """An Alipay refund that went through; its trade's notify_url is the receiver."""
    call = make_call()
    gateway_sim.register_trade(
        "alipay",
        trade_no=call.trade_no,
        out_trade_no=call.order_no,
        total="100.00",
        notify_url=callback_receiver.url("/payments/alipay/notify/"),
    )
    AlipayGateway().refund(call)
    return call


def test_a_real_alipay_notification_parses_to_a_succeeded_notice(alipay_refund, callback_receiver, settings):
    [received] = callback_receiver.wait(1)
    assert received.content_type.startswith("application/x-www-form-urlencoded")
    notice = AlipayGateway().parse_callback(body=received.body, content_type=received.content_type, post={})
    assert (notice.payout_no, notice.outcome) == (alipay_refund.payout_no, Outcome.SUCCEEDED)
    assert notice.merchant_id == settings.ALIPAY["APPID"]


def test_an_alipay_notification_gives_no_amount_because_refund_fee_is_the_trades_total(alipay_refund, gateway_sim):
    form = gateway_sim.alipay_notification(alipay_refund.payout_no)
    notice = _parse_alipay(form)
    assert form["refund_fee"] == "30.00"
    assert notice.amount is None


def test_an_alipay_notification_with_a_forged_signature_is_rejected(alipay_refund, gateway_sim):
    form = gateway_sim.alipay_notification(alipay_refund.payout_no)
    signature = bytearray(base64.b64decode(form["sign"]))
    signature[0] ^= 0x01
    form["sign"] = base64.b64encode(bytes(signature)).decode()
    with pytest.raises(CallbackRejected):
        _parse_alipay(form)


def test_an_alipay_notification_with_a_changed_field_is_rejected(alipay_refund, gateway_sim):
    form = gateway_sim.alipay_notification(alipay_refund.payout_no)
    form["out_biz_no"] = "RF-someone-elses"
    with pytest.raises(CallbackRejected):
        _parse_alipay(form)


def test_an_alipay_notification_without_a_signature_is_rejected(alipay_refund, gateway_sim):
    form = gateway_sim.alipay_notification(alipay_refund.payout_no)
    del form["sign"]
    with pytest.raises(CallbackRejected):
        _parse_alipay(form)


def test_a_signed_alipay_notification_for_another_app_is_rejected(alipay_refund, gateway_sim):
    form = gateway_sim.alipay_notification(alipay_refund.payout_no, app_id="2021000199999999")
    with pytest.raises(CallbackRejected, match="another app"):
        _parse_alipay(form)


def test_a_signed_alipay_payment_notification_is_not_taken_for_a_refund(alipay_refund, gateway_sim):
    form = gateway_sim.alipay_notification(alipay_refund.payout_no, out_biz_no="", refund_fee="", gmt_refund="")
    with pytest.raises(CallbackRejected, match="not about a refund"):
        _parse_alipay(form)


def test_the_alipay_notification_body_parses_like_the_form(alipay_refund, callback_receiver):
    [received] = callback_receiver.wait(1)
    form = dict(parse_qsl(received.body.decode()))
    assert _parse_alipay(form).payout_no == alipay_refund.payout_no


def test_alipay_is_acknowledged_with_success():
    assert AlipayGateway().callback_reply(ok=True).body == b"success"


def test_alipay_is_told_to_send_again_with_failure():
    assert AlipayGateway().callback_reply(ok=False).body == b"failure"

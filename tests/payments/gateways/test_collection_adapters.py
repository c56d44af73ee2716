"""Collecting through the adapters against the simulator over real HTTPS: the SDKs' own calls and
signatures both ways, the cashier page the payment links lead to, and the misbehaviour switches."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from gatewaysim.ledger import LedgerRefusal
from payments.gateways.alipay import AlipayGateway
from payments.gateways.base import (
    CallbackNotice,
    CallbackRejected,
    CollectionCall,
    GatewayFinalError,
    GatewayRetryableError,
    PaymentNotice,
    PaymentState,
    RefundCall,
)
from payments.gateways.registry import UnknownChannel, collection_channels, collection_gateway_for
from payments.gateways.wechat import WeChatPayGateway

pytestmark = pytest.mark.usefixtures("gateway_settings")

GATEWAYS = {"wechat_native": WeChatPayGateway, "wechat_h5": WeChatPayGateway}
GATEWAYS |= {"alipay_qr": AlipayGateway, "alipay_wap": AlipayGateway}
ALL_MODES = list(GATEWAYS)


@pytest.fixture
def make_call(callback_receiver):
    """A collection call with a fresh number: 88.00 for a course exchange, expiring in 30 minutes."""

    def make(mode: str = "wechat_native", **overrides: object) -> CollectionCall:
        now = datetime.datetime.now(datetime.UTC)
        values: dict = {
            "collection_no": f"CO{uuid.uuid4().hex[:20].upper()}",
            "amount": Decimal("88.00"),
            "mode": mode,
            "description": "换课差价：Python 进阶班",
            "notify_url": callback_receiver.url("/pay-notify/"),
            "started_at": now,
            "expires_at": now + datetime.timedelta(minutes=30),
            "client_ip": "203.0.113.7",
            "return_url": "https://school.example.com/portal/exchange/1/",
        }
        values.update(overrides)
        return CollectionCall(**values)

    return make


def _open_page(sim, url: str) -> requests.Response:
    return requests.get(url, verify=str(sim.material.ca_cert), timeout=5)


# --- create -------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ALL_MODES)
def test_a_new_trade_is_open_with_a_link_to_the_cashier_page(gateway_sim, make_call, mode):
    call = make_call(mode)
    answer = GATEWAYS[mode]().collection_create(call)
    assert answer.state == PaymentState.OPEN
    assert answer.pay_url.startswith(gateway_sim.url)
    page = _open_page(gateway_sim, answer.pay_url)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    text = page.text
    assert "确认支付" in text and "取消" in text and "¥88.00" in text
    assert "换课差价：Python 进阶班" in text and "明德网校" in text
    assert "<script" not in text and "http" not in text.split("<body>")[1].replace(gateway_sim.url, "")


def test_wechats_qr_code_and_h5_links_are_the_simulators_code_url_and_mweb_url(gateway_sim, make_call):
    native = WeChatPayGateway().collection_create(make_call("wechat_native"))
    h5_call = make_call("wechat_h5")
    h5 = WeChatPayGateway().collection_create(h5_call)
    assert "wxpay/bizpayurl?pr=" in native.pay_url
    assert "cgi-bin/mmpayweb-bin/checkmweb?prepay_id=" in h5.pay_url
    # WeChat's H5 rule: the merchant appends where the browser goes back to.
    assert dict(parse_qsl(urlsplit(h5.pay_url).query))["redirect_url"] == h5_call.return_url
    assert native.raw_request["trade_type"] == "NATIVE" and h5.raw_request["trade_type"] == "MWEB"


def test_alipays_wap_link_is_the_signed_request_to_the_gateway(gateway_sim, make_call):
    call = make_call("alipay_wap")
    answer = AlipayGateway().collection_create(call)
    params = dict(parse_qsl(urlsplit(answer.pay_url).query))
    assert answer.pay_url.startswith(gateway_sim.settings_values()["ALIPAY"]["GATEWAY"] + "?")
    assert params["method"] == "alipay.trade.wap.pay" and params["sign"]
    assert params["notify_url"] == call.notify_url and params["return_url"] == call.return_url
    assert gateway_sim.payment_status(call.collection_no) is None  # nothing at the gateway until opened
    _open_page(gateway_sim, answer.pay_url)
    assert gateway_sim.payment_status(call.collection_no) == "NOTPAY"


def test_a_tampered_wap_link_shows_an_error_page_and_opens_nothing(gateway_sim, make_call):
    call = make_call("alipay_wap")
    url = AlipayGateway().collection_create(call).pay_url.replace("88.00", "0.01")
    page = _open_page(gateway_sim, url)
    assert page.status_code == 400 and "验签出错" in page.text
    assert gateway_sim.payment_status(call.collection_no) is None


@pytest.mark.parametrize("mode", ["wechat_native", "alipay_qr"])
def test_opening_the_same_trade_again_answers_the_same_link(make_call, mode):
    call = make_call(mode)
    assert GATEWAYS[mode]().collection_create(call).pay_url == GATEWAYS[mode]().collection_create(call).pay_url


def test_wechat_refuses_the_same_number_with_another_amount_for_good(make_call):
    call = make_call()
    WeChatPayGateway().collection_create(call)
    with pytest.raises(GatewayFinalError) as refused:
        WeChatPayGateway().collection_create(make_call(collection_no=call.collection_no, amount=Decimal("1.00")))
    assert refused.value.code == "INVALID_REQUEST"


@pytest.mark.parametrize("mode", ["wechat_native", "alipay_qr"])
@pytest.mark.parametrize("behaviour", ["system_error", "http_500", "bad_signature", "crash_after_execute"])
def test_a_create_that_errs_or_whose_answer_is_lost_is_retryable(gateway_sim, make_call, mode, behaviour):
    channel = mode.split("_")[0]
    gateway_sim.behave(channel, behaviour, endpoint="create", times=1)
    call = make_call(mode)
    with pytest.raises(GatewayRetryableError):
        GATEWAYS[mode]().collection_create(call)
    again = GATEWAYS[mode]().collection_create(call)  # the same number: safe to repeat
    assert again.state == PaymentState.OPEN


def test_a_slow_create_past_the_timeout_is_retryable(gateway_sim, make_call, settings):
    settings.WECHAT_PAY = {**settings.WECHAT_PAY, "TIMEOUT": "0.3"}
    gateway_sim.behave("wechat", "slow", endpoint="create", delay=2.0, times=1)
    with pytest.raises(GatewayRetryableError):
        WeChatPayGateway().collection_create(make_call())
    gateway_sim.release()


# --- the student paying, the notification -----------------------------------------------------


@pytest.mark.parametrize("mode", ALL_MODES)
def test_confirming_on_the_cashier_page_pays_and_sends_a_notification_the_adapter_verifies(
    gateway_sim, callback_receiver, make_call, mode
):
    call = make_call(mode)
    gateway = GATEWAYS[mode]()
    page_url = gateway.collection_create(call).pay_url
    _open_page(gateway_sim, page_url)
    order = gateway_sim.payment_order(call.collection_no)
    done = requests.post(
        gateway_sim.url + f"cashier/{order.token}",
        data={"action": "pay"},
        verify=str(gateway_sim.material.ca_cert),
        timeout=5,
    )
    assert done.status_code == 200 and "支付成功" in done.text
    if mode in ("wechat_h5", "alipay_wap"):
        assert call.return_url in done.text  # 返回商户
    received = callback_receiver.wait(1)[0]
    notice = gateway.parse_collection_callback(
        body=received.body, content_type=received.content_type, post=dict(parse_qsl(received.body.decode()))
    )
    assert isinstance(notice, PaymentNotice)
    assert notice.collection_no == call.collection_no
    assert notice.state == PaymentState.PAID
    assert notice.amount == Decimal("88.00")
    assert notice.gateway_trade_no == order.trade_no and notice.payer
    assert notice.paid_at is not None
    assert gateway_sim.payments_received() == {call.collection_no: 1}


def test_cancelling_on_the_cashier_page_pays_nothing(gateway_sim, callback_receiver, make_call):
    call = make_call()
    WeChatPayGateway().collection_create(call)
    order = gateway_sim.payment_order(call.collection_no)
    page = requests.post(
        gateway_sim.url + f"cashier/{order.token}",
        data={"action": "cancel"},
        verify=str(gateway_sim.material.ca_cert),
        timeout=5,
    )
    assert "已取消支付" in page.text
    assert gateway_sim.payment_status(call.collection_no) == "NOTPAY"
    assert not callback_receiver.wait(1, timeout=0.5)


def test_an_order_is_paid_only_once(gateway_sim, make_call):
    call = make_call("alipay_qr")
    AlipayGateway().collection_create(call)
    gateway_sim.pay(call.collection_no)
    with pytest.raises(LedgerRefusal):
        gateway_sim.pay(call.collection_no)
    assert gateway_sim.payments_received() == {call.collection_no: 1}


@pytest.mark.parametrize("channel, mode", [("wechat", "wechat_native"), ("alipay", "alipay_qr")])
def test_a_forged_or_foreign_notification_is_rejected(gateway_sim, make_call, channel, mode):
    call = make_call(mode)
    gateway = GATEWAYS[mode]()
    gateway.collection_create(call)
    gateway_sim.pay(call.collection_no, notify=False)
    forged = gateway_sim.payment_notification(call.collection_no, bad_signature=True)
    foreign = gateway_sim.payment_notification(
        call.collection_no, **({"mch_id": "1900000001"} if channel == "wechat" else {"app_id": "2021000199999999"})
    )
    for notification in (forged, foreign):
        body = notification if isinstance(notification, bytes) else b""
        post = notification if isinstance(notification, dict) else {}
        with pytest.raises(CallbackRejected):
            gateway.parse_collection_callback(body=body, content_type="", post=post)


def test_a_refund_notification_at_the_payment_endpoint_is_parsed_as_a_refund(gateway_sim, make_call):
    call = make_call()
    gateway = WeChatPayGateway()
    gateway.collection_create(call)
    order = gateway_sim.pay(call.collection_no, notify=False)
    refund = RefundCall(
        payout_no="CR" + uuid.uuid4().hex[:12],
        order_no=call.collection_no,
        trade_no=order.trade_no,
        order_total=Decimal("88.00"),
        amount=Decimal("88.00"),
    )
    gateway.refund(refund)  # the paid trade is refundable like any other
    body = gateway_sim.wechat_notification(refund.payout_no)
    notice = gateway.parse_collection_callback(body=body, content_type="text/xml", post={})
    assert isinstance(notice, CallbackNotice)
    assert notice.payout_no == refund.payout_no and notice.amount == Decimal("88.00")


# --- query and close ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ALL_MODES)
def test_the_query_follows_the_trade_from_open_to_paid(gateway_sim, make_call, mode):
    call = make_call(mode)
    gateway = GATEWAYS[mode]()
    url = gateway.collection_create(call).pay_url
    _open_page(gateway_sim, url)  # an Alipay QR code is a trade once opened
    assert gateway.collection_query(call).state == PaymentState.OPEN
    order = gateway_sim.pay(call.collection_no, notify=False)
    answer = gateway.collection_query(call)
    assert answer.state == PaymentState.PAID
    assert (answer.amount, answer.gateway_trade_no) == (Decimal("88.00"), order.trade_no)
    assert answer.paid_at is not None and answer.payer


def test_an_alipay_qr_code_nobody_opened_is_no_trade_yet(make_call):
    call = make_call("alipay_qr")
    gateway = AlipayGateway()
    gateway.collection_create(call)
    assert gateway.collection_query(call).state == PaymentState.NOT_FOUND
    assert gateway.collection_close(call).state == PaymentState.NOT_FOUND


@pytest.mark.parametrize("mode", ["wechat_native", "alipay_wap"])
def test_a_closed_trade_cannot_be_paid(gateway_sim, make_call, mode):
    call = make_call(mode)
    gateway = GATEWAYS[mode]()
    url = gateway.collection_create(call).pay_url
    _open_page(gateway_sim, url)
    assert gateway.collection_close(call).state == PaymentState.CLOSED
    assert gateway.collection_query(call).state == PaymentState.CLOSED
    with pytest.raises(LedgerRefusal):
        gateway_sim.pay(call.collection_no)
    page = _open_page(gateway_sim, url).text
    assert "订单已关闭" in page and "确认支付" not in page


@pytest.mark.parametrize("mode", ["wechat_native", "alipay_qr"])
def test_closing_a_paid_trade_answers_paid_with_the_payment(gateway_sim, make_call, mode):
    call = make_call(mode)
    gateway = GATEWAYS[mode]()
    gateway.collection_create(call)
    gateway_sim.pay(call.collection_no, notify=False)
    answer = gateway.collection_close(call)
    assert answer.state == PaymentState.PAID and answer.amount == Decimal("88.00")
    assert gateway_sim.payment_status(call.collection_no) == "SUCCESS"


def test_a_past_time_expire_is_refused_at_the_cashier(gateway_sim, make_call):
    now = datetime.datetime.now(datetime.UTC)
    call = make_call(started_at=now - datetime.timedelta(minutes=10), expires_at=now - datetime.timedelta(seconds=1))
    url = WeChatPayGateway().collection_create(call).pay_url
    assert "已过期" in _open_page(gateway_sim, url).text
    with pytest.raises(LedgerRefusal):
        gateway_sim.pay(call.collection_no)


@pytest.mark.parametrize("behaviour", ["query_error", "system_error", "bad_signature", "http_500"])
def test_a_query_that_fails_says_nothing_about_the_trade(gateway_sim, make_call, behaviour):
    call = make_call()
    WeChatPayGateway().collection_create(call)
    gateway_sim.behave("wechat", behaviour, endpoint="pay_query", times=1)
    with pytest.raises(GatewayRetryableError):
        WeChatPayGateway().collection_query(call)


def test_an_unknown_number_is_not_found_at_either_gateway(make_call):
    for mode in ("wechat_native", "alipay_qr"):
        call = make_call(mode)
        assert GATEWAYS[mode]().collection_query(call).state == PaymentState.NOT_FOUND


# --- the registry ------------------------------------------------------------------------------


def test_the_registry_knows_which_channel_collects_how():
    assert collection_channels() == {"wechat": ("wechat_native", "wechat_h5"), "alipay": ("alipay_qr", "alipay_wap")}
    assert isinstance(collection_gateway_for("alipay", "alipay_wap"), AlipayGateway)
    with pytest.raises(UnknownChannel):
        collection_gateway_for("wechat", "alipay_qr")
    with pytest.raises(UnknownChannel):
        collection_gateway_for("card", "card")

"""WeChatPayGateway against the simulator over real HTTPS (client certificate, signatures, wechatpy)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from payments.gateways.base import ArrivalKind, GatewayFinalError, GatewayRetryableError, Outcome
from payments.gateways.config import GatewayNotConfigured
from payments.gateways.wechat import WeChatPayGateway

pytestmark = pytest.mark.usefixtures("gateway_settings")


@pytest.fixture
def gateway():
    return WeChatPayGateway()


def test_an_accepted_refund_is_processing_with_wechats_refund_id(gateway, make_call, gateway_sim):
    answer = gateway.refund(make_call())
    assert answer.outcome == Outcome.PROCESSING
    assert answer.gateway_refund_id.startswith("5030")
    assert answer.amount == Decimal("30.00")


def test_an_accepted_refund_moves_the_money_once(gateway, make_call, gateway_sim):
    call = make_call()
    gateway.refund(call)
    assert gateway_sim.refunds_executed("wechat") == {call.payout_no: 1}
    assert gateway_sim.total_refunded == Decimal("30.00")


def test_the_query_after_a_refund_says_it_succeeded_to_the_users_change(gateway, make_call):
    call = make_call()
    gateway.refund(call)
    answer = gateway.query(call)
    assert answer.outcome == Outcome.SUCCEEDED
    assert answer.amount == Decimal("30.00")
    assert answer.arrival == ArrivalKind.BALANCE
    assert answer.arrival_account == "支付用户零钱"


def test_a_refund_to_a_credit_card_is_reported_as_bank_card(gateway, make_call, gateway_sim):
    call = make_call()
    gateway_sim.register_trade(
        "wechat", trade_no=call.trade_no, out_trade_no=call.order_no, total="100.00", recv_account="招商银行信用卡0403"
    )
    gateway.refund(call)
    answer = gateway.query(call)
    assert (answer.arrival, answer.arrival_account) == (ArrivalKind.BANK_CARD, "招商银行信用卡0403")


def test_repeating_the_refund_number_moves_no_money_twice(gateway, make_call, gateway_sim):
    call = make_call()
    first = gateway.refund(call)
    second = gateway.refund(call)
    assert second.gateway_refund_id == first.gateway_refund_id
    assert gateway_sim.refunds_executed("wechat") == {call.payout_no: 1}


def test_querying_an_unknown_refund_number_says_not_found(gateway, make_call):
    assert gateway.query(make_call()).outcome == Outcome.NOT_FOUND


def test_a_slow_refund_is_processing_until_the_query_says_it_succeeded(gateway, make_call, gateway_sim):
    call = make_call()
    gateway_sim.behave("wechat", "processing_then_success", delay=0.2)
    gateway.refund(call)
    assert gateway.query(call).outcome == Outcome.PROCESSING
    assert gateway_sim.wait_for_refund(call.payout_no, timeout=5)
    assert gateway.query(call).outcome == Outcome.SUCCEEDED


def test_a_system_error_is_retryable_and_moves_no_money(gateway, make_call, gateway_sim):
    gateway_sim.behave("wechat", "system_error", times=1)
    with pytest.raises(GatewayRetryableError) as caught:
        gateway.refund(make_call())
    assert caught.value.code == "SYSTEMERROR"
    assert gateway_sim.total_refunded == 0


def test_a_refund_retried_after_a_system_error_goes_through_once(gateway, make_call, gateway_sim):
    call = make_call()
    gateway_sim.behave("wechat", "system_error", times=1)
    with pytest.raises(GatewayRetryableError):
        gateway.refund(call)
    gateway.refund(call)
    assert gateway_sim.refunds_executed("wechat") == {call.payout_no: 1}


def test_insufficient_merchant_balance_is_final_with_wechats_code_and_message(gateway, make_call, gateway_sim):
    gateway_sim.behave("wechat", "insufficient_balance")
    with pytest.raises(GatewayFinalError) as caught:
        gateway.refund(make_call())
    assert caught.value.code == "NOTENOUGH"
    assert "余额不足" in caught.value.message


def test_an_invalid_transaction_is_final(gateway, make_call, gateway_sim):
    gateway_sim.behave("wechat", "trade_not_exist")
    with pytest.raises(GatewayFinalError) as caught:
        gateway.refund(make_call())
    assert caught.value.code == "INVALID_TRANSACTIONID"


def test_a_refund_above_what_is_left_on_the_trade_is_final(gateway, make_call, gateway_sim):
    call = make_call(amount=Decimal("80.00"))
    gateway.refund(call)
    with pytest.raises(GatewayFinalError) as caught:
        gateway.refund(make_call(order_no=call.order_no, trade_no=call.trade_no, amount=Decimal("20.01")))
    assert caught.value.code == "ERROR"
    assert gateway_sim.total_refunded == Decimal("80.00")


def test_an_http_500_is_retryable_and_moves_no_money(gateway, make_call, gateway_sim):
    gateway_sim.behave("wechat", "http_500")
    with pytest.raises(GatewayRetryableError) as caught:
        gateway.refund(make_call())
    assert caught.value.code == "HTTP"
    assert gateway_sim.total_refunded == 0


def test_a_connection_dropped_after_the_money_moved_is_retryable(gateway, make_call, gateway_sim):
    gateway_sim.behave("wechat", "crash_after_execute", times=1)
    with pytest.raises(GatewayRetryableError):
        gateway.refund(make_call())
    assert gateway_sim.total_refunded == Decimal("30.00")


def test_an_http_500_after_the_money_moved_is_retryable(gateway, make_call, gateway_sim):
    call = make_call()
    gateway_sim.behave("wechat", "http_500_after_execute", times=1)
    with pytest.raises(GatewayRetryableError):
        gateway.refund(call)
    assert gateway_sim.refunds_executed("wechat") == {call.payout_no: 1}


def test_the_query_after_a_dropped_connection_says_the_refund_succeeded(gateway, make_call, gateway_sim):
    call = make_call()
    gateway_sim.behave("wechat", "crash_after_execute", times=1)
    with pytest.raises(GatewayRetryableError):
        gateway.refund(call)
    assert gateway.query(call).outcome == Outcome.SUCCEEDED


def test_an_answer_with_a_bad_signature_is_retryable(gateway, make_call, gateway_sim):
    gateway_sim.behave("wechat", "bad_signature", times=1)
    with pytest.raises(GatewayRetryableError) as caught:
        gateway.refund(make_call())
    assert caught.value.code == "BAD_SIGNATURE"


def test_an_error_answer_with_a_bad_signature_is_not_believed(gateway, make_call, gateway_sim):
    gateway_sim.behave("wechat", "bad_signature", endpoint="query")
    with pytest.raises(GatewayRetryableError) as caught:
        gateway.query(make_call())  # a forged REFUNDNOTEXIST must not read as NOT_FOUND
    assert caught.value.code == "BAD_SIGNATURE"


def test_a_refund_without_the_merchant_certificate_is_refused_and_moves_no_money(gateway_settings, settings, make_call):
    settings.WECHAT_PAY = {**settings.WECHAT_PAY, "CERT_PATH": "", "KEY_PATH": ""}
    gateway = WeChatPayGateway()
    with pytest.raises(GatewayNotConfigured):
        gateway.refund(make_call())
    assert gateway_settings.requests_received["secapi/pay/refund"] == 0


def test_the_simulator_refuses_secapi_without_a_client_certificate(gateway_settings, settings, make_call):
    gateway = WeChatPayGateway()
    client = gateway._client(with_certificate=False)  # the SDK then sends no certificate
    gateway._client = lambda **kwargs: client
    with pytest.raises(GatewayFinalError) as caught:
        gateway.refund(make_call())
    assert caught.value.code == "FAIL"
    assert "证书" in caught.value.message
    assert gateway_settings.total_refunded == 0


def test_the_configured_ca_is_trusted_whatever_requests_ca_bundle_says(gateway, make_call, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    assert gateway.refund(make_call()).outcome == Outcome.PROCESSING


def test_the_recorded_request_keeps_no_secret(gateway, make_call, settings):
    answer = gateway.refund(make_call())
    recorded = repr(answer.raw_request) + repr(answer.raw_response)
    assert settings.WECHAT_PAY["API_KEY"] not in recorded
    assert "sign" not in answer.raw_request
    assert answer.raw_request["refund_fee"] == 3000


def test_a_missing_api_key_is_a_configuration_error_naming_the_variable(settings, make_call):
    settings.WECHAT_PAY = {**settings.WECHAT_PAY, "API_KEY": ""}
    with pytest.raises(GatewayNotConfigured, match="WECHAT_PAY_API_KEY"):
        WeChatPayGateway().refund(make_call())


def test_an_amount_with_more_than_two_decimal_places_is_a_programming_error(gateway, make_call):
    with pytest.raises(ValueError, match="two decimal places"):
        gateway.refund(make_call(amount=Decimal("1.005")))

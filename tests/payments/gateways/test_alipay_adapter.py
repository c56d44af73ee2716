"""AlipayGateway against the simulator over real HTTPS (RSA2 both ways, python-alipay-sdk)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from payments.gateways.alipay import AlipayGateway
from payments.gateways.base import ArrivalKind, GatewayFinalError, GatewayRetryableError, Outcome
from payments.gateways.config import GatewayNotConfigured

pytestmark = pytest.mark.usefixtures("gateway_settings")


@pytest.fixture
def gateway():
    return AlipayGateway()


def test_a_refund_succeeds_at_once_with_its_amount(gateway, make_call):
    answer = gateway.refund(make_call())
    assert answer.outcome == Outcome.SUCCEEDED
    assert answer.amount == Decimal("30.00")
    assert answer.arrival == ArrivalKind.BALANCE


def test_a_refund_moves_the_money_once(gateway, make_call, gateway_sim):
    call = make_call()
    gateway.refund(call)
    assert gateway_sim.refunds_executed("alipay") == {call.payout_no: 1}


def test_a_refund_to_a_bank_card_is_reported_as_bank_card(gateway, make_call, gateway_sim):
    call = make_call()
    gateway_sim.register_trade(
        "alipay", trade_no=call.trade_no, out_trade_no=call.order_no, total="100.00", fund_channel="BANKCARD"
    )
    assert gateway.refund(call).arrival == ArrivalKind.BANK_CARD


def test_repeating_the_refund_number_is_confirmed_by_the_query(gateway, make_call):
    call = make_call()
    gateway.refund(call)
    answer = gateway.refund(call)  # fund_change "N"
    assert answer.outcome == Outcome.SUCCEEDED
    assert answer.amount == Decimal("30.00")
    assert answer.raw_response["refund"]["fund_change"] == "N"


def test_repeating_the_refund_number_moves_no_money_twice(gateway, make_call, gateway_sim):
    call = make_call()
    gateway.refund(call)
    gateway.refund(call)
    assert gateway_sim.refunds_executed("alipay") == {call.payout_no: 1}


def test_the_query_after_a_refund_says_it_succeeded(gateway, make_call):
    call = make_call()
    gateway.refund(call)
    answer = gateway.query(call)
    assert (answer.outcome, answer.amount) == (Outcome.SUCCEEDED, Decimal("30.00"))


def test_querying_an_unknown_refund_number_says_not_found(gateway, make_call):
    call = make_call()
    gateway.refund(call)
    other = make_call(order_no=call.order_no, trade_no=call.trade_no)
    assert gateway.query(other).outcome == Outcome.NOT_FOUND


def test_querying_a_refund_on_an_unknown_trade_says_not_found(gateway, make_call):
    assert gateway.query(make_call()).outcome == Outcome.NOT_FOUND


def test_a_refund_still_on_its_way_is_processing_until_the_query_says_it_succeeded(gateway, make_call, gateway_sim):
    call = make_call()
    gateway_sim.behave("alipay", "processing_then_success", delay=0.2)
    assert gateway.refund(call).outcome == Outcome.PROCESSING
    assert gateway_sim.wait_for_refund(call.payout_no, timeout=5)
    assert gateway.query(call).outcome == Outcome.SUCCEEDED


def test_a_system_error_is_retryable_and_moves_no_money(gateway, make_call, gateway_sim):
    gateway_sim.behave("alipay", "system_error")
    with pytest.raises(GatewayRetryableError) as caught:
        gateway.refund(make_call())
    assert caught.value.code == "ACQ.SYSTEM_ERROR"
    assert gateway_sim.total_refunded == 0


def test_insufficient_seller_balance_is_final_with_alipays_code(gateway, make_call, gateway_sim):
    gateway_sim.behave("alipay", "insufficient_balance")
    with pytest.raises(GatewayFinalError) as caught:
        gateway.refund(make_call())
    assert caught.value.code == "ACQ.SELLER_BALANCE_NOT_ENOUGH"
    assert caught.value.message == "卖家余额不足"


def test_a_refund_on_an_unknown_trade_is_final(gateway, make_call, gateway_sim):
    gateway_sim.behave("alipay", "trade_not_exist")
    with pytest.raises(GatewayFinalError) as caught:
        gateway.refund(make_call())
    assert caught.value.code == "ACQ.TRADE_NOT_EXIST"


def test_a_refund_above_what_is_left_on_the_trade_is_final(gateway, make_call, gateway_sim):
    call = make_call()
    gateway_sim.register_trade("alipay", trade_no=call.trade_no, out_trade_no=call.order_no, total="100.00")
    with pytest.raises(GatewayFinalError) as caught:
        gateway.refund(make_call(order_no=call.order_no, trade_no=call.trade_no, amount=Decimal("100.01")))
    assert caught.value.code == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"


def test_an_http_500_is_retryable_and_moves_no_money(gateway, make_call, gateway_sim):
    gateway_sim.behave("alipay", "http_500")
    with pytest.raises(GatewayRetryableError) as caught:
        gateway.refund(make_call())
    assert caught.value.code == "NETWORK"
    assert gateway_sim.total_refunded == 0


def test_a_connection_dropped_after_the_money_moved_is_retryable(gateway, make_call, gateway_sim):
    gateway_sim.behave("alipay", "crash_after_execute", times=1)
    with pytest.raises(GatewayRetryableError):
        gateway.refund(make_call())
    assert gateway_sim.total_refunded == Decimal("30.00")


def test_the_query_after_a_dropped_connection_says_the_refund_succeeded(gateway, make_call, gateway_sim):
    call = make_call()
    gateway_sim.behave("alipay", "crash_after_execute", times=1)
    with pytest.raises(GatewayRetryableError):
        gateway.refund(call)
    assert gateway.query(call).outcome == Outcome.SUCCEEDED


def test_an_answer_with_a_bad_signature_is_retryable(gateway, make_call, gateway_sim):
    gateway_sim.behave("alipay", "bad_signature", times=1)
    with pytest.raises(GatewayRetryableError) as caught:
        gateway.refund(make_call())
    assert caught.value.code == "BAD_SIGNATURE"


def test_a_slow_answer_past_the_timeout_is_retryable(settings, make_call, gateway_sim):
    settings.ALIPAY = {**settings.ALIPAY, "TIMEOUT": 0.2}
    gateway_sim.behave("alipay", "slow", delay=0.6)
    with pytest.raises(GatewayRetryableError):
        AlipayGateway().refund(make_call())


def test_a_request_signed_with_another_app_key_is_refused_for_good(settings, make_call, gateway_sim):
    # Alipay's platform key stands in for a wrong app key: the simulator cannot verify the request.
    settings.ALIPAY = {**settings.ALIPAY, "APP_PRIVATE_KEY_PATH": str(gateway_sim.material.alipay_platform_private_key)}
    with pytest.raises(GatewayFinalError) as caught:
        AlipayGateway().refund(make_call())
    assert caught.value.code == "40002"
    assert gateway_sim.total_refunded == 0


def test_a_missing_key_file_is_a_configuration_error_naming_the_variable(settings, make_call):
    settings.ALIPAY = {**settings.ALIPAY, "APP_PRIVATE_KEY_PATH": "/nonexistent/app.pem"}
    with pytest.raises(GatewayNotConfigured, match="ALIPAY_APP_PRIVATE_KEY_PATH"):
        AlipayGateway().refund(make_call())


def test_the_amount_is_sent_as_text_with_two_places(gateway, make_call):
    answer = gateway.refund(make_call(amount=Decimal("12.3")))
    assert answer.raw_request["refund_amount"] == "12.30"

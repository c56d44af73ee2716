"""The simulator's refund-query misbehaviours, over HTTPS through the real adapters: a signed error
(``query_error``), "never heard of it" after the money moved (``query_not_found``), and no answer
at all (``query_timeout``).

What a failed query means for the payout (final or unknown) is the adapters' and the payout
service's business; these tests check what reaches the adapter: the error code, from an answer
whose signature it verified (a forged one would read as BAD_SIGNATURE).
"""

from __future__ import annotations

import threading
import time

import pytest
import requests

from payments.gateways.alipay import AlipayGateway
from payments.gateways.base import GatewayError, GatewayRetryableError, Outcome
from payments.gateways.wechat import WeChatPayGateway

pytestmark = pytest.mark.usefixtures("gateway_settings")

GATEWAYS = {"wechat": WeChatPayGateway, "alipay": AlipayGateway}
SETTINGS = {"wechat": "WECHAT_PAY", "alipay": "ALIPAY"}


@pytest.fixture(params=sorted(GATEWAYS))
def channel(request) -> str:
    return request.param


@pytest.fixture
def paid(channel, make_call, gateway_sim):
    """A refund call whose money has moved at the gateway (once)."""
    call = make_call()
    GATEWAYS[channel]().refund(call)
    assert gateway_sim.refunds_executed(channel) == {call.payout_no: 1}
    return call


def _behave_over_http(sim, **payload) -> requests.Response:
    return requests.post(sim.url + "_sim/behave", json=payload, verify=str(sim.material.ca_cert), timeout=5)


# --- query_error ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "code"), [("wechat", "ERROR"), ("alipay", "isv.invalid-signature")], indirect=["channel"]
)
def test_a_query_error_is_a_signed_business_error_although_the_money_moved(channel, code, paid, gateway_sim):
    gateway_sim.behave(channel, "query_error", times=1)
    with pytest.raises(GatewayError) as caught:
        GATEWAYS[channel]().query(paid)
    # The adapter only reads an error code out of an answer whose signature it verified.
    assert caught.value.code == code
    assert isinstance(caught.value.raw, dict)
    assert gateway_sim.refunds_executed(channel) == {paid.payout_no: 1}


@pytest.mark.parametrize(
    ("channel", "code"), [("wechat", "INVALID_REQUEST"), ("alipay", "ACQ.INVALID_PARAMETER")], indirect=["channel"]
)
def test_a_query_error_answers_the_code_the_rule_names(channel, code, paid, gateway_sim):
    gateway_sim.behave(channel, "query_error", code=code)
    with pytest.raises(GatewayError) as caught:
        GATEWAYS[channel]().query(paid)
    assert caught.value.code == code


@pytest.mark.parametrize("channel", ["alipay"], indirect=True)
def test_an_alipay_query_error_of_the_business_kind_is_code_40004(channel, paid, gateway_sim):
    gateway_sim.behave("alipay", "query_error", code="ACQ.INVALID_PARAMETER")
    with pytest.raises(GatewayError) as caught:
        AlipayGateway().query(paid)
    assert caught.value.raw["code"] == "40004"


def test_once_a_query_error_has_fired_the_query_tells_the_truth_again(channel, paid, gateway_sim):
    gateway_sim.behave(channel, "query_error", times=1)
    gateway = GATEWAYS[channel]()
    with pytest.raises(GatewayError):
        gateway.query(paid)
    assert gateway.query(paid).outcome == Outcome.SUCCEEDED


# --- query_not_found -----------------------------------------------------------------------------


def test_a_lagging_gateway_says_it_never_heard_of_a_refund_it_executed(channel, paid, gateway_sim):
    gateway_sim.behave(channel, "query_not_found", times=1)
    gateway = GATEWAYS[channel]()
    assert gateway.query(paid).outcome == Outcome.NOT_FOUND
    assert gateway_sim.refunds_executed(channel) == {paid.payout_no: 1}
    assert gateway.query(paid).outcome == Outcome.SUCCEEDED


def test_a_refund_sent_again_after_not_found_moves_no_money_twice(channel, paid, gateway_sim):
    gateway_sim.behave(channel, "query_not_found", times=1)
    gateway = GATEWAYS[channel]()
    assert gateway.query(paid).outcome == Outcome.NOT_FOUND
    gateway.refund(paid)  # what a client that believed it would do: the same number again
    assert gateway_sim.refunds_executed(channel) == {paid.payout_no: 1}


# --- query_timeout -------------------------------------------------------------------------------


def test_a_query_held_past_the_clients_timeout_is_retryable(channel, paid, gateway_sim, settings):
    name = SETTINGS[channel]
    setattr(settings, name, {**getattr(settings, name), "TIMEOUT": 0.3})
    gateway_sim.behave(channel, "query_timeout", times=1, delay=30)
    gateway = GATEWAYS[channel]()
    try:
        with pytest.raises(GatewayRetryableError) as caught:
            gateway.query(paid)
    finally:
        gateway_sim.release()
    assert caught.value.code == "NETWORK"
    assert gateway.query(paid).outcome == Outcome.SUCCEEDED


def test_a_held_query_is_dropped_unanswered_when_released(channel, paid, gateway_sim):
    gateway_sim.behave(channel, "query_timeout", times=1, delay=60)
    errors: list[Exception] = []

    def ask() -> None:
        try:
            GATEWAYS[channel]().query(paid)
        except GatewayRetryableError as exc:
            errors.append(exc)

    asking = threading.Thread(target=ask)
    asking.start()
    query_endpoint = "pay/refundquery" if channel == "wechat" else "alipay.trade.fastpay.refund.query"
    for _ in range(200):  # until the simulator holds the query (a handful of milliseconds)
        if gateway_sim.requests_received[query_endpoint]:
            break
        time.sleep(0.01)
    gateway_sim.release()
    asking.join(timeout=10)
    assert not asking.is_alive()
    assert [error.code for error in errors] == ["NETWORK"]


def test_a_query_timeout_without_delay_drops_the_connection_at_once(channel, paid, gateway_sim):
    gateway_sim.behave(channel, "query_timeout", times=1, delay=0)
    with pytest.raises(GatewayRetryableError) as caught:
        GATEWAYS[channel]().query(paid)
    assert caught.value.code == "NETWORK"


# --- the switches --------------------------------------------------------------------------------


def test_query_misbehaviours_leave_the_refund_call_alone(channel, make_call, gateway_sim):
    for behaviour in ("query_error", "query_not_found", "query_timeout"):
        gateway_sim.behave(channel, behaviour)
    call = make_call()
    answer = GATEWAYS[channel]().refund(call)
    assert answer.outcome in (Outcome.PROCESSING, Outcome.SUCCEEDED)
    assert gateway_sim.refunds_executed(channel) == {call.payout_no: 1}


def test_query_misbehaviours_are_switched_on_over_http_for_the_query(gateway_sim):
    response = _behave_over_http(gateway_sim, channel="alipay", behaviour="query_not_found", times=2)
    assert response.json() == {"ok": True}
    assert [(rule.behaviour, rule.endpoint, rule.times) for rule in gateway_sim.behaviours.rules] == [
        ("query_not_found", "query", 2)
    ]


def test_a_query_error_code_is_taken_over_http(gateway_sim, make_call):
    call = make_call()
    WeChatPayGateway().refund(call)
    _behave_over_http(gateway_sim, channel="wechat", behaviour="query_error", code="INVALID_REQUEST")
    with pytest.raises(GatewayError) as caught:
        WeChatPayGateway().query(call)
    assert caught.value.code == "INVALID_REQUEST"


@pytest.mark.parametrize(
    "payload",
    [
        {"behaviour": "query_timeout", "endpoint": "refund"},
        {"behaviour": "query_error", "endpoint": "any"},
        {"behaviour": "system_error", "code": "ERROR"},
        {"behaviour": "query_error", "code": " "},
        {"behaviour": "query_error", "code": 40002},
        {"behaviour": "query_timeout", "delay": -1},
    ],
)
def test_a_query_rule_that_cannot_apply_is_refused_over_http(gateway_sim, payload):
    response = _behave_over_http(gateway_sim, channel="wechat", **payload)
    assert response.status_code == 400
    assert gateway_sim.behaviours.rules == []

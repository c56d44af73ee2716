"""The simulator on its own: it checks what it is sent, keeps its books, and misbehaves on cue."""

from __future__ import annotations

import secrets
import threading
import time
from decimal import Decimal
from urllib.parse import urlencode

import pytest
import requests

from gatewaysim.behaviours import BehaviourBook, Rule
from gatewaysim.keys import ALIPAY_APPID, WECHAT_APPID, WECHAT_MCH_ID
from gatewaysim.protocol import (
    alipay_sign_string,
    load_private_key,
    parse_wechat_xml,
    rsa2_sign,
    wechat_sign,
    wechat_xml,
)
from payments.gateways.alipay import AlipayGateway
from payments.gateways.base import GatewayFinalError, GatewayRetryableError, Outcome
from payments.gateways.wechat import WeChatPayGateway

pytestmark = pytest.mark.usefixtures("gateway_settings")


def _wechat_refund_request(sim, *, sign_type: str = "MD5", key: str | None = None) -> dict[str, str]:
    params = {
        "appid": WECHAT_APPID,
        "mch_id": WECHAT_MCH_ID,
        "nonce_str": secrets.token_hex(8),
        "out_refund_no": "RF-by-hand-" + secrets.token_hex(4),
        "transaction_id": "4200" + secrets.token_hex(6),
        "total_fee": "1000",
        "refund_fee": "100",
    }
    if sign_type != "MD5":
        params["sign_type"] = sign_type
    params["sign"] = wechat_sign(params, key or sim.material.wechat_api_key, sign_type)
    return params


def _post_wechat(sim, params: dict[str, str], *, cert: bool = True) -> dict[str, str]:
    material = sim.material
    response = requests.post(
        sim.url + "secapi/pay/refund",
        data=wechat_xml(params).encode(),
        cert=(str(material.wechat_client_cert), str(material.wechat_client_key)) if cert else None,
        verify=str(material.ca_cert),
        timeout=5,
    )
    return parse_wechat_xml(response.content)


def _alipay_get(sim, params: dict[str, str]) -> requests.Response:
    return requests.get(sim.url + "gateway.do?" + urlencode(params), verify=str(sim.material.ca_cert), timeout=5)


def _alipay_refund_params(sim, *, signing_key_path) -> dict[str, str]:
    params = {
        "app_id": ALIPAY_APPID,
        "method": "alipay.trade.refund",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": "2026-12-02 10:00:00",
        "version": "1.0",
        "biz_content": '{"refund_amount":"1.00","out_trade_no":"OD-by-hand","out_request_no":"RF-by-hand"}',
    }
    key = load_private_key(signing_key_path.read_bytes())
    params["sign"] = rsa2_sign(alipay_sign_string(params, exclude=("sign",)), key)
    return params


# --- it checks what it is sent -------------------------------------------------------------------


def test_a_wechat_request_with_a_bad_signature_is_refused(gateway_sim):
    answer = _post_wechat(gateway_sim, _wechat_refund_request(gateway_sim, key="0" * 32))
    assert (answer["return_code"], answer["return_msg"]) == ("FAIL", "签名错误")
    assert gateway_sim.total_refunded == 0


def test_a_wechat_request_signed_with_hmac_sha256_is_accepted(gateway_sim):
    answer = _post_wechat(gateway_sim, _wechat_refund_request(gateway_sim, sign_type="HMAC-SHA256"))
    assert (answer["return_code"], answer["result_code"]) == ("SUCCESS", "SUCCESS")


def test_secapi_without_a_client_certificate_is_refused(gateway_sim):
    answer = _post_wechat(gateway_sim, _wechat_refund_request(gateway_sim), cert=False)
    assert answer["return_code"] == "FAIL"
    assert "sign" not in answer
    assert gateway_sim.total_refunded == 0


def test_an_alipay_request_with_a_bad_signature_is_refused(gateway_sim):
    params = _alipay_refund_params(gateway_sim, signing_key_path=gateway_sim.material.alipay_platform_private_key)
    body = _alipay_get(gateway_sim, params).json()
    assert body["error_response"]["sub_code"] == "isv.invalid-signature"
    assert gateway_sim.total_refunded == 0


def test_an_alipay_request_signed_with_the_app_key_is_accepted(gateway_sim):
    params = _alipay_refund_params(gateway_sim, signing_key_path=gateway_sim.material.alipay_app_private_key)
    body = _alipay_get(gateway_sim, params).json()
    assert body["alipay_trade_refund_response"]["code"] == "10000"


def test_alipay_signs_the_exact_text_of_its_answer(gateway_sim):
    from gatewaysim.protocol import load_public_key, rsa2_verify

    params = _alipay_refund_params(gateway_sim, signing_key_path=gateway_sim.material.alipay_app_private_key)
    text = _alipay_get(gateway_sim, params).text
    inner = text[text.index("{", 1) : text.rindex(',"sign"')]
    public_key = load_public_key(gateway_sim.material.alipay_platform_public_key.read_bytes())
    assert rsa2_verify(inner, text.rsplit('"sign":"', 1)[1].rstrip('"}'), public_key)


def test_the_books_count_requests_per_endpoint(gateway_sim, make_call):
    gateway = WeChatPayGateway()
    call = make_call()
    gateway.refund(call)
    gateway.query(call)
    assert gateway_sim.requests_received == {"secapi/pay/refund": 1, "pay/refundquery": 1}


# --- it misbehaves on cue ------------------------------------------------------------------------


def test_a_rule_limited_in_times_stops_firing(gateway_sim, make_call):
    gateway_sim.behave("wechat", "system_error", times=1)
    gateway = WeChatPayGateway()
    with pytest.raises(GatewayRetryableError):
        gateway.refund(make_call())
    assert gateway.refund(make_call()).outcome == Outcome.PROCESSING


def test_a_rule_for_one_channel_leaves_the_other_alone(gateway_sim, make_call):
    gateway_sim.behave("alipay", "system_error")
    assert WeChatPayGateway().refund(make_call()).outcome == Outcome.PROCESSING


def test_failing_a_fifth_of_first_attempts_never_fails_a_second_attempt(gateway_sim, make_call):
    gateway_sim.reset(seed=7)
    gateway_sim.behave("wechat", "system_error", probability=0.2, first_attempt_only=True)
    gateway = WeChatPayGateway()
    calls = [make_call() for _ in range(15)]
    failed = []
    for call in calls:
        try:
            gateway.refund(call)
        except GatewayRetryableError:
            failed.append(call)
            gateway.refund(call)  # the second attempt always goes through
    assert 0 < len(failed) < len(calls)
    assert gateway_sim.refunds_executed("wechat") == {call.payout_no: 1 for call in calls}


def test_the_same_seed_fails_the_same_attempts():
    def draws(seed: int) -> list[bool]:
        book = BehaviourBook(seed=seed)
        book.add(Rule(behaviour="system_error", probability=0.2, first_attempt_only=True))
        return [book.pick(channel="wechat", endpoint="refund", number=f"RF{i}") is not None for i in range(50)]

    assert draws(3) == draws(3)
    assert 0 < sum(draws(3)) < 50


def test_a_hung_answer_comes_after_the_money_moved_and_is_released(gateway_sim, make_call):
    gateway_sim.behave("wechat", "hang_after_execute")
    call = make_call()
    answers = []
    worker = threading.Thread(target=lambda: answers.append(WeChatPayGateway().refund(call)))
    worker.start()
    movement = gateway_sim.wait_for_refund(call.payout_no, timeout=5)
    assert movement is not None and movement.amount == Decimal("30.00")
    assert answers == []  # the caller is still waiting: this is where a worker gets killed
    gateway_sim.release()
    worker.join(timeout=5)
    assert answers[0].outcome == Outcome.PROCESSING


def test_waiting_for_a_refund_that_never_comes_returns_none(gateway_sim):
    assert gateway_sim.wait_for_refund("RF-never", timeout=0.05) is None


def test_behaviour_can_be_switched_over_http(gateway_sim, make_call):
    response = requests.post(
        gateway_sim.url + "_sim/behave",
        json={"channel": "wechat", "behaviour": "insufficient_balance", "times": 1},
        verify=str(gateway_sim.material.ca_cert),
        timeout=5,
    )
    assert response.json() == {"ok": True}
    assert [rule.behaviour for rule in gateway_sim.behaviours.rules] == ["insufficient_balance"]


def test_an_unknown_behaviour_is_refused_over_http(gateway_sim):
    response = requests.post(
        gateway_sim.url + "_sim/behave",
        json={"channel": "wechat", "behaviour": "explode"},
        verify=str(gateway_sim.material.ca_cert),
        timeout=5,
    )
    assert response.status_code == 400


def test_the_state_shows_what_was_refunded(gateway_sim, make_call):
    call = make_call()
    WeChatPayGateway().refund(call)
    state = requests.get(gateway_sim.url + "_sim/state", verify=str(gateway_sim.material.ca_cert), timeout=5).json()
    assert state["refunds_executed"] == {call.payout_no: 1}
    assert state["total_refunded"] == "30.00"


def test_a_slow_answer_arrives_after_the_delay(gateway_sim, make_call):
    gateway_sim.behave("wechat", "slow", delay=0.3)
    started = time.monotonic()
    WeChatPayGateway().refund(make_call())
    assert time.monotonic() - started >= 0.3


def test_keys_are_reused_when_the_directory_already_has_them(tmp_path):
    from gatewaysim.keys import ensure_material

    first = ensure_material(tmp_path)
    second = ensure_material(tmp_path)
    assert first.wechat_api_key == second.wechat_api_key
    assert len(first.wechat_api_key) == 32


@pytest.mark.parametrize("behaviour", ["insufficient_balance", "trade_not_exist"])
@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_a_refusal_never_answers_a_number_the_gateway_already_took(gateway_sim, make_call, channel, behaviour):
    gateway = WeChatPayGateway() if channel == "wechat" else AlipayGateway()
    call = make_call()
    gateway_sim.behave(channel, "crash_after_execute", times=1)
    with pytest.raises(GatewayRetryableError):
        gateway.refund(call)  # the money moved, the answer was lost
    gateway_sim.behave(channel, behaviour, times=1)
    # Sent again under the same number: answered from the books, as real gateways do.
    assert gateway.refund(call).outcome in (Outcome.PROCESSING, Outcome.SUCCEEDED)
    assert gateway_sim.refunds_executed(channel) == {call.payout_no: 1}
    with pytest.raises(GatewayFinalError):
        gateway.refund(make_call())  # a new number still meets the refusal

"""The simulator's own signers against WeChat's published known-answer vectors, and the SDKs."""

from __future__ import annotations

from wechatpy.crypto import WeChatRefundCrypto
from wechatpy.pay.utils import calculate_signature

from gatewaysim.protocol import (
    wechat_decrypt_req_info,
    wechat_encrypt_req_info,
    wechat_sign,
    wechat_signature_valid,
)

VECTOR = {
    "appid": "wxd930ea5d5a258f4f",
    "mch_id": "10000100",
    "device_info": "1000",
    "body": "test",
    "nonce_str": "ibuaiVcKdpRxkhJA",
}
VECTOR_KEY = "192006250b4c09247ec02edce69f6a2d"


def test_md5_signature_matches_wechats_published_vector():
    assert wechat_sign(VECTOR, VECTOR_KEY) == "9A0A8659F005D6984697E2CA0A9CF3B7"


def test_hmac_sha256_signature_matches_wechats_published_vector():
    assert (
        wechat_sign(VECTOR, VECTOR_KEY, "HMAC-SHA256")
        == "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6"
    )


def test_empty_values_and_the_sign_itself_are_left_out_of_the_signature():
    padded = {**VECTOR, "attach": "", "sign": "whatever"}
    assert wechat_sign(padded, VECTOR_KEY) == "9A0A8659F005D6984697E2CA0A9CF3B7"


def test_a_signature_is_checked_by_the_sign_type_the_request_names():
    params = {**VECTOR, "sign_type": "HMAC-SHA256"}
    params["sign"] = wechat_sign(params, VECTOR_KEY, "HMAC-SHA256")
    assert wechat_signature_valid(params, VECTOR_KEY)


def test_a_signature_made_with_another_key_is_refused():
    params = {**VECTOR, "sign": wechat_sign(VECTOR, "0" * 32)}
    assert not wechat_signature_valid(params, VECTOR_KEY)


def test_the_simulator_and_wechatpy_sign_alike():
    assert wechat_sign(VECTOR, VECTOR_KEY) == calculate_signature(VECTOR, VECTOR_KEY)


def test_wechatpy_decrypts_the_simulators_refund_notification_cipher():
    plaintext = "<root><out_refund_no><![CDATA[RF1]]></out_refund_no></root>"
    req_info = wechat_encrypt_req_info(plaintext, VECTOR_KEY)
    outer = {"appid": VECTOR["appid"], "mch_id": VECTOR["mch_id"], "req_info": req_info}
    decrypted = WeChatRefundCrypto(VECTOR_KEY).decrypt_message(outer, VECTOR["appid"], VECTOR["mch_id"])
    assert decrypted == {"out_refund_no": "RF1"}


def test_the_refund_notification_cipher_round_trips():
    plaintext = "<root><refund_recv_accout><![CDATA[支付用户零钱]]></refund_recv_accout></root>"
    assert wechat_decrypt_req_info(wechat_encrypt_req_info(plaintext, VECTOR_KEY), VECTOR_KEY) == plaintext

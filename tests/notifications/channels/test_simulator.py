"""The simulator's notification endpoints on their own: what they check, independently of the channels."""

from __future__ import annotations

import json

import requests

from gatewaysim import keys
from gatewaysim.sms import signature


def _post_sms(sim, params: dict[str, str]) -> requests.Response:
    return requests.post(sim.url + "sms/", data=params, verify=str(sim.material.ca_cert), timeout=5)


def _signed_params(sim, **overrides: str) -> dict[str, str]:
    import datetime
    import uuid

    params = {
        "Action": "SendSms",
        "Version": "2017-05-25",
        "AccessKeyId": keys.SMS_ACCESS_KEY_ID,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": str(uuid.uuid4()),
        "Timestamp": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "PhoneNumbers": "13800138000",
        "SignName": keys.SMS_SIGN_NAME,
        "TemplateCode": "SMS_100001",
        "TemplateParam": json.dumps({"name": "李 小*明~"}, ensure_ascii=False),
        **overrides,
    }
    params["Signature"] = signature(sim.material.sms_access_key_secret, "POST", params)
    return params


def test_sms_endpoint_accepts_a_correctly_signed_request(gateway_settings):
    answer = _post_sms(gateway_settings, _signed_params(gateway_settings))

    assert answer.json()["Code"] == "OK"
    assert gateway_settings.messages_received("sms")[0].payload["TemplateParam"] == {"name": "李 小*明~"}


def test_sms_endpoint_refuses_a_request_changed_after_signing(gateway_settings):
    params = _signed_params(gateway_settings)
    params["PhoneNumbers"] = "13900139000"

    answer = _post_sms(gateway_settings, params)

    assert answer.status_code == 400
    assert answer.json()["Code"] == "SignatureDoesNotMatch"
    assert gateway_settings.messages_received("sms") == []


def test_sms_endpoint_refuses_a_template_value_over_35_characters(gateway_settings):
    params = _signed_params(gateway_settings, TemplateParam=json.dumps({"course": "课" * 36}))

    assert _post_sms(gateway_settings, params).json()["Code"] == "isv.PARAM_LENGTH_LIMIT"


def test_wechat_token_endpoint_refuses_a_wrong_secret(gateway_settings):
    answer = requests.get(
        gateway_settings.url + "cgi-bin/token",
        params={"grant_type": "client_credential", "appid": keys.WECHAT_MP_APPID, "secret": "nope"},
        verify=str(gateway_settings.material.ca_cert),
        timeout=5,
    )

    assert answer.json()["errcode"] == 40125


def test_subscribe_endpoint_enforces_wechat_field_limits(gateway_settings):
    ca = str(gateway_settings.material.ca_cert)
    token = requests.get(
        gateway_settings.url + "cgi-bin/token",
        params={
            "grant_type": "client_credential",
            "appid": keys.WECHAT_MP_APPID,
            "secret": gateway_settings.material.wechat_mp_secret,
        },
        verify=ca,
        timeout=5,
    ).json()["access_token"]
    body = {"touser": "o" + "x" * 27, "template_id": "tmplRefund0001", "data": {"thing1": {"value": "课" * 21}}}

    answer = requests.post(
        gateway_settings.url + "cgi-bin/message/subscribe/send",
        params={"access_token": token},
        json=body,
        verify=ca,
        timeout=5,
    )

    assert answer.json()["errcode"] == 47003


def test_settings_files_name_the_channel_settings(gateway_sim, tmp_path):
    _, env_path = gateway_sim.write_settings_files()

    lines = env_path.read_text().splitlines()
    assert f"SMS_ACCESS_KEY_SECRET={gateway_sim.material.sms_access_key_secret}" in lines
    assert f"WECHAT_MP_SECRET={gateway_sim.material.wechat_mp_secret}" in lines


def test_a_key_directory_from_before_the_notification_keys_keeps_its_other_keys(tmp_path):
    material = keys.ensure_material(tmp_path)
    material.notify_keys_file.unlink()
    ca_before = material.ca_cert.read_bytes()

    again = keys.ensure_material(tmp_path)

    assert again.ca_cert.read_bytes() == ca_before
    assert again.wechat_api_key == material.wechat_api_key
    assert again.sms_access_key_secret and again.sms_access_key_secret != material.sms_access_key_secret


def test_a_fault_set_over_the_control_endpoint_applies_to_the_next_message(gateway_settings):
    ca = str(gateway_settings.material.ca_cert)
    requests.post(
        gateway_settings.url + "_sim/message_fault",
        json={"kind": "sms", "behaviour": "throttled", "times": 1},
        verify=ca,
        timeout=5,
    ).raise_for_status()

    first = _post_sms(gateway_settings, _signed_params(gateway_settings)).json()
    second = _post_sms(gateway_settings, _signed_params(gateway_settings)).json()

    assert (first["Code"], second["Code"]) == ("isv.BUSINESS_LIMIT_CONTROL", "OK")
    state = requests.get(gateway_settings.url + "_sim/state", verify=ca, timeout=5).json()
    assert state["messages_received"] == {"sms": 1}

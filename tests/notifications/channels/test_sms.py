"""The SMS channel against the simulator's Aliyun-style provider, which checks the signature itself."""

from __future__ import annotations

import pytest

from notifications.channels.base import ChannelPermanentError, ChannelTemporaryError, Recipient, channel_for
from notifications.channels.sms import SmsChannel, signature_nonce

TEMPLATE = "SMS_465920001"
FIELDS = {"name": "李小明", "amount": "1280.00", "course": "高中数学"}


@pytest.fixture
def channel() -> SmsChannel:
    return SmsChannel()


@pytest.fixture
def sms_message(make_message):
    def make(**overrides):
        return make_message(**{"fields": FIELDS, "provider_template_id": TEMPLATE, **overrides})

    return make


def test_sms_is_accepted_by_the_provider_and_returns_its_biz_id(channel, gateway_settings, sms_message):
    biz_id = channel.send(sms_message())

    [received] = gateway_settings.messages_received("sms")
    assert biz_id and "^" in biz_id
    assert received.payload["PhoneNumbers"] == "13800138000"
    assert received.payload["SignName"] == "明德网校"
    assert received.payload["TemplateCode"] == TEMPLATE
    assert received.payload["TemplateParam"] == FIELDS


def test_sms_passes_the_delivery_id_as_out_id(channel, gateway_settings, sms_message):
    channel.send(sms_message(delivery_id=4711))

    assert gateway_settings.messages_received("sms")[0].payload["OutId"] == "4711"


def test_phone_with_country_code_is_sent_as_eleven_digits(channel, gateway_settings, sms_message, recipient):
    channel.send(sms_message(recipient=Recipient(7, "李小明", phone="+86 138 0013 8000")))

    assert gateway_settings.messages_received("sms")[0].payload["PhoneNumbers"] == "13800138000"


def test_wrong_access_key_secret_is_refused_by_the_provider_as_a_bad_signature(
    channel, gateway_settings, sms_message, settings
):
    settings.SMS = {**settings.SMS, "ACCESS_KEY_SECRET": "not-the-secret"}

    with pytest.raises(ChannelPermanentError) as error:
        channel.send(sms_message())

    assert error.value.code == "SignatureDoesNotMatch"
    assert gateway_settings.messages_received("sms") == []


def test_retry_after_an_unknown_outcome_sends_the_same_nonce(channel, gateway_settings, sms_message):
    message = sms_message()
    nonce = signature_nonce(message.delivery_id)
    gateway_settings.message_fault("sms", "http_500")

    with pytest.raises(ChannelTemporaryError):
        channel.send(message)
    channel.send(message)

    [received] = gateway_settings.messages_received("sms")
    assert received.payload["SignatureNonce"] == nonce


def test_retry_of_a_request_the_provider_already_took_is_not_sent_twice(channel, gateway_settings, sms_message):
    message = sms_message()

    channel.send(message)
    assert channel.send(message) == ""

    assert len(gateway_settings.messages_received("sms")) == 1


def test_throttled_send_is_temporary_and_its_retry_is_a_new_request(channel, gateway_settings, sms_message):
    message = sms_message()
    first_nonce = signature_nonce(message.delivery_id)
    gateway_settings.message_fault("sms", "throttled")

    with pytest.raises(ChannelTemporaryError) as error:
        channel.send(message)
    channel.send(message)

    assert error.value.code == "isv.BUSINESS_LIMIT_CONTROL"
    [received] = gateway_settings.messages_received("sms")
    assert received.payload["SignatureNonce"] != first_nonce


@pytest.mark.parametrize(
    ("fault", "error_class", "code"),
    [
        ("system_error", ChannelTemporaryError, "isp.SYSTEM_ERROR"),
        ("http_500", ChannelTemporaryError, "http"),
        ("isv.MOBILE_NUMBER_ILLEGAL", ChannelPermanentError, "isv.MOBILE_NUMBER_ILLEGAL"),
        ("isv.TEMPLATE_MISSING_PARAMETERS", ChannelPermanentError, "isv.TEMPLATE_MISSING_PARAMETERS"),
        ("isv.SMS_TEMPLATE_ILLEGAL", ChannelPermanentError, "isv.SMS_TEMPLATE_ILLEGAL"),
    ],
)
def test_provider_errors_are_mapped(channel, gateway_settings, sms_message, fault, error_class, code):
    gateway_settings.message_fault("sms", fault)

    with pytest.raises(error_class) as error:
        channel.send(sms_message())

    assert type(error.value) is error_class
    assert error.value.code == code


def test_unknown_template_code_is_refused_permanently(channel, gateway_settings, sms_message):
    with pytest.raises(ChannelPermanentError) as error:
        channel.send(sms_message(provider_template_id="not-a-template"))

    assert error.value.code == "isv.SMS_TEMPLATE_ILLEGAL"


def test_unreachable_provider_is_temporary(channel, gateway_settings, sms_message, settings):
    from .smtp import free_port

    settings.SMS = {**settings.SMS, "URL": f"https://127.0.0.1:{free_port()}/sms/"}

    with pytest.raises(ChannelTemporaryError) as error:
        channel.send(sms_message())

    assert error.value.code == "network"


def test_missing_configuration_is_a_temporary_error_naming_the_setting(channel, sms_message, settings):
    settings.SMS = {"URL": "https://dysmsapi.aliyuncs.com/", "ACCESS_KEY_ID": "", "ACCESS_KEY_SECRET": ""}

    with pytest.raises(ChannelTemporaryError, match="SMS_ACCESS_KEY_ID"):
        channel.send(sms_message())


def test_the_provider_ca_is_trusted_even_when_requests_ca_bundle_points_elsewhere(
    channel, gateway_settings, sms_message, monkeypatch
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")

    channel.send(sms_message())

    assert len(gateway_settings.messages_received("sms")) == 1


def test_field_over_35_characters_is_a_template_problem(channel):
    problems = channel.check_template(subject="", body="正文", fields={"course": "课" * 36, "name": "李小明"})

    assert problems == ["SMS field 'course' longer than 35 characters"]


def test_text_over_500_characters_is_a_template_problem(channel):
    assert channel.check_template(subject="", body="字" * 501, fields={}) == ["text longer than 500 characters"]


@pytest.mark.parametrize(
    ("phone", "reachable"),
    [("13800138000", True), ("+8613800138000", True), ("23800138000", False), ("1380013800", False), ("", False)],
)
def test_can_reach_needs_a_mainland_mobile_number(channel, phone, reachable):
    assert channel.can_reach(Recipient(None, "某人", phone=phone)) is reachable


def test_sms_channel_is_registered_by_name():
    assert isinstance(channel_for("sms"), SmsChannel)

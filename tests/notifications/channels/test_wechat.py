"""The WeChat channel through wechatpy to the simulator's official-account / mini-program endpoints."""

from __future__ import annotations

import pytest

from notifications.channels.base import ChannelPermanentError, ChannelTemporaryError, Recipient, channel_for
from notifications.channels.wechat import WeChatChannel

from ..helpers import OPENID

TEMPLATE_ID = "tmplRefundApproved0001"
FIELDS = {"character_string1": "RF20261202001", "amount2": "1280.00元", "thing3": "高中数学（秋季班）"}


@pytest.fixture
def channel() -> WeChatChannel:
    return WeChatChannel()


@pytest.fixture
def wechat_message(make_message):
    def make(**overrides):
        return make_message(**{"fields": FIELDS, "provider_template_id": TEMPLATE_ID, **overrides})

    return make


def test_template_message_goes_through_wechatpy_to_the_simulator(channel, gateway_settings, wechat_message):
    msgid = channel.send(wechat_message())

    [received] = gateway_settings.messages_received("wechat_template")
    assert received.payload == {
        "touser": OPENID,
        "template_id": TEMPLATE_ID,
        "url": "https://schoolops.example.com/refunds/42/",
        "data": {key: {"value": value} for key, value in FIELDS.items()},
    }
    assert msgid.isdigit()
    assert gateway_settings.requests_received["cgi-bin/token"] == 1


def test_access_token_is_kept_for_the_next_message(channel, gateway_settings, wechat_message):
    channel.send(wechat_message())
    channel.send(wechat_message())

    assert len(gateway_settings.messages_received("wechat_template")) == 2
    assert gateway_settings.requests_received["cgi-bin/token"] == 1


def test_expired_access_token_is_refreshed_once_and_the_message_sent(channel, gateway_settings, wechat_message):
    channel.send(wechat_message())
    gateway_settings.expire_wechat_tokens()

    channel.send(wechat_message())

    assert len(gateway_settings.messages_received("wechat_template")) == 2
    assert gateway_settings.requests_received["cgi-bin/token"] == 2


def test_token_rejected_again_after_the_refresh_is_a_temporary_error(channel, gateway_settings, wechat_message):
    gateway_settings.message_fault("wechat_template", "42001", times=2)

    with pytest.raises(ChannelTemporaryError) as error:
        channel.send(wechat_message())

    assert error.value.code == "42001"
    assert gateway_settings.requests_received["cgi-bin/token"] == 2  # the first fetch and one refresh


def test_bad_openid_is_a_permanent_error(channel, gateway_settings, wechat_message):
    with pytest.raises(ChannelPermanentError) as error:
        channel.send(wechat_message(recipient=Recipient(7, "李小明", wechat_openid="not-an-openid")))

    assert error.value.code == "40003"


def test_user_who_unfollowed_the_account_is_a_permanent_error(channel, gateway_settings, wechat_message):
    gateway_settings.wechat_unsubscribe(OPENID)

    with pytest.raises(ChannelPermanentError) as error:
        channel.send(wechat_message())

    assert error.value.code == "43004"


def test_unknown_template_id_is_a_permanent_error(channel, gateway_settings, wechat_message):
    with pytest.raises(ChannelPermanentError) as error:
        channel.send(wechat_message(provider_template_id="x"))

    assert error.value.code == "40037"


@pytest.mark.parametrize(("fault", "code"), [("system_error", "-1"), ("throttled", "45009"), ("http_500", "http")])
def test_busy_or_limited_wechat_is_a_temporary_error(channel, gateway_settings, wechat_message, fault, code):
    gateway_settings.message_fault("wechat_template", fault)

    with pytest.raises(ChannelTemporaryError) as error:
        channel.send(wechat_message())

    assert error.value.code == code


def test_wrong_app_secret_is_a_temporary_configuration_error(channel, gateway_settings, wechat_message, settings):
    settings.WECHAT_MP = {**settings.WECHAT_MP, "SECRET": "0" * 32}

    with pytest.raises(ChannelTemporaryError, match="WECHAT_MP") as error:
        channel.send(wechat_message())

    assert error.value.code == "40125"


def test_missing_configuration_is_a_temporary_error_naming_the_setting(channel, wechat_message, settings):
    settings.WECHAT_MP = {"APPID": "", "SECRET": ""}

    with pytest.raises(ChannelTemporaryError, match="WECHAT_MP_APPID"):
        channel.send(wechat_message())


def test_mini_program_mode_sends_a_subscribe_message(channel, gateway_settings, wechat_message, settings):
    settings.WECHAT_MP = {**settings.WECHAT_MP, "MODE": "mini_program", "MINI_PAGE": "pages/refund/detail"}

    channel.send(wechat_message())

    [received] = gateway_settings.messages_received("wechat_subscribe")
    assert received.payload["page"] == "pages/refund/detail?id=42"
    assert received.payload["data"]["thing3"] == {"value": "高中数学（秋季班）"}
    assert gateway_settings.messages_received("wechat_template") == []


def test_message_with_a_field_over_its_limit_is_refused_before_sending(channel, gateway_settings, wechat_message):
    with pytest.raises(ChannelPermanentError) as error:
        channel.send(wechat_message(fields={"thing1": "课" * 21}))

    assert error.value.code == "fields"
    assert gateway_settings.requests_received["cgi-bin/token"] == 0


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("thing1", "课" * 21),
        ("character_string2", "退款单号一二三"),
        ("character_string2", "A" * 33),
        ("phrase3", "审批已经通过"),
        ("phrase3", "ok"),
        ("amount4", "一千元"),
        ("amount4", "12.345"),
        ("date5", "12月2日"),
        ("time6", "下午三点"),
    ],
)
def test_field_breaking_wechat_limits_is_a_template_problem(channel, key, value):
    problems = channel.check_template(subject="", body="", fields={key: value})

    assert len(problems) == 1
    assert repr(key) in problems[0]


def test_fields_within_wechat_limits_are_no_problem(channel):
    fields = {
        "thing1": "课" * 20,
        "character_string2": "RF-2026-12-02-0001",
        "phrase3": "已批准",
        "amount4": "1280.00元",
        "date5": "2026年12月2日",
        "time6": "2026-12-02 15:01",
        "first": "您好",
    }

    assert channel.check_template(subject="", body="", fields=fields) == []


def test_recipient_without_an_openid_cannot_be_reached(channel):
    assert channel.can_reach(Recipient(None, "某人", phone="13800138000")) is False


def test_recipient_with_an_openid_can_be_reached(channel, recipient):
    assert channel.can_reach(recipient) is True


def test_wechat_channel_is_registered_by_name():
    assert isinstance(channel_for("wechat"), WeChatChannel)


def test_access_tokens_are_kept_in_redis_when_redis_is_configured(settings):
    from wechatpy.session.redisstorage import RedisStorage

    from notifications.channels.wechat import token_storage

    settings.REDIS_URL = "redis://127.0.0.1:6379/0"  # no connection is made until a token is read

    assert isinstance(token_storage(), RedisStorage)


def test_access_tokens_are_kept_in_process_memory_without_redis(settings):
    from wechatpy.session.memorystorage import MemoryStorage

    from notifications.channels.wechat import token_storage

    settings.REDIS_URL = ""

    assert isinstance(token_storage(), MemoryStorage)
    assert token_storage() is token_storage()  # shared by every send in the process

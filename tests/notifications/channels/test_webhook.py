"""The staff robot channel against the simulator's DingTalk (signature checked), WeCom and Slack-style robots."""

from __future__ import annotations

import pytest

from notifications.channels.base import (
    ChannelPermanentError,
    ChannelTemporaryError,
    Recipient,
    WebhookTarget,
    channel_for,
)
from notifications.channels.webhook import WebhookChannel, dingtalk_signed_url

from .smtp import free_port


@pytest.fixture
def channel() -> WebhookChannel:
    return WebhookChannel()


@pytest.fixture
def robot_message(make_message, gateway_settings):
    """A message for the simulator's robot of ``kind`` (``target`` overrides the whole target)."""

    def make(kind: str, *, target: WebhookTarget | None = None, **overrides):
        target = target or WebhookTarget(**gateway_settings.robot_target(kind))
        return make_message(recipient=Recipient(None, "退款审批群", webhook=target), **overrides)

    return make


def test_dingtalk_message_is_signed_and_accepted(channel, gateway_settings, robot_message):
    channel.send(robot_message("dingtalk"))

    [received] = gateway_settings.messages_received("dingtalk")
    markdown = received.payload["markdown"]
    assert received.payload["msgtype"] == "markdown"
    assert markdown["title"] == "退款申请已批准：《高中数学》"
    assert "款项将原路退回" in markdown["text"]
    assert "https://schoolops.example.com/refunds/42/" in markdown["text"]


def test_dingtalk_with_the_wrong_secret_is_a_permanent_error(channel, gateway_settings, robot_message):
    target = WebhookTarget(**{**gateway_settings.robot_target("dingtalk"), "secret": "SECwrong"})

    with pytest.raises(ChannelPermanentError) as error:
        channel.send(robot_message("dingtalk", target=target))

    assert error.value.code == "310000"
    assert gateway_settings.messages_received("dingtalk") == []


def test_dingtalk_signature_is_url_encoded_base64_of_hmac_sha256():
    # Worked by hand: base64(HMAC-SHA256("SECabc", "1700000000000\nSECabc")), then URL-encoded.
    import base64
    import hashlib
    import hmac
    from urllib.parse import parse_qs, urlsplit

    url = dingtalk_signed_url(
        "https://oapi.dingtalk.com/robot/send?access_token=t", "SECabc", timestamp_ms=1700000000000
    )

    query = parse_qs(urlsplit(url).query)
    expected = base64.b64encode(hmac.new(b"SECabc", b"1700000000000\nSECabc", hashlib.sha256).digest()).decode()
    assert query == {"access_token": ["t"], "timestamp": ["1700000000000"], "sign": [expected]}
    assert "+" not in url.split("sign=")[1] and "/" not in url.split("sign=")[1]


def test_wecom_markdown_is_accepted(channel, gateway_settings, robot_message):
    channel.send(robot_message("wecom"))

    [received] = gateway_settings.messages_received("wecom")
    assert received.payload["msgtype"] == "markdown"
    assert received.payload["markdown"]["content"].startswith("#### 退款申请已批准：《高中数学》")


def test_wecom_text_over_4096_bytes_is_cut_to_fit(channel, gateway_settings, robot_message):
    channel.send(robot_message("wecom", body="退" * 3000))

    content = gateway_settings.messages_received("wecom")[0].payload["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096
    assert content.endswith("…")


def test_slack_style_text_is_accepted(channel, gateway_settings, robot_message):
    channel.send(robot_message("slack"))

    [received] = gateway_settings.messages_received("slack")
    assert received.payload["text"].startswith("*退款申请已批准：《高中数学》*\n")
    assert received.payload["text"].endswith("<https://schoolops.example.com/refunds/42/>")


@pytest.mark.parametrize(
    ("kind", "fault", "code"),
    [
        ("dingtalk", "throttled", "130101"),
        ("dingtalk", "http_500", "500"),
        ("wecom", "throttled", "45009"),
        ("wecom", "system_error", "-1"),
        ("slack", "throttled", "429"),
        ("slack", "http_500", "500"),
    ],
)
def test_busy_or_limited_robot_is_a_temporary_error(channel, gateway_settings, robot_message, kind, fault, code):
    gateway_settings.message_fault(kind, fault)

    with pytest.raises(ChannelTemporaryError) as error:
        channel.send(robot_message(kind))

    assert error.value.code == code


def test_wecom_robot_with_no_key_is_a_permanent_error(channel, gateway_settings, robot_message):
    target = WebhookTarget("wecom", gateway_settings.url + "robot/wecom/send")

    with pytest.raises(ChannelPermanentError) as error:
        channel.send(robot_message("wecom", target=target))

    assert error.value.code == "93000"


def test_webhook_answering_404_is_a_permanent_error(channel, gateway_settings, robot_message):
    target = WebhookTarget("slack", gateway_settings.url + "no/such/hook")

    with pytest.raises(ChannelPermanentError) as error:
        channel.send(robot_message("slack", target=target))

    assert error.value.code == "404"


def test_unreachable_robot_is_a_temporary_error(channel, gateway_settings, robot_message):
    target = WebhookTarget("slack", f"https://127.0.0.1:{free_port()}/hook")

    with pytest.raises(ChannelTemporaryError) as error:
        channel.send(robot_message("slack", target=target))

    assert error.value.code == "network"


@pytest.mark.parametrize(
    ("webhook", "reachable"),
    [
        (WebhookTarget("dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=t", "SECx"), True),
        (WebhookTarget("wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"), True),
        (WebhookTarget("slack", "https://hooks.slack.com/services/T/B/x"), True),
        (WebhookTarget("teams", "https://example.com/hook"), False),
        (WebhookTarget("slack", ""), False),
        (None, False),
    ],
)
def test_can_reach_needs_a_webhook_target_of_a_known_kind(channel, webhook, reachable):
    assert channel.can_reach(Recipient(None, "群", webhook=webhook)) is reachable


def test_webhook_channel_is_registered_by_name():
    assert isinstance(channel_for("webhook"), WebhookChannel)

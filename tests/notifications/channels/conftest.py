"""Fixtures: the gateway simulator (WeChat messages, SMS provider, robots), a real SMTP server,
and a message factory."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest
from django.core.cache import cache

from gatewaysim.testing import gateway_settings, gateway_sim  # noqa: F401
from notifications.channels import wechat
from notifications.channels.base import OutgoingMessage, Recipient

from ..helpers import OPENID
from .smtp import smtp_server  # noqa: F401

_delivery_ids = itertools.count(900_001)


@pytest.fixture(autouse=True)
def _fresh_channel_state() -> Iterator[None]:
    """No access token or SMS nonce generation carried over from another test."""
    wechat.forget_access_tokens()
    cache.clear()
    yield
    wechat.forget_access_tokens()


@pytest.fixture
def recipient() -> Recipient:
    return Recipient(user_id=7, name="李小明", email="xiaoming@example.com", phone="13800138000", wechat_openid=OPENID)


@pytest.fixture
def make_message(recipient: Recipient) -> Callable[..., OutgoingMessage]:
    """A rendered message with a fresh delivery id; keyword arguments override its fields."""

    def make(**overrides: object) -> OutgoingMessage:
        values: dict = {
            "delivery_id": next(_delivery_ids),
            "channel": "test",
            "event": "refund.approved",
            "recipient": recipient,
            "subject": "退款申请已批准：《高中数学》",
            "body": "您好，李小明：\n您的退款申请（¥1,280.00）已批准，款项将原路退回。",
            "fields": {},
            "provider_template_id": "",
            "link": "https://schoolops.example.com/refunds/42/",
            "refund_request_id": 42,
        }
        values.update(overrides)
        return OutgoingMessage(**values)

    return make

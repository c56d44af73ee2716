"""Notification tests: recording doubles for the external channels (the process boundary).

The channels' own tests (``channels/``) talk to the real things instead: the gateway simulator
and an SMTP server on loopback.
"""

from __future__ import annotations

import pytest
from django.utils import translation

from notifications.channels import base
from notifications.channels.base import Channel, OutgoingMessage


class RecordingChannel(Channel):
    """Stands in for an external medium: records what it was given; can fail on demand. It keeps
    the real channel's retry policy and whether it carries files, which belong to the channel,
    not to its medium."""

    sent: list[OutgoingMessage]
    failures: list[Exception]

    def can_reach(self, recipient) -> bool:
        return bool(self.address(recipient))

    def address(self, recipient) -> str:
        return {"email": recipient.email, "sms": recipient.phone, "wechat": recipient.wechat_openid}.get(self.name, "")

    def send(self, message: OutgoingMessage) -> str:
        if type(self).failures:
            raise type(self).failures.pop(0)
        type(self).sent.append(message)
        return f"{self.name}-{message.delivery_id}"


def _double(real: type[Channel]) -> type[RecordingChannel]:
    return type(
        f"Recording{real.name.title()}",
        (RecordingChannel,),
        {
            "name": real.name,
            "retry": real.retry,
            "carries_attachments": real.carries_attachments,
            "sent": [],
            "failures": [],
        },
    )


@pytest.fixture
def channels():
    """email, sms and wechat replaced by recording doubles for the test; the registry is put back after."""
    base.channel_names()  # import the real modules first, so they cannot replace the doubles later
    saved = dict(base._CHANNELS)
    doubles = {name: _double(saved[name]) for name in ("email", "sms", "wechat")}
    base._CHANNELS.update(doubles)
    yield doubles
    base._CHANNELS.clear()
    base._CHANNELS.update(saved)


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield

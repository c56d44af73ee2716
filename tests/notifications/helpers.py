"""What the notification tests share besides fixtures: the outbox at a glance, channel errors on
demand, a WeChat openid, fresh broker connections after a test points Celery elsewhere, and inbox
messages as the services write them."""

from __future__ import annotations

import datetime

from django.utils import timezone

from notifications.channels.base import ChannelPermanentError, ChannelTemporaryError
from notifications.models import InboxMessage, Notification
from notifications.services import notifications_broker_reset
from schoolops.celery import app as celery_app

OPENID = "oAbCdEfGhIjKlMnOpQrStUvWx123"  # 28 characters, like WeChat's


def rows(**filters) -> list[tuple[str, str, str]]:
    """(event, channel, recipient name) of the outbox rows, sorted."""
    return sorted(Notification.objects.filter(**filters).values_list("event", "channel", "recipient_name"))


def temporary(message: str = "provider busy") -> ChannelTemporaryError:
    return ChannelTemporaryError(message, code="busy")


def permanent(message: str = "number does not exist") -> ChannelPermanentError:
    return ChannelPermanentError(message, code="bad-number")


def fresh_broker_connections() -> None:
    """Forget the broker connections and an earlier broker failure (after changing the broker URL)."""
    notifications_broker_reset()
    celery_app.close()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def make_message(recipient, *, subject: str = "退费申请已提交", minutes_ago: int = 0, **fields) -> InboxMessage:
    """A message as the notification services will write it; ``created_at`` set after the insert."""
    message = InboxMessage.objects.create(
        recipient=recipient, subject=subject, body=fields.pop("body", "正文"), **fields
    )
    if minutes_ago:
        created = timezone.now() - datetime.timedelta(minutes=minutes_ago)
        InboxMessage.objects.filter(pk=message.pk).update(created_at=created)
        message.created_at = created
    return message

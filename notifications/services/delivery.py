"""Delivery: a worker sends one outbox row through its channel and records what happened.

``notification_deliver`` is what the worker's task (``notifications.tasks.deliver_notification``)
calls with a row's primary key. It follows the rule for every external call: claim the row in a
short transaction, call the channel outside any transaction, record the result in a new one.

- Two workers never send the same row at once: the claim takes the row lock with ``skip_locked``
  and marks it sending under a lease (``LEASE``); a row another worker holds, or one already
  sent, failed or not yet due, is skipped. A row left sending past its lease (its worker died)
  may be claimed again: the channel is told the same ``delivery_id``, its idempotency key.
- The result is written only if the row is still this attempt's claim (status and attempt
  number), so a late answer cannot overwrite a newer one.
- The channel decides what a failure means (``Channel.is_transient``) and how it is retried
  (``Channel.retry``: attempts and backoff). A transient failure puts the row back in the queue
  with its next attempt time, which the task also waits before retrying; after the channel's
  last attempt, or on a permanent error, the row fails and keeps the error for the admin.
"""

from __future__ import annotations

import datetime
import logging

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..channels.base import Attachment, ChannelError, OutgoingMessage, Recipient, WebhookTarget, channel_for
from ..models import Notification, NotificationStatus

logger = logging.getLogger(__name__)

LEASE = datetime.timedelta(minutes=5)


class Outcome:
    """What ``notification_deliver`` did with a row (the task's return value)."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    SKIPPED = "skipped"


def message_for(notification: Notification) -> OutgoingMessage:
    """The channel's view of one outbox row."""
    webhook = WebhookTarget(**notification.webhook) if notification.webhook else None
    user = notification.recipient
    recipient = Recipient(
        user_id=notification.recipient_id,
        name=notification.recipient_name,
        email=notification.address if notification.channel == "email" else (user.email if user else ""),
        phone=notification.address if notification.channel == "sms" else (user.phone or "" if user else ""),
        wechat_openid=notification.address if notification.channel == "wechat" else "",
        webhook=webhook,
        language=notification.language,
    )
    return OutgoingMessage(
        delivery_id=notification.pk,
        channel=notification.channel,
        event=notification.event,
        recipient=recipient,
        subject=notification.subject,
        body=notification.body,
        fields=dict(notification.fields or {}),
        provider_template_id=notification.provider_template_id,
        link=notification.link,
        refund_request_id=notification.refund_request_id,
        attachments=tuple(Attachment(**item) for item in notification.attachments or ()),
    )


def notification_deliver(*, notification_id: int, now: datetime.datetime | None = None) -> tuple[str, float | None]:
    """Send one outbox row: claim it under a row lock, call its channel outside any transaction,
    record the result. Returns the outcome and, for a retry, the seconds to wait.

    A row another worker holds, or one already sent, failed or not yet due, is skipped: two
    workers never send the same row at once.
    """
    now = now or timezone.now()
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("recipient")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None:
            return Outcome.SKIPPED, None
        due = notification.status == NotificationStatus.QUEUED and (
            notification.next_attempt_at is None or notification.next_attempt_at <= now
        )
        stale = notification.status == NotificationStatus.SENDING and (
            notification.lease_until is None or notification.lease_until <= now
        )
        if not (due or stale):
            return Outcome.SKIPPED, None
        notification.status = NotificationStatus.SENDING
        notification.attempts += 1
        notification.lease_until = now + LEASE
        notification.save(update_fields=["status", "attempts", "lease_until"])
    attempt = notification.attempts
    claimed = Notification.objects.filter(pk=notification.pk, status=NotificationStatus.SENDING, attempts=attempt)
    try:
        channel = channel_for(notification.channel)
    except KeyError as exc:  # a channel not installed here: no attempt can help
        claimed.update(status=NotificationStatus.FAILED, lease_until=None, last_error=str(exc.args[0]))
        return Outcome.FAILED, None
    try:
        provider_id = channel.send(message_for(notification))
    except Exception as exc:  # the channel says which errors are worth another attempt
        error = _error(exc)
        if not isinstance(exc, ChannelError):
            logger.exception("Notification %s: unexpected error from channel %s", notification.pk, notification.channel)
        if not channel.is_transient(exc):
            claimed.update(status=NotificationStatus.FAILED, lease_until=None, last_error=error)
            logger.warning("Notification %s failed for good: %s", notification.pk, error)
            return Outcome.FAILED, None
        if attempt >= channel.retry.attempts:
            claimed.update(
                status=NotificationStatus.FAILED,
                lease_until=None,
                last_error=_("Gave up after %(n)d attempts: %(error)s") % {"n": attempt, "error": error},
            )
            return Outcome.FAILED, None
        wait = channel.retry.wait(attempt)
        claimed.update(
            status=NotificationStatus.QUEUED,
            lease_until=None,
            last_error=error,
            next_attempt_at=timezone.now() + datetime.timedelta(seconds=wait),
        )
        return Outcome.RETRY, wait
    claimed.update(
        status=NotificationStatus.SENT,
        lease_until=None,
        provider_id=(provider_id or "")[:128],
        sent_at=timezone.now(),
    )
    return Outcome.SENT, None


def _error(exc: Exception) -> str:
    """The error as kept on the row: "[code] message" when the channel gave a code."""
    message = str(getattr(exc, "message", "") or "") or str(exc) or type(exc).__name__
    code = str(getattr(exc, "code", "") or "")
    return f"[{code}] {message}" if code else message

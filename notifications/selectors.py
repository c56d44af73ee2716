"""Reads of the notifications for pages: what a student was told about one of her requests."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Q

from refunds.models import NotifyChannel, RefundRequest
from schoolops.models import User

from .models import InboxMessage, Notification, NotificationStatus

STUDENT_CHANNELS = ("inbox", "email", "sms", "wechat")


@dataclass(frozen=True)
class SentMessage:
    """One message as the student received it, on one channel."""

    channel: str
    channel_label: str
    subject: str
    body: str
    at: datetime.datetime
    url: str = ""
    unread: bool = False


def messages_for_student_request(*, user: User, refund_request: RefundRequest) -> list[SentMessage]:
    """The rendered copies sent to ``user`` about ``refund_request``, oldest first (two queries).

    Outbox rows on her channels that did not fail for good, plus inbox messages written before
    the outbox (no delivery row).
    """
    labels = dict(NotifyChannel.choices)
    rows = (
        Notification.objects.filter(recipient=user, refund_request=refund_request, channel__in=STUDENT_CHANNELS)
        .exclude(status=NotificationStatus.FAILED)
        .select_related("inbox_message")
        .order_by("created_at", "pk")
    )
    messages = []
    for row in rows:
        inbox = getattr(row, "inbox_message", None) if row.channel == "inbox" else None
        messages.append(
            SentMessage(
                channel=row.channel,
                channel_label=row.channel_label,
                subject=row.subject or row.body.split("\n", 1)[0][:60],
                body=row.body,
                at=row.sent_at or row.created_at,
                url=inbox.get_absolute_url() if inbox else "",
                unread=bool(inbox and inbox.read_at is None),
            )
        )
    for inbox in InboxMessage.objects.filter(
        Q(delivery__isnull=True), recipient=user, refund_request=refund_request
    ).order_by("created_at", "pk"):
        messages.append(
            SentMessage(
                channel="inbox",
                channel_label=str(labels["inbox"]),
                subject=inbox.subject,
                body=inbox.body,
                at=inbox.created_at,
                url=inbox.get_absolute_url(),
                unread=inbox.read_at is None,
            )
        )
    messages.sort(key=lambda m: m.at)
    return messages

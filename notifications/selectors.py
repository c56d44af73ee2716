"""Reads of the notifications for pages: what a student was told about one of her requests."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Q
from django.utils.translation import gettext as _

from refunds.models import NotifyChannel, RefundRequest
from schoolops.models import User

from .models import InboxMessage, Notification, NotificationStatus

STUDENT_CHANNELS = ("inbox", "email", "sms", "wechat")


# --- One entry per event ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelDelivery:
    """How one message of an event went out on one channel, in the student's words."""

    channel: str
    label: str
    state: str  # "sent", "queued" (still on its way) or "failed"
    state_label: str


@dataclass(frozen=True)
class MessageGroup:
    """One event she was told about: its fullest text (inbox, else e-mail, WeChat, SMS) and every
    channel it went out on with its delivery state."""

    subject: str
    body: str
    at: datetime.datetime
    channels: tuple[ChannelDelivery, ...]
    url: str = ""
    unread: bool = False


# The channel whose copy is shown first: the fullest text wins.
_FULLEST = ("inbox", "email", "wechat", "sms")
# The order the channels are listed in (站内信 · 短信 · 邮件 · 微信).
_LISTED = ("inbox", "sms", "email", "wechat")


def _delivery_state(status: str) -> tuple[str, str]:
    if status == NotificationStatus.SENT:
        return "sent", str(_("delivered"))
    if status == NotificationStatus.FAILED:
        return "failed", str(_("not delivered"))
    return "queued", str(_("on its way"))


def message_groups_for_student_request(*, user: User, refund_request: RefundRequest) -> list[MessageGroup]:
    """What ``user`` was told about ``refund_request``, one entry per event (oldest first), each
    with the channels it went to and their delivery states (two queries).

    A message that failed on one channel still shows there as not delivered; an event whose every
    copy failed is left out, as she never received it. Inbox messages written before the outbox
    (no delivery row) are an entry each.
    """
    labels = dict(NotifyChannel.choices)
    rows = (
        Notification.objects.filter(recipient=user, refund_request=refund_request, channel__in=STUDENT_CHANNELS)
        .select_related("inbox_message")
        .order_by("created_at", "pk")
    )
    by_event: dict[str, list[Notification]] = {}
    for row in rows:
        by_event.setdefault(row.dedupe_key, []).append(row)
    groups = []
    for copies in by_event.values():
        if all(row.status == NotificationStatus.FAILED for row in copies):
            continue
        delivered = [row for row in copies if row.status != NotificationStatus.FAILED]
        shown = min(delivered, key=lambda row: _FULLEST.index(row.channel))
        inbox = next((getattr(row, "inbox_message", None) for row in copies if row.channel == "inbox"), None)
        channels = []
        for row in sorted(copies, key=lambda row: _LISTED.index(row.channel)):
            state, state_label = _delivery_state(row.status)
            channels.append(ChannelDelivery(row.channel, row.channel_label, state, state_label))
        groups.append(
            MessageGroup(
                subject=shown.subject or shown.body.split("\n", 1)[0][:60],
                body=shown.body,
                at=min(row.sent_at or row.created_at for row in delivered),
                channels=tuple(channels),
                url=inbox.get_absolute_url() if inbox else "",
                unread=bool(inbox and inbox.read_at is None),
            )
        )
    for message in InboxMessage.objects.filter(
        Q(delivery__isnull=True), recipient=user, refund_request=refund_request
    ).order_by("created_at", "pk"):
        groups.append(
            MessageGroup(
                subject=message.subject,
                body=message.body,
                at=message.created_at,
                channels=(ChannelDelivery("inbox", str(labels["inbox"]), "sent", str(_("delivered"))),),
                url=message.get_absolute_url(),
                unread=message.read_at is None,
            )
        )
    groups.sort(key=lambda group: group.at)
    return groups

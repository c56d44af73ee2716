"""The notification services: who is told and in which words, the outbox, delivery.

- ``recipients``: who is told of a refund event, on which channels, with which placeholder values
  (pure reads).
- ``outbox``: the rows written with the event, one per (event, channel, recipient), and their
  hand-over to the workers after the commit; ``notify`` for any other registered event; the
  beat job for what stayed queued; the admin's resend.
- ``delivery``: a batch of rows sent by a worker through their channels, retried as each channel says.
- ``inbox``: what the student does with her inbox (all read).

Callers import from here (``from notifications.services import notify``); the modules are the
place to read.
"""

from ..channels.base import Attachment
from .delivery import Outcome, message_for, notification_deliver, notifications_deliver
from .inbox import inbox_mark_all_read
from .outbox import (
    notifications_broker_reset,
    notifications_drain,
    notifications_enqueue,
    notifications_for_refund_event,
    notifications_resend,
    notifications_send_pending,
    notify,
    refund_event_written,
)
from .recipients import recipient_for_user, school_contact, site_url

__all__ = [
    "Attachment",
    "inbox_mark_all_read",
    "Outcome",
    "message_for",
    "notification_deliver",
    "notifications_deliver",
    "notifications_broker_reset",
    "notifications_drain",
    "notifications_enqueue",
    "notifications_for_refund_event",
    "notifications_resend",
    "notifications_send_pending",
    "notify",
    "recipient_for_user",
    "refund_event_written",
    "school_contact",
    "site_url",
]

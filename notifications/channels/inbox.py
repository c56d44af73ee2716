"""The in-app inbox (站内信): a row in the recipient's inbox, written once per delivery."""

from __future__ import annotations

from collections.abc import Sequence

from ..models import InboxMessage
from .base import Channel, ChannelPermanentError, OutgoingMessage, Recipient, RetryPolicy, register_channel


@register_channel
class InboxChannel(Channel):
    name = "inbox"
    max_subject_length = 200
    # A row in our own database: only a hiccup of it fails, soon over (waits of 5 s doubling, 75 s in all).
    retry = RetryPolicy(attempts=5, first_wait=5, max_wait=300)
    sends_in_database = True

    def can_reach(self, recipient: Recipient) -> bool:
        return recipient.user_id is not None

    def send(self, message: OutgoingMessage) -> str:
        if message.recipient.user_id is None:
            raise ChannelPermanentError("An inbox message needs a user.", code="no_user")
        inbox_message, _created = InboxMessage.objects.get_or_create(
            delivery_id=message.delivery_id,
            defaults={
                "recipient_id": message.recipient.user_id,
                "subject": message.subject[:200],
                "body": message.body,
                "refund_request_id": message.refund_request_id,
            },
        )
        return str(inbox_message.pk)

    def send_many(self, messages: Sequence[OutgoingMessage]) -> list[str | Exception]:
        """Every message of the batch in one insert (one row per delivery: a delivery written
        before keeps its row), then their ids in one read."""
        answers: dict[int, str | Exception] = {}
        rows = []
        for message in messages:
            if message.recipient.user_id is None:
                answers[message.delivery_id] = ChannelPermanentError("An inbox message needs a user.", code="no_user")
                continue
            rows.append(
                InboxMessage(
                    delivery_id=message.delivery_id,
                    recipient_id=message.recipient.user_id,
                    subject=message.subject[:200],
                    body=message.body,
                    refund_request_id=message.refund_request_id,
                )
            )
        if rows:
            InboxMessage.objects.bulk_create(rows, ignore_conflicts=True)
            written = InboxMessage.objects.filter(delivery_id__in=[row.delivery_id for row in rows])
            answers.update({delivery_id: str(pk) for delivery_id, pk in written.values_list("delivery_id", "pk")})
        return [answers[message.delivery_id] for message in messages]

"""A call task (客户经理电话确认) for premium courses: the account manager phones the student.

The account manager of an order is its homeroom teacher (班主任), who owns the student's
service; the task lands in their list in the admin. Written once per delivery.
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from students.models import Enrollment

from ..models import CallTask
from .base import Channel, ChannelPermanentError, OutgoingMessage, Recipient, RetryPolicy, register_channel

CALL_WITHIN = datetime.timedelta(hours=24)


@register_channel
class CallTaskChannel(Channel):
    name = "call_task"
    # A row in our own database: only a hiccup of it fails, soon over (waits of 5 s doubling, 75 s in all).
    retry = RetryPolicy(attempts=5, first_wait=5, max_wait=300)

    def can_reach(self, recipient: Recipient) -> bool:
        return bool(recipient.phone)

    def send(self, message: OutgoingMessage) -> str:
        if message.refund_request_id is None:
            raise ChannelPermanentError("A call task belongs to a refund request.", code="no_request")
        enrollment = (
            Enrollment.objects.filter(order__refund_requests=message.refund_request_id)
            .select_related("homeroom_teacher")
            .first()
        )
        if enrollment is None or enrollment.homeroom_teacher is None:
            raise ChannelPermanentError("The order has no homeroom teacher to call the student.", code="no_manager")
        note = f"{message.recipient.name} {message.recipient.phone}\n\n{message.body}"
        task, _created = CallTask.objects.get_or_create(
            notification_id=message.delivery_id,
            defaults={
                "assignee": enrollment.homeroom_teacher,
                "refund_request_id": message.refund_request_id,
                "subject": message.subject[:300],
                "note": note,
                "due_at": timezone.now() + CALL_WITHIN,
            },
        )
        return str(task.pk)

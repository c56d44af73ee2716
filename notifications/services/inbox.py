"""The student's inbox (站内信): what she does with her messages."""

from __future__ import annotations

import datetime

from django.utils import timezone

from schoolops.models import User

from ..models import InboxMessage


def inbox_mark_all_read(*, user: User, at: datetime.datetime | None = None) -> int:
    """全部已读: every unread message of hers read now (one update); how many there were."""
    return InboxMessage.objects.filter(recipient=user, read_at__isnull=True).update(read_at=at or timezone.now())

from __future__ import annotations

from notifications.models import Notification


def rows(**filters) -> list[tuple[str, str, str]]:
    """(event, channel, recipient name) of the outbox rows, sorted."""
    return sorted(Notification.objects.filter(**filters).values_list("event", "channel", "recipient_name"))

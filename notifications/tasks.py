"""Notification workers: thin wrappers around ``notifications.services``.

``deliver_notification`` is acknowledged only after it ran and retries with exponential backoff
and jitter per channel (``services.RETRY_POLICY``); the row's ``next_attempt_at`` records the
same wait, so the beat job ``send_pending_notifications`` picks it up if the retry is lost.
"""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None, ignore_result=True)
def deliver_notification(self, notification_id: int) -> str:
    outcome, wait = services.notification_deliver(notification_id=notification_id)
    if outcome == services.Outcome.RETRY and wait is not None and not self.request.is_eager:
        # In-process runs (the no-services default) do not wait: the beat job sends it later.
        raise self.retry(countdown=wait)
    return outcome


@shared_task(ignore_result=True)
def send_pending_notifications() -> int:
    """Beat: send what is still queued (the broker was down at commit time, a retry was lost)."""
    return services.notifications_send_pending()

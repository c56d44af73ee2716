"""Notification workers: thin wrappers that take primary keys and call ``notifications.services``.

``deliver_notification`` is acknowledged only after it ran. On a transient failure it waits what
the row's channel asks for (``Channel.retry``: exponential backoff with jitter) and runs again;
the row's ``next_attempt_at`` records the same wait, so the beat job
``send_pending_notifications`` picks it up if the retry is lost. The services hand rows to this
task by its name (``services.outbox.DELIVER_TASK``) and never import this module.
"""

from __future__ import annotations

from celery import Task, shared_task

from .services import Outcome, notification_deliver, notifications_send_pending


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None, ignore_result=True)
def deliver_notification(self: Task, notification_id: int) -> str:
    outcome, wait = notification_deliver(notification_id=notification_id)
    if outcome == Outcome.RETRY and wait is not None and not self.request.is_eager:
        # In-process runs (the no-services default) do not wait: the beat job sends it later.
        raise self.retry(countdown=wait)
    return outcome


@shared_task(ignore_result=True)
def send_pending_notifications() -> int:
    """Beat: send what is still queued (the broker was down at commit time, a retry was lost)."""
    return notifications_send_pending()

"""Notification workers: thin wrappers that take primary keys and call ``notifications.services``.

``deliver_notifications`` sends a batch (the rows of a transaction's events, or what the beat job
found waiting) and is acknowledged only after it ran; with ``drain`` it is the drainer, which goes
on to send every row due, in large batches, while commits find it running and hand nothing over.
Rows that failed for a while wait what their channel asks for (``Channel.retry``: exponential
backoff with jitter) and are sent again by a new task queued with that wait; the row's
``next_attempt_at`` records the same wait, so the beat job
``send_pending_notifications`` picks it up if the retry is lost. The services hand rows to this
task by its name (``services.outbox.DELIVER_TASK``) and never import this module.
``deliver_notification`` (one row) stays for messages queued before the batches.
"""

from __future__ import annotations

from celery import Task, shared_task

from .services import (
    Outcome,
    notification_deliver,
    notifications_deliver,
    notifications_drain,
    notifications_send_pending,
)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_notifications(self: Task, notification_ids: list[int], drain: bool = False) -> dict[str, int]:
    if drain:  # the drainer: these rows, then every row due, in batches
        results, more = notifications_drain(ids=notification_ids)
        if more:
            self.apply_async(args=([],), kwargs={"drain": True})
    else:
        results = notifications_deliver(ids=notification_ids)
    retries: dict[float, list[int]] = {}
    for pk, (outcome, wait) in results.items():
        if outcome == Outcome.RETRY and wait is not None:
            retries.setdefault(round(wait), []).append(pk)
    if not self.request.is_eager:
        # In-process runs (the no-services default) do not wait: the beat job sends them later.
        for wait, ids in retries.items():
            self.apply_async(args=(ids,), countdown=wait)
    counts: dict[str, int] = {}
    for outcome, _wait in results.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


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

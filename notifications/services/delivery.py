"""Delivery: a worker sends a batch of outbox rows through their channels and records what happened.

``notifications_deliver`` is what the worker's task (``notifications.tasks.deliver_notifications``)
calls with the rows' primary keys (an event's rows come as one batch). It follows the rule for
every external call: claim the rows in a short transaction, call the channels outside any
transaction, record the results in a new one.

- Two workers never send the same row at once: the claim takes the row locks with ``skip_locked``
  and marks them sending under a lease (``LEASE``); a row another worker holds, or one already
  sent, failed or not yet due, is skipped. A row left sending past its lease (its worker died)
  may be claimed again: the channel is told the same ``delivery_id``, its idempotency key.
- A result is written only if the row is still this attempt's claim (status and attempt
  number), so a late answer cannot overwrite a newer one.
- The channel decides what a failure means (``Channel.is_transient``) and how it is retried
  (``Channel.retry``: attempts and backoff). A transient failure puts the row back in the queue
  with its next attempt time, which the task also waits before sending it again; after the
  channel's last attempt, or on a permanent error, the row fails and keeps the error for the admin.
- A batch costs a few queries whatever its size: the claim (one read, one update), the inbox's
  rows (one insert, one read), one update per result; e-mails share one SMTP connection.
"""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Case, CharField, F, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from schoolops.db import commit_without_waiting_for_disk

from ..channels.base import (
    Attachment,
    Channel,
    ChannelError,
    OutgoingMessage,
    Recipient,
    WebhookTarget,
    channel_for,
)
from ..models import Notification, NotificationStatus

logger = logging.getLogger(__name__)

LEASE = datetime.timedelta(minutes=5)


class Outcome:
    """What ``notifications_deliver`` did with a row."""

    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"
    SKIPPED = "skipped"


def message_for(notification: Notification) -> OutgoingMessage:
    """The channel's view of one outbox row."""
    webhook = WebhookTarget(**notification.webhook) if notification.webhook else None
    user = notification.recipient
    recipient = Recipient(
        user_id=notification.recipient_id,
        name=notification.recipient_name,
        email=notification.address if notification.channel == "email" else (user.email if user else ""),
        phone=notification.address if notification.channel == "sms" else (user.phone or "" if user else ""),
        wechat_openid=notification.address if notification.channel == "wechat" else "",
        webhook=webhook,
        language=notification.language,
    )
    return OutgoingMessage(
        delivery_id=notification.pk,
        channel=notification.channel,
        event=notification.event,
        recipient=recipient,
        subject=notification.subject,
        body=notification.body,
        fields=dict(notification.fields or {}),
        provider_template_id=notification.provider_template_id,
        link=notification.link,
        refund_request_id=notification.refund_request_id,
        attachments=tuple(Attachment(**item) for item in notification.attachments or ()),
    )


def notification_deliver(*, notification_id: int, now: datetime.datetime | None = None) -> tuple[str, float | None]:
    """Send one outbox row (``notifications_deliver`` with one id): its outcome and, for a retry,
    the seconds to wait."""
    return notifications_deliver(ids=[notification_id], now=now)[notification_id]


def notifications_deliver(
    *, ids: Iterable[int] | None = None, due_limit: int = 0, now: datetime.datetime | None = None
) -> dict[int, tuple[str, float | None]]:
    """Send a batch of outbox rows, ``ids`` (an event's, as the outbox hands them over) or, with
    ``due_limit``, up to that many of the rows due now, oldest first: claim them in one short
    transaction, send each through its channel outside any transaction (one connection per
    channel for the batch), record every result in one transaction. Returns each id's outcome and,
    for a retry, the seconds to wait.

    A row another worker holds, or one already sent, failed or not yet due, is skipped: two
    workers never send the same row at once. A channel that keeps its messages in our own
    database (the inbox) writes them in the recording transaction, so a row is sent exactly when
    its message exists.
    """
    now = now or timezone.now()
    wanted = list(dict.fromkeys(ids)) if ids is not None else None
    results: dict[int, tuple[str, float | None]] = {pk: (Outcome.SKIPPED, None) for pk in wanted or ()}
    rows = _claim(wanted, limit=due_limit, now=now)
    if not rows:
        return results
    by_channel: dict[str, list[Notification]] = defaultdict(list)
    for row in rows:
        by_channel[row.channel].append(row)
    answers: dict[int, str | Exception] = {}
    later: list[tuple[Channel, list[Notification]]] = []
    for name, group in by_channel.items():
        try:
            channel = channel_for(name)
        except KeyError as exc:  # a channel not installed here: no attempt can help
            answers.update({row.pk: _NotInstalled(str(exc.args[0])) for row in group})
            continue
        if channel.sends_in_database:
            later.append((channel, group))
        else:
            answers.update(_send(channel, group))
    with transaction.atomic():
        for channel, group in later:
            answers.update(_send(channel, group))
        sent = [row for row in rows if not isinstance(answers[row.pk], Exception)]
        _record_sent(sent, answers)
        results.update({row.pk: (Outcome.SENT, None) for row in sent})
        for row in rows:
            answer = answers[row.pk]
            if isinstance(answer, Exception):
                results[row.pk] = _record_failure(row, answer)
    return results


class _NotInstalled(Exception):
    pass


def _claim(ids: list[int] | None, *, limit: int, now: datetime.datetime) -> list[Notification]:
    """Take the due rows among ``ids`` (or the first ``limit`` due rows) for this attempt:
    sending, one more attempt, under a lease.

    The claim's commit need not wait for the disk (``synchronous_commit`` off, PostgreSQL): if the
    database lost it in a crash, the row is queued again, exactly as if this worker had died
    after claiming it, and the recording transaction, which waits, makes it durable anyway.
    """
    due = Q(status=NotificationStatus.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    stale = Q(status=NotificationStatus.SENDING) & (Q(lease_until__isnull=True) | Q(lease_until__lte=now))
    with transaction.atomic():
        commit_without_waiting_for_disk()
        claimable = (
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("recipient")
            .filter(due | stale)
            .order_by("pk")
        )
        rows = list(claimable.filter(pk__in=ids) if ids is not None else claimable[:limit])
        if rows:
            lease_until = now + LEASE
            Notification.objects.filter(pk__in=[row.pk for row in rows]).update(
                status=NotificationStatus.SENDING, attempts=F("attempts") + 1, lease_until=lease_until
            )
            for row in rows:
                row.status, row.attempts, row.lease_until = NotificationStatus.SENDING, row.attempts + 1, lease_until
    return rows


def _send(channel: Channel, rows: list[Notification]) -> dict[int, str | Exception]:
    """The channel's answer per row: its id for the message, or what it raised."""
    answers = channel.send_many([message_for(row) for row in rows])
    return {row.pk: answer for row, answer in zip(rows, answers, strict=True)}


def _record_sent(rows: list[Notification], answers: dict[int, str | Exception]) -> None:
    """Mark the sent rows, one update per attempt number (a batch has one, or a few), if each is
    still this attempt's claim (a late answer never overwrites a newer one)."""
    by_attempt: dict[int, list[Notification]] = defaultdict(list)
    for row in rows:
        by_attempt[row.attempts].append(row)
    sent_at = timezone.now()
    for attempt, group in by_attempt.items():
        provider_id = Case(
            *(When(pk=row.pk, then=Value((str(answers[row.pk]) or "")[:128])) for row in group),
            default=Value(""),
            output_field=CharField(),
        )
        Notification.objects.filter(
            pk__in=[row.pk for row in group], status=NotificationStatus.SENDING, attempts=attempt
        ).update(status=NotificationStatus.SENT, lease_until=None, provider_id=provider_id, sent_at=sent_at)


def _record_failure(row: Notification, answer: Exception) -> tuple[str, float | None]:
    """Write one row's failure, if the row is still this attempt's claim: failed for good, or
    queued again for the channel's next attempt."""
    attempt = row.attempts
    claimed = Notification.objects.filter(pk=row.pk, status=NotificationStatus.SENDING, attempts=attempt)
    if isinstance(answer, _NotInstalled):
        claimed.update(status=NotificationStatus.FAILED, lease_until=None, last_error=str(answer))
        return Outcome.FAILED, None
    channel = channel_for(row.channel)
    error = _error(answer)
    if not isinstance(answer, ChannelError):
        logger.error(
            "Notification %s: unexpected error from channel %s",
            row.pk,
            row.channel,
            exc_info=(type(answer), answer, answer.__traceback__),
        )
    if not channel.is_transient(answer):
        claimed.update(status=NotificationStatus.FAILED, lease_until=None, last_error=error)
        logger.warning("Notification %s failed for good: %s", row.pk, error)
        return Outcome.FAILED, None
    if attempt >= channel.retry.attempts:
        claimed.update(
            status=NotificationStatus.FAILED,
            lease_until=None,
            last_error=_("Gave up after %(n)d attempts: %(error)s") % {"n": attempt, "error": error},
        )
        return Outcome.FAILED, None
    wait = channel.retry.wait(attempt)
    claimed.update(
        status=NotificationStatus.QUEUED,
        lease_until=None,
        last_error=error,
        next_attempt_at=timezone.now() + datetime.timedelta(seconds=wait),
    )
    return Outcome.RETRY, wait


def _error(exc: Exception) -> str:
    """The error as kept on the row: "[code] message" when the channel gave a code."""
    message = str(getattr(exc, "message", "") or "") or str(exc) or type(exc).__name__
    code = str(getattr(exc, "code", "") or "")
    return f"[{code}] {message}" if code else message

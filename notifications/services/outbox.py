"""The outbox: one row per (event, channel, recipient), written with the event, handed to the workers.

``notifications_for_refund_event`` runs inside ``refund_event_record``'s transaction (it is a
``refund_event_writer``): it asks ``recipients`` who is told and in which words, drops the
channels a recipient turned off or cannot be reached on, renders the texts and writes the rows.
Nothing leaves the building inside the transaction: after the commit the rows are handed to a
worker together, which sends them (``delivery.notifications_deliver``). ``notify`` does the same for any other
registered event.

The rules that keep a message from being lost or sent twice:

- A row is unique per ``(dedupe_key, channel, recipient_key)``: writing the same event again
  (a retried writer, the catch-up below) writes nothing new.
- The hand-over to the broker happens after the commit and never raises: a broker that is down
  is logged, and this process leaves it alone for ``BROKER_BACKOFF_SECONDS``. The rows stay
  queued; the beat job ``notifications_send_pending`` hands over whatever stayed queued past its
  time or was left sending past its lease (a worker died), and first writes the rows of recent
  refund events whose writer failed (``handled_at`` still empty).
- The workers' task is named, not imported (``DELIVER_TASK``): ``notifications.tasks`` wraps
  these services, so the services never import it. ``NotificationsConfig.ready`` imports the
  tasks so that the name finds the task in this process too (run in place when there is no
  broker).
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation

from refunds.models import RefundEvent, RefundRequest
from schoolops.celery import app as celery_app

from ..channels.base import Attachment, Recipient, channel_for
from ..models import Notification, NotificationPreference, NotificationStatus, NotificationTemplate
from ..rendering import EVENTS, render, used_placeholders
from .delivery import notifications_deliver
from .recipients import Audience, ContextFor, refund_event_audiences, refund_event_context

logger = logging.getLogger(__name__)

OPTIONAL_CHANNELS = ("email", "sms", "wechat")  # what a user may turn off; never the inbox
DELIVER_TASK = "notifications.tasks.deliver_notifications"
DELIVER_BATCH = 100  # rows per task at most (an event's rows go together)


# --- Writing -------------------------------------------------------------------------------------


def notifications_for_refund_event(*, event: RefundEvent) -> int:
    """Write the outbox rows of one refund event (in the caller's transaction); the number written.

    Idempotent: handling the same event again writes nothing new (unique constraint).
    """
    request = (
        RefundRequest.objects.select_related("order__course", "order__enrollment", "student__user", "quote")
        .filter(pk=event.request_id)
        .first()
    )
    key = f"{request.kind if request is not None else 'refund'}.{event.kind}"  # refund.* or exchange.*
    if request is None or key not in EVENTS:
        _mark_handled(event)
        return 0
    written = _write(
        dedupe_key=f"refund-event:{event.pk}",
        event=key,
        audiences=refund_event_audiences(event=event, request=request),
        context_for=refund_event_context(event=event, request=request),
        refund_request=request,
        source_event=event,
        at=event.created_at,
    )
    _mark_handled(event)
    return written


def refund_event_written(event: RefundEvent) -> None:
    """The ``refund_event_writer`` hook (registered by ``NotificationsConfig.ready``)."""
    notifications_for_refund_event(event=event)


def _mark_handled(event: RefundEvent) -> None:
    RefundEvent.objects.filter(pk=event.pk, handled_at__isnull=True).update(handled_at=timezone.now())


def notify(
    *,
    key: str,
    event: str,
    recipients: Iterable[Recipient],
    context: dict[str, str] | Callable[[], dict[str, str]],
    channels: Iterable[str],
    refund_request: RefundRequest | None = None,
    attachments: Sequence[Attachment] = (),
) -> int:
    """Tell ``recipients`` about ``event`` on ``channels`` (later features: service tasks, alerts).

    ``key`` names the occurrence (e.g. ``f"ticket-sla:{ticket.pk}"``): calling again with the same
    key sends nothing new. ``context`` gives the event's placeholders, or a function returning
    them, called in each recipient's language (for generated sentences); ``recipient_name`` is
    filled per recipient. ``attachments`` (files already in the default storage) go with the
    message on the channels that carry files (e-mail); the others send the text alone. Call it
    inside the transaction of the change; delivery follows the commit.
    """
    if event not in EVENTS:
        raise KeyError(f"Unknown notification event {event!r}; register it with event_register().")
    names = tuple(channels)

    def context_for(recipient: Recipient, _is_student: bool) -> dict[str, str]:
        values = context() if callable(context) else context
        return {**values, "recipient_name": recipient.name}

    return _write(
        dedupe_key=key[:80],
        event=event,
        audiences=[Audience(r, names) for r in recipients],
        context_for=context_for,
        refund_request=refund_request,
        attachments=attachments,
    )


def _write(
    *,
    dedupe_key: str,
    event: str,
    audiences: Iterable[Audience],
    context_for: ContextFor,
    refund_request: RefundRequest | None = None,
    source_event: RefundEvent | None = None,
    at: datetime.datetime | None = None,
    attachments: Sequence[Attachment] = (),
) -> int:
    """Render and write the rows of one event; queue their delivery after the commit."""
    audiences = list(audiences)
    if not audiences:
        return 0
    files = [asdict(attachment) for attachment in attachments]
    now = at or timezone.now()
    user_ids = [a.recipient.user_id for a in audiences if a.recipient.user_id is not None]
    preferences = {p.user_id: p for p in NotificationPreference.objects.filter(user_id__in=user_ids)}
    templates = {(t.channel, t.language): t for t in NotificationTemplate.objects.filter(event=event, is_active=True)}
    used: dict[int, set[str]] = {}  # placeholders per template, parsed once per event
    rows = []
    for recipient, channels, is_student in audiences:
        preference = preferences.get(recipient.user_id) if recipient.user_id is not None else None
        language = preference.language if preference else settings.LANGUAGE_CODE
        with translation.override(language):
            context = None
            for channel in dict.fromkeys(channels):
                if preference is not None and channel in OPTIONAL_CHANNELS and not preference.allows(channel):
                    continue
                template = templates.get((channel, language)) or templates.get((channel, settings.LANGUAGE_CODE))
                if template is None:
                    logger.warning("No active %s template for %s; not sent on that channel.", channel, event)
                    continue
                try:
                    medium = channel_for(channel)
                except KeyError:
                    logger.warning("Channel %s is not installed; %s not sent on it.", channel, event)
                    continue
                if not medium.can_reach(recipient):
                    continue
                if context is None:
                    context = context_for(recipient, is_student)
                if template.pk not in used:
                    used[template.pk] = used_placeholders(template.subject, template.body)
                rows.append(
                    Notification(
                        dedupe_key=dedupe_key,
                        recipient_key=_recipient_key(recipient),
                        event=event,
                        channel=channel,
                        refund_request=refund_request,
                        source_event=source_event,
                        recipient_id=recipient.user_id,
                        recipient_name=recipient.name[:100],
                        address=_address(recipient, channel)[:200],
                        webhook=asdict(recipient.webhook) if recipient.webhook else None,
                        language=template.language,
                        subject=render(template.subject, context)[:300],
                        body=render(template.body, context),
                        fields={k: v for k, v in context.items() if k in used[template.pk]},
                        provider_template_id=template.provider_template_id,
                        link=context.get("link", "")[:300],
                        attachments=files if medium.carries_attachments else [],
                        created_at=now,
                        next_attempt_at=now,
                    )
                )
    if not rows:
        return 0
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    _pending.keys = [*getattr(_pending, "keys", []), dedupe_key]
    transaction.on_commit(_enqueue_pending)
    return len(rows)


# The events written in this thread's transaction whose rows wait for its commit: one hand-over
# for them all (a payout's success and the rating question it brings go as one batch). Every
# write registers the same callback, so a write in a savepoint that was rolled back (whose
# callback is dropped) cannot hold up the others; the first callback to run takes every key, the
# rest find none. A key whose rows were rolled back finds no queued row.
_pending = threading.local()


def _enqueue_pending() -> None:
    keys, _pending.keys = getattr(_pending, "keys", []), []
    if keys:
        notifications_hand_over(dedupe_keys=keys)


def notifications_hand_over(*, dedupe_keys: list[str]) -> None:
    """After the commit of events' rows: in-process, send them now; with workers, start the
    drainer unless one is running (it will find them)."""
    if celery_app.conf.task_always_eager:  # in-process: these rows, at once
        notifications_enqueue(dedupe_keys=dedupe_keys)
        return
    # With workers: one drainer at a time sends whatever is due, in large batches; while it runs,
    # a commit has nothing to hand over (the drainer's last look finds its rows).
    try:
        if not cache.add(DRAIN_KEY, 1, timeout=DRAIN_KEY_SECONDS):
            return
    except Exception:  # the cache is Redis, like the broker: the beat job sends the rows
        logger.warning("Could not start a notification drainer; the periodic job will send.", exc_info=True)
        return
    if not notifications_enqueue(dedupe_keys=dedupe_keys, drain=True):
        cache.delete(DRAIN_KEY)  # the hand-over failed: the next commit tries again


# The drainer (``notifications_drain``): a worker sending every due row in batches of
# DRAIN_BATCH for at most DRAIN_SECONDS, then handing on to a new task of its own. Its key lives
# DRAIN_KEY_SECONDS at most: a drainer that died frees the way for the next commit's; what
# waited meanwhile is sent by that one or by the beat job.
DRAIN_KEY = "notifications:drainer"
DRAIN_KEY_SECONDS = 15
DRAIN_BATCH = 200
DRAIN_SECONDS = 10.0


def notifications_drain(*, ids: Iterable[int] = ()) -> tuple[dict[int, tuple[str, float | None]], bool]:
    """The drainer: send ``ids``, then every row due, batch after batch. Returns the outcomes and
    whether it stopped with rows left (its time was up): the caller hands on to a new drainer.

    When no row is left it gives up its key and looks once more: a row committed before that saw
    the key taken and left its hand-over to this drainer; one committed after starts a drainer of
    its own."""
    results = notifications_deliver(ids=list(ids)) if ids else {}
    stop_at = time.monotonic() + DRAIN_SECONDS
    released = False
    while True:
        batch = notifications_deliver(due_limit=DRAIN_BATCH)
        results.update(batch)
        if batch:
            if time.monotonic() >= stop_at:
                return results, True
            continue
        if released:
            return results, False
        cache.delete(DRAIN_KEY)
        released = True


def _recipient_key(recipient: Recipient) -> str:
    if recipient.user_id is not None:
        return f"user:{recipient.user_id}"
    if recipient.webhook is not None:
        # The robot's address tells two robots apart (one campus cannot register one URL twice);
        # an address too long for the column is keyed by its digest instead of being cut.
        key = f"webhook:{recipient.webhook.kind}:{recipient.webhook.url}"
        if len(key) > 300:
            key = f"webhook:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
        return key
    return f"address:{recipient.email or recipient.phone or recipient.wechat_openid}"[:300]


def _address(recipient: Recipient, channel: str) -> str:
    return {"email": recipient.email, "sms": recipient.phone, "wechat": recipient.wechat_openid}.get(channel, "")


# --- Handing over to the workers -----------------------------------------------------------------

# After the broker refused a hand-over, this process leaves it alone for a while: connecting to a
# broker that is down costs seconds (the client's connect retries), and the request that committed
# should not wait for it. The rows stay queued; the beat job sends them.
BROKER_BACKOFF_SECONDS = 30.0
_broker_down_until = 0.0


def notifications_enqueue(
    *,
    dedupe_key: str | None = None,
    dedupe_keys: Iterable[str] = (),
    ids: Iterable[int] | None = None,
    drain: bool = False,
) -> int:
    """Hand queued rows to the workers (those of the events ``dedupe_key`` / ``dedupe_keys``, or
    ``ids``), in batches. A broker that is down is logged, not raised: the beat job
    ``send_pending_notifications`` sends what stayed queued."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        return 0
    if ids is None:
        keys = [*dedupe_keys, *([dedupe_key] if dedupe_key is not None else [])]
        ids = (
            Notification.objects.filter(dedupe_key__in=keys, status=NotificationStatus.QUEUED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    handed = 0
    ids = list(ids)
    for start in range(0, len(ids), DELIVER_BATCH):
        batch = ids[start : start + DELIVER_BATCH]
        try:
            celery_app.signature(DELIVER_TASK, args=(batch,), kwargs={"drain": True} if drain else {}).apply_async(
                retry=False
            )
        except Exception:  # the broker's errors vary by transport; the rows stay queued either way
            _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
            logger.warning("Could not queue notifications %s; the periodic job will send them.", batch, exc_info=True)
            return handed
        handed += len(batch)
    return handed


def notifications_broker_reset() -> None:
    """Forget an earlier broker failure (the broker is back, or a test changed it)."""
    global _broker_down_until
    _broker_down_until = 0.0


PENDING_BATCH = 500
CATCH_UP = datetime.timedelta(days=1)


def notifications_send_pending(*, now: datetime.datetime | None = None, grace_seconds: float | None = None) -> int:
    """Beat: hand to the workers every row still queued past its time (the broker was down, a
    worker died) or left sending past its lease, after writing the rows of recent refund events
    whose writer failed. Returns how many rows were handed over."""
    now = now or timezone.now()
    if grace_seconds is None:
        grace_seconds = float(getattr(settings, "NOTIFICATIONS_PENDING_GRACE_SECONDS", 30))
    cutoff = now - datetime.timedelta(seconds=grace_seconds)
    _refund_events_catch_up(now=now, cutoff=cutoff)
    ids = list(
        Notification.objects.filter(
            Q(status=NotificationStatus.QUEUED, next_attempt_at__lte=cutoff)
            | Q(status=NotificationStatus.SENDING, lease_until__lte=now)
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:PENDING_BATCH]
    )
    notifications_broker_reset()  # the beat job always tries: it runs on a broker that works
    return notifications_enqueue(ids=ids)


def _refund_events_catch_up(*, now: datetime.datetime, cutoff: datetime.datetime) -> int:
    """Write the rows of recent refund events whose writer failed (``handled_at`` still empty).
    Older ones are not told any more: news of a day ago would mislead more than help."""
    pending = list(
        RefundEvent.objects.filter(
            handled_at__isnull=True, created_at__gte=now - CATCH_UP, created_at__lte=cutoff
        ).order_by("created_at", "pk")[:PENDING_BATCH]
    )
    for event in pending:
        try:
            with transaction.atomic():
                notifications_for_refund_event(event=event)
        except Exception:
            logger.exception("Refund event %s still cannot be turned into notifications.", event.pk)
    return len(pending)


def notifications_resend(*, ids: Iterable[int]) -> int:
    """Send failed rows again from the first attempt (the admin's action). Returns how many."""
    ids = list(ids)
    with transaction.atomic():
        count = Notification.objects.filter(pk__in=ids, status=NotificationStatus.FAILED).update(
            status=NotificationStatus.QUEUED, attempts=0, next_attempt_at=timezone.now(), lease_until=None
        )
        transaction.on_commit(lambda: notifications_enqueue(ids=ids))
    return count

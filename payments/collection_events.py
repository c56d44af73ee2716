"""Collection events: what the apps above payments hear about money collected from students.

``collection_event_record`` writes a ``CollectionEvent`` row in the caller's transaction (the
one that changed the collection), so an event exists exactly when its change was committed.

* Writers (``collection_event_writer``) run synchronously inside that transaction, each in a
  savepoint: what a writer writes (e.g. the exchange marking itself paid) commits with the
  payment. A writer that fails is rolled back to its savepoint and logged; the change itself
  still commits, and the event row stays for the writer's own periodic check to pick up
  (``payments.selectors.collection_events_since``).
* Listeners (``collection_event_listener``) are called after the commit with the event's
  primary key (messages, anything that talks to the outside world).

Kinds (``CollectionEventKind``): ``paid`` (payload: amount, paid_amount, gateway_trade_no,
paid_at, paid_after_close), ``closed``, ``expired``, ``open_failed`` (the gateway refused to open
it), ``refunded`` (a duplicate went back: refund_no, gateway_refund_id), ``needs_check`` (a person
must look at the gateway: code, message). Every payload also has collection_no, purpose,
purpose_id, channel and amount.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from django.db import transaction

from .models import Collection, CollectionEvent

logger = logging.getLogger(__name__)

Writer = Callable[[CollectionEvent], None]
Listener = Callable[[int], None]
_writers: list[Writer] = []
_listeners: list[Listener] = []


def collection_event_writer(writer: Writer) -> Writer:
    """Register ``writer(event)`` to run in the transaction of every recorded collection event
    (``event.collection`` is the locked, updated collection)."""
    if writer not in _writers:
        _writers.append(writer)
    return writer


def collection_event_listener(listener: Listener) -> Listener:
    """Register ``listener(event_id)`` to run after the commit of every recorded collection event."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def collection_event_record(
    *, collection: Collection, kind: str, at: datetime.datetime, **payload: Any
) -> CollectionEvent:
    """Record that ``kind`` happened to ``collection`` (in the current transaction)."""
    payload = {
        "collection_no": collection.collection_no,
        "purpose": collection.purpose,
        "purpose_id": collection.purpose_id,
        "channel": collection.channel,
        "amount": collection.amount,
        **payload,
    }
    event = CollectionEvent.objects.create(collection=collection, kind=kind, payload=payload, created_at=at)
    for writer in _writers:
        try:
            with transaction.atomic():
                writer(event)
        except Exception:
            logger.exception("Writer %s failed on collection event %s; left for its periodic check.", writer, event.pk)
    for listener in _listeners:
        transaction.on_commit(partial(listener, event.pk))
    return event

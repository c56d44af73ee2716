"""Domain events of refund requests: one small interface between the lifecycle and its listeners.

``refund_event_record`` writes a ``RefundEvent`` row in the caller's transaction, so an event
exists exactly when the change that caused it was committed. Listeners (notifications) register
with ``refund_event_listener`` and are called after the commit with the event's primary key;
whatever they have not handled (``handled_at`` empty) is still in the table to be picked up.
Writers (the notification outbox) register with ``refund_event_writer`` and run synchronously,
inside the same transaction, so what they write commits or rolls back with the event. A writer
that fails is rolled back to its savepoint and logged: the change itself still commits, and the
event stays unhandled for the writer's periodic job to pick up.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, overload

from django.db import transaction

from .models import RefundEvent, RefundRequest

logger = logging.getLogger(__name__)

Listener = Callable[[int], None]
_listeners: list[Listener] = []
Writer = Callable[[RefundEvent], None]
_writers: list[tuple[Writer, frozenset[str] | None]] = []


@overload
def refund_event_writer(writer: Writer, *, kinds: Iterable[str] | None = None) -> Writer: ...


@overload
def refund_event_writer(writer: None = None, *, kinds: Iterable[str] | None = None) -> Callable[[Writer], Writer]: ...


def refund_event_writer(
    writer: Writer | None = None, *, kinds: Iterable[str] | None = None
) -> Writer | Callable[[Writer], Writer]:
    """Register ``writer(event)`` to run in the transaction of every recorded event, or only of
    events of ``kinds`` (the others cost it nothing, not even its savepoint). Also a decorator,
    with or without ``kinds``."""
    if writer is None:
        return partial(refund_event_writer, kinds=kinds)
    if all(registered is not writer for registered, _kinds in _writers):
        _writers.append((writer, frozenset(kinds) if kinds is not None else None))
    return writer


def refund_event_listener(listener: Listener) -> Listener:
    """Register ``listener(event_id)`` to run after the commit of every recorded event."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def refund_event_record(
    *, request: RefundRequest, kind: str, actor, at: datetime.datetime, **payload: Any
) -> RefundEvent:
    """Record that ``kind`` happened to ``request`` (in the current transaction)."""
    event = RefundEvent.objects.create(request=request, kind=kind, actor=actor, payload=payload, created_at=at)
    for writer, kinds in _writers:
        if kinds is not None and kind not in kinds:
            continue
        try:
            with transaction.atomic():
                writer(event)
        except Exception:
            logger.exception("Writer %s failed on refund event %s; left for its periodic job.", writer, event.pk)
    for listener in _listeners:
        transaction.on_commit(partial(listener, event.pk))
    return event

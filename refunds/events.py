"""Domain events of refund requests: one small interface between the lifecycle and its listeners.

``refund_event_record`` writes a ``RefundEvent`` row in the caller's transaction, so an event
exists exactly when the change that caused it was committed. Listeners (the e-receipt, the
analytics refresh) register with ``refund_event_listener`` and are called after the commit with
the event as it was recorded (its request the instance it was recorded for), so they read what
they need without a query; whatever they have not handled is still in the table to be picked up.
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

Listener = Callable[[RefundEvent], None]
_listeners: list[tuple[Listener, frozenset[str] | None]] = []
Writer = Callable[[RefundEvent], None]
Applies = Callable[[RefundEvent], bool]
_writers: list[tuple[Writer, frozenset[str] | None, Applies | None]] = []


@overload
def refund_event_writer(
    writer: Writer, *, kinds: Iterable[str] | None = None, applies: Applies | None = None
) -> Writer: ...


@overload
def refund_event_writer(
    writer: None = None, *, kinds: Iterable[str] | None = None, applies: Applies | None = None
) -> Callable[[Writer], Writer]: ...


def refund_event_writer(
    writer: Writer | None = None, *, kinds: Iterable[str] | None = None, applies: Applies | None = None
) -> Writer | Callable[[Writer], Writer]:
    """Register ``writer(event)`` to run in the transaction of every recorded event, or only of
    events of ``kinds`` for which ``applies(event)`` holds (it reads the event and its request,
    never the database): the others cost it nothing, not even its savepoint. Also a decorator."""
    if writer is None:
        return partial(refund_event_writer, kinds=kinds, applies=applies)
    if all(registered is not writer for registered, _kinds, _applies in _writers):
        _writers.append((writer, frozenset(kinds) if kinds is not None else None, applies))
    return writer


def refund_event_listener(listener: Listener, *, kinds: Iterable[str] | None = None) -> Listener:
    """Register ``listener(event)`` to run after the commit of every recorded event, or only of
    events of ``kinds``. The event is the recorded instance: its request is the one it was
    recorded for, as it stood at the commit."""
    if all(registered is not listener for registered, _kinds in _listeners):
        _listeners.append((listener, frozenset(kinds) if kinds is not None else None))
    return listener


def refund_event_record(
    *, request: RefundRequest, kind: str, actor, at: datetime.datetime, **payload: Any
) -> RefundEvent:
    """Record that ``kind`` happened to ``request`` (in the current transaction)."""
    event = RefundEvent.objects.create(request=request, kind=kind, actor=actor, payload=payload, created_at=at)
    for writer, kinds, applies in _writers:
        if (kinds is not None and kind not in kinds) or (applies is not None and not applies(event)):
            continue
        try:
            with transaction.atomic():
                writer(event)
        except Exception:
            logger.exception("Writer %s failed on refund event %s; left for its periodic job.", writer, event.pk)
    for listener, kinds in _listeners:
        if kinds is None or kind in kinds:
            transaction.on_commit(partial(listener, event))
    return event

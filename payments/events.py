"""Payout events: what the floors above payments (finance) hear about money that left, in the
transaction that books it.

``payout_event_writer(writer)`` registers ``writer(event)``; the payout service calls
``payout_event_record`` inside the transaction that books a payout as succeeded, so whatever a
writer writes (finance's voucher) commits or rolls back with the booking. Unlike
``refunds.events``' writers, a writer that fails is not set aside: what it writes is part of the
booking (a payout is never recorded as paid without its voucher), so its error rolls the booking
back and the payout stays in doubt until the next query or callback books it again.

The refund request's own event (``RefundEventKind.PAYOUT_SUCCEEDED``, with its listeners after
the commit: notifications, the e-receipt) is recorded beside it, as before.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .models import Payout

if TYPE_CHECKING:
    from schoolops.models import User


class PayoutEventKind:
    SUCCEEDED = "succeeded"  # the money left: the payout, the request and the order are booked


@dataclass(frozen=True)
class PayoutEvent:
    kind: str
    payout: Payout  # locked by the caller, with ``request`` and ``order`` loaded
    actor: User | None  # who recorded it (a bank transfer), None when the gateway confirmed it
    at: datetime.datetime


Writer = Callable[[PayoutEvent], None]
_writers: list[Writer] = []


def payout_event_writer(writer: Writer) -> Writer:
    """Register ``writer(event)`` to run in the transaction of every recorded payout event."""
    if writer not in _writers:
        _writers.append(writer)
    return writer


def payout_event_record(*, kind: str, payout: Payout, actor: User | None, at: datetime.datetime) -> PayoutEvent:
    """Tell the writers that ``kind`` happened to ``payout`` (in the current transaction)."""
    event = PayoutEvent(kind=kind, payout=payout, actor=actor, at=at)
    for writer in _writers:
        writer(event)
    return event

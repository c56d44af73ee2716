"""News of enrollments for the floors above: a new paid order, a changed one, a cancelled one.

The order intake (``students.services.orders``) calls ``enrollment_news_announce`` inside its
transaction with everything one batch changed. Writers registered with
``enrollment_news_writer`` (the homeroom service's first-contact tasks, referrals) run there,
synchronously, so what they write commits or rolls back with the orders. Each writer runs in a
savepoint: one that fails is logged and rolled back to it, and the intake still commits.
Like ``refunds.events``'s writers; students sits below those apps and never imports them.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db import transaction

logger = logging.getLogger(__name__)


class EnrollmentNewsKind:
    PAID = "paid"  # a new paid order, and so a new enrollment
    CHANGED = "changed"  # the order or its enrollment changed (amount, course, teacher, ...)
    CANCELLED = "cancelled"  # the order system cancelled the order


@dataclass(frozen=True)
class EnrollmentNews:
    enrollment_id: int
    kind: str  # "paid" (a new paid order/enrollment), "changed", "cancelled"
    referral_code: str  # as named on the order, "" if none
    at: datetime.datetime  # when the intake recorded it


Writer = Callable[[Sequence[EnrollmentNews]], None]
_writers: list[Writer] = []


def enrollment_news_writer(writer: Writer) -> Writer:
    """Register ``writer(news)`` to run in the transaction of every batch that has news."""
    if writer not in _writers:
        _writers.append(writer)
    return writer


def enrollment_news_announce(news: Sequence[EnrollmentNews]) -> None:
    """Hand ``news`` to every writer, each in a savepoint of the caller's transaction; nothing to
    announce calls nobody."""
    if not news:
        return
    for writer in list(_writers):
        try:
            with transaction.atomic():
                writer(news)
        except Exception:
            logger.exception("Enrollment news writer %s failed on %d item(s); rolled back.", writer, len(news))

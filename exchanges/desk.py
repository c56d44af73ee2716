"""The exchange desk: customer service files a course exchange for a student who asked for it (on
the phone, on WeChat, in person or in writing), with her consent recorded (seed 004).

The same rule as the refund desk decides who may file and with what consent
(``refunds.services.filed_for_student``: customer service, a student of its own campus, consent
given how and when, within a week and not in the future); then the exchange is filed exactly as
the student would file it (``exchange_submit`` with ``filed``), in its one transaction: the
request, its snapshot, the exchange and the first step are all written, or none is. The request
takes the exchange's route, starting in customer service's pool.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone

from refunds.services import RefundActionError, filed_for_student
from schoolops.models import User

from .models import Exchange
from .services import ExchangeError, exchange_submit


def exchange_submit_for_student(
    *,
    actor: User,
    student_id: int,
    order_no: str,
    target_code: str,
    reason: str,
    details: str = "",
    consent_channel: str,
    consent_at: datetime.datetime | None,
    consent_note: str = "",
    seen_refund: Decimal | None = None,
    seen_pay: Decimal | None = None,
    at: datetime.datetime | None = None,
) -> Exchange:
    """``actor`` (customer service) files the exchange of the student's ``order_no`` for
    ``target_code``; ``seen_refund`` / ``seen_pay``: the difference shown to the desk and agreed
    with the student (a changed calculation files nothing). ``ExchangeError`` when refused, with
    the code of the rule that refused (``forbidden``, ``student``, ``consent_channel``,
    ``consent_at``, or one of ``exchange_submit``'s)."""
    now = at or timezone.now()
    try:
        student, filed = filed_for_student(
            actor=actor,
            student_id=student_id,
            consent_channel=consent_channel,
            consent_at=consent_at,
            consent_note=consent_note,
            now=now,
        )
    except RefundActionError as exc:
        raise ExchangeError(exc.message, code=exc.code) from exc
    return exchange_submit(
        student=student,
        order_no=order_no,
        target_code=target_code,
        reason=reason,
        details=details,
        seen_refund=seen_refund,
        seen_pay=seen_pay,
        filed=filed,
        at=now,
    )

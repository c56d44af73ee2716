"""Working days, as banks count them: Monday to Friday, except the public holidays and the
weekends made working days (调休) listed in ``CalendarDay``."""

from __future__ import annotations

import datetime

from .models import ArrivalKind, CalendarDay

# A bank card sees a refund 3 to 7 working days after the gateway sent it.
CARD_WORKING_DAYS = (3, 7)
_LOOKAHEAD_DAYS = 60  # more than enough calendar days to find 7 working days around any holiday


def working_days_after(day: datetime.date, count: int) -> datetime.date:
    """The ``count``-th working day after ``day`` (one query)."""
    overrides = dict(
        CalendarDay.objects.filter(
            date__gt=day, date__lte=day + datetime.timedelta(days=_LOOKAHEAD_DAYS + count)
        ).values_list("date", "is_workday")
    )
    current = day
    found = 0
    while found < count:
        current += datetime.timedelta(days=1)
        workday = overrides.get(current, current.weekday() < 5)
        if workday:
            found += 1
    return current


def expected_arrival(*, kind: str, sent_on: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last day the student should expect the money, for where it lands."""
    if kind == ArrivalKind.BALANCE:
        return sent_on, sent_on
    low, high = CARD_WORKING_DAYS
    return working_days_after(sent_on, low), working_days_after(sent_on, high)

"""Quick date ranges for finance's export form (本月, 上月, 本季度, 上季度, 今年): Shanghai calendar
days, both ends included, as the report filters take them.

The ranges run to the period's last day even when it is still to come: a report of "this month"
reads what there is so far, and the file name says the month.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

SHANGHAI = ZoneInfo("Asia/Shanghai")

QUICK_RANGES = [
    ("this_month", _("This month")),
    ("last_month", _("Last month")),
    ("this_quarter", _("This quarter")),
    ("last_quarter", _("Last quarter")),
    ("this_year", _("This year")),
]


def shanghai_today(now: datetime.datetime | None = None) -> datetime.date:
    """The calendar day in Shanghai at ``now`` (default: the present)."""
    return timezone.localtime(now or timezone.now(), SHANGHAI).date()


def _month_end(year: int, month: int) -> datetime.date:
    first_of_next = datetime.date(year + month // 12, month % 12 + 1, 1)
    return first_of_next - datetime.timedelta(days=1)


def quick_range(key: str, *, today: datetime.date) -> tuple[datetime.date, datetime.date]:
    """The first and last day of the range ``key`` (one of ``QUICK_RANGES``) around ``today``.
    Raises ``KeyError`` for an unknown key."""
    year, month = today.year, today.month
    if key == "this_month":
        return today.replace(day=1), _month_end(year, month)
    if key == "last_month":
        last = today.replace(day=1) - datetime.timedelta(days=1)
        return last.replace(day=1), last
    quarter_start_month = (month - 1) // 3 * 3 + 1
    if key == "this_quarter":
        return datetime.date(year, quarter_start_month, 1), _month_end(year, quarter_start_month + 2)
    if key == "last_quarter":
        end = datetime.date(year, quarter_start_month, 1) - datetime.timedelta(days=1)
        return datetime.date(end.year, end.month - 2, 1), end
    if key == "this_year":
        return datetime.date(year, 1, 1), datetime.date(year, 12, 31)
    raise KeyError(key)


def quick_ranges(*, today: datetime.date) -> list[tuple[str, str, datetime.date, datetime.date]]:
    """Every quick range as (key, label, first day, last day), for the form's links."""
    return [(key, str(label), *quick_range(key, today=today)) for key, label in QUICK_RANGES]

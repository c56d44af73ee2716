"""The service desk's clock: business time on the hours a campus sets, on its open days.

A day is open if the working-day calendar (``payments.CalendarDay``) says so (public holidays
closed, make-up working days 调休 open), else Monday to Friday, or every day where the campus opens
on weekends. Pure: ``DeskClock`` holds the overrides it was given; ``desk_clock_for`` loads them.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.utils import timezone

_MAX_DAYS = 800  # a clock with no open day at all would otherwise never end


@dataclass(frozen=True)
class DeskClock:
    opens_at: datetime.time
    closes_at: datetime.time
    open_on_weekends: bool = False
    overrides: Mapping[datetime.date, bool] = field(default_factory=dict)

    def is_open_day(self, day: datetime.date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        return self.open_on_weekends or day.weekday() < 5

    def _hours_of(self, day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
        tz = timezone.get_default_timezone()
        return (
            datetime.datetime.combine(day, self.opens_at, tzinfo=tz),
            datetime.datetime.combine(day, self.closes_at, tzinfo=tz),
        )

    def add(self, start: datetime.datetime, seconds: float) -> datetime.datetime:
        """The moment ``seconds`` of open time after ``start`` (``start`` itself if it is open and
        ``seconds`` is 0; the next opening if it is closed)."""
        cursor = timezone.localtime(start, timezone.get_default_timezone())
        day = cursor.date()
        remaining = max(0.0, float(seconds))
        for _ in range(_MAX_DAYS):
            if self.is_open_day(day):
                opens, closes = self._hours_of(day)
                begin = max(cursor, opens)
                if begin < closes:
                    available = (closes - begin).total_seconds()
                    if remaining <= available:
                        return begin + datetime.timedelta(seconds=remaining)
                    remaining -= available
            day += datetime.timedelta(days=1)
            cursor = datetime.datetime.combine(day, datetime.time.min, tzinfo=timezone.get_default_timezone())
        raise ValueError("The desk is never open: check its hours and the calendar.")

    def between(self, start: datetime.datetime, end: datetime.datetime) -> int:
        """Whole seconds of open time from ``start`` to ``end`` (0 if ``end`` is not later)."""
        if end <= start:
            return 0
        tz = timezone.get_default_timezone()
        start, end = timezone.localtime(start, tz), timezone.localtime(end, tz)
        total = 0.0
        day = start.date()
        while day <= end.date():
            if self.is_open_day(day):
                opens, closes = self._hours_of(day)
                begin, finish = max(start, opens), min(end, closes)
                if begin < finish:
                    total += (finish - begin).total_seconds()
            day += datetime.timedelta(days=1)
        return int(total)

    def is_open(self, at: datetime.datetime) -> bool:
        local = timezone.localtime(at, timezone.get_default_timezone())
        opens, closes = self._hours_of(local.date())
        return self.is_open_day(local.date()) and opens <= local < closes

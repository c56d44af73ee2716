"""The desk clock: business time on the campus's hours, across closing time, weekends, public
holidays and make-up working days (调休)."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from servicedesk.clock import DeskClock
from servicedesk.models import DeskSettings
from servicedesk.selectors import desk_clock_for, desk_settings_for

NINE, NINE_PM = datetime.time(9), datetime.time(21)


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=timezone.get_default_timezone())


CLOCK = DeskClock(
    opens_at=NINE,
    closes_at=NINE_PM,
    overrides={
        datetime.date(2027, 1, 1): False,  # 元旦, a Friday
        datetime.date(2026, 10, 10): True,  # a Saturday made a working day
    },
)


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        ("2026-12-03 10:00", 240, "2026-12-03 14:00"),  # Thursday, inside the hours
        ("2026-12-03 19:00", 240, "2026-12-04 11:00"),  # 2 h on Thursday, 2 h on Friday
        ("2026-12-03 07:30", 30, "2026-12-03 09:30"),  # before opening: counted from 09:00
        ("2026-12-03 22:00", 30, "2026-12-04 09:30"),  # after closing: from the next opening
        ("2026-12-04 20:00", 240, "2026-12-07 12:00"),  # Friday 1 h, the weekend closed, Monday 3 h
        ("2026-12-31 19:00", 240, "2027-01-04 11:00"),  # Thursday 2 h; 元旦 Friday and the weekend closed
        ("2026-10-09 20:00", 120, "2026-10-10 10:00"),  # Friday 1 h; the make-up Saturday is open
        ("2026-12-03 21:00", 0, "2026-12-04 09:00"),  # closing time itself is closed
        ("2026-12-03 12:00", 48 * 60, "2026-12-09 12:00"),  # 48 business hours: four 12-hour days
    ],
)
def test_adding_business_time(start, minutes, expected):
    assert CLOCK.add(at(start), minutes * 60) == at(expected)


def test_between_is_the_inverse_of_add():
    start = at("2026-12-31 19:00")
    for minutes in (1, 30, 120, 240, 721, 48 * 60):
        assert CLOCK.between(start, CLOCK.add(start, minutes * 60)) == minutes * 60


def test_between_counts_only_open_time():
    # Thursday 19:00 → Monday 10:00 across 元旦 and the weekend: 2 h + 1 h.
    assert CLOCK.between(at("2026-12-31 19:00"), at("2027-01-04 10:00")) == 3 * 3600
    assert CLOCK.between(at("2027-01-01 10:00"), at("2027-01-01 20:00")) == 0
    assert CLOCK.between(at("2026-12-04 12:00"), at("2026-12-04 11:00")) == 0


def test_a_campus_open_on_weekends_still_closes_on_public_holidays():
    clock = DeskClock(opens_at=NINE, closes_at=NINE_PM, open_on_weekends=True, overrides=CLOCK.overrides)
    assert clock.add(at("2026-12-04 20:00"), 240 * 60) == at("2026-12-05 12:00")
    assert clock.add(at("2026-12-31 20:00"), 120 * 60) == at("2027-01-02 10:00")
    assert clock.is_open(at("2027-01-02 10:00")) and not clock.is_open(at("2027-01-01 10:00"))


def test_a_desk_that_never_opens_says_so():
    closed = {datetime.date(2026, 1, 1) + datetime.timedelta(days=n): False for n in range(900)}
    with pytest.raises(ValueError, match="never open"):
        DeskClock(opens_at=NINE, closes_at=NINE_PM, overrides=closed).add(at("2026-01-01 10:00"), 60)


def test_the_clock_of_a_campus_reads_its_hours_and_the_seeded_calendar(campus):
    DeskSettings.objects.create(campus=campus, opens_at=datetime.time(8), closes_at=datetime.time(18))
    clock = desk_clock_for(settings=desk_settings_for(campus_id=campus.pk), around=datetime.date(2026, 12, 31))
    # The migrations seed 元旦 2027-01-01 as a holiday: Thursday 17:00 + 2 h → Monday 09:00.
    assert clock.add(at("2026-12-31 17:00"), 2 * 3600) == at("2027-01-04 09:00")


def test_a_campus_without_settings_gets_the_defaults(campus):
    settings = desk_settings_for(campus_id=campus.pk)
    assert settings.pk is None
    assert (settings.opens_at, settings.closes_at, settings.response_minutes, settings.urgent_response_minutes) == (
        NINE,
        NINE_PM,
        240,
        30,
    )
    assert settings.complaint_resolution_hours == 48

import datetime

import pytest

from payments.calendar import expected_arrival, working_days_after
from payments.models import ArrivalKind, CalendarDay

pytestmark = pytest.mark.django_db

D = datetime.date


def test_working_days_skip_the_weekend():
    # Thursday 2026-11-26 + 3 working days: Fri, Mon, Tue.
    assert working_days_after(D(2026, 11, 26), 3) == D(2026, 12, 1)


def test_national_day_holidays_do_not_count_and_the_make_up_saturday_does():
    # Sent on Wednesday 30 September 2026: 1-7 October are holidays, Saturday 10 October is a
    # working day (调休). Working days: Oct 8 (Thu), 9 (Fri), 10 (Sat, make-up), 12 (Mon) ...
    assert working_days_after(D(2026, 9, 30), 1) == D(2026, 10, 8)
    assert working_days_after(D(2026, 9, 30), 3) == D(2026, 10, 10)
    assert working_days_after(D(2026, 9, 30), 7) == D(2026, 10, 15)


def test_a_holiday_added_by_finance_moves_the_arrival():
    assert working_days_after(D(2026, 12, 1), 3) == D(2026, 12, 4)  # Wed, Thu, Fri
    CalendarDay.objects.create(date=D(2026, 12, 2), is_workday=False, name="test closure")
    assert working_days_after(D(2026, 12, 1), 3) == D(2026, 12, 7)  # Thu, Fri, Mon


def test_balance_arrives_the_same_day_and_a_card_in_three_to_seven_working_days():
    day = D(2026, 12, 31)  # Thursday; 1 January 2027 is a holiday
    assert expected_arrival(kind=ArrivalKind.BALANCE, sent_on=day) == (day, day)
    assert expected_arrival(kind=ArrivalKind.BANK_CARD, sent_on=day) == (D(2027, 1, 6), D(2027, 1, 12))

"""The exchange calculation's worked examples, with the arithmetic written out."""

from __future__ import annotations

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from exchanges.calc import (
    ExchangeNotOffered,
    ExchangeTerms,
    Method,
    SourceFacts,
    TargetFacts,
    calculate_exchange,
    lessons_ahead,
)
from refunds.models import DayAnchor

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime.datetime(2026, 9, 20, 10, 0, tzinfo=TZ)
D = Decimal


def source(**overrides) -> SourceFacts:
    values = dict(
        amount_paid=D("4800.00"),
        refunded=D("0.00"),
        in_flight=D("0.00"),
        units_consumed=4,
        lessons=20,
        progress_percent=D("20.00"),
        day_from_purchase=10,
        day_from_start=5,
        refund_total=D("3000.00"),
    )
    values.update(overrides)
    return SourceFacts(**values)


def target(price: str, *, lessons: int = 24, starts_in_days: float = 10, days: int = 80) -> TargetFacts:
    starts = NOW + datetime.timedelta(days=starts_in_days)
    return TargetFacts(
        price=D(price), lessons=lessons, starts_at=starts, ends_at=starts + datetime.timedelta(days=days)
    )


def total(quote) -> Decimal:
    return sum((line.amount for line in quote.lines), D("0.00"))


def test_example_1_inside_the_window_after_a_partial_refund_the_cheaper_course_refunds_the_rest():
    # Paid 4800.00 for 20 lessons, 4 used, 1000.00 refunded before; day 10 of a 30-day window.
    #   used:     4800.00 × 4 ÷ 20 = 960.00
    #   carried:  4800.00 − 1000.00 − 960.00 = 2840.00 (no handling fee inside the window)
    #   new course 2000.00 → 2840.00 − 2000.00 = 840.00 refunded
    quote = calculate_exchange(
        terms=ExchangeTerms(window_days=30),
        source=source(refunded=D("1000.00")),
        target=target("2000.00"),
        at=NOW,
    )
    assert quote.method == Method.WINDOW
    assert [line.amount for line in quote.lines] == [D("4800.00"), D("-1000.00"), D("-960.00")]
    assert quote.carried_value == total(quote) == D("2840.00")
    assert quote.target_price == D("2000.00")
    assert (quote.refund_amount, quote.pay_amount) == (D("840.00"), D("0.00"))
    assert quote.direction == "refund"


def test_example_2_after_the_window_the_refund_amount_less_the_fee_is_carried_and_the_student_pays():
    # Day 45 of a 30-day window: carried is what a refund would give today, 3000.00, less the
    # exchange fee of 100.00:
    #   kept by the refund rules: 4800.00 − 3000.00 = 1800.00
    #   carried:  4800.00 − 1800.00 − 100.00 = 2900.00
    #   new course 3600.00 (not started) → 3600.00 − 2900.00 = 700.00 to pay
    quote = calculate_exchange(
        terms=ExchangeTerms(window_days=30, exchange_fee=D("100.00")),
        source=source(day_from_purchase=45),
        target=target("3600.00"),
        at=NOW,
    )
    assert quote.method == Method.REFUND
    assert [line.amount for line in quote.lines] == [D("4800.00"), D("-1800.00"), D("-100.00")]
    assert quote.carried_value == total(quote) == D("2900.00")
    assert (quote.refund_amount, quote.pay_amount) == (D("0.00"), D("700.00"))


def test_example_3_a_target_that_started_costs_its_lessons_ahead_and_can_be_paid_exactly():
    # The new course (3600.00, 24 lessons over 80 days) started 20 days ago: 20/80 of its span has
    # gone, so 24 × 0.25 = 6 lessons were held and 18 are ahead:
    #   price:    3600.00 × 18 ÷ 24 = 2700.00
    # Inside the window, 2 of 20 lessons used on 3000.00 paid:
    #   used:     3000.00 × 2 ÷ 20 = 300.00
    #   carried:  3000.00 − 300.00 = 2700.00 → 2700.00 − 2700.00 = 0: nothing moves
    quote = calculate_exchange(
        terms=ExchangeTerms(window_days=30),
        source=source(amount_paid=D("3000.00"), units_consumed=2, progress_percent=D("10.00")),
        target=target("3600.00", starts_in_days=-20),
        at=NOW,
    )
    assert quote.target_lessons_ahead == 18
    assert quote.target_price == D("2700.00")
    assert quote.carried_value == total(quote) == D("2700.00")
    assert (quote.refund_amount, quote.pay_amount) == (D("0.00"), D("0.00"))
    assert quote.direction == "even"


def test_progress_above_the_ceiling_leaves_the_window_even_on_day_one():
    quote = calculate_exchange(
        terms=ExchangeTerms(window_days=30, window_progress_ceiling=D("50.00")),
        source=source(day_from_purchase=1, units_consumed=12, progress_percent=D("60.00")),
        target=target("1000.00"),
        at=NOW,
    )
    assert quote.method == Method.REFUND


def test_the_window_counted_from_the_course_start():
    terms = ExchangeTerms(window_days=7, window_anchor=DayAnchor.COURSE_START)
    inside = calculate_exchange(
        terms=terms, source=source(day_from_purchase=40, day_from_start=7), target=target("1.00"), at=NOW
    )
    after = calculate_exchange(
        terms=terms, source=source(day_from_purchase=3, day_from_start=8), target=target("1.00"), at=NOW
    )
    assert (inside.method, after.method) == (Method.WINDOW, Method.REFUND)


def test_no_exchange_after_the_window_when_the_policy_says_so():
    with pytest.raises(ExchangeNotOffered):
        calculate_exchange(
            terms=ExchangeTerms(window_days=30, allow_after_window=False),
            source=source(day_from_purchase=31),
            target=target("1000.00"),
            at=NOW,
        )


def test_a_contract_course_after_the_window_has_no_rule_for_its_value():
    with pytest.raises(ExchangeNotOffered):
        calculate_exchange(
            terms=ExchangeTerms(window_days=30),
            source=source(day_from_purchase=31, refund_needs_approver=True, refund_total=D("0.00")),
            target=target("1000.00"),
            at=NOW,
        )


def test_the_value_never_exceeds_what_is_left_on_the_order():
    # 500.00 of a refund is on its way: only 4800 − 0 − 500 = 4300 may be carried.
    quote = calculate_exchange(
        terms=ExchangeTerms(), source=source(units_consumed=0, in_flight=D("500.00")), target=target("1.00"), at=NOW
    )
    assert quote.carried_value == total(quote) == D("4300.00")


def test_the_fee_never_takes_the_value_below_zero():
    quote = calculate_exchange(
        terms=ExchangeTerms(window_days=30, exchange_fee=D("500.00")),
        source=source(day_from_purchase=45, refund_total=D("200.00")),
        target=target("100.00"),
        at=NOW,
    )
    assert quote.carried_value == D("0.00") == total(quote)
    assert quote.pay_amount == D("100.00")


def test_a_course_that_has_ended_is_not_a_target():
    ended = target("100.00", starts_in_days=-100, days=50)
    assert lessons_ahead(ended, at=NOW) == 0
    with pytest.raises(ExchangeNotOffered):
        calculate_exchange(terms=ExchangeTerms(), source=source(), target=ended, at=NOW)

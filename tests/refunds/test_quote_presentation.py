"""The quote as the student reads it (refunds.quotes presentation): plain sentences from the lines,
zero lines only where they explain something, the contract's internal line never as a deduction,
the policy's days as a bar with her day marked, the measure of progress counted."""

from __future__ import annotations

from decimal import Decimal

from django.utils import translation

from refunds.models import ConsumptionBasis, DayAnchor, PolicyMode, QuoteLineKind
from refunds.quotes import (
    PolicyTerms,
    Progress,
    SpecialRuleTerms,
    TierTerms,
    money_display,
    quote_plain_lines,
    quote_progress_basis,
    quote_timeline,
)

from .helpers import SEED_TIERS, STARTS_AT, facts, quote, sh

D = Decimal

REGULAR = PolicyTerms(
    cooling_off_days=7,
    cooling_off_anchor=DayAnchor.COURSE_START,
    cooling_off_progress_ceiling=D("20"),
    tier_anchor=DayAnchor.COURSE_START,
    tiers=(TierTerms(1, 7, D("100")), TierTerms(8, None, D("0"))),
    consumption_basis=ConsumptionBasis.WATCHED,
    handling_fee_percent=D("10"),
    special_rules=(SpecialRuleTerms(reason="illness", percent=D("100"), waive_handling_fee=True),),
)
DAY_4 = sh(2026, 3, 13, 12)  # day 4 counted from STARTS_AT


def en(function, *args):
    with translation.override("en"):
        return function(*args)


def test_amounts_read_with_thousands_separators():
    assert money_display(D("4800.00")) == "¥4,800.00"
    assert money_display(D("-960.5")) == "¥960.50"  # the sign is the caller's


def test_inside_the_cooling_off_window_the_zero_line_stays_and_says_why():
    q = quote(REGULAR, progress=Progress(lessons_watched=3), reason="time_conflict", at=DAY_4)
    plain = en(quote_plain_lines, q)
    kinds = [line.kind for line in plain]
    assert kinds == [QuoteLineKind.PAID, QuoteLineKind.COOLING_OFF, QuoteLineKind.HANDLING_FEE]
    cooling = plain[1]
    assert cooling.amount is None
    assert "Day 4" in cooling.text and "7-day cooling-off window" in cooling.text


def test_zero_consumption_and_full_tier_lines_are_left_out():
    # 40 % watched: past the ceiling; the 100 % tier deducts nothing and is not shown.
    q = quote(REGULAR, progress=Progress(lessons_watched=12), reason="time_conflict", at=DAY_4)
    plain = en(quote_plain_lines, q)
    assert QuoteLineKind.TIME_TIER not in [line.kind for line in plain]
    consumption = next(line for line in plain if line.kind == QuoteLineKind.CONSUMPTION)
    assert consumption.text.startswith("You have watched 12 of 30 lessons")
    assert consumption.amount == D("-1200.00")
    assert sum(line.amount for line in plain if line.amount is not None) == q.total


def test_a_tier_that_deducts_says_the_day_and_the_share():
    q = quote(PolicyTerms(tiers=SEED_TIERS), at=sh(2026, 3, 10, 12))  # day 10 from the purchase: 80 %
    tier = next(line for line in en(quote_plain_lines, q) if line.kind == QuoteLineKind.TIME_TIER)
    assert tier.text == "Day 10: 80% of what remains is refunded; the rest is deducted."
    assert tier.amount == D("-600.00")


def test_a_special_rule_explains_the_waived_fee_without_an_amount():
    q = quote(REGULAR, progress=Progress(lessons_watched=12), reason="illness", at=sh(2026, 4, 30))
    plain = en(quote_plain_lines, q)
    rule = next(line for line in plain if line.kind == QuoteLineKind.SPECIAL_RULE)
    fee = next(line for line in plain if line.kind == QuoteLineKind.HANDLING_FEE)
    assert rule.amount is None and "refunded in full, whatever the day" in rule.text
    assert fee.amount is None and fee.text == "No handling fee in these circumstances."


def test_a_contract_course_shows_no_deduction_only_who_sets_the_amount():
    q = quote(PolicyTerms(mode=PolicyMode.CONTRACT), facts("19800.00"), reason="time_conflict")
    plain = en(quote_plain_lines, q)
    contract = plain[-1]
    assert contract.kind == QuoteLineKind.CONTRACT
    assert contract.amount is None
    assert "reviewer sets the amount, at most ¥19,800.00" in contract.text
    assert all(line.amount is None or line.amount >= 0 for line in plain)
    assert quote_timeline(q) is None


def test_the_days_bar_splits_the_cooling_off_window_from_the_tiers_and_marks_her_day():
    q = quote(REGULAR, reason="time_conflict", at=DAY_4)
    bar = en(quote_timeline, q)
    assert [(s.label, s.cooling_off, s.current) for s in bar.segments] == [
        ("Days 1–7", True, True),
        ("Day 8 on", False, False),
    ]
    assert bar.where == "Day 4 counted from the course start"
    assert "20%" in bar.note


def test_the_days_bar_marks_day_8_on_after_the_window():
    q = quote(REGULAR, reason="time_conflict", at=sh(2026, 3, 20, 12))
    assert [s.current for s in en(quote_timeline, q).segments] == [False, True]


def test_before_a_trial_starts_the_bar_shows_before_the_start():
    trial = PolicyTerms(
        cooling_off_days=0,
        cooling_off_anchor=DayAnchor.COURSE_START,
        cooling_off_progress_ceiling=D("100"),
        tier_anchor=DayAnchor.COURSE_START,
        tiers=(TierTerms(1, None, D("0")),),
        consumption_basis=ConsumptionBasis.PER_LESSON,
    )
    q = quote(trial, at=STARTS_AT.replace(day=5))
    bar = en(quote_timeline, q)
    assert [(s.label, s.current) for s in bar.segments] == [("Before the start", True), ("Day 1 on", False)]
    assert bar.note == ""  # a 100 % ceiling is no condition


def test_the_progress_counted_is_said_in_the_unit_of_the_basis():
    q = quote(REGULAR, progress=Progress(lessons_watched=4, lessons_consumed=9), at=DAY_4)
    assert en(quote_progress_basis, q) == "Lessons watched: 4 of 30 (13.33%)"
    live = PolicyTerms(consumption_basis=ConsumptionBasis.LIVE)
    assert en(quote_progress_basis, quote(live, progress=Progress(live_sessions_attended=3))).startswith(
        "Live sessions attended: 3 of 30"
    )

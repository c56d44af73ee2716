"""The pure refund calculation: worked examples, every policy piece alone and combined, days."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from refunds.models import ConsumptionBasis, DayAnchor, PolicyMode, QuoteMethod
from refunds.quotes import PolicyTerms, Progress, SpecialRuleTerms, TierTerms, day_number

from .helpers import SEED_TIERS, STARTS_AT, amounts, facts, quote, sh

D = Decimal

REGULAR = PolicyTerms(
    cooling_off_days=7,
    cooling_off_anchor=DayAnchor.COURSE_START,
    cooling_off_progress_ceiling=D("20"),
    tier_anchor=DayAnchor.COURSE_START,
    tiers=(TierTerms(1, 7, D("100")), TierTerms(8, None, D("0"))),
    consumption_basis=ConsumptionBasis.WATCHED,
    handling_fee_percent=D("10"),
)
TRIAL = PolicyTerms(
    cooling_off_days=0,
    cooling_off_anchor=DayAnchor.COURSE_START,
    cooling_off_progress_ceiling=D("100"),
    tier_anchor=DayAnchor.COURSE_START,
    tiers=(TierTerms(1, None, D("0")),),
    consumption_basis=ConsumptionBasis.PER_LESSON,
)


def assert_consistent(q):
    assert sum((line.amount for line in q.lines), D("0.00")) == q.total
    assert D("0.00") <= q.total <= q.refundable
    assert q.lines[0].kind == "paid"
    assert q.lines[0].amount == q.amount_paid


# --- The worked examples of DESIGN §6 ---------------------------------------------------------


def test_per_lesson_example_refunds_the_unused_lessons():
    q = quote(
        PolicyTerms(consumption_basis=ConsumptionBasis.PER_LESSON),
        facts("3000.00", lessons=30),
        progress=Progress(lessons_consumed=12),
    )
    assert q.total == D("1800.00")
    assert amounts(q) == {"paid": D("3000.00"), "consumption": D("-1200.00")}
    assert q.lines[1].formula == "3000.00 × 12 ÷ 30 = 1200.00"
    assert_consistent(q)


def test_time_tier_example_on_day_10_refunds_80_percent():
    q = quote(PolicyTerms(tiers=SEED_TIERS), facts("1999.00"), at=sh(2026, 3, 10, 15))
    assert q.day_from_purchase == 10
    assert q.total == D("1599.20")
    assert amounts(q) == {"paid": D("1999.00"), "time_tier": D("-399.80")}
    assert_consistent(q)


def test_regular_course_within_7_days_of_start_keeps_a_10_percent_fee():
    q = quote(REGULAR, facts("2000.00"), at=sh(2026, 3, 13, 9), progress=Progress(lessons_watched=2))
    assert q.day_from_start == 4
    assert q.method == QuoteMethod.COOLING_OFF
    assert q.total == D("1800.00")
    assert amounts(q) == {"paid": D("2000.00"), "cooling_off": D("0.00"), "handling_fee": D("-200.00")}
    assert_consistent(q)


def test_trial_course_before_it_starts_refunds_everything_without_fee():
    q = quote(TRIAL, facts("99.00", lessons=3), at=sh(2026, 3, 10, 18, 59))
    assert q.day_from_start == 0
    assert q.total == D("99.00")
    assert q.method == QuoteMethod.COOLING_OFF
    assert "handling_fee" not in amounts(q)


def test_trial_course_after_it_started_refunds_nothing():
    q = quote(TRIAL, facts("99.00", lessons=3), at=sh(2026, 3, 10, 19))
    assert q.day_from_start == 1
    assert q.total == D("0.00")
    assert_consistent(q)


# --- Each piece alone -------------------------------------------------------------------------


def test_a_policy_without_pieces_refunds_the_amount_paid():
    q = quote(PolicyTerms(), facts("123.45"))
    assert q.total == D("123.45")
    assert [line.kind for line in q.lines] == ["paid"]


def test_cooling_off_skips_the_consumption_deduction_inside_the_window():
    terms = PolicyTerms(
        cooling_off_days=7, cooling_off_progress_ceiling=D("20"), consumption_basis=ConsumptionBasis.PER_LESSON
    )
    q = quote(terms, progress=Progress(lessons_consumed=6), at=sh(2026, 3, 7, 23, 59, 59))  # day 7, 20 %
    assert q.method == QuoteMethod.COOLING_OFF
    assert q.total == D("3000.00")
    assert q.progress_percent == D("20.00")


def test_cooling_off_does_not_apply_above_the_progress_ceiling():
    terms = PolicyTerms(
        cooling_off_days=7, cooling_off_progress_ceiling=D("20"), consumption_basis=ConsumptionBasis.PER_LESSON
    )
    q = quote(terms, progress=Progress(lessons_consumed=7), at=sh(2026, 3, 2))
    assert q.method == QuoteMethod.RULES
    assert q.total == D("2300.00")


def test_cooling_off_does_not_apply_after_the_window():
    terms = PolicyTerms(
        cooling_off_days=7, cooling_off_progress_ceiling=D("20"), consumption_basis=ConsumptionBasis.PER_LESSON
    )
    q = quote(terms, progress=Progress(lessons_consumed=1), at=sh(2026, 3, 8))  # day 8 from purchase
    assert q.method == QuoteMethod.RULES
    assert q.total == D("2900.00")


def test_cooling_off_counted_from_the_course_start():
    terms = PolicyTerms(
        cooling_off_days=7,
        cooling_off_anchor=DayAnchor.COURSE_START,
        cooling_off_progress_ceiling=D("10"),
        tiers=(TierTerms(1, None, D("0")),),
    )
    # Day 15 after purchase but day 7 after the start (March 10): still inside.
    assert quote(terms, at=sh(2026, 3, 16, 23)).total == D("3000.00")
    assert quote(terms, at=sh(2026, 3, 17)).total == D("0.00")


@pytest.mark.parametrize(
    ("day", "expected"),
    [(1, "1999.00"), (7, "1999.00"), (8, "1599.20"), (15, "1599.20"), (16, "999.50"), (30, "999.50"), (31, "0.00")],
)
def test_time_tiers_by_day(day, expected):
    at = sh(2026, 3, 1, 12) + (sh(2026, 3, 2) - sh(2026, 3, 1)) * (day - 1)
    q = quote(PolicyTerms(tiers=SEED_TIERS), facts("1999.00"), at=at)
    assert q.day_from_purchase == day
    assert q.total == D(expected)


@pytest.mark.parametrize(
    ("basis", "progress", "count_replays", "used"),
    [
        (ConsumptionBasis.PER_LESSON, Progress(lessons_consumed=10, lessons_watched=20), False, 10),
        (ConsumptionBasis.WATCHED, Progress(lessons_consumed=10, lessons_watched=20), False, 20),
        (ConsumptionBasis.LIVE, Progress(live_sessions_attended=5, replays_watched=4), False, 5),
        (ConsumptionBasis.LIVE, Progress(live_sessions_attended=5, replays_watched=4), True, 9),
        (ConsumptionBasis.HOURS, Progress(lessons_consumed=3, lessons_watched=25), False, 3),
    ],
)
def test_consumption_counts_the_units_of_its_basis(basis, progress, count_replays, used):
    terms = PolicyTerms(consumption_basis=basis, count_replays=count_replays)
    q = quote(terms, facts("3000.00", lessons=30), progress=progress)
    assert q.units_consumed == used
    assert amounts(q)["consumption"] == -D(100 * used)
    assert q.total == D(3000 - 100 * used)


def test_consumption_never_counts_more_than_the_course_has():
    q = quote(PolicyTerms(consumption_basis=ConsumptionBasis.WATCHED), progress=Progress(lessons_watched=45))
    assert q.units_consumed == 30
    assert q.total == D("0.00")


def test_everything_consumed_refunds_nothing():
    q = quote(PolicyTerms(consumption_basis=ConsumptionBasis.PER_LESSON), progress=Progress(lessons_consumed=30))
    assert q.total == D("0.00")
    assert amounts(q)["consumption"] == D("-3000.00")


def test_handling_fee_alone():
    with translation.override("en"):
        q = quote(PolicyTerms(handling_fee_percent=D("10")), facts("1999.00"))
    assert amounts(q)["handling_fee"] == D("-199.90")
    assert q.total == D("1799.10")
    assert q.lines[1].label == "Handling fee 10%"


def test_each_line_is_rounded_half_up_once():
    q = quote(PolicyTerms(handling_fee_percent=D("50")), facts("1.05"))  # 0.525 -> 0.53
    assert amounts(q)["handling_fee"] == D("-0.53")
    assert q.total == D("0.52")
    q = quote(PolicyTerms(consumption_basis=ConsumptionBasis.PER_LESSON), facts("2000.00", lessons=3),
              progress=Progress(lessons_consumed=1))  # fmt: skip
    assert amounts(q)["consumption"] == D("-666.67")
    assert q.total == D("1333.33")


def test_materials_are_deducted_as_a_fixed_amount():
    q = quote(PolicyTerms(materials_fee=D("300.00"), materials_description="纸质教材"), facts("3000.00"))
    assert amounts(q)["materials"] == D("-300.00")
    assert q.total == D("2700.00")


def test_materials_never_take_the_amount_below_zero():
    terms = PolicyTerms(materials_fee=D("300.00"), consumption_basis=ConsumptionBasis.PER_LESSON)
    q = quote(terms, facts("300.00", lessons=3), progress=Progress(lessons_consumed=2))
    assert amounts(q)["materials"] == D("-100.00")
    assert q.total == D("0.00")
    assert_consistent(q)


def test_all_rule_pieces_combine_in_order():
    terms = PolicyTerms(
        tiers=SEED_TIERS,
        consumption_basis=ConsumptionBasis.PER_LESSON,
        handling_fee_percent=D("10"),
        materials_fee=D("100.00"),
    )
    q = quote(terms, facts("3000.00"), progress=Progress(lessons_consumed=12), at=sh(2026, 3, 10, 12))
    assert [line.kind for line in q.lines] == ["paid", "consumption", "time_tier", "handling_fee", "materials"]
    assert amounts(q) == {
        "paid": D("3000.00"),
        "consumption": D("-1200.00"),
        "time_tier": D("-360.00"),  # 20 % of 1800.00
        "handling_fee": D("-144.00"),  # 10 % of 1440.00
        "materials": D("-100.00"),
    }
    assert q.total == D("1196.00")
    assert_consistent(q)


def test_cooling_off_with_fee_and_materials():
    terms = PolicyTerms(
        cooling_off_days=14,
        cooling_off_progress_ceiling=D("30"),
        consumption_basis=ConsumptionBasis.PER_LESSON,
        tiers=SEED_TIERS,
        handling_fee_percent=D("5"),
        materials_fee=D("50.00"),
    )
    q = quote(terms, facts("1000.00", lessons=10), progress=Progress(lessons_consumed=3), at=sh(2026, 3, 14, 22))
    assert [line.kind for line in q.lines] == ["paid", "cooling_off", "handling_fee", "materials"]
    assert q.total == D("900.00")


# --- Special reasons --------------------------------------------------------------------------

ILLNESS = SpecialRuleTerms(reason="illness", evidence="医院诊断证明")


def test_a_special_rule_replaces_the_window_and_the_tiers():
    terms = PolicyTerms(
        tiers=SEED_TIERS,
        consumption_basis=ConsumptionBasis.PER_LESSON,
        handling_fee_percent=D("10"),
        special_rules=(ILLNESS,),
    )
    at = sh(2026, 5, 1)  # day 62: the tiers would refund nothing
    q = quote(terms, progress=Progress(lessons_consumed=12), at=at, reason="illness")
    assert q.method == QuoteMethod.SPECIAL_RULE
    assert amounts(q) == {
        "paid": D("3000.00"),
        "consumption": D("-1200.00"),
        "special_rule": D("0.00"),
        "handling_fee": D("0.00"),  # waived
    }
    assert q.total == D("1800.00")
    assert q.evidence_required == "医院诊断证明"
    assert quote(terms, progress=Progress(lessons_consumed=12), at=at, reason="other").total == D("0.00")


def test_a_special_rule_with_its_own_percentage_and_fee():
    rule = SpecialRuleTerms(reason="relocation", percent=D("50"), waive_handling_fee=False, evidence="签证")
    terms = PolicyTerms(handling_fee_percent=D("10"), special_rules=(rule,))
    q = quote(terms, facts("2000.00"), reason="relocation")
    assert amounts(q) == {"paid": D("2000.00"), "special_rule": D("-1000.00"), "handling_fee": D("-100.00")}
    assert q.total == D("900.00")


def test_a_special_rule_may_ignore_consumption_and_waive_materials():
    rule = SpecialRuleTerms(reason="quality", ignore_consumption=True, waive_materials_fee=True, evidence="录屏")
    terms = PolicyTerms(consumption_basis=ConsumptionBasis.WATCHED, materials_fee=D("200.00"), special_rules=(rule,))
    q = quote(terms, progress=Progress(lessons_watched=29), reason="quality")
    assert "consumption" not in amounts(q)
    assert amounts(q)["materials"] == D("0.00")
    assert q.total == D("3000.00")


# --- By contract ------------------------------------------------------------------------------


def test_by_contract_leaves_the_amount_to_the_approver():
    q = quote(PolicyTerms(mode=PolicyMode.CONTRACT), facts("50000.00", refunded="10000.00"))
    assert q.needs_approver_amount is True
    assert q.method == QuoteMethod.CONTRACT
    assert q.total == D("0.00")
    assert q.refundable == D("40000.00")
    assert [line.kind for line in q.lines] == ["paid", "refunded", "contract"]
    assert_consistent(q)


# --- Earlier refunds and refunds in flight ----------------------------------------------------


def test_an_earlier_refund_is_subtracted_from_the_entitlement():
    terms = PolicyTerms(consumption_basis=ConsumptionBasis.PER_LESSON)
    q = quote(terms, facts("3000.00", refunded="500.00"), progress=Progress(lessons_consumed=12))
    assert amounts(q)["refunded"] == D("-500.00")
    assert q.total == D("1300.00")
    assert q.refundable == D("2500.00")


def test_money_in_flight_is_subtracted_too():
    q = quote(PolicyTerms(), facts("3000.00", refunded="500.00"), in_flight="700.00")
    assert amounts(q)["in_flight"] == D("-700.00")
    assert q.total == D("1800.00") == q.refundable


def test_the_total_is_raised_to_zero_when_earlier_refunds_exceed_the_entitlement():
    terms = PolicyTerms(consumption_basis=ConsumptionBasis.PER_LESSON)
    q = quote(terms, facts("3000.00", refunded="2000.00"), progress=Progress(lessons_consumed=20))
    assert amounts(q)["floor"] == D("1000.00")
    assert q.total == D("0.00")
    assert_consistent(q)


# --- Days -------------------------------------------------------------------------------------


def test_the_purchase_day_is_day_1_and_day_8_starts_at_midnight_in_shanghai():
    paid = sh(2026, 3, 1, 23, 50)
    assert day_number(anchor=paid, at=sh(2026, 3, 1, 23, 59)) == 1
    assert day_number(anchor=paid, at=sh(2026, 3, 2, 0, 0)) == 2
    assert day_number(anchor=paid, at=sh(2026, 3, 7, 23, 59, 59, 999999)) == 7
    assert day_number(anchor=paid, at=sh(2026, 3, 8, 0, 0)) == 8


def test_days_are_shanghai_calendar_days_whatever_the_datetimes_zone():
    import datetime

    paid = datetime.datetime(2026, 3, 1, 16, 30, tzinfo=datetime.UTC)  # 00:30 on March 2 in Shanghai
    assert day_number(anchor=paid, at=sh(2026, 3, 2, 23, 59)) == 1
    assert day_number(anchor=paid, at=datetime.datetime(2026, 3, 2, 16, 0, tzinfo=datetime.UTC)) == 2


def test_seven_day_tier_boundary_at_midnight():
    terms = PolicyTerms(tiers=(TierTerms(1, 7, D("100")), TierTerms(8, None, D("0"))))
    order = facts("1000.00", paid_at=sh(2026, 3, 1, 21))
    assert quote(terms, order, at=sh(2026, 3, 7, 23, 59, 59, 999999)).total == D("1000.00")
    assert quote(terms, order, at=sh(2026, 3, 8, 0, 0)).total == D("0.00")


def test_cooling_off_boundary_at_midnight_counted_from_the_course_start():
    start = sh(2026, 3, 10, 19)
    order = facts("2000.00", starts_at=start)
    day7 = quote(REGULAR, order, at=sh(2026, 3, 16, 23, 59, 59))
    day8 = quote(REGULAR, order, at=sh(2026, 3, 17, 0, 0))
    assert (day7.day_from_start, day7.total) == (7, D("1800.00"))
    assert (day8.day_from_start, day8.total) == (8, D("0.00"))


def test_a_course_not_started_is_day_0_and_in_the_first_tier():
    terms = PolicyTerms(
        tier_anchor=DayAnchor.COURSE_START, tiers=(TierTerms(1, 7, D("90")), TierTerms(8, None, D("0")))
    )
    with translation.override("en"):
        q = quote(terms, facts("1000.00"), at=STARTS_AT - (sh(2026, 3, 2) - sh(2026, 3, 1)))
    assert q.day_from_start == 0
    assert q.total == D("900.00")
    assert q.lines[1].explanation.startswith("Before the course starts: the tier of days 1–7 applies")


def test_a_course_not_started_is_inside_a_window_counted_from_the_start():
    q = quote(REGULAR, facts("2000.00"), at=sh(2026, 3, 2))
    assert q.day_from_start == 0
    assert q.method == QuoteMethod.COOLING_OFF
    assert q.total == D("1800.00")


# --- What-if and bad input --------------------------------------------------------------------


def test_the_estimate_replaces_the_recorded_progress():
    terms = PolicyTerms(consumption_basis=ConsumptionBasis.WATCHED)
    q = quote(terms, progress=Progress(lessons_watched=3), consumed_override=15)
    assert q.is_estimate
    assert q.units_consumed == 15
    assert q.total == D("1500.00")


@pytest.mark.parametrize("lessons", [-1, 31])
def test_the_estimate_refuses_a_number_outside_the_course(lessons):
    with pytest.raises(ValidationError) as exc:
        quote(PolicyTerms(), consumed_override=lessons)
    assert "0 to 30" in str(exc.value.message_dict["lessons"])


def test_an_unknown_reason_is_refused():
    with pytest.raises(ValidationError) as exc:
        quote(PolicyTerms(), reason="bored")
    assert "reason" in exc.value.message_dict


def test_a_naive_datetime_is_refused():
    import datetime

    with pytest.raises(ValueError, match="aware"):
        quote(PolicyTerms(), at=datetime.datetime(2026, 3, 3, 12))


# --- Explanations -----------------------------------------------------------------------------


def test_every_line_explains_itself():
    terms = PolicyTerms(tiers=SEED_TIERS, consumption_basis=ConsumptionBasis.PER_LESSON, handling_fee_percent=D("10"))
    with translation.override("en"):
        q = quote(terms, facts("3000.00", refunded="100.00"), progress=Progress(lessons_consumed=12),
                  at=sh(2026, 3, 10, 12))  # fmt: skip
    texts = [line.explanation for line in q.lines]
    assert texts[0] == "You paid 3000.00 yuan for this order."
    assert texts[1] == "You have taken 12 of 30 lessons; their share of the price, 1200.00 yuan, is deducted."
    assert texts[2] == (
        "Day 10 counted from the purchase: the tier of days 8–15 applies, refunding 80%; "
        "the other 20% of 1800.00 yuan, 360.00 yuan, is deducted."
    )
    assert "144.00" in texts[3]
    assert texts[4] == "100.00 yuan has already been refunded on this order."
    assert q.explanation == texts

"""Properties of the pure calculation over random policies, orders, progress and days."""

from __future__ import annotations

import datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from refunds.models import ConsumptionBasis, DayAnchor, PolicyMode, RefundReason, tier_set_errors
from refunds.quotes import OrderFacts, PolicyTerms, Progress, SpecialRuleTerms, TierTerms, calculate_quote

from .helpers import SH

percents = st.integers(min_value=0, max_value=10_000).map(lambda bp: Decimal(bp).scaleb(-2))
money = st.integers(min_value=0, max_value=10_000_000).map(lambda fen: Decimal(fen).scaleb(-2))
moments = st.datetimes(
    min_value=datetime.datetime(2025, 1, 1),
    max_value=datetime.datetime(2027, 12, 31),
    timezones=st.sampled_from([SH, datetime.UTC]),
)


@st.composite
def tier_sets(draw) -> tuple[TierTerms, ...]:
    """A valid tier set: from day 0 or 1, contiguous, open-ended, percentages never rising."""
    count = draw(st.integers(min_value=0, max_value=5))
    if not count:
        return ()
    start = draw(st.sampled_from([0, 1]))
    lengths = draw(st.lists(st.integers(min_value=1, max_value=40), min_size=count - 1, max_size=count - 1))
    pcts = sorted(draw(st.lists(percents, min_size=count, max_size=count)), reverse=True)
    tiers = []
    for length, pct in zip([*lengths, None], pcts, strict=True):
        end = None if length is None else start + length - 1
        tiers.append(TierTerms(start, end, pct))
        start = (end or 0) + 1
    return tuple(tiers)


special_rules = st.builds(
    SpecialRuleTerms,
    reason=st.sampled_from(RefundReason.values),
    percent=percents,
    ignore_consumption=st.booleans(),
    waive_handling_fee=st.booleans(),
    waive_materials_fee=st.booleans(),
    evidence=st.just("证明材料"),
)


@st.composite
def policies(draw) -> PolicyTerms:
    has_window = draw(st.booleans())
    rules = draw(st.lists(special_rules, max_size=3, unique_by=lambda r: r.reason))
    return PolicyTerms(
        policy_id=1,
        mode=draw(st.sampled_from([PolicyMode.RULES] * 5 + [PolicyMode.CONTRACT])),
        cooling_off_days=draw(st.integers(min_value=0, max_value=30)) if has_window else None,
        cooling_off_anchor=draw(st.sampled_from(DayAnchor.values)),
        cooling_off_progress_ceiling=draw(percents) if has_window else None,
        tier_anchor=draw(st.sampled_from(DayAnchor.values)),
        tiers=draw(tier_sets()),
        consumption_basis=draw(st.sampled_from(ConsumptionBasis.values)),
        count_replays=draw(st.booleans()),
        handling_fee_percent=draw(percents),
        materials_fee=draw(st.integers(min_value=0, max_value=500_000).map(lambda fen: Decimal(fen).scaleb(-2))),
        special_rules=tuple(rules),
    )


@st.composite
def orders(draw) -> OrderFacts:
    paid = draw(money)
    refunded = draw(st.integers(min_value=0, max_value=int(paid * 100)).map(lambda fen: Decimal(fen).scaleb(-2)))
    paid_at = draw(moments)
    return OrderFacts(
        amount_paid=paid,
        paid_at=paid_at,
        course_starts_at=paid_at + datetime.timedelta(minutes=draw(st.integers(-60 * 24 * 60, 60 * 24 * 60))),
        lessons=draw(st.integers(min_value=1, max_value=200)),
        refunded=refunded,
        order_id=1,
    )


progresses = st.builds(
    Progress,
    lessons_consumed=st.integers(0, 250),
    lessons_watched=st.integers(0, 250),
    live_sessions_attended=st.integers(0, 250),
    replays_watched=st.integers(0, 250),
)
reasons = st.sampled_from(RefundReason.values)
offsets = st.integers(min_value=-10 * 24 * 3600, max_value=400 * 24 * 3600).map(lambda s: datetime.timedelta(seconds=s))


def _quote(terms, order, progress, reason, at, in_flight=Decimal("0.00"), consumed_override=None):
    return calculate_quote(
        terms=terms,
        order=order,
        progress=progress,
        reason=reason,
        at=at,
        in_flight=in_flight,
        consumed_override=consumed_override,
    )


@settings(max_examples=200, deadline=None)
@given(policies(), orders(), progresses, reasons, offsets, money)
def test_lines_sum_to_a_total_between_zero_and_what_is_refundable(terms, order, progress, reason, offset, flight):
    q = _quote(terms, order, progress, reason, order.paid_at + offset, in_flight=flight)
    assert sum((line.amount for line in q.lines), Decimal("0.00")) == q.total
    assert Decimal("0.00") <= q.total <= q.refundable
    assert q.refundable == max(Decimal("0.00"), order.amount_paid - order.refunded - flight)
    assert all(line.amount.as_tuple().exponent == -2 for line in q.lines)
    assert q.lines[0].amount == order.amount_paid
    assert q.needs_approver_amount == (terms.mode == PolicyMode.CONTRACT)


@settings(max_examples=200, deadline=None)
@given(policies(), orders(), reasons, offsets, st.data())
def test_more_consumption_never_gives_more_money(terms, order, reason, offset, data):
    less = data.draw(st.integers(min_value=0, max_value=order.lessons))
    more = data.draw(st.integers(min_value=less, max_value=order.lessons))
    at = order.paid_at + offset
    low = _quote(terms, order, Progress(), reason, at, consumed_override=more)
    high = _quote(terms, order, Progress(), reason, at, consumed_override=less)
    assert low.total <= high.total


@settings(max_examples=200, deadline=None)
@given(policies(), orders(), progresses, reasons, offsets, offsets)
def test_a_later_day_never_gives_more_money(terms, order, progress, reason, first, second):
    earlier, later = sorted([first, second])
    at_earlier = order.paid_at + earlier
    at_later = order.paid_at + later
    assert (
        _quote(terms, order, progress, reason, at_later).total
        <= _quote(terms, order, progress, reason, at_earlier).total
    )


@given(tier_sets())
def test_generated_tier_sets_are_valid_policy_tiers(tiers):
    assert tier_set_errors([(t.from_day, t.to_day, t.percent) for t in tiers]) == []

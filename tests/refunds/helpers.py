"""Builders for the refund tests: policy terms for the pure calculation, policies in the database."""

from __future__ import annotations

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from refunds.models import RefundPolicy, RefundSpecialRule, RefundTier
from refunds.quotes import OrderFacts, PolicyTerms, Progress, Quote, TierTerms, calculate_quote

SH = ZoneInfo("Asia/Shanghai")

SEED_TIERS = (
    TierTerms(1, 7, Decimal("100")),
    TierTerms(8, 15, Decimal("80")),
    TierTerms(16, 30, Decimal("50")),
    TierTerms(31, None, Decimal("0")),
)


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0):
    """An aware datetime on the Asia/Shanghai wall clock."""
    return datetime.datetime(year, month, day, hour, minute, second, micro, tzinfo=SH)


PAID_AT = sh(2026, 3, 1, 10)
STARTS_AT = sh(2026, 3, 10, 19)


def facts(
    amount: str = "3000.00",
    *,
    lessons: int = 30,
    refunded: str = "0.00",
    paid_at: datetime.datetime = PAID_AT,
    starts_at: datetime.datetime = STARTS_AT,
) -> OrderFacts:
    return OrderFacts(
        amount_paid=Decimal(amount),
        paid_at=paid_at,
        course_starts_at=starts_at,
        lessons=lessons,
        refunded=Decimal(refunded),
        order_id=None,
    )


def quote(
    terms: PolicyTerms | None = None,
    order: OrderFacts | None = None,
    *,
    progress: Progress | None = None,
    reason: str = "other",
    at: datetime.datetime | None = None,
    in_flight: str = "0.00",
    consumed_override: int | None = None,
) -> Quote:
    return calculate_quote(
        terms=terms or PolicyTerms(),
        order=order or facts(),
        progress=progress or Progress(),
        reason=reason,
        at=at or sh(2026, 3, 3, 12),
        in_flight=Decimal(in_flight),
        consumed_override=consumed_override,
    )


def amounts(q: Quote) -> dict[str, Decimal]:
    return {line.kind: line.amount for line in q.lines}


def make_policy(
    *,
    course_type: str = "",
    course=None,
    tiers: tuple[tuple[int, int | None, str], ...] = (),
    special_rules: tuple[dict, ...] = (),
    **fields,
) -> RefundPolicy:
    """A saved, active policy; an active policy already covering the same scope is deactivated."""
    scope = RefundPolicy.objects.filter(is_active=True)
    if course is not None:
        scope.filter(course=course).update(is_active=False)
    else:
        scope.filter(course__isnull=True, course_type=course_type).update(is_active=False)
    fields.setdefault("name", f"policy for {course or course_type}")
    policy = RefundPolicy.objects.create(course_type="" if course else course_type, course=course, **fields)
    for from_day, to_day, percent in tiers:
        RefundTier.objects.create(policy=policy, from_day=from_day, to_day=to_day, percent=Decimal(percent))
    for rule in special_rules:
        RefundSpecialRule.objects.create(policy=policy, **rule)
    return policy

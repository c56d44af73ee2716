"""Quoting: what an order would get back (and the what-if estimate), and keeping a quote's snapshot."""

from __future__ import annotations

import datetime

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.models import Course, Order

from ..models import QuoteSnapshot, QuoteSnapshotLine, RefundPolicy
from ..quotes import OrderFacts, PolicyTerms, Progress, Quote, SpecialRuleTerms, TierTerms, calculate_quote
from ..selectors import refund_in_flight_total, refund_policy_for_course


class RefundPolicyMissing(Exception):
    """No active refund policy covers the order's course (nor its course type)."""

    def __init__(self, course: Course) -> None:
        super().__init__(_("No active refund policy applies to the course “%(course)s”.") % {"course": course})


def refund_quote(
    *,
    order: Order,
    reason: str,
    at: datetime.datetime | None = None,
    consumed_override: int | None = None,
    policy: RefundPolicy | None = None,
) -> Quote:
    """What ``order`` would get back for ``reason`` at ``at`` (now by default).

    Three queries when ``order`` comes with ``course``, ``enrollment`` and the in-flight sum
    loaded (``orders_with_in_flight``): the policy, its tiers, its special rules; none when the
    caller passes the course's ``policy`` already loaded (lists quote many orders at once).
    Raises ``RefundPolicyMissing``, or ``ValidationError`` on ``reason`` / ``lessons``
    (``consumed_override`` outside 0..lessons).
    """
    course = order.course
    if policy is None:
        policy = refund_policy_for_course(course=course)
    if policy is None:
        raise RefundPolicyMissing(course)
    try:
        enrollment = order.enrollment
    except ObjectDoesNotExist:
        progress = Progress()
    else:
        progress = Progress(
            lessons_consumed=enrollment.lessons_consumed,
            lessons_watched=enrollment.lessons_watched,
            live_sessions_attended=enrollment.live_sessions_attended,
            replays_watched=enrollment.replays_watched,
        )
    facts = OrderFacts(
        amount_paid=order.amount_paid,
        paid_at=order.paid_at,
        course_starts_at=course.starts_at,
        lessons=course.lessons,
        refunded=order.refunded_total,
        order_id=order.pk,
        cancelled=order.is_closed,
    )
    return calculate_quote(
        terms=refund_policy_terms(policy=policy),
        order=facts,
        progress=progress,
        reason=reason,
        at=at or timezone.now(),
        in_flight=refund_in_flight_total(order=order),
        consumed_override=consumed_override,
    )


def refund_quote_estimate(*, order: Order, reason: str, lessons: int, at: datetime.datetime | None = None) -> Quote:
    """The what-if quote: "if I had used ``lessons`` lessons" (hours, sessions: the policy's unit)."""
    if isinstance(lessons, bool) or not isinstance(lessons, int) or not 0 <= lessons <= order.course.lessons:
        raise ValidationError(
            {"lessons": _("Enter a number of lessons from 0 to %(max)s.") % {"max": order.course.lessons}}
        )
    return refund_quote(order=order, reason=reason, at=at, consumed_override=lessons)


def refund_policy_terms(*, policy: RefundPolicy) -> PolicyTerms:
    """The calculation's view of a policy; reads ``tiers`` and ``special_rules`` (prefetch them)."""
    return PolicyTerms(
        policy_id=policy.pk,
        version=policy.version,
        name=policy.name,
        mode=policy.mode,
        cooling_off_days=policy.cooling_off_days,
        cooling_off_anchor=policy.cooling_off_anchor,
        cooling_off_progress_ceiling=policy.cooling_off_progress_ceiling,
        tier_anchor=policy.tier_anchor,
        tiers=tuple(
            TierTerms(from_day=t.from_day, to_day=t.to_day, percent=t.percent)
            for t in sorted(policy.tiers.all(), key=lambda t: t.from_day)
        ),
        consumption_basis=policy.consumption_basis,
        count_replays=policy.count_replays,
        handling_fee_percent=policy.handling_fee_percent,
        materials_fee=policy.materials_fee,
        materials_description=policy.materials_description,
        special_rules=tuple(
            SpecialRuleTerms(
                reason=r.reason,
                percent=r.percent,
                ignore_consumption=r.ignore_consumption,
                waive_handling_fee=r.waive_handling_fee,
                waive_materials_fee=r.waive_materials_fee,
                evidence=r.evidence,
            )
            for r in policy.special_rules.all()
        ),
        notify_channels=tuple(policy.notify_channels or ()),
    )


@transaction.atomic
def quote_snapshot_create(*, quote: Quote) -> QuoteSnapshot:
    """Keep ``quote`` as it is now: totals, lines, inputs and a copy of the policy terms used."""
    if quote.order_id is None or quote.policy_id is None:
        raise ValueError("Only a quote of a saved order under a saved policy can be kept.")
    snapshot = QuoteSnapshot.objects.create(
        order_id=quote.order_id,
        policy_id=quote.policy_id,
        policy_version=quote.policy_version,
        policy_name=quote.policy_name,
        policy_terms=quote.terms.as_dict(),
        reason=quote.reason,
        method=quote.method,
        total=quote.total,
        refundable=quote.refundable,
        needs_approver_amount=quote.needs_approver_amount,
        is_estimate=quote.is_estimate,
        evidence_required=quote.evidence_required,
        quoted_at=quote.at,
        day_from_purchase=quote.day_from_purchase,
        day_from_start=quote.day_from_start,
        consumption_basis=quote.terms.consumption_basis,
        units_consumed=quote.units_consumed,
        lessons=quote.lessons,
        progress_percent=quote.progress_percent,
        amount_paid=quote.amount_paid,
        refunded_before=quote.refunded,
        in_flight=quote.in_flight,
        notify_channels=list(quote.notify_channels),
    )
    QuoteSnapshotLine.objects.bulk_create(
        QuoteSnapshotLine(
            snapshot=snapshot,
            position=position,
            kind=line.kind,
            label=line.label,
            amount=line.amount,
            formula=line.formula,
            explanation=line.explanation,
        )
        for position, line in enumerate(quote.lines, start=1)
    )
    return snapshot

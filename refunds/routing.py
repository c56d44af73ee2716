"""Approval routes: which tiers a refund request passes, in order. Pure rules, no database.

Default routes by amount (each campus sets its thresholds in ``ApprovalSettings``):

- below ``small_below`` (500): homeroom teacher -> automatic check -> approved, finance pays;
- ``small_below`` to ``large_above`` (500-2000, both ends included): homeroom -> supervisor -> finance;
- above ``large_above`` (2000): homeroom -> supervisor -> campus head -> finance.

Complaints about quality or content go to quality review first. A request that a person must
review (high-risk student, repeated refunds) never takes the automatic check: it gets the
500-2000 route at least. Contract courses are routed by the most they could refund.
"""

from __future__ import annotations

from decimal import Decimal

from django.utils.translation import gettext

from .models import ApprovalTier, RefundReason

QUALITY_REASONS = frozenset({RefundReason.QUALITY, RefundReason.CONTENT_MISMATCH})
HUMAN_ROUTE_TAIL = (ApprovalTier.SUPERVISOR, ApprovalTier.FINANCE)
# The order tiers come in on every route ``route_for`` makes.
TIER_ORDER = (
    ApprovalTier.SERVICE,
    ApprovalTier.QUALITY,
    ApprovalTier.HOMEROOM,
    ApprovalTier.AUTO,
    ApprovalTier.SUPERVISOR,
    ApprovalTier.CAMPUS_HEAD,
    ApprovalTier.FINANCE,
)
# Who is "above" whom when an appeal goes one tier up.
APPEAL_TIER: dict[str, ApprovalTier] = {
    ApprovalTier.SERVICE: ApprovalTier.SUPERVISOR,
    ApprovalTier.HOMEROOM: ApprovalTier.SUPERVISOR,
    ApprovalTier.QUALITY: ApprovalTier.SUPERVISOR,
    ApprovalTier.AUTO: ApprovalTier.SUPERVISOR,
    ApprovalTier.SUPERVISOR: ApprovalTier.CAMPUS_HEAD,
    ApprovalTier.CAMPUS_HEAD: ApprovalTier.CAMPUS_HEAD,
    ApprovalTier.FINANCE: ApprovalTier.CAMPUS_HEAD,
}


def route_for(
    *, amount: Decimal, reason: str, small_below: Decimal, large_above: Decimal, needs_person: bool
) -> list[str]:
    """The tiers a request of ``amount`` for ``reason`` passes, in order."""
    route: list[str] = [ApprovalTier.QUALITY] if reason in QUALITY_REASONS else []
    route.append(ApprovalTier.HOMEROOM)
    if amount < small_below and not needs_person:
        route.append(ApprovalTier.AUTO)
    elif amount <= large_above:
        route += [ApprovalTier.SUPERVISOR, ApprovalTier.FINANCE]
    else:
        route += [ApprovalTier.SUPERVISOR, ApprovalTier.CAMPUS_HEAD, ApprovalTier.FINANCE]
    return [str(tier) for tier in route]


def route_for_exchange(*, difference: Decimal, head_above: Decimal) -> list[str]:
    """The tiers of a course exchange (seed 004: customer service reviews first, the teaching
    supervisor approves); the campus head too when the money to refund or to pay is above
    ``head_above``. No automatic check: a person looks at every exchange."""
    route = [ApprovalTier.SERVICE, ApprovalTier.SUPERVISOR]
    if difference > head_above:
        route.append(ApprovalTier.CAMPUS_HEAD)
    return [str(tier) for tier in route]


def route_extend(*, route: list[str], position: int, wanted: list[str]) -> list[str]:
    """``route`` with the tiers of ``wanted`` that it lacks added after ``position``.

    Used when an approver raises the amount past a threshold: the tiers already passed stay,
    the missing ones are added where they belong (``TIER_ORDER``), and the automatic check is dropped
    once a person-only route is wanted. A route never gets shorter, and never gains the
    automatic check: a lowered amount keeps the people it already has.
    """
    done, ahead = route[: position + 1], route[position + 1 :]
    if ApprovalTier.AUTO not in wanted:
        ahead = [tier for tier in ahead if tier != ApprovalTier.AUTO]
    for tier in wanted:
        if tier not in done and tier not in ahead and tier != ApprovalTier.AUTO:
            ahead.append(tier)
    ahead.sort(key=TIER_ORDER.index)
    return done + ahead


def route_after_auto_referral(*, route: list[str], position: int) -> list[str]:
    """The automatic check at ``position`` asked for a person: supervisor, then finance."""
    return route[: position + 1] + [str(tier) for tier in HUMAN_ROUTE_TAIL]


def route_for_appeal(*, route: list[str], position: int) -> tuple[list[str], int]:
    """The route after an appeal of a rejection at ``position``, and the appeal tier's position.

    The appeal goes to the tier above the one that rejected; the tiers above it still ahead stay
    (never the automatic check: a person decides an appeal), and finance always closes it.
    """
    rejected_tier = route[position]
    appeal_tier = str(APPEAL_TIER[rejected_tier])
    above = TIER_ORDER.index(appeal_tier)
    # Only tiers above the appeal's: the people below it would review a decision made over them.
    rest = [tier for tier in route[position + 1 :] if tier != ApprovalTier.AUTO and TIER_ORDER.index(tier) > above]
    if ApprovalTier.FINANCE not in rest:
        rest.append(str(ApprovalTier.FINANCE))
    return route[: position + 1] + [appeal_tier, *rest], position + 1


def route_step_words(*, route: list[str], position: int) -> str:
    """ "Step 2 of 3: teaching supervisor review" for a request at ``position`` of ``route``;
    "—" once it has passed every step (or never had one)."""
    if not 0 <= position < len(route):
        return "—"
    return gettext("Step %(n)d of %(total)d: %(tier)s") % {
        "n": position + 1,
        "total": len(route),
        "tier": ApprovalTier(route[position]).label,
    }

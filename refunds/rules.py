"""Refunds' decision rules, each written once: who may decide a request's step now, which of the
student's actions are open, how much money an approver may give back.

Pure: every function reads only the objects it is given and the time it is told (no query, no
clock). The services call them after taking their locks, and refuse with the ``Refusal`` they
return; the admin and the student's pages call them on loaded data to choose their buttons and
say why one is missing. A page and a service therefore never disagree about a rule.

A ``Refusal`` is a message for the person who tried and a ``code`` for code and tests (the codes
of ``RefundActionError``).
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.utils import timezone
from django.utils.translation import gettext as _

from orders.models import Order
from schoolops.models import Staff, StaffRole

from .models import (
    PENDING_STATES,
    ApprovalSettings,
    ApprovalStep,
    ApprovalTier,
    RefundRequest,
    RefundStatus,
    RequestKind,
    StepDecision,
)

# Who works a tier when no one person is assigned (a pool), or who is looked for at the campus.
TIER_ROLE: dict[str, StaffRole] = {
    ApprovalTier.SERVICE: StaffRole.SERVICE,
    ApprovalTier.HOMEROOM: StaffRole.HOMEROOM,
    ApprovalTier.QUALITY: StaffRole.QUALITY,
    ApprovalTier.SUPERVISOR: StaffRole.SUPERVISOR,
    ApprovalTier.CAMPUS_HEAD: StaffRole.CAMPUS_HEAD,
    ApprovalTier.FINANCE: StaffRole.FINANCE,
}
POOL_TIERS = frozenset({ApprovalTier.SERVICE, ApprovalTier.QUALITY, ApprovalTier.FINANCE})
# The decisions that bar their author from deciding another tier of the same request.
BARRING_DECISIONS = frozenset({StepDecision.APPROVED, StepDecision.REJECTED})


@dataclass(frozen=True)
class Refusal:
    """Why an action is refused: ``message`` for the person, ``code`` for code and tests."""

    message: str
    code: str


# --- Who may decide a step --------------------------------------------------------------------


@dataclass(frozen=True)
class DecisionRight:
    """``staff`` may decide ``step`` now; ``as_delegate`` when standing in for its assignee."""

    step: ApprovalStep
    as_delegate: bool


def step_can_act(*, step: ApprovalStep, staff: Staff, on: datetime.date) -> tuple[bool, bool]:
    """Whether ``staff`` may decide ``step`` on day ``on``, and whether as the assignee's delegate.

    The assignee; their active delegate; the person the step was escalated to; for a pool tier
    (no assignee), anyone of the tier's role. Always of the request's campus (``step.request``).
    """
    if staff.campus_id != step.request.campus_id or not staff.user.is_active:
        return False, False
    if step.escalated_to_id == staff.pk:
        return True, False
    if step.assignee_id is None:
        return staff.role == TIER_ROLE[step.tier], False
    if step.assignee_id == staff.pk:
        return True, False
    assignee = step.assignee
    delegate = assignee.active_delegate(on) if assignee is not None else None
    if delegate is not None and delegate.pk == staff.pk:
        return True, True
    return False, False


def decisions_by(staff: Staff, steps: Iterable[ApprovalStep]) -> frozenset[str]:
    """The decisions ``staff`` took among ``steps`` (a request's loaded steps)."""
    return frozenset(step.decision for step in steps if step.decided_by_id == staff.pk)


def not_staff() -> Refusal:
    """Only active staff decide refund requests."""
    return Refusal(_("Only staff can decide refund requests."), "forbidden")


def no_pending_step() -> Refusal:
    """A request in review whose step is not there (decided meanwhile, or never opened)."""
    return Refusal(_("This request has no step waiting for a decision."), "state")


def separation_refusal(*, request: RefundRequest, staff: Staff, decisions: Collection[str]) -> Refusal | None:
    """Nobody decides their own request, approves two tiers of one request, or decides the appeal
    of their own rejection. ``decisions``: what ``staff`` decided on this request before."""
    if request.student.user_id == staff.user_id:
        return Refusal(_("You cannot decide your own refund request."), "own")
    if StepDecision.APPROVED in decisions:
        return Refusal(_("You approved another tier of this request; a second person must decide this one."), "twice")
    if StepDecision.REJECTED in decisions and request.appealed_at is not None:
        return Refusal(_("You rejected this request; its appeal goes to someone else."), "twice")
    return None


def decision_right(
    *,
    request: RefundRequest,
    staff: Staff | None,
    step: ApprovalStep | None,
    decisions: Collection[str],
    on: datetime.date,
) -> DecisionRight | Refusal:
    """Whether ``staff`` may decide the current tier of ``request`` on day ``on`` (approve, reject,
    return, adjust the amount), or why not.

    ``step`` is the request's pending step (``step.request`` is ``request``), None when it has
    none; ``decisions`` what ``staff`` decided on this request before (``decisions_by``).
    """
    if staff is None or not staff.user.is_active:
        return not_staff()
    if request.status not in PENDING_STATES:
        return Refusal(
            _("This request is not waiting for approval (it is %(status)s).")
            % {"status": request.get_status_display()},
            "state",
        )
    if step is None:
        return no_pending_step()
    allowed, as_delegate = step_can_act(step=step, staff=staff, on=on)
    if not allowed:
        return Refusal(
            _("%(tier)s of this request is not yours to decide.") % {"tier": step.get_tier_display()}, "forbidden"
        )
    refusal = separation_refusal(request=request, staff=staff, decisions=decisions)
    if refusal is not None:
        return refusal
    return DecisionRight(step=step, as_delegate=as_delegate)


def decision_refusal(
    *,
    request: RefundRequest,
    staff: Staff | None,
    step: ApprovalStep | None,
    decisions: Collection[str],
    on: datetime.date,
) -> Refusal | None:
    """Why ``staff`` may not decide the current tier of ``request`` now; None when they may."""
    right = decision_right(request=request, staff=staff, step=step, decisions=decisions, on=on)
    return right if isinstance(right, Refusal) else None


def is_last_person(request: RefundRequest) -> bool:
    """Whether the current tier is the last person on the route (only the automatic check may follow)."""
    return all(tier == ApprovalTier.AUTO for tier in request.route[request.route_position + 1 :])


def direct_approval_refusal(*, request: RefundRequest, staff: Staff, service_limit: Decimal) -> Refusal | None:
    """Customer service's refund desk: a pending, unflagged request up to the campus's limit may be
    approved outright by customer service (whatever tier it waits at); above it, the normal route."""
    if staff.role != StaffRole.SERVICE:
        return Refusal(_("Only customer service may approve a request directly."), "forbidden")
    if request.kind == RequestKind.EXCHANGE:
        # Its route starts with customer service's own review: skipping the tiers after it would
        # leave the teaching supervisor (and the campus head) out of an exchange.
        return Refusal(
            _(
                "A course exchange is not approved directly: customer service reviews it as the first step of "
                "its route."
            ),
            "exchange",
        )
    if request.status not in PENDING_STATES:
        return Refusal(_("This request is not waiting for approval."), "state")
    if request.approved_amount > service_limit:
        return Refusal(
            _(
                "Customer service may approve up to %(limit)s yuan; this request is for %(amount)s yuan, so it "
                "takes the normal route."
            )
            % {"limit": service_limit, "amount": request.approved_amount},
            "limit",
        )
    if request.risk_flags:
        return Refusal(_("A person on the route must review this request: it is flagged."), "risk")
    return amount_unset_refusal(request)


# --- Money ------------------------------------------------------------------------------------


class QuoteAmounts(Protocol):
    """What the limits read of a quote: a computed ``Quote`` or a stored ``QuoteSnapshot``."""

    @property
    def total(self) -> Decimal: ...
    @property
    def refundable(self) -> Decimal: ...
    @property
    def needs_approver_amount(self) -> bool: ...


def order_refusal(order: Order) -> Refusal | None:
    """Nothing on an order the school's order system cancelled is refunded here (it was voided
    there); every other order is quoted."""
    if order.is_cancelled:
        return Refusal(
            _("Order %(order)s was cancelled, so there is nothing to refund on it.") % {"order": order.order_no},
            "cancelled",
        )
    if order.is_exchanged:
        return Refusal(
            _("Order %(order)s was exchanged for another course; ask about the new course's order instead.")
            % {"order": order.order_no},
            "exchanged",
        )
    return None


def quote_limit(quote: QuoteAmounts) -> Decimal:
    """The most a request on ``quote`` may ask for: its total, or, when the approver sets the
    amount (contract courses), everything the order still has to refund."""
    return quote.refundable if quote.needs_approver_amount else quote.total


def apply_refusal(quote: QuoteAmounts) -> Refusal | None:
    """A request (or an appeal) on ``quote`` would have nothing to refund."""
    if quote_limit(quote) <= 0:
        return Refusal(_("Nothing on this order can be refunded at the moment."), "nothing_refundable")
    return None


def adjust_limit(request: RefundRequest, *, order_left: Decimal) -> Decimal:
    """The most an approver may set: the quote's refundable amount, and never more than the order
    still has to give back today (``order_left``: paid − refunded − other requests in flight)."""
    return min(request.quote.refundable, order_left)


def adjust_amount_refusal(amount: Decimal, *, limit: Decimal) -> Refusal | None:
    """An approver's amount must lie between 0.00 and ``limit`` (``adjust_limit``)."""
    if not Decimal("0") <= amount <= limit:
        return Refusal(_("The amount must be between 0.00 and %(limit)s yuan.") % {"limit": limit}, "amount")
    return None


def amount_fixed_refusal(request: RefundRequest) -> Refusal | None:
    """A course exchange's money comes from its calculation, which the student confirmed: no
    approver changes it (they reject it, or return it for the student to look again)."""
    if request.kind == RequestKind.EXCHANGE:
        return Refusal(
            _(
                "The difference of a course exchange comes from its calculation, which the student confirmed; "
                "it cannot be adjusted. Reject or return the request instead."
            ),
            "exchange",
        )
    return None


def amount_unset_refusal(request: RefundRequest) -> Refusal | None:
    """A contract course's amount is set by an approver before the last approval."""
    if request.quote.needs_approver_amount and not request.amount_confirmed:
        return Refusal(_("This course is refunded by contract: set the amount before the last approval."), "amount")
    return None


def exceeds_order_refusal(request: RefundRequest, *, order_left: Decimal) -> Refusal | None:
    """The amount must fit in what is left on the order (others' refunds may have taken some)."""
    if request.approved_amount > order_left:
        order = request.order
        return Refusal(
            _(
                "Only %(left)s yuan is left to refund on order %(order)s (paid %(paid)s, refunded %(refunded)s); "
                "adjust the amount to at most that before approving."
            )
            % {
                "left": order_left,
                "order": order.order_no,
                "paid": order.amount_paid,
                "refunded": order.refunded_total,
            },
            "exceeds_order",
        )
    return None


def final_approval_refusal(request: RefundRequest, *, order_left: Decimal) -> Refusal | None:
    """What the last person on the route checks before approving: the amount is set, and it fits the order."""
    return amount_unset_refusal(request) or exceeds_order_refusal(request, order_left=order_left)


# --- The student's actions --------------------------------------------------------------------


def cancel_refusal(request: RefundRequest) -> Refusal | None:
    """The student may withdraw her request until it is approved (while in review or waiting for her)."""
    if request.status not in (*PENDING_STATES, RefundStatus.NEEDS_INFO):
        return Refusal(_("This request can no longer be cancelled."), "state")
    return None


def resubmit_refusal(request: RefundRequest) -> Refusal | None:
    """The student supplies information only when a reviewer (or the first check) asked for it."""
    if request.status != RefundStatus.NEEDS_INFO:
        return Refusal(_("This request is not waiting for information."), "state")
    return None


def appeal_deadline(request: RefundRequest, *, settings: ApprovalSettings) -> datetime.datetime | None:
    """Until when the rejection may be appealed (the campus's appeal days after the decision);
    None when it is not rejected or was appealed already."""
    return request.appeal_deadline(appeal_days=settings.appeal_days)


def appeal_refusal(request: RefundRequest, *, settings: ApprovalSettings, now: datetime.datetime) -> Refusal | None:
    """A rejection may be appealed once, until its deadline."""
    if request.status != RefundStatus.REJECTED:
        return Refusal(_("Only a rejected request can be appealed."), "state")
    if request.appealed_at is not None:
        return Refusal(_("This request was appealed already; an appeal is possible once."), "once")
    deadline = appeal_deadline(request, settings=settings)
    if deadline is None or now > deadline:
        closed = timezone.localtime(deadline if deadline is not None else now)
        return Refusal(_("The appeal window closed on %(date)s.") % {"date": f"{closed:%Y-%m-%d %H:%M}"}, "late")
    return None


@dataclass(frozen=True)
class StudentActions:
    """What the student may do now, and why not; the services decide again when she does it."""

    cancel: Refusal | None
    resubmit: Refusal | None
    appeal: Refusal | None
    appeal_deadline: datetime.datetime | None

    @property
    def can_cancel(self) -> bool:
        return self.cancel is None

    @property
    def can_resubmit(self) -> bool:
        return self.resubmit is None

    @property
    def can_appeal(self) -> bool:
        return self.appeal is None


def student_actions(request: RefundRequest, *, settings: ApprovalSettings, now: datetime.datetime) -> StudentActions:
    """Which of cancel, supply information and appeal are open on ``request`` at ``now``."""
    return StudentActions(
        cancel=cancel_refusal(request),
        resubmit=resubmit_refusal(request),
        appeal=appeal_refusal(request, settings=settings, now=now),
        appeal_deadline=appeal_deadline(request, settings=settings),
    )

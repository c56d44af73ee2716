"""The student's view of one refund request: a timeline in plain words, who has it now.
(What she may do now is ``refunds.rules.student_actions``, the rules the services apply.)

``refund_request_for_student`` loads her request with everything these functions read, in a
fixed number of queries however long its history is. The functions below it only read what was
loaded (no query): ``timeline_build`` turns the transition log, the approval steps and the route
still ahead into entries, each done, current or upcoming.

Only what is meant for the student is shown: staff comments written for her (what is missing,
why it was rejected, why the amount changed), never risk findings, escalations or phone numbers.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import Prefetch
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from payments.gateways.registry import arrival_note as gateway_arrival_note
from refunds.models import (
    PENDING_STATES,
    TIER_STATUS,
    ApprovalSettings,
    ApprovalStep,
    ApprovalTier,
    QuoteSnapshotLine,
    RefundEvidence,
    RefundRequest,
    RefundStatus,
    RefundTransition,
    StepDecision,
)
from refunds.rules import TIER_ROLE, appeal_deadline
from schoolops.templatetags.money import yuan
from students.models import Student

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

DONE, CURRENT, UPCOMING, STOPPED = "done", "current", "upcoming", "stopped"
# The last entry of a request that ended without paying anything back (withdrawn, not approved,
# closed): not a success, so not drawn like one (its tone is ``timeline_outcome``).
END = "end"
# How a request ended when it pays nothing back: the timeline's tone (grey, or red when not approved).
WITHDRAWN, NOT_APPROVED, CLOSED_EMPTY = "withdrawn", "not-approved", "closed"

STATUS_TITLES: dict[str, StrOrPromise] = {
    RefundStatus.PENDING_HOMEROOM: gettext_lazy("Homeroom teacher reviewing"),
    RefundStatus.PENDING_QUALITY: gettext_lazy("Teaching quality review"),
    RefundStatus.PENDING_SUPERVISOR: gettext_lazy("Teaching supervisor reviewing"),
    RefundStatus.PENDING_CAMPUS_HEAD: gettext_lazy("Campus head approving"),
    RefundStatus.PENDING_FINANCE: gettext_lazy("Finance approving"),
    RefundStatus.NEEDS_INFO: gettext_lazy("More information needed"),
    RefundStatus.APPROVED: gettext_lazy("Approved"),
    RefundStatus.PAYING: gettext_lazy("Refunding"),
    RefundStatus.PAYOUT_FAILED: gettext_lazy("Refunding"),
    RefundStatus.REFUNDED: gettext_lazy("Refunded"),
    RefundStatus.REJECTED: gettext_lazy("Not approved"),
    RefundStatus.CANCELLED: gettext_lazy("Cancelled"),
    RefundStatus.CLOSED: gettext_lazy("Closed, nothing to refund"),
}
# States after which nothing more happens to the request.
FINISHED = (RefundStatus.REFUNDED, RefundStatus.CANCELLED, RefundStatus.CLOSED)
# States in which the request pays nothing back (a rejection may still be appealed).
PAYS_NOTHING = (RefundStatus.CANCELLED, RefundStatus.REJECTED, RefundStatus.CLOSED)
# Log rows that are the staff's business, not the student's.
HIDDEN_TRANSITIONS = frozenset({"escalate"})


@dataclass(frozen=True)
class TimelineEntry:
    title: str
    state: str  # DONE, CURRENT, UPCOMING, STOPPED (a review left without a decision), or END (ended unpaid)
    at: datetime.datetime | None = None
    detail: str = ""


def refund_request_for_student(*, student: Student, request_no: str) -> RefundRequest | None:
    """Her request ``request_no`` with its log, steps, quote lines and evidence; None if it is not hers.

    Six queries: the request (order, course, quote), transitions, steps (with the people), quote
    lines, evidence.
    """
    return (
        RefundRequest.objects.filter(student=student, request_no=request_no)
        .select_related("order__course", "quote")
        .prefetch_related(
            Prefetch("transitions", queryset=RefundTransition.objects.order_by("created_at", "pk")),
            Prefetch(
                "steps",
                queryset=ApprovalStep.objects.select_related("assignee__user", "escalated_to__user").order_by(
                    "created_at", "pk"
                ),
            ),
            Prefetch("quote__lines", queryset=QuoteSnapshotLine.objects.order_by("position")),
            Prefetch("evidence", queryset=RefundEvidence.objects.order_by("uploaded_at", "pk")),
        )
        .first()
    )


def timeline_build(
    request: RefundRequest, *, settings: ApprovalSettings, now: datetime.datetime | None = None
) -> list[TimelineEntry]:
    """The request's history and what is still ahead, oldest first.

    Reads ``request.transitions`` and ``request.steps`` (prefetch them), the route and the order's
    payment channel. Every state the request entered is one entry with its time; the last one is
    current unless the request is finished; the route's tiers still ahead follow, upcoming.
    """
    now = now or timezone.now()
    transitions = list(request.transitions.all())
    steps = list(request.steps.all())
    auto_steps = [step for step in steps if step.tier == ApprovalTier.AUTO and step.decided_at is not None]
    last_reject = next((t for t in reversed(transitions) if t.name == "reject"), None)

    entries: list[TimelineEntry] = []
    last_state_index: int | None = None
    for index, transition in enumerate(transitions):
        if transition.name in HIDDEN_TRANSITIONS:
            continue
        following = transitions[index + 1] if index + 1 < len(transitions) else None
        # The automatic check leaves a step, not a log row: it ran in the same instant as the approval.
        for step in [s for s in auto_steps if s.decided_at == transition.created_at]:
            auto_steps.remove(step)
            entries.append(_auto_entry(step))
        if transition.name == "submit":
            entries.append(TimelineEntry(_("Submitted"), DONE, transition.created_at, _submitted_detail(request)))
        if transition.from_status == transition.to_status:
            if transition.name == "adjust_amount":
                entries.append(
                    TimelineEntry(_("Refund amount adjusted"), DONE, transition.created_at, transition.comment)
                )
            continue
        if following is not None and following.name == "auto_return":
            continue  # returned by the first check at once: no reviewer ever had it
        detail = _state_detail(request, transition, settings=settings, latest_reject=transition is last_reject)
        # A review the student withdrew from (or that expired) was never finished: not a green tick.
        left_undecided = (
            transition.to_status in PENDING_STATES
            and following is not None
            and following.name
            in (
                "cancel",
                "expire",
            )
        )
        entries.append(
            TimelineEntry(
                _transition_title(transition),
                STOPPED if left_undecided else DONE,
                transition.created_at,
                detail,
            )
        )
        last_state_index = len(entries) - 1
    entries.extend(_auto_entry(step) for step in auto_steps)  # a check with no matching log row: keep it

    if last_state_index is not None and request.status in PAYS_NOTHING:
        last = entries[last_state_index]
        entries[last_state_index] = TimelineEntry(last.title, END, last.at, last.detail)
    elif last_state_index is not None and request.status not in FINISHED:
        current = entries[last_state_index]
        detail = current.detail
        waiting = pending_step(request)
        if waiting is not None and request.status in PENDING_STATES:
            handling = _("%(who)s is handling it; expected by %(due)s.") % {
                "who": current_handler(request),
                "due": _when(waiting.due_at),
            }
            detail = f"{detail}\n{handling}".strip()
        entries[last_state_index] = TimelineEntry(current.title, CURRENT, current.at, detail)

    entries.extend(_upcoming(request, settings=settings))
    return entries


def timeline_outcome(request: RefundRequest) -> str:
    """How the request ended when it pays nothing back (WITHDRAWN, NOT_APPROVED, CLOSED_EMPTY), else ""."""
    if request.status == RefundStatus.REJECTED:
        return NOT_APPROVED
    if request.status == RefundStatus.CLOSED:
        return CLOSED_EMPTY
    if request.status == RefundStatus.CANCELLED:
        return WITHDRAWN
    return ""


def pending_step(request: RefundRequest) -> ApprovalStep | None:
    """The step waiting for a decision, from the prefetched steps."""
    return next((step for step in request.steps.all() if step.decision == StepDecision.PENDING), None)


def current_handler(request: RefundRequest) -> str:
    """Who decides the request now: a person's name, or the role of a pooled tier (e.g. finance).

    Empty when nobody is deciding it (waiting for the student, approved, closed).
    """
    step = pending_step(request)
    if step is None:
        return ""
    person = step.escalated_to or step.assignee
    if person is not None:
        return person.name
    role = TIER_ROLE.get(step.tier)
    return str(role.label) if role is not None else str(step.get_tier_display())


def missing_information(request: RefundRequest) -> str:
    """What the reviewer (or the first check) asked for, the last time the request was returned."""
    returned = [t for t in request.transitions.all() if t.to_status == RefundStatus.NEEDS_INFO]
    return returned[-1].comment if returned else ""


def rejection_reason(request: RefundRequest) -> str:
    """Why the request was rejected the last time."""
    rejected = [t for t in request.transitions.all() if t.name == "reject"]
    return rejected[-1].comment if rejected else ""


def amount_note(request: RefundRequest) -> str:
    """Why the amount to refund differs from the quote (the last adjustment's note), or ""."""
    adjustments = [t for t in request.transitions.all() if t.name == "adjust_amount"]
    if not adjustments or (request.approved_amount == request.quote.total and not request.amount_confirmed):
        return ""
    return adjustments[-1].comment


def arrival_note(channel: str) -> str:
    """When the money arrives once it is paid out, by the channel the order was paid with: the
    wording of that channel's gateway (``RefundGateway.arrival_note``)."""
    return gateway_arrival_note(channel)


# --- Pieces -------------------------------------------------------------------------------------


def _status_title(status: str) -> str:
    title = STATUS_TITLES.get(status)
    return str(title) if title is not None else str(RefundStatus(status).label)


def _transition_title(transition: RefundTransition) -> str:
    """The name of the state a change led to, in her words: she withdrew it, or it lapsed."""
    if transition.name == "cancel":
        return _("Withdrawn")
    if transition.name == "expire":
        return _("Closed")
    return _status_title(transition.to_status)


def _tier_title(tier: str) -> str:
    if tier == ApprovalTier.AUTO:
        return _("Automatic check")
    return _status_title(TIER_STATUS[tier])


def _money(amount: Decimal) -> str:
    return yuan(amount)


def _when(moment: datetime.datetime) -> str:
    return date_format(timezone.localtime(moment), "Y-m-d H:i")


def _submitted_detail(request: RefundRequest) -> str:
    if request.quote.needs_approver_amount:
        amount = _("the amount is set by the reviewer under your contract")
    else:
        amount = _money(request.requested_amount)
    return _("Reason: %(reason)s; amount asked: %(amount)s.") % {
        "reason": request.get_reason_display(),
        "amount": amount,
    }


def _auto_entry(step: ApprovalStep) -> TimelineEntry:
    if step.decision == StepDecision.AUTO_PASSED:
        detail = _("Passed the automatic check.")
    else:
        detail = _("A person will look at your request as well.")
    return TimelineEntry(_("Automatic check"), DONE, step.decided_at, detail)


def _state_detail(
    request: RefundRequest, transition: RefundTransition, *, settings: ApprovalSettings, latest_reject: bool
) -> str:
    """What the student should know about one change, in her words."""
    name = transition.name
    if name in ("return", "auto_return"):
        return _("What is missing: %(missing)s") % {"missing": transition.comment}
    if name == "reject":
        lines = [_("Reason for the rejection: %(reason)s") % {"reason": transition.comment}]
        if latest_reject and request.status == RefundStatus.REJECTED:
            deadline = appeal_deadline(request, settings=settings)
            if deadline is not None:
                lines.append(_("You may appeal once, until %(date)s.") % {"date": _when(deadline)})
            elif request.appealed_at is not None:
                lines.append(_("This is the decision on your appeal."))
        return "\n".join(lines)
    if name == "resubmit":
        return _("You supplied the missing information.")
    if name == "appeal":
        return _("You appealed: %(reason)s") % {"reason": transition.comment}
    if name == "cancel":
        return _("You withdrew the request.")
    if name == "expire":
        return _("The missing information did not arrive in time, so the request was closed.")
    if transition.to_status == RefundStatus.PAYOUT_FAILED:
        return _("The payout ran into a problem; finance is taking care of it.")
    if name == "close":
        if transition.actor_id is not None and transition.comment:
            return _("Finance closed the request: %(reason)s") % {"reason": transition.comment}
        return _(
            "Under the refund rules nothing on this order is refundable, so no money is paid back. "
            "The order is free again if you want to apply later."
        )
    if request.status == RefundStatus.CLOSED and transition.to_status == RefundStatus.APPROVED:
        return _("Reviewed: the amount to refund is %(amount)s.") % {"amount": _money(request.approved_amount)}
    if name == "approve_directly" or transition.to_status == RefundStatus.APPROVED:
        return _("Amount to refund: %(amount)s. The refund is paid out next.") % {
            "amount": _money(request.approved_amount)
        }
    return ""


def _upcoming(request: RefundRequest, *, settings: ApprovalSettings) -> list[TimelineEntry]:
    """The route's tiers still ahead, then approval, payout and arrival."""
    status = request.status
    tiers: list[str] = []
    if status in PENDING_STATES:
        tiers = list(request.route[request.route_position + 1 :])
    elif status == RefundStatus.NEEDS_INFO:
        tiers = list(request.route[request.route_position :])
    entries = []
    for tier in tiers:
        if tier == ApprovalTier.AUTO:
            detail = _("Checked by the system at once; a person looks at it when something is unusual.")
        else:
            detail = _("Usually within %(hours)d hours.") % {"hours": settings.sla_hours(tier)}
        entries.append(TimelineEntry(_tier_title(tier), UPCOMING, None, detail))
    if status in PENDING_STATES or status == RefundStatus.NEEDS_INFO:
        entries.append(TimelineEntry(_status_title(RefundStatus.APPROVED), UPCOMING))
    if status in (*PENDING_STATES, RefundStatus.NEEDS_INFO, RefundStatus.APPROVED):
        entries.append(
            TimelineEntry(
                _status_title(RefundStatus.PAYING),
                UPCOMING,
                None,
                _("The money goes back the way you paid."),
            )
        )
    if status in (*PENDING_STATES, RefundStatus.NEEDS_INFO, RefundStatus.APPROVED, RefundStatus.PAYING) or (
        status == RefundStatus.PAYOUT_FAILED
    ):
        entries.append(
            TimelineEntry(_status_title(RefundStatus.REFUNDED), UPCOMING, None, arrival_note(request.order.channel))
        )
    return entries

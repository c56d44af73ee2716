"""Approval decisions in the admin: which ones the user may take now, what each will do, and the
confirmation pages that call the lifecycle services.

Nothing here changes a request by itself: every decision is one call of a service in
``refunds.services.requests``, which checks again who may act and refuses with a
``RefundActionError`` that becomes an error message (and changes nothing). The checks here only
decide which buttons to show and what the confirmation page says will happen.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, prefetch_related_objects
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from schoolops.models import Staff, StaffRole

from .. import rules
from ..models import (
    ApprovalQueueItem,
    ApprovalSettings,
    ApprovalStep,
    ApprovalTier,
    RefundRequest,
    RequestKind,
    StepDecision,
)
from ..selectors import approval_settings_for
from ..services.requests import (
    RefundActionError,
    refund_adjust_amount,
    refund_approve,
    refund_approve_directly,
    refund_reject,
    refund_return_for_info,
)
from .forms import AdjustAmountForm, ApproveForm, RejectForm, ReturnForm
from .lists import amount_words, is_flagged, kind_words, staff_of

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

APPROVE, REJECT, RETURN, ADJUST = "approve", "reject", "return", "adjust"
DIRECT = "approve_directly"  # customer service's refund desk
APPROVED_OUTCOME = gettext_noop(
    "The request is approved: %(amount)s is paid back through the original payment channel right away."
)
AUTO_CHECK_OUTCOME = gettext_noop(
    "The automatic check runs at once (progress, refund history, risk). If it finds nothing, the request is "
    "approved and %(amount)s is paid back through the original payment channel; otherwise it goes on to the "
    "teaching supervisor and finance."
)
# The most requests one bulk approval takes; the rest wait for the next round.
BULK_LIMIT = 100


@dataclass(frozen=True)
class Decision:
    key: str
    label: StrOrPromise
    heading: StrOrPromise  # "%(no)s" is the request number
    form_class: type
    service: Callable[..., RefundRequest]
    done: StrOrPromise  # "%(no)s" and "%(status)s"
    css: str
    # The same, of a course exchange (a request of kind "exchange"), where they differ.
    exchange_heading: StrOrPromise = ""
    exchange_done: StrOrPromise = ""

    def heading_of(self, request_obj: RefundRequest) -> str:
        exchange = request_obj.kind == RequestKind.EXCHANGE and self.exchange_heading
        return str(self.exchange_heading if exchange else self.heading) % {"no": request_obj.request_no}

    def done_of(self, request_obj: RefundRequest) -> str:
        exchange = request_obj.kind == RequestKind.EXCHANGE and self.exchange_done
        return str(self.exchange_done if exchange else self.done) % {
            "no": request_obj.request_no,
            "status": request_obj.get_status_display(),
            "amount": request_obj.approved_amount,
        }


DECISIONS: dict[str, Decision] = {
    decision.key: decision
    for decision in (
        Decision(
            APPROVE,
            gettext_lazy("Approve"),
            gettext_lazy("Approve refund request %(no)s"),
            ApproveForm,
            refund_approve,
            gettext_lazy("Refund request %(no)s approved: %(status)s."),
            "decision-approve",
            gettext_lazy("Approve exchange request %(no)s"),
            gettext_lazy("Exchange request %(no)s approved: %(status)s."),
        ),
        Decision(
            DIRECT,
            gettext_lazy("Approve directly (customer service)"),
            gettext_lazy("Approve refund request %(no)s directly"),
            ApproveForm,
            refund_approve_directly,
            gettext_lazy("Refund request %(no)s approved by customer service: %(status)s."),
            "decision-approve",
        ),
        Decision(
            REJECT,
            gettext_lazy("Reject"),
            gettext_lazy("Reject refund request %(no)s"),
            RejectForm,
            refund_reject,
            gettext_lazy("Refund request %(no)s rejected."),
            "decision-reject",
            gettext_lazy("Reject exchange request %(no)s"),
            gettext_lazy("Exchange request %(no)s rejected."),
        ),
        Decision(
            RETURN,
            gettext_lazy("Return for information"),
            gettext_lazy("Return refund request %(no)s for information"),
            ReturnForm,
            refund_return_for_info,
            gettext_lazy("Refund request %(no)s returned to the student for information."),
            "decision-return",
            gettext_lazy("Return exchange request %(no)s for information"),
            gettext_lazy("Exchange request %(no)s returned to the student for information."),
        ),
        Decision(
            ADJUST,
            gettext_lazy("Adjust the amount"),
            gettext_lazy("Adjust the amount of refund request %(no)s"),
            AdjustAmountForm,
            refund_adjust_amount,
            gettext_lazy("The amount of refund request %(no)s is now ¥%(amount)s."),
            "decision-adjust",
        ),
    )
}


@dataclass(frozen=True)
class DecisionOptions:
    """The decisions ``staff`` may take on a request now, and why not when some are missing."""

    actions: tuple[str, ...]
    blocked: str
    step: ApprovalStep | None
    as_delegate: bool = False


def pending_step_of(steps: Iterable[ApprovalStep]) -> ApprovalStep | None:
    return next((step for step in steps if step.decision == StepDecision.PENDING), None)


def decision_options(
    *, request_obj: RefundRequest, staff: Staff | None, steps: list[ApprovalStep], on: datetime.date
) -> DecisionOptions:
    """What the buttons offer: ``rules.decision_right``, which the services check after their locks,
    here on loaded data (no query).

    ``steps`` are the request's steps with their assignee (and the assignee's delegate) loaded;
    each step's ``request`` must be ``request_obj``.
    """
    step = pending_step_of(steps)
    if staff is not None and staff.role == StaffRole.SERVICE and request_obj.current_tier != ApprovalTier.SERVICE:
        # Customer service is on no refund's route: its one decision there is the refund desk's
        # direct approval. (A course exchange starts with customer service's own tier: decided below.)
        limit = approval_settings_for(campus=request_obj.campus_id).service_limit
        refusal = rules.direct_approval_refusal(request=request_obj, staff=staff, service_limit=limit)
        return DecisionOptions((), refusal.message, step) if refusal else DecisionOptions((DIRECT,), "", step)
    right = rules.decision_right(
        request=request_obj,
        staff=staff,
        step=step,
        decisions=rules.decisions_by(staff, steps) if staff is not None else frozenset(),
        on=on,
    )
    if isinstance(right, rules.Refusal):
        return DecisionOptions((), right.message, step)
    # A course exchange's difference is its calculation's: nobody adjusts it.
    adjust = () if rules.amount_fixed_refusal(request_obj) else (ADJUST,)
    # The last person on the route of a contract course sets the amount before approving. (Whether
    # the amount still fits the order is asked by the approval itself: it needs the order's sums.)
    unset = rules.amount_unset_refusal(request_obj) if rules.is_last_person(request_obj) else None
    if unset is not None:
        return DecisionOptions((REJECT, RETURN, *adjust), unset.message, step, right.as_delegate)
    return DecisionOptions((APPROVE, REJECT, RETURN, *adjust), "", step, right.as_delegate)


# --- What will happen --------------------------------------------------------------------------


def _yuan(amount: Decimal) -> str:
    return f"¥{amount:.2f}"


def _tier_label(tier: str) -> str:
    return str(ApprovalTier(tier).label)


def approve_outcome(request_obj: RefundRequest) -> str:
    """What an approval of the current tier does, in the approver's words (of a course exchange,
    in the words its app registered: a difference refunded, to pay, or none)."""
    ahead = list(request_obj.route[request_obj.route_position + 1 :])
    words = kind_words(request_obj)
    if words is not None:
        if not ahead:
            return words.outcome(request_obj)
        text = _("The request goes on to %(tier)s (%(amount)s).") % {
            "tier": _tier_label(ahead[0]),
            "amount": amount_words(request_obj),
        }
        following = [_tier_label(tier) for tier in ahead[1:]]
        if following:
            text += " " + _("After that: %(tiers)s.") % {"tiers": " → ".join(following)}
        return text
    amount = _yuan(request_obj.approved_amount)
    if not ahead:
        return _(APPROVED_OUTCOME) % {"amount": amount}
    if ahead[0] == ApprovalTier.AUTO:
        return _(AUTO_CHECK_OUTCOME) % {"amount": amount}
    following = [_tier_label(tier) for tier in ahead[1:]]
    text = _("The request goes on to %(tier)s, for %(amount)s.") % {"tier": _tier_label(ahead[0]), "amount": amount}
    if following:
        text += " " + _("After that: %(tiers)s.") % {"tiers": " → ".join(following)}
    return text


def decision_outcome(key: str, request_obj: RefundRequest, *, settings: ApprovalSettings) -> str:
    """What the decision ``key`` will do to the request, for the confirmation page."""
    tier = request_obj.current_tier
    tier_label = _tier_label(tier) if tier else ""
    if key == APPROVE:
        return approve_outcome(request_obj)
    if key == DIRECT:
        return _(
            "Customer service approves the request outright, within the campus's limit of %(limit)s: the tiers "
            "still ahead are skipped and %(amount)s is paid back through the original payment channel right away."
        ) % {"limit": _yuan(settings.service_limit), "amount": _yuan(request_obj.approved_amount)}
    if key == REJECT:
        if request_obj.appealed_at is not None:
            return _("This decides the student's appeal: the request is rejected and closed for good.")
        return _(
            "The request is rejected at %(tier)s. The student reads your reason and may appeal once within "
            "%(days)d days; the appeal goes to the tier above."
        ) % {"tier": tier_label, "days": settings.appeal_days}
    if key == RETURN:
        return _(
            "The request goes back to the student. When she sends what you ask for it comes back to %(tier)s; "
            "without an answer it is cancelled after %(days)d days."
        ) % {"tier": tier_label, "days": settings.needs_info_days}
    return _(
        "The amount to refund changes from %(old)s to the amount you enter, between ¥0.00 and %(limit)s "
        "(what the order still has to refund). A larger amount adds the approvers it needs to the route "
        "(from ¥%(small)s: the teaching supervisor and finance; above ¥%(large)s: the campus head too). "
        "The request stays with %(tier)s."
    ) % {
        "old": _yuan(request_obj.approved_amount),
        "limit": _yuan(request_obj.quote.refundable),
        "small": f"{settings.small_below:.2f}",
        "large": f"{settings.large_above:.2f}",
        "tier": tier_label,
    }


# --- The confirmation page ---------------------------------------------------------------------


def decide_view(model_admin, request, object_id: str, action: str):
    """GET: the confirmation page of one decision. POST: the decision, through its service.

    403 without the permission to see refund requests; 404 for a request outside the user's
    campuses (as every admin page of it answers) or an unknown decision. A refusal of the
    service is an error message on the request page; nothing changed.
    """
    decision = DECISIONS.get(action)
    if decision is None:
        raise Http404
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        raise Http404
    if not model_admin.has_view_permission(request, obj):
        raise PermissionDenied
    change_url = reverse("admin:refunds_refundrequest_change", args=[obj.pk], current_app=model_admin.admin_site.name)

    if request.method == "POST":
        form = decision.form_class(request.POST)
        if form.is_valid():
            try:
                done = decision.service(request_id=obj.pk, actor=request.user, **form.service_arguments())
            except RefundActionError as exc:
                messages.error(request, exc.message)
                return redirect(change_url)
            messages.success(request, decision.done_of(done))
            return redirect(change_url)
    else:
        initial = {"amount": obj.approved_amount} if action == ADJUST else {}
        form = decision.form_class(initial=initial)

    prefetch_related_objects(
        [obj],
        Prefetch("steps", queryset=ApprovalStep.objects.select_related("assignee__user", "assignee__delegate")),
    )
    steps = list(obj.steps.all())
    staff = staff_of(request)
    options = decision_options(request_obj=obj, staff=staff, steps=steps, on=timezone.localdate())
    if request.method == "GET" and action not in options.actions:
        messages.error(request, options.blocked or _("You cannot take this decision on this request now."))
        return redirect(change_url)
    settings = approval_settings_for(campus=obj.campus_id)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "original": obj,
        "title": decision.heading_of(obj),
        "decision": decision,
        "form": form,
        "outcome": decision_outcome(action, obj, settings=settings),
        "amount_words": amount_words(obj),
        "step": options.step,
        "as_delegate": options.as_delegate,
        "change_url": change_url,
        "queue_title": capfirst(ApprovalQueueItem._meta.verbose_name_plural),
        "media": model_admin.media + form.media,
    }
    return TemplateResponse(request, "admin/refunds/refundrequest/decide.html", context)


# --- Bulk approval of small requests -----------------------------------------------------------


@dataclass(frozen=True)
class BulkItem:
    request: RefundRequest
    outcome: str = ""  # what the approval will do, when it is taken
    skipped: str = ""  # why not, when it is left out

    @property
    def eligible(self) -> bool:
        return not self.skipped


def settings_by_campus(campus_ids: Iterable[int]) -> dict[int, ApprovalSettings]:
    """Each campus's approval settings, the defaults where none were saved. One query."""
    ids = set(campus_ids)
    found = {row.campus_id: row for row in ApprovalSettings.objects.filter(campus_id__in=ids)}
    return {pk: found.get(pk) or ApprovalSettings(campus_id=pk) for pk in ids}


def bulk_approve_plan(*, requests: list[RefundRequest], staff: Staff | None, on: datetime.date) -> list[BulkItem]:
    """For each request of the queue, what an approval does, or why the bulk approval leaves it out.

    Taken: requests whose amount is below their campus's automatic-check threshold, not flagged,
    whose current step ``staff`` may decide. ``requests`` come from ``approval_queue_for_admin``
    (pending step prefetched in ``pending_steps``, student loaded).
    """
    thresholds = settings_by_campus(r.campus_id for r in requests)
    plan = []
    for request_obj in requests:
        if request_obj.kind == RequestKind.EXCHANGE:
            # Its amount is a difference refunded (a difference to pay is not in it): no measure of size.
            plan.append(BulkItem(request_obj, skipped=_("A course exchange: decide it on its own page.")))
            continue
        small_below = thresholds[request_obj.campus_id].small_below
        if request_obj.approved_amount >= small_below:
            plan.append(
                BulkItem(
                    request_obj,
                    skipped=_("%(amount)s is not below %(limit)s: decide it on its own page.")
                    % {"amount": _yuan(request_obj.approved_amount), "limit": _yuan(small_below)},
                )
            )
            continue
        if is_flagged(request_obj):
            plan.append(BulkItem(request_obj, skipped=_("Flagged for review: decide it on its own page.")))
            continue
        steps = list(getattr(request_obj, "pending_steps", None) or request_obj.steps.all())
        options = decision_options(request_obj=request_obj, staff=staff, steps=steps, on=on)
        if APPROVE not in options.actions:
            plan.append(BulkItem(request_obj, skipped=options.blocked))
            continue
        plan.append(BulkItem(request_obj, outcome=approve_outcome(request_obj)))
    return plan


def bulk_approve_run(
    *, items: list[BulkItem], actor, comment: str
) -> tuple[list[RefundRequest], list[tuple[RefundRequest, str]]]:
    """Approve each eligible item, each in its own transaction (the service's); refusals are collected."""
    approved, refused = [], []
    for item in items:
        if not item.eligible:
            continue
        try:
            approved.append(refund_approve(request_id=item.request.pk, actor=actor, comment=comment))
        except RefundActionError as exc:
            refused.append((item.request, exc.message))
    return approved, refused

"""The admin home's cards: what needs attention today, for the person looking.

Four counts, each one query whatever the volume (plus the lookups of the user's staff row):
waiting for me (``refund_queue_for_staff``) and, of those, escalated; approval steps past their
deadline and refunds whose payment failed, in every campus the user may see.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.db.models import Count, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from schoolops.scoping import scope_to_campus

from .models import PENDING_STATES, ApprovalStep, RefundRequest, RefundStatus, StepDecision
from .selectors import refund_queue_for_staff

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


@dataclass(frozen=True)
class AdminHomeCounts:
    waiting: int
    escalated: int
    overdue: int
    payouts_failed: int


@dataclass(frozen=True)
class AdminHomeCard:
    key: str
    label: StrOrPromise
    help: StrOrPromise
    count: int
    url: str
    alert: bool  # a non-zero count that needs someone today


def admin_home_counts(*, user, now: datetime.datetime | None = None) -> AdminHomeCounts:
    """The counts of the admin home for ``user`` at ``now``.

    Queries: the queue's staff lookup and one aggregate (waiting and escalated together), the
    user's staff row for the campus scope (cached on the user), one count each for overdue steps
    and failed payouts; the user's permissions come from Django's per-request cache.
    """
    now = now or timezone.now()
    queue = refund_queue_for_staff(user=user, on=timezone.localdate(now))
    mine = queue.order_by().aggregate(
        waiting=Count("pk"),
        escalated=Count("pk", filter=Q(step_escalated=True)),
    )
    # A pending step always belongs to a request waiting for approval (every decision, cancellation
    # and expiry closes it), so head office counts steps alone, without joining the requests.
    overdue = scope_to_campus(
        ApprovalStep.objects.filter(decision=StepDecision.PENDING, due_at__lt=now),
        user=user,
        campus_field="request__campus",
    )
    failed = scope_to_campus(
        RefundRequest.objects.filter(status=RefundStatus.PAYOUT_FAILED), user=user, campus_field="campus"
    )
    return AdminHomeCounts(
        waiting=mine["waiting"] or 0,
        escalated=mine["escalated"] or 0,
        overdue=overdue.count(),
        payouts_failed=failed.count(),
    )


def admin_home_cards(*, user, now: datetime.datetime | None = None) -> list[AdminHomeCard]:
    """The counts as cards, each with the admin list that shows what it counts."""
    now = now or timezone.now()
    counts = admin_home_counts(user=user, now=now)
    queue = queue_url()
    requests = reverse("admin:refunds_refundrequest_changelist")
    steps = reverse("admin:refunds_approvalstep_changelist")
    overdue_query = urlencode(
        {"decision__exact": StepDecision.PENDING, "due_at__lt": timezone.localtime(now).isoformat(timespec="seconds")}
    )
    return [
        AdminHomeCard(
            key="waiting",
            label=_("Waiting for me"),
            help=_("Requests whose current step you may decide today, your delegations included."),
            count=counts.waiting,
            url=queue,
            alert=counts.waiting > 0,
        ),
        AdminHomeCard(
            key="escalated",
            label=_("Of those, escalated"),
            help=_("Waiting for you and past a deadline, escalated to the next person up; first in the queue."),
            count=counts.escalated,
            url=queue,
            alert=counts.escalated > 0,
        ),
        AdminHomeCard(
            key="overdue",
            label=_("Overdue steps"),
            help=_("Approval steps past their deadline, in the campuses you can see."),
            count=counts.overdue,
            url=f"{steps}?{overdue_query}",
            alert=counts.overdue > 0,
        ),
        AdminHomeCard(
            key="payouts_failed",
            label=_("Refund payments failed"),
            help=_("Approved refunds the payment gateway refused; finance decides what happens next."),
            count=counts.payouts_failed,
            url=f"{requests}?{urlencode({'status__exact': RefundStatus.PAYOUT_FAILED})}",
            alert=counts.payouts_failed > 0,
        ),
    ]


def queue_url() -> str:
    """The approval queue's admin list; the refund requests waiting for approval until it exists."""
    try:
        return reverse("admin:refunds_approvalqueueitem_changelist")
    except NoReverseMatch:
        pending = ",".join(str(status) for status in PENDING_STATES)
        return f"{reverse('admin:refunds_refundrequest_changelist')}?{urlencode({'status__in': pending})}"

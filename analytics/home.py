"""The staff admin's home: one section per thing the person does, each with its counts and links.

- Approvers (homeroom teacher, supervisor, campus head, the customer-service and finance pools):
  their queue (``refund_queue_for_staff``) counted as waiting, due soon, overdue and appeals, and
  its first few requests with the time left on each.
- Finance: payouts needing a person (bank transfers to record, failed, needing a check at the
  gateway), the differences of recent statement reconciliations, their own exports.
- Operations: approval settings, notification templates, alert rules and the open alerts.

Sections follow permissions, not the staff row's single role, so a superuser or anyone holding
several roles' permissions sees each. Every count is in the campuses the user may see
(``scope_to_campus``). The reads are a fixed number of queries whatever the data: aggregates with
``filter=`` and one short, joined list; never a query per row. This module lives in analytics
because it reads every app below it (refunds, payments, finance, notifications, analytics).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from finance.models import ExportJob, ExportStatus, LineResult, ReconciliationLine
from notifications.models import NotificationTemplate
from payments.gateways.registry import manual_channels
from payments.models import Payout, PayoutStatus
from refunds.admin.lists import DeadlineFilter
from refunds.admin.queue import duration
from refunds.models import ApprovalSettings, ApprovalStep, RefundRequest, RefundStatus, StepDecision
from refunds.rules import TIER_ROLE
from refunds.selectors import QUEUE_ORDERING, refund_queue_for_staff
from schoolops.models import Staff, StaffRole
from schoolops.scoping import scope_to_campus
from schoolops.templatetags.money import yuan

from .models import Alert, AlertRule, AlertStatus

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

QUEUE_PREVIEW = 5  # the first requests of the queue shown on the home
RECONCILIATION_DAYS = 30  # differences of the statements reconciled in this many days
SOON_HOURS = DeadlineFilter.SOON_HOURS
# Who also watches the campus's overdue steps, whoever holds them.
CAMPUS_WATCHERS = (StaffRole.SUPERVISOR, StaffRole.CAMPUS_HEAD)

FINANCE_PERMISSIONS = ("payments.record_transfer", "payments.retry_payout", "finance.reconcile_statement")
OPERATIONS_PERMISSIONS = (
    "refunds.change_approvalsettings",
    "notifications.change_notificationtemplate",
    "analytics.change_alertrule",
)


@dataclass(frozen=True)
class HomeCount:
    key: str
    label: StrOrPromise
    count: int
    url: str
    alert: bool = False  # a non-zero count that needs someone today


@dataclass(frozen=True)
class QueueRow:
    request_no: str
    student: str
    course: str
    amount: str
    time_left: str
    overdue: bool
    escalated: bool
    appeal: bool
    url: str


@dataclass(frozen=True)
class HomeSection:
    key: str  # approver, finance, operations
    title: StrOrPromise
    counts: list[HomeCount]
    rows: list[QueueRow] = field(default_factory=list)
    links: list[tuple[StrOrPromise, str]] = field(default_factory=list)


def queue_url() -> str:
    """The approver's queue in the admin."""
    return reverse("admin:refunds_approvalqueueitem_changelist")


def staff_home(*, user, now: datetime.datetime | None = None) -> list[HomeSection]:
    """The sections of the admin home for ``user`` at ``now``, in a fixed number of queries."""
    now = now or timezone.now()
    sections = []
    staff = Staff.objects.filter(user=user, user__is_active=True).select_related("campus").first()
    if staff is not None:
        user.staff = staff  # the campus scoping reads it; no second lookup
    if user.is_superuser or (staff is not None and staff.role in TIER_ROLE.values()):
        sections.append(approver_section(user=user, now=now))
    if user.is_superuser or any(user.has_perm(perm) for perm in FINANCE_PERMISSIONS):
        sections.append(finance_section(user=user, now=now))
    if user.is_superuser or any(user.has_perm(perm) for perm in OPERATIONS_PERMISSIONS):
        sections.append(operations_section(user=user, now=now))
    return sections


def approver_section(*, user, now: datetime.datetime) -> HomeSection:
    """Her queue: counts by deadline and appeals, then its first requests with the time left."""
    queue = refund_queue_for_staff(user=user, on=timezone.localdate(now))
    soon = now + datetime.timedelta(hours=SOON_HOURS)
    counts = queue.order_by().aggregate(
        waiting=Count("pk"),
        soon=Count("pk", filter=Q(step_due_at__gte=now, step_due_at__lt=soon)),
        overdue=Count("pk", filter=Q(step_due_at__lt=now)),
        appeals=Count("pk", filter=Q(appealed_at__isnull=False)),
    )
    base = queue_url()
    first = queue.select_related("student__user", "order__course").order_by(*QUEUE_ORDERING)[:QUEUE_PREVIEW]
    rows = []
    for refund in first:
        due = refund.step_due_at  # type: ignore[attr-defined]
        late = due is not None and due < now
        if due is None:
            left = ""
        elif late:
            left = str(_("Overdue by %(time)s") % {"time": duration(now - due)})
        else:
            left = duration(due - now)
        rows.append(
            QueueRow(
                request_no=refund.request_no,
                student=refund.student.name,
                course=refund.order.course.name,
                amount=yuan(refund.approved_amount),
                time_left=left,
                overdue=late,
                escalated=bool(refund.step_escalated),  # type: ignore[attr-defined]
                appeal=refund.appealed_at is not None,
                url=reverse("admin:refunds_refundrequest_change", args=[refund.pk]),
            )
        )
    section = HomeSection(
        key="approver",
        title=_("My approval queue"),
        counts=[
            HomeCount("waiting", _("Waiting for me"), counts["waiting"] or 0, base, bool(counts["waiting"])),
            HomeCount(
                "soon",
                _("Due within %(hours)d hours") % {"hours": SOON_HOURS},
                counts["soon"] or 0,
                f"{base}?deadline=soon",
                bool(counts["soon"]),
            ),
            HomeCount(
                "overdue", _("Overdue"), counts["overdue"] or 0, f"{base}?deadline=overdue", bool(counts["overdue"])
            ),
            HomeCount("appeals", _("Appeals"), counts["appeals"] or 0, base, bool(counts["appeals"])),
        ],
        rows=rows,
        links=[(_("Open the approval queue"), base)],
    )
    if user.is_superuser or getattr(getattr(user, "staff", None), "role", None) in CAMPUS_WATCHERS:
        section.counts.append(campus_overdue_steps(user=user, now=now))
    return section


def campus_overdue_steps(*, user, now: datetime.datetime) -> HomeCount:
    """Approval steps past their deadline in the campuses the user may see, whoever holds them."""
    # A pending step always belongs to a request waiting for approval, so no join to the requests.
    overdue = scope_to_campus(
        ApprovalStep.objects.filter(decision=StepDecision.PENDING, due_at__lt=now),
        user=user,
        campus_field="request__campus",
    ).count()
    query = urlencode(
        {"decision__exact": StepDecision.PENDING, "due_at__lt": timezone.localtime(now).isoformat(timespec="seconds")}
    )
    return HomeCount(
        "campus_overdue",
        _("Overdue steps in my campus"),
        overdue,
        f"{reverse('admin:refunds_approvalstep_changelist')}?{query}",
        bool(overdue),
    )


def finance_section(*, user, now: datetime.datetime) -> HomeSection:
    """Payouts waiting for a person, recent reconciliation differences and the user's own exports."""
    payouts = scope_to_campus(Payout.objects.all(), user=user, campus_field="request__campus")
    manual = manual_channels()
    open_states = [PayoutStatus.QUEUED, PayoutStatus.SENT, PayoutStatus.UNKNOWN]
    payout_counts = payouts.aggregate(
        transfers=Count("pk", filter=Q(channel__in=manual, status__in=open_states)),
        checks=Count("pk", filter=Q(needs_check_since__isnull=False) & ~Q(status=PayoutStatus.SUCCEEDED)),
    )
    # A failed refund payment is a request in ``payout_failed`` (its payout may have been retried).
    failed = scope_to_campus(
        RefundRequest.objects.filter(status=RefundStatus.PAYOUT_FAILED), user=user, campus_field="campus"
    ).count()
    since = now - datetime.timedelta(days=RECONCILIATION_DAYS)
    # Statements cover every campus: only those who may reconcile them see their differences.
    differences = (
        ReconciliationLine.objects.filter(run__created_at__gte=since).exclude(result=LineResult.MATCHED).count()
        if user.has_perm("finance.reconcile_statement")
        else 0
    )
    exports = ExportJob.objects.filter(requested_by=user, created_at__gte=since).aggregate(
        ready=Count("pk", filter=Q(status=ExportStatus.DONE)),
        failed=Count("pk", filter=Q(status=ExportStatus.FAILED)),
    )
    payout_list = reverse("admin:payments_payout_changelist")
    requests = reverse("admin:refunds_refundrequest_changelist")
    jobs = reverse("admin:finance_exportjob_changelist")
    counts = [
        HomeCount(
            "transfers",
            _("Bank transfers to record"),
            payout_counts["transfers"] or 0,
            f"{payout_list}?{urlencode({'status__in': ','.join(open_states), 'channel__in': ','.join(manual)})}",
            bool(payout_counts["transfers"]),
        ),
        HomeCount(
            "failed",
            _("Refund payments failed"),
            failed,
            f"{requests}?{urlencode({'status__exact': RefundStatus.PAYOUT_FAILED})}",
            bool(failed),
        ),
        HomeCount(
            "needs_check",
            _("Payouts to check at the gateway"),
            payout_counts["checks"] or 0,
            f"{payout_list}?needs_check=yes",
            bool(payout_counts["checks"]),
        ),
    ]
    if user.has_perm("finance.reconcile_statement"):
        counts.append(
            HomeCount(
                "differences",
                _("Reconciliation differences (last %(days)d days)") % {"days": RECONCILIATION_DAYS},
                differences,
                reverse("admin:finance_reconciliationrun_changelist"),
                bool(differences),
            )
        )
    counts += [
        HomeCount("exports_ready", _("My exports ready"), exports["ready"] or 0, jobs),
        HomeCount("exports_failed", _("My exports failed"), exports["failed"] or 0, jobs, bool(exports["failed"])),
    ]
    links: list[tuple[StrOrPromise, str]] = [(_("Payouts"), payout_list)]
    if user.has_perm("finance.export_reports"):
        links.append((_("Export reports"), reverse("admin:finance_exportjob_add")))
    if user.has_perm("finance.reconcile_statement"):
        links.append((_("Reconcile a statement"), reverse("admin:finance_reconciliationrun_upload")))
    return HomeSection(key="finance", title=_("Refund payments and reconciliation"), counts=counts, links=links)


def operations_section(*, user, now: datetime.datetime) -> HomeSection:
    """The settings operations keeps, and the alerts still open."""
    settings_count = scope_to_campus(ApprovalSettings.objects.all(), user=user, campus_field="campus").count()
    templates = NotificationTemplate.objects.aggregate(active=Count("pk", filter=Q(is_active=True)), total=Count("pk"))
    rules = AlertRule.objects.aggregate(active=Count("pk", filter=Q(is_active=True)))
    alerts = scope_to_campus(Alert.objects.filter(status=AlertStatus.OPEN), user=user, campus_field="campus").count()
    alert_list = reverse("admin:analytics_alert_changelist")
    return HomeSection(
        key="operations",
        title=_("Settings and alerts"),
        counts=[
            HomeCount("open_alerts", _("Open alerts"), alerts, f"{alert_list}?status__exact=open", bool(alerts)),
            HomeCount(
                "approval_settings",
                _("Campus approval settings"),
                settings_count,
                reverse("admin:refunds_approvalsettings_changelist"),
            ),
            HomeCount(
                "templates",
                _("Active notification templates"),
                templates["active"] or 0,
                reverse("admin:notifications_notificationtemplate_changelist"),
            ),
            HomeCount(
                "alert_rules",
                _("Active alert rules"),
                rules["active"] or 0,
                reverse("admin:analytics_alertrule_changelist"),
            ),
        ],
    )

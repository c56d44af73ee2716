"""The approval queue (待我审批): the requests whose current step the user may decide today.

Escalations first, then the oldest step. Each row links to the request page
(``admin:refunds_refundrequest_change``), where the decisions are taken. The bulk action approves
small requests (below the campus's automatic-check threshold) after a confirmation page.

URLs (names under the ``admin`` namespace):

- ``refunds_approvalqueueitem_changelist``  /admin/refunds/approvalqueueitem/
- ``refunds_approvalqueueitem_change``      /admin/refunds/approvalqueueitem/<id>/change/ -> the request page
- bulk action ``approve_small_requests``, posted to the changelist
"""

from __future__ import annotations

import datetime

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from schoolops.admin_mixins import ReadOnlyAdminMixin

from ..models import ApprovalQueueItem, RefundRequest
from ..rules import TIER_ROLE
from ..selectors import QUEUE_ORDERING, approval_queue_for_admin
from .decisions import BULK_LIMIT, bulk_approve_plan, bulk_approve_run
from .forms import BulkApproveForm
from .lists import (
    AmountBandFilter,
    CurrentTierFilter,
    DeadlineFilter,
    RefundListMixin,
    RiskFilter,
    StepAgeFilter,
    VisibleCampusFilter,
    amount_words,
    kind_badge,
    kinds_related,
    staff_of,
)
from .requests import APPROVALS_CSS, risk_badge


class QueueChangeList(ChangeList):
    """Rows link to the request page, where the decisions are."""

    def url_for_result(self, result):
        return reverse(
            "admin:refunds_refundrequest_change", args=(quote(result.pk),), current_app=self.model_admin.admin_site.name
        )


def duration(delta: datetime.timedelta) -> str:
    """A span of time as days and hours, or hours and minutes under a day."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return _("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
    if hours:
        return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
    return _("%(minutes)d min") % {"minutes": minutes}


@admin.register(ApprovalQueueItem)
class ApprovalQueueItemAdmin(ReadOnlyAdminMixin, RefundListMixin, admin.ModelAdmin):
    list_filter = (
        VisibleCampusFilter,
        CurrentTierFilter,
        DeadlineFilter,
        "kind",
        "reason",
        AmountBandFilter,
        StepAgeFilter,
        RiskFilter,
    )
    list_display_links = ("request_no",)
    actions = ["approve_small_requests"]

    class Media:
        css = APPROVALS_CSS

    # --- Permissions: a list to read and decide from; nothing is added, changed or deleted here
    # (ReadOnlyAdminMixin).

    def has_decide_permission(self, request) -> bool:
        """Only active staff decide; the services check each request again."""
        return staff_of(request) is not None

    # --- The list

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("", view(self.changelist_view), name=f"{prefix}_changelist"),
            path("<path:object_id>/change/", view(self.request_page), name=f"{prefix}_change"),
            path("<path:object_id>/", view(self.request_page)),
        ]

    def request_page(self, request, object_id):
        """A queue row's own address leads to the request page (404 outside the user's campuses)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        requests_admin = self.admin_site._registry[RefundRequest]
        pk = unquote(object_id)
        if not pk.isdigit() or not requests_admin.get_queryset(request).filter(pk=int(pk)).exists():
            raise Http404
        return redirect("admin:refunds_refundrequest_change", int(pk))

    def get_queryset(self, request):
        staff_of(request)  # once, cached for the filters and the columns
        queryset = approval_queue_for_admin(user=request.user, on=timezone.localdate())
        related = kinds_related()  # what the amount column says of an exchange, joined to the rows
        return queryset.select_related(*related) if related else queryset

    def get_ordering(self, request):
        return QUEUE_ORDERING

    def get_changelist(self, request, **kwargs):
        return QueueChangeList

    def get_list_display(self, request):
        staff = staff_of(request)
        now = timezone.now()

        @admin.display(description=_("waiting"), ordering="step_created_at")
        def waiting(obj):
            return duration(now - obj.step_created_at) if obj.step_created_at else ""

        @admin.display(description=_("time left"), ordering="step_due_at")
        def time_left(obj):
            if obj.step_due_at is None:
                return ""
            badge = format_html('<span class="escalated">{}</span> ', _("Escalated")) if obj.step_escalated else ""
            if obj.step_due_at < now:
                return format_html(
                    '{}<span class="sla-overdue">{}</span>',
                    badge,
                    _("Overdue by %(time)s") % {"time": duration(now - obj.step_due_at)},
                )
            return format_html('{}<span class="sla-left">{}</span>', badge, duration(obj.step_due_at - now))

        @admin.display(description=_("step"), ordering="status")
        def step(obj):
            return format_html('{}<br><span class="quiet">{}</span>', _tier(obj), _handler(obj, staff))

        return ("request_no", "kind_column", "student_and_course", "reason", "amount", "risk", step, waiting, time_left)

    def changelist_view(self, request, extra_context=None):
        title = capfirst(self.opts.verbose_name_plural)
        return super().changelist_view(request, extra_context={"title": title, **(extra_context or {})})

    @admin.display(description=gettext_lazy("student · course"), ordering="student__user__name")
    def student_and_course(self, obj) -> str:
        return format_html('{}<br><span class="quiet">{}</span>', obj.student.name, obj.order.course.name)

    @admin.display(description=gettext_lazy("kind"), ordering="kind")
    def kind_column(self, obj) -> str:
        return kind_badge(obj)

    @admin.display(description=gettext_lazy("amount"), ordering="approved_amount")
    def amount(self, obj) -> str:
        """A refund's amount; an exchange's difference with its direction (退还 / 补交 / 无差额)."""
        return amount_words(obj)

    @admin.display(description=gettext_lazy("risk"))
    def risk(self, obj) -> str:
        return risk_badge(obj)

    # --- Bulk approval

    @admin.action(description=gettext_lazy("Approve the selected small requests"), permissions=["decide"])
    def approve_small_requests(self, request, queryset):
        """A confirmation page listing what each approval does and what is left out; on confirmation,
        one ``refund_approve`` per request, each in its own transaction."""
        rows = list(queryset[: BULK_LIMIT + 1])
        too_many = len(rows) > BULK_LIMIT
        plan = bulk_approve_plan(requests=rows[:BULK_LIMIT], staff=staff_of(request), on=timezone.localdate())
        confirmed = request.POST.get("post") == "yes"
        form = BulkApproveForm(request.POST if confirmed else None)
        if confirmed and form.is_valid():
            approved, refused = bulk_approve_run(items=plan, actor=request.user, comment=form.cleaned_data["comment"])
            if approved:
                messages.success(
                    request,
                    ngettext(
                        "%(count)d request approved: %(numbers)s.",
                        "%(count)d requests approved: %(numbers)s.",
                        len(approved),
                    )
                    % {"count": len(approved), "numbers": ", ".join(r.request_no for r in approved)},
                )
            for refund, why in refused:
                messages.error(request, _("%(no)s was not approved: %(why)s") % {"no": refund.request_no, "why": why})
            skipped = [item for item in plan if not item.eligible]
            if skipped:
                messages.warning(
                    request,
                    ngettext(
                        "%(count)d request was left out: %(numbers)s.",
                        "%(count)d requests were left out: %(numbers)s.",
                        len(skipped),
                    )
                    % {"count": len(skipped), "numbers": ", ".join(item.request.request_no for item in skipped)},
                )
            if not plan:
                messages.info(request, _("None of the selected requests is waiting for you."))
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Approve small requests"),
            "plan": plan,
            "eligible": [item for item in plan if item.eligible],
            "skipped": [item for item in plan if not item.eligible],
            "too_many": too_many,
            "limit": BULK_LIMIT,
            "form": form,
            "action_name": "approve_small_requests",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/refunds/approvalqueueitem/bulk_approve.html", context)


def _tier(obj) -> str:
    """The tier the request waits at, and where it is on the route."""
    step = _pending(obj)
    if step is None:
        return obj.get_status_display()
    return _("%(tier)s (%(position)d of %(total)d)") % {
        "tier": step.get_tier_display(),
        "position": obj.route_position + 1,
        "total": len(obj.route),
    }


def _pending(obj):
    steps = getattr(obj, "pending_steps", None)
    return steps[0] if steps else None


def _handler(obj, staff) -> str:
    """Whose step it is: the user's own, a delegator's, escalated to the user, or a pool's."""
    step = _pending(obj)
    if step is None or staff is None:
        return ""
    if step.escalated_to_id == staff.pk and step.assignee_id != staff.pk:
        if step.assignee is not None:
            return _("Escalated to you from %(name)s") % {"name": step.assignee.name}
        return _("Escalated to you")
    if step.assignee_id is None:
        role = TIER_ROLE.get(step.tier)
        return _("Any %(role)s") % {"role": role.label if role else step.get_tier_display()}
    if step.assignee_id == staff.pk:
        return _("You")
    return _("For %(name)s (you are the delegate)") % {"name": step.assignee.name}

"""Refund requests in the admin: the campus's requests, each request's page with the decision
support and the decision buttons, and the read-only records of the lifecycle.

Nothing here edits a request's status or amounts by hand: the buttons lead to confirmation pages
(``decisions.decide_view``) that call the services in ``refunds.services``. Every list and page
is limited to the campuses the user may see; another campus's request answers 404 everywhere.

URLs (names under the ``admin`` namespace):

- ``refunds_refundrequest_changelist``  /admin/refunds/refundrequest/
- ``refunds_refundrequest_change``      /admin/refunds/refundrequest/<id>/change/  (the request page)
- ``refunds_refundrequest_decide``      /admin/refunds/refundrequest/<id>/decide/<approve|reject|return|adjust>/
- ``refunds_refundrequest_archive``     /admin/refunds/refundrequest/<id>/archive.zip  (closed requests)
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from finance.archive import ArchiveRefused, archive_response, can_download_archive
from finance.models import Receipt
from schoolops.admin_mixins import ReadOnlyAdminMixin
from schoolops.scoping import CampusScopedAdminMixin

from ..models import (
    CLOSED_STATES,
    PENDING_STATES,
    ApprovalStep,
    ApprovalTier,
    RefundEvent,
    RefundEvidence,
    RefundRequest,
    RefundStatus,
    RefundTransition,
)
from ..selectors import refund_request_decision_context
from .decisions import APPROVE, DECISIONS, approve_outcome, decide_view, decision_options
from .lists import (
    AgeFilter,
    AmountBandFilter,
    BoundedCountMixin,
    RefundListMixin,
    RiskFilter,
    VisibleCampusFilter,
    is_flagged,
    staff_of,
)

# What the request page reads of a request besides its own row, in the one query that loads it.
REQUEST_PAGE_RELATED = ("student__user", "order__course", "order__enrollment", "campus", "quote__order")

APPROVALS_CSS = {"all": ["css/admin_approvals.css"]}


@admin.register(RefundRequest)
class RefundRequestAdmin(RefundListMixin, ReadOnlyAdminMixin, CampusScopedAdminMixin, SimpleHistoryAdmin):
    list_display = (
        "request_no",
        "student_name",
        "course",
        "reason",
        "amount",
        "status",
        "risk",
        "submitted_at",
        "campus",
    )
    list_filter = (
        "status",
        "reason",
        VisibleCampusFilter,
        AmountBandFilter,
        RiskFilter,
        AgeFilter,
        ("submitted_at", admin.DateFieldListFilter),
    )
    list_select_related = ("student__user", "order__course", "campus")
    fieldsets = (
        (
            _("Request"),
            {
                "fields": (
                    "request_no",
                    "status",
                    "student",
                    "order",
                    "campus",
                    "reason",
                    "details",
                    "submitted_at",
                    "decided_at",
                )
            },
        ),
        (_("Amount"), {"fields": ("quote", "requested_amount", "approved_amount", "amount_confirmed")}),
        (
            _("Route"),
            {"fields": ("route", "route_position", "returned_tier", "rejected_tier", "risk_flags")},
        ),
        (_("Appeal"), {"fields": ("appealed_at", "appeal_reason", "updated_at")}),
    )
    readonly_fields = (
        "request_no",
        "order",
        "student",
        "campus",
        "status",
        "reason",
        "details",
        "quote",
        "requested_amount",
        "approved_amount",
        "amount_confirmed",
        "route",
        "route_position",
        "returned_tier",
        "rejected_tier",
        "appealed_at",
        "appeal_reason",
        "risk_flags",
        "submitted_at",
        "decided_at",
        "updated_at",
    )

    class Media:
        css = APPROVALS_CSS

    def get_urls(self):
        decide = self.admin_site.admin_view(self.decide_view)
        archive = self.admin_site.admin_view(self.archive_view)
        return [
            path(
                "<path:object_id>/decide/<str:action>/",
                decide,
                name=f"{self.opts.app_label}_{self.opts.model_name}_decide",
            ),
            path(
                "<path:object_id>/archive.zip",
                archive,
                name=f"{self.opts.app_label}_{self.opts.model_name}_archive",
            ),
            *super().get_urls(),
        ]

    def decide_view(self, request, object_id, action):
        return decide_view(self, request, object_id, action)

    def archive_view(self, request, object_id):
        """The dispute archive of a closed request: finance, campus heads and head office; 404
        outside the user's campuses (the scoped queryset), back to the page for an open request."""
        if not self.has_view_permission(request) or not can_download_archive(request.user):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        try:
            return archive_response(obj)
        except ArchiveRefused as exc:
            messages.error(request, str(exc))
            return redirect("admin:refunds_refundrequest_change", obj.pk)

    def get_queryset(self, request):
        staff_of(request)  # once, cached on the user: the campus scoping reads it
        return super().get_queryset(request)

    def history_view(self, request, object_id, extra_context=None):
        # Without the permission to see requests: 403, as on every other page of the request
        # (the campus check below would answer 404 first).
        if not self.has_view_permission(request):
            raise PermissionDenied
        return super().history_view(request, object_id, extra_context=extra_context)

    def get_object(self, request, object_id, from_field=None):
        """The request with what its page shows loaded in the same query; None outside the user's campuses."""
        queryset = self.get_queryset(request).select_related(*REQUEST_PAGE_RELATED)
        field = self.opts.pk if from_field is None else self.opts.get_field(from_field)
        try:
            return queryset.get(**{field.name: field.to_python(object_id)})
        except (RefundRequest.DoesNotExist, ValidationError, ValueError):
            return None

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(self.review_context(request, obj))
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def review_context(self, request, obj: RefundRequest) -> dict:
        """The decision support panels and the buttons of the request page."""
        now = timezone.now()
        review = refund_request_decision_context(request=obj, now=now)
        options = decision_options(
            request_obj=obj, staff=staff_of(request), steps=review.steps, on=timezone.localdate(now)
        )
        buttons = [
            (DECISIONS[key], reverse("admin:refunds_refundrequest_decide", args=[obj.pk, key]))
            for key in DECISIONS
            if key in options.actions
        ]
        return {
            "review": review,
            "decision_buttons": buttons,
            "decision_blocked": options.blocked,
            "pending_step": options.step,
            "as_delegate": options.as_delegate,
            "approve_outcome": approve_outcome(obj) if APPROVE in options.actions else "",
            "route_rows": _route_rows(obj),
            "flagged": is_flagged(obj),
            "now": now,
            **_archive_context(request, obj),
        }

    @admin.display(description=_("student"), ordering="student__user__name")
    def student_name(self, obj: RefundRequest) -> str:
        return obj.student.name

    @admin.display(description=_("course"))
    def course(self, obj: RefundRequest) -> str:
        return obj.order.course.name

    @admin.display(description=_("amount to refund (CNY)"), ordering="approved_amount")
    def amount(self, obj: RefundRequest) -> str:
        return f"¥{obj.approved_amount:,.2f}"

    @admin.display(description=_("risk"))
    def risk(self, obj: RefundRequest) -> str:
        return risk_badge(obj)


def risk_badge(obj: RefundRequest) -> str:
    """A warning badge for a flagged request, its findings in the tooltip; empty otherwise."""
    if not is_flagged(obj):
        return ""
    reasons = [str(flag) for flag in obj.risk_flags]
    if obj.student.high_risk:
        reasons.append(str(_("High-risk student: %(note)s") % {"note": obj.student.high_risk_note or "-"}))
    return format_html('<span class="risk-flag" title="{}">⚠ {}</span>', "\n".join(reasons), _("Flagged"))


def _archive_context(request, obj: RefundRequest) -> dict:
    """The archive button of a closed request and its e-receipt, for the users who may have them."""
    if obj.status not in CLOSED_STATES:
        return {}
    context = {}
    if can_download_archive(request.user):
        context["archive_url"] = reverse("admin:refunds_refundrequest_archive", args=[obj.pk])
    if obj.status == RefundStatus.REFUNDED and request.user.has_perm("finance.view_receipt"):
        context["receipt"] = Receipt.objects.filter(request=obj).first()
    return context


ROUTE_STATE_AT_POSITION = {
    **{status: "current" for status in PENDING_STATES},
    RefundStatus.NEEDS_INFO: "returned",
    RefundStatus.REJECTED: "rejected",
    RefundStatus.CANCELLED: "stopped",
}


def _route_rows(obj: RefundRequest) -> list[dict]:
    """The route's tiers, each done, current (or returned, rejected, stopped there) or still ahead."""
    rows = []
    still_open = obj.status in (*PENDING_STATES, RefundStatus.NEEDS_INFO)
    for position, tier in enumerate(obj.route):
        if position < obj.route_position:
            state = "done"
        elif position == obj.route_position:
            state = ROUTE_STATE_AT_POSITION.get(obj.status, "done")
        else:
            state = "ahead" if still_open else "not_reached"
        rows.append({"position": position + 1, "tier": ApprovalTier(tier).label, "state": state})
    return rows


@admin.register(ApprovalStep)
class ApprovalStepAdmin(BoundedCountMixin, ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    campus_field = "request__campus"  # the mixin's default ("campus") is no field of these rows
    list_display = ("request", "tier", "assignee", "decision", "decided_by", "due_at", "escalated_to")
    list_filter = ("tier", "decision")
    search_fields = ("request__request_no",)
    # A staff member's name reads her user and campus.
    list_select_related = (
        "request",
        "assignee__user",
        "assignee__campus",
        "decided_by__user",
        "decided_by__campus",
        "escalated_to__user",
        "escalated_to__campus",
    )


@admin.register(RefundTransition)
class RefundTransitionAdmin(BoundedCountMixin, ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    campus_field = "request__campus"  # the mixin's default ("campus") is no field of these rows
    list_display = ("created_at", "request", "name", "actor", "from_status", "to_status")
    list_filter = ("name", "to_status")
    search_fields = ("request__request_no",)
    list_select_related = ("request", "actor")


@admin.register(RefundEvent)
class RefundEventAdmin(BoundedCountMixin, ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    campus_field = "request__campus"  # the mixin's default ("campus") is no field of these rows
    list_display = ("created_at", "request", "kind", "actor", "handled_at")
    list_filter = ("kind",)
    search_fields = ("request__request_no",)
    list_select_related = ("request", "actor")


@admin.register(RefundEvidence)
class RefundEvidenceAdmin(BoundedCountMixin, ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    campus_field = "request__campus"  # the mixin's default ("campus") is no field of these rows
    list_display = ("original_name", "request", "content_type", "size", "uploaded_at")
    search_fields = ("request__request_no",)
    list_select_related = ("request",)
    exclude = ("file",)  # served only through a permission-checked view, never a direct link

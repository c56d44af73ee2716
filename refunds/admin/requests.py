"""Refund requests in the admin: read-only records of the lifecycle, and each campus's settings.

Nothing here edits a request's status or amounts: those change only through the services in
``refunds.services``. Every list and page is limited to the campuses the user may see.
"""

from __future__ import annotations

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from schoolops.scoping import CampusScopedAdminMixin

from ..models import (
    ApprovalStep,
    RefundEvent,
    RefundEvidence,
    RefundRequest,
    RefundTransition,
)
from .policies import ReadOnlyAdminMixin


class ApprovalStepInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ApprovalStep
    extra = 0
    fields = (
        "tier",
        "assignee",
        "decision",
        "decided_by",
        "delegate_used",
        "comment",
        "created_at",
        "due_at",
        "decided_at",
        "escalated_at",
        "escalated_to",
    )
    readonly_fields = fields


class RefundTransitionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = RefundTransition
    extra = 0
    fields = ("created_at", "name", "actor", "from_status", "to_status", "comment")
    readonly_fields = fields


class RefundEvidenceInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = RefundEvidence
    extra = 0
    fields = ("original_name", "content_type", "size", "uploaded_at")
    readonly_fields = fields


class RefundEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = RefundEvent
    extra = 0
    fields = ("created_at", "kind", "actor", "payload", "handled_at")
    readonly_fields = fields


@admin.register(RefundRequest)
class RefundRequestAdmin(ReadOnlyAdminMixin, CampusScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("request_no", "student", "order", "reason", "approved_amount", "status", "submitted_at", "campus")
    list_filter = ("status", "reason", "campus")
    search_fields = ("request_no", "order__order_no", "student__user__name", "student__user__phone")
    date_hierarchy = "submitted_at"
    list_select_related = ("student__user", "order", "campus")
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
    inlines = [ApprovalStepInline, RefundTransitionInline, RefundEvidenceInline, RefundEventInline]


@admin.register(ApprovalStep)
class ApprovalStepAdmin(ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    list_display = ("request", "tier", "assignee", "decision", "decided_by", "due_at", "escalated_to")
    list_filter = ("tier", "decision")
    search_fields = ("request__request_no",)
    list_select_related = ("request", "assignee__user", "decided_by__user", "escalated_to__user")


@admin.register(RefundTransition)
class RefundTransitionAdmin(ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "request", "name", "actor", "from_status", "to_status")
    list_filter = ("name", "to_status")
    search_fields = ("request__request_no",)
    list_select_related = ("request", "actor")


@admin.register(RefundEvent)
class RefundEventAdmin(ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "request", "kind", "actor", "handled_at")
    list_filter = ("kind",)
    search_fields = ("request__request_no",)
    list_select_related = ("request", "actor")


@admin.register(RefundEvidence)
class RefundEvidenceAdmin(ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    list_display = ("original_name", "request", "content_type", "size", "uploaded_at")
    search_fields = ("request__request_no", "original_name")
    list_select_related = ("request",)
    exclude = ("file",)  # served only through a permission-checked view, never a direct link

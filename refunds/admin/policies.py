"""Operations edit refund policies here (tiers and special rules inline); snapshots are read-only.

Campus scoping: a course type's policy is school-wide and every staff member sees it; a single
course's policy, and every quote snapshot, only to staff who may see that course's campus.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q, QuerySet
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from schoolops.admin_mixins import ReadOnlyAdminMixin
from schoolops.scoping import CampusScopedAdminMixin, visible_campus_ids

from ..forms import RefundPolicyForm, RefundTierInlineFormSet
from ..models import QuoteSnapshot, QuoteSnapshotLine, RefundPolicy, RefundSpecialRule, RefundTier


def _scope_policies(queryset: QuerySet, *, user, prefix: str = "") -> QuerySet:
    """Type policies for everyone; a course's policy for staff who see the course's campus."""
    ids = visible_campus_ids(user)
    if ids is None:
        return queryset
    return queryset.filter(Q(**{f"{prefix}course__isnull": True}) | Q(**{f"{prefix}course__campus__in": ids}))


class RefundTierInline(admin.TabularInline):
    model = RefundTier
    formset = RefundTierInlineFormSet
    extra = 0
    fields = ["from_day", "to_day", "percent"]


class RefundSpecialRuleInline(admin.StackedInline):
    model = RefundSpecialRule
    extra = 0
    fields = [
        "reason",
        "evidence",
        "percent",
        ("ignore_consumption", "waive_handling_fee", "waive_materials_fee"),
    ]


@admin.register(RefundPolicy)
class RefundPolicyAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    campus_field = "course__campus"  # for the mixin's checks; the list itself is _scope_policies
    form = RefundPolicyForm
    inlines = [RefundTierInline, RefundSpecialRuleInline]
    list_display = ["name", "scope", "mode", "handling_fee_percent", "version", "is_active", "updated_at"]
    list_filter = ["is_active", "mode", "course_type"]
    list_select_related = ["course"]
    search_fields = ["name", "course__code", "course__name"]
    raw_id_fields = ["course"]
    readonly_fields = ["version", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", ("course_type", "course"), "is_active", "mode", "description"]}),
        (
            _("Cooling-off window"),
            {"fields": ["cooling_off_days", "cooling_off_anchor", "cooling_off_progress_ceiling"]},
        ),
        (_("Time tiers (edited below)"), {"fields": ["tier_anchor"]}),
        (_("Consumption"), {"fields": ["consumption_basis", "count_replays"]}),
        (
            _("Deductions disclosed at purchase"),
            {"fields": ["handling_fee_percent", "materials_fee", "materials_description"]},
        ),
        (_("Notifications"), {"fields": ["notify_channels"]}),
        (_("Version"), {"fields": ["version", "updated_at"]}),
    ]

    def get_queryset(self, request):
        queryset = super(CampusScopedAdminMixin, self).get_queryset(request)
        return _scope_policies(queryset, user=request.user)

    @admin.display(description=_("applies to"), ordering="course_type")
    def scope(self, obj: RefundPolicy) -> str:
        return obj.scope_label


@admin.register(RefundTier)
class RefundTierAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["policy", "from_day", "to_day", "percent"]
    list_filter = ["policy__course_type"]
    list_select_related = ["policy"]

    def get_queryset(self, request):
        return _scope_policies(super().get_queryset(request), user=request.user, prefix="policy__")


@admin.register(RefundSpecialRule)
class RefundSpecialRuleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["policy", "reason", "percent", "waive_handling_fee", "evidence"]
    list_filter = ["reason", "policy__course_type"]
    list_select_related = ["policy"]

    def get_queryset(self, request):
        return _scope_policies(super().get_queryset(request), user=request.user, prefix="policy__")


@admin.register(QuoteSnapshot)
class QuoteSnapshotAdmin(ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    """Snapshots are evidence: nobody adds, changes or deletes them here."""

    campus_field = "order__course__campus"
    list_display = ["order", "reason", "total", "method", "policy_name", "policy_version", "is_estimate", "created_at"]
    list_filter = ["method", "reason", "is_estimate"]
    list_select_related = ["order"]
    search_fields = ["order__order_no"]
    date_hierarchy = "created_at"
    exclude = ["policy_terms"]
    readonly_fields = ["lines_table", "policy_terms_display"]

    class Media:
        css = {"all": ["css/admin_approvals.css"]}  # .money: amounts aligned right (no inline styles under the CSP)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("lines")

    @admin.display(description=_("lines"))
    def lines_table(self, obj: QuoteSnapshot) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td class='money'>{}</td><td>{}</td><td>{}</td></tr>",
            ((line.label, line.amount, line.formula, line.explanation) for line in obj.lines.all()),
        )
        return format_html("<table>{}</table>", rows)

    @admin.display(description=_("policy terms used"))
    def policy_terms_display(self, obj: QuoteSnapshot) -> str:
        return format_html(
            "<pre>{}</pre>", json.dumps(obj.policy_terms, indent=2, ensure_ascii=False, cls=DjangoJSONEncoder)
        )


@admin.register(QuoteSnapshotLine)
class QuoteSnapshotLineAdmin(ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    campus_field = "snapshot__order__course__campus"
    list_display = ["snapshot", "position", "label", "amount", "formula"]
    list_filter = ["kind"]
    list_select_related = ["snapshot__order"]

"""Each campus's approval settings: thresholds, limits, deadlines, hours to decide per tier."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from schoolops.scoping import CampusScopedAdminMixin

from ..models import ApprovalSettings


@admin.register(ApprovalSettings)
class ApprovalSettingsAdmin(CampusScopedAdminMixin, SimpleHistoryAdmin):
    list_display = ("campus", "small_below", "large_above", "service_limit", "appeal_days", "needs_info_days")
    fieldsets = (
        (None, {"fields": ("campus",)}),
        (_("Routes by amount"), {"fields": ("small_below", "large_above", "service_limit")}),
        (
            _("Automatic check and risk"),
            {"fields": ("auto_max_progress", "auto_max_recent_refunds", "risk_refunds_per_year")},
        ),
        (_("Deadlines"), {"fields": ("appeal_days", "needs_info_days")}),
        (
            _("Hours to decide, per tier"),
            {
                "fields": (
                    "sla_homeroom_hours",
                    "sla_quality_hours",
                    "sla_supervisor_hours",
                    "sla_campus_head_hours",
                    "sla_finance_hours",
                )
            },
        ),
    )

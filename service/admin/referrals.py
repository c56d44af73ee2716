"""The referrals (老带新) in the admin: a read-only list of every referral recorded (who brought
whom, the referrer's homeroom teacher, both rewards as recorded, when), scoped to the referrer's
campus, with the counts per student and per teacher of the rows shown above it.

Referrals are written only by ``service.services.referral_record`` when a new order names a code;
the rewards are data here, paid by the school elsewhere.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from schoolops.admin_mixins import ReadOnlyAdminMixin
from schoolops.scoping import CampusScopedAdminMixin, HeadOfficeCampusFilter

from ..models import Referral
from ..selectors import referral_counts


class ReferrerCampusFilter(HeadOfficeCampusFilter):
    """By the referrer's campus, for head office (who sees every campus); hidden for everyone else."""

    campus_field = "referrer__campus"


@admin.register(Referral)
class ReferralAdmin(ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    campus_field = "referrer__campus"
    list_display = ("recorded_at", "referrer_column", "referee_column", "teacher_column", "rewards", "order_column")
    list_display_links = ("recorded_at",)
    list_filter = (("teacher", admin.RelatedOnlyFieldListFilter), ReferrerCampusFilter)
    list_select_related = ("referrer__user", "referee__user", "teacher__user", "order__course")
    date_hierarchy = "recorded_at"
    search_fields = (
        "code",
        "order__order_no",
        "referrer__student_no",
        "referrer__user__name",
        "referee__student_no",
        "referee__user__name",
    )
    search_help_text = _("The code, the new order's number, or either student's name or number.")
    ordering = ("-recorded_at", "-pk")
    list_per_page = 50
    change_list_template = "admin/service/referral/change_list.html"
    fields = (
        "recorded_at",
        "code",
        "referrer",
        "referee",
        "order",
        "teacher",
        "referrer_reward",
        "referee_reward",
    )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context=extra_context)
        context = getattr(response, "context_data", None)
        if context is not None and "cl" in context:
            # The counts of the rows the list shows: its campuses, filters and search.
            context["referral_counts"] = referral_counts(referrals=context["cl"].queryset)
        return response

    @admin.display(description=_("referred by"), ordering="referrer__user__name")
    def referrer_column(self, obj: Referral) -> SafeString:
        return format_html('{}<br><span class="quiet">{}</span>', obj.referrer.name, obj.referrer.student_no)

    @admin.display(description=_("new student"), ordering="referee__user__name")
    def referee_column(self, obj: Referral) -> SafeString:
        return format_html('{}<br><span class="quiet">{}</span>', obj.referee.name, obj.referee.student_no)

    @admin.display(description=_("the referrer's homeroom teacher"), ordering="teacher__user__name")
    def teacher_column(self, obj: Referral) -> str:
        return obj.teacher.name if obj.teacher is not None else "-"

    @admin.display(description=_("rewards recorded (CNY)"))
    def rewards(self, obj: Referral) -> SafeString:
        return format_html(
            '{}<br><span class="quiet">{}</span>',
            gettext("referrer ¥%(amount)s") % {"amount": obj.referrer_reward},
            gettext("new student ¥%(amount)s") % {"amount": obj.referee_reward},
        )

    @admin.display(description=_("new order"), ordering="order__order_no")
    def order_column(self, obj: Referral) -> SafeString:
        return format_html('{}<br><span class="quiet">{}</span>', obj.order.order_no, obj.order.course.name)

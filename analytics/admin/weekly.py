"""The weekly reviews (周复盘) in the admin: a read-only list with each review's PDF.

Gated by the dashboard's permission (``analytics.view_dashboard``) and scoped like every campus
list: a campus head sees her campus's reviews, operations and head office every one, the
school's included (it has no campus, so only those who see every campus see it). The PDF is
served by ``<id>/pdf/`` after the same checks, never from a public media URL; a review outside
the user's campuses is a 404 there too.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from schoolops.admin_mixins import ReadOnlyAdminMixin
from schoolops.scoping import CampusScopedAdminMixin

from ..models import WeeklyReview
from ..presentation import count, money, percent
from ..weekly import scope_label, weekly_review_pdf_response
from .dashboard import VIEW_DASHBOARD


@admin.register(WeeklyReview)
class WeeklyReviewAdmin(ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    campus_field = "campus"
    list_display = ("week", "scope", "applications", "refunded", "ratio", "created_at", "pdf_link")
    list_select_related = ("campus",)
    list_filter = ("campus",)
    date_hierarchy = "week_start"
    fields = ("week", "scope", "applications", "refunded", "ratio", "created_at", "sha256", "pdf_link")
    readonly_fields = fields

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(VIEW_DASHBOARD)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(VIEW_DASHBOARD)

    @admin.display(description=_("week"), ordering="week_start")
    def week(self, obj: WeeklyReview) -> str:
        figures = obj.figures or {}
        return f"{figures.get('week_start', obj.week_start)} – {figures.get('week_end', '')}"

    @admin.display(description=_("scope"), ordering="campus__code")
    def scope(self, obj: WeeklyReview) -> str:
        return scope_label(obj)

    @admin.display(description=_("applications"))
    def applications(self, obj: WeeklyReview) -> str:
        return count(obj.figures.get("current", {}).get("applications"))

    @admin.display(description=_("refunded amount (CNY)"))
    def refunded(self, obj: WeeklyReview) -> str:
        value = obj.figures.get("current", {}).get("refunded_amount")
        return money(None if value is None else Decimal(value))

    @admin.display(description=_("refunds ÷ revenue"))
    def ratio(self, obj: WeeklyReview) -> str:
        value = obj.figures.get("current", {}).get("refund_ratio")
        return percent(None if value is None else Decimal(value), 2)

    @admin.display(description=_("PDF"))
    def pdf_link(self, obj: WeeklyReview) -> str:
        url = reverse("admin:analytics_weeklyreview_pdf", args=[obj.pk])
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, _("Download"))

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:review_id>/pdf/",
                self.admin_site.admin_view(self.pdf_view),
                name="analytics_weeklyreview_pdf",
            )
        ]
        return own + super().get_urls()

    def pdf_view(self, request: HttpRequest, review_id: int) -> FileResponse:
        """The stored PDF for those who may see the dashboard and the review's campus; else 403 / 404."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        review = self.get_queryset(request).filter(pk=review_id).first()
        if review is None:
            raise Http404
        return weekly_review_pdf_response(review)

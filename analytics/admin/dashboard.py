"""The refund analytics dashboard (退费分析) in the admin, and its XLSX export.

The dashboard is the list page of ``RefundFact`` (whose Meta carries the permission
``analytics.view_dashboard``), so it is listed on the admin index for exactly those who hold the
permission: /admin/analytics/refundfact/ (URL name ``admin:analytics_dashboard``) and
/admin/analytics/refundfact/export/ (``admin:analytics_dashboard_export``). Both take the same GET
filters, check the permission (403 for anyone logged in without it, students included) and read
``analytics_dashboard`` for the user, which keeps them to the user's campuses. The page also shows
the service desk's figures (``analytics.desk``) to those who may read tickets, and the homeroom
teachers' weekly service metrics (``analytics.student_service``) to those who may read service tasks.
Their figures are read from the database replica when one is configured (``schoolops.db_router``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _

from finance.exports import streamed_file
from finance.models import ExportFormat
from finance.writers import xlsx_chunks
from schoolops.admin_mixins import ReadOnlyAdminMixin, acting_user_with
from schoolops.db_router import replica_iter, replica_reads

from ..desk import desk_section
from ..exchanges import exchange_section
from ..forms import DashboardFilterForm
from ..models import RefundFact
from ..presentation import EXPORT_COLUMNS, dashboard_view, export_file_name, export_rows
from ..selectors import analytics_dashboard, open_risk_counts
from ..student_service import service_section

VIEW_DASHBOARD = "analytics.view_dashboard"


@admin.register(RefundFact)
class DashboardAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """No list of facts, no changes: the list page is the dashboard."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(VIEW_DASHBOARD)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(VIEW_DASHBOARD)

    def _guarded(self, view: Callable[[HttpRequest], HttpResponseBase]) -> Callable[[HttpRequest], HttpResponseBase]:
        """The admin's login check, but 403 (not the admin login page) for a logged-in user
        without the permission, a student as much as a homeroom teacher."""
        admin_view = self.admin_site.admin_view(view)

        def guarded(request: HttpRequest) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path(), reverse("admin:login"))
            acting_user_with(request, VIEW_DASHBOARD)
            return admin_view(request)

        return guarded

    def get_urls(self) -> list[URLPattern]:
        dashboard = self._guarded(self.dashboard_view)
        return [
            path("", dashboard, name="analytics_dashboard"),
            # The name the admin index links a model's entry with.
            path("", dashboard, name="analytics_refundfact_changelist"),
            path("export/", self._guarded(self.export_view), name="analytics_dashboard_export"),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return self.dashboard_view(request)

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        user = acting_user_with(request, VIEW_DASHBOARD)
        form = DashboardFilterForm(request.GET, user=user)
        view, desk, service, exchanges = None, None, None, None
        if form.is_valid():
            filters = form.filters()
            with replica_reads():
                view = dashboard_view(analytics_dashboard(user=user, filters=filters))
                desk = desk_section(user=user, filters=filters)
                service = service_section(user=user, filters=filters)
                exchanges = exchange_section(user=user, filters=filters)
        query = request.GET.urlencode()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Refund analytics"),
            "form": form,
            "view": view,
            "desk": desk,
            "service": service,
            "exchanges": exchanges,
            "risk_counts": open_risk_counts(user=user) if user.has_perm("analytics.view_alert") else None,
            "export_url": f"{reverse('admin:analytics_dashboard_export')}?{query}"
            if query
            else reverse("admin:analytics_dashboard_export"),
        }
        return TemplateResponse(request, "admin/analytics/dashboard.html", context)

    def export_view(self, request: HttpRequest) -> HttpResponseBase:
        """The current view as XLSX: the indicators, the series, the dimension table, the reasons."""
        user = acting_user_with(request, VIEW_DASHBOARD)
        form = DashboardFilterForm(request.GET, user=user)
        if not form.is_valid():
            errors = "; ".join(str(e) for errors in form.errors.values() for e in errors)
            return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
        dashboard = analytics_dashboard(user=user, filters=form.filters())
        chunks = replica_iter(xlsx_chunks(EXPORT_COLUMNS, export_rows(dashboard)(), sheet_name=_("Refund analytics")))
        return streamed_file(chunks, fmt=ExportFormat.XLSX, file_name=export_file_name(dashboard.filters))

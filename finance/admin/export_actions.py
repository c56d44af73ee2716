"""Export actions on the admin lists finance reports on: "Export selected to CSV / XLSX" and a
link to the export page with the list's report chosen.

The payout list belongs to payments' admin, which cannot import finance: finance adds its
actions by registering a subclass of ``payments.admin.PayoutAdmin`` in its place.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import gettext_lazy as _

from payments.admin import PayoutAdmin as PaymentsPayoutAdmin
from payments.models import Payout

from ..exports import EXPORT_PERMISSION
from ..selectors import ReportFilters
from .exports import export_start


class ExportActionsMixin:
    """The actions "Export selected to CSV / XLSX" on a list, the selection reaching the report
    ``export_report`` through ``export_filters``. (The list's link to the export page is its
    change-list template's: ``admin/finance/export_link.html``.)"""

    export_report = ""

    def export_filters(self, ids: tuple[int, ...]) -> ReportFilters:
        """The report's filters for the selected rows."""
        raise NotImplementedError

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(EXPORT_PERMISSION)

    def _export(self, request: HttpRequest, queryset: QuerySet[Any], fmt: str) -> HttpResponseBase:
        filters = self.export_filters(tuple(queryset.values_list("pk", flat=True)))
        return export_start(request, report=self.export_report, fmt=fmt, filters=filters)

    @admin.action(description=_("Export selected to CSV"), permissions=["export"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponseBase:
        return self._export(request, queryset, "csv")

    @admin.action(description=_("Export selected to XLSX"), permissions=["export"])
    def export_xlsx(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponseBase:
        return self._export(request, queryset, "xlsx")


admin.site.unregister(Payout)


@admin.register(Payout)
class PayoutAdmin(ExportActionsMixin, PaymentsPayoutAdmin):
    """Payments' payout admin with finance's export actions: the selection goes to the refund ledger."""

    actions = [*PaymentsPayoutAdmin.actions, "export_csv", "export_xlsx"]
    change_list_template = "admin/finance/payout_change_list.html"
    export_report = "ledger"

    def export_filters(self, ids: tuple[int, ...]) -> ReportFilters:
        return ReportFilters(payout_ids=ids)

"""Vouchers in the admin: the journal of refund vouchers and their lines, read-only; a voucher is
corrected by a reversing one (``finance.vouchers.voucher_reverse``), never edited."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from schoolops.admin_mixins import ReadOnlyAdminMixin
from schoolops.models import User
from schoolops.scoping import CampusScopedAdminMixin

from ..models import Voucher, VoucherKind, VoucherLine
from ..selectors import ReportFilters, voucher_sheet
from ..vouchers import VoucherError, voucher_reverse
from .export_actions import ExportActionsMixin

REVERSE_VOUCHER = "finance.reverse_voucher"


class ReverseForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=150, widget=forms.Textarea(attrs={"rows": 3}))


class VoucherLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = VoucherLine
    extra = 0
    fields = ("position", "account_code", "account_name", "debit", "credit", "memo")
    readonly_fields = fields


@admin.register(Voucher)
class VoucherAdmin(ExportActionsMixin, ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    campus_field = "request__campus"
    list_display = ("code", "date", "kind", "summary", "amount", "payout")
    list_filter = ("kind", "period")
    search_fields = ("summary", "payout__payout_no", "request__request_no")
    list_select_related = ("payout",)
    show_full_result_count = False
    readonly_fields = (
        "period",
        "number",
        "date",
        "kind",
        "summary",
        "amount",
        "payout",
        "reverses",
        "reversed_by_link",
        "balance",
        "created_at",
        "created_by",
    )
    inlines = [VoucherLineInline]
    actions = ["export_csv", "export_xlsx"]
    export_report = "vouchers"

    class Media:
        css = {"all": ("css/admin_finance.css",)}
        js = ("finance/voucher_print.js",)

    def export_filters(self, ids: tuple[int, ...]) -> ReportFilters:
        return ReportFilters(voucher_ids=ids)

    @admin.display(description=_("voucher number"), ordering="number")
    def code(self, obj: Voucher) -> str:
        return obj.code

    @admin.display(description=_("reversed by"))
    def reversed_by_link(self, obj: Voucher) -> str:
        reversal = Voucher.objects.filter(reverses=obj).first()
        if reversal is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a> {}',
            reverse("admin:finance_voucher_change", args=[reversal.pk]),
            reversal.code,
            reversal.summary,
        )

    @admin.display(description=_("balance check"))
    def balance(self, obj: Voucher) -> str:
        totals = obj.lines.aggregate(debit=Sum("debit"), credit=Sum("credit"))
        debit, credit = totals["debit"] or 0, totals["credit"] or 0
        verdict = _("balanced") if debit == credit else _("NOT BALANCED")
        return _("debit %(debit)s, credit %(credit)s: %(verdict)s") % {
            "debit": f"{debit:,.2f}",
            "credit": f"{credit:,.2f}",
            "verdict": verdict,
        }

    def _can_reverse(self, request: HttpRequest, voucher: Voucher) -> bool:
        return (
            request.user.has_perm(REVERSE_VOUCHER)
            and voucher.kind != VoucherKind.REVERSAL
            and not Voucher.objects.filter(reverses=voucher).exists()
        )

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:voucher_id>/reverse/",
                self.admin_site.admin_view(self.reverse_view),
                name="finance_voucher_reverse",
            )
        ]
        return own + super().get_urls()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        voucher = self.get_queryset(request).filter(pk=object_id).first()
        extra = {
            "can_reverse": voucher is not None and self._can_reverse(request, voucher),
            "sheet": voucher_sheet(voucher=voucher) if voucher is not None else None,
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def reverse_view(self, request: HttpRequest, voucher_id: int) -> HttpResponseBase:
        voucher = self.get_queryset(request).filter(pk=voucher_id).first()
        if voucher is None:
            raise Http404
        user = request.user
        if not (isinstance(user, User) and user.has_perm(REVERSE_VOUCHER)):
            raise PermissionDenied
        form = ReverseForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                reversal = voucher_reverse(voucher_id=voucher.pk, actor=user, reason=form.cleaned_data["reason"])
            except VoucherError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(reverse("admin:finance_voucher_change", args=[voucher.pk]))
            self.message_user(
                request, _("%(code)s reversed by %(reversal)s.") % {"code": voucher.code, "reversal": reversal.code}
            )
            return HttpResponseRedirect(reverse("admin:finance_voucher_change", args=[reversal.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "voucher": voucher,
            "form": form,
            "title": _("Reverse voucher %(code)s") % {"code": voucher.code},
        }
        return render(request, "admin/finance/voucher/reverse.html", context)

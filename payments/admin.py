"""Payouts for finance: what was sent, what the gateway said, vouchers, the holiday calendar.

Nothing here edits a payout by hand: finance checks a payout with the gateway now, sends a
failed one again, or records a bank transfer, each through ``payments.services``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, Sum
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from refunds.evidence import evidence_check
from refunds.models import RefundStatus
from schoolops.admin_mixins import ReadOnlyAdminMixin
from schoolops.scoping import CampusScopedAdminMixin, visible_campus_ids

from . import services
from .models import (
    CalendarDay,
    Payout,
    PayoutExchange,
    PayoutStatus,
    RejectedCallback,
    Voucher,
    VoucherKind,
    VoucherLine,
)

RECORD_TRANSFER = "payments.record_transfer"
RETRY_PAYOUT = "payments.retry_payout"
REVERSE_VOUCHER = "payments.reverse_voucher"
EXPORT_REPORTS = "finance.export_reports"


class ExportActionsMixin:
    """The actions "Export selected to CSV / XLSX" on a list, and a link to the finance export page
    with ``export_report`` chosen; the selection reaches the report as ``ReportFilters.<export_selection>``."""

    export_report = ""
    export_selection = ""

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(EXPORT_REPORTS)

    def _export(self, request: HttpRequest, queryset, fmt: str) -> HttpResponse:
        # Imported here: finance imports this app's models, so not while the admin modules load.
        from finance.admin.exports import export_start
        from finance.selectors import ReportFilters

        filters = ReportFilters(**{self.export_selection: tuple(queryset.values_list("pk", flat=True))})
        return export_start(request, report=self.export_report, fmt=fmt, filters=filters)

    @admin.action(description=_("Export selected to CSV"), permissions=["export"])
    def export_csv(self, request: HttpRequest, queryset) -> HttpResponse:
        return self._export(request, queryset, "csv")

    @admin.action(description=_("Export selected to XLSX"), permissions=["export"])
    def export_xlsx(self, request: HttpRequest, queryset) -> HttpResponse:
        return self._export(request, queryset, "xlsx")

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra = {"can_export": self.has_export_permission(request), **(extra_context or {})}
        return super().changelist_view(request, extra_context=extra)


class ReverseForm(forms.Form):
    reason = forms.CharField(label=_("reason"), max_length=150, widget=forms.Textarea(attrs={"rows": 3}))


class NeedsCheckFilter(admin.SimpleListFilter):
    """Payouts whose outcome stayed unknown: finance checks them at the gateway."""

    title = _("manual check")
    parameter_name = "needs_check"

    def lookups(self, request, model_admin):
        return [("yes", _("Needs a check at the gateway"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(needs_check_since__isnull=False).exclude(status=PayoutStatus.SUCCEEDED)
        return queryset


class CloseUnpaidForm(forms.Form):
    reason = forms.CharField(
        label=_("Why nothing more is to be paid (the student reads it)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=500,
    )


class PayoutExchangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PayoutExchange
    extra = 0
    fields = ("created_at", "kind", "outcome", "error_code", "note", "request_data", "response_data")
    readonly_fields = fields


class TransferForm(forms.Form):
    bank_reference = forms.CharField(label=_("bank reference"), max_length=64)
    transferred_on = forms.DateField(label=_("transferred on"), widget=forms.DateInput(attrs={"type": "date"}))
    scan = forms.FileField(label=_("transfer slip (PDF, JPEG or PNG)"), required=False)

    def clean_scan(self):
        scan = self.cleaned_data.get("scan")
        if scan:
            evidence_check([scan])  # type by content, size; raises ValidationError with the reason
        return scan


@admin.register(Payout)
class PayoutAdmin(ExportActionsMixin, ReadOnlyAdminMixin, CampusScopedAdminMixin, SimpleHistoryAdmin):
    campus_field = "request__campus"
    list_display = (
        "payout_no",
        "request",
        "channel",
        "amount",
        "status",
        "attempts",
        "needs_check_since",
        "gateway_refund_id",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", NeedsCheckFilter, "channel")
    search_fields = ("payout_no", "gateway_refund_id", "request__request_no", "order__order_no", "bank_reference")
    list_select_related = ("request", "order")
    date_hierarchy = "created_at"
    show_full_result_count = False
    exclude = ("transfer_scan",)
    readonly_fields = (
        "payout_no",
        "request",
        "order",
        "channel",
        "amount",
        "status",
        "gateway_refund_id",
        "attempts",
        "lease_until",
        "error_code",
        "error_message",
        "needs_check_since",
        "arrival_kind",
        "arrival_account",
        "arrival_earliest",
        "arrival_latest",
        "bank_reference",
        "recorded_by",
        "created_at",
        "sent_at",
        "finished_at",
    )
    inlines = [PayoutExchangeInline]
    actions = ["check_now", "export_csv", "export_xlsx"]
    change_form_template = "admin/payments/payout/change_form.html"
    export_report = "ledger"
    export_selection = "payout_ids"

    @admin.action(description=_("Check the selected payouts with the gateway now"), permissions=["retry"])
    def check_now(self, request: HttpRequest, queryset) -> None:
        count = 0
        in_doubt = Q(status__in=[PayoutStatus.QUEUED, PayoutStatus.SENT, PayoutStatus.UNKNOWN]) | Q(
            status=PayoutStatus.FAILED, needs_check_since__isnull=False
        )
        for payout in queryset.filter(in_doubt):
            if payout.channel not in services.MANUAL_CHANNELS:
                services.payout_dispatch(payout_id=payout.pk)
                count += 1
        self.message_user(request, _("%(count)d payouts handed to a worker.") % {"count": count})

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(RETRY_PAYOUT)

    def get_urls(self):
        urls = super().get_urls()
        own = [
            path(
                "<int:payout_id>/send-again/",
                self.admin_site.admin_view(self.send_again_view),
                name="payments_payout_send_again",
            ),
            path(
                "<int:payout_id>/record-transfer/",
                self.admin_site.admin_view(self.record_transfer_view),
                name="payments_payout_record_transfer",
            ),
            path(
                "<int:payout_id>/close-unpaid/",
                self.admin_site.admin_view(self.close_unpaid_view),
                name="payments_payout_close_unpaid",
            ),
        ]
        return own + urls

    def _payout_or_404(self, request: HttpRequest, payout_id: int) -> Payout:
        payout = self.get_queryset(request).select_related("request", "order").filter(pk=payout_id).first()
        if payout is None:
            raise Http404
        return payout

    def _back(self, payout: Payout) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:payments_payout_change", args=[payout.pk]))

    def send_again_view(self, request: HttpRequest, payout_id: int):
        payout = self._payout_or_404(request, payout_id)
        if not request.user.has_perm(RETRY_PAYOUT):
            raise PermissionDenied
        if request.method == "POST":
            try:
                new = services.payout_retry(request_id=payout.request_id, actor=request.user)
            except services.PayoutError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return self._back(payout)
            self.message_user(request, _("Sent again as %(no)s.") % {"no": new.payout_no})
            return self._back(new)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "payout": payout,
            "title": _("Send the refund again"),
        }
        return render(request, "admin/payments/payout/send_again.html", context)

    def record_transfer_view(self, request: HttpRequest, payout_id: int):
        payout = self._payout_or_404(request, payout_id)
        if not request.user.has_perm(RECORD_TRANSFER):
            raise PermissionDenied
        form = TransferForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                done = services.payout_record_transfer(
                    request_id=payout.request_id,
                    actor=request.user,
                    bank_reference=form.cleaned_data["bank_reference"],
                    transferred_on=form.cleaned_data["transferred_on"],
                    scan=form.cleaned_data.get("scan"),
                )
            except (services.PayoutError, ValidationError) as exc:
                form.add_error(None, getattr(exc, "message", None) or exc.messages[0])
            else:
                self.message_user(request, _("Transfer recorded; the refund is complete."))
                return self._back(done)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "payout": payout,
            "form": form,
            "today": timezone.localdate(),
            "title": _("Record a bank transfer"),
        }
        return render(request, "admin/payments/payout/record_transfer.html", context)

    def close_unpaid_view(self, request: HttpRequest, payout_id: int):
        payout = self._payout_or_404(request, payout_id)
        if not request.user.has_perm(RETRY_PAYOUT):
            raise PermissionDenied
        form = CloseUnpaidForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.payout_close_unpaid(
                    request_id=payout.request_id, actor=request.user, reason=form.cleaned_data["reason"]
                )
            except services.PayoutError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, _("The refund is closed without payment; the student is told."))
                return self._back(payout)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "payout": payout,
            "form": form,
            "title": _("Close the refund without payment"),
        }
        return render(request, "admin/payments/payout/close_unpaid.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        payout = self.get_queryset(request).filter(pk=object_id).select_related("request").first()
        extra = dict(extra_context or {})
        if payout is not None:
            waiting = payout.request.status in (RefundStatus.APPROVED, RefundStatus.PAYOUT_FAILED)
            manual = payout.channel in services.MANUAL_CHANNELS
            extra["can_send_again"] = (
                request.user.has_perm(RETRY_PAYOUT)
                and payout.status == PayoutStatus.FAILED
                and payout.request.status == RefundStatus.PAYOUT_FAILED
                and not manual
            )
            extra["can_record_transfer"] = (
                request.user.has_perm(RECORD_TRANSFER)
                and (
                    (manual and payout.status == PayoutStatus.QUEUED)
                    or (payout.status == PayoutStatus.FAILED and payout.request.status == RefundStatus.PAYOUT_FAILED)
                )
                and waiting
            )
            extra["can_close_unpaid"] = (
                request.user.has_perm(RETRY_PAYOUT)
                and payout.status == PayoutStatus.FAILED
                and payout.request.status == RefundStatus.PAYOUT_FAILED
            )
        return super().change_view(request, object_id, form_url, extra_context=extra)


class VoucherLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = VoucherLine
    extra = 0
    fields = ("position", "account_code", "account_name", "debit", "credit", "memo")
    readonly_fields = fields


@admin.register(Voucher)
class VoucherAdmin(ExportActionsMixin, ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    campus_field = "payout__request__campus"
    list_display = ("code", "date", "kind", "summary", "amount", "payout")
    list_filter = ("kind", "period")
    search_fields = ("summary", "payout__payout_no", "payout__request__request_no")
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
    export_selection = "voucher_ids"

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
            reverse("admin:payments_voucher_change", args=[reversal.pk]),
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

    def get_urls(self):
        own = [
            path(
                "<int:voucher_id>/reverse/",
                self.admin_site.admin_view(self.reverse_view),
                name="payments_voucher_reverse",
            )
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        voucher = self.get_queryset(request).filter(pk=object_id).first()
        extra = {"can_reverse": voucher is not None and self._can_reverse(request, voucher), **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def reverse_view(self, request: HttpRequest, voucher_id: int):
        voucher = self.get_queryset(request).filter(pk=voucher_id).first()
        if voucher is None:
            raise Http404
        if not request.user.has_perm(REVERSE_VOUCHER):
            raise PermissionDenied
        form = ReverseForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                reversal = services.voucher_reverse(
                    voucher_id=voucher.pk, actor=request.user, reason=form.cleaned_data["reason"]
                )
            except services.VoucherError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(reverse("admin:payments_voucher_change", args=[voucher.pk]))
            self.message_user(
                request, _("%(code)s reversed by %(reversal)s.") % {"code": voucher.code, "reversal": reversal.code}
            )
            return HttpResponseRedirect(reverse("admin:payments_voucher_change", args=[reversal.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "voucher": voucher,
            "form": form,
            "title": _("Reverse voucher %(code)s") % {"code": voucher.code},
        }
        return render(request, "admin/payments/voucher/reverse.html", context)


@admin.register(RejectedCallback)
class RejectedCallbackAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("received_at", "channel", "payout_no", "remote_addr", "reason")
    list_filter = ("channel",)
    search_fields = ("payout_no", "reason")
    readonly_fields = ("received_at", "channel", "payout_no", "remote_addr", "reason", "body")

    def get_queryset(self, request: HttpRequest):
        # Refused callbacks belong to no campus: only head office (all campuses) sees them.
        queryset = super().get_queryset(request)
        return queryset if visible_campus_ids(request.user) is None else queryset.none()


@admin.register(CalendarDay)
class CalendarDayAdmin(SimpleHistoryAdmin):
    list_display = ("date", "name", "is_workday")
    list_filter = ("is_workday",)
    search_fields = ("name",)
    date_hierarchy = "date"

"""Payouts for finance: what was sent, what the gateway said, refused callbacks, the holiday calendar;
and the payments asked of students (collections), read-only, with their exchanges and events.

Nothing here edits a payout by hand: finance checks a payout with the gateway now, sends a
failed one again, or records a bank transfer, each through ``payments.services``. Finance adds
its export actions to the payout list from its own admin (``finance.admin.export_actions``), and
keeps the vouchers in its own (``finance.admin.vouchers``).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from refunds.evidence import evidence_check
from refunds.models import RefundStatus
from schoolops.admin_mixins import ReadOnlyAdminMixin, acting_user_with
from schoolops.scoping import CampusScopedAdminMixin, visible_campus_ids

from . import services
from .models import (
    CalendarDay,
    Collection,
    CollectionEvent,
    CollectionExchange,
    Payout,
    PayoutExchange,
    PayoutStatus,
    RejectedCallback,
)
from .selectors import AWAITING_TRANSFER, payout_awaits_finance, payout_state_display

RECORD_TRANSFER = "payments.record_transfer"
RETRY_PAYOUT = "payments.retry_payout"


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


class AwaitingTransferFilter(admin.SimpleListFilter):
    """Bank-card and offline refunds nobody but finance will pay: the transfers to make."""

    title = _("bank transfer")
    parameter_name = "awaits_transfer"

    def lookups(self, request, model_admin):
        return [("yes", AWAITING_TRANSFER)]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status=PayoutStatus.QUEUED, channel__in=services.MANUAL_CHANNELS)
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


class PayeeForm(forms.Form):
    """The account the student gave for a transfer made by hand."""

    name = forms.CharField(label=_("Payee name"), max_length=60)
    bank = forms.CharField(label=_("Bank"), max_length=60)
    branch = forms.CharField(label=_("Branch"), max_length=100, required=False)
    account_no = forms.CharField(
        label=_("Card or account number"),
        max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )


class TransferForm(forms.Form):
    bank_reference = forms.CharField(label=_("bank reference"), max_length=64)
    transferred_on = forms.DateField(label=_("transferred on"), widget=forms.DateInput(attrs={"type": "date"}))
    scan = forms.FileField(label=_("transfer slip (PDF, JPEG or PNG)"), required=False)

    def clean_scan(self):
        scan = self.cleaned_data.get("scan")
        if scan:
            evidence_check([scan])  # type by content, size; raises ValidationError with the reason
        return scan


# What a worker uses to hold and retry a payout: nothing finance reads or acts on.
WORKER_INTERNALS = ("status", "attempts", "lease_until")


@admin.register(Payout)
class PayoutAdmin(ReadOnlyAdminMixin, CampusScopedAdminMixin, SimpleHistoryAdmin):
    campus_field = "request__campus"
    list_display = (
        "payout_no",
        "request",
        "channel",
        "amount",
        "state",
        "attempts",
        "needs_check_since",
        "gateway_refund_id",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", AwaitingTransferFilter, NeedsCheckFilter, "channel")
    search_fields = ("payout_no", "gateway_refund_id", "request__request_no", "order__order_no", "bank_reference")
    list_select_related = ("request", "order")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        "payout_no",
        "request",
        "order",
        "channel",
        "amount",
        "state",
        "status",
        "payee",
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
    readonly_fields = fields
    inlines = [PayoutExchangeInline]
    actions = ["check_now"]
    change_form_template = "admin/payments/payout/change_form.html"

    class Media:
        css = {"all": ("css/admin_finance.css",)}

    def get_list_display(self, request: HttpRequest):
        shown = super().get_list_display(request)
        if request.user.is_superuser:
            return shown
        return tuple(name for name in shown if name not in WORKER_INTERNALS)

    def get_fields(self, request: HttpRequest, obj=None):
        shown = super().get_fields(request, obj)
        if request.user.is_superuser:
            return shown
        return [name for name in shown if name not in WORKER_INTERNALS]

    @admin.display(description=_("status"), ordering="status")
    def state(self, obj: Payout) -> str:
        if payout_awaits_finance(obj):
            return format_html('<span class="payout-awaits-finance">{}</span>', AWAITING_TRANSFER)
        return payout_state_display(obj)

    @admin.display(description=_("payee account"))
    def payee(self, obj: Payout) -> str:
        """Name, bank, branch and the card's last four digits; the full number is on the transfer page."""
        if not obj.payee_account_no:
            return "-"
        return " ".join(
            part for part in (obj.payee_name, obj.payee_bank, obj.payee_branch, obj.payee_account_masked) if part
        )

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
                "<int:payout_id>/payee/",
                self.admin_site.admin_view(self.payee_view),
                name="payments_payout_payee",
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
        user = acting_user_with(request, RETRY_PAYOUT)
        if request.method == "POST":
            try:
                new = services.payout_retry(request_id=payout.request_id, actor=user)
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
        user = acting_user_with(request, RECORD_TRANSFER)
        form = TransferForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                done = services.payout_record_transfer(
                    request_id=payout.request_id,
                    actor=user,
                    bank_reference=form.cleaned_data["bank_reference"],
                    transferred_on=form.cleaned_data["transferred_on"],
                    scan=form.cleaned_data.get("scan"),
                )
            except services.PayoutError as exc:
                form.add_error(None, exc.message)
            except ValidationError as exc:  # the transfer slip (``evidence_check``)
                form.add_error(None, exc.messages[0])
            else:
                self.message_user(request, _("Transfer recorded; the refund is complete."))
                return self._back(done)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "payout": payout,
            "form": form,
            "today": timezone.localdate(),
            # The full number: only finance (who may record the transfer) reaches this page.
            "account_no_grouped": " ".join(
                payout.payee_account_no[i : i + 4] for i in range(0, len(payout.payee_account_no), 4)
            ),
            "can_edit_payee": payout_awaits_finance(payout),
            "title": _("Record a bank transfer"),
        }
        return render(request, "admin/payments/payout/record_transfer.html", context)

    def payee_view(self, request: HttpRequest, payout_id: int):
        """Finance records (or corrects) the account the student gave for the transfer."""
        payout = self._payout_or_404(request, payout_id)
        user = acting_user_with(request, RECORD_TRANSFER)
        initial = {
            "name": payout.payee_name,
            "bank": payout.payee_bank,
            "branch": payout.payee_branch,
            "account_no": payout.payee_account_no,
        }
        form = PayeeForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                services.payout_payee_record(payout_id=payout.pk, actor=user, **form.cleaned_data)
            except services.PayoutError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, _("Payee account saved."))
                return HttpResponseRedirect(reverse("admin:payments_payout_record_transfer", args=[payout.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "payout": payout,
            "form": form,
            "title": _("Payee account"),
        }
        return render(request, "admin/payments/payout/payee.html", context)

    def close_unpaid_view(self, request: HttpRequest, payout_id: int):
        payout = self._payout_or_404(request, payout_id)
        user = acting_user_with(request, RETRY_PAYOUT)
        form = CloseUnpaidForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.payout_close_unpaid(
                    request_id=payout.request_id, actor=user, reason=form.cleaned_data["reason"]
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
            extra["awaits_finance"] = payout_awaits_finance(payout)
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


class CollectionExchangeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CollectionExchange
    extra = 0
    fields = ("created_at", "kind", "outcome", "error_code", "note", "request_data", "response_data")
    readonly_fields = fields


class CollectionEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CollectionEvent
    extra = 0
    fields = ("created_at", "kind", "payload")
    readonly_fields = fields


class CollectionNeedsCheckFilter(NeedsCheckFilter):
    """Collections the gateway reported something odd about: a person checks them there."""

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(needs_check_since__isnull=False)
        return queryset


@admin.register(Collection)
class CollectionAdmin(ReadOnlyAdminMixin, CampusScopedAdminMixin, SimpleHistoryAdmin):
    """Payments asked of students (收款): what the gateway said, written only by ``payments.collections``."""

    campus_field = "campus"
    list_display = (
        "collection_no",
        "purpose",
        "purpose_id",
        "student",
        "channel",
        "mode",
        "amount",
        "status",
        "paid_at",
        "needs_check_since",
        "expires_at",
        "created_at",
    )
    list_filter = ("status", CollectionNeedsCheckFilter, "channel", "mode", "purpose")
    search_fields = ("collection_no", "gateway_trade_no", "refund_no", "student__student_no", "student__user__name")
    list_select_related = ("student__user",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = [field.name for field in Collection._meta.fields]
    inlines = [CollectionExchangeInline, CollectionEventInline]


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

"""Finance admin: e-receipts (read-only, with their PDF) and the stamped paper copies students ask
for, which are finance's task list: waiting ones first, each marked as mailed or cancelled through
``finance.receipts``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, F, IntegerField, OrderBy, Value, When
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from schoolops.admin_mixins import ReadOnlyAdminMixin
from schoolops.models import User
from schoolops.scoping import CampusScopedAdminMixin

from ..models import PaperCopyRequest, PaperCopyStatus, Receipt
from ..receipts import HANDLE_PAPER_COPY, ReceiptError, paper_copy_cancel, paper_copy_mark_mailed, receipt_pdf_response

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    campus_field = "request__campus"
    list_display = ("number", "request", "student", "amount", "channel", "issued_at", "pdf")
    list_select_related = ("request__student__user", "payout")
    search_fields = ("number", "request__request_no", "request__order__order_no", "payout__payout_no")
    date_hierarchy = "issued_at"
    show_full_result_count = False
    fields = ("number", "request", "payout", "issued_at", "sha256", "pdf")
    readonly_fields = fields

    @admin.display(description=_("student"))
    def student(self, obj: Receipt) -> str:
        return str(obj.request.student.user)

    @admin.display(description=_("amount refunded (CNY)"))
    def amount(self, obj: Receipt) -> Decimal:
        return obj.payout.amount

    @admin.display(description=_("channel"))
    def channel(self, obj: Receipt) -> str:
        return obj.payout.get_channel_display()

    @admin.display(description=_("PDF"))
    def pdf(self, obj: Receipt) -> str:
        url = reverse("admin:finance_receipt_download", args=[obj.pk])
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, _("Download"))

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:receipt_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="finance_receipt_download",
            )
        ]
        return own + super().get_urls()

    def download_view(self, request: HttpRequest, receipt_id: int) -> FileResponse:
        """The stored PDF for staff who may see receipts of its campus; any other campus is a 404."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        receipt = self.get_queryset(request).filter(pk=receipt_id).first()
        if receipt is None:
            raise Http404
        return receipt_pdf_response(receipt)


class MailedForm(forms.Form):
    carrier = forms.CharField(label=_("carrier"), max_length=40, help_text=_("e.g. SF Express, EMS"))
    tracking_no = forms.CharField(label=_("tracking number"), max_length=64)


class CancelForm(forms.Form):
    note = forms.CharField(
        label=_("why"),
        max_length=300,
        help_text=_("The student sees this note on her request page."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )


@admin.register(PaperCopyRequest)
class PaperCopyRequestAdmin(ReadOnlyAdminMixin, CampusScopedAdminMixin, admin.ModelAdmin):
    campus_field = "receipt__request__campus"
    list_display = ("requested_at", "status", "receipt", "student", "recipient", "phone", "address", "tracking", "todo")
    list_filter = ("status",)
    list_select_related = ("receipt__request__student__user",)
    search_fields = ("receipt__number", "receipt__request__request_no", "recipient", "phone", "tracking_no")
    show_full_result_count = False
    fields = (
        "receipt",
        "status",
        "requested_at",
        "recipient",
        "phone",
        "address",
        "note",
        "handled_by",
        "handled_at",
        "carrier",
        "tracking_no",
        "finance_note",
    )
    readonly_fields = fields
    change_form_template = "admin/finance/papercopyrequest/change_form.html"

    def get_ordering(self, request: HttpRequest) -> list[OrderBy | str]:  # type: ignore[override]  # Django takes expressions; the stubs only names
        # The task list: waiting requests first, oldest first; the handled ones after, newest first.
        waiting = Case(
            When(status=PaperCopyStatus.REQUESTED, then=Value(0)), default=Value(1), output_field=IntegerField()
        )
        return [
            waiting.asc(),
            Case(When(status=PaperCopyStatus.REQUESTED, then=F("requested_at"))).asc(nulls_last=True),
            F("handled_at").desc(nulls_last=True),
            "-pk",
        ]

    @admin.display(description=_("student"))
    def student(self, obj: PaperCopyRequest) -> str:
        return str(obj.receipt.request.student.user)

    @admin.display(description=_("tracking number"))
    def tracking(self, obj: PaperCopyRequest) -> str:
        return f"{obj.carrier} {obj.tracking_no}".strip()

    @admin.display(description=_("to do"))
    def todo(self, obj: PaperCopyRequest) -> str:
        if obj.status != PaperCopyStatus.REQUESTED:
            return ""
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:finance_papercopyrequest_mailed", args=[obj.pk]), _("Mark as mailed")
        )

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:paper_copy_id>/mailed/",
                self.admin_site.admin_view(self.mailed_view),
                name="finance_papercopyrequest_mailed",
            ),
            path(
                "<int:paper_copy_id>/cancel/",
                self.admin_site.admin_view(self.cancel_view),
                name="finance_papercopyrequest_cancel",
            ),
        ]
        return own + super().get_urls()

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        paper = self.get_queryset(request).filter(pk=object_id).first()
        extra = dict(extra_context or {})
        if paper is not None:
            extra["can_handle"] = paper.status == PaperCopyStatus.REQUESTED and request.user.has_perm(HANDLE_PAPER_COPY)
            extra["receipt_url"] = reverse("admin:finance_receipt_download", args=[paper.receipt_id])
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def mailed_view(self, request: HttpRequest, paper_copy_id: int) -> HttpResponseBase:
        return self._action(
            request,
            paper_copy_id,
            form_class=MailedForm,
            service=lambda paper, data, actor: paper_copy_mark_mailed(
                paper_copy_id=paper.pk, actor=actor, carrier=data["carrier"], tracking_no=data["tracking_no"]
            ),
            title=_("Mark the paper copy as mailed"),
            done=_("Marked as mailed; the student is told the tracking number."),
            template="admin/finance/papercopyrequest/mailed.html",
        )

    def cancel_view(self, request: HttpRequest, paper_copy_id: int) -> HttpResponseBase:
        return self._action(
            request,
            paper_copy_id,
            form_class=CancelForm,
            service=lambda paper, data, actor: paper_copy_cancel(
                paper_copy_id=paper.pk, actor=actor, note=data["note"]
            ),
            title=_("Cancel the paper copy request"),
            done=_("The request is cancelled."),
            template="admin/finance/papercopyrequest/cancel.html",
        )

    def _action(
        self,
        request: HttpRequest,
        paper_copy_id: int,
        *,
        form_class: type[forms.Form],
        service: Callable[[PaperCopyRequest, dict[str, Any], User], PaperCopyRequest],
        title: StrOrPromise,
        done: StrOrPromise,
        template: str,
    ) -> HttpResponseBase:
        paper = self.get_queryset(request).select_related("receipt__request__student__user").filter(pk=paper_copy_id)
        paper = paper.first()
        if paper is None:
            raise Http404
        user = request.user
        if not (user.is_authenticated and user.has_perm(HANDLE_PAPER_COPY)):
            raise PermissionDenied
        back = HttpResponseRedirect(reverse("admin:finance_papercopyrequest_change", args=[paper.pk]))
        if paper.status != PaperCopyStatus.REQUESTED:
            self.message_user(request, _("This request was already handled."), messages.WARNING)
            return back
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                service(paper, form.cleaned_data, user)
            except ReceiptError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, done)
                return back
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "paper": paper,
            "form": form,
            "title": title,
        }
        return TemplateResponse(request, template, context)

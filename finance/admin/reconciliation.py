"""Finance admin: gateway statements uploaded, reconciled and kept as runs (read-only once made).

A statement covers every campus, so only head office may reconcile: the permission
``finance.reconcile_statement`` and ``schoolops.view_all_campuses`` (or a superuser). Everyone
else gets 403 on every page here, the list included.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Case, IntegerField, Value, When
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone, translation
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from finance.exports import CONTENT_TYPES, content_disposition
from finance.models import ExportFormat, LineResult, ReconciliationRun
from finance.reconciliation import ReconciliationError, reconciliation_run_create
from finance.statements import StatementError
from finance.writers import Column, Kind, Row, csv_chunks, xlsx_chunks
from payments.gateways.registry import statement_kind_choices
from schoolops.db_router import replica_has, replica_iter
from schoolops.models import User
from schoolops.scoping import SEE_ALL_CAMPUSES

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

RECONCILE = "finance.reconcile_statement"
LINES_PER_PAGE = 200
# Problems first on a run's page, in the order finance works through them.
RESULT_ORDER = [LineResult.AMOUNT_MISMATCH, LineResult.NOT_OURS, LineResult.MISSING, LineResult.MATCHED]


def can_reconcile(user: User | AnonymousUser) -> bool:
    return user.is_active and user.has_perm(RECONCILE) and (user.is_superuser or user.has_perm(SEE_ALL_CAMPUSES))


class StatementUploadForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("statement"), choices=statement_kind_choices)
    file = forms.FileField(label=gettext_lazy("statement file (CSV as downloaded from the gateway)"))
    period_start = forms.DateField(
        label=gettext_lazy("statement from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("Only if the file does not say: a WeChat Pay bill names no day."),
    )
    period_end = forms.DateField(
        label=gettext_lazy("statement to"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("period_start"), data.get("period_end")
        if start and end and end < start:
            self.add_error("period_end", _("The period ends before it starts."))
        return data


def _line_columns() -> list[Column]:
    return [
        Column(_("Line in the file"), Kind.INT, 10),
        Column(_("Result"), Kind.TEXT, 24),
        Column(_("Merchant refund number"), Kind.TEXT, 30),
        Column(_("Gateway refund id"), Kind.TEXT, 32),
        Column(_("Amount on the statement (CNY)"), Kind.MONEY),
        Column(_("Our amount (CNY)"), Kind.MONEY),
        Column(_("Time on the statement"), Kind.DATETIME, 20),
        Column(_("Our payout status"), Kind.TEXT, 20),
        Column(_("Note"), Kind.TEXT, 50),
    ]


def _line_rows(run: ReconciliationRun) -> Iterator[Row]:
    lines = run.lines.select_related("payout").order_by(_result_rank(), "line_number", "pk")
    for line in lines.iterator(chunk_size=1000):
        yield (
            line.line_number,
            str(line.get_result_display()),
            line.payout_no,
            line.gateway_refund_id,
            line.statement_amount,
            line.our_amount,
            line.statement_time,
            str(line.payout.get_status_display()) if line.payout else "",
            line.note,
        )


def _result_rank() -> Case:
    return Case(
        *(When(result=result, then=Value(rank)) for rank, result in enumerate(RESULT_ORDER)),
        output_field=IntegerField(),
    )


def _in_language(chunks: Iterator[bytes], language: str) -> Iterator[bytes]:
    with translation.override(language):
        yield from chunks


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(admin.ModelAdmin):
    list_display = (
        "kind",
        "period_start",
        "period_end",
        "statement_rows",
        "statement_total",
        "results",
        "uploaded_by",
        "created_at",
    )
    list_filter = ("kind",)
    list_select_related = ("uploaded_by",)
    search_fields = ("source_name", "sha256", "lines__payout_no")
    date_hierarchy = "created_at"
    show_full_result_count = False
    change_list_template = "admin/finance/reconciliation_change_list.html"

    # Runs are made by the upload page only and never changed or deleted.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return can_reconcile(request.user)

    def has_view_permission(self, request: HttpRequest, obj: ReconciliationRun | None = None) -> bool:
        return can_reconcile(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ReconciliationRun | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ReconciliationRun | None = None) -> bool:
        return False

    @admin.display(description=gettext_lazy("results"))
    def results(self, run: ReconciliationRun) -> str:
        badges = [(run.matched, "matched", _("matched"))]
        badges += [
            (run.amount_mismatches, "problem", _("amount mismatches")),
            (run.not_ours, "problem", _("not ours")),
            (run.missing, "problem", _("missing")),
        ]
        return format_html_join(
            " ",
            '<span class="recon-badge recon-{}">{} {}</span>',
            ((css if count else "zero", count, label) for count, css, label in badges),
        )

    def get_urls(self) -> list[URLPattern]:
        own = [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="finance_reconciliationrun_upload"),
            path(
                "<int:run_id>/export/<str:fmt>/",
                self.admin_site.admin_view(self.export_view),
                name="finance_reconciliationrun_export",
            ),
        ]
        return own + super().get_urls()

    def _check(self, request: HttpRequest) -> User:
        """The user, if she may reconcile; else 403."""
        user = request.user
        if not (user.is_authenticated and can_reconcile(user)):
            raise PermissionDenied
        return user

    def _run_or_404(self, request: HttpRequest, run_id: int | str) -> ReconciliationRun:
        run = ReconciliationRun.objects.select_related("uploaded_by").filter(pk=run_id).first()
        if run is None:
            raise Http404
        return run

    def upload_view(self, request: HttpRequest) -> HttpResponseBase:
        user = self._check(request)
        form = StatementUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                run = reconciliation_run_create(
                    kind=form.cleaned_data["kind"],
                    upload=form.cleaned_data["file"],
                    user=user,
                    period_start=form.cleaned_data["period_start"],
                    period_end=form.cleaned_data["period_end"],
                )
            except (StatementError, ReconciliationError) as exc:
                form.add_error("file", str(exc))
            else:
                self._tell(request, run)
                return HttpResponseRedirect(reverse("admin:finance_reconciliationrun_change", args=[run.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": _("Reconcile a gateway statement"),
        }
        return TemplateResponse(request, "admin/finance/reconciliation_upload.html", context)

    def _tell(self, request: HttpRequest, run: ReconciliationRun) -> None:
        earlier = ReconciliationRun.objects.filter(sha256=run.sha256).exclude(pk=run.pk).order_by("created_at").first()
        if earlier is not None:
            url = reverse("admin:finance_reconciliationrun_change", args=[earlier.pk])
            self.message_user(
                request,
                format_html(
                    _('This same file was already reconciled on {when} (<a href="{url}">run {number}</a>).'),
                    when=f"{timezone.localtime(earlier.created_at):%Y-%m-%d %H:%M}",
                    url=url,
                    number=earlier.pk,
                ),
                messages.WARNING,
            )
        if run.has_problems:
            self.message_user(request, _("Reconciled with differences; finance has been alerted."), messages.WARNING)
        else:
            self.message_user(request, _("Reconciled: every row matches."), messages.SUCCESS)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        self._check(request)
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])  # a run is never changed
        run = self._run_or_404(request, object_id)
        lines = run.lines.select_related("payout").order_by(_result_rank(), "line_number", "pk")
        result = request.GET.get("result", "")
        if result == "problems":
            lines = lines.exclude(result=LineResult.MATCHED)
        elif result in LineResult.values:
            lines = lines.filter(result=result)
        else:
            result = ""
        page = Paginator(lines, LINES_PER_PAGE).get_page(request.GET.get("page"))
        counts = {
            LineResult.MATCHED: run.matched,
            LineResult.AMOUNT_MISMATCH: run.amount_mismatches,
            LineResult.NOT_OURS: run.not_ours,
            LineResult.MISSING: run.missing,
        }
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "run": run,
            "original": run,
            "title": str(run),
            "page": page,
            "result": result,
            "tabs": [(value, LineResult(value).label, counts[value]) for value in RESULT_ORDER],
            "problems": run.amount_mismatches + run.not_ours + run.missing,
            "formats": ExportFormat.choices,
        }
        return TemplateResponse(request, "admin/finance/reconciliation_run.html", context)

    def export_view(self, request: HttpRequest, run_id: int, fmt: str) -> StreamingHttpResponse:
        self._check(request)
        run = self._run_or_404(request, run_id)
        if fmt not in ExportFormat.values:
            raise Http404
        columns, rows = _line_columns(), _line_rows(run)
        if replica_has(ReconciliationRun, run.pk):
            # The lines from the replica; a run just made may not be there yet (its lines arrive
            # with it, in one transaction): then from the primary.
            rows = replica_iter(rows)
        if fmt == ExportFormat.CSV:
            chunks = csv_chunks(columns, rows)
        else:
            chunks = xlsx_chunks(columns, rows, sheet_name=_("Reconciliation"))
        response = StreamingHttpResponse(
            _in_language(chunks, translation.get_language()), content_type=CONTENT_TYPES[fmt]
        )
        name = f"{_('Reconciliation')}_{run.get_channel_display()}_{run.period_start}_{run.period_end}_{run.pk}.{fmt}"
        response["Content-Disposition"] = content_disposition(name)
        response["Cache-Control"] = "private, no-store"
        return response

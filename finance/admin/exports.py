"""Finance admin: the export page (导出报表), the list of one's own prepared exports and their
downloads. Small exports stream straight to the browser; large ones become an ``ExportJob``.

Everything here needs ``finance.export_reports``; a job is seen and downloaded only by the
person who asked for it (anyone else gets a 404).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from schoolops.models import User

from ..exports import (
    CONTENT_TYPES,
    EXPORT_PERMISSION,
    content_disposition,
    export_job_create,
    export_job_filters,
    export_needs_job,
    export_record_streamed,
    export_response,
)
from ..forms import ExportForm
from ..models import ExportJob, ExportStatus
from ..periods import quick_range, quick_ranges, shanghai_today
from ..selectors import ReportFilters


def export_start(request: HttpRequest, *, report: str, fmt: str, filters: ReportFilters) -> HttpResponseBase:
    """Stream the export if it is small enough; otherwise queue it and send the user to their
    list of exports. Shared by the export page and the admin lists' actions."""
    user = request.user
    if not (isinstance(user, User) and user.has_perm(EXPORT_PERMISSION)):
        raise PermissionDenied
    if not export_needs_job(report=report, filters=filters, user=user):
        # Listed under "My exports" like a prepared one (it was not, before: the list stayed empty).
        export_record_streamed(report=report, fmt=fmt, filters=filters, user=user)
        return export_response(report=report, fmt=fmt, filters=filters, user=user)
    job = export_job_create(report=report, fmt=fmt, filters=filters, user=user)
    messages.success(
        request,
        _("“%(what)s” is large: it is being prepared, you will be told when it is ready to download here.")
        % {"what": job.description},
    )
    return HttpResponseRedirect(reverse("admin:finance_exportjob_changelist"))


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    """The user's own exports; "add" is the export page."""

    list_display = ("description", "status", "row_count", "file_size", "created_at", "finished_at", "download")

    class Media:
        css = {"all": ("css/admin_finance.css",)}

    list_filter = ("status", "report")
    readonly_fields = (
        "report",
        "format",
        "description",
        "status",
        "row_count",
        "size",
        "error",
        "created_at",
        "started_at",
        "finished_at",
    )
    fields = readonly_fields
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[ExportJob]:
        return super().get_queryset(request).filter(requested_by=request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(EXPORT_PERMISSION)

    def has_view_permission(self, request: HttpRequest, obj: ExportJob | None = None) -> bool:
        return request.user.has_perm(EXPORT_PERMISSION)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(EXPORT_PERMISSION)

    def has_change_permission(self, request: HttpRequest, obj: ExportJob | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ExportJob | None = None) -> bool:
        return False

    @admin.display(description=gettext_lazy("size"))
    def file_size(self, job: ExportJob) -> str:
        return f"{number_format(job.size / 1024, 1, force_grouping=True)} KB" if job.size else ""

    @admin.display(description=gettext_lazy("download"))
    def download(self, job: ExportJob) -> str:
        if job.status == ExportStatus.DONE and not job.file:  # streamed at once: made again on request
            return format_html(
                '<a href="{}">{}</a> <span class="export-streamed">({})</span>',
                reverse("admin:finance_exportjob_download", args=[job.pk]),
                job.file_name,
                _("downloaded at once; download again with today's data"),
            )
        if job.status == ExportStatus.DONE:
            return format_html(
                '<a href="{}">{}</a>', reverse("admin:finance_exportjob_download", args=[job.pk]), job.file_name
            )
        return job.error[:120] if job.status == ExportStatus.FAILED else ""

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<int:job_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name="finance_exportjob_download",
            )
        ]
        return own + super().get_urls()

    def add_view(  # type: ignore[override]  # the stubs say HttpResponse; a streamed export is not one
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponseBase:
        """The export page: choose a report and its filters; POST streams it or queues it."""
        if not request.user.has_perm(EXPORT_PERMISSION):
            raise PermissionDenied
        today = shanghai_today()
        initial: dict[str, Any] = {"report": request.GET.get("report")}
        chosen = request.GET.get("range", "")
        try:  # a quick range's link (it works without JavaScript): the form opens with its days
            initial["date_from"], initial["date_to"] = quick_range(chosen, today=today)
        except KeyError:
            chosen = ""
        form = ExportForm(request.POST or None, user=request.user, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            return export_start(request, report=data["report"], fmt=data["format"], filters=form.filters())
        context = {
            **self.admin_site.each_context(request),
            **(extra_context or {}),
            "opts": self.model._meta,
            "form": form,
            "quick_ranges": quick_ranges(today=today),
            "chosen_range": chosen,
            "report_param": request.GET.get("report", ""),
            "title": _("Export reports"),
        }
        return TemplateResponse(request, "admin/finance/export_form.html", context)

    def download_view(self, request: HttpRequest, job_id: int) -> HttpResponseBase:
        if not request.user.has_perm(EXPORT_PERMISSION):
            raise PermissionDenied
        job = self.get_queryset(request).filter(pk=job_id, status=ExportStatus.DONE).first()
        if job is None:
            raise Http404
        if not job.file:  # an export streamed at once: the same report and filters, made again
            return export_response(
                report=job.report, fmt=job.format, filters=export_job_filters(job), user=request.user
            )
        response = FileResponse(job.file.open("rb"), content_type=CONTENT_TYPES[job.format])
        response["Content-Disposition"] = content_disposition(job.file_name)
        response["Cache-Control"] = "private, no-store"
        return response

"""Finance reports leaving the system as files: streamed to the browser while it waits, or, past
``settings.FINANCE_EXPORT_STREAM_MAX_ROWS`` rows, prepared by a worker into an ``ExportJob``
and offered for download to the person who asked for it.

Every way out goes through the selectors, which scope the rows to the user's campuses; a job
applies the scope of its requester, read again when the worker runs.

The report's rows are read from the replica when one is configured (``schoolops.db_router``):
the size count and the streamed chunks here, the rows in ``_run``. The job row itself, just
written and then updated, is read and written on the primary.
"""

from __future__ import annotations

import datetime
import logging
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.files import File
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from notifications.services import notify, recipient_for_user, site_url
from schoolops.db_router import replica_iter, replica_reads

from .events import EXPORT_READY
from .models import ExportFormat, ExportJob, ExportReport, ExportStatus
from .selectors import (
    LEDGER_COLUMNS,
    SUMMARY_COLUMNS,
    VOUCHER_COLUMNS,
    DateField,
    LedgerRows,
    ReportFilters,
    ledger_queryset,
    ledger_rows,
    summary_rows,
    voucher_lines_queryset,
    voucher_rows,
)
from .writers import Column, Row, csv_chunks, xlsx_chunks

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from schoolops.models import User

logger = logging.getLogger(__name__)

EXPORT_PERMISSION = "finance.export_reports"
# The language the export was asked in, kept beside the filters: a worker writes headings in it.
LANGUAGE_KEY = "language"
# A job still "being prepared" after this long lost its worker; its redelivered message runs it.
STALE_RUNNING = datetime.timedelta(hours=1)
# The Celery task that runs a job (``finance.tasks.run_export``, registered under this name).
RUN_EXPORT_TASK = "finance.tasks.run_export"

CONTENT_TYPES: dict[str, str] = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _paid_payouts(filters: ReportFilters, *, user: User | AnonymousUser) -> QuerySet[Any]:
    # The summary reads the payouts paid in the period: that is what its size depends on.
    return ledger_queryset(replace(filters, date_field=DateField.PAID), user=user)


class RowsReader(Protocol):
    def __call__(self, filters: ReportFilters, *, user: User | AnonymousUser) -> Iterator[Row]: ...


class SourceReader(Protocol):
    def __call__(self, filters: ReportFilters, *, user: User | AnonymousUser) -> QuerySet[Any]: ...


@dataclass(frozen=True)
class Report:
    """A report that can be exported: its columns, its rows, and what its size is counted on."""

    key: str
    columns: list[Column]
    rows: RowsReader
    source: SourceReader  # the rows read, for the stream-or-job decision

    @property
    def label(self) -> str:
        return str(ExportReport(self.key).label)

    @property
    def sheet_name(self) -> str:
        return self.label

    def file_name(self, fmt: str, filters: ReportFilters) -> str:
        """退款台账_2026-11-01_2026-11-30.csv: the report and its days (today for a selection)."""
        days = [day.isoformat() for day in (filters.date_from, filters.date_to) if day]
        return "_".join([self.label, *(days or [timezone.localdate().isoformat()])]) + f".{fmt}"


REPORTS: dict[str, Report] = {
    report.key: report
    for report in (
        Report(ExportReport.LEDGER, LEDGER_COLUMNS, ledger_rows, ledger_queryset),
        Report(ExportReport.VOUCHERS, VOUCHER_COLUMNS, voucher_rows, voucher_lines_queryset),
        Report(ExportReport.SUMMARY, SUMMARY_COLUMNS, summary_rows, _paid_payouts),
    )
}


def export_chunks(
    report: str, fmt: str, filters: ReportFilters, *, user: User | AnonymousUser, rows: Iterable[Row] | None = None
) -> Iterator[bytes]:
    """The file's bytes, chunk by chunk (``rows`` replaces the report's own, e.g. to count them);
    the headings are translated as the chunks are pulled."""
    spec = REPORTS[report]
    rows = spec.rows(filters, user=user) if rows is None else rows
    if fmt == ExportFormat.CSV:
        return csv_chunks(spec.columns, rows)
    return xlsx_chunks(spec.columns, rows, sheet_name=spec.sheet_name)


def export_needs_job(*, report: str, filters: ReportFilters, user: User | AnonymousUser) -> bool:
    """Whether the export is too large to stream while the browser waits. Counts at most one row
    past the limit, so a huge table is never counted in full."""
    limit = settings.FINANCE_EXPORT_STREAM_MAX_ROWS
    with replica_reads():
        return REPORTS[report].source(filters, user=user)[: limit + 1].count() > limit


def content_disposition(file_name: str, *, fallback: str = "") -> str:
    """An attachment with an ASCII fallback (the name's ASCII letters unless given) and the real
    (Chinese) name per RFC 5987."""
    fallback = fallback or re.sub(r"[^A-Za-z0-9._-]+", "", file_name).lstrip("._-") or "export"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"


def _in_language(chunks: Iterator[bytes], language: str) -> Iterator[bytes]:
    """The chunks produced in the request's language, even when the server pulls them later."""
    with translation.override(language):
        yield from chunks


def export_response(
    *, report: str, fmt: str, filters: ReportFilters, user: User | AnonymousUser
) -> StreamingHttpResponse:
    """The export streamed: the browser receives the first rows at once; memory stays flat. The
    rows are read (from the replica, if any) as the server pulls the chunks."""
    chunks = replica_iter(export_chunks(report, fmt, filters, user=user))
    return streamed_file(chunks, fmt=fmt, file_name=REPORTS[report].file_name(fmt, filters))


def streamed_file(chunks: Iterator[bytes], *, fmt: str, file_name: str) -> StreamingHttpResponse:
    """A file download streamed chunk by chunk, produced in the request's language, never cached."""
    response = StreamingHttpResponse(_in_language(chunks, translation.get_language()), content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = content_disposition(file_name)
    response["X-Accel-Buffering"] = "no"  # nginx passes the chunks on instead of buffering the file
    response["Cache-Control"] = "private, no-store"
    return response


def describe(*, report: str, fmt: str, filters: ReportFilters) -> str:
    """退款台账 2026-11-01 – 2026-11-30 (CSV): what a job prepares, for its list and its message."""
    days = " – ".join(day.isoformat() for day in (filters.date_from, filters.date_to) if day)
    return " ".join(part for part in (REPORTS[report].label, days, f"({ExportFormat(fmt).label})") if part)[:300]


def export_job_create(*, report: str, fmt: str, filters: ReportFilters, user: User) -> ExportJob:
    """Queue a large export; a worker prepares the file after the commit."""
    with transaction.atomic():
        job = ExportJob.objects.create(**_job_fields(report=report, fmt=fmt, filters=filters, user=user))
        transaction.on_commit(lambda: export_job_enqueue(job.pk))
    return job


def export_record_streamed(*, report: str, fmt: str, filters: ReportFilters, user: User) -> ExportJob:
    """Keep an export streamed straight to the browser in the user's list of exports ("My
    exports"), as done: no file is kept (it can be downloaded again from its filters)."""
    now = timezone.now()
    return ExportJob.objects.create(
        **_job_fields(report=report, fmt=fmt, filters=filters, user=user),
        status=ExportStatus.DONE,
        created_at=now,
        started_at=now,
        finished_at=now,
    )


def _job_fields(*, report: str, fmt: str, filters: ReportFilters, user: User) -> dict[str, Any]:
    """What every export job records: the report, its format and filters (with the language to
    write it in), its description and file name, who asked."""
    return {
        "report": report,
        "format": fmt,
        "filters": {**filters.as_json(), LANGUAGE_KEY: translation.get_language()},
        "description": describe(report=report, fmt=fmt, filters=filters),
        "file_name": REPORTS[report].file_name(fmt, filters),
        "requested_by": user,
    }


def export_job_filters(job: ExportJob) -> ReportFilters:
    """The report filters a job was asked with (without the language kept beside them)."""
    return ReportFilters.from_json({k: v for k, v in job.filters.items() if k != LANGUAGE_KEY})


def export_job_enqueue(job_id: int) -> None:
    """Hand a job to a worker (in-process when tasks run eagerly). The task is looked up by its
    name: ``finance.tasks`` imports this module to call ``export_job_run``, not the other way round."""
    current_app.tasks[RUN_EXPORT_TASK].delay(job_id)


def export_job_run(*, job_id: int) -> None:
    """Prepare a queued export: once (the job is claimed under a row lock), through a temporary
    file (memory stays flat), in the language it was asked in, then tell the requester it is
    ready; on error the job says why. A job left running by a worker that died is taken up again
    when its message comes back, once ``STALE_RUNNING`` has passed."""
    now = timezone.now()
    with transaction.atomic():
        job = (
            ExportJob.objects.select_for_update()
            .filter(
                Q(status=ExportStatus.QUEUED) | Q(status=ExportStatus.RUNNING, started_at__lt=now - STALE_RUNNING),
                pk=job_id,
            )
            .first()
        )
        if job is None:
            return
        job.status = ExportStatus.RUNNING
        job.started_at = now
        job.save(update_fields=["status", "started_at"])
    with translation.override(job.filters.get(LANGUAGE_KEY) or settings.LANGUAGE_CODE):
        _run(job)


def _run(job: ExportJob) -> None:
    job_id = job.pk
    try:
        user = get_user_model().objects.get(pk=job.requested_by_id)  # today's scope and permissions
        if not (user.is_active and user.has_perm(EXPORT_PERMISSION)):
            raise PermissionDenied(f"{user} may no longer export finance reports.")
        filters = export_job_filters(job)
        count = 0

        def counted(rows: Iterable[tuple]) -> Iterator[tuple]:
            nonlocal count
            for row in rows:
                count += 1
                yield row

        with tempfile.TemporaryFile() as scratch, replica_reads():
            source = REPORTS[job.report].rows(filters, user=user)
            # The ledger counts its own rows, and handed over as it is, lets the database write
            # the file (finance.copy_out); other reports are counted as they pass.
            rows = source if isinstance(source, LedgerRows) else counted(source)
            for chunk in export_chunks(job.report, job.format, filters, user=user, rows=rows):
                scratch.write(chunk)
            scratch.seek(0)
            job.file.save(job.file_name, File(scratch), save=False)
        with transaction.atomic():
            job.status = ExportStatus.DONE
            job.row_count = source.count if isinstance(source, LedgerRows) else count
            job.size = job.file.size
            job.finished_at = timezone.now()
            job.save(update_fields=["file", "status", "row_count", "size", "finished_at"])
            _tell_ready(job, user)
    except Exception as exc:
        logger.exception("Export job %s (%s) failed.", job_id, job.report)
        ExportJob.objects.filter(pk=job_id).update(
            status=ExportStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )


def _tell_ready(job: ExportJob, user: User) -> None:
    rows = _("%(count)s rows") % {"count": number_format(job.row_count or 0, force_grouping=True)}
    notify(
        key=f"export:{job.pk}",
        event=EXPORT_READY,
        recipients=[recipient_for_user(user)],
        context={
            "reason": f"{job.description}, {rows}",
            "date": f"{timezone.localtime(job.created_at):%Y-%m-%d %H:%M}",
            "link": site_url(reverse("admin:finance_exportjob_download", args=[job.pk])),
            "contact": "",
        },
        channels=("inbox", "email"),
    )

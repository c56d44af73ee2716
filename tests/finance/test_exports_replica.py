"""Finance's exports read the report's rows from the read replica when there is one; the export
job's own row, just written, from the primary. The replica here is a second real database that
has received one paid refund of the two the primary holds (tests/replica.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from finance.exports import export_job_create, export_needs_job
from finance.models import ExportJob, ExportStatus, LineResult, ReconciliationLine, ReconciliationRun
from finance.selectors import ReportFilters
from payments.models import Payout
from schoolops.db_router import replica_reads
from tests.replica import replicate

from .helpers import EXPORT, body, grant, paid_refund

pytestmark = [
    pytest.mark.usefixtures("shipped_data", "replica_database"),
    pytest.mark.django_db(databases={"default", "replica"}),
]


@pytest.fixture
def clerk(client, finance):
    user = grant(finance.user, EXPORT, "finance.reconcile_statement", "schoolops.view_all_campuses")
    client.force_login(user)
    client.cookies["django_language"] = "en"
    return user


@pytest.fixture
def lagging(campus, homeroom, finance, clerk):
    """One refund paid and replicated, a second paid on the primary since: their payout numbers."""
    replicated = paid_refund(campus=campus, homeroom=homeroom, finance=finance, name="王小明")[1]
    replicate()
    recent = paid_refund(campus=campus, homeroom=homeroom, finance=finance, name="陈小红")[1]
    return replicated.payout_no, recent.payout_no


def test_a_streamed_export_reads_the_replica(client, clerk, lagging):
    replicated, recent = lagging
    response = client.post(
        reverse("admin:finance_exportjob_add"), {"report": "ledger", "format": "csv", "date_field": "paid"}
    )
    assert response.status_code == 200 and response.streaming
    text = body(response).decode("utf-8-sig")
    assert replicated in text
    assert recent not in text  # paid on the primary after the replica last caught up
    # "My exports" lists it: written on the primary.
    assert ExportJob.objects.using("default").filter(requested_by=clerk, status=ExportStatus.DONE).exists()


def test_the_size_check_counts_on_the_replica(clerk, lagging, settings):
    settings.FINANCE_EXPORT_STREAM_MAX_ROWS = 1
    assert Payout.objects.count() == 2
    assert not export_needs_job(report="ledger", filters=ReportFilters(), user=clerk)


def test_an_export_job_reads_its_row_on_the_primary_and_its_rows_on_the_replica(
    clerk, lagging, django_capture_on_commit_callbacks
):
    replicated, recent = lagging
    with django_capture_on_commit_callbacks(execute=True):
        job = export_job_create(report="ledger", fmt="csv", filters=ReportFilters(), user=clerk)
    assert not ExportJob.objects.using("replica").filter(pk=job.pk).exists()  # too new for the replica

    job.refresh_from_db()
    assert (job.status, job.row_count) == (ExportStatus.DONE, 1), job.error
    with job.file.open("rb") as stored:
        text = stored.read().decode("utf-8-sig")
    assert replicated in text
    assert recent not in text


def test_outside_the_report_paths_the_primary_is_read(clerk, lagging):
    assert set(Payout.objects.values_list("payout_no", flat=True)) == set(lagging)
    with replica_reads():
        assert set(Payout.objects.values_list("payout_no", flat=True)) == {lagging[0]}


def make_run(user, payout_no: str, note: str) -> ReconciliationRun:
    run = ReconciliationRun.objects.create(
        kind="wechat_refund",
        channel="wechat",
        period_start=timezone.localdate(),
        period_end=timezone.localdate(),
        source_name="statement.csv",
        sha256="0" * 64,
        uploaded_by=user,
    )
    ReconciliationLine.objects.create(run=run, result=LineResult.MATCHED, payout_no=payout_no, note=note)
    return run


def export_run(client, run) -> str:
    response = client.get(reverse("admin:finance_reconciliationrun_export", args=[run.pk, "csv"]))
    assert response.status_code == 200
    return body(response).decode("utf-8-sig")


def test_a_replicated_reconciliation_run_is_exported_from_the_replica(client, clerk, lagging):
    run = make_run(clerk, lagging[0], "as replicated")
    replicate()
    ReconciliationLine.objects.filter(run=run).update(note="changed on the primary since")
    text = export_run(client, run)
    assert "as replicated" in text
    assert "changed on the primary since" not in text


def test_a_run_the_replica_has_not_received_is_exported_from_the_primary(client, clerk, lagging):
    run = make_run(clerk, lagging[1], "just made")
    assert "just made" in export_run(client, run)

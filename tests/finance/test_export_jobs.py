"""Exports past the streaming limit: prepared by a worker (eager here), offered to their
requester only, with the requester's scope; a failure is kept on the job."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from finance.exports import export_job_create, export_job_run, export_needs_job
from finance.models import ExportJob, ExportStatus
from finance.selectors import LEDGER_COLUMNS, ReportFilters
from notifications.models import Notification
from tests import factories

from .helpers import assert_xlsx_matches, csv_rows, grant, ledger_expected, paid_refund, xlsx_sheet

pytestmark = pytest.mark.usefixtures("shipped_data")

ADD = "admin:finance_exportjob_add"


@pytest.fixture
def small_limit(settings):
    settings.FINANCE_EXPORT_STREAM_MAX_ROWS = 1
    return settings


def test_limit_is_checked_without_counting_everything(campus, homeroom, finance, small_limit):
    paid_refund(campus=campus, homeroom=homeroom, finance=finance)
    assert not export_needs_job(report="ledger", filters=ReportFilters(), user=finance.user)
    paid_refund(campus=campus, homeroom=homeroom, finance=finance)
    assert export_needs_job(report="ledger", filters=ReportFilters(), user=finance.user)


def test_large_export_becomes_a_job_and_downloads_when_ready(
    client, campus, homeroom, finance, small_limit, django_capture_on_commit_callbacks
):
    payouts = [paid_refund(campus=campus, homeroom=homeroom, finance=finance, name="王小明")[1] for _ in range(3)]
    client.force_login(finance.user)
    client.cookies["django_language"] = "en"

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse(ADD), {"report": "ledger", "format": "xlsx", "date_field": "paid"})

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:finance_exportjob_changelist")
    job = ExportJob.objects.get()
    assert (job.status, job.row_count, job.requested_by_id) == (ExportStatus.DONE, 3, finance.user.pk)
    assert job.size == job.file.size > 0
    assert job.finished_at is not None
    listing = client.get(reverse("admin:finance_exportjob_changelist")).content.decode()
    download_url = reverse("admin:finance_exportjob_download", args=[job.pk])
    assert download_url in listing

    download = client.get(download_url)
    assert download.status_code == 200
    assert download["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "filename*=UTF-8''" in download["Content-Disposition"]
    with translation.override("en"):  # eager here: the worker ran in the request's language
        expected = [ledger_expected(p) for p in sorted(payouts, key=lambda p: (p.created_at, p.pk))]
        assert_xlsx_matches(xlsx_sheet(b"".join(download.streaming_content)), LEDGER_COLUMNS, expected)
    notice = Notification.objects.filter(dedupe_key=f"export:{job.pk}", event="finance.export_ready")
    assert notice.filter(channel="inbox", recipient=finance.user).exists()
    assert download_url in notice.get(channel="inbox").body


def test_job_file_matches_the_database_cell_by_cell(campus, homeroom, finance, django_capture_on_commit_callbacks):
    payout = paid_refund(campus=campus, homeroom=homeroom, finance=finance)[1]
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        job = export_job_create(report="ledger", fmt="xlsx", filters=ReportFilters(), user=finance.user)
    job.refresh_from_db()
    with job.file.open("rb") as stored, translation.override("en"):
        assert_xlsx_matches(xlsx_sheet(stored.read()), LEDGER_COLUMNS, [ledger_expected(payout)])


def test_job_uses_the_requesters_scope(
    campus, other_campus, homeroom, finance, small_limit, django_capture_on_commit_callbacks
):
    ours = paid_refund(campus=campus, homeroom=homeroom, finance=finance)[1]
    paid_refund(campus=other_campus, homeroom=factories.make_staff(role="homeroom", campus=other_campus))
    with django_capture_on_commit_callbacks(execute=True):
        job = export_job_create(report="ledger", fmt="csv", filters=ReportFilters(), user=finance.user)
    job.refresh_from_db()
    with job.file.open("rb") as stored:
        rows = csv_rows(stored.read())
    assert [row[7] for row in rows[1:]] == [ours.payout_no]
    assert job.row_count == 1


def test_another_users_job_is_not_found(
    client, campus, other_campus, homeroom, finance, django_capture_on_commit_callbacks
):
    paid_refund(campus=campus, homeroom=homeroom, finance=finance)
    with django_capture_on_commit_callbacks(execute=True):
        job = export_job_create(report="ledger", fmt="csv", filters=ReportFilters(), user=finance.user)
    stranger = factories.make_staff(role="finance", campus=other_campus)
    client.force_login(stranger.user)
    assert client.get(reverse("admin:finance_exportjob_download", args=[job.pk])).status_code == 404
    assert client.get(reverse("admin:finance_exportjob_change", args=[job.pk])).status_code in (302, 404)
    assert job.file_name not in client.get(reverse("admin:finance_exportjob_changelist")).content.decode()


def test_download_without_the_permission_is_refused(client, supervisor, campus, homeroom, finance):
    job = ExportJob.objects.create(report="ledger", format="csv", requested_by=supervisor.user)
    client.force_login(supervisor.user)
    assert client.get(reverse("admin:finance_exportjob_download", args=[job.pk])).status_code == 403


def test_a_job_runs_once(campus, homeroom, finance, django_capture_on_commit_callbacks):
    paid_refund(campus=campus, homeroom=homeroom, finance=finance)
    with django_capture_on_commit_callbacks(execute=True):
        job = export_job_create(report="ledger", fmt="csv", filters=ReportFilters(), user=finance.user)
    job.refresh_from_db()
    name, finished = job.file.name, job.finished_at
    export_job_run(job_id=job.pk)  # a duplicate delivery of the task
    job.refresh_from_db()
    assert (job.file.name, job.finished_at) == (name, finished)
    assert Notification.objects.filter(dedupe_key=f"export:{job.pk}", channel="inbox").count() == 1


def test_a_failing_job_is_marked_failed_with_the_error(finance):
    job = ExportJob.objects.create(
        report="ledger", format="csv", filters={"date_field": "bogus"}, requested_by=finance.user
    )
    export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED
    assert "bogus" in job.error
    assert job.finished_at is not None and not job.file


def test_a_requester_who_lost_the_permission_gets_no_file(supervisor):
    job = ExportJob.objects.create(report="ledger", format="csv", requested_by=supervisor.user)
    export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED
    assert "may no longer export" in job.error


def test_list_action_past_the_limit_becomes_a_job(
    client, campus, homeroom, finance, small_limit, django_capture_on_commit_callbacks
):
    payouts = [paid_refund(campus=campus, homeroom=homeroom, finance=finance)[1] for _ in range(2)]
    client.force_login(grant(finance.user))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:payments_payout_changelist"),
            {"action": "export_csv", "_selected_action": [p.pk for p in payouts]},
        )
    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert job.status == ExportStatus.DONE
    assert sorted(job.filters["payout_ids"]) == sorted(p.pk for p in payouts)
    assert job.row_count == 2


def test_worker_writes_headings_in_the_language_the_export_was_asked_in(campus, homeroom, finance):
    paid_refund(campus=campus, homeroom=homeroom, finance=finance)
    with translation.override("en"):
        job = export_job_create(report="ledger", fmt="csv", filters=ReportFilters(), user=finance.user)
    with translation.override("zh-hans"):  # a worker's own language is the default one
        export_job_run(job_id=job.pk)
    job.refresh_from_db()
    with job.file.open("rb") as stored:
        header = csv_rows(stored.read())[0]
    assert header[:2] == ["Request number", "Order number"]


def test_a_job_left_running_by_a_dead_worker_runs_again_when_its_message_returns(campus, homeroom, finance):
    import datetime

    from django.utils import timezone

    paid_refund(campus=campus, homeroom=homeroom, finance=finance)
    job = export_job_create(report="ledger", fmt="csv", filters=ReportFilters(), user=finance.user)
    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.RUNNING, started_at=timezone.now())
    export_job_run(job_id=job.pk)  # another worker has it: nothing happens
    job.refresh_from_db()
    assert job.status == ExportStatus.RUNNING and not job.file

    ExportJob.objects.filter(pk=job.pk).update(started_at=timezone.now() - datetime.timedelta(hours=2))
    export_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.row_count) == (ExportStatus.DONE, 1)

"""The ledger written by PostgreSQL (finance.copy_out) against the ledger written row by row in
Python, the reference: the same CSV bytes and the same XLSX cells, whoever asks, whatever the
filters and the language, with awkward names, times around midnight in Shanghai, payouts not
paid, requests nobody approved by name, and formula starts neutralised."""

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from finance import copy_out, selectors
from finance.selectors import LEDGER_COLUMNS, DateField, ReportFilters, ledger_rows
from finance.writers import csv_chunks, xlsx_chunks
from orders.models import Course, PaymentChannel
from payments.models import Payout, PayoutStatus
from refunds.models import ApprovalStep, ApprovalTier, QuoteLineKind, QuoteSnapshotLine, RefundRequest, StepDecision
from schoolops.models import Campus, User
from tests import factories

from .helpers import csv_rows, paid_refund, xlsx_sheet

pytestmark = [pytest.mark.usefixtures("shipped_data"), pytest.mark.django_db]

SHANGHAI_MIDNIGHT = datetime.datetime(2026, 11, 30, 16, 0, tzinfo=datetime.UTC)  # 12-01 00:00 in Shanghai
NAMES = [
    "王小明",
    'Wang, "Xiao" Ming',
    "两行\n名字",
    '=HYPERLINK("http://x")',
    "+86 138",
    "-张三",
    "@赵六",
    "\t制表",
    "\r回车",
    "",  # no name: the username
]


@pytest.fixture
def ledger(campus, other_campus, homeroom, finance, other_campus_homeroom):
    """Payouts on two campuses, every channel, with the values a CSV or a sheet gets wrong."""
    Campus.objects.filter(pk=other_campus.pk).update(name='上海,"徐汇"\n校区')
    other_finance = factories.make_staff(role="finance", campus=other_campus, name="")
    payouts = []
    channels = [PaymentChannel.WECHAT, PaymentChannel.ALIPAY, PaymentChannel.CARD, PaymentChannel.OFFLINE]
    for n, name in enumerate(NAMES):
        on_other = n % 3 == 2
        _request, payout = paid_refund(
            campus=other_campus if on_other else campus,
            homeroom=other_campus_homeroom if on_other else homeroom,
            finance=other_finance if on_other else finance,
            channel=channels[n % len(channels)],
            price=f"{100 + n * 37}.{n:02d}",
            name=name or "placeholder",
        )
        payouts.append(payout)
    requests = {p.pk: p.request for p in Payout.objects.select_related("request__student__user")}
    # No name: the username shows.
    User.objects.filter(pk=requests[payouts[-1].pk].student.user_id).update(name="")
    # Times either side of midnight in Shanghai, to the microsecond.
    first = requests[payouts[0].pk]
    RefundRequest.objects.filter(pk=first.pk).update(
        submitted_at=SHANGHAI_MIDNIGHT - datetime.timedelta(microseconds=1),
        decided_at=SHANGHAI_MIDNIGHT,
    )
    Payout.objects.filter(pk=payouts[0].pk).update(finished_at=SHANGHAI_MIDNIGHT + datetime.timedelta(seconds=59.9))
    # A payout that failed (no amount paid back, no paid time), one still queued.
    Payout.objects.filter(pk=payouts[1].pk).update(status=PayoutStatus.FAILED)
    Payout.objects.filter(pk=payouts[3].pk).update(status=PayoutStatus.QUEUED)
    # Two approvers, in the order they decided (the second step decided first, on an earlier id).
    two = requests[payouts[8].pk]
    step = ApprovalStep.objects.filter(request=two, decision=StepDecision.APPROVED).get()
    for tier, decided_by, minutes in ((ApprovalTier.FINANCE, finance, 5), (ApprovalTier.SUPERVISOR, None, -5)):
        ApprovalStep.objects.create(
            request=two,
            tier=tier,
            decision=StepDecision.APPROVED,
            decided_by=decided_by,
            created_at=step.created_at,
            due_at=step.due_at,
            decided_at=step.decided_at + datetime.timedelta(minutes=minutes),
        )
    # Nobody approved by name (an automatic pass), nobody at all, no handling fee.
    ApprovalStep.objects.filter(request=requests[payouts[4].pk]).update(decided_by=None)
    ApprovalStep.objects.filter(request=requests[payouts[5].pk]).update(decision=StepDecision.SKIPPED)
    QuoteSnapshotLine.objects.filter(
        snapshot=requests[payouts[6].pk].quote_id, kind=QuoteLineKind.HANDLING_FEE
    ).delete()
    # A course name that is a formula and quoted text; ties on created_at for the keyset.
    Course.objects.filter(orders__pk=payouts[7].order_id).update(name='-1+1, "课程"')
    tie = timezone.now() - datetime.timedelta(days=2)
    Payout.objects.filter(pk__in=[p.pk for p in payouts[2:6]]).update(created_at=tie)
    return payouts


def python_rows(filters: ReportFilters, user) -> Iterator[tuple]:
    """The ledger's rows as plain tuples: the writers cannot hand them to the database."""
    yield from ledger_rows(filters, user=user)


def database_written(filters: ReportFilters, user, writer, monkeypatch) -> bytes:
    """The file as the database writes it; a row read in Python fails the test."""

    def refuse(queryset):
        raise AssertionError("the rows were read in Python")

    with monkeypatch.context() as patch:
        patch.setattr(selectors, "_ledger_python_rows", refuse)
        rows = ledger_rows(filters, user=user)
        data = b"".join(writer(LEDGER_COLUMNS, rows))
    assert rows.count == sum(1 for _ in python_rows(filters, user))
    return data


def filter_cases(ledger, campus, other_campus) -> list[ReportFilters]:
    today = timezone.localdate()
    return [
        ReportFilters(),
        ReportFilters(channel=PaymentChannel.WECHAT),
        ReportFilters(status=PayoutStatus.SUCCEEDED),
        ReportFilters(campus_ids=(other_campus.pk,)),
        ReportFilters(course_id=ledger[7].order.course_id),
        ReportFilters(payout_ids=(ledger[0].pk, ledger[2].pk, ledger[9].pk)),
        ReportFilters(date_field=DateField.APPLIED, date_from=datetime.date(2026, 11, 30), date_to=today),
        ReportFilters(date_field=DateField.APPROVED, date_from=datetime.date(2026, 12, 1), date_to=today),
        ReportFilters(date_from=today, date_to=today),
    ]


@pytest.fixture(params=["superuser", "campus clerk", "other campus clerk"])
def reader(request, finance, other_campus):
    if request.param == "superuser":
        return factories.make_user(is_superuser=True, is_staff=True)
    if request.param == "campus clerk":
        return finance.user
    return factories.make_staff(role="finance", campus=other_campus).user


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_database_csv_is_the_python_csv_byte_for_byte(ledger, campus, other_campus, reader, language, monkeypatch):
    monkeypatch.setattr(copy_out, "PIECE_BYTES", 1)  # every row a piece of its own
    with translation.override(language):
        for filters in filter_cases(ledger, campus, other_campus):
            expected = b"".join(csv_chunks(LEDGER_COLUMNS, python_rows(filters, reader)))
            assert database_written(filters, reader, csv_chunks, monkeypatch) == expected, filters


def test_the_csv_compared_holds_what_it_should(ledger, other_campus_homeroom, monkeypatch):
    superuser = factories.make_user(is_superuser=True, is_staff=True)
    with translation.override("en"):
        rows = csv_rows(database_written(ReportFilters(), superuser, csv_chunks, monkeypatch))
    assert rows[0][:3] == ["Request number", "Order number", "Student"]
    assert len(rows) == 1 + len(ledger)
    by_payout = {row[7]: row for row in rows[1:]}
    first = by_payout[ledger[0].payout_no]
    assert (first[14], first[15], first[16]) == ("2026-11-30 23:59:59", "2026-12-01 00:00:00", "2026-12-01 00:00:59")
    failed = by_payout[ledger[1].payout_no]
    assert (failed[13], failed[16], failed[18]) == ("", "", "Failed")
    assert by_payout[ledger[1].payout_no][2] == 'Wang, "Xiao" Ming'
    assert by_payout[ledger[2].payout_no][2] == "两行\n名字"
    assert by_payout[ledger[2].payout_no][4] == '上海,"徐汇"\n校区'
    assert [by_payout[p.payout_no][2] for p in ledger[3:9]] == [
        '\'=HYPERLINK("http://x")',
        "'+86 138",
        "'-张三",
        "'@赵六",
        "'\t制表",
        "'\r回车",
    ]
    assert by_payout[ledger[9].payout_no][2].startswith("user")
    assert by_payout[ledger[4].payout_no][17] == "Homeroom teacher review：automatic"
    assert by_payout[ledger[5].payout_no][17] == ""
    assert by_payout[ledger[8].payout_no][17] == (
        f"Teaching supervisor review：automatic；Homeroom teacher review：{other_campus_homeroom.user.name}；"
        "Finance approval：李会计"
    )
    assert by_payout[ledger[6].payout_no][12] == "0.00"
    assert by_payout[ledger[7].payout_no][3] == '\'-1+1, "课程"'
    assert by_payout[ledger[0].payout_no][12] == f"{Decimal(ledger[0].order.amount_paid) * Decimal('0.1'):.2f}"


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_database_xlsx_has_the_python_xlsx_cells(ledger, campus, other_campus, language, monkeypatch):
    monkeypatch.setattr(copy_out, "PIECE_BYTES", 700)  # pieces of a few rows
    superuser = factories.make_user(is_superuser=True, is_staff=True)
    with translation.override(language):
        for filters in filter_cases(ledger, campus, other_campus):
            expected = xlsx_sheet(b"".join(xlsx_chunks(LEDGER_COLUMNS, python_rows(filters, superuser))))
            got = xlsx_sheet(database_written(filters, superuser, xlsx_chunks, monkeypatch))
            assert got.freeze_panes == expected.freeze_panes == "A2"
            want_rows, got_rows = list(expected.iter_rows()), list(got.iter_rows())
            assert len(got_rows) == len(want_rows), filters
            for want_row, got_row in zip(want_rows, got_rows, strict=True):
                for want, cell in zip(want_row, got_row, strict=True):
                    where = f"{cell.coordinate} {filters}"
                    assert cell.coordinate == want.coordinate, where
                    assert cell.value == want.value, where
                    assert cell.data_type == want.data_type, where
                    assert cell.number_format == want.number_format, where


def test_other_columns_an_unnamed_zone_or_rows_already_read_are_written_in_python(ledger, finance):
    rows = ledger_rows(ReportFilters(), user=finance.user)
    assert rows.database_write(LEDGER_COLUMNS[:-1], "csv", print) is None
    with timezone.override(datetime.timezone(datetime.timedelta(hours=8))):  # no name to give PostgreSQL
        assert rows.database_write(LEDGER_COLUMNS, "csv", print) is None
    assert next(rows)[0]
    assert rows.database_write(LEDGER_COLUMNS, "csv", print) is None  # already being read row by row
    assert rows.count == 1


def test_rows_are_passed_on_a_few_at_a_time(ledger, monkeypatch):
    monkeypatch.setattr(copy_out, "PIECE_BYTES", 1)
    superuser = factories.make_user(is_superuser=True, is_staff=True)
    rows = ledger_rows(ReportFilters(), user=superuser)
    pieces: list[bytes] = []
    counts = rows.database_write(LEDGER_COLUMNS, "csv", pieces.append)
    assert counts is not None
    assert next(counts) == 1 == rows.count
    assert len(pieces) == 1 and pieces[0].endswith(b"\r\n")
    assert list(counts) == list(range(2, len(ledger) + 1))
    assert rows.count == len(ledger) == len(pieces)


def test_a_reader_that_stops_early_stops_the_copy(ledger, monkeypatch):
    monkeypatch.setattr(copy_out, "PIECE_BYTES", 1)
    monkeypatch.setattr(copy_out, "QUEUE_PIECES", 1)
    superuser = factories.make_user(is_superuser=True, is_staff=True)
    chunks = xlsx_chunks(LEDGER_COLUMNS, ledger_rows(ReportFilters(), user=superuser))
    next(chunks)
    chunks.close()
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("copy-out")]
    assert Payout.objects.count() == len(ledger)  # the connection still answers


def test_the_export_job_has_the_database_write_the_ledger_and_counts_its_rows(
    ledger, finance, monkeypatch, django_capture_on_commit_callbacks
):
    from finance.exports import export_job_create
    from finance.models import ExportStatus

    def refuse(queryset):
        raise AssertionError("the export job read the ledger in Python")

    expected = b"".join(csv_chunks(LEDGER_COLUMNS, python_rows(ReportFilters(), finance.user)))
    count = sum(1 for _ in python_rows(ReportFilters(), finance.user))
    monkeypatch.setattr(selectors, "_ledger_python_rows", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        job = export_job_create(report="ledger", fmt="csv", filters=ReportFilters(), user=finance.user)
    job.refresh_from_db()
    assert job.status == ExportStatus.DONE, job.error
    assert job.row_count == count > 0
    with job.file.open("rb") as stored:
        assert stored.read() == expected

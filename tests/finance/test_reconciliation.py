"""Statement reconciliation end to end through the admin: upload, every kind of result, the
alert, the export, broken files leaving nothing behind, and who may do it."""

from __future__ import annotations

import datetime
import hashlib
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from finance.models import LineResult, ReconciliationLine, ReconciliationRun
from finance.reconciliation import ReconciliationError, reconciliation_run_create
from notifications.models import Notification
from orders.models import Order, PaymentChannel
from payments.gateways.alipay import ALIPAY_COLUMNS
from payments.models import Payout, PayoutStatus
from schoolops.models import StaffRole
from tests import factories

from .helpers import body, csv_rows, grant, paid_refund, xlsx_sheet

pytestmark = pytest.mark.usefixtures("shipped_data")

FIXTURES = Path(__file__).parent / "statements"
WECHAT_REFUND, ALIPAY_ACCOUNT = "wechat_refund", "alipay_account"  # the kinds the gateways name their statements
WECHAT_FILE = "wechat_refund_20261120.csv"
ALIPAY_FILE = "alipay_account_20261120.csv"
UPLOAD = "admin:finance_reconciliationrun_upload"
HEAD_OFFICE = "schoolops.view_all_campuses"
DAY = datetime.date(2026, 11, 20)


def at(text: str) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.fromisoformat(text), timezone.get_default_timezone())


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def head_office_finance(campus, name: str):
    staff = factories.make_staff(role=StaffRole.FINANCE, campus=campus, name=name)
    return grant(staff.user, HEAD_OFFICE)


@pytest.fixture
def chief(campus):
    """Head-office finance: the finance role and every campus."""
    return head_office_finance(campus, "钱总账")


@pytest.fixture
def as_chief(client, chief):
    client.force_login(chief)
    client.cookies["django_language"] = "en"
    return client


def payout_as(campus, homeroom, *, channel, no, amount, when, status=PayoutStatus.SUCCEEDED, order_no=""):
    """A payout paid through the real services, then given the fixture's number, amount, time, state."""
    _, payout = paid_refund(campus=campus, homeroom=homeroom, channel=channel)
    finished = at(when) if status == PayoutStatus.SUCCEEDED else None
    Payout.objects.filter(pk=payout.pk).update(
        payout_no=no, amount=Decimal(amount), status=status, sent_at=at(when), finished_at=finished
    )
    if order_no:
        Order.objects.filter(pk=payout.order_id).update(order_no=order_no)
    payout.refresh_from_db()
    return payout


@pytest.fixture
def wechat_payouts(campus, homeroom):
    """Ours, for the WeChat Pay bill of 2026-11-20."""

    def make(no, amount, when, **kw):
        return payout_as(campus, homeroom, channel=PaymentChannel.WECHAT, no=no, amount=amount, when=when, **kw)

    return {
        "matched": make("RF20261120000101", "300.00", "2026-11-20 10:15:03"),
        "amount": make("RF20261120000102", "450.00", "2026-11-20 11:02:37"),
        "sent": make("RF20261120000103", "120.00", "2026-11-20 13:20:06", status=PayoutStatus.SENT),
        "missing": make("RF20261120000105", "200.00", "2026-11-20 16:40:00"),
        "processing": make("RF20261120000107", "150.00", "2026-11-20 17:55:22", status=PayoutStatus.UNKNOWN),
        "day_before": make("RF20261119000106", "80.00", "2026-11-19 23:59:59"),
        "next_day": make("RF20261121000108", "90.00", "2026-11-21 00:00:00"),
    }


@pytest.fixture
def alipay_payouts(campus, homeroom):
    """Ours, for the Alipay account bill of 2026-11-20 (matched through the order number)."""

    def make(order_no, amount, when, **kw):
        no = f"RA{order_no[2:]}"
        return payout_as(
            campus, homeroom, channel=PaymentChannel.ALIPAY, no=no, amount=amount, when=when, order_no=order_no, **kw
        )

    return {
        "matched": make("MD20261001000201", "300.00", "2026-11-20 09:42:15"),
        "amount": make("MD20261001000202", "450.00", "2026-11-20 10:05:44"),
        "missing": make("MD20261001000203", "180.00", "2026-11-20 14:05:00"),
        "unknown": make("MD20261001000204", "260.00", "2026-11-20 16:27:30", status=PayoutStatus.UNKNOWN),
    }


def alerts():
    return Notification.objects.filter(event="finance.reconciliation_mismatch")


def upload(client, name: str, data: bytes | None = None, *, kind=WECHAT_REFUND, follow=True, **period):
    data = (FIXTURES / name).read_bytes() if data is None else data
    form = {"kind": kind, "file": SimpleUploadedFile(name, data, content_type="text/csv"), **period}
    return client.post(reverse(UPLOAD), form, follow=follow)


def results(run) -> dict[str, tuple[str, str]]:
    return {line.payout_no: (line.result, line.note) for line in run.lines.all()}


def test_wechat_bill_gives_every_kind_of_result(as_chief, chief, wechat_payouts):
    response = upload(as_chief, WECHAT_FILE)

    run = ReconciliationRun.objects.get()
    assert response.redirect_chain[-1][0] == reverse("admin:finance_reconciliationrun_change", args=[run.pk])
    assert (run.kind, run.channel, run.uploaded_by) == (WECHAT_REFUND, PaymentChannel.WECHAT, chief)
    assert (run.period_start, run.period_end) == (DAY, DAY)  # no date in the bill or the form: its rows' day
    assert (run.matched, run.amount_mismatches, run.not_ours, run.missing) == (2, 2, 1, 1)
    assert (run.statement_rows, run.statement_total) == (5, Decimal("913.00"))  # the processing row is not money yet
    assert run.our_total == Decimal("1220.00")  # 300 + 450 + 120 + 200 + 150: what went out that day
    by_no = results(run)
    assert by_no["RF20261120000101"] == (LineResult.MATCHED, "")
    assert by_no["RF20261120000102"][0] == LineResult.AMOUNT_MISMATCH
    assert "405.00" in by_no["RF20261120000102"][1] and "450.00" in by_no["RF20261120000102"][1]
    assert by_no["RF20261120000103"] == (
        LineResult.AMOUNT_MISMATCH,
        "The statement says refunded; our payout is Sent to the gateway.",
    )
    assert by_no["RF20261120009999"] == (LineResult.NOT_OURS, "")
    assert by_no["RF20261120000105"] == (LineResult.MISSING, "Succeeded on our side at 2026-11-20 16:40:00.")
    assert by_no["RF20261120000107"][0] == LineResult.MATCHED  # processing there, unknown here
    assert "PROCESSING" in by_no["RF20261120000107"][1]
    assert "RF20261119000106" not in by_no and "RF20261121000108" not in by_no  # outside the day
    not_ours = run.lines.get(result=LineResult.NOT_OURS)
    assert (not_ours.line_number, not_ours.statement_amount, not_ours.payout) == (5, Decimal("88.00"), None)
    assert not_ours.raw["商户订单号"] == "SHOP20260815000999"
    assert run.lines.get(payout_no="RF20261120000101").payout == wechat_payouts["matched"]
    data = (FIXTURES / WECHAT_FILE).read_bytes()
    assert run.sha256 == hashlib.sha256(data).hexdigest() and run.source_name == WECHAT_FILE
    assert run.source_file.read() == data
    page = response.content.decode()
    assert "Reconciled with differences" in page
    assert reverse("admin:payments_payout_change", args=[wechat_payouts["amount"].pk]) in page


def test_alipay_bill_matches_through_the_order_and_its_own_period(as_chief, alipay_payouts):
    # The bill states its day; the form's dates give way to it.
    upload(as_chief, ALIPAY_FILE, kind=ALIPAY_ACCOUNT, period_start="2026-11-01", period_end="2026-11-30")

    run = ReconciliationRun.objects.get()
    assert (run.channel, run.period_start, run.period_end) == (PaymentChannel.ALIPAY, DAY, DAY)
    assert (run.matched, run.amount_mismatches, run.not_ours, run.missing) == (1, 2, 1, 1)
    assert run.statement_total == Decimal("1059.00")  # refunds only: the fee and the payments are not counted
    lines = {line.line_number: line for line in run.lines.all()}
    assert lines[7].payout == alipay_payouts["matched"] and lines[7].result == LineResult.MATCHED
    assert lines[8].payout == alipay_payouts["amount"] and lines[8].result == LineResult.AMOUNT_MISMATCH
    assert lines[10].result == LineResult.NOT_OURS and lines[10].payout is None
    assert lines[11].payout == alipay_payouts["unknown"] and "Outcome unknown" in lines[11].note
    assert lines[7].gateway_refund_id == "311290000012345602" and lines[7].payout_no == "RA20261001000201"
    missing = run.lines.get(result=LineResult.MISSING)
    assert (missing.payout, missing.line_number) == (alipay_payouts["missing"], None)


def test_partial_refunds_of_one_order_each_find_their_payout(chief, campus, homeroom):
    first = payout_as(
        campus,
        homeroom,
        channel=PaymentChannel.ALIPAY,
        no="RA1",
        amount="100.00",
        when="2026-11-20 09:00:00",
        order_no="MD500",
    )
    second = payout_as(
        campus, homeroom, channel=PaymentChannel.ALIPAY, no="RA2", amount="40.00", when="2026-11-20 10:00:00"
    )
    Payout.objects.filter(pk=second.pk).update(order=first.order)
    rows = [
        "3\t,2026\t,MD500\t,课程\t,2026-11-20 10:00:05,李**\t,0.00,-40.00,10.00,支付宝,交易退款,",
        "4\t,2026\t,MD500\t,课程\t,2026-11-20 09:00:05,李**\t,0.00,-100.00,50.00,支付宝,交易退款,",
    ]
    text = "\n".join([",".join(ALIPAY_COLUMNS), *rows])  # the half-width brackets some files use
    file = SimpleUploadedFile("bill.csv", text.encode("gbk"))

    run = reconciliation_run_create(kind=ALIPAY_ACCOUNT, upload=file, user=chief)

    assert {(line.payout_id, line.result) for line in run.lines.all()} == {
        (first.pk, LineResult.MATCHED),
        (second.pk, LineResult.MATCHED),
    }
    assert not alerts().exists()  # nothing to report


def test_differences_alert_head_office_finance_and_the_uploader(as_chief, chief, campus, finance, wechat_payouts):
    colleague = head_office_finance(campus, "孙出纳")
    upload(as_chief, WECHAT_FILE)

    run = ReconciliationRun.objects.get()
    sent = alerts().filter(channel="inbox")
    assert set(sent.values_list("recipient_id", flat=True)) == {chief.pk, colleague.pk}  # not campus finance
    assert {n.dedupe_key for n in sent} == {f"reconciliation:{run.pk}"}
    text = sent.get(recipient=colleague).body
    assert "2026-11-20" in text and "913.00" in text
    assert reverse("admin:finance_reconciliationrun_change", args=[run.pk]) in text


def test_a_statement_that_matches_raises_no_alert(as_chief, campus, homeroom):
    payout_as(campus, homeroom, channel=PaymentChannel.WECHAT, no="RF1", amount="300.00", when="2026-11-20 10:00:00")
    lines = (FIXTURES / WECHAT_FILE).read_text(encoding="utf-8").splitlines()
    row = lines[1].replace("RF20261120000101", "RF1")
    data = "\n".join([lines[0], row, lines[-2], "`1,`0.00,`300.00,`0.00,`-1.80000,`0.00,`300.00"]).encode()

    response = upload(as_chief, "one.csv", data)

    run = ReconciliationRun.objects.get()
    assert (run.matched, run.has_problems) == (1, False)
    assert not alerts().exists()
    assert "Reconciled: every row matches." in response.content.decode()


def test_export_of_a_run_reads_back(as_chief, wechat_payouts):
    upload(as_chief, WECHAT_FILE)
    run = ReconciliationRun.objects.get()

    response = as_chief.get(reverse("admin:finance_reconciliationrun_export", args=[run.pk, "csv"]))
    rows = csv_rows(body(response))
    assert "filename*=UTF-8''" in response["Content-Disposition"]
    assert rows[0][:3] == ["Line in the file", "Result", "Merchant refund number"]
    # Differences first, then the matched rows; the payout the statement lacks has no line number.
    assert [(r[0], r[1], r[2], r[4], r[5]) for r in rows[1:]] == [
        ("3", "Amount mismatch", "RF20261120000102", "405.00", "450.00"),
        ("4", "Amount mismatch", "RF20261120000103", "120.00", "120.00"),
        ("5", "On the statement, not ours", "RF20261120009999", "88.00", ""),
        ("", "Ours, not on the statement", "RF20261120000105", "", "200.00"),
        ("2", "Matched", "RF20261120000101", "300.00", "300.00"),
        ("6", "Matched", "RF20261120000107", "150.00", "150.00"),
    ]
    assert rows[1][6] == "2026-11-20 11:02:36" and rows[1][7] == "Succeeded"

    sheet = xlsx_sheet(body(as_chief.get(reverse("admin:finance_reconciliationrun_export", args=[run.pk, "xlsx"]))))
    values = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [(v[2], v[4]) for v in values] == [(r[2], float(r[4]) if r[4] else None) for r in rows[1:]]
    assert values[0][6] == datetime.datetime(2026, 11, 20, 11, 2, 36)


def test_run_page_filters_lines_by_result(as_chief, wechat_payouts):
    upload(as_chief, WECHAT_FILE)
    run = ReconciliationRun.objects.get()
    url = reverse("admin:finance_reconciliationrun_change", args=[run.pk])

    page = as_chief.get(url, {"result": LineResult.MISSING}).content.decode()
    assert "RF20261120000105" in page and "RF20261120000101" not in page
    problems = as_chief.get(url, {"result": "problems"}).content.decode()
    assert "RF20261120009999" in problems and "RF20261120000101" not in problems


def broken_wechat_amount() -> bytes:
    return (FIXTURES / WECHAT_FILE).read_bytes().replace(b"`405.00", b"`40.5.0")


def truncated_alipay() -> bytes:
    data = (FIXTURES / ALIPAY_FILE).read_bytes()
    return data[: data.index("MD20261001000204".encode("gbk")) + 20]


BROKEN = {
    "alipay as wechat": (WECHAT_REFUND, lambda: (FIXTURES / ALIPAY_FILE).read_bytes(), "Line 1:"),
    "wechat as alipay": (ALIPAY_ACCOUNT, lambda: (FIXTURES / WECHAT_FILE).read_bytes(), "Line 1:"),
    "bad amount": (WECHAT_REFUND, broken_wechat_amount, "Line 3, column “退款金额”"),
    "truncated": (ALIPAY_ACCOUNT, truncated_alipay, "Line 11, column “发生时间”"),
    "png": (WECHAT_REFUND, lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data"),
    "empty": (ALIPAY_ACCOUNT, lambda: b"", "empty"),
}


@pytest.mark.parametrize(("kind", "make", "words"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_file_is_refused_and_nothing_is_saved(as_chief, wechat_payouts, tmp_path, kind, make, words):
    response = upload(as_chief, "statement.csv", make(), kind=kind)

    assert response.status_code == 200
    assert words in response.content.decode()
    assert not ReconciliationRun.objects.exists() and not ReconciliationLine.objects.exists()
    assert not alerts().exists()
    assert not any(path.is_file() for path in tmp_path.rglob("*"))  # no file kept either


def test_empty_wechat_bill_needs_its_date(as_chief, wechat_payouts):
    lines = (FIXTURES / WECHAT_FILE).read_text(encoding="utf-8").splitlines()
    empty = "\n".join([lines[0], lines[-2], "`0,`0.00,`0.00,`0.00,`0.00000,`0.00,`0.00"]).encode()

    refused = upload(as_chief, "empty.csv", empty)
    assert "give its date in the form" in refused.content.decode()
    assert not ReconciliationRun.objects.exists()

    upload(as_chief, "empty.csv", empty, period_start="2026-11-20")
    run = ReconciliationRun.objects.get()
    assert (run.period_start, run.period_end, run.statement_rows) == (DAY, DAY, 0)
    assert (run.matched, run.missing) == (0, 5)  # everything that went out that day is missing


def test_the_same_file_again_makes_a_new_run_with_a_warning(as_chief, wechat_payouts):
    upload(as_chief, WECHAT_FILE)
    first = ReconciliationRun.objects.get()

    response = upload(as_chief, WECHAT_FILE)

    assert ReconciliationRun.objects.count() == 2
    assert "This same file was already reconciled" in response.content.decode()
    assert reverse("admin:finance_reconciliationrun_change", args=[first.pk]) in response.content.decode()


def test_a_file_over_the_size_limit_is_refused(as_chief, settings, chief):
    settings.FINANCE_STATEMENT_MAX_BYTES = 100

    response = upload(as_chief, WECHAT_FILE)

    assert "statements of up to 100 bytes" in response.content.decode()
    assert not ReconciliationRun.objects.exists()
    with pytest.raises(ReconciliationError):
        reconciliation_run_create(
            kind=WECHAT_REFUND,
            upload=SimpleUploadedFile("x.csv", (FIXTURES / WECHAT_FILE).read_bytes()),
            user=chief,
        )


def test_upload_form_is_csrf_protected(chief, wechat_payouts):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(chief)

    response = upload(client, WECHAT_FILE, follow=False)

    assert response.status_code == 403
    assert not ReconciliationRun.objects.exists()


@pytest.fixture
def a_run(chief):
    return ReconciliationRun.objects.create(
        kind=WECHAT_REFUND,
        channel=PaymentChannel.WECHAT,
        period_start=DAY,
        period_end=DAY,
        source_name="x.csv",
        source_file="statements/x.csv",
        sha256="0" * 64,
        uploaded_by=chief,
    )


def pages(run) -> list[str]:
    return [
        reverse("admin:finance_reconciliationrun_changelist"),
        reverse(UPLOAD),
        reverse("admin:finance_reconciliationrun_change", args=[run.pk]),
        reverse("admin:finance_reconciliationrun_export", args=[run.pk, "csv"]),
    ]


@pytest.mark.parametrize("who", ["campus_finance", "operations", "homeroom"])
def test_everyone_but_head_office_finance_is_refused(client, a_run, finance, operations, homeroom, who):
    # Campus finance may reconcile but sees one campus; operations sees all but may not reconcile.
    user = {"campus_finance": finance, "operations": operations, "homeroom": homeroom}[who].user
    client.force_login(user)

    for url in pages(a_run):
        assert client.get(url).status_code == 403, url
    assert upload(client, WECHAT_FILE, follow=False).status_code == 403
    assert not ReconciliationRun.objects.exclude(pk=a_run.pk).exists()


def test_head_office_finance_and_superusers_get_every_page(client, as_chief, a_run):
    superuser = factories.make_user(is_superuser=True, is_staff=True)
    client.force_login(superuser)
    for browser in (as_chief, client):
        for url in pages(a_run):
            assert browser.get(url).status_code == 200, url


def test_runs_are_read_only(as_chief, a_run):
    list_page = as_chief.get(reverse("admin:finance_reconciliationrun_changelist")).content.decode()
    assert reverse(UPLOAD) in list_page and "recon-badge" in list_page

    assert as_chief.post(reverse("admin:finance_reconciliationrun_change", args=[a_run.pk]), {}).status_code == 405
    assert as_chief.get(reverse("admin:finance_reconciliationrun_delete", args=[a_run.pk])).status_code == 403
    assert as_chief.get(reverse("admin:finance_reconciliationrun_add")).status_code == 403
    a_run.refresh_from_db()
    assert a_run.source_name == "x.csv"


def test_list_and_run_pages_take_the_same_queries_however_many_lines(
    as_chief, wechat_payouts, django_assert_max_num_queries
):
    for _ in range(3):
        upload(as_chief, WECHAT_FILE)
    run = ReconciliationRun.objects.first()

    with django_assert_max_num_queries(8):
        assert as_chief.get(reverse("admin:finance_reconciliationrun_changelist")).status_code == 200
    with django_assert_max_num_queries(7):
        assert as_chief.get(reverse("admin:finance_reconciliationrun_change", args=[run.pk])).status_code == 200

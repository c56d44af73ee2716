"""The finance export page: reports streamed as CSV and XLSX, read back and compared with the
database cell by cell; scoping, filters, permissions, and the exports from the admin lists."""

from __future__ import annotations

import datetime
from collections import defaultdict
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from finance.exports import REPORTS
from finance.models import Voucher
from finance.selectors import LEDGER_COLUMNS, SUMMARY_COLUMNS, VOUCHER_COLUMNS
from orders.models import Order, PaymentChannel
from payments.models import Payout, PayoutStatus
from tests import factories
from tests.refunds.helpers import order_at, submit

from .helpers import (
    EXPORT,
    assert_csv_matches,
    assert_xlsx_matches,
    body,
    csv_rows,
    grant,
    ledger_expected,
    paid_refund,
    voucher_expected,
    xlsx_sheet,
)

pytestmark = pytest.mark.usefixtures("shipped_data")

ADD = "admin:finance_exportjob_add"


@pytest.fixture
def clerk(client, finance):
    """The campus finance clerk, allowed to export, logged into the admin in English."""
    user = grant(finance.user, EXPORT)
    client.force_login(user)
    client.cookies["django_language"] = "en"
    return user


def export(client, **data):
    return client.post(reverse(ADD), {"format": "csv", "date_field": "paid", **data})


def test_export_page_offers_the_reports_and_only_the_users_campus(client, clerk, campus, other_campus):
    response = client.get(reverse(ADD) + "?report=vouchers")
    assert response.status_code == 200
    form = response.context["form"]
    assert form.initial["report"] == "vouchers"
    assert list(form.fields["campus"].queryset) == [campus]
    assert "reconciliation" not in dict(form.fields["report"].choices)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_ledger_export_matches_the_database_cell_by_cell(client, clerk, campus, homeroom, finance, fmt):
    payouts = [
        paid_refund(campus=campus, homeroom=homeroom, finance=finance, channel=channel, price=price, name=name)[1]
        for channel, price, name in [
            (PaymentChannel.WECHAT, "300.00", "王小明"),
            (PaymentChannel.ALIPAY, "450.50", '=HYPERLINK("http://x")'),
            (PaymentChannel.CARD, "199.99", "+李四"),
            (PaymentChannel.OFFLINE, "120.00", "-张三"),
            (PaymentChannel.WECHAT, "88.80", "@赵六"),
        ]
    ]
    response = export(client, report="ledger", format=fmt)

    assert response.status_code == 200
    assert response.streaming
    assert response["X-Accel-Buffering"] == "no"
    with translation.override("en"):
        expected = [ledger_expected(p) for p in sorted(payouts, key=lambda p: (p.created_at, p.pk))]
        label = str(REPORTS["ledger"].label)
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"].endswith(f"filename*=UTF-8''{quote(label)}_{today}.{fmt}")
    if fmt == "csv":
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        rows = csv_rows(body(response))
        assert_csv_matches(rows, LEDGER_COLUMNS, expected)
        assert {row[2] for row in rows[1:]} == {"王小明", '\'=HYPERLINK("http://x")', "'+李四", "'-张三", "'@赵六"}
    else:
        assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        sheet = xlsx_sheet(body(response))
        assert sheet.title == label
        assert_xlsx_matches(sheet, LEDGER_COLUMNS, expected)
        assert {row[2].value for row in sheet.iter_rows(min_row=2)} == {
            "王小明",
            '\'=HYPERLINK("http://x")',
            "'+李四",
            "'-张三",
            "'@赵六",
        }
        assert all(cell.data_type == "s" for row in sheet.iter_rows(min_col=3, max_col=3) for cell in row)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_voucher_journal_export_matches_the_database(client, clerk, campus, homeroom, finance, fmt):
    from finance.vouchers import voucher_reverse

    for channel, name in [(PaymentChannel.WECHAT, "王小明"), (PaymentChannel.CARD, "=1+1")]:
        paid_refund(campus=campus, homeroom=homeroom, finance=finance, channel=channel, name=name)
    first = Voucher.objects.order_by("number").first()
    voucher_reverse(voucher_id=first.pk, actor=finance.user, reason="金额录错")
    today = timezone.localdate()

    response = export(client, report="vouchers", format=fmt, date_from=today, date_to=today)

    with translation.override("en"):
        expected = [row for v in Voucher.objects.order_by("period", "number") for row in voucher_expected(v)]
    assert len(expected) == 6
    if fmt == "csv":
        rows = csv_rows(body(response))
        assert_csv_matches(rows, VOUCHER_COLUMNS, expected)
        assert any("金额录错" in row[3] for row in rows)
    else:
        assert_xlsx_matches(xlsx_sheet(body(response)), VOUCHER_COLUMNS, expected)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_monthly_summary_matches_the_database(client, clerk, campus, homeroom, finance, fmt):
    for channel, price in [
        (PaymentChannel.WECHAT, "300.00"),
        (PaymentChannel.WECHAT, "500.00"),
        (PaymentChannel.ALIPAY, "400.00"),
    ]:
        paid_refund(campus=campus, homeroom=homeroom, finance=finance, channel=channel, price=price)
    student = factories.make_student(campus=campus)
    course = factories.make_course(campus=campus, price="2000.00")
    factories.make_order(student=student, course=course, homeroom_teacher=homeroom, channel=PaymentChannel.WECHAT)
    Order.objects.update(paid_at=timezone.now() - datetime.timedelta(minutes=5))  # this month, like the payouts

    response = export(client, report="summary", format=fmt)

    refunds: dict[tuple, list] = defaultdict(lambda: [0, Decimal("0.00")])
    revenue: dict[tuple, Decimal] = defaultdict(Decimal)
    with translation.override("en"):
        channels = dict(PaymentChannel.choices)
        for payout in Payout.objects.filter(status=PayoutStatus.SUCCEEDED):
            key = (f"{timezone.localtime(payout.finished_at):%Y-%m}", campus.name, str(channels[payout.channel]))
            refunds[key][0] += 1
            refunds[key][1] += payout.amount
        for order in Order.objects.all():
            revenue[(f"{timezone.localtime(order.paid_at):%Y-%m}", campus.name, str(channels[order.channel]))] += (
                order.amount_paid
            )
    expected = []
    for key in sorted(set(refunds) | set(revenue)):
        count, amount = refunds.get(key, (0, Decimal("0.00")))
        income = revenue[key]
        expected.append([*key, count, amount, income, (amount * 100 / income).quantize(Decimal("0.01"))])
    assert len(expected) == 2
    if fmt == "csv":
        assert_csv_matches(csv_rows(body(response)), SUMMARY_COLUMNS, expected)
    else:
        assert_xlsx_matches(xlsx_sheet(body(response)), SUMMARY_COLUMNS, expected)


def test_campus_finance_exports_only_its_campus(client, clerk, campus, other_campus, homeroom, finance):
    ours = paid_refund(campus=campus, homeroom=homeroom, finance=finance)[1]
    other_homeroom = factories.make_staff(role="homeroom", campus=other_campus)
    paid_refund(campus=other_campus, homeroom=other_homeroom)

    for report, column in (("ledger", 7), ("vouchers", 10)):
        rows = csv_rows(body(export(client, report=report)))
        assert {row[column] for row in rows[1:]} == {ours.payout_no}, report
    # Posting another campus as a filter is refused by the form, not silently widened.
    response = export(client, report="ledger", campus=other_campus.pk)
    assert response.status_code == 200
    assert "campus" in response.context["form"].errors


def test_head_office_exports_every_campus(client, operations, campus, other_campus, homeroom, finance):
    user = grant(operations.user, EXPORT)
    client.force_login(user)
    paid_refund(campus=campus, homeroom=homeroom, finance=finance)
    paid_refund(campus=other_campus, homeroom=factories.make_staff(role="homeroom", campus=other_campus))

    rows = csv_rows(body(export(client, report="ledger")))
    assert len(rows) == 3
    only_other = csv_rows(body(export(client, report="ledger", campus=other_campus.pk)))
    assert [row[4] for row in only_other[1:]] == [other_campus.name]


def test_export_without_the_permission_is_refused(client, supervisor):
    client.force_login(supervisor.user)
    assert client.get(reverse(ADD)).status_code == 403
    assert export(client, report="ledger").status_code == 403
    assert client.get(reverse("admin:finance_exportjob_changelist")).status_code == 403


def test_export_page_is_csrf_protected(clerk):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(clerk)
    assert strict.post(reverse(ADD), {"report": "ledger", "format": "csv", "date_field": "paid"}).status_code == 403


def test_end_before_start_is_a_clear_form_error(client, clerk):
    response = export(client, report="ledger", date_from="2026-11-30", date_to="2026-11-01")
    assert response.status_code == 200
    assert response.context["form"].errors["date_to"] == [
        "The end date (2026-11-01) is before the start date (2026-11-30)."
    ]


def test_file_name_carries_the_period(client, clerk):
    response = export(client, report="ledger", date_from="2026-11-01", date_to="2026-11-30")
    with translation.override("en"):
        name = f"{REPORTS['ledger'].label}_2026-11-01_2026-11-30.csv"
    assert response["Content-Disposition"].endswith(f"; filename*=UTF-8''{quote(name)}")


def test_chinese_file_names_follow_rfc_5987_with_an_ascii_fallback():
    from finance.exports import content_disposition

    assert content_disposition("退款台账_2026-11-01_2026-11-30.csv") == (
        'attachment; filename="2026-11-01_2026-11-30.csv"; '
        "filename*=UTF-8''%E9%80%80%E6%AC%BE%E5%8F%B0%E8%B4%A6_2026-11-01_2026-11-30.csv"
    )


@pytest.mark.parametrize("date_field", ["applied", "approved", "paid"])
def test_each_date_kind_filters_on_its_own_date(client, clerk, campus, homeroom, finance, date_field):
    from refunds.models import RefundRequest

    inside, outside = (paid_refund(campus=campus, homeroom=homeroom, finance=finance)[1] for _ in range(2))
    day = datetime.date(2026, 11, 15)
    at = timezone.make_aware(datetime.datetime(2026, 11, 15, 23, 30))  # late evening, Shanghai: still the 15th
    far = timezone.make_aware(datetime.datetime(2026, 10, 1, 9, 0))
    # Only the chosen date is moved; the others stay today, so a filter on another date finds nothing.
    for payout, when in ((inside, at), (outside, far)):
        if date_field == "paid":
            Payout.objects.filter(pk=payout.pk).update(finished_at=when)
        else:
            field = {"applied": "submitted_at", "approved": "decided_at"}[date_field]
            RefundRequest.objects.filter(pk=payout.request_id).update(**{field: when})

    rows = csv_rows(body(export(client, report="ledger", date_field=date_field, date_from=day, date_to=day)))
    assert [row[7] for row in rows[1:]] == [inside.payout_no]


def test_channel_status_course_and_campus_filters(client, operations, campus, other_campus, homeroom, finance):
    user = grant(operations.user, EXPORT)
    client.force_login(user)
    wechat = paid_refund(campus=campus, homeroom=homeroom, finance=finance, channel=PaymentChannel.WECHAT)[1]
    card = paid_refund(campus=campus, homeroom=homeroom, finance=finance, channel=PaymentChannel.CARD)[1]
    other = paid_refund(campus=other_campus, homeroom=factories.make_staff(role="homeroom", campus=other_campus))[1]
    student = factories.make_student(campus=campus)
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="300.00"))
    from refunds.services import refund_approve

    refund_approve(request_id=request.pk, actor=homeroom.user)
    queued = request.payouts.get()  # approved, not yet paid

    def payout_nos(**data) -> set[str]:
        return {row[7] for row in csv_rows(body(export(client, report="ledger", date_field="applied", **data)))[1:]}

    assert payout_nos(channel="card") == {card.payout_no}
    assert payout_nos(status="queued") == {queued.payout_no}
    assert payout_nos(status="succeeded") == {wechat.payout_no, card.payout_no, other.payout_no}
    assert payout_nos(course=wechat.order.course_id) == {wechat.payout_no}
    assert payout_nos(campus=other_campus.pk) == {other.payout_no}


def test_first_chunk_leaves_before_the_rows_are_read(client, clerk, campus, homeroom, finance, monkeypatch):
    """The browser receives the start of the file at once: the response is not built in memory."""
    import finance.exports as exports

    consumed = []

    def rows(filters, *, user):
        for n in range(100_000):
            consumed.append(n)
            yield (f"R{n}", "O", "学生", "课程", "校区", "微信", "", "", "", 1, 1, 1, 0, 1, None, None, None, "", "")

    monkeypatch.setitem(
        exports.REPORTS, "ledger", exports.Report("ledger", LEDGER_COLUMNS, rows, exports.ledger_queryset)
    )
    response = export(client, report="ledger", format="xlsx")
    first = next(iter(response.streaming_content))
    assert first
    assert len(consumed) < 100_000


def test_payout_list_action_exports_the_selection(client, clerk, campus, homeroom, finance):
    chosen, _other = (paid_refund(campus=campus, homeroom=homeroom, finance=finance)[1] for _ in range(2))
    response = client.post(
        reverse("admin:payments_payout_changelist"), {"action": "export_xlsx", "_selected_action": [chosen.pk]}
    )
    assert response.status_code == 200
    with translation.override("en"):
        assert_xlsx_matches(xlsx_sheet(body(response)), LEDGER_COLUMNS, [ledger_expected(chosen)])


def test_voucher_list_action_exports_the_selected_vouchers(client, clerk, campus, homeroom, finance):
    for _ in range(2):
        paid_refund(campus=campus, homeroom=homeroom, finance=finance)
    chosen = Voucher.objects.order_by("number").last()
    response = client.post(
        reverse("admin:finance_voucher_changelist"), {"action": "export_csv", "_selected_action": [chosen.pk]}
    )
    with translation.override("en"):
        assert_csv_matches(csv_rows(body(response)), VOUCHER_COLUMNS, voucher_expected(chosen))


def test_lists_link_to_the_export_page_with_their_report(client, clerk):
    payouts = client.get(reverse("admin:payments_payout_changelist")).content.decode()
    vouchers = client.get(reverse("admin:finance_voucher_changelist")).content.decode()
    assert f'href="{reverse(ADD)}?report=ledger"' in payouts
    assert f'href="{reverse(ADD)}?report=vouchers"' in vouchers


def test_lists_offer_no_export_without_the_permission(client, supervisor, finance, campus, homeroom):
    paid_refund(campus=campus, homeroom=homeroom, finance=finance)
    client.force_login(grant(supervisor.user, "payments.view_payout"))
    page = client.get(reverse("admin:payments_payout_changelist"))
    assert reverse(ADD) not in page.content.decode()
    assert "export_csv" not in page.content.decode()
    payout = Payout.objects.get()
    response = client.post(
        reverse("admin:payments_payout_changelist"), {"action": "export_csv", "_selected_action": [payout.pk]}
    )
    assert not response.get("Content-Disposition")


def test_ledger_reads_in_chunks_after_the_last_row_without_losing_or_repeating_one(
    campus, homeroom, finance, monkeypatch
):
    """Chunks continue after (created_at, id) of the last row: ties on created_at are kept apart."""
    from finance import selectors
    from payments.models import Payout

    monkeypatch.setattr(selectors, "CHUNK", 2)
    payouts = [paid_refund(campus=campus, homeroom=homeroom, finance=finance)[1] for _ in range(5)]
    same = timezone.now() - datetime.timedelta(days=1)
    Payout.objects.filter(pk__in=[p.pk for p in payouts[1:4]]).update(created_at=same)

    rows = list(selectors.ledger_rows(selectors.ReportFilters(), user=finance.user))

    expected = Payout.objects.filter(pk__in=[p.pk for p in payouts]).order_by("created_at", "pk")
    assert [row[7] for row in rows] == [p.payout_no for p in expected]

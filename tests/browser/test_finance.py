"""Finance in a real browser: head-office finance reconciles a WeChat Pay refund bill and downloads
the exports; a refunded student downloads her e-receipt and asks for a stamped paper copy, which
campus finance marks as mailed.

Every page visited is screenshotted to artifacts/screenshots/<test>-<name>.png. Elements are found
by their ids and the admin's markup; texts of these features go through ``zh()``, so the tests
hold before and after the Chinese translations are added.
"""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from django.utils import timezone, translation
from playwright.sync_api import expect

from finance.models import LineResult, PaperCopyRequest, PaperCopyStatus, ReconciliationRun
from finance.selectors import LEDGER_COLUMNS
from payments.gateways.wechat import WECHAT_COLUMNS
from schoolops.models import StaffRole
from tests import factories
from tests.conftest import reseed_shipped_data
from tests.finance.helpers import grant, paid_refund
from tests.refunds.helpers import zh

from .conftest import fits_the_phone, login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FOREIGN_NO = "RF20261120009999"  # a refund of another merchant
PAID_AT = datetime.datetime(2026, 11, 20, 10, 15, 3)
with translation.override("en"):
    LEDGER_LABELS = [str(column.label) for column in LEDGER_COLUMNS]
MERCHANT_REFUND_NO = LEDGER_LABELS.index("Merchant refund number")
AMOUNT_PAID_BACK = LEDGER_LABELS.index("Amount paid back")


@pytest.fixture(autouse=True)
def _templates(default_refund_policies):
    """The notification templates the finance events render (the flush of the last test removed them)."""
    reseed_shipped_data(templates=True)


def admin_login(page, live_server, user) -> None:
    """Log in through the admin's own entry: /admin/ sends to the login form, then back."""
    page.goto(f"{live_server.url}/admin/")
    page.locator("#id_username").fill(user.username)
    page.locator("#id_password").fill(factories.PASSWORD)
    page.locator("#id_password").press("Enter")
    page.wait_for_url(f"{live_server.url}/admin/")


def _row(*values: str) -> str:
    return ",".join(f"`{v}" for v in values)


def wechat_bill(rows: list[tuple[object, str, str]]) -> bytes:
    """A WeChat Pay refund bill (current layout) with one SUCCESS row per (payout, number, amount);
    ``payout`` None is a refund that is not ours."""
    lines = [",".join(WECHAT_COLUMNS)]
    for index, (payout, number, amount) in enumerate(rows, start=1):
        when = timezone.localtime(payout.finished_at) if payout else timezone.make_aware(PAID_AT)
        order_no = payout.order.order_no if payout else "SHOP20260815000999"
        trade_no = payout.order.gateway_trade_no if payout else f"42000023452026081512345678{index:02d}"
        fields = dict.fromkeys(WECHAT_COLUMNS, "")
        fields.update(
            {
                "交易时间": "2026-09-02 19:21:07",
                "公众账号ID": "wx6a2f1c0e8b7d4a31",
                "商户号": "1612345678",
                "微信订单号": trade_no,
                "商户订单号": order_no,
                "交易类型": "JSAPI",
                "交易状态": "REFUND",
                "货币种类": "CNY",
                "退款申请时间": f"{when - datetime.timedelta(seconds=8):%Y-%m-%d %H:%M:%S}",
                "退款成功时间": f"{when:%Y-%m-%d %H:%M:%S}",
                "微信退款单号": payout.gateway_refund_id if payout else f"503000080120261120123456789{index:02d}",
                "商户退款单号": number,
                "退款金额": amount,
                "退款类型": "ORIGINAL",
                "退款状态": "SUCCESS",
                "申请退款金额": amount,
            }
        )
        lines.append(_row(*fields.values()))
    total = sum((Decimal(amount) for _p, _n, amount in rows), Decimal("0.00"))
    lines.append("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额")
    lines.append(_row(len(rows), "0.00", total, "0.00", "0.00000", "0.00", total))
    return ("\n".join(lines) + "\n").encode()


def test_head_office_finance_reconciles_a_wechat_bill_and_downloads_the_exports(
    page, live_server, campus, homeroom, tmp_path
):
    chief = factories.make_staff(role=StaffRole.FINANCE, campus=campus, name="钱总账")
    grant(chief.user, "schoolops.view_all_campuses")
    paid = [
        paid_refund(campus=campus, homeroom=homeroom, price=price, paid_at=timezone.make_aware(PAID_AT + delay))[1]
        for price, delay in (("300.00", datetime.timedelta()), ("450.00", datetime.timedelta(hours=1)))
    ]
    good, wrong = paid
    short = wrong.amount - Decimal("45.00")  # the gateway's bill says less went back than we paid
    bill = wechat_bill(
        [(good, good.payout_no, f"{good.amount}"), (wrong, wrong.payout_no, f"{short}"), (None, FOREIGN_NO, "88.00")]
    )
    page.set_viewport_size({"width": 1440, "height": 900})

    # The admin's home, in Chinese: finance's work on top, every table one click away.
    admin_login(page, live_server, chief.user)
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    shot(page, "1-admin-home")
    page.locator("#all-tables-link").click()
    page.wait_for_url("**/admin/tables/")
    page.locator("#content-main").get_by_role("link", name=zh("Finance"), exact=True).click()
    page.wait_for_url("**/admin/finance/")
    shot(page, "2-finance-section")

    # The list of runs, then the upload page.
    page.locator("a[href$='/admin/finance/reconciliationrun/']").first.click()
    page.locator(".object-tools a[href$='/upload/']").click()
    page.wait_for_url("**/admin/finance/reconciliationrun/upload/")
    page.locator("#id_kind").select_option("wechat_refund")
    page.locator("#id_file").set_input_files(
        files=[{"name": "微信退款账单_20261120.csv", "mimeType": "text/csv", "buffer": bill}]
    )
    shot(page, "3-upload")
    page.locator("#statement-upload input[type=submit]").click()

    # The run: its counts and the two differences.
    run = ReconciliationRun.objects.get()
    page.wait_for_url(f"**/admin/finance/reconciliationrun/{run.pk}/change/")
    assert (run.matched, run.amount_mismatches, run.not_ours, run.missing) == (1, 1, 1, 0)
    summary = page.locator("table.recon-summary")
    expect(summary).to_contain_text("微信退款账单_20261120.csv")
    expect(summary).to_contain_text("2026-11-20")
    expect(summary).to_contain_text(f"¥{good.amount + short + Decimal('88.00')}")  # on the statement
    expect(summary).to_contain_text(f"¥{good.amount + wrong.amount}")  # ours that day
    for result, count in ((LineResult.MATCHED, 1), (LineResult.AMOUNT_MISMATCH, 1), (LineResult.NOT_OURS, 1)):
        label = zh(LineResult(result).label)
        expect(summary.locator(".recon-badge", has_text=label)).to_have_text(f"{label} {count}")
    mismatch = page.locator(f"tr.recon-row-{LineResult.AMOUNT_MISMATCH}")
    expect(mismatch).to_have_count(1)
    expect(mismatch).to_contain_text(wrong.payout_no)
    expect(mismatch).to_contain_text(f"¥{short}")
    expect(mismatch).to_contain_text(f"¥{wrong.amount}")
    not_ours = page.locator(f"tr.recon-row-{LineResult.NOT_OURS}")
    expect(not_ours).to_contain_text(FOREIGN_NO)
    expect(not_ours).to_contain_text("¥88.00")
    expect(page.locator(f"tr.recon-row-{LineResult.MATCHED}")).to_contain_text(good.payout_no)
    shot(page, "4-run")

    # The run's export (CSV): differences first.
    with page.expect_download() as download:
        page.locator("#export-csv").click()
    exported = Path(download.value.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(exported)))
    assert [(r[2], r[4], r[5]) for r in rows[1:]] == [
        (wrong.payout_no, f"{short}", f"{wrong.amount}"),
        (FOREIGN_NO, "88.00", ""),
        (good.payout_no, f"{good.amount}", f"{good.amount}"),
    ]

    # The export page: the refund ledger in XLSX.
    page.goto(f"{live_server.url}/admin/finance/exportjob/add/")
    page.locator("#id_report").select_option("ledger")
    page.locator("#id_format").select_option("xlsx")
    shot(page, "5-export-page")
    with page.expect_download() as download:
        page.locator("form input[type=submit]").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    target = tmp_path / download.value.suggested_filename
    download.value.save_as(target)
    sheet = openpyxl.load_workbook(target, read_only=True).active
    ledger = {row[MERCHANT_REFUND_NO]: row for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert set(ledger) == {good.payout_no, wrong.payout_no}
    assert Decimal(str(ledger[wrong.payout_no][AMOUNT_PAID_BACK])) == wrong.amount
    assert Decimal(str(ledger[good.payout_no][AMOUNT_PAID_BACK])) == good.amount


def test_student_gets_her_e_receipt_and_a_mailed_paper_copy(
    page, phone_page, live_server, student, campus, homeroom, finance
):
    refund, payout = paid_refund(campus=campus, homeroom=homeroom, student=student, price="300.00")
    request_page = f"{live_server.url}/refunds/{refund.request_no}/"

    # The student, on her phone: the e-receipt and the paper copy form.
    login(phone_page, live_server, student.user.phone, factories.PASSWORD)
    phone_page.goto(request_page)
    receipt_link = phone_page.get_by_role("link", name=zh("Download the e-receipt"))
    expect(receipt_link).to_be_visible()
    expect(phone_page.locator("#paper-copy")).to_have_text(zh("Stamped paper copy"))
    fits_the_phone(phone_page)
    shot(phone_page, "1-student-refunded")
    receipt = phone_page.request.get(f"{live_server.url}{receipt_link.get_attribute('href')}")
    assert receipt.ok and receipt.headers["content-type"] == "application/pdf"
    assert receipt.body().startswith(b"%PDF")

    phone_page.locator("#id_recipient").fill("王小明")
    phone_page.locator("#id_phone").fill("13900001111")
    phone_page.locator("#id_address").fill("上海市 浦东新区 张江路 88 弄 6 号 1201 室")
    phone_page.locator("#id_note").fill("请寄顺丰")
    shot(phone_page, "2-student-paper-copy-form")
    phone_page.get_by_role("button", name=zh("Ask for a stamped paper copy")).click()
    phone_page.wait_for_url(request_page)
    copies = phone_page.locator("ul.paper-copies li")
    expect(copies).to_have_count(1)
    expect(copies.locator(".badge")).to_have_text(zh(PaperCopyStatus.REQUESTED.label))
    expect(copies).to_contain_text("王小明")
    expect(phone_page.locator("#id_recipient")).to_have_count(0)  # one waiting request at a time
    shot(phone_page, "3-student-waiting")
    paper = PaperCopyRequest.objects.get()
    assert (paper.status, paper.receipt.payout) == (PaperCopyStatus.REQUESTED, payout)

    # Campus finance, at her desk: the task list, then mark it mailed.
    page.set_viewport_size({"width": 1440, "height": 900})
    admin_login(page, live_server, finance.user)
    page.goto(f"{live_server.url}/admin/finance/papercopyrequest/")
    row = page.locator("#result_list tbody tr").filter(has_text="王小明")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(zh(PaperCopyStatus.REQUESTED.label))
    shot(page, "4-finance-paper-copies")
    row.get_by_role("link", name=zh("Mark as mailed")).click()
    page.wait_for_url(f"**/admin/finance/papercopyrequest/{paper.pk}/mailed/")
    expect(page.locator("#content")).to_contain_text("上海市 浦东新区 张江路 88 弄 6 号 1201 室")
    page.locator("#id_carrier").fill("顺丰速运")
    page.locator("#id_tracking_no").fill("SF1234567890123")
    shot(page, "5-finance-mark-mailed")
    page.locator("form input[type=submit]").click()
    page.wait_for_url(f"**/admin/finance/papercopyrequest/{paper.pk}/change/")
    done = zh("Marked as mailed; the student is told the tracking number.")
    expect(page.locator(".messagelist li")).to_have_text(done)
    shot(page, "6-finance-mailed")
    paper.refresh_from_db()
    assert (paper.status, paper.carrier, paper.tracking_no) == (PaperCopyStatus.MAILED, "顺丰速运", "SF1234567890123")
    assert paper.handled_by == finance.user

    # The student's page now shows the tracking number.
    phone_page.reload()
    expect(copies.locator(".badge")).to_have_text(zh(PaperCopyStatus.MAILED.label))
    expect(copies.locator("strong")).to_have_text("SF1234567890123")
    expect(copies).to_contain_text("顺丰速运")
    shot(phone_page, "7-student-mailed")

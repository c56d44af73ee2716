"""The finance clerk's pages in a desktop browser (1280x800, issue 20): a bank-card refund waits
for finance, who opens the transfer page from the primary action, reads the payee's account and
records the transfer; the voucher written prints as a paper voucher (print media emulated); the
export form's quick ranges fill the dates.

Screenshots go to artifacts/screenshots/<test>-<name>.png, as in the other browser tests.
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from finance.models import Voucher
from finance.periods import quick_range
from orders.models import PaymentChannel
from payments import services
from payments.models import PayoutStatus
from tests.conftest import reseed_shipped_data
from tests.payments.helpers import approved_request

from .conftest import shot
from .test_finance import admin_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# window.print replaced before any page script runs: the test counts the calls instead of a dialog.
COUNT_PRINTS = "window.__prints = 0; window.print = function () { window.__prints += 1; };"


@pytest.fixture(autouse=True)
def _templates(default_refund_policies):
    reseed_shipped_data(templates=True)


def test_finance_records_a_bank_transfer_and_prints_its_voucher(page, live_server, student, homeroom, campus, finance):
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=PaymentChannel.CARD)
    services.payout_payee_record(
        payout_id=payout.pk,
        actor=finance.user,
        name="王小明",
        bank="中国建设银行",
        branch="上海张江支行",
        account_no="6217001234567890",
    )
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security" in message.text else None)
    page.add_init_script(COUNT_PRINTS)
    admin_login(page, live_server, finance.user)

    # The payout list: the card refund waits for finance, named so.
    page.goto(f"{live_server.url}/admin/payments/payout/")
    row = page.locator("#result_list tbody tr", has_text=payout.payout_no)
    expect(row.locator(".payout-awaits-finance")).to_be_visible()
    expect(row.locator(".field-attempts")).to_have_count(0)
    shot(page, "1-payout-list")

    # The payout page: one primary action, the card masked, no worker internals.
    row.locator("th a").click()
    action = page.locator("#record-transfer-link")
    expect(action).to_be_visible()
    assert action.evaluate("el => getComputedStyle(el).backgroundColor") != action.evaluate(
        "el => getComputedStyle(document.querySelector('.object-tools a') || document.body).backgroundColor"
    )
    expect(page.locator(".field-payee")).to_contain_text("**** 7890")
    expect(page.locator(".field-lease_until")).to_have_count(0)
    shot(page, "2-payout-page")

    # The transfer page: the payee in full above the form, then the transfer recorded.
    action.click()
    payee = page.locator("#transfer-payee")
    expect(payee.locator("#payee-name")).to_have_text("王小明")
    expect(payee.locator("#payee-bank")).to_have_text("中国建设银行")
    expect(payee.locator("#payee-branch")).to_have_text("上海张江支行")
    expect(payee.locator("#payee-account-no")).to_have_text("6217 0012 3456 7890")
    expect(payee.locator("#payee-amount")).to_have_text(f"¥{payout.amount}")
    box = payee.bounding_box()
    form_box = page.locator("#id_bank_reference").bounding_box()
    assert box and form_box and box["y"] + box["height"] <= form_box["y"]
    shot(page, "3-transfer-form")
    page.locator("#id_bank_reference").fill("CCB20261205001")
    page.locator("#id_transferred_on").fill(timezone.localdate().isoformat())
    page.locator("form[enctype] input[type=submit]").click()
    expect(page.locator(".messagelist")).to_be_visible()
    payout.refresh_from_db()
    assert payout.status == PayoutStatus.SUCCEEDED
    shot(page, "4-recorded")

    # Its voucher: the print button calls the browser's print (a static script, no CSP refusal).
    voucher = Voucher.objects.get(payout=payout)
    page.goto(f"{live_server.url}/admin/finance/voucher/{voucher.pk}/change/")
    expect(page.locator("#voucher-sheet")).to_be_hidden()
    page.locator("#voucher-print").click()
    assert page.evaluate("window.__prints") == 1
    shot(page, "5-voucher-page")

    # On paper: only the voucher, with its lines, totals, attachments and signature boxes.
    page.emulate_media(media="print")
    sheet = page.locator("#voucher-sheet")
    expect(sheet).to_be_visible()
    expect(page.locator("#header")).to_be_hidden()
    expect(page.locator("#voucher_form")).to_be_hidden()
    expect(sheet.locator("#voucher-sheet-number")).to_have_text(voucher.code)
    expect(sheet.locator(".voucher-sheet-line")).to_have_count(voucher.lines.count())
    expect(sheet.locator("#voucher-total-debit")).to_have_text(f"{voucher.amount}")
    expect(sheet.locator("#voucher-attachments")).to_have_text("0")
    expect(sheet.locator("#voucher-sign-prepared")).to_be_visible()
    expect(sheet.locator("#voucher-sign-reviewed")).to_be_visible()
    expect(sheet.locator("#voucher-sign-posted")).to_be_visible()
    shot(page, "6-voucher-print")
    page.emulate_media(media="screen")
    assert refused == [], refused


def test_quick_ranges_fill_the_export_dates(page, live_server, finance):
    admin_login(page, live_server, finance.user)
    today = datetime.datetime.now(ZoneInfo("Asia/Shanghai")).date()
    page.goto(f"{live_server.url}/admin/finance/exportjob/add/")
    first, last = quick_range("last_month", today=today)
    page.locator("#range-last_month").click()
    expect(page.locator("#id_date_from")).to_have_value(first.isoformat())
    expect(page.locator("#id_date_to")).to_have_value(last.isoformat())
    expect(page.locator("#range-last_month")).to_have_attribute("aria-current", "true")
    assert "range=" not in page.url  # filled in place by the script
    shot(page, "1-last-month")

    # Without the script the link opens the form with the same days.
    page.goto(f"{live_server.url}/admin/finance/exportjob/add/?range=this_year")
    first, last = quick_range("this_year", today=today)
    expect(page.locator("#id_date_from")).to_have_value(first.isoformat())
    expect(page.locator("#id_date_to")).to_have_value(last.isoformat())
    shot(page, "2-this-year-link")

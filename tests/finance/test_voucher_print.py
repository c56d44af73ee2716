"""The voucher page prints as a paper voucher (记账凭证): title, date, number, the lines with
summary, account, debit and credit, totals, the number of attachments and the boxes to sign
(制单 filled with who prepared it, 审核 and 记账 left to sign by hand); the print button is a
static script (the Content-Security-Policy allows no inline handler)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from finance.selectors import voucher_sheet
from finance.vouchers import voucher_reverse
from orders.models import PaymentChannel
from payments.services import payout_record_transfer
from refunds.models import RefundEvidence
from tests.payments.helpers import approved_request
from tests.refunds.helpers import PDF

from .helpers import paid_refund

pytestmark = pytest.mark.usefixtures("shipped_data")


@pytest.fixture
def card_voucher(student, homeroom, campus, finance):
    """A bank-card refund with two evidence files, paid by a transfer whose slip finance uploaded."""
    request, payout = approved_request(student=student, homeroom=homeroom, campus=campus, channel=PaymentChannel.CARD)
    for n in range(2):
        RefundEvidence.objects.create(
            request=request,
            file=f"evidence/2026/12/e{n}.pdf",
            original_name=f"证明{n}.pdf",
            content_type="application/pdf",
            size=100,
            sha256=f"{n:064d}",
        )
    slip = SimpleUploadedFile("回单.pdf", PDF, content_type="application/pdf")
    payout_record_transfer(
        request_id=request.pk,
        actor=finance.user,
        bank_reference="BK20261205",
        transferred_on=timezone.localdate(),
        scan=slip,
    )
    return payout.vouchers.get()


def _page(client, user, voucher) -> str:
    client.force_login(user)
    response = client.get(reverse("admin:finance_voucher_change", args=[voucher.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _text(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert match, element_id
    return match.group(1).strip()


def test_the_voucher_page_has_a_print_button_run_by_a_static_script(client, finance, card_voucher):
    page = _page(client, finance.user, card_voucher)
    assert 'id="voucher-print"' in page
    assert "data-voucher-print" in page
    assert "finance/voucher_print.js" in page
    assert "onclick" not in page
    script = finders.find("finance/voucher_print.js")
    assert script and "window.print()" in Path(script).read_text(encoding="utf-8")


def test_the_printed_voucher_has_its_lines_totals_attachments_and_signature_boxes(client, finance, card_voucher):
    page = _page(client, finance.user, card_voucher)
    assert 'id="voucher-sheet"' in page
    assert _text(page, "voucher-sheet-number") == card_voucher.code
    assert _text(page, "voucher-sheet-date") == card_voucher.date.isoformat()
    lines = list(card_voucher.lines.order_by("position"))
    assert page.count('class="voucher-sheet-line"') == len(lines)
    for line in lines:
        assert f"{line.account_code} {line.account_name}" in page
    assert _text(page, "voucher-total-debit") == f"{card_voucher.amount}"
    assert _text(page, "voucher-total-credit") == f"{card_voucher.amount}"
    assert _text(page, "voucher-attachments") == "3"  # two evidence files and the transfer slip
    for box in ("voucher-sign-prepared", "voucher-sign-reviewed", "voucher-sign-posted"):
        assert f'id="{box}"' in page


def test_a_voucher_the_system_wrote_is_prepared_by_the_system(campus, homeroom, finance):
    _request, payout = paid_refund(campus=campus, homeroom=homeroom, finance=finance)  # WeChat Pay
    sheet = voucher_sheet(voucher=payout.vouchers.get())
    assert sheet.attachments == 0
    assert sheet.prepared_by in ("System", "系统")


def test_a_reversal_is_prepared_by_the_clerk_who_wrote_it(client, finance, card_voucher):
    reversal = voucher_reverse(voucher_id=card_voucher.pk, actor=finance.user, reason="金额有误")
    sheet = voucher_sheet(voucher=reversal)
    assert sheet.prepared_by == finance.user.name
    assert sheet.total_debit == sheet.total_credit == card_voucher.amount
    page = _page(client, finance.user, reversal)
    assert finance.user.name in page[page.index('id="voucher-sign-prepared"') :]


def test_the_print_stylesheet_shows_only_the_voucher_on_paper():
    css = Path(finders.find("css/admin_finance.css")).read_text(encoding="utf-8")
    screen, _, printed = css.partition("@media print")
    assert ".voucher-sheet { display: none; }" in screen
    assert ".voucher-sheet {" in printed and "display: block" in printed
    assert "#content-main > form" in printed

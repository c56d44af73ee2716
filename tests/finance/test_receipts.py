"""E-receipts: issued once per refunded request, a PDF whose Chinese renders, downloads for the
student who owns it and for staff of its campus, issued in the background when a payout succeeds."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from finance.models import Receipt
from finance.receipts import ReceiptError, mask_phone, receipt_issue, receipt_on_refund_event
from orders.models import PaymentChannel
from refunds.models import RefundEvent, RefundStatus
from refunds.services import refund_approve
from schoolops.models import StaffRole
from tests import factories
from tests.finance.helpers import paid_refund
from tests.refunds.helpers import order_at, submit

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "receipts"
TITLE = "退款电子凭证"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def refunded(shipped_data, campus, homeroom, finance):
    request, _payout = paid_refund(campus=campus, homeroom=homeroom, finance=finance, name="王小明", price="300.00")
    return request


@pytest.fixture
def receipt(refunded) -> Receipt:
    return receipt_issue(request_id=refunded.pk)


def _pdf_path(receipt: Receipt, tmp_path: Path) -> Path:
    path = tmp_path / f"{receipt.number}.pdf"
    with receipt.file.open("rb") as handle:
        path.write_bytes(handle.read())
    return path


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout  # noqa: S603


# --- Issuing -------------------------------------------------------------------------------------


def test_issue_numbers_the_receipt_and_keeps_the_pdf_with_its_digest(refunded):
    receipt = receipt_issue(request_id=refunded.pk)

    paid_on = timezone.localdate(receipt.payout.finished_at)
    assert receipt.number == f"DZ{paid_on:%Y%m%d}{refunded.pk:08d}"
    assert receipt.payout.request_id == refunded.pk
    with receipt.file.open("rb") as handle:
        data = handle.read()
    assert data.startswith(b"%PDF-")
    assert receipt.sha256 == hashlib.sha256(data).hexdigest()
    assert receipt.issued_at is not None


def test_issuing_again_returns_the_same_receipt_unchanged(receipt):
    again = receipt_issue(request_id=receipt.request_id)

    assert again.pk == receipt.pk
    assert (again.number, again.sha256, again.file.name) == (receipt.number, receipt.sha256, receipt.file.name)
    assert Receipt.objects.count() == 1


def test_issue_is_refused_for_an_approved_request_not_yet_paid(shipped_data, campus, homeroom):
    student = factories.make_student(campus=campus)
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="300.00", channel=PaymentChannel.CARD)
    request = submit(order)
    refund_approve(request_id=request.pk, actor=homeroom.user)
    request.refresh_from_db()
    assert request.status == RefundStatus.APPROVED

    with pytest.raises(ReceiptError) as refused:
        receipt_issue(request_id=request.pk)

    assert refused.value.code == "state"
    assert request.request_no in refused.value.message
    assert not Receipt.objects.exists()


def test_issue_is_refused_for_an_unknown_request(db):
    with pytest.raises(ReceiptError) as refused:
        receipt_issue(request_id=987654)
    assert refused.value.code == "not_found"


@pytest.mark.parametrize(
    ("phone", "masked"), [("13800010001", "138****0001"), ("+8613800010001", "+86****0001"), ("12345", "***45")]
)
def test_phone_is_masked(phone, masked):
    assert mask_phone(phone) == masked


# --- The PDF -------------------------------------------------------------------------------------


def test_pdf_text_round_trip_has_school_student_course_and_amounts(receipt, tmp_path):
    text = _run("pdftotext", "-layout", str(_pdf_path(receipt, tmp_path)), "-")
    request, payout = receipt.request, receipt.payout

    for expected in (
        TITLE,
        django_settings.SCHOOL_NAME,
        "王小明",
        mask_phone(request.student.user.phone),
        request.order.course.name,
        request.campus.name,
        request.order.order_no,
        request.request_no,
        receipt.number,
        "300.00",  # paid
        "-30.00",  # the quote's handling fee line
        f"¥{payout.amount}",  # refunded: 270.00
        payout.payout_no,
        payout.gateway_refund_id,
        request.order.gateway_trade_no,
        "电子凭证与纸质凭证具有同等效力",
    ):
        assert expected in text, expected
    assert request.student.user.phone not in text  # only the masked number


def test_pdf_embeds_a_cjk_font(receipt, tmp_path):
    fonts = _run("pdffonts", str(_pdf_path(receipt, tmp_path))).splitlines()[2:]
    cjk = [line for line in fonts if re.search(r"Noto-?Sans-?CJK|WenQuanYi", line)]

    assert cjk, fonts
    # Columns: name type encoding emb sub uni object generation; the type itself has spaces.
    assert all(line.split()[-5] == "yes" for line in cjk), cjk


def _glyph_cells(pdf: Path, png: Path, word: str, count: int) -> list[list[bool]]:
    """The ink (dark pixel) masks of the first ``count`` characters of ``word`` on page 1.

    ``pdftotext -bbox`` gives the word's box in points; the page is rendered at 100 dpi by
    ``pdftoppm -png -r 100``; CJK characters are of equal width, so the box splits evenly.
    """
    boxes = _run("pdftotext", "-f", "1", "-l", "1", "-bbox", str(pdf), "-")
    found = re.search(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">' + re.escape(word) + "</word>", boxes
    )
    assert found, f"{word!r} not found on page 1 of {pdf}"
    x0, y0, x1, y1 = (float(v) * 100 / 72 for v in found.groups())
    _run("pdftoppm", "-png", "-r", "100", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(png.with_suffix("")))
    image = Image.open(png).convert("L")
    step = (x1 - x0) / len(word)
    cells = []
    for i in range(count):
        cell = image.crop((round(x0 + i * step), round(y0), round(x0 + (i + 1) * step), round(y1)))
        cells.append([value < 128 for value in cell.tobytes()])
    return cells


def _looks_like_tofu(cells: list[list[bool]]) -> bool:
    """Boxes for missing glyphs (WeasyPrint draws the font's .notdef, one and the same box for
    every character) make every cell alike; real glyphs of different characters differ."""
    for i, a in enumerate(cells):
        for b in cells[i + 1 :]:
            size = min(len(a), len(b))
            differing = sum(x != y for x, y in zip(a[:size], b[:size], strict=True))
            if differing / size < 0.05:
                return True
    return False


def test_pdf_title_renders_as_chinese_glyphs_not_boxes(receipt, tmp_path):
    """Page 1 rendered to PNG (kept in artifacts/receipts/ to look at) shows the title as six
    different inked glyphs. The same check run on a heading of characters no font has (a control,
    rendered the same way) finds tofu, so it can fail: a missing CJK font would turn the title's
    characters into identical boxes."""
    from weasyprint import HTML

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / "receipt-page1.png"
    cells = _glyph_cells(_pdf_path(receipt, tmp_path), png, TITLE, len(TITLE))

    for cell in cells:
        ink = sum(cell) / len(cell)
        assert 0.05 < ink < 0.6, f"a title character is blank or a solid block (ink {ink:.2f})"
    assert not _looks_like_tofu(cells)

    missing = "\ue000\ue001\ue002\ue003"  # private use: no installed font draws these
    control = tmp_path / "control.pdf"
    control.write_bytes(
        HTML(
            string=f"<h1 style=\"font: bold 22pt 'Noto Sans CJK SC', 'WenQuanYi Micro Hei', sans-serif\">{missing}</h1>"
        ).write_pdf()
    )
    tofu_word = _run("pdftotext", "-bbox", str(control), "-")
    tofu_text = re.search(r">([\ue000-\ue0ff]+)</word>", tofu_word).group(1)  # .notdef boxes map to one code
    assert _looks_like_tofu(_glyph_cells(control, tmp_path / "control.png", tofu_text, len(missing)))


# --- In the background ---------------------------------------------------------------------------


def test_a_succeeded_payout_issues_the_receipt_after_the_commit(
    shipped_data, campus, homeroom, finance, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        request, payout = paid_refund(campus=campus, homeroom=homeroom, finance=finance)

    receipt = Receipt.objects.get(request=request)
    assert receipt.payout_id == payout.pk
    assert receipt.sha256


def test_other_refund_events_issue_nothing(shipped_data, campus, homeroom):
    student = factories.make_student(campus=campus)
    request = submit(order_at(student=student, homeroom=homeroom, campus=campus, price="300.00"))

    receipt_on_refund_event(RefundEvent.objects.filter(request=request).latest("pk"))

    assert not Receipt.objects.exists()


# --- Student download ----------------------------------------------------------------------------


def _student_url(request) -> str:
    return reverse("portal:receipt", args=[request.request_no])


def test_student_downloads_her_receipt_inline_with_a_chinese_file_name(client, receipt):
    client.force_login(receipt.request.student.user)

    response = client.get(_student_url(receipt.request))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("inline;")
    assert "filename*=utf-8''%E9%80%80%E6%AC%BE%E5%87%AD%E8%AF%81_" + receipt.number + ".pdf" in disposition
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == receipt.sha256


def test_first_download_issues_a_missing_receipt(client, refunded):
    client.force_login(refunded.student.user)

    response = client.get(_student_url(refunded))

    assert response.status_code == 200
    assert Receipt.objects.filter(request=refunded).count() == 1


def test_another_students_receipt_is_not_found(client, receipt, other_student):
    client.force_login(other_student.user)

    assert client.get(_student_url(receipt.request)).status_code == 404


def test_a_request_not_refunded_has_no_receipt_to_download(client, shipped_data, student, order):
    request = submit(order)
    client.force_login(student.user)

    assert client.get(_student_url(request)).status_code == 404
    assert not Receipt.objects.exists()


def test_anonymous_download_goes_to_login(client, receipt):
    response = client.get(_student_url(receipt.request))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_request_page_links_the_receipt_once_refunded(client, refunded):
    client.force_login(refunded.student.user)

    page = client.get(reverse("portal:request", args=[refunded.request_no])).content.decode()

    assert f'href="{_student_url(refunded)}"' in page


# --- Staff download ------------------------------------------------------------------------------


def _admin_url(receipt: Receipt) -> str:
    return reverse("admin:finance_receipt_download", args=[receipt.pk])


def test_finance_of_the_campus_downloads_the_receipt(client, receipt, finance):
    client.force_login(finance.user)

    response = client.get(_admin_url(receipt))

    assert response.status_code == 200
    assert hashlib.sha256(b"".join(response.streaming_content)).hexdigest() == receipt.sha256


def test_head_office_downloads_any_campus_receipt(client, receipt, other_campus):
    head_office = factories.make_head_office(role=StaffRole.OPERATIONS, campus=other_campus)
    client.force_login(head_office.user)

    assert client.get(_admin_url(receipt)).status_code == 200


def test_finance_of_another_campus_gets_404(client, receipt, other_campus):
    other_finance = factories.make_staff(role=StaffRole.FINANCE, campus=other_campus)
    client.force_login(other_finance.user)

    assert client.get(_admin_url(receipt)).status_code == 404
    listing = client.get(reverse("admin:finance_receipt_changelist")).content.decode()
    assert receipt.number not in listing


def test_staff_without_receipt_permission_is_refused(client, receipt, homeroom):
    client.force_login(homeroom.user)

    assert client.get(_admin_url(receipt)).status_code == 403


def test_receipt_list_finds_a_receipt_by_request_number(client, receipt, finance):
    client.force_login(finance.user)

    listing = client.get(reverse("admin:finance_receipt_changelist"), {"q": receipt.request.request_no})
    page = client.get(reverse("admin:finance_receipt_change", args=[receipt.pk]))

    assert listing.status_code == 200
    assert _admin_url(receipt) in listing.content.decode()
    assert page.status_code == 200
    assert receipt.sha256 in page.content.decode()

"""The refund apply page on a 390 px phone (issue 20): choosing a reason updates the quote in place
(no page load), and a chosen photo shows as a thumbnail that can be removed.

Screenshots: artifacts/screenshots/<test>-<name>.png.
"""

from __future__ import annotations

import struct
import zlib

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from orders.models import PaymentChannel
from tests import factories
from tests.refunds.helpers import order_at

from .conftest import fits_the_phone, login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def png(width: int = 40, height: int = 30) -> bytes:
    """A real (decodable) PNG: a blue rectangle."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + b"\x17\x69\xaa" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_choosing_a_reason_updates_the_quote_in_place_and_evidence_previews_can_be_removed(
    phone_page, live_server, student, homeroom, campus
):
    page = phone_page
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="4800.00", channel=PaymentChannel.ALIPAY)
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            csp_errors.append(f"{message.text} @ {message.location}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    login(page, live_server, student.user.phone, factories.PASSWORD)
    page.goto(live_server.url + reverse("portal:apply", args=[order.order_no]))
    expect(page.locator("html.htmx-on")).to_have_count(1)
    expect(page.locator(".reason-form .nojs-only")).to_be_hidden()  # htmx runs: no "update the quote" button
    page.evaluate("window.__samePage = 'still here'")
    shot(page, "1-no-reason")

    # Choosing a reason: the quote arrives without a page load (the window's variable survives).
    page.get_by_label("退费原因").select_option(value="time_conflict")
    total = page.locator(".quote-total-amount")
    expect(total).to_have_text("¥4,320.00")  # day 4, cooling-off: 4800 less the 10 % fee
    assert page.evaluate("window.__samePage") == "still here"
    expect(page.locator("#quote-status")).to_contain_text("¥4,320.00")  # said to a screen reader
    assert page.url.endswith("?reason=time_conflict")  # the address follows, for reload and sharing
    expect(page.locator(".days-seg.current .days-here")).to_be_visible()
    expect(page.locator("#submit-summary")).to_contain_text("¥4,320.00")
    expect(page.locator("#submit-summary")).to_contain_text("支付宝")
    fits_the_phone(page)
    shot(page, "2-time-conflict")

    page.get_by_label("退费原因").select_option(value="illness")
    expect(total).to_have_text("¥4,800.00")  # illness: no fee
    expect(page.locator(".evidence-needed")).to_contain_text("诊断证明")
    assert page.evaluate("window.__samePage") == "still here"

    # The formula on demand.
    formulas = page.locator("details.quote-formulas")
    expect(formulas.locator("code").first).to_be_hidden()
    formulas.locator("summary").click()
    expect(formulas.locator(".quote-line").first).to_be_visible()

    # A photo: its thumbnail and name, then removed; a text file is refused at once.
    main_input = page.locator("#id_evidence")
    main_input.set_input_files(files=[{"name": "诊断证明.png", "mimeType": "image/png", "buffer": png()}])
    preview = page.locator(".evidence-preview")
    expect(preview).to_have_count(1)
    expect(preview.locator("canvas.evidence-thumb")).to_be_visible()
    expect(preview).to_contain_text("诊断证明.png")
    assert page.evaluate("document.getElementById('id_evidence').files.length") == 1
    page.locator("#id_evidence_camera").set_input_files(
        files=[{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8\xff" + b"\x00" * 32}]
    )
    expect(preview).to_have_count(2)  # the camera's photo joins the chosen file
    assert page.evaluate("document.getElementById('id_evidence').files.length") == 2
    fits_the_phone(page)
    shot(page, "3-evidence-chosen")
    preview.first.locator(".evidence-remove").click()
    expect(preview).to_have_count(1)
    expect(preview).to_contain_text("photo.jpg")
    assert page.evaluate("document.getElementById('id_evidence').files.length") == 1
    main_input.set_input_files(files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}])
    expect(page.locator(".evidence-client-errors")).to_contain_text("notes.txt")
    expect(preview).to_have_count(1)
    shot(page, "4-evidence-refused")
    assert csp_errors == []


def test_a_refused_application_focuses_the_error_summary_and_keeps_the_words(
    phone_page, live_server, student, homeroom, campus
):
    page = phone_page
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00")
    login(page, live_server, student.user.phone, factories.PASSWORD)
    page.goto(live_server.url + reverse("portal:apply", args=[order.order_no]) + "?reason=time_conflict")
    page.locator("#id_details").fill("上班时间调整，晚上无法继续上课。")
    page.locator(".apply-form button[type=submit]").click()  # without ticking the confirmation
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(page.locator("#id_details")).to_have_value("上班时间调整，晚上无法继续上课。")
    summary.locator("a[href='#id_confirm']").click()
    assert page.url.endswith("#id_confirm")
    fits_the_phone(page)
    shot(page, "error-summary")

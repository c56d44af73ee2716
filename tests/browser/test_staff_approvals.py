"""Staff approve in the admin, in a real browser: the homeroom teacher approves from her queue, the
teaching supervisor rejects from hers.

Every page visited is screenshotted to artifacts/screenshots/<test>-<name>.png. Elements are found
by their ids and the admin's own markup; texts of this feature are compared through ``zh()``, so
the test holds before and after the Chinese translations are added.
"""

from __future__ import annotations

import struct
import zlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from playwright.sync_api import expect

from refunds.models import RefundRequest, RefundStatus
from tests import factories
from tests.refunds.helpers import QUEUE_URL, log_of, order_at, pdf, submit, zh

from .conftest import login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _png(width: int = 160, height: int = 100, rgb: tuple[int, int, int] = (66, 133, 244)) -> bytes:
    """A real PNG of one colour (the evidence check reads the signature, the browser draws it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _open_from_queue(page, live_server, refund) -> None:
    page.goto(f"{live_server.url}{QUEUE_URL}")
    row = page.locator("#result_list tbody tr").filter(has_text=refund.request_no)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("¥900.00")
    return row


def test_the_homeroom_teacher_approves_and_the_supervisor_rejects(
    page, live_server, student, homeroom, supervisor, finance, campus
):
    order = order_at(
        student=student,
        homeroom=homeroom,
        campus=campus,
        price="1000.00",
        study_seconds=3 * 3600,
        lessons_watched=4,
        homework_submitted=3,
    )
    refund = submit(
        order,
        evidence=[
            SimpleUploadedFile("调动通知.png", _png(), content_type="image/png"),
            pdf("工作证明.pdf"),
        ],
    )
    request_page = f"**/admin/refunds/refundrequest/{refund.pk}/change/"
    page.set_viewport_size({"width": 1440, "height": 900})  # a staff desktop: the admin's two sidebars and the list

    # The homeroom teacher: her queue, the request page with its decision support, approve.
    login(page, live_server, homeroom.user.username, factories.PASSWORD)
    row = _open_from_queue(page, live_server, refund)
    expect(row).to_contain_text(order.course.name)
    shot(page, "1-homeroom-queue")
    row.get_by_role("link", name=refund.request_no).click()
    page.wait_for_url(request_page)
    expect(page.locator("#decision-panel")).to_contain_text("¥900.00")
    expect(page.locator("#learning-panel")).to_contain_text("3.0")
    expect(page.locator("#quote-lines tbody tr")).to_have_count(refund.quote.lines.count())
    image = page.locator("#evidence-panel img.evidence-preview")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 160  # served by the checked view
    expect(page.locator("#evidence-panel iframe.evidence-preview")).to_have_count(1)
    expect(page.locator("#steps")).to_contain_text("孙老师")
    shot(page, "2-homeroom-request-page")

    page.locator("#decide-approve").click()
    page.wait_for_url("**/decide/approve/")
    expect(page.locator(".decision-outcome")).to_contain_text(zh("Teaching supervisor review"))
    page.locator("#id_comment").fill("学员工作调动属实，同意退费。")
    shot(page, "3-homeroom-confirm-approval")
    page.locator("#confirm-decision").click()
    page.wait_for_url(request_page)
    expect(page.locator(".messagelist .success")).to_contain_text(refund.request_no)
    expect(page.locator("#decide-approve")).to_have_count(0)  # no longer hers
    shot(page, "4-homeroom-approved")
    assert RefundRequest.objects.get(pk=refund.pk).status == RefundStatus.PENDING_SUPERVISOR

    page.goto(f"{live_server.url}{QUEUE_URL}")
    expect(page.locator("#result_list tbody tr").filter(has_text=refund.request_no)).to_have_count(0)

    # The supervisor: the request is in her queue now; a rejection needs a reason.
    page.context.clear_cookies()
    login(page, live_server, supervisor.user.username, factories.PASSWORD)
    row = _open_from_queue(page, live_server, refund)
    shot(page, "5-supervisor-queue")
    row.get_by_role("link", name=refund.request_no).click()
    page.wait_for_url(request_page)
    expect(page.locator("#transitions")).to_contain_text("学员工作调动属实，同意退费。")
    page.locator("#decide-reject").click()
    page.wait_for_url("**/decide/reject/")
    page.locator("#confirm-decision").click()  # without a reason
    expect(page.locator(".errorlist")).to_be_visible()
    shot(page, "6-supervisor-reason-required")
    assert RefundRequest.objects.get(pk=refund.pk).status == RefundStatus.PENDING_SUPERVISOR

    page.locator("#id_reason").fill("课程已过半，按政策不予退费。")
    shot(page, "7-supervisor-confirm-rejection")
    page.locator("#confirm-decision").click()
    page.wait_for_url(request_page)
    expect(page.locator(".messagelist .success")).to_contain_text(refund.request_no)
    expect(page.locator("#transitions")).to_contain_text("课程已过半，按政策不予退费。")
    expect(page.locator("#decision-panel .decision-buttons")).to_have_count(0)
    shot(page, "8-supervisor-rejected")

    refund.refresh_from_db()
    assert refund.status == RefundStatus.REJECTED
    assert refund.rejected_tier == "supervisor"
    assert [name for name, _from, _to in log_of(refund)] == ["submit", "approve", "reject"]

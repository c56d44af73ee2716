"""On the phone: a rejected request ends in red, the student appeals with a photo of her proof
(a wrong file is refused first, nothing kept), and the file shows on her request as appeal evidence."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from refunds.models import RefundEvidence, RefundStatus
from refunds.services import refund_reject
from tests import factories
from tests.refunds.helpers import PNG, order_at, submit

from .conftest import fits_the_phone, login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_rejected_request_is_appealed_on_the_phone_with_a_photo(
    phone_page, live_server, student, homeroom, supervisor, campus
):
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00")
    refund = submit(order)
    refund_reject(request_id=refund.pk, actor=homeroom.user, reason="已超过七天无理由退费期限。")
    request_path = f"/refunds/{refund.request_no}/"
    login(phone_page, live_server, student.user.phone, factories.PASSWORD)

    # The request ends in red, named as not approved, with the reason; no money promised.
    phone_page.goto(f"{live_server.url}{request_path}")
    end = phone_page.locator(".timeline.outcome-not-approved li.end")
    expect(end).to_have_count(1)
    expect(end).to_contain_text("已超过七天无理由退费期限。")
    expect(phone_page.locator(".outcome-note")).to_be_visible()
    fits_the_phone(phone_page)
    shot(phone_page, "1-rejected-phone")

    # The appeal page takes files.
    phone_page.get_by_role("link", name="申诉", exact=True).click()
    phone_page.wait_for_url("**/appeal/")
    phone_page.get_by_label("申诉理由").fill("我在购买第三天就联系了班主任，有聊天记录为证。")
    phone_page.locator("input[name=evidence]").set_input_files(
        files=[{"name": "聊天记录.pdf", "mimeType": "application/pdf", "buffer": b"only words, not a PDF"}]
    )
    fits_the_phone(phone_page)
    phone_page.get_by_role("button", name="提交申诉").click()

    # A file that is not what it says is refused with its name; her words stay; nothing is kept.
    expect(phone_page.locator(".errors[role=alert]")).to_contain_text("聊天记录.pdf")
    expect(phone_page.get_by_label("申诉理由")).to_have_value("我在购买第三天就联系了班主任，有聊天记录为证。")
    fits_the_phone(phone_page)
    shot(phone_page, "2-appeal-refused-phone")
    refund.refresh_from_db()
    assert refund.status == RefundStatus.REJECTED
    assert not RefundEvidence.objects.filter(request=refund).exists()

    # The real screenshot goes through.
    phone_page.locator("input[name=evidence]").set_input_files(
        files=[{"name": "聊天记录.png", "mimeType": "image/png", "buffer": PNG}]
    )
    shot(phone_page, "3-appeal-filled-phone")
    phone_page.get_by_role("button", name="提交申诉").click()
    phone_page.wait_for_url(f"**{request_path}")
    expect(phone_page.locator(".badge.state-pending_supervisor")).to_be_visible()
    expect(phone_page.locator(".evidence-list")).to_contain_text("聊天记录.png")
    expect(phone_page.locator(".evidence-list .evidence-appeal")).to_have_count(1)
    expect(phone_page.locator(".timeline li.end")).to_have_count(0)
    fits_the_phone(phone_page)
    shot(phone_page, "4-appealed-phone")
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PENDING_SUPERVISOR
    assert [(e.original_name, e.for_appeal) for e in refund.evidence.all()] == [("聊天记录.png", True)]

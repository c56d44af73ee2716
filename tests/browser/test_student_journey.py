"""A student's journey through the personal center in a real browser, desktop and 390 px phone.

Every page visited is screenshotted to artifacts/screenshots/<test>-<name>.png.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from notifications.models import InboxMessage
from refunds.models import RefundRequest, RefundStatus
from refunds.quotes import money_display
from refunds.services import refund_return_for_info
from refunds.services.quoting import refund_quote_estimate
from tests import factories
from tests.refunds.helpers import PDF, order_at, submit

from .conftest import fits_the_phone, login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_student_logs_in_and_sees_her_order_in_chinese(page, phone_page, live_server, student, order):
    login(page, live_server, student.user.phone, factories.PASSWORD)
    assert page.url == f"{live_server.url}/"
    expect(page.get_by_role("heading", name="我的订单")).to_be_visible()
    expect(page.get_by_role("heading", name="王小明，您好")).to_be_visible()
    card = page.locator("article.order").filter(has_text=order.order_no)
    expect(card).to_be_visible()
    expect(card.get_by_role("heading", name=order.course.name)).to_be_visible()
    expect(card).to_contain_text("班主任")
    expect(card).to_contain_text("孙老师")
    shot(page, "home-desktop")

    login(phone_page, live_server, student.user.phone, factories.PASSWORD)
    expect(phone_page.get_by_role("heading", name="我的订单")).to_be_visible()
    expect(phone_page.locator("article.order").filter(has_text=order.order_no)).to_be_visible()
    fits_the_phone(phone_page)
    shot(phone_page, "home-phone")


def test_wrong_password_shows_the_error_in_chinese(page, live_server, student):
    login_page = f"{live_server.url}/login/"
    page.goto(login_page)
    page.get_by_label("用户名或手机号").fill(student.user.phone)
    page.get_by_label("密码").fill("wrong-password")
    page.get_by_role("button", name="登录").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert page.url.startswith(login_page)
    shot(page, "login-error-desktop")


# --- The refund journey: estimate, apply with an upload, the timeline, cancel; resubmit ----------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_estimate_apply_with_an_upload_follow_the_timeline_and_cancel(
    page, phone_page, live_server, student, homeroom, campus
):
    """Done on the desktop by clicking through; the phone looks at each page as it is reached."""
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00")
    what_if = refund_quote_estimate(order=order, reason="time_conflict", lessons=10)
    assert what_if.total < Decimal("900.00")  # a third used: past the 20% ceiling, unused value only
    login(page, live_server, student.user.phone, factories.PASSWORD)
    login(phone_page, live_server, student.user.phone, factories.PASSWORD)

    def both(name: str) -> None:
        shot(page, f"{name}-desktop")
        phone_page.goto(page.url)
        fits_the_phone(phone_page)
        shot(phone_page, f"{name}-phone")

    # The personal center: what the order refunds now (day 4 of the course, 10% fee).
    card = page.locator("article.order").filter(has_text=order.order_no)
    expect(card).to_contain_text("当前可退")
    expect(card).to_contain_text("¥900.00")
    both("1-home")

    # The order's breakdown, then the estimate (自助查询): "if I had used 10 of 30 lessons".
    card.get_by_role("link", name="查看明细").click()
    page.wait_for_url(f"**/orders/{order.order_no}/")
    both("2-order")
    page.get_by_role("link", name="自助查询").click()
    page.wait_for_url("**/estimate/")
    expect(page.get_by_role("heading", name="自助查询")).to_be_visible()
    page.locator("#id_lessons").fill("10")  # labelled in the unit the policy counts (已观看节数 here)
    page.get_by_role("button", name="试算").click()
    page.wait_for_url("**/estimate/?lessons=10*")
    what_if_card = page.locator(".compare .card").filter(has=page.get_by_role("heading", name="假如已使用 10 / 30"))
    expect(what_if_card.locator(".quote-total")).to_contain_text("预估可退")
    expect(what_if_card.locator(".quote-total")).to_contain_text(money_display(what_if.total))
    expect(page.locator(".compare .card").filter(has_text="按您的实际学习记录")).to_contain_text("¥900.00")
    both("3-estimate")

    # Apply: choose illness (it needs a certificate), see its quote, upload the certificate, confirm.
    page.get_by_role("link", name="申请退费").click()
    page.wait_for_url(f"**/orders/{order.order_no}/refund/")
    expect(page.get_by_role("heading", name="申请退费", exact=True)).to_be_visible()
    page.get_by_label("退费原因").select_option(label="生病或怀孕")  # the quote updates in place (htmx)
    page.wait_for_url("**/refund/?reason=illness")
    expect(page.locator(".evidence-needed")).to_contain_text("需提供的证明材料：")
    expect(page.locator(".evidence-needed")).to_contain_text("诊断证明")
    expect(page.locator(".quote-total").first).to_contain_text("¥1,000.00")  # illness: no fee, no time limit
    both("4-apply")
    page.get_by_label("情况说明").fill("住院治疗三个月，无法继续上课。")
    page.locator("#id_evidence").set_input_files(
        files=[{"name": "诊断证明.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    page.get_by_label("我已阅读退费政策和测算明细").check()
    shot(page, "4-apply-filled-desktop")
    page.get_by_role("button", name="提交申请").click()

    # Submitted: the number and what happens next.
    page.wait_for_url("**/submitted/")
    refund = RefundRequest.objects.get(order=order)
    assert (refund.reason, refund.status) == ("illness", RefundStatus.PENDING_HOMEROOM)
    assert refund.approved_amount == Decimal("1000.00")
    assert [e.original_name for e in refund.evidence.all()] == ["诊断证明.pdf"]
    expect(page.get_by_role("heading", name="退费申请已提交")).to_be_visible()
    expect(page.get_by_text(refund.request_no)).to_be_visible()
    both("5-submitted")

    # The request's page: status, the timeline with the current step, who has it, the file.
    page.get_by_role("link", name="查看申请进度").click()
    page.wait_for_url(f"**/refunds/{refund.request_no}/")
    expect(page.get_by_role("heading", name=f"退费申请 {refund.request_no}")).to_be_visible()
    expect(page.locator(".badge.state-pending_homeroom")).to_have_text("待班主任审核")
    expect(page.get_by_role("heading", name="办理进度")).to_be_visible()
    current = page.locator(".timeline li[aria-current=step]")
    expect(current).to_have_count(1)
    expect(current).to_contain_text("孙老师")
    expect(page.locator(".evidence-list")).to_contain_text("诊断证明.pdf")
    both("6-request")

    # Cancel: tick the confirmation, withdraw; the request is closed and cannot be withdrawn again.
    page.get_by_label("我确认撤销此退费申请").check()
    page.get_by_role("button", name="撤销", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("您的退费申请已撤销。")
    expect(page.locator(".badge.state-cancelled")).to_have_text("已撤销")
    expect(page.get_by_role("button", name="撤销", exact=True)).to_have_count(0)
    refund.refresh_from_db()
    assert refund.status == RefundStatus.CANCELLED
    both("7-cancelled")


def test_a_returned_request_is_resubmitted_with_the_missing_file(
    page, phone_page, live_server, student, homeroom, campus
):
    """Done on the phone this time; the desktop only looks."""
    order = order_at(student=student, homeroom=homeroom, campus=campus, price="1000.00")
    refund = submit(order)
    refund_return_for_info(request_id=refund.pk, actor=homeroom.user, missing="请上传工作调动证明（盖章）。")
    InboxMessage.objects.create(
        recipient=student.user,
        subject="退费申请需要补充材料",
        body="班主任孙老师请您补充：请上传工作调动证明（盖章）。",
        refund_request=refund,
    )
    request_path = f"/refunds/{refund.request_no}/"
    login(phone_page, live_server, student.user.phone, factories.PASSWORD)

    # The personal center shows the request waiting for her; the menu counts one unread message.
    card = phone_page.locator("article.order").filter(has_text=order.order_no)
    expect(card.locator(".badge.state-needs_info")).to_have_text("待补充材料")
    expect(phone_page.get_by_role("link", name="站内信")).to_contain_text("1")
    fits_the_phone(phone_page)
    shot(phone_page, "1-home-phone")

    # The inbox tells her; the message leads to the request.
    phone_page.get_by_role("link", name="站内信").click()
    phone_page.wait_for_url("**/inbox/")
    expect(phone_page.get_by_role("heading", name="站内信")).to_be_visible()
    fits_the_phone(phone_page)
    shot(phone_page, "2-inbox-phone")
    phone_page.get_by_role("link", name="退费申请需要补充材料").click()
    expect(phone_page.get_by_role("heading", name="退费申请需要补充材料")).to_be_visible()
    fits_the_phone(phone_page)
    shot(phone_page, "3-message-phone")
    phone_page.get_by_role("link", name=refund.request_no).click()

    # The request page says what is missing.
    phone_page.wait_for_url(f"**{request_path}")
    expect(phone_page.locator(".badge.state-needs_info")).to_have_text("待补充材料")
    expect(phone_page.get_by_text("审核老师需要您补充以下材料：")).to_be_visible()
    expect(phone_page.locator("blockquote")).to_contain_text("请上传工作调动证明（盖章）。")
    fits_the_phone(phone_page)
    shot(phone_page, "4-request-returned-phone")

    # Supply it: words and a PNG photo of the letter.
    phone_page.get_by_role("link", name="补充材料", exact=True).click()
    phone_page.wait_for_url("**/resubmit/")
    expect(phone_page.get_by_role("heading", name="补充材料", exact=True)).to_be_visible()
    expect(phone_page.locator("blockquote")).to_contain_text("工作调动证明")
    phone_page.get_by_label("补充说明").fill("已上传公司盖章的调动通知。")
    phone_page.locator("input[name=evidence]").set_input_files(
        files=[{"name": "调动通知.png", "mimeType": "image/png", "buffer": PNG}]
    )
    fits_the_phone(phone_page)
    shot(phone_page, "5-resubmit-filled-phone")
    phone_page.get_by_role("button", name="提交审核").click()

    # Back with the homeroom teacher, the file on the request.
    phone_page.wait_for_url(f"**{request_path}")
    expect(phone_page.locator(".messages")).to_contain_text("谢谢，材料已补充，申请已重新进入审核。")
    expect(phone_page.locator(".badge.state-pending_homeroom")).to_have_text("待班主任审核")
    expect(phone_page.locator(".evidence-list")).to_contain_text("调动通知.png")
    fits_the_phone(phone_page)
    shot(phone_page, "6-request-resubmitted-phone")
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PENDING_HOMEROOM
    assert "已上传公司盖章的调动通知。" in refund.details
    assert [e.original_name for e in refund.evidence.all()] == ["调动通知.png"]

    # The help center, from the menu.
    phone_page.get_by_role("link", name="帮助中心").click()
    phone_page.wait_for_url("**/help/")
    expect(phone_page.get_by_role("heading", name="常见问题")).to_be_visible()
    fits_the_phone(phone_page)
    shot(phone_page, "7-help-phone")

    # The same pages on the desktop.
    login(page, live_server, student.user.phone, factories.PASSWORD)
    shot(page, "1-home-desktop")
    for name, path in [("2-inbox", "/inbox/"), ("6-request-resubmitted", request_path), ("7-help", "/help/")]:
        page.goto(live_server.url + path)
        shot(page, f"{name}-desktop")

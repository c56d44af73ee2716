"""Operations' admin pages in a real browser: the notification template editor previews the text
as it is typed (a phone for SMS with the length counter, a mail for e-mail, the unknown
placeholder named), and the approval settings page redraws its route diagram as the thresholds
change, on a desktop and on a phone; the Content-Security-Policy blocks nothing.

Screenshots: artifacts/screenshots/test_operations_*.png.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from refunds.models import ApprovalSettings

from .conftest import fits_the_phone, shot
from .test_analytics import admin_login
from .test_content_security_policy import COLLECT_VIOLATIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def watch(page) -> list[str]:
    page.context.add_init_script(COLLECT_VIOLATIONS)
    errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and "status of 404" not in message.text  # the favicon
            else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            errors.append(response.url)
            if response.status == 404 and not response.url.endswith("/favicon.ico")
            else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_operations_type_a_template_and_see_the_preview_and_the_sms_counter(page, live_server, operations):
    errors = watch(page)
    admin_login(page, live_server, operations.user)
    page.goto(f"{live_server.url}{reverse('admin:notifications_notificationtemplate_add')}")
    page.locator("#id_event").select_option("refund.payout_succeeded")
    page.locator("#id_channel").select_option("sms")
    body = page.locator("#id_body")
    body.fill("{{ student_name }}，退款 {{ amount }} 元已退回。")

    panel = page.locator("#live-preview")
    expect(panel).to_be_visible()
    expect(page.locator("#live-phone")).to_be_visible()
    expect(page.locator("#live-phone-body")).to_contain_text("王小明，退款 1,599.20 元已退回。")
    counter = page.locator("#live-sms-count")
    expect(counter).to_have_attribute("data-segments", "1")
    short = int(counter.get_attribute("data-characters") or 0)
    shot(page, "1-sms-short")

    # Typing on: 70 characters with the signature still make one message; one more, two parts of 67.
    body.press("End")
    body.type("请留意到账时间，如有疑问请联系班主任或拨打客服热线，我们会尽快为您处理，感谢您的耐心。")
    expect(counter).to_have_attribute("data-characters", "70")
    expect(counter).to_have_attribute("data-segments", "1")
    assert short < 70
    body.type("！")
    expect(counter).to_have_attribute("data-characters", "71")
    expect(counter).to_have_attribute("data-segments", "2")
    expect(counter).to_have_class("live-sms-count live-sms-long")
    shot(page, "2-sms-two-parts")

    # An unknown placeholder is named, with where it is.
    body.type("{{ password }}")
    errors_box = page.locator("#live-preview-errors")
    expect(errors_box).to_be_visible()
    expect(errors_box).to_contain_text("password")
    shot(page, "3-unknown-placeholder")

    # E-mail: a mail with its subject.
    body.fill("{{ student_name }}，您的退款已到账。")
    page.locator("#id_channel").select_option("email")
    page.locator("#id_subject").fill("退款到账 {{ request_no }}")
    expect(errors_box).to_be_hidden()
    expect(page.locator("#live-email")).to_be_visible()
    expect(page.locator("#live-phone")).to_be_hidden()
    expect(page.locator("#live-sms")).to_be_hidden()
    expect(page.locator("#live-email-subject")).to_have_text("退款到账 RF20260301001")
    expect(page.locator("#live-email-body")).to_have_text("王小明，您的退款已到账。")
    shot(page, "4-email")

    assert page.evaluate("window.__cspViolations || []") == []
    assert errors == []


@pytest.mark.parametrize("device", ["page", "phone_page"])
def test_operations_see_the_route_diagram_follow_the_thresholds(request, live_server, operations, campus, device):
    page = request.getfixturevalue(device)
    errors = watch(page)
    settings = ApprovalSettings.objects.create(campus=campus, small_below=Decimal("1000"), large_above=Decimal("5000"))
    admin_login(page, live_server, operations.user)
    page.goto(f"{live_server.url}{reverse('admin:refunds_approvalsettings_change', args=[settings.pk])}")
    diagram = page.locator("#route-diagram")
    refunds = diagram.locator('[data-scenario="refund"] .route-amount')
    expect(refunds).to_have_text(["< ¥1,000", "¥1,000 – ¥5,000", "> ¥5,000"])
    diagram.scroll_into_view_if_needed()
    shot(page, "1-saved")

    page.locator("#id_large_above").fill("8000")
    expect(refunds).to_have_text(["< ¥1,000", "¥1,000 – ¥8,000", "> ¥8,000"])
    top = diagram.locator('[data-scenario="refund"] .route-band').last.locator(".route-step")
    expect(top).to_have_count(5)  # homeroom, supervisor, campus head, finance, paid
    page.locator("#id_small_below").fill("9000")  # above the large one: refused, the drawing kept
    expect(page.locator(".route-error")).to_be_visible()
    expect(refunds).to_have_text(["< ¥1,000", "¥1,000 – ¥8,000", "> ¥8,000"])
    shot(page, "2-typed")

    box = diagram.bounding_box()
    assert box is not None and box["x"] + box["width"] <= page.viewport_size["width"]
    if device == "phone_page":
        fits_the_phone(page)
    assert page.evaluate("window.__cspViolations || []") == []
    assert errors == []


def test_the_template_preview_fits_a_phone(phone_page, live_server, operations):
    errors = watch(phone_page)
    admin_login(phone_page, live_server, operations.user)
    phone_page.goto(f"{live_server.url}{reverse('admin:notifications_notificationtemplate_add')}")
    phone_page.locator("#id_event").select_option("refund.approved")
    phone_page.locator("#id_channel").select_option("wechat")
    phone_page.locator("#id_subject").fill("退款已通过")
    phone_page.locator("#id_body").fill(
        "{{ student_name }}，您的退款 {{ amount }} 元已通过审批，预计 {{ arrival }} 到账。"
    )
    expect(phone_page.locator("#live-phone-body")).to_contain_text("王小明，您的退款 1,599.20 元已通过审批")
    expect(phone_page.locator("#live-phone-subject")).to_have_text("退款已通过")
    expect(phone_page.locator("#live-sms")).to_be_hidden()
    phone_page.locator("#live-preview").scroll_into_view_if_needed()
    shot(phone_page, "1-wechat")
    fits_the_phone(phone_page)
    assert phone_page.evaluate("window.__cspViolations || []") == []
    assert errors == []

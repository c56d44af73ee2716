"""A course exchange in a real browser: on her phone the student changes to a dearer course and
sees the calculation; customer service and the teaching supervisor approve in the admin on a
desktop; she pays the difference on the simulator's cashier page (over HTTPS, signed notification
back to the live server) and her new course opens; she rates it. Screenshots of every screen go to
artifacts/screenshots/test_a_student_exchanges_to_a_dearer_course_and_pays_the_difference-*.png.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from exchanges.models import Exchange, ExchangeStatus
from gatewaysim.testing import callback_receiver, gateway_settings, gateway_sim  # noqa: F401
from orders.models import Order, OrderStatus
from schoolops.models import StaffRole
from tests import factories
from tests.exchanges.helpers import D, policy, target
from tests.payments.conftest import gateways  # noqa: F401
from tests.payments.helpers import wait_until
from tests.refunds.helpers import zh

from .conftest import PHONE, TIMEOUT_MS, fits_the_phone, login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _approve(page, live_server, user, exchange) -> None:
    page.context.clear_cookies()
    login(page, live_server, user.username, factories.PASSWORD)
    page.goto(f"{live_server.url}/admin/refunds/refundrequest/{exchange.request_id}/change/")
    page.locator("#decide-approve").click()
    page.wait_for_url("**/decide/approve/")
    page.locator("#confirm-decision").click()
    page.wait_for_url(f"**/admin/refunds/refundrequest/{exchange.request_id}/change/")


def test_a_student_exchanges_to_a_dearer_course_and_pays_the_difference(
    browser,
    page,
    gateways,  # noqa: F811
    live_server,
    student,
    homeroom,
    supervisor,
    campus,  # noqa: F811
):
    policy()
    course = factories.make_course(campus=campus, price="3000.00", lessons=20)
    order = factories.make_order(student=student, course=course, homeroom_teacher=homeroom)
    dearer = target(campus, "3600.00")
    service = factories.make_staff(role=StaffRole.SERVICE, campus=campus, name="郑客服")

    # Her phone trusts the simulator's test certificate as a phone trusts the real gateway's.
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", ignore_https_errors=True, **PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    phone = context.new_page()
    login(phone, live_server, student.user.phone, factories.PASSWORD)
    phone.goto(live_server.url + reverse("portal:order", args=[order.order_no]))
    phone.get_by_role("link", name=zh("See the courses I can change to")).click()
    phone.wait_for_url(f"**/orders/{order.order_no}/exchange/")
    shot(phone, "1-phone-choose")
    fits_the_phone(phone)
    phone.locator(f"input[name=course][value='{dearer.code}']").check()
    phone.get_by_role("button", name=zh("See the calculation")).click()
    expect(phone.locator(".exchange-difference")).to_contain_text("¥600.00")
    shot(phone, "2-phone-calculation")
    fits_the_phone(phone)
    phone.locator("#id_confirm").check()
    phone.get_by_role("button", name=zh("Ask to change course")).click()
    phone.wait_for_url("**/exchanges/*/")
    exchange = Exchange.objects.get()
    shot(phone, "3-phone-submitted")

    # The staff side: customer service reviews, the supervisor approves.
    page.set_viewport_size({"width": 1440, "height": 900})
    _approve(page, live_server, service.user, exchange)
    shot(page, "4-service-reviewed")
    _approve(page, live_server, supervisor.user, exchange)
    shot(page, "5-supervisor-approved")
    assert Exchange.objects.get(pk=exchange.pk).status == ExchangeStatus.AWAITING_PAYMENT

    # She pays on this phone through WeChat Pay (the simulator's cashier page).
    phone.reload()
    expect(phone.locator("#pay")).to_be_visible()
    shot(phone, "6-phone-pay")
    fits_the_phone(phone)
    phone.locator("input[name=way][value=wechat_h5]").check()
    phone.get_by_role("button", name=zh("Pay now")).click()
    phone.wait_for_url("**/exchanges/*/")
    link = phone.locator(".pay-box a.button")
    expect(link).to_be_visible()
    shot(phone, "7-phone-pay-link")
    link.click()
    expect(phone.get_by_role("button", name="确认支付")).to_be_visible()
    expect(phone.locator("body")).to_contain_text("600.00")
    shot(phone, "8-phone-cashier")
    phone.get_by_role("button", name="确认支付").click()
    expect(phone.locator("body")).to_contain_text("支付成功")
    wait_until(lambda: Exchange.objects.get(pk=exchange.pk).status == ExchangeStatus.COMPLETED, what="the payment")

    phone.goto(live_server.url + reverse("portal:exchange", args=[exchange.request.request_no]))
    expect(phone.locator("#rate")).to_be_visible()
    shot(phone, "9-phone-completed")
    fits_the_phone(phone)
    phone.locator("input[name=rating][value='5']").check()
    phone.get_by_role("button", name=zh("Confirm and rate")).click()
    expect(phone.locator(".messagelist, .messages").first).to_contain_text(zh("Thank you for your rating!"))
    shot(phone, "10-phone-rated")
    context.close()

    exchange = Exchange.objects.get(pk=exchange.pk)
    assert exchange.rating == 5 and exchange.new_order.amount_paid == D("3600.00")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.EXCHANGED
